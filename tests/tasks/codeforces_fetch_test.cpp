// `reval data fetch codeforces --contest ID,...` against a mock Codeforces API on 127.0.0.1 (cpp-httplib, the
// shared LocalHttpServer) that answers contest.standings / contest.ratingChanges with synthetic contests in the
// API's JSON shape. Covers: files cached where the rating reads them (and then rated), nothing fetched twice, a
// deleted file fetched alone, a transfer cut mid-file, the API's FAILED replies (HTTP 400 and 200), no token sent,
// and the command line.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include <httplib.h>

#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "results/codeforces_standings.hpp"
#include "tasks/fetch.hpp"
#include "tests/mock_http.hpp"
#include "tests/results/codeforces_fixtures.hpp"
#include "tests/test_util.hpp"

using namespace reval;
namespace fs = std::filesystem;

namespace {

struct ApiRequest {
  std::string method, contest, show_unofficial, authorization, range;
};

class MockCodeforcesApi {
 public:
  MockCodeforcesApi() {
    auto handler = [this](const std::string& method) {
      return [this, method](const httplib::Request& req, httplib::Response& res) {
        std::string id = req.get_param_value("contestId");
        std::shared_ptr<std::string> body;
        size_t cut = 0;
        bool failed_ok = false;
        {
          std::lock_guard<std::mutex> lock(mu_);
          requests_.push_back({method, id, req.get_param_value("showUnofficial"), req.get_header_value("Authorization"),
                               req.get_header_value("Range")});
          auto it = contests_.find(id);
          if (it != contests_.end()) {
            body = std::make_shared<std::string>(
                (method == "standings" ? test::standings_json(it->second) : test::rating_changes_json(it->second))
                    .dump());
            if (cut_.erase(method + id)) cut = body->size() / 3;
          }
          failed_ok = failed_with_200_.count(id) > 0;
        }
        if (failed_ok) {  // a reply that arrives whole but is not OK
          res.set_content(R"({"status":"FAILED","comment":"contestId: Contest is not finished yet"})",
                          "application/json");
          return;
        }
        if (!body) {  // what codeforces.com answers for an unknown contest
          res.status = 400;
          res.set_content(R"({"status":"FAILED","comment":"contestId: Contest with id )" + id + R"( not found"})",
                          "application/json");
          return;
        }
        test::send_file(res, body, cut);
      };
    };
    http_.server.Get("/api/contest.standings", handler("standings"));
    http_.server.Get("/api/contest.ratingChanges", handler("ratingChanges"));
    http_.start();
  }
  std::string url() const { return http_.url() + "/api"; }
  void add(const test::CfContest& c) {
    std::lock_guard<std::mutex> lock(mu_);
    contests_[std::to_string(c.id)] = c;
  }
  void cut_once(const std::string& method, std::int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    cut_.insert(method + std::to_string(id));
  }
  void fail_with_200(std::int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    failed_with_200_.insert(std::to_string(id));
  }
  std::vector<ApiRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, test::CfContest> contests_;
  std::set<std::string> cut_, failed_with_200_;
  std::vector<ApiRequest> requests_;
  test::LocalHttpServer http_;  // last: stopped before the state its handlers use is destroyed
};

FetchOptions options(const std::string& dir) {
  FetchOptions o;
  o.data_dir = dir;
  o.log = [](const std::string&) {};
  return o;
}

CodeforcesFetchOptions api(const MockCodeforcesApi& m) {
  CodeforcesFetchOptions cf;
  cf.api_url = m.url();
  cf.request_interval_s = 0;
  return cf;
}

}  // namespace

TEST(CodeforcesFetch, CachesRepliesWhereTheRatingReadsThem) {
  MockCodeforcesApi m;
  m.add(test::big_contest(9101, "CF", 210, 3));
  m.add(test::big_contest(9102, "ICPC", 230, 2));
  test::TempDir dir;
  setenv("HF_TOKEN", "hf_secret_must_not_leave", 1);
  auto res = fetch_codeforces_contests({9101, 9102}, options(dir.path()), api(m));
  unsetenv("HF_TOKEN");
  ASSERT_EQ(res.size(), 4u);
  EXPECT_EQ(res[0].dest_path, dir.path() + "/codeforces/contests/9101/standings.json");
  EXPECT_EQ(res[1].dest_path, dir.path() + "/codeforces/contests/9101/rating_changes.json");
  for (const auto& r : res) {
    EXPECT_FALSE(r.skipped);
    EXPECT_GT(r.bytes, 0u);
    EXPECT_FALSE(fs::exists(r.dest_path + ".part"));
  }
  // Byte for byte what the API sent.
  EXPECT_EQ(read_file(res[0].dest_path), test::standings_json(test::big_contest(9101, "CF", 210, 3)).dump());
  auto reqs = m.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].method, "standings");
  EXPECT_EQ(reqs[0].contest, "9101");
  EXPECT_EQ(reqs[0].show_unofficial, "false");
  EXPECT_EQ(reqs[1].method, "ratingChanges");
  for (const auto& r : reqs) EXPECT_EQ(r.authorization, "") << "no token goes to codeforces";
  // The rating side reads them.
  EXPECT_TRUE(codeforces_contest_cached(dir.path(), 9101));
  ContestStandings c = load_codeforces_contest(dir.path(), 9102);
  EXPECT_EQ(c.scoring, ContestScoring::icpc);
  EXPECT_EQ(c.field.size(), 230u);
}

