// SQLite sample store: round trip of every field, resume semantics, replacement on the same key, newest grade,
// schema migrations (old file migrated, newer file refused), concurrency, durability and integrity.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "base/error.hpp"
#include "results/store.hpp"
#include "tests/test_util.hpp"

using namespace reval;
using reval::test::TempDir;

namespace {

// A raw connection for checking what is really on disk.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open failed");
  }
  ~RawDb() { sqlite3_close(db_); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error(m);
    }
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db_));
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
  }
  long long integer(const std::string& sql) { return std::stoll(text(sql)); }

 private:
  sqlite3* db_ = nullptr;
};

RunInfo make_run(const std::string& name) {
  RunInfo r;
  r.name = name;
  r.model = "/models/DeepSeek-R1-Distill-Qwen-1.5B";
  r.model_hash = "sha256:abc123";
  r.backend = "native";
  r.engine_version = "engine 0.3";
  r.device = "cpu (2 threads)";
  r.host = "host-1";
  r.reval_version = "0.1.0";
  r.preset = "r1-suite@1";
  r.config = {{"tasks", {"aime24", "math500"}}, {"k", 4}, {"sampling", {{"temperature", 0.6}, {"top_p", 0.95}}}};
  return r;
}

SampleRecord make_sample(std::int64_t run, const std::string& task, const std::string& pid, int idx,
                         const std::string& completion = "", const std::string& error = "") {
  SampleRecord s;
  s.run_id = run;
  s.key = {task, pid, idx};
  s.completion = completion.empty() && error.empty() ? "answer \\boxed{" + std::to_string(idx) + "}" : completion;
  s.prompt_tokens = 100 + idx;
  s.completion_tokens = error.empty() ? 200 + idx : -1;
  s.finish_reason = error.empty() ? "stop" : "error";
  s.latency_s = 1.25 * (idx + 1);
  s.seed = 0xFFFFFFFFFFFFFF00ULL + static_cast<unsigned>(idx);
  s.error = error;
  return s;
}

GradeRecord make_grade(std::int64_t run, const std::string& task, const std::string& pid, int idx, Verdict v,
                       std::optional<std::string> extracted, const std::string& version = "1") {
  GradeRecord g;
  g.run_id = run;
  g.key = {task, pid, idx};
  g.grader = "math";
  g.grader_version = version;
  g.result.verdict = v;
  g.result.score = v == Verdict::correct ? 1.0 : 0.0;
  g.result.extracted = std::move(extracted);
  g.result.details = {{"method", "sympy-free"}, {"steps", {1, 2}}};
  return g;
}

// The version-1 schema exactly as an older build wrote it (frozen copy: a file from the past).
const char* kSchemaV1 = R"sql(
CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, model TEXT NOT NULL, model_hash TEXT NOT NULL,
  backend TEXT NOT NULL, engine_version TEXT NOT NULL, device TEXT NOT NULL, host TEXT NOT NULL,
  reval_version TEXT NOT NULL, config TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE problems (run_id INTEGER NOT NULL REFERENCES runs(id), task TEXT NOT NULL, problem_id TEXT NOT NULL,
  prompt TEXT NOT NULL, gold TEXT NOT NULL, grading TEXT NOT NULL, metadata TEXT NOT NULL,
  PRIMARY KEY (run_id, task, problem_id));
CREATE TABLE samples (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), task TEXT NOT NULL,
  problem_id TEXT NOT NULL, sample_index INTEGER NOT NULL, completion TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL, finish_reason TEXT NOT NULL, latency_s REAL NOT NULL, seed INTEGER NOT NULL,
  error TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (run_id, task, problem_id, sample_index));
CREATE TABLE grades (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), task TEXT NOT NULL,
  problem_id TEXT NOT NULL, sample_index INTEGER NOT NULL, grader TEXT NOT NULL, grader_version TEXT NOT NULL,
  verdict TEXT NOT NULL, score REAL NOT NULL, extracted TEXT, details TEXT NOT NULL, created_at TEXT NOT NULL);
PRAGMA user_version=1;
)sql";

}  // namespace

