// The store under faults and hostile files: a foreign SQLite file is refused and left exactly as it was, reading
// commands open read-only (also an older schema they can read), corruption is named as such and `check` finds
// damage and orphan rows, run leases refuse a second owner and are taken over when stale, and a full disk is an
// error naming the file while the store stays usable once space is back.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/error.hpp"
#include "base/sha256.hpp"
#include "results/store.hpp"
#include "tests/results/fault_vfs.hpp"
#include "tests/test_util.hpp"

using namespace reval;
using reval::test::TempDir;

namespace {

void raw_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A store with one run, 2 problems x 40 samples and their grades; returns the run id.
std::int64_t fill(const std::string& path) {
  auto store = open_sqlite_store(path);
  RunInfo r;
  r.name = "m-replay";
  r.model = "m";
  r.backend = "replay";
  r = store->create_or_open_run(r);
  std::vector<ProblemRecord> problems;
  for (int p = 0; p < 2; ++p) {
    ProblemRecord pr;
    pr.run_id = r.id;
    pr.task = "math500";
    pr.problem_id = "p" + std::to_string(p);
    pr.prompt = "q";
    pr.gold = {"1"};
    problems.push_back(pr);
  }
  store->put_problems(problems);
  for (int p = 0; p < 2; ++p)
    for (int i = 0; i < 40; ++i) {
      SampleRecord s;
      s.run_id = r.id;
      s.key = {"math500", "p" + std::to_string(p), i};
      s.completion = std::string(3000, static_cast<char>('a' + i % 26)) + " \\boxed{1}";
      s.finish_reason = "stop";
      store->add_sample(s);
      GradeRecord g;
      g.run_id = r.id;
      g.key = s.key;
      g.grader = "math";
      g.grader_version = "1";
      g.result.verdict = Verdict::correct;
      g.result.score = 1;
      store->add_grade(g);
    }
  store->flush();
  return r.id;
}

}  // namespace

TEST(StoreRobustness, ForeignSqliteFileIsRefusedAndLeftUnchanged) {
  TempDir dir;
  std::string path = dir.file("other.db");
  raw_exec(path, "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'x');");
  const std::string before = file_bytes(path);
  for (bool read_only : {false, true}) {
    StoreOptions o;
    o.read_only = read_only;
    try {
      open_sqlite_store(path, o);
      ADD_FAILURE() << "a foreign file was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("not a reval results database"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("users"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(file_bytes(path), before);  // still in rollback-journal mode, byte for byte
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
  // Positive twin: an empty new file becomes a reval database.
  EXPECT_NO_THROW(open_sqlite_store(dir.file("new.db")));
}

TEST(StoreRobustness, ReadOnlyOpeningReadsAndNeverWrites) {
  TempDir dir;
  std::string path = dir.file("r.db");
  std::int64_t run = fill(path);
  StoreOptions o;
  o.read_only = true;
  o.quick_check = true;
  auto store = open_sqlite_store(path, o);
  EXPECT_EQ(store->samples(run).size(), 80u);
  EXPECT_EQ(store->list_runs().size(), 1u);
  EXPECT_THROW(store->add_sample(SampleRecord{}), Error);
  EXPECT_THROW(store->create_or_open_run(RunInfo{}), Error);
  // A missing file is an error, never created.
  EXPECT_THROW(open_sqlite_store(dir.file("missing.db"), o), Error);
  EXPECT_FALSE(std::filesystem::exists(dir.file("missing.db")));
  // A file of the previous schema version (2) is still readable without migrating it.
  raw_exec(path, "PRAGMA user_version=2; DROP TABLE run_leases;");
  store.reset();
  auto old = open_sqlite_store(path, o);
  EXPECT_EQ(old->samples(run).size(), 80u);
  EXPECT_EQ(file_bytes(path).size() > 0, true);
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  sqlite3_step(st);
  EXPECT_EQ(sqlite3_column_int(st, 0), 2);  // not migrated by a reader
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(StoreRobustness, CorruptionIsNamedAndCheckFindsIt) {
  TempDir dir;
  std::string path = dir.file("r.db");
  fill(path);
  {
    auto store = open_sqlite_store(path);
    EXPECT_TRUE(store->check().ok());  // positive twin: a sound file passes
  }
  // Overwrite pages in the middle of the file (table and index pages of the samples).
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0, std::ios::end);
    auto size = static_cast<std::int64_t>(f.tellp());
    ASSERT_GT(size, 8192 * 8);
    std::string junk(8192 * 3, '\x5a');
    f.seekp(size / 2 / 8192 * 8192);
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  StoreOptions o;
  o.quick_check = true;
  try {
    open_sqlite_store(path, o);
    ADD_FAILURE() << "a corrupt file was opened";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("reval check"), std::string::npos) << e.what();
  }
  StoreOptions ro;
  ro.read_only = true;
  auto store = open_sqlite_store(path, ro);
  StoreCheck c = store->check();
  EXPECT_FALSE(c.ok());
  ASSERT_FALSE(c.integrity.empty());
  EXPECT_NE(c.integrity.front(), "ok");
}

TEST(StoreRobustness, CheckCountsOrphanRows) {
  TempDir dir;
  std::string path = dir.file("r.db");
  std::int64_t run = fill(path);
  raw_exec(path, "PRAGMA foreign_keys=OFF; DELETE FROM samples WHERE problem_id = 'p1' AND sample_index < 5;"
                 "INSERT INTO samples (run_id, task, problem_id, sample_index, completion, prompt_tokens,"
                 " completion_tokens, finish_reason, latency_s, seed, error, created_at)"
                 " VALUES (" + std::to_string(run) + ", 'math500', 'ghost', 0, '', 0, 0, 'stop', 0, 0, '', '');");
  auto store = open_sqlite_store(path);
  StoreCheck c = store->check();
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.integrity, std::vector<std::string>{"ok"});
  EXPECT_EQ(c.orphans["grades without a sample"], 5);
  EXPECT_EQ(c.orphans["samples without a problem"], 1);
  EXPECT_EQ(c.rows["samples"], 76);
}

