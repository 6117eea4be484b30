// The `reval` binary with run options and scale-out, against local fake OpenAI-compatible servers: four shards on
// two servers merged with `reval merge` report exactly like the single-machine run of the same problems (and the
// merge refuses other evaluations, merges duplicates once, reports conflicts); --stop and --system-prompt reach the
// server and are recorded; Ctrl-C says what is stored and left to grade; regrade says which verdicts changed.
//
// The fake server answers deterministically from the request: choice i of a request with seed s for prompt P is
// right (the MATH-500 gold, boxed) when fnv(P, salt, s, i) mod 3 != 0, else "\boxed{-1}". Every run requests all k
// samples of a problem at once with the same seed, so a shard and the single-machine run get the same text.
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
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "base/hash.hpp"
#include "base/jsonl.hpp"
#include "tests/mock_http.hpp"
#include "tests/reval_process.hpp"
#include "tests/test_util.hpp"

using namespace reval;
using nlohmann::json;

namespace {

// ---- running the binary ----

using test::Proc;
using test::RunResult;
using test::run_reval;
using test::spawn;
using test::wait_exit;

// ---- reading a results database ----

std::string sql_text(const std::string& db, const std::string& query) {
  sqlite3* h = nullptr;
  sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_busy_timeout(h, 10000);
  sqlite3_stmt* st = nullptr;
  std::string v = "<error>";
  if (sqlite3_prepare_v2(h, query.c_str(), -1, &st, nullptr) == SQLITE_OK) {
    v.clear();
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
      v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return v;
}
long long sql_count(const std::string& db, const std::string& query) {
  std::string v = sql_text(db, query);
  return v.empty() || v == "<error>" ? -1 : std::stoll(v);
}
void sql_exec(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  sqlite3_open(db.c_str(), &h);
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_close(h);
}
std::map<std::string, std::string> completions(const std::string& db) {
  std::map<std::string, std::string> out;
  sqlite3* h = nullptr;
  sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(h, "SELECT problem_id || '#' || sample_index, completion FROM samples", -1, &st, nullptr);
  while (st && sqlite3_step(st) == SQLITE_ROW)
    out[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] =
        reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

// A CSV text (no quoted commas in these reports) without the named column.
std::string without_column(const std::string& csv, const std::string& name) {
  std::vector<std::vector<std::string>> rows;
  size_t pos = 0;
  while (pos < csv.size()) {
    size_t end = csv.find('\n', pos);
    if (end == std::string::npos) end = csv.size();
    std::vector<std::string> cells;
    std::string line = csv.substr(pos, end - pos);
    for (size_t a = 0;;) {
      size_t b = line.find(',', a);
      cells.push_back(line.substr(a, b == std::string::npos ? std::string::npos : b - a));
      if (b == std::string::npos) break;
      a = b + 1;
    }
    rows.push_back(cells);
    pos = end + 1;
  }
  size_t drop = SIZE_MAX;
  for (size_t i = 0; !rows.empty() && i < rows[0].size(); ++i)
    if (rows[0][i] == name) drop = i;
  std::string out;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i)
      if (i != drop) out += r[i] + ",";
    out += "\n";
  }
  return out;
}

// ---- the fake server ----

// MATH-500 problem text -> its answer.
const std::map<std::string, std::string>& math500_gold() {
  static const std::map<std::string, std::string> gold = [] {
    std::map<std::string, std::string> g;
    for_each_jsonl_file(test::shared_path("data/math500/test.jsonl"), [&](JsonlLine& l) {
      g[(*l.value)["problem"].get<std::string>()] = (*l.value)["answer"].get<std::string>();
    });
    return g;
  }();
  return gold;
}

class FakeOpenAI {
 public:
  explicit FakeOpenAI(std::string salt = "", int delay_ms = 0) : salt_(std::move(salt)), delay_ms_(delay_ms) {
    http_.server.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      ++posts_;
      if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
      json body = json::parse(req.body);
      {
        std::lock_guard lock(mu_);
        bodies_.push_back(body);
      }
      std::string content = body["messages"].back()["content"];
      std::string problem = content.substr(0, content.rfind("\nPlease reason step by step"));
      auto gold = math500_gold().find(problem);
      std::string answer = gold == math500_gold().end() ? "?" : gold->second;
      const std::uint64_t seed = body.value("seed", std::uint64_t{0});
      const int n = body.value("n", 1);
      json choices = json::array();
      for (int i = 0; i < n; ++i) {
        std::uint64_t h = fnv1a64(fmt::format("{}|{}|{}|{}", content, salt_, seed, i));
        std::string text = fmt::format("<think>\nworking {}\n</think>\nSo \\boxed{{{}}}", h % 1000,
                                       h % 3 != 0 ? answer : std::string("-1"));
        choices.push_back({{"index", i}, {"finish_reason", "stop"}, {"message", {{"role", "assistant"}, {"content", text}}}});
      }
      res.set_content(json{{"choices", choices}, {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 5 * n}}}}.dump(),
                      "application/json");
    });
    http_.start();
  }
  std::string url() const { return http_.url() + "/v1"; }
  int posts() const { return posts_.load(); }
  std::vector<json> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }

 private:
  test::LocalHttpServer http_;
  std::string salt_;
  int delay_ms_;
  std::atomic<int> posts_{0};
  std::mutex mu_;
  std::vector<json> bodies_;
};

