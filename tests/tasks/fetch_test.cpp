// `reval data fetch` against a mock Hugging Face Hub: a cpp-httplib server on 127.0.0.1 that serves the files of
// ../shared/data at {hub}/datasets/{repo}/resolve/{rev}/{path}. Covers whole-task fetches that the loaders then
// read, a transfer cut off mid-file that resumes with a Range request, resuming a leftover .part file, checksum
// mismatches (file discarded), HTTP errors, and tasks that have no hub source.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <httplib.h>

#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "base/sha256.hpp"
#include "tasks/fetch.hpp"
#include "tasks/formats.hpp"
#include "tasks/task.hpp"
#include "tests/mock_http.hpp"
#include "tests/test_util.hpp"

using namespace reval;
namespace fs = std::filesystem;

namespace {

class MockHub {
 public:
  MockHub() {
    http_.server.Get(R"(/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+))", [this](const httplib::Request& req,
                                                                          httplib::Response& res) {
      std::string key = req.matches[1].str() + "|" + req.matches[3].str();
      if (req.matches[2].str() == "moved") {  // like the hub's redirects to its CDN
        {
          std::lock_guard<std::mutex> lock(mu_);
          requests_.push_back({req.path, req.get_header_value("Range")});
        }
        res.set_redirect("/datasets/" + req.matches[1].str() + "/resolve/main/" + req.matches[3].str(), 302);
        return;
      }
      std::string file;
      bool cut = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back({req.path, req.get_header_value("Range")});
        auto it = files_.find(key);
        if (it == files_.end()) {
          res.status = 404;
          res.set_content("Entry not found", "text/plain");
          return;
        }
        file = it->second;
        cut = interrupt_.erase(key) > 0;
      }
      auto data = std::make_shared<std::string>(read_file(file));
      test::send_file(res, data, cut ? data->size() / 2 : 0);  // an interrupted transfer sends half the file
    });
    http_.start();
  }
  std::string url() const { return http_.url(); }
  void serve(const FetchFile& f, const std::string& local) {
    std::lock_guard<std::mutex> lock(mu_);
    files_[f.repo + "|" + f.path] = local;
  }
  void interrupt_once(const FetchFile& f) {
    std::lock_guard<std::mutex> lock(mu_);
    interrupt_.insert(f.repo + "|" + f.path);
  }
  std::vector<std::pair<std::string, std::string>> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> files_;
  std::set<std::string> interrupt_;
  std::vector<std::pair<std::string, std::string>> requests_;
  test::LocalHttpServer http_;  // last: stopped before the state its handlers use is destroyed
};

std::string shared_file(const std::string& dest) { return test::shared_path("data/" + dest); }

FetchOptions options(const MockHub& hub, const std::string& dir, std::vector<std::string>* log = nullptr) {
  FetchOptions o;
  o.data_dir = dir;
  o.hub_url = hub.url();
  o.log = [log](const std::string& line) {
    if (log) log->push_back(line);
  };
  return o;
}

}  // namespace

TEST(Fetch, WholeTasksThenLoad) {
  MockHub hub;
  for (const char* task : {"math500", "aime25"})
    for (const auto& f : fetch_plan(task)) hub.serve(f, shared_file(f.dest));
  test::TempDir dir;
  std::vector<std::string> log;
  auto res = fetch_task_data("math500", options(hub, dir.path(), &log));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_FALSE(res[0].skipped);
  EXPECT_EQ(res[0].resumes, 0);
  EXPECT_EQ(res[0].sha256, reval::sha256_hex(read_file(shared_file("math500/test.jsonl"))));
  EXPECT_FALSE(fs::exists(res[0].dest_path + ".part"));
  EXPECT_FALSE(log.empty());  // progress lines
  fetch_task_data("aime25", options(hub, dir.path()));
  LoadOptions lo;
  lo.data_dir = dir.path();
  EXPECT_EQ(load_task("math500", lo).size(), 500u);
  EXPECT_EQ(load_task("aime25", lo).size(), 30u);
  // Present already: nothing is downloaded again.
  size_t before = hub.requests().size();
  auto again = fetch_task_data("aime25", options(hub, dir.path()));
  EXPECT_TRUE(again[0].skipped);
  EXPECT_EQ(hub.requests().size(), before);
  EXPECT_EQ(hub.requests()[0].first, "/datasets/HuggingFaceH4/MATH-500/resolve/main/test.jsonl");
}

