// End-to-end tests of the `reval` binary: replay on MATH-500 then a report with the right pass@1; SIGKILL of an
// eval against a slow local OpenAI-compatible server at several points, then resume: exactly problems x k samples,
// no duplicates, PRAGMA integrity_check ok; and clear errors for bad input.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <httplib.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "base/jsonl.hpp"
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

// One integer from `query`, or -1 (with the SQLite message in *error) when the database cannot answer yet.
long long try_sql_count(const std::string& db, const std::string& query, std::string* error) {
  sqlite3* h = nullptr;
  long long v = -1;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(h, 10000);  // the writer may hold the lock (schema creation, WAL switch, a commit)
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, query.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  if (v < 0 && error) *error = sqlite3_errmsg(h);
  sqlite3_close(h);
  return v;
}

// For a database no other process is writing: any failure is a test failure.
long long sql_count(const std::string& db, const std::string& query) {
  std::string error;
  long long v = try_sql_count(db, query, &error);
  EXPECT_GE(v, 0) << db << ": " << query << ": " << error;
  return v;
}

std::string sql_text(const std::string& db, const std::string& query) {
  sqlite3* h = nullptr;
  sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(h, query.c_str(), -1, &st, nullptr);
  std::string v;
  if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(h);
  return v;
}

}  // namespace

TEST(Cli, ReplayMath500ThenReportShowsPassAt1) {
  test::TempDir dir;
  // Two samples per problem: sample 0 is the gold answer boxed; sample 1 is right for the first 100 problems.
  std::ofstream resp(dir.file("responses.jsonl"));
  int row = 0;
  for_each_jsonl_file(test::shared_path("data/math500/test.jsonl"), [&](JsonlLine& l) {
    const json& v = *l.value;
    std::string id = v["unique_id"], answer = v["answer"];
    resp << json{{"task", "math500"}, {"problem_id", id}, {"sample_index", 0},
                 {"completion", "<think>\nsure\n</think>\nThe answer is $\\boxed{" + answer + "}$."}}.dump() << "\n";
    resp << json{{"task", "math500"}, {"problem_id", id}, {"sample_index", 1},
                 {"completion", row < 100 ? "\\boxed{" + answer + "}" : std::string("\\boxed{\\text{no idea}}")}}
                .dump()
         << "\n";
    ++row;
  });
  resp.close();
  ASSERT_EQ(row, 500);
  std::string db = dir.file("r.db");
  auto r = run_reval({"eval", "--backend", "replay", "--model", "replayed", "--responses", dir.file("responses.jsonl"),
                      "--tasks", "math500", "--samples", "2", "--db", db, "--data-dir", test::shared_path("data"),
                      "--no-progress"},
                     dir);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(sql_count(db, "SELECT COUNT(*) FROM samples"), 1000);
  auto rep = run_reval({"report", "--db", db, "--format", "json"}, dir);
  ASSERT_EQ(rep.status, 0) << rep.output;
  json report = json::parse(rep.output.substr(rep.output.find('{')));
  ASSERT_NE(report.dump().find("math500"), std::string::npos) << rep.output;
  // pass@1 = mean over k: (500 + 100) / 1000.
  bool found = false;
  std::function<void(const json&)> walk = [&](const json& j) {
    if (j.is_object()) {
      if (j.contains("task") && j["task"] == "math500" && j.contains("pass@1")) {
        EXPECT_NEAR(j["pass@1"].get<double>(), 0.6, 1e-9) << j.dump();
        found = true;
      }
      for (const auto& [k, v] : j.items()) walk(v);
    } else if (j.is_array()) {
      for (const auto& v : j) walk(v);
    }
  };
  walk(report);
  EXPECT_TRUE(found) << rep.output;
  auto md = run_reval({"report", "--db", db, "--format", "md"}, dir);
  ASSERT_EQ(md.status, 0) << md.output;
  EXPECT_NE(md.output.find("math500"), std::string::npos);
  EXPECT_NE(md.output.find("60.0"), std::string::npos) << md.output;
}

