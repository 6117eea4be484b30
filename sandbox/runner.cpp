// Languages, the compile cache and the feature probe.
//
// Theory of operation
//  A Language is data: the source file name, an optional compile argv producing `binary_name`, and a run argv. To
//  add a language, add an entry to default_languages(). Compilation runs inside the sandbox (a compiler fed with
//  untrusted source is untrusted too: template-recursion or #include </dev/zero> bombs hit compile_policy() limits)
//  and the binary comes back through Request::collect. Binaries are cached by FNV-1a-64 of (compile argv, source),
//  in memory and as files in the cache dir (written to a temp name and renamed, so concurrent writers are safe).
//  Compile failures are cached in memory only. The in-memory cache holds at most 512 entries (then starts over);
//  the disk cache is never pruned (delete the folder to reclaim space).
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/hash.hpp"
#include "sandbox/cgroup.hpp"
#include "sandbox/sandbox.hpp"

namespace reval::sandbox {

std::vector<Language> default_languages(const LanguageOptions& o) {
  return {
      {"python", "main.py", {}, "", {o.python, "main.py"}, {"python", "python3", "py", "py3"}},
      {"cpp", "main.cpp", {o.cxx, "-std=c++17", "-O2", "-pipe", "-o", "main", "main.cpp"}, "main", {"./main"},
       {"cpp", "c++", "cxx", "cc", "c++11", "c++14", "c++17", "c++20", "cpp11", "cpp14", "cpp17", "cpp20"}},
  };
}

const Language* find_language(const std::vector<Language>& languages, std::string_view name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& l : languages) {
    if (l.name == lower) return &l;
    for (const auto& t : l.fence_tags)
      if (t == lower) return &l;
  }
  return nullptr;
}

std::string default_cache_dir() {
  if (const char* d = std::getenv("REVAL_CACHE_DIR"); d && *d) return std::string(d) + "/compile";
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/reval/compile";
  if (const char* d = std::getenv("HOME"); d && *d) return std::string(d) + "/.cache/reval/compile";
  return "/tmp/reval-compile-cache-" + std::to_string(getuid());
}

namespace {
std::mutex g_cache_mu;
std::unordered_map<std::string, CompileResult> g_cache;  // key -> result (shared by every Runner in the process)
}  // namespace

Runner::Runner(Sandbox& sandbox, std::vector<Language> languages, std::string cache_dir)
    : sandbox_(sandbox), languages_(std::move(languages)), cache_dir_(cache_dir.empty() ? default_cache_dir() : cache_dir) {}

Policy Runner::compile_policy() const {
  Policy p = sandbox_.policy();
  p.time_limit_s = 20;
  p.wall_time_limit_s = 40;
  p.memory_limit_mb = 2048;
  p.file_size_limit_mb = 256;
  p.output_limit_bytes = 1 << 20;
  p.work_dir_mb = 512;
  p.processes = 64;
  return p;
}

CompileResult Runner::compile(const Language& lang, const std::string& source) {
  CompileResult out;
  if (lang.compile.empty()) {
    out.ok = true;
    return out;
  }
  std::string keytext;
  for (const auto& a : lang.compile) keytext += a + '\0';
  keytext += source;
  std::string key = fmt::format("{}-{:016x}", lang.name, fnv1a64(keytext));
  {
    std::lock_guard lock(g_cache_mu);
    if (auto it = g_cache.find(key); it != g_cache.end()) {
      CompileResult r = it->second;
      r.cached = true;
      return r;
    }
  }
  std::string path = cache_dir_ + "/" + key;
  {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      out.binary.assign(std::istreambuf_iterator<char>(in), {});
      if (!out.binary.empty()) {
        out.ok = true;
        out.cached = true;
        std::lock_guard lock(g_cache_mu);
        if (g_cache.size() >= 512) g_cache.clear();
        g_cache[key] = out;
        return out;
      }
    }
  }
  Request req;
  req.argv = lang.compile;
  req.files.push_back({lang.source_name, source, false});
  req.collect.push_back(lang.binary_name);
  req.policy = compile_policy();
  out.result = sandbox_.run(req);
  if (out.result.status == Status::internal_error) {
    out.message = out.result.message;
    return out;  // not cached: the sandbox failed, not the source
  }
  auto bin = out.result.files.find(lang.binary_name);
  if (out.result.status == Status::ok && bin != out.result.files.end() && !bin->second.empty()) {
    out.ok = true;
    out.binary = bin->second;
    std::error_code ec;
    std::filesystem::create_directories(cache_dir_, ec);
    std::string tmp = path + ".tmp" + std::to_string(getpid()) + "-" + std::to_string(fnv1a64(key, reinterpret_cast<std::uintptr_t>(&out)));
    {
      std::ofstream o(tmp, std::ios::binary);
      o.write(out.binary.data(), static_cast<std::streamsize>(out.binary.size()));
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) std::filesystem::remove(tmp, ec);
  } else {
    std::string diag = out.result.stderr_data.substr(0, 8192);
    if (diag.empty()) diag = out.result.stdout_data.substr(0, 8192);
    out.message = out.result.status == Status::ok ? diag
                                                  : fmt::format("compiler {} ({}){}{}", to_string(out.result.status),
                                                                out.result.message, diag.empty() ? "" : ": ", diag);
  }
  out.result.files.clear();
  std::lock_guard lock(g_cache_mu);
  if (g_cache.size() >= 512) g_cache.clear();  // bounded: the disk cache keeps the binaries
  g_cache[key] = out;
  return out;
}

