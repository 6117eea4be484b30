// `reval generate` and `reval eval --backend native` with a Hugging Face Hub id as --model, against the mock hub
// (tests/model/hub/mock_hub.hpp) given by --hub-url, with $REVAL_CACHE pointing at a temporary folder.
//
// Theory of operation: the reval binary runs as a child process (fork/exec, output to a file) while the mock hub
// answers from this process. generate must print the same greedy tinystories continuation as from the local
// folder and leave the checkpoint in the cache; a second run makes no hub request. eval must store the run under
// the id the user typed (run.model = "tiny/stories", revision from --revision), not the cache path, with the checkpoint's content hash.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "model/backends/native_backend.hpp"
#include "tests/model/hub/mock_hub.hpp"
#include "tests/test_util.hpp"

using namespace reval;
using reval::test::MockHub;
using reval::test::models_dir;
using reval::test::slurp;
namespace fs = std::filesystem;

namespace {

struct Result {
  int status = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

Result run_reval(const std::vector<std::string>& args, const std::string& cache, const test::TempDir& dir) {
  std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    setenv("REVAL_CACHE", cache.c_str(), 1);
    unsetenv("HF_TOKEN");
    std::vector<char*> argv;
    std::string bin = test::reval_binary();
    argv.push_back(bin.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), slurp(out), slurp(err)};
}

std::string sql_text(const std::string& db, const std::string& query) {
  sqlite3* h = nullptr;
  std::string v;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, query.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      if (const auto* t = sqlite3_column_text(st, 0)) v = reinterpret_cast<const char*>(t);
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return v;
}

class HubCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(test::reval_binary())) GTEST_SKIP() << "reval binary not built: " << test::reval_binary();
    hub_.serve("tiny/stories", models_dir() + "/tinystories-656k");
  }
  MockHub hub_;
};

}  // namespace

TEST_F(HubCli, GenerateFromHubId) {
  test::TempDir dir, cache;
  std::vector<std::string> args = {"generate", "--model", "tiny/stories", "--hub-url", hub_.url(), "--prompt",
                                   "Once upon a time", "--max-new-tokens", "12", "--threads", "2"};
  auto r = run_reval(args, cache.path(), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind(", a little girl named Lily lived in a small house", 0), 0u) << r.out;
  EXPECT_TRUE(fs::exists(cache.file("models/tiny--stories/main/model.safetensors")));
  size_t requests = hub_.requests().size();
  EXPECT_GT(requests, 0u);
  auto again = run_reval(args, cache.path(), dir);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out, r.out);
  EXPECT_EQ(hub_.requests().size(), requests);  // served from the cache
}

TEST_F(HubCli, GenerateWithUnknownHubIdFails) {
  test::TempDir dir, cache;
  auto r = run_reval({"generate", "--model", "nobody/nothing", "--hub-url", hub_.url(), "--prompt", "x"},
                     cache.path(), dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("nobody/nothing"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("HTTP 404"), std::string::npos) << r.err;
}

TEST_F(HubCli, NativeEvalKeepsTheTypedModelName) {
  test::TempDir dir, cache;
  std::string db = dir.file("runs.db");
  auto r = run_reval({"eval", "--backend", "native", "--model", "tiny/stories", "--revision", "v1", "--hub-url",
                      hub_.url(), "--tasks", "math500", "--limit", "1", "--samples", "1", "--max-new-tokens", "4",
                      "--threads", "2", "--db", db, "--data-dir", test::shared_path("data"), "--no-progress"},
                     cache.path(), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(cache.file("models/tiny--stories/v1/config.json")));
  for (const auto& req : hub_.requests()) EXPECT_NE(req.path.find("/resolve/v1/"), std::string::npos) << req.path;
  EXPECT_EQ(sql_text(db, "SELECT model FROM runs"), "tiny/stories");
  auto local = make_native_backend(models_dir() + "/tinystories-656k");
  EXPECT_EQ(sql_text(db, "SELECT model_hash FROM runs"), local->info().model_hash);
  EXPECT_EQ(sql_text(db, "SELECT COUNT(*) FROM samples"), "1");
}