TEST(StoreRobustness, LeaseRefusesASecondOwnerAndStaleLeasesAreTakenOver) {
  TempDir dir;
  std::string path = dir.file("r.db");
  std::int64_t run = fill(path);
  auto a = open_sqlite_store(path);
  auto b = open_sqlite_store(path);
  auto held = a->lease_run(run, LeaseOptions{"eval", 0.05, 60});
  try {
    b->lease_run(run, LeaseOptions{"eval", 0.05, 60});
    ADD_FAILURE() << "two owners of one run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already being used by `reval eval`"), std::string::npos) << e.what();
  }
  // The heartbeat (every 50 ms) keeps the lease fresh: a 1.5 s staleness bound is not reached in 2 s...
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  EXPECT_THROW(b->lease_run(run, LeaseOptions{"eval", 0.05, 1.5}), Error);
  held.reset();
  // ...while a lease whose holder beats rarely (every 30 s) is stale after 1.5 s and is taken over.
  auto slow = a->lease_run(run, LeaseOptions{"eval", 30, 60});
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  auto took = b->lease_run(run, LeaseOptions{"eval", 30, 1.5});
  took.reset();
  slow.reset();
  auto mine = b->lease_run(run, LeaseOptions{"regrade", 30, 60});  // released: free again
  // A holder whose heartbeat stopped (a hung or remote process) is taken over after stale_after_s.
  raw_exec(path, "UPDATE run_leases SET pid = 1, host = 'elsewhere', heartbeat_unix = heartbeat_unix - 120");
  auto taken = a->lease_run(run, LeaseOptions{"eval", 30, 60});
  EXPECT_NE(taken, nullptr);
}

TEST(StoreRobustness, FullDiskIsAnErrorNamingTheFileAndTheStoreRecovers) {
  test::FaultVfs::install();
  TempDir dir;
  std::string path = dir.file("r.db");
  StoreOptions o;
  o.vfs = test::FaultVfs::kName;
  auto store = open_sqlite_store(path, o);
  RunInfo r;
  r.name = "x";
  r.model = "m";
  r = store->create_or_open_run(r);
  test::FaultVfs::set_budget(0);
  SampleRecord s;
  s.run_id = r.id;
  s.key = {"t", "p", 0};
  s.completion = std::string(10000, 'x');
  s.finish_reason = "stop";
  store->add_sample(s);
  try {
    store->flush();
    ADD_FAILURE() << "a full disk went unnoticed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("full"), std::string::npos) << e.what();
  }
  test::FaultVfs::set_budget(-1);
  store->add_sample(s);  // space is back: the same row is written
  store->flush();
  EXPECT_EQ(store->samples(r.id).size(), 1u);
}