Result Runner::run(const Language& lang, const std::string& source, const CompileResult& compiled,
                   const std::string& stdin_data, const Policy& policy, std::vector<File> extra_files,
                   std::vector<std::string> extra_args) {
  Request req;
  req.argv = lang.run;
  for (auto& a : extra_args) req.argv.push_back(std::move(a));
  if (lang.compile.empty()) req.files.push_back({lang.source_name, source, false});
  else req.files.push_back({lang.binary_name, compiled.binary, true});
  for (auto& f : extra_files) req.files.push_back(std::move(f));
  req.stdin_data = stdin_data;
  req.policy = policy;
  return sandbox_.run(req);
}

Result Runner::run_file_stdin(const Language& lang, const std::string& source, const CompileResult& compiled,
                              const std::string& stdin_file, const Policy& policy) {
  Request req;
  req.argv = lang.run;
  if (lang.compile.empty()) req.files.push_back({lang.source_name, source, false});
  else req.files.push_back({lang.binary_name, compiled.binary, true});
  req.stdin_file = stdin_file;
  req.policy = policy;
  return sandbox_.run(req);
}

nlohmann::json run_source(const RunSourceOptions& o) {
  Policy policy = o.policy;
  if (policy.workers <= 0) policy.workers = 1;
  auto sandbox = make_sandbox(policy);
  Runner runner(*sandbox, default_languages(o.languages), o.cache_dir);
  const Language* lang = runner.language(o.language);
  if (!lang) throw Error(fmt::format("unknown language '{}' (python, cpp)", o.language));
  nlohmann::json out;
  CompileResult compiled = runner.compile(*lang, o.source);
  if (!compiled.ok) {
    bool internal = compiled.result.status == Status::internal_error;
    out = {{"status", internal ? "internal_error" : "compile_error"}, {"message", compiled.message}};
  } else {
    Result r = o.stdin_file.empty() ? runner.run(*lang, o.source, compiled, o.stdin_data, policy)
                                    : runner.run_file_stdin(*lang, o.source, compiled, o.stdin_file, policy);
    out = r.to_json();
    if (!lang->compile.empty()) out["compile"] = {{"cached", compiled.cached}};
  }
  out["language"] = lang->name;
  out["policy"] = policy.to_json();
  // The policy as the run had it: how its limits held for the process tree.
  if (out.contains("limits") && !out["limits"].get<std::string>().empty()) out["policy"]["limits"] = out["limits"];
  return out;
}

nlohmann::json probe_features(const Policy& policy) {
  nlohmann::json out = nlohmann::json::object();
  struct Probe {
    const char* name;
    int flags;
  };
  const Probe probes[] = {{"user_namespace", CLONE_NEWUSER},
                          {"pid_namespace", CLONE_NEWUSER | CLONE_NEWPID},
                          {"net_namespace", CLONE_NEWUSER | CLONE_NEWNET},
                          {"mount_namespace", CLONE_NEWUSER | CLONE_NEWNS},
                          {"ipc_namespace", CLONE_NEWUSER | CLONE_NEWIPC},
                          {"uts_namespace", CLONE_NEWUSER | CLONE_NEWUTS}};
  for (const auto& p : probes) {
    pid_t pid = fork();
    if (pid == 0) _exit(unshare(p.flags) == 0 ? 0 : errno);
    int st = 0;
    waitpid(pid, &st, 0);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    out[p.name] = code == 0 ? std::string("ok") : fmt::format("unavailable ({})", code > 0 ? strerror(code) : "crashed");
  }
  out["seccomp"] = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 ? "ok" : "unavailable";
  out["running_as_root"] = geteuid() == 0;
  detail::CgroupSources sources;
  sources.cgroup_root = policy.cgroup_root;
  detail::CgroupWant want = policy.limits == Limits::rlimit      ? detail::CgroupWant::none
                            : policy.limits == Limits::cgroup_v2 ? detail::CgroupWant::v2_only
                            : policy.limits == Limits::cgroup_v1 ? detail::CgroupWant::v1_only
                                                                 : detail::CgroupWant::any;
  detail::CgroupSetup setup = detail::probe_cgroups(want, sources);
  out["limits"] = std::string(detail::to_string(setup.kind));
  out["cgroup"] = setup.describe();
  if (setup.kind == detail::CgroupKind::none && policy.limits != Limits::rlimit)
    out["cgroup"]["consequence"] = policy.isolation == Isolation::required && policy.limits != Limits::automatic
                                       ? "runs are refused (the policy asks for tree-wide limits)"
                                       : "per-process rlimits; the run's init sums CPU time over its processes";
  return out;
}

}  // namespace reval::sandbox
