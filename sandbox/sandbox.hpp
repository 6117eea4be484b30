// Public interface of the sandbox: runs untrusted programs (model-written code, its compiler, custom checkers, the
// judges that call them) isolated from the host and returns a typed result record.
//
// Theory of operation (details in sandbox/worker.cpp, sandbox/cgroup.hpp, and docs/sandbox.md for the verdict rules):
//  * `Policy` is plain data (limits, isolation switches, mounts); it round-trips through JSON so it can be read
//    from a file, logged and printed. `Request` names argv, env, files to place in the private work dir, stdin and
//    files to bring back. `Result` is the typed outcome; a sandbox failure is `internal_error`, never the program's.
//  * `Sandbox` is a small interface so graders/tests can inject a fake. `make_sandbox()` returns the real one: a pool
//    of pre-isolated worker processes ("zygotes"). Each worker is forked once, drops root (to `Policy::run_uid`),
//    enters new user/net/ipc/uts/mount namespaces, builds a read-only root of bind mounts with pivot_root, and then
//    serves requests over a socketpair. Per run a worker only clones a fresh pid+mount+ipc namespace, mounts a tmpfs
//    work dir, applies limits + seccomp and execs — the expensive namespace setup is paid once per worker.
//  * Limits hold for the run's whole process tree: each worker has a cgroup (v2, else the v1 memory/cpuacct/pids
//    controllers) that the run's init joins, so memory, CPU time and process counts are the sum over every process;
//    where no cgroup can be had, per-process rlimits plus CPU accounting by the run's init (`Result::limits` says
//    which). The whole process tree of a run dies with the pid namespace's init (our tiny init, not the program).
//  * Verdicts come from evidence the sandbox measured (exit status, signals, cgroup counters), never from what the
//    program printed.
//  * `run_linked` runs two programs at once joined by a socket (a judge and the candidate it calls), each in its
//    own run: neither can reach the other's memory, files or output.
//  * `Languages` is the language table (python, cpp; add one by adding an entry) and `Runner` compiles once per
//    source hash into a cache dir and runs programs with their language's argv.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace reval::sandbox {

enum class Status { ok, runtime_error, time_limit, memory_limit, output_limit, denied, internal_error };
std::string_view to_string(Status s);

// What the sandbox does where a kernel feature (user namespaces, cgroups asked for by `limits`, ...) is missing.
enum class Isolation {
  required,     // refuse: every run is internal_error naming the missing feature (default)
  best_effort,  // run with rlimits + seccomp + a private temp dir only; Result::message says it ran weaker
};

// How limits are enforced for a run's process tree.
enum class Limits {
  automatic,  // "auto": cgroup v2 where delegated, else cgroup v1, else rlimits (default)
  cgroup,     // "cgroup": v2 or v1; without either, Isolation::required refuses and best_effort uses rlimits
  cgroup_v2,  // "cgroup-v2": only v2 (same refusal rule)
  cgroup_v1,  // "cgroup-v1": only v1 (same refusal rule)
  rlimit,     // "rlimit": per-process rlimits, CPU time summed by the run's init
};
std::string_view to_string(Limits l);

struct Policy {
  // Limits, for the run's whole process tree. time_limit_s is CPU time summed over every process of the run (the
  // cgroup's counter, or the run's init adding up its processes), all of them killed when it is reached;
  // wall_time_limit_s <= 0 means 2 * time_limit_s + 1.
  double time_limit_s = 6.0;
  double wall_time_limit_s = 0.0;
  // Memory of the whole run in MB (cgroup: resident memory, page cache, tmpfs files and shared memory of every
  // process, swap held to the same limit); with rlimits only, RLIMIT_AS of each process. <= 0: no limit.
  std::int64_t memory_limit_mb = 1024;
  std::int64_t stack_limit_mb = 64;     // RLIMIT_STACK (also the default thread stack size); capped by memory
  std::int64_t file_size_limit_mb = 64; // RLIMIT_FSIZE
  std::int64_t open_files = 256;        // RLIMIT_NOFILE
  std::int64_t processes = 64;          // pids.max of the run's cgroup, and RLIMIT_NPROC (per user namespace)
  Limits limits = Limits::automatic;    // how the limits above hold for the process tree (see Limits)
  std::string cgroup_root;              // a delegated cgroup v2 folder to create run groups in; empty: detect
  std::int64_t output_limit_bytes = 64 << 20;  // per stream; exceeding it kills the run (output_limit)
  std::int64_t work_dir_mb = 256;       // size of the tmpfs work dir
  // Isolation.
  Isolation isolation = Isolation::required;
  bool seccomp = true;
  bool kill_on_denied = true;           // denied syscalls kill the run (status denied); false: they fail with EPERM
  bool mount_proc = true;               // a fresh /proc of the run's pid namespace
  std::int64_t run_uid = 65534;         // when started as root, workers drop to this uid/gid before isolating
  std::vector<std::string> ro_binds = {"/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/etc/alternatives",
                                       "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"};
  std::map<std::string, std::string> env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", "/work"},
                                            {"TMPDIR", "/work"}, {"LANG", "C.UTF-8"}};
  int workers = 0;                      // pool size; 0 = number of CPUs

  double effective_wall_s() const { return wall_time_limit_s > 0 ? wall_time_limit_s : 2 * time_limit_s + 1; }
  nlohmann::json to_json() const;
  // Missing keys keep their defaults; unknown keys throw reval::Error.
  static Policy from_json(const nlohmann::json& j);
  static Policy from_file(const std::string& path);
};

struct File {
  std::string name;     // relative to the work dir; no '/' components outside it
  std::string content;
  bool executable = false;
};