TEST(SqliteStore, RunsRoundTripAndReopenByName) {
  TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  RunInfo in = make_run("r1-1.5b");
  RunInfo a = store->create_or_open_run(in);
  EXPECT_GT(a.id, 0);
  EXPECT_EQ(a.name, in.name);
  EXPECT_EQ(a.model, in.model);
  EXPECT_EQ(a.model_hash, in.model_hash);
  EXPECT_EQ(a.backend, in.backend);
  EXPECT_EQ(a.engine_version, in.engine_version);
  EXPECT_EQ(a.device, in.device);
  EXPECT_EQ(a.host, in.host);
  EXPECT_EQ(a.reval_version, in.reval_version);
  EXPECT_EQ(a.preset, in.preset);
  EXPECT_EQ(a.config, in.config);
  EXPECT_FALSE(a.created_at.empty());

  RunInfo again = in;
  again.config["k"] = 64;
  RunInfo b = store->create_or_open_run(again);
  EXPECT_EQ(b.id, a.id);
  EXPECT_EQ(b.config, in.config) << "the stored config of an existing run is kept";

  RunInfo other = store->create_or_open_run(make_run("second"));
  EXPECT_NE(other.id, a.id);
  auto runs = store->list_runs();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].name, "r1-1.5b");
  EXPECT_EQ(runs[1].name, "second");
  EXPECT_EQ(store->run_by_id(other.id)->name, "second");
  EXPECT_FALSE(store->find_run("missing").has_value());
  EXPECT_FALSE(store->run_by_id(999).has_value());

  RunInfo unnamed = make_run("");
  EXPECT_EQ(store->create_or_open_run(unnamed).name, "DeepSeek-R1-Distill-Qwen-1.5B-native");
}

TEST(SqliteStore, ProblemsSamplesGradesRoundTripAllFields) {
  TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  auto run = store->create_or_open_run(make_run("rt"));

  ProblemRecord p;
  p.run_id = run.id;
  p.task = "math500";
  p.problem_id = "test/algebra/1.json";
  p.prompt = "Solve x^2 = 4. Put the answer in \\boxed{}.";
  p.gold = {"2", "-2"};
  p.grading = {{"choices", {"A", "B"}}};
  p.metadata = {{"level", 3}, {"subject", "Algebra"}};
  store->put_problems({p});
  p.prompt = "changed";
  store->put_problems({p});  // idempotent: replaces
  auto probs = store->problems(run.id);
  ASSERT_EQ(probs.size(), 1u);
  EXPECT_EQ(probs[0].run_id, run.id);
  EXPECT_EQ(probs[0].task, p.task);
  EXPECT_EQ(probs[0].problem_id, p.problem_id);
  EXPECT_EQ(probs[0].prompt, "changed");
  EXPECT_EQ(probs[0].gold, p.gold);
  EXPECT_EQ(probs[0].grading, p.grading);
  EXPECT_EQ(probs[0].metadata, p.metadata);
  EXPECT_TRUE(store->problems(run.id, "aime24").empty());

  SampleRecord s = make_sample(run.id, "math500", p.problem_id, 3, "<think>ünïcödé ∑</think> \\boxed{2}");
  store->add_sample(s);
  GradeRecord g = make_grade(run.id, "math500", p.problem_id, 3, Verdict::correct, "2");
  store->add_grade(g);
  GradeRecord g2 = make_grade(run.id, "math500", p.problem_id, 4, Verdict::no_answer, std::nullopt);
  g2.result.details = {{"raw", "cut mid-character \xE2\x88"}};  // invalid UTF-8 must not fail the write
  store->add_sample(make_sample(run.id, "math500", p.problem_id, 4));
  store->add_grade(g2);
  store->flush();

  auto samples = store->samples(run.id, "math500");
  ASSERT_EQ(samples.size(), 2u);
  const auto& o = samples[0];
  EXPECT_EQ(o.run_id, run.id);
  EXPECT_EQ(o.key, s.key);
  EXPECT_EQ(o.completion, s.completion);
  EXPECT_EQ(o.prompt_tokens, s.prompt_tokens);
  EXPECT_EQ(o.completion_tokens, s.completion_tokens);
  EXPECT_EQ(o.finish_reason, s.finish_reason);
  EXPECT_DOUBLE_EQ(o.latency_s, s.latency_s);
  EXPECT_EQ(o.seed, s.seed) << "uint64 seeds above 2^63 survive";
  EXPECT_EQ(o.error, s.error);
  EXPECT_FALSE(o.created_at.empty());

  auto grades = store->grades(run.id);
  ASSERT_EQ(grades.size(), 2u);
  EXPECT_EQ(grades[0].run_id, run.id);
  EXPECT_EQ(grades[0].key, g.key);
  EXPECT_EQ(grades[0].grader, "math");
  EXPECT_EQ(grades[0].grader_version, "1");
  EXPECT_EQ(grades[0].result.verdict, Verdict::correct);
  EXPECT_DOUBLE_EQ(grades[0].result.score, 1.0);
  EXPECT_EQ(grades[0].result.extracted, std::optional<std::string>("2"));
  EXPECT_EQ(grades[0].result.details, g.result.details);
  EXPECT_FALSE(grades[0].created_at.empty());
  EXPECT_EQ(grades[1].result.verdict, Verdict::no_answer);
  EXPECT_FALSE(grades[1].result.extracted.has_value()) << "no extracted answer stays distinct from \"\"";
  EXPECT_EQ(grades[1].result.details["raw"], "cut mid-character \xEF\xBF\xBD");

  auto summaries = store->sample_summaries(run.id);
  ASSERT_EQ(summaries.size(), 2u);
  ASSERT_TRUE(summaries[0].grade.has_value());
  EXPECT_EQ(summaries[0].grade->result.extracted, std::optional<std::string>("2"));
  EXPECT_EQ(summaries[0].completion_tokens, s.completion_tokens);
  EXPECT_EQ(store->sample_counts(run.id).at("math500"), 2);
}

