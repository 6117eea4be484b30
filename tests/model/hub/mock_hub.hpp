// A mock Hugging Face Hub for tests: a cpp-httplib server on 127.0.0.1 (ephemeral port) serving
// /{org}/{name}/resolve/{rev}/{path} from local folders, with every request recorded.
//
// Theory of operation: serve(repo, dir) maps "org/name" to a folder (any revision); a file that is not there, or
// was hide()-den, answers 404. cut_once(repo, file, n) makes the next transfer of that file announce its full
// Content-Length, send n bytes and drop the connection, as a network failure would; a later Range request is
// answered with 206 by cpp-httplib. requests() lists (path, Range header, status) in arrival order.
#pragma once
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "tests/mock_http.hpp"
#include "tests/test_util.hpp"

namespace reval::test {

namespace fs = std::filesystem;

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::string models_dir() { return test::shared_path("models"); }

struct Request {
  std::string path, range;
  int status = 0;
};

class MockHub {
 public:
  MockHub() {
    http_.server.Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))", [this](const httplib::Request& req,
                                                                    httplib::Response& res) {
      std::string repo = req.matches[1].str() + "/" + req.matches[2].str();
      std::string file = req.matches[4].str();
      std::string local;
      size_t cut = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = repos_.find(repo);
        if (it != repos_.end() && file.find("..") == std::string::npos && !hidden_.count(repo + "|" + file) &&
            fs::is_regular_file(it->second + "/" + file))
          local = it->second + "/" + file;
        auto c = cut_.find(repo + "|" + file);
        if (!local.empty() && c != cut_.end()) {
          cut = c->second;
          cut_.erase(c);
        }
        requests_.push_back({req.path, req.get_header_value("Range"), local.empty() ? 404 : 200});
      }
      if (local.empty()) {
        res.status = 404;
        res.set_content("Entry not found", "text/plain");
        return;
      }
      send_file(res, std::make_shared<std::string>(slurp(local)), cut);
    });
    http_.start();
  }
  std::string url() const { return http_.url(); }
  void serve(const std::string& repo, const std::string& local_dir) {
    std::lock_guard<std::mutex> lock(mu_);
    repos_[repo] = local_dir;
  }
  void hide(const std::string& repo, const std::string& file) {
    std::lock_guard<std::mutex> lock(mu_);
    hidden_.insert(repo + "|" + file);
  }
  // The next request for the file sends only `bytes` bytes.
  void cut_once(const std::string& repo, const std::string& file, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    cut_[repo + "|" + file] = bytes;
  }
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> repos_;
  std::set<std::string> hidden_;
  std::map<std::string, size_t> cut_;
  std::vector<Request> requests_;
  LocalHttpServer http_;  // last: stopped before the state its handlers use is destroyed
};

}  // namespace reval::test