std::vector<std::string> eval_args(const std::string& db, std::vector<std::string> extra) {
  std::vector<std::string> a = {"eval", "--backend", "openai", "--model", "served", "--tasks", "math500",
                                "--limit", "14", "--samples", "3", "--db", db, "--run-name", "r",
                                "--data-dir", test::shared_path("data"), "--max-retries", "1", "--no-progress"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

}  // namespace

TEST(ScaleOut, FourShardsMergeToTheSingleMachineRun) {
  test::TempDir dir;
  FakeOpenAI a, b;
  auto single = run_reval(eval_args(dir.file("single.db"), {"--base-url", a.url(), "--base-url", b.url()}), dir);
  ASSERT_EQ(single.status, 0) << single.output;
  EXPECT_GT(a.posts(), 0) << "requests are spread over both servers";
  EXPECT_GT(b.posts(), 0);
  EXPECT_EQ(a.posts() + b.posts(), 14) << "one request per problem (n = k)";

  std::ofstream(dir.file("servers.txt")) << "# the two replicas\n" << a.url() << "\n\n" << b.url() << "\n";
  std::vector<std::string> shards;
  for (int i = 1; i <= 4; ++i) {
    shards.push_back(dir.file(fmt::format("s{}.db", i)));
    auto r = run_reval(eval_args(shards.back(), {"--base-url-file", dir.file("servers.txt"), "--shard",
                                                 fmt::format("{}/4", i)}),
                       dir);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(fmt::format("shard {}/4 done", i)), std::string::npos) << r.output;
  }
  EXPECT_EQ(sql_count(shards[0], "SELECT COUNT(*) FROM samples"), 4 * 3);  // positions 0, 4, 8, 12
  EXPECT_EQ(sql_count(shards[3], "SELECT COUNT(*) FROM samples"), 3 * 3);  // positions 3, 7, 11

  std::vector<std::string> merge = {"merge", dir.file("merged.db")};
  merge.insert(merge.end(), shards.begin(), shards.end());
  auto m = run_reval(merge, dir);
  ASSERT_EQ(m.status, 0) << m.output;
  EXPECT_NE(m.output.find("run r (new): 42 samples, 42 grades, 14 problems added; 0 duplicates merged once"),
            std::string::npos)
      << m.output;

  // The merged database is the single-machine run: the same samples, the same report (CSV: every column but the
  // wall-clock latency, which no two runs share).
  EXPECT_EQ(completions(dir.file("merged.db")), completions(dir.file("single.db")));
  for (const char* format : {"md", "csv"}) {
    auto s = run_reval({"report", "--db", dir.file("single.db"), "--format", format}, dir);
    auto g = run_reval({"report", "--db", dir.file("merged.db"), "--format", format}, dir);
    ASSERT_EQ(s.status, 0) << s.output;
    EXPECT_NE(s.output.find("math500"), std::string::npos);
    if (std::string(format) == "csv") {
      EXPECT_EQ(without_column(g.output, "mean_latency_s"), without_column(s.output, "mean_latency_s"));
      EXPECT_NE(without_column(s.output, "mean_latency_s"), s.output) << "the column was found";
    } else {
      EXPECT_EQ(g.output, s.output) << format;
    }
  }
  json config = json::parse(sql_text(dir.file("merged.db"), "SELECT config FROM runs WHERE name = 'r'"));
  EXPECT_FALSE(config.contains("shard"));
  EXPECT_EQ(config["tasks"][0]["problems"], 14);
  EXPECT_EQ(config["merged_from"].size(), 4u);

  // Merging a shard again changes nothing.
  const std::string report_before = run_reval({"report", "--db", dir.file("merged.db"), "--format", "md"}, dir).output;
  auto again = run_reval({"merge", dir.file("merged.db"), shards[0]}, dir);
  EXPECT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("0 samples, 0 grades, 0 problems added; 12 duplicates merged once"), std::string::npos)
      << again.output;

  // Shard 1 generated by another server (other text): conflicts are reported, nothing is overwritten (exit 2).
  FakeOpenAI other("another model build");
  auto c = run_reval(eval_args(dir.file("c1.db"), {"--base-url", other.url(), "--shard", "1/4"}), dir);
  ASSERT_EQ(c.status, 0) << c.output;
  auto conflict = run_reval({"merge", dir.file("merged.db"), dir.file("c1.db")}, dir);
  EXPECT_EQ(conflict.status, 2) << conflict.output;
  EXPECT_NE(conflict.output.find("reval: conflict: run r, math500/"), std::string::npos) << conflict.output;
  EXPECT_NE(conflict.output.find("12 conflicts"), std::string::npos) << conflict.output;

  // A shard evaluated with other sampling is another evaluation: refused, nothing merged (exit 1).
  auto t = run_reval(eval_args(dir.file("t2.db"), {"--base-url", a.url(), "--shard", "2/4", "--temperature", "0.1"}),
                     dir);
  ASSERT_EQ(t.status, 0) << t.output;
  auto refused = run_reval({"merge", dir.file("merged.db"), dir.file("t2.db")}, dir);
  EXPECT_EQ(refused.status, 1) << refused.output;
  EXPECT_NE(refused.output.find("sampling"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("nothing was merged"), std::string::npos) << refused.output;
  EXPECT_EQ(run_reval({"report", "--db", dir.file("merged.db"), "--format", "md"}, dir).output, report_before);
  EXPECT_EQ(completions(dir.file("merged.db")), completions(dir.file("single.db")));
}

