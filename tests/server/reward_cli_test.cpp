// The reward front ends agree, and `reval serve-reward` runs as a process:
//  * tests/graders/data/reward_equivalence.jsonl (math, choice and code lines with expected verdicts) gives the same
//    verdicts through the CLI `reval grade`, the C++ reward API (RewardScorer) and HTTP (/grade, and OpenRLHF's
//    POST / for the math lines); the Python module is checked against the CLI in tests/python.
//  * `reval serve-reward --port 0` prints its address, answers /health and an OpenRLHF request, refuses a request
//    without its token, and exits 0 on SIGTERM after a graceful shutdown.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "base/jsonl.hpp"
#include "graders/rewards.hpp"
#include "server/reward_server.hpp"
#include "tests/test_util.hpp"

extern char** environ;

using nlohmann::json;
namespace rw = reval::rewards;

namespace {

std::vector<json> equivalence_table() {
  std::vector<json> rows;
  reval::for_each_jsonl_file(reval::test::source_dir() + "/tests/graders/data/reward_equivalence.jsonl",
                             [&](reval::JsonlLine& line) {
                               EXPECT_TRUE(line.value) << "line " << line.line << ": " << line.error;
                               if (line.value) rows.push_back(*line.value);
                             });
  return rows;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(RewardFrontEnds, SameVerdictsThroughCliCppAndHttp) {
  if (!std::filesystem::exists(reval::test::reval_binary())) GTEST_SKIP() << "reval binary not built";
  const auto rows = equivalence_table();
  ASSERT_GE(rows.size(), 10u);
  reval::server::RewardServerOptions so;
  so.workers = 2;
  reval::server::RewardServer server(so);
  const int port = server.start();
  httplib::Client http("127.0.0.1", port);
  http.set_read_timeout(std::chrono::seconds(120));
  rw::RewardScorer scorer(json::object(), 2);
  reval::test::TempDir tmp;

  int checked = 0;
  for (const std::string grader : {"math", "choice", "code"}) {
    std::vector<json> subset;
    for (const auto& r : rows)
      if (r["grader"] == grader) subset.push_back(r);
    ASSERT_FALSE(subset.empty()) << grader;

    // CLI.
    const std::string in = tmp.file(grader + ".jsonl"), out = tmp.file(grader + ".out.jsonl");
    {
      std::ofstream f(in);
      for (const auto& r : subset) f << r.dump() << '\n';
    }
    const std::string cmd = reval::test::reval_binary() + " grade --grader " + grader + " --threads 2 --input " + in +
                            " --output " + out + " 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::vector<std::string> cli;
    reval::for_each_jsonl_file(out, [&](reval::JsonlLine& l) { cli.push_back(l.value->at("verdict").get<std::string>()); });
    ASSERT_EQ(cli.size(), subset.size());

    // C++ API.
    std::vector<rw::RewardItem> items(subset.size());
    for (std::size_t i = 0; i < subset.size(); ++i) ASSERT_EQ(rw::item_from_line(subset[i], grader, items[i]), "");
    auto cpp = scorer.score_batch(items);

    // HTTP /grade.
    auto res = http.Post("/grade", json{{"grader", grader}, {"items", subset}}.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json web = json::parse(res->body)["results"];
    ASSERT_EQ(web.size(), subset.size());

    for (std::size_t i = 0; i < subset.size(); ++i) {
      const std::string name = subset[i]["case"], expect = subset[i]["expect"];
      EXPECT_EQ(cli[i], expect) << name << " (CLI)";
      EXPECT_EQ(reval::to_string(cpp[i].verdict), cli[i]) << name << " (C++ API)";
      EXPECT_EQ(web[i]["verdict"], cli[i]) << name << " (HTTP /grade)";
      const double want = expect == "correct" ? 1.0 : 0.0;
      ASSERT_TRUE(cpp[i].reward) << name;
      EXPECT_EQ(*cpp[i].reward, want) << name;
      EXPECT_EQ(web[i]["reward"], want) << name;
      ++checked;
    }

    // OpenRLHF's protocol for the math lines: the prompt is cut off the query, the label is the gold.
    if (grader == "math") {
      json body = {{"query", json::array()}, {"prompts", json::array()}, {"labels", json::array()}};
      for (const auto& r : subset) {
        body["query"].push_back("<|user|>Solve.<|assistant|>" + r["response"].get<std::string>());
        body["prompts"].push_back("<|user|>Solve.<|assistant|>");
        body["labels"].push_back(r["gold"]);
      }
      auto o = http.Post("/", body.dump(), "application/json");
      ASSERT_TRUE(o);
      ASSERT_EQ(o->status, 200) << o->body;
      const json j = json::parse(o->body);
      for (std::size_t i = 0; i < subset.size(); ++i) {
        EXPECT_EQ(j["verdicts"][i], cli[i]) << subset[i]["case"] << " (OpenRLHF)";
        EXPECT_EQ(j["rewards"][i], cli[i] == "correct" ? 1.0 : 0.0) << subset[i]["case"] << " (OpenRLHF)";
      }
    }
  }
  EXPECT_EQ(checked, static_cast<int>(rows.size()));
}

TEST(RewardFrontEnds, ServeRewardProcessAnswersAndStopsOnSigterm) {
  if (!std::filesystem::exists(reval::test::reval_binary())) GTEST_SKIP() << "reval binary not built";
  reval::test::TempDir tmp;
  const std::string log = tmp.file("server.log");
  const std::string binary = reval::test::reval_binary();
  std::vector<std::string> args = {binary, "serve-reward", "--port", "0", "--workers", "1", "--token", "s3cret"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);

  // The address line: "reval: serving rewards on http://127.0.0.1:PORT ...".
  int port = 0;
  const std::regex address(R"(serving rewards on http://127\.0\.0\.1:(\d+))");
  for (int i = 0; i < 600 && port == 0; ++i) {
    std::smatch m;
    const std::string text = read_all(log);
    if (std::regex_search(text, m, address)) port = std::stoi(m[1]);
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (port == 0) kill(pid, SIGKILL);
  ASSERT_NE(port, 0) << read_all(log);

  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(std::chrono::seconds(60));
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  const json body = {{"query", {"Q: 6*7? A: \\boxed{42}", "Q: 6*7? A: \\boxed{41}"}},
                     {"prompts", {"Q: 6*7? A: ", "Q: 6*7? A: "}},
                     {"labels", {"42", "42"}}};
  auto no_token = c.Post("/", body.dump(), "application/json");
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 401);
  c.set_bearer_token_auth("s3cret");
  auto ok = c.Post("/", body.dump(), "application/json");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(json::parse(ok->body)["rewards"], json::array({1.0, 0.0}));

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by a signal instead of a graceful exit: " << read_all(log);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const std::string text = read_all(log);
  EXPECT_NE(text.find("SIGTERM: shutting down"), std::string::npos) << text;
  EXPECT_NE(text.find("stopped after 1 requests, 2 items"), std::string::npos) << text;
}