TEST(Cli, KilledEvalResumesToExactlyProblemsTimesK) {
  // A slow OpenAI-compatible server: 150 ms per request, `n` choices (a full run takes about 3 s).
  httplib::Server server;
  std::atomic<int> requests{0}, choices_served{0};
  server.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    ++requests;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    json body = json::parse(req.body);
    int n = body.value("n", 1);
    json choices = json::array();
    for (int i = 0; i < n; ++i)
      choices.push_back({{"index", i}, {"finish_reason", "stop"},
                         {"message", {{"role", "assistant"}, {"content", "\\boxed{" + std::to_string(i) + "}"}}}});
    choices_served += n;
    res.set_content(json{{"id", "x"}, {"object", "chat.completion"}, {"choices", choices},
                         {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 5 * n}}}}.dump(),
                    "application/json");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread th([&] { server.listen_after_bind(); });

  test::TempDir dir;
  std::string db = dir.file("r.db");
  std::vector<std::string> args = {"eval", "--backend", "openai", "--model", "served", "--base-url",
                                   "http://127.0.0.1:" + std::to_string(port) + "/v1", "--tasks", "math500",
                                   "--limit", "40", "--samples", "3", "--concurrency", "2", "--db", db,
                                   "--data-dir", test::shared_path("data"), "--no-progress"};
  for (int kill_ms : {300, 900, 1500}) {
    Proc p = spawn(args, dir.file("out.txt"));
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_ms));
    kill(p.pid, SIGKILL);
    wait_exit(p);
    if (std::filesystem::exists(db)) {
      EXPECT_EQ(sql_text(db, "PRAGMA integrity_check"), "ok");
    }
  }
  long long before_final = sql_count(db, "SELECT COUNT(*) FROM samples");
  EXPECT_GT(before_final, 0);
  EXPECT_LT(before_final, 120);
  auto r = run_reval(args, dir);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(sql_count(db, "SELECT COUNT(*) FROM samples"), 120);
  EXPECT_EQ(sql_count(db, "SELECT COUNT(*) FROM (SELECT DISTINCT run_id, task, problem_id, sample_index FROM samples)"),
            120);
  EXPECT_EQ(sql_text(db, "PRAGMA integrity_check"), "ok");
  // Every sample ends up graded, including any stored just before a kill but not yet graded.
  EXPECT_EQ(sql_count(db, "SELECT COUNT(*) FROM (SELECT DISTINCT task, problem_id, sample_index FROM grades)"), 120);
  // Nothing is left to do: a further run sends no request.
  int before = requests.load();
  auto again = run_reval(args, dir);
  EXPECT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(requests.load(), before);
  server.stop();
  th.join();
}

TEST(Cli, BadInputGivesClearErrors) {
  test::TempDir dir;
  {
    std::ofstream bad(dir.file("bad.jsonl"));
    bad << "{\"task\": \"math500\", \"problem_id\": \"x\", \"completion\": \"1\"}\n{\"task\": \"math500\"\n";
  }
  auto r = run_reval({"eval", "--backend", "replay", "--responses", dir.file("bad.jsonl"), "--tasks", "math500",
                      "--db", dir.file("r.db"), "--data-dir", test::shared_path("data"), "--no-progress"},
                     dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("bad.jsonl:2"), std::string::npos) << r.output;

  auto u = run_reval({"eval", "--backend", "replay", "--responses", dir.file("bad.jsonl"), "--tasks", "nosuchtask",
                      "--db", dir.file("r.db"), "--no-progress"},
                     dir);
  EXPECT_NE(u.status, 0);
  EXPECT_NE(u.output.find("nosuchtask"), std::string::npos) << u.output;

  // An unreachable server: every sample is an infra_error (not wrong), and the exit status says so.
  auto o = run_reval({"eval", "--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
                      "--max-retries", "1", "--tasks", "math500", "--limit", "2", "--samples", "1", "--db", dir.file("o.db"), "--data-dir",
                      test::shared_path("data"), "--no-progress"},
                     dir);
  EXPECT_NE(o.status, 0) << o.output;
  EXPECT_EQ(sql_count(dir.file("o.db"), "SELECT COUNT(*) FROM grades WHERE verdict = 'infra_error'"), 2);
}

namespace {
std::map<std::string, std::string> completions(const std::string& db) {
  std::map<std::string, std::string> out;
  sqlite3* h = nullptr;
  sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(h, "SELECT problem_id || '#' || sample_index, completion FROM samples", -1, &st, nullptr);
  while (st && sqlite3_step(st) == SQLITE_ROW)
    out[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] =
        sqlite3_column_text(st, 1) ? reinterpret_cast<const char*>(sqlite3_column_text(st, 1)) : "";
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}
}  // namespace