TEST(ScaleOut, StopAndSystemPromptReachTheServerAndAreRecorded) {
  test::TempDir dir;
  FakeOpenAI server;
  const std::string db = dir.file("r.db");
  auto r = run_reval({"eval", "--backend", "openai", "--model", "served", "--base-url", server.url(), "--tasks",
                      "math500", "--limit", "2", "--samples", "1", "--db", db, "--data-dir", test::shared_path("data"),
                      "--stop", "</answer>", "--stop", "\\n\\nQ:", "--system-prompt", "Be brief.", "--no-progress"},
                     dir);
  ASSERT_EQ(r.status, 0) << r.output;
  auto bodies = server.bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[0]["stop"], (json{"</answer>", "\n\nQ:"}));
  EXPECT_EQ(bodies[0]["messages"][0], (json{{"role", "system"}, {"content", "Be brief."}}));
  EXPECT_EQ(bodies[0]["messages"][1]["role"], "user");
  json config = json::parse(sql_text(db, "SELECT config FROM runs"));
  EXPECT_EQ(config["system_prompt"], "Be brief.");
  EXPECT_EQ(config["sampling"]["stop"], (json{"</answer>", "\n\nQ:"}));
  // Resuming the run with another system prompt is refused.
  auto other = run_reval({"eval", "--backend", "openai", "--model", "served", "--base-url", server.url(), "--tasks",
                          "math500", "--limit", "2", "--samples", "1", "--db", db, "--data-dir",
                          test::shared_path("data"), "--stop", "</answer>", "--stop", "\\n\\nQ:", "--no-progress"},
                         dir);
  EXPECT_EQ(other.status, 1) << other.output;
  EXPECT_NE(other.output.find("system_prompt"), std::string::npos) << other.output;

  // A replay run records no sampling parameters, and says the ones given are unused.
  std::ofstream(dir.file("resp.jsonl")) << R"({"task": "math500", "problem_id": "test/precalculus/807.json", "completion": "\\boxed{1}"})"
                                        << "\n";
  auto replay = run_reval({"eval", "--backend", "replay", "--model", "m", "--responses", dir.file("resp.jsonl"),
                           "--tasks", "math500", "--limit", "1", "--samples", "1", "--temperature", "0.2", "--db",
                           dir.file("replay.db"), "--data-dir", test::shared_path("data"), "--no-progress"},
                          dir);
  ASSERT_EQ(replay.status, 0) << replay.output;
  EXPECT_NE(replay.output.find("--temperature not used and not recorded"), std::string::npos) << replay.output;
  json rc = json::parse(sql_text(dir.file("replay.db"), "SELECT config FROM runs"));
  EXPECT_FALSE(rc.contains("sampling")) << rc.dump();
  EXPECT_TRUE(rc.contains("tasks"));
}

