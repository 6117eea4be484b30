// Theory of operation: see hub.hpp. The downloader is the one `reval data fetch` always used (moved here from
// tasks/fetch.cpp so that model-side downloads do not depend on tasks/); resolve_model_dir() drives it over the
// file list of a checkpoint and records completion with a marker file written last (via rename, so a marker on
// disk always describes a finished folder).
#include "model/hub.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "base/sha256.hpp"
#include "base/error.hpp"

namespace reval {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMarker = ".reval-complete";

struct SplitUrl {
  std::string origin;  // scheme://host[:port]
  std::string path;    // from the first '/' after the host ("/" when none)
};

SplitUrl split_url(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos)
    throw Error(fmt::format("URL '{}' has no scheme (http:// or https://)", url));
  auto path_start = url.find('/', scheme_end + 3);
  SplitUrl s;
  s.origin = std::string(url.substr(0, path_start));
  s.path = path_start != std::string_view::npos ? std::string(url.substr(path_start)) : std::string(1, '/');
  return s;
}

std::string human_bytes(std::uint64_t n) {
  if (n >= (1u << 20)) return fmt::format("{:.1f} MB", static_cast<double>(n) / (1 << 20));
  if (n >= 1024) return fmt::format("{:.1f} kB", static_cast<double>(n) / 1024);
  return fmt::format("{} B", n);
}