TEST(SqliteStore, ResumeSkipsErroredSamplesUnlessAsked) {
  TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  auto run = store->create_or_open_run(make_run("resume"));
  store->add_sample(make_sample(run.id, "aime24", "p1", 0));
  store->add_sample(make_sample(run.id, "aime24", "p1", 1, "", "HTTP 503 from server"));
  store->add_sample(make_sample(run.id, "aime24", "p2", 0));
  auto keys = store->sample_keys(run.id);  // reads see everything queued before them
  EXPECT_EQ(keys, (std::set<SampleKey>{{"aime24", "p1", 0}, {"aime24", "p2", 0}}));
  auto all = store->sample_keys(run.id, true);
  EXPECT_EQ(all.size(), 3u);
  EXPECT_TRUE(all.count({"aime24", "p1", 1}));
}

TEST(SqliteStore, SameKeyReplacesAndDropsStaleGrades) {
  TempDir dir;
  std::string path = dir.file("r.db");
  {
    auto store = open_sqlite_store(path);
    auto run = store->create_or_open_run(make_run("replace"));
    store->add_sample(make_sample(run.id, "gpqa", "q1", 0, "", "timeout"));
    store->add_grade(make_grade(run.id, "gpqa", "q1", 0, Verdict::infra_error, std::nullopt));
    store->flush();
    store->add_sample(make_sample(run.id, "gpqa", "q1", 0, "final: (B)"));  // the retry
    store->flush();
    auto samples = store->samples(run.id);
    ASSERT_EQ(samples.size(), 1u);
    EXPECT_EQ(samples[0].completion, "final: (B)");
    EXPECT_TRUE(samples[0].error.empty());
    EXPECT_TRUE(store->grades(run.id).empty()) << "grades of the replaced completion are gone";
    EXPECT_EQ(store->sample_keys(run.id).size(), 1u);
  }
  RawDb raw(path);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM samples"), 1);
}