struct Request {
  std::vector<std::string> argv;   // argv[0] is an absolute path (or relative to the work dir)
  std::vector<File> files;         // written into the private work dir before the run
  std::string stdin_data;
  std::string stdin_file;          // when set (and stdin_data empty): a host file streamed to the program's stdin
  std::vector<std::string> collect;  // work-dir files to bring back in Result::files (e.g. a compiled binary)
  std::optional<Policy> policy;    // overrides the sandbox's default policy for this run
};

struct Result {
  Status status = Status::internal_error;
  int exit_code = -1;      // when the program exited
  int signal = 0;          // when it was killed by a signal
  double cpu_s = 0, wall_s = 0;  // cpu_s: every process of the run
  std::int64_t peak_rss_kb = 0;  // the largest resident set of one process (rusage)
  std::int64_t memory_peak_kb = -1;  // the run's peak memory as its cgroup saw it; -1 when unknown (rlimits)
  bool oom_killed = false;       // the kernel's OOM killer killed a process of the run (cgroup evidence)
  std::string limits;            // how limits held: "cgroup-v2" | "cgroup-v1" | "rlimit" (empty if it never ran)
  std::string stdout_data, stderr_data;
  bool stdout_truncated = false, stderr_truncated = false;
  std::string message;     // why (limits hit, denied syscall, sandbox failure, weaker isolation, ...)
  std::map<std::string, std::string> files;  // collected files
  nlohmann::json to_json() const;  // stdout/stderr as (UTF-8 sanitized) text
};

class Sandbox {
 public:
  virtual ~Sandbox() = default;
  // Thread-safe; never throws for program behaviour. Blocks until the run ends.
  virtual Result run(const Request& request) = 0;
  // Runs two programs at the same time, each in its own run (namespaces, limits, output), joined only by a
  // stream socket that each sees as file descriptor 3 (a judge and the candidate it calls). Both start together
  // (workers are taken as a pair, so linked runs never wait on each other), and a run whose partner has ended
  // reads end-of-file. Blocks until both ended. The default says the sandbox can't (internal_error twice).
  virtual std::pair<Result, Result> run_linked(const Request& first, const Request& second);
  virtual const Policy& policy() const = 0;
};

// The real sandbox (a pool of pre-isolated workers). Never throws: when isolation can't be set up under
// Isolation::required, every run returns internal_error with the reason.
std::unique_ptr<Sandbox> make_sandbox(const Policy& policy = {});

// Which isolation features work on this machine (user/pid/net/mount namespaces, seccomp, ...): name -> "ok" or why not,
// and "limits": how a sandbox with `policy` would hold limits for a run's process tree ("cgroup-v2" | "cgroup-v1" |
// "rlimit"), with "cgroup" saying where (or why not). Creates and moves nothing.
nlohmann::json probe_features(const Policy& policy = {});

// ---- languages ---------------------------------------------------------------------------------------------------

struct Language {
  std::string name;                     // "python", "cpp"
  std::string source_name;              // file name in the work dir: "main.py"
  std::vector<std::string> compile;     // compile argv ({} = interpreted); output binary is `binary_name`
  std::string binary_name;
  std::vector<std::string> run;         // run argv
  std::vector<std::string> fence_tags;  // code fence tags that mean this language
};

struct LanguageOptions {
  std::string python = "/usr/bin/python3";  // absolute, so a slow PATH shim is never used
  std::string cxx = "/usr/bin/g++";
};
std::vector<Language> default_languages(const LanguageOptions& options = {});
// Looks a language up by name or fence tag ("py", "python3", "c++", ...); nullptr if unknown.
const Language* find_language(const std::vector<Language>& languages, std::string_view name_or_tag);

struct CompileResult {
  bool ok = false;
  bool cached = false;
  std::string binary;   // the executable (empty for interpreted languages)
  std::string message;  // compiler diagnostics on failure
  Result result;        // the compiler's run record (when it ran)
};

// Compiles (once per source hash, cached in memory and in `cache_dir`) and runs programs in a Sandbox.
class Runner {
 public:
  Runner(Sandbox& sandbox, std::vector<Language> languages = default_languages(), std::string cache_dir = {});
  const Language* language(std::string_view name) const { return find_language(languages_, name); }
  // Compiles under compile_policy() limits. Interpreted languages are always ok.
  CompileResult compile(const Language& lang, const std::string& source);
  // Runs a prepared program: `compiled` from compile(), plus extra files (e.g. a harness) and stdin.
  Result run(const Language& lang, const std::string& source, const CompileResult& compiled,
             const std::string& stdin_data, const Policy& policy, std::vector<File> extra_files = {},
             std::vector<std::string> extra_args = {});
  // The same with stdin streamed from a host file (never read into memory).
  Result run_file_stdin(const Language& lang, const std::string& source, const CompileResult& compiled,
                        const std::string& stdin_file, const Policy& policy);
  Policy compile_policy() const;
  Sandbox& sandbox() { return sandbox_; }

 private:
  Sandbox& sandbox_;
  std::vector<Language> languages_;
  std::string cache_dir_;
};

std::string default_cache_dir();

// One-shot helper behind `reval sandbox run`: compiles (if needed) and runs `source` once. Returns the Result
// record as JSON plus "language", "policy" (with "limits" as the run had them) and, for compiled languages,
// "compile" ({"cached", "message"}); a compile failure is {"status": "compile_error", "message": ...}.
struct RunSourceOptions {
  std::string language = "python";
  std::string source;
  std::string stdin_data;
  std::string stdin_file;  // streamed instead of stdin_data when set (never read into memory)
  Policy policy;
  LanguageOptions languages;
  std::string cache_dir;  // empty: default_cache_dir()
};
nlohmann::json run_source(const RunSourceOptions& options);

}  // namespace reval::sandbox