HubLog stderr_log() {
  return [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
}

std::string env_or(const char* name, const std::string& fallback) {
  if (const char* v = std::getenv(name); v && *v) return v;
  return fallback;
}

bool id_part_ok(std::string_view s) {
  if (s.empty() || s.size() > 96 || s.front() == '.' || s.front() == '-') return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return s.find("..") == std::string_view::npos;
}

bool revision_ok(std::string_view s) {
  if (s.empty() || s.size() > 200 || s.front() == '/' || s.back() == '/' || s.front() == '.') return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/')) return false;
  return s.find("..") == std::string_view::npos && s.find("//") == std::string_view::npos;
}

// A file name from the shard index must stay inside the model folder.
bool relative_inside(const std::string& name) {
  if (name.empty() || name.find('\\') != std::string::npos) return false;
  fs::path p(name);
  if (p.is_absolute() || p.has_root_name()) return false;
  for (const auto& part : p)
    if (part == ".." || part == "." || part.empty()) return false;
  return true;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Holds an exclusive flock on DIR/.lock for its lifetime (released by close, also when the process dies).
class DirLock {
 public:
  explicit DirLock(const std::string& dir) {
    std::string path = dir + "/.lock";
    fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error("cannot open lock file " + path);
    if (::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      throw Error("cannot lock " + path);
    }
  }
  ~DirLock() { ::close(fd_); }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

// The marker's file list when DIR holds a finished download whose files all still exist.
bool complete_download(const std::string& dir) {
  std::string marker = dir + "/" + kMarker;
  std::error_code ec;
  if (!fs::is_regular_file(marker, ec)) return false;
  try {
    auto j = nlohmann::json::parse(read_text(marker));
    for (const auto& f : j.at("files")) {
      std::string name = f.get<std::string>();
      if (!relative_inside(name) || !fs::is_regular_file(fs::path(dir) / name, ec)) return false;
    }
    return true;
  } catch (const std::exception&) {
    return false;  // unreadable marker: treat as unfinished, the download resumes and rewrites it
  }
}

}  // namespace

std::string default_hub_url(const std::string& hub_url) {
  if (!hub_url.empty()) return hub_url;
  return env_or("HF_ENDPOINT", "https://huggingface.co");
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  Sha256 h;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
  }
  return h.hex();
}

DownloadResult download_file(const std::string& url, const std::string& dest, const DownloadOptions& o) {
  HubLog log = o.log ? o.log : stderr_log();
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
  SplitUrl target = split_url(url);
  std::string token = o.anonymous ? std::string() : o.token.empty() ? env_or("HF_TOKEN", "") : o.token;

  int attempts = std::max(1, o.max_attempts);
  for (int attempt = 1;; ++attempt) {
    std::uint64_t offset = fs::is_regular_file(part, ec) ? fs::file_size(part, ec) : 0;
    if (ec) offset = 0;
    httplib::Client cli(target.origin);
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
    auto res = cli.Get(target.path, headers, on_response, on_data);
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

bool parse_hub_model_id(std::string_view s, HubModelId* out) {
  HubModelId id;
  std::string_view rest = s;
  if (auto at = s.find('@'); at != std::string_view::npos) {
    id.revision = std::string(s.substr(at + 1));
    if (!revision_ok(id.revision)) return false;
    rest = s.substr(0, at);
  }
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return false;
  id.org = std::string(rest.substr(0, slash));
  id.name = std::string(rest.substr(slash + 1));
  if (!id_part_ok(id.org) || !id_part_ok(id.name)) return false;  // also rejects a second '/'
  if (out) *out = std::move(id);
  return true;
}

std::string model_cache_root(const std::string& cache_dir) {
  if (!cache_dir.empty()) return cache_dir;
  if (const char* v = std::getenv("REVAL_CACHE"); v && *v) return v;
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) return (fs::path(v) / "reval").string();
  if (const char* v = std::getenv("HOME"); v && *v) return (fs::path(v) / ".cache" / "reval").string();
  throw Error("no model cache folder: set REVAL_CACHE (or XDG_CACHE_HOME or HOME)");
}

std::string hub_model_file_url(std::string_view hub_url, const HubModelId& id, std::string_view path) {
  std::string base(hub_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string rev;
  for (char c : id.revision) rev += c == '/' ? std::string("%2F") : std::string(1, c);  // e.g. refs/pr/1
  return fmt::format("{}/{}/{}/resolve/{}/{}", base, id.org, id.name, rev, path);
}

std::string resolve_model_dir(const std::string& model, const HubOptions& options) {
  std::error_code ec;
  if (fs::is_directory(model, ec)) return model;
  if (fs::exists(model, ec))
    throw Error(fmt::format("model '{}': not a directory (expected a checkpoint folder with config.json or a "
                            "Hugging Face Hub id such as org/name)",
                            model));
  HubModelId id;
  if (!parse_hub_model_id(model, &id)) {
    throw Error(fmt::format("model '{}': no such directory, and not a Hugging Face Hub id (org/name[@revision])",
                            model));
  }
  if (id.revision.empty()) id.revision = options.revision.empty() ? "main" : options.revision;
  HubLog log = options.log ? options.log : stderr_log();
  std::string rev_dir = id.revision;
  for (size_t p; (p = rev_dir.find('/')) != std::string::npos;) rev_dir.replace(p, 1, "--");
  fs::path dir = fs::path(model_cache_root(options.cache_dir)) / "models" / (id.org + "--" + id.name) / rev_dir;
  std::string dir_s = dir.string();
  if (complete_download(dir_s)) return dir_s;  // no network at all

  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("cannot create model cache folder {}: {}", dir_s, ec.message()));
  DirLock lock(dir_s);
  if (complete_download(dir_s)) return dir_s;  // another process finished it while we waited

  std::string hub = default_hub_url(options.hub_url);
  std::string who = id.org + "/" + id.name + "@" + id.revision;
  log(fmt::format("model {}: downloading from {} into {}", who, hub, dir_s));
  std::vector<std::string> files;
  // Returns false for a missing optional file. Files already present are complete (renamed after verification).
  auto get = [&](const std::string& name, bool required) {
    fs::path dest = dir / name;
    if (fs::is_regular_file(dest, ec)) {
      files.push_back(name);
      return true;
    }
    DownloadOptions d;
    d.label = id.org + "/" + id.name + "/" + name;
    d.token = options.token;
    d.missing_ok = !required;
    d.max_attempts = options.max_attempts;
    d.log = log;
    DownloadResult r;
    try {
      r = download_file(hub_model_file_url(hub, id, name), dest.string(), d);
    } catch (const Error& e) {
      if (name == "config.json")
        throw Error(fmt::format("model '{}': not a local directory, and fetching it as a Hugging Face Hub id failed: "
                                "{}",
                                model, e.what()));
      throw Error(fmt::format("model '{}': {}", model, e.what()));
    }
    if (r.missing) return false;
    files.push_back(name);
    return true;
  };

  get("config.json", true);
  for (const char* optional :
       {"generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"})
    get(optional, false);
  const std::string index_name = "model.safetensors.index.json";
  if (get(index_name, false)) {
    std::string index_path = (dir / index_name).string();
    std::set<std::string> shards;
    try {
      auto j = nlohmann::json::parse(read_text(index_path));
      const auto& map = j.at("weight_map");
      if (!map.is_object() || map.empty()) throw Error("empty or not an object");
      for (const auto& [tensor, file] : map.items()) {
        std::string name = file.get<std::string>();
        if (!relative_inside(name))
          throw Error(fmt::format("tensor '{}': shard file '{}' is not a plain relative path", tensor, name));
        shards.insert(name);
      }
    } catch (const std::exception& e) {
      fs::remove(index_path, ec);  // let a later run fetch it again
      throw Error(fmt::format("{}: field 'weight_map': {}", index_path, e.what()));
    }
    for (const auto& shard : shards) get(shard, true);
  } else {
    get("model.safetensors", true);
  }

  nlohmann::json marker = {{"model", id.org + "/" + id.name}, {"revision", id.revision}, {"hub", hub},
                           {"files", files}};
  std::string tmp = (dir / (std::string(kMarker) + ".tmp")).string();
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << marker.dump(2) << "\n";
    if (!out) throw Error("cannot write " + tmp);
  }
  fs::rename(tmp, dir / kMarker, ec);
  if (ec) throw Error(fmt::format("cannot write {}: {}", (dir / kMarker).string(), ec.message()));
  log(fmt::format("model {}: complete ({} files)", who, files.size()));
  return dir_s;
}

}  // namespace reval