TEST(CodeforcesFetch, ResumableNothingFetchedTwice) {
  MockCodeforcesApi m;
  m.add(test::big_contest(9103, "CF", 205, 2));
  m.add(test::big_contest(9104, "CF", 205, 2));
  test::TempDir dir;
  fetch_codeforces_contests({9103}, options(dir.path()), api(m));
  size_t before = m.requests().size();
  // A later run with more contests fetches only the new one.
  auto res = fetch_codeforces_contests({9103, 9104}, options(dir.path()), api(m));
  EXPECT_TRUE(res[0].skipped);
  EXPECT_TRUE(res[1].skipped);
  EXPECT_FALSE(res[2].skipped);
  EXPECT_EQ(m.requests().size(), before + 2);
  // A lost file is fetched alone.
  fs::remove(dir.path() + "/codeforces/contests/9103/rating_changes.json");
  before = m.requests().size();
  res = fetch_codeforces_contests({9103, 9104}, options(dir.path()), api(m));
  ASSERT_EQ(m.requests().size(), before + 1);
  EXPECT_EQ(m.requests().back().method, "ratingChanges");
  EXPECT_EQ(m.requests().back().contest, "9103");
  // --force fetches everything again.
  FetchOptions force = options(dir.path());
  force.force = true;
  before = m.requests().size();
  fetch_codeforces_contests({9103}, force, api(m));
  EXPECT_EQ(m.requests().size(), before + 2);
}

TEST(CodeforcesFetch, CutTransferIsRetried) {
  MockCodeforcesApi m;
  auto c = test::big_contest(9105, "CF", 220, 3);
  m.add(c);
  m.cut_once("standings", 9105);
  test::TempDir dir;
  auto res = fetch_codeforces_contests({9105}, options(dir.path()), api(m));
  EXPECT_EQ(read_file(res[0].dest_path), test::standings_json(c).dump());
  auto reqs = m.requests();
  ASSERT_EQ(reqs.size(), 3u);  // standings cut, standings again (with Range), rating changes
  EXPECT_EQ(reqs[1].method, "standings");
  EXPECT_FALSE(reqs[1].range.empty());
  EXPECT_NO_THROW(load_codeforces_contest(dir.path(), 9105));
}

TEST(CodeforcesFetch, FailedRepliesAreReportedAndNotKept) {
  MockCodeforcesApi m;
  m.add(test::big_contest(9106, "CF", 210, 2));
  m.add(test::big_contest(9107, "CF", 210, 2));
  m.fail_with_200(9107);
  test::TempDir dir;
  try {
    fetch_codeforces_contests({9106, 9999}, options(dir.path()), api(m));
    FAIL() << "an unknown contest must fail";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("contest 9999"), std::string::npos) << msg;
    EXPECT_NE(msg.find("HTTP 400"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unknown contest"), std::string::npos) << msg;
  }
  EXPECT_TRUE(codeforces_contest_cached(dir.path(), 9106)) << "contests before the failure stay cached";
  EXPECT_FALSE(fs::exists(dir.path() + "/codeforces/contests/9999/standings.json"));
  try {
    fetch_codeforces_contests({9107}, options(dir.path()), api(m));
    FAIL() << "a FAILED reply must not be kept";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("9107/standings.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("field 'status'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not finished"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(dir.path() + "/codeforces/contests/9107/standings.json"));
  EXPECT_THROW(fetch_codeforces_contests({}, options(dir.path()), api(m)), Error);
  EXPECT_THROW(fetch_codeforces_contests({-5}, options(dir.path()), api(m)), Error);
}

TEST(CodeforcesFetch, CommandLine) {
  MockCodeforcesApi m;
  m.add(test::big_contest(9108, "ICPC", 210, 2));
  test::TempDir dir;
  std::string cmd = test::reval_binary() + " data fetch codeforces --contest 9108 --api-url " + m.url() +
                    " --data-dir " + dir.path() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_TRUE(p);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = pclose(p);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0) << out;
  EXPECT_NE(out.find("codeforces\t" + dir.path() + "/codeforces/contests/9108/standings.json"), std::string::npos)
      << out;
  EXPECT_NE(out.find("downloaded"), std::string::npos);
  EXPECT_TRUE(codeforces_contest_cached(dir.path(), 9108));
  // --contest with another task is refused.
  cmd = test::reval_binary() + " data fetch math500 --contest 1 --data-dir " + dir.path() + " 2>&1";
  p = popen(cmd.c_str(), "r");
  ASSERT_TRUE(p);
  out.clear();
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  st = pclose(p);
  EXPECT_EQ(WEXITSTATUS(st), 1);
  EXPECT_NE(out.find("--contest goes with the task codeforces only"), std::string::npos) << out;
}