TEST(SqliteStore, GradesReturnsNewestPerSample) {
  TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  auto run = store->create_or_open_run(make_run("regrade"));
  store->add_sample(make_sample(run.id, "math500", "p", 0));
  store->add_sample(make_sample(run.id, "math500", "p", 1));
  store->add_grade(make_grade(run.id, "math500", "p", 0, Verdict::wrong, "3", "1"));
  store->add_grade(make_grade(run.id, "math500", "p", 1, Verdict::wrong, "5", "1"));
  store->add_grade(make_grade(run.id, "math500", "p", 0, Verdict::correct, "3", "2"));
  auto grades = store->grades(run.id);
  ASSERT_EQ(grades.size(), 2u);
  EXPECT_EQ(grades[0].key.sample_index, 0);
  EXPECT_EQ(grades[0].grader_version, "2");
  EXPECT_EQ(grades[0].result.verdict, Verdict::correct);
  EXPECT_EQ(grades[1].grader_version, "1");
  auto sums = store->sample_summaries(run.id, "math500");
  ASSERT_EQ(sums.size(), 2u);
  EXPECT_EQ(sums[0].grade->grader_version, "2");
}

TEST(SqliteStore, MigratesVersion1File) {
  TempDir dir;
  std::string path = dir.file("old.db");
  {
    RawDb raw(path);
    raw.exec(kSchemaV1);
    raw.exec(
        "INSERT INTO runs VALUES (1, 'old-run', 'm', '', 'openai', 'v', 'd', 'h', '0.0.9', '{\"k\":2}', "
        "'2025-01-01T00:00:00Z');"
        "INSERT INTO samples VALUES (1, 1, 'aime24', 'p1', 0, 'text', 10, 20, 'stop', 1.5, 7, '', "
        "'2025-01-01T00:00:01Z');"
        "INSERT INTO grades VALUES (1, 1, 'aime24', 'p1', 0, 'math', '1', 'correct', 1.0, '42', '{}', "
        "'2025-01-01T00:00:02Z');");
  }
  {
    auto store = open_sqlite_store(path);
    auto run = store->find_run("old-run");
    ASSERT_TRUE(run.has_value());
    EXPECT_EQ(run->preset, "") << "column added by migration 2 defaults to empty";
    EXPECT_EQ(run->config["k"], 2);
    auto samples = store->samples(run->id);
    ASSERT_EQ(samples.size(), 1u);
    EXPECT_EQ(samples[0].completion, "text");
    EXPECT_EQ(store->grades(run->id).at(0).result.extracted, std::optional<std::string>("42"));
    // The migrated file is fully writable.
    RunInfo r = make_run("new-run");
    EXPECT_EQ(store->create_or_open_run(r).preset, "r1-suite@1");
  }
  RawDb raw(path);
  EXPECT_EQ(raw.integer("PRAGMA user_version"), kSqliteSchemaVersion);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM schema_migrations WHERE version = 2"), 1);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM schema_migrations WHERE version = 1"), 0)
      << "version 1 was applied by the older build, not this one";
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

TEST(SqliteStore, RefusesNewerSchemaAndForeignFiles) {
  TempDir dir;
  std::string path = dir.file("new.db");
  { auto store = open_sqlite_store(path); }
  {
    RawDb raw(path);
    raw.exec("PRAGMA user_version=" + std::to_string(kSqliteSchemaVersion + 5));
  }
  try {
    open_sqlite_store(path);
    FAIL() << "a newer schema must be refused";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find("newer"), std::string::npos) << m;
  }
  std::string junk = dir.file("junk.db");
  std::ofstream(junk) << "this is not a database, just some text that is long enough to have a header...........";
  EXPECT_THROW(open_sqlite_store(junk), Error);
  std::string other = dir.file("other.db");
  {
    RawDb raw(other);
    raw.exec("PRAGMA application_id=12345; CREATE TABLE t(x);");
  }
  EXPECT_THROW(open_sqlite_store(other), Error);
}

TEST(SqliteStore, NewFileUsesWalAndConfiguredPageSize) {
  TempDir dir;
  std::string path = dir.file("p.db");
  StoreOptions o;
  o.page_size = 4096;
  { auto store = open_sqlite_store(path, o); }
  RawDb raw(path);
  EXPECT_EQ(raw.integer("PRAGMA page_size"), 4096);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  std::string path8 = dir.file("p8.db");
  { auto store = open_sqlite_store(path8); }
  RawDb raw8(path8);
  EXPECT_EQ(raw8.integer("PRAGMA page_size"), 8192);
}

