// Theory of operation: see hub.hpp. resolve_model_dir() drives base/http.hpp's downloader over the file list of a
// checkpoint and records completion with a marker file written last (via rename, so a marker on disk always
// describes a finished folder).
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

#include "base/error.hpp"
#include "base/http.hpp"
#include "base/sha256.hpp"

namespace reval {
namespace {

namespace fs = std::filesystem;

HubLog stderr_log() {
  return [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
}

constexpr const char* kMarker = ".reval-complete";

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