TEST(ScaleOut, CtrlCSaysWhatIsStoredAndLeftToGrade) {
  test::TempDir dir;
  FakeOpenAI slow("", 200);
  const std::string db = dir.file("r.db");
  auto args = eval_args(db, {"--base-url", slow.url(), "--concurrency", "1"});
  Proc p = spawn(args, dir.file("interrupted.txt"));
  for (int i = 0; i < 1200 && slow.posts() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_GE(slow.posts(), 3);
  kill(p.pid, SIGINT);
  EXPECT_EQ(wait_exit(p), 130);
  std::string out = read_file(dir.file("interrupted.txt"));
  const long long stored = sql_count(db, "SELECT COUNT(*) FROM samples");
  const long long graded = sql_count(db, "SELECT COUNT(*) FROM grades");
  EXPECT_GT(stored, 0);
  EXPECT_LT(stored, 42);
  EXPECT_NE(out.find(fmt::format("reval: interrupted: {} samples stored in {}, {} graded, {} left to grade", stored, db,
                                 graded, stored - graded)),
            std::string::npos)
      << out;
  // The same command finishes the run.
  auto done = run_reval(args, dir);
  EXPECT_EQ(done.status, 0) << done.output;
  EXPECT_EQ(sql_count(db, "SELECT COUNT(*) FROM samples"), 42);
  EXPECT_EQ(sql_count(db, "SELECT COUNT(*) FROM grades"), 42);
}

TEST(ScaleOut, RegradeSaysWhichVerdictsChanged) {
  test::TempDir dir;
  FakeOpenAI server;
  const std::string db = dir.file("r.db");
  ASSERT_EQ(run_reval(eval_args(db, {"--base-url", server.url()}), dir).status, 0);
  // Pretend an older grader got one correct sample wrong.
  std::string key = sql_text(db, "SELECT problem_id || '#' || sample_index FROM grades WHERE verdict = 'correct' "
                                 "ORDER BY problem_id, sample_index LIMIT 1");
  ASSERT_FALSE(key.empty());
  sql_exec(db, "UPDATE grades SET verdict = 'wrong', score = 0 WHERE problem_id || '#' || sample_index = '" + key + "'");
  auto r = run_reval({"regrade", "--db", db, "--verbose", "--no-progress"}, dir);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("re-graded 42 samples; 1 verdicts changed (wrong -> correct: 1)"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("r\tmath500\t" + key + "\twrong -> correct"), std::string::npos) << r.output;
  EXPECT_EQ(sql_count(db, "SELECT COUNT(*) FROM grades"), 42) << "replaced, not appended";
  auto quiet = run_reval({"regrade", "--db", db, "--no-progress"}, dir);
  EXPECT_NE(quiet.output.find("re-graded 42 samples; 0 verdicts changed"), std::string::npos) << quiet.output;
}