TEST(SqliteStore, ConcurrentWritersThenFlush) {
  TempDir dir;
  std::string path = dir.file("c.db");
  constexpr int kThreads = 8, kPerThread = 300;
  StoreOptions o;
  o.batch_rows = 64;
  o.max_queued_rows = 500;  // exercises the back-pressure path too
  {
    auto store = open_sqlite_store(path, o);
    auto run = store->create_or_open_run(make_run("conc"));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::string pid = fmt::format("p{}_{}", t, i);
          store->add_sample(make_sample(run.id, "lcb", pid, 0, std::string(100 + i, 'x')));
          store->add_grade(make_grade(run.id, "lcb", pid, 0, i % 2 ? Verdict::correct : Verdict::wrong, "x"));
          if (i % 97 == 0) store->flush();
        }
      });
    }
    for (auto& th : threads) th.join();
    store->flush();
    EXPECT_EQ(store->sample_keys(run.id).size(), static_cast<size_t>(kThreads * kPerThread));
    EXPECT_EQ(store->grades(run.id).size(), static_cast<size_t>(kThreads * kPerThread));
  }
  RawDb raw(path);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM samples"), kThreads * kPerThread);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

TEST(SqliteStore, FlushedRowsVisibleToOtherConnectionsAndDestructorFlushes) {
  TempDir dir;
  std::string path = dir.file("d.db");
  auto store = open_sqlite_store(path);
  auto run = store->create_or_open_run(make_run("durable"));
  for (int i = 0; i < 10; ++i) store->add_sample(make_sample(run.id, "t", "p", i));
  store->flush();
  {
    RawDb raw(path);  // another connection, while the store is still open
    EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM samples"), 10);
  }
  for (int i = 10; i < 2500; ++i) store->add_sample(make_sample(run.id, "t", "p", i));
  store.reset();  // no explicit flush
  auto reopened = open_sqlite_store(path);
  EXPECT_EQ(reopened->samples(run.id).size(), 2500u);
}

TEST(SqliteStore, WriterErrorsSurfaceOnFlushAndStoreRecovers) {
  TempDir dir;
  auto store = open_sqlite_store(dir.file("e.db"));
  auto run = store->create_or_open_run(make_run("errors"));
  store->add_sample(make_sample(run.id + 100, "t", "p", 0));  // no such run: foreign key violation
  try {
    store->flush();
    FAIL() << "the failed write must not be silent";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("could not be written"), std::string::npos) << e.what();
  }
  store->add_sample(make_sample(run.id, "t", "p", 0));
  EXPECT_NO_THROW(store->flush());
  EXPECT_EQ(store->samples(run.id).size(), 1u);
}

TEST(SqliteStore, WriterErrorSurfacesOnNextAddWithoutLosingThatRow) {
  TempDir dir;
  auto store = open_sqlite_store(dir.file("e2.db"));
  auto run = store->create_or_open_run(make_run("errors2"));
  store->add_sample(make_sample(run.id + 100, "t", "bad", 0));  // foreign key violation, written in the background
  bool thrown = false;
  int added = 0;
  for (int i = 0; i < 4000 && !thrown; ++i) {  // until the writer has failed on the bad row
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    try {
      store->add_sample(make_sample(run.id, "t", "good", i));
      ++added;
    } catch (const Error& e) {
      thrown = true;
      ++added;  // the row was queued before the earlier failure was reported
      EXPECT_NE(std::string(e.what()).find("1 queued rows could not be written"), std::string::npos) << e.what();
    }
  }
  ASSERT_TRUE(thrown);
  EXPECT_NO_THROW(store->flush()) << "the error is reported once";
  EXPECT_EQ(store->samples(run.id).size(), static_cast<size_t>(added));
}