// Ctrl-C during a native eval whose samples are all still running (one batch across problems): the process stops
// within seconds, not after the batch; unfinished samples are dropped, not stored as errors; a resume starts them.
TEST(Cli, NativeEvalInterruptEndsInFlightSamplesPromptly) {
  test::TempDir dir;
  const std::string db = dir.file("int.db");
  std::vector<std::string> args{"eval", "--backend", "native", "--model", test::shared_path("models/tiny-random-qwen2"),
                                "--tasks", "math500", "--limit", "3", "--samples", "2", "--max-new-tokens", "20000",
                                "--threads", "2", "--db", db, "--data-dir", test::shared_path("data"), "--no-progress"};
  Proc p = spawn(args, dir.file("int.txt"));
  // Wait until the run is recorded (the engine is generating by then), then interrupt.
  for (int i = 0; i < 2400 && try_sql_count(db, "SELECT COUNT(*) FROM problems", nullptr) < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  kill(p.pid, SIGINT);
  const auto t0 = std::chrono::steady_clock::now();
  const int st = wait_exit(p);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string out = read_file(dir.file("int.txt"));
  EXPECT_EQ(st, 130) << out;
  EXPECT_LT(waited, 60.0) << "the interrupt waited for the whole batch";
  EXPECT_NE(out.find("interrupted"), std::string::npos) << out;
  EXPECT_EQ(sql_count(db, "SELECT COUNT(*) FROM samples WHERE error != ''"), 0) << "cancelled samples stored as errors";
  EXPECT_LT(sql_count(db, "SELECT COUNT(*) FROM samples"), 6);
}

// --kv-memory reaches the native engine through eval: a budget too small for one sample is a clear error before
// anything is generated; a sufficient one runs.
TEST(Cli, NativeEvalKvMemoryFlag) {
  test::TempDir dir;
  auto args = [&](const std::string& kv, const std::string& db) {
    return std::vector<std::string>{"eval", "--backend", "native", "--model", test::shared_path("models/tinystories-656k"),
                                    "--tasks", "math500", "--limit", "1", "--samples", "1", "--max-new-tokens", "30",
                                    "--threads", "1", "--kv-memory", kv, "--db", db, "--data-dir",
                                    test::shared_path("data"), "--no-progress"};
  };
  auto small = run_reval(args("16KiB", dir.file("small.db")), dir);
  EXPECT_NE(small.status, 0) << small.output;
  EXPECT_NE(small.output.find("KV cache too small"), std::string::npos) << small.output;
  EXPECT_NE(small.output.find("--kv-memory"), std::string::npos) << small.output;
  auto enough = run_reval(args("4MiB", dir.file("enough.db")), dir);
  EXPECT_EQ(enough.status, 0) << enough.output;
  EXPECT_EQ(sql_count(dir.file("enough.db"), "SELECT COUNT(*) FROM samples"), 1);
}

// The native engine's acceptance run: tiny-random-qwen2 on 5 MATH-500 problems x 4 samples, killed once some
// samples are stored, then resumed: only the missing samples are generated, and (per-sample seeds) every
// completion equals the one of an uninterrupted run. The killed run sends one problem at a time (--concurrency 1)
// so that it is caught between problems; the resumed and the fresh run batch all problems in one scheduler, so the
// equality also checks that a sample does not depend on its batch mates.
TEST(Cli, NativeEvalKilledAndResumedGeneratesOnlyMissing) {
  test::TempDir dir;
  auto args = [&](const std::string& db, bool one_at_a_time = false) {
    std::vector<std::string> a{"eval", "--backend", "native", "--model",
                               test::shared_path("models/tiny-random-qwen2"), "--tasks", "math500", "--limit",
                               "5", "--samples", "4", "--max-new-tokens", "24", "--threads", "2", "--db", db,
                               "--data-dir", test::shared_path("data"), "--no-progress"};
    if (one_at_a_time) a.insert(a.end(), {"--concurrency", "1"});
    return a;
  };
  std::string db = dir.file("killed.db");
  Proc p = spawn(args(db, true), dir.file("killed.txt"));
  long long stored = 0;
  for (int i = 0; i < 2400 && stored < 4; ++i) {  // up to 120 s
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // The running eval is creating the schema and writing: "no such table" or a held lock just mean "not yet".
    if (std::filesystem::exists(db)) stored = std::max(stored, try_sql_count(db, "SELECT COUNT(*) FROM samples", nullptr));
  }
  kill(p.pid, SIGKILL);
  wait_exit(p);
  ASSERT_GE(stored, 4) << read_file(dir.file("killed.txt"));
  long long at_restart = sql_count(db, "SELECT COUNT(*) FROM samples");
  auto before = completions(db);
  if (at_restart >= 20) GTEST_SKIP() << "the run finished before it could be killed";

  auto resumed = run_reval(args(db), dir);
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  std::string expect = "20 samples expected, " + std::to_string(at_restart) + " already stored, " +
                       std::to_string(20 - at_restart) + " generated";
  EXPECT_NE(resumed.output.find(expect), std::string::npos) << resumed.output;
  auto after = completions(db);
  ASSERT_EQ(after.size(), 20u);
  for (const auto& [key, text] : before) EXPECT_EQ(after.at(key), text) << key << " was regenerated";
  EXPECT_NE(resumed.output.find("math500"), std::string::npos);

  std::string fresh_db = dir.file("fresh.db");
  auto fresh = run_reval(args(fresh_db), dir);
  ASSERT_EQ(fresh.status, 0) << fresh.output;
  EXPECT_EQ(completions(fresh_db), after);
}
