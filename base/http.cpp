// See http.hpp. The downloader was first written for `reval data fetch`, then shared with the model cache; it lives
// here so that neither tasks/ nor model/ depends on the other for it.
#include "base/http.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <httplib.h>

#include "base/error.hpp"
#include "base/sha256.hpp"
#include "base/url.hpp"

namespace reval {
namespace {

namespace fs = std::filesystem;

DownloadLog stderr_log() {
  return [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
}

}  // namespace

std::string default_hub_url(const std::string& hub_url) {
  if (!hub_url.empty()) return hub_url;
  return env_or("HF_ENDPOINT", "https://huggingface.co");
}

std::string env_or(const char* name, const std::string& fallback) {
  if (const char* v = std::getenv(name); v && *v) return v;
  return fallback;
}

DownloadResult download_file(const std::string& url, const std::string& dest, const DownloadOptions& o) {
  DownloadLog log = o.log ? o.log : stderr_log();
  std::string label = o.label.empty() ? dest : o.label;
  if (dest.empty()) throw Error(fmt::format("download {}: no destination given", url));
  DownloadResult result;
  std::string part = dest + ".part";
  std::error_code ec;
  fs::path parent = fs::path(dest).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) throw Error(fmt::format("cannot create {}: {}", parent.string(), ec.message()));
  }
  Url parsed = parse_url(url);
  const std::string origin = parsed.origin();
  std::string path = url.substr(url.find("://") + 3);
  path = path.find('/') == std::string::npos ? std::string("/") : path.substr(path.find('/'));
  std::string token = o.token.empty() && !o.token_env.empty() ? env_or(o.token_env.c_str(), "") : o.token;

  int attempts = std::max(1, o.max_attempts);
  for (int attempt = 1;; ++attempt) {
    std::uint64_t offset = fs::is_regular_file(part, ec) ? fs::file_size(part, ec) : 0;
    if (ec) offset = 0;
    httplib::Client cli(origin);
    cli.set_follow_location(true);
    cli.set_connection_timeout(30, 0);
    cli.set_read_timeout(120, 0);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    if (offset > 0) headers.emplace("Range", fmt::format("bytes={}-", offset));

    std::ofstream out;
    std::uint64_t received = offset, total = 0, next_report = 0;
    int status = 0;
    std::string fatal;
    auto on_response = [&](const httplib::Response& res) {
      status = res.status;
      if (res.status == 206 && offset > 0) {
        ++result.resumes;
        out.open(part, std::ios::binary | std::ios::app);
        log(fmt::format("{}: resuming at {}", label, human_bytes(offset)));
      } else if (res.status == 200) {
        received = 0;
        out.open(part, std::ios::binary | std::ios::trunc);
      } else {
        return false;
      }
      if (!out) {
        fatal = "cannot write " + part;
        return false;
      }
      if (res.has_header("Content-Length")) {
        try {
          total = received + std::stoull(res.get_header_value("Content-Length"));
        } catch (const std::exception&) {
          total = 0;  // unparsable length: accept whatever arrives
        }
      }
      return true;
    };
    auto on_data = [&](const char* data, size_t n) {
      out.write(data, static_cast<std::streamsize>(n));
      if (!out) {
        fatal = "cannot write " + part;
        return false;
      }
      received += n;
      if (received >= next_report) {
        log(total ? fmt::format("{}: {} / {}", label, human_bytes(received), human_bytes(total))
                  : fmt::format("{}: {}", label, human_bytes(received)));
        next_report = received + std::max<std::uint64_t>(total / 10, 1 << 20);
      }
      return true;
    };
    auto res = cli.Get(path, headers, on_response, on_data);
    out.close();
    if (!fatal.empty()) throw Error(fatal);
    if (status == 404 && o.missing_ok) {
      result.missing = true;
      return result;
    }
    if (status == 416) {  // our .part is longer than the file: start over
      fs::remove(part, ec);
    } else if (status != 0 && status != 200 && status != 206) {
      std::string hint = (status == 401 || status == 403) ? " (gated or private: set HF_TOKEN)" : "";
      throw Error(fmt::format("fetch {}: HTTP {}{}", url, status, hint));
    } else if (res && (total == 0 || received == total)) {
      break;  // complete
    }
    std::string why = res ? fmt::format("short body ({} of {})", human_bytes(received), human_bytes(total))
                          : httplib::to_string(res.error());
    if (attempt >= attempts)
      throw Error(fmt::format("fetch {}: giving up after {} attempts: {} (partial data kept in {}; run again to resume)",
                              url, attempts, why, part));
    log(fmt::format("{}: transfer interrupted ({}); retrying ({}/{})", label, why, attempt + 1, attempts));
  }

  result.bytes = fs::file_size(part, ec);
  if (!o.sha256.empty() || o.compute_sha256) result.sha256 = sha256_file(part);
  if (!o.sha256.empty() && result.sha256 != o.sha256) {
    fs::remove(part, ec);
    throw Error(fmt::format("fetch {}: sha256 mismatch: expected {}, got {} (download discarded)", url, o.sha256,
                            result.sha256));
  }
  fs::rename(part, dest, ec);
  if (ec) throw Error(fmt::format("cannot move {} to {}: {}", part, dest, ec.message()));
  log(fmt::format("{}: done, {}{}", label, human_bytes(result.bytes), o.sha256.empty() ? "" : " (sha256 verified)"));
  return result;
}

}  // namespace reval