TEST(Fetch, InterruptedTransferResumesWithRange) {
  MockHub hub;
  FetchFile f = fetch_plan("math500")[0];
  f.sha256 = reval::sha256_hex(read_file(shared_file(f.dest)));
  hub.serve(f, shared_file(f.dest));
  hub.interrupt_once(f);
  test::TempDir dir;
  std::vector<std::string> log;
  auto r = fetch_file(f, options(hub, dir.path(), &log));
  EXPECT_EQ(r.resumes, 1);
  EXPECT_EQ(r.sha256, f.sha256);
  EXPECT_EQ(r.bytes, 446564u);
  auto reqs = hub.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].second, "");
  EXPECT_EQ(reqs[1].second, "bytes=" + std::to_string(446564 / 2) + "-");
  bool noted = false;
  for (const auto& l : log) noted |= l.find("interrupted") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(Fetch, ResumesLeftoverPartFile) {
  MockHub hub;
  FetchFile f = fetch_plan("aime25")[0];
  std::string content = read_file(shared_file(f.dest));
  hub.serve(f, shared_file(f.dest));
  test::TempDir dir;
  fs::create_directories(dir.file("aime2025"));
  std::ofstream(dir.file("aime2025/test.jsonl.part"), std::ios::binary) << content.substr(0, 1000);
  auto r = fetch_file(f, options(hub, dir.path()));
  EXPECT_EQ(r.resumes, 1);
  EXPECT_EQ(read_file(dir.file("aime2025/test.jsonl")), content);
  EXPECT_EQ(hub.requests().at(0).second, "bytes=1000-");
}

TEST(Fetch, GivesUpAfterMaxAttemptsKeepingPart) {
  MockHub hub;
  FetchFile f = fetch_plan("aime25")[0];
  hub.serve(f, shared_file(f.dest));
  hub.interrupt_once(f);
  test::TempDir dir;
  FetchOptions o = options(hub, dir.path());
  o.max_attempts = 1;
  EXPECT_THROW(fetch_file(f, o), Error);
  EXPECT_TRUE(fs::exists(dir.file("aime2025/test.jsonl.part")));
  EXPECT_FALSE(fs::exists(dir.file("aime2025/test.jsonl")));
  auto r = fetch_file(f, options(hub, dir.path()));  // a later run resumes
  EXPECT_EQ(r.resumes, 1);
  EXPECT_EQ(read_file(r.dest_path), read_file(shared_file(f.dest)));
}

TEST(Fetch, ChecksumMismatchIsDiscarded) {
  MockHub hub;
  FetchFile f = fetch_plan("aime25")[0];
  f.sha256 = std::string(64, '0');
  hub.serve(f, shared_file(f.dest));
  test::TempDir dir;
  try {
    fetch_file(f, options(hub, dir.path()));
    FAIL() << "expected a checksum error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sha256 mismatch"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir.file("aime2025/test.jsonl")));
  EXPECT_FALSE(fs::exists(dir.file("aime2025/test.jsonl.part")));
  FetchOptions o = options(hub, dir.path());
  o.verify = false;
  EXPECT_NO_THROW(fetch_file(f, o));
}

TEST(Fetch, HttpErrorsAndUnsupportedTasks) {
  MockHub hub;
  test::TempDir dir;
  FetchFile missing{"nobody/nothing", "main", "x.jsonl", "x/x.jsonl", ""};
  try {
    fetch_file(missing, options(hub, dir.path()));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("HTTP 404"), std::string::npos) << e.what();
  }
  EXPECT_EQ(hub.requests().size(), 1u);  // not retried
  EXPECT_THROW(fetch_plan("gsm8k"), Error);
  EXPECT_THROW(fetch_plan("nosuchtask"), Error);
  EXPECT_EQ(fetch_plan("livecodebench").size(), 6u);
  EXPECT_EQ(hub_file_url("https://hub.example/mirror/", FetchFile{"a/b", "v1", "d/f.jsonl", "", ""}),
            "https://hub.example/mirror/datasets/a/b/resolve/v1/d/f.jsonl");
}

TEST(Fetch, FollowsRedirectsAndResumesThroughThem) {
  MockHub hub;
  FetchFile f = fetch_plan("aime25")[0];
  std::string content = read_file(shared_file(f.dest));
  hub.serve(f, shared_file(f.dest));
  test::TempDir dir;
  fs::create_directories(dir.file("aime2025"));
  std::ofstream(dir.file("aime2025/test.jsonl.part"), std::ios::binary) << content.substr(0, 500);
  FetchOptions o = options(hub, dir.path());
  o.revision = "moved";
  auto r = fetch_file(f, o);
  EXPECT_EQ(r.resumes, 1);
  EXPECT_EQ(read_file(r.dest_path), content);
  auto reqs = hub.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].first, "/datasets/math-ai/aime25/resolve/moved/test.jsonl");
  EXPECT_EQ(reqs[1].first, "/datasets/math-ai/aime25/resolve/main/test.jsonl");
  EXPECT_EQ(reqs[1].second, "bytes=500-");  // the Range header survives the redirect
}
