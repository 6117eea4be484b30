// The `reval` binary under faults: a second eval of a run that is being evaluated is refused and a crashed
// owner's run is taken over; reading commands work on a read-only file system; a corrupt database is named as
// corrupt by runs, report, eval and check.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <sqlite3.h>
#include <nlohmann/json.hpp>

#include "tests/reval_process.hpp"
#include "tests/test_util.hpp"

using namespace reval;
using nlohmann::json;

namespace {

using test::Proc;
using test::RunResult;
using test::run_reval;
using test::spawn;
using test::wait_exit;


// A replay run of 20 MATH-500 problems x 2 samples in `db`.
void make_db(const test::TempDir& dir, const std::string& db) {
  std::ofstream resp(dir.file("resp.jsonl"));
  std::ifstream test_file(test::shared_path("data/math500/test.jsonl"));
  std::string line;
  for (int i = 0; i < 20 && std::getline(test_file, line); ++i) {
    json p = json::parse(line);
    for (int k = 0; k < 2; ++k)
      resp << json{{"task", "math500"}, {"problem_id", p["unique_id"]}, {"sample_index", k},
                   {"completion", std::string(2000, 'x') + " \\boxed{" + (k == 0 ? p["answer"].get<std::string>() : "0") + "}"}}
                  .dump()
           << "\n";
  }
  resp.close();
  RunResult r = run_reval({"eval", "--backend", "replay", "--model", "m", "--responses", dir.file("resp.jsonl"), "--tasks",
               "math500", "--limit", "20", "--samples", "2", "--db", db, "--data-dir", test::shared_path("data"),
               "--no-progress"},
              dir);
  ASSERT_EQ(r.status, 0) << r.output;
}

// In the child: a private mount namespace (inside a user namespace) where `dir` is a read-only bind mount.
void read_only_view(const std::string& dir) {
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) _exit(77);
  auto write = [](const std::string& path, const std::string& text) {
    int fd = open(path.c_str(), O_WRONLY);
    if (fd < 0) return false;
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    close(fd);
    return ok;
  };
  write("/proc/self/setgroups", "deny");
  if (!write("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1\n") ||
      !write("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1\n"))
    _exit(77);
  if (mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) _exit(77);
  if (mount(nullptr, dir.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) _exit(77);
}

// Lease rows in `db` (-1 while the file or table does not exist yet).
long long lease_rows(const std::string& db) {
  if (!std::filesystem::exists(db)) return -1;
  sqlite3* h = nullptr;
  long long n = -1;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, "SELECT COUNT(*) FROM run_leases", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return n;
}

}  // namespace

TEST(RobustnessCli, ReadingCommandsWorkOnAReadOnlyFileSystem) {
  test::TempDir dir;
  std::string ro = dir.file("ro");
  std::filesystem::create_directory(ro);
  std::string db = ro + "/r.db";
  make_db(dir, db);
  ASSERT_FALSE(std::filesystem::exists(db + "-wal"));  // closed cleanly
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"runs", "--db", db}, std::vector<std::string>{"report", "--db", db, "--format", "md"},
        std::vector<std::string>{"check", "--db", db}}) {
    Proc p = spawn(args, dir.file("ro.txt"), read_only_view, ro);
    int st = wait_exit(p);
    if (st == 77) GTEST_SKIP() << "user and mount namespaces are not available here: cannot make a read-only mount";
    std::string out = read_file(p.out_path);
    EXPECT_EQ(st, 0) << args[0] << ": " << out;
    EXPECT_EQ(out.find("unable to open"), std::string::npos) << out;
    if (args[0] == "report") {
      EXPECT_NE(out.find("math500"), std::string::npos) << out;
    }
  }
  // Positive control: inside that view the file system really is read-only (a write fails).
  Proc p = spawn({"eval", "--backend", "replay", "--model", "m", "--responses", dir.file("resp.jsonl"), "--tasks",
                  "math500", "--limit", "21", "--samples", "2", "--db", db, "--data-dir", test::shared_path("data"),
                  "--no-progress"},
                 dir.file("ro-eval.txt"), read_only_view, ro);
  EXPECT_NE(wait_exit(p), 0) << read_file(p.out_path);
}

TEST(RobustnessCli, CorruptDatabaseIsNamedAsCorrupt) {
  test::TempDir dir;
  std::string db = dir.file("r.db");
  make_db(dir, db);
  RunResult good = run_reval({"check", "--db", db}, dir);
  ASSERT_EQ(good.status, 0) << good.output;  // positive twin
  EXPECT_NE(good.output.find("integrity: ok"), std::string::npos) << good.output;
  {
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0, std::ios::end);
    auto size = static_cast<std::int64_t>(f.tellp());
    std::string junk(8192 * 2, '\x33');
    f.seekp(size / 2 / 8192 * 8192);
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"runs", "--db", db}, std::vector<std::string>{"report", "--db", db},
        std::vector<std::string>{"eval", "--backend", "replay", "--model", "m", "--responses", dir.file("resp.jsonl"),
                                 "--tasks", "math500", "--limit", "20", "--samples", "2", "--db", db, "--data-dir",
                                 test::shared_path("data"), "--no-progress"}}) {
    RunResult r = run_reval(args, dir);
    EXPECT_NE(r.status, 0) << args[0] << ": " << r.output;
    EXPECT_NE(r.output.find("corrupt"), std::string::npos) << args[0] << ": " << r.output;
  }
  RunResult check = run_reval({"check", "--db", db}, dir);
  EXPECT_EQ(check.status, 1) << check.output;
  EXPECT_EQ(check.output.find("integrity: ok"), std::string::npos) << check.output;
}

TEST(RobustnessCli, SecondEvalOfARunIsRefusedAndACrashedOwnerIsTakenOver) {
  httplib::Server server;
  server.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    json body = json::parse(req.body);
    json choices = json::array();
    for (int i = 0; i < body.value("n", 1); ++i)
      choices.push_back({{"index", i}, {"finish_reason", "stop"},
                         {"message", {{"role", "assistant"}, {"content", "\\boxed{1}"}}}});
    res.set_content(json{{"choices", choices}}.dump(), "application/json");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread th([&] { server.listen_after_bind(); });
  test::TempDir dir;
  std::string db = dir.file("r.db");
  std::vector<std::string> args = {"eval", "--backend", "openai", "--model", "served", "--base-url",
                                   "http://127.0.0.1:" + std::to_string(port) + "/v1", "--tasks", "math500",
                                   "--limit", "100", "--samples", "2", "--concurrency", "1", "--db", db,
                                   "--data-dir", test::shared_path("data"), "--no-progress"};
  Proc first = spawn(args, dir.file("first.txt"));
  // Wait until the first process holds the run (its lease row exists), then start a second one.
  for (int i = 0; i < 1200 && lease_rows(db) < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(lease_rows(db), 1) << read_file(dir.file("first.txt"));
  RunResult second = run_reval(args, dir);
  EXPECT_NE(second.status, 0) << second.output;
  EXPECT_NE(second.output.find("already being used by `reval eval`"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find("process " + std::to_string(first.pid)), std::string::npos) << second.output;
  // The owner crashes: the next eval takes the run over at once (its process is gone) and finishes it.
  kill(first.pid, SIGKILL);
  wait_exit(first);
  RunResult third = run_reval(args, dir);
  EXPECT_EQ(third.status, 0) << third.output;
  EXPECT_NE(third.output.find("taking over run"), std::string::npos) << third.output;
  EXPECT_NE(third.output.find("200 samples expected"), std::string::npos) << third.output;
  server.stop();
  th.join();
}