// Schema v5: one grade per sample. A regrade's add_grade replaces the row; a version-4 file holding several grade
// rows per sample (older regrades appended) is migrated to its newest grade of each sample.
TEST(SqliteStore, OneGradeRowPerSampleAndVersion4FilesAreMigrated) {
  TempDir dir;
  std::string path = dir.file("g.db");
  {
    auto store = open_sqlite_store(path);
    auto run = store->create_or_open_run(make_run("one-grade"));
    store->add_sample(make_sample(run.id, "math500", "p", 0));
    store->add_grade(make_grade(run.id, "math500", "p", 0, Verdict::wrong, "3", "1"));
    store->add_grade(make_grade(run.id, "math500", "p", 0, Verdict::correct, "4", "2"));
    store->flush();
    auto g = store->grades(run.id);
    ASSERT_EQ(g.size(), 1u);
    EXPECT_EQ(g[0].result.verdict, Verdict::correct);
    EXPECT_EQ(g[0].grader_version, "2");
  }
  {
    RawDb raw(path);
    EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM grades"), 1) << "replaced, not appended";
    // Make it a version-4 file as an older build left it: no unique index, three rows for one sample.
    raw.exec("DROP INDEX grades_one_per_sample; CREATE INDEX grades_by_sample ON grades (run_id, task, problem_id,"
             " sample_index, id); DELETE FROM schema_migrations WHERE version = 5; PRAGMA user_version = 4;");
    raw.exec("INSERT INTO grades (run_id, task, problem_id, sample_index, grader, grader_version, verdict, score,"
             " extracted, details, created_at) VALUES (1, 'math500', 'p', 0, 'math', '3', 'wrong', 0, '5', '{}', 'x'),"
             " (1, 'math500', 'p', 0, 'math', '4', 'correct', 1, '6', '{}', 'y');");
    EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM grades"), 3);
  }
  {
    // Opened read-only, the version-4 file reads its newest grade without being changed.
    StoreOptions ro;
    ro.read_only = true;
    auto store = open_sqlite_store(path, ro);
    auto g = store->grades(1);
    ASSERT_EQ(g.size(), 1u);
    EXPECT_EQ(g[0].grader_version, "4");
  }
  {
    RawDb raw(path);
    EXPECT_EQ(raw.integer("PRAGMA user_version"), 4);
  }
  {
    auto store = open_sqlite_store(path);  // a writing open migrates
    auto g = store->grades(1);
    ASSERT_EQ(g.size(), 1u);
    EXPECT_EQ(g[0].grader_version, "4");
    EXPECT_EQ(g[0].result.extracted, std::optional<std::string>("6"));
  }
  RawDb raw(path);
  EXPECT_EQ(raw.integer("PRAGMA user_version"), 5);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM grades"), 1);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM schema_migrations WHERE version = 5"), 1);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

// What `reval merge` and an extended run need: a run's config can be replaced, and rows keep a created_at they
// carry (a merged sample keeps the time it was generated).
TEST(SqliteStore, UpdateRunConfigAndKeptTimestamps) {
  TempDir dir;
  auto store = open_sqlite_store(dir.file("c.db"));
  auto run = store->create_or_open_run(make_run("cfg"));
  store->update_run_config(run.id, {{"tasks", {"gsm8k"}}, {"k", 8}});
  EXPECT_EQ(store->run_by_id(run.id)->config["k"], 8);
  EXPECT_EQ(store->create_or_open_run(make_run("cfg")).config["k"], 8) << "reopening keeps the stored config";
  EXPECT_THROW(store->update_run_config(run.id + 100, {}), Error);
  SampleRecord kept = make_sample(run.id, "gsm8k", "a", 0);
  kept.created_at = "2025-03-04T05:06:07.089Z";
  store->add_sample(kept);
  GradeRecord g = make_grade(run.id, "gsm8k", "a", 0, Verdict::correct, "1");
  g.created_at = "2025-03-04T05:06:08.000Z";
  store->add_grade(g);
  store->add_sample(make_sample(run.id, "gsm8k", "b", 0));  // no time given: stamped now
  auto samples = store->samples(run.id);
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].created_at, "2025-03-04T05:06:07.089Z");
  EXPECT_NE(samples[1].created_at, "");
  EXPECT_NE(samples[1].created_at, kept.created_at);
  EXPECT_EQ(store->grades(run.id).at(0).created_at, "2025-03-04T05:06:08.000Z");
}
