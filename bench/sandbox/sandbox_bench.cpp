// Sandbox overhead benchmark (a plain table printer).
//
// Measures, in one run, rotating between methods in blocks of 25 runs:
//   bare     fork + execve of the program, wait             (the baseline)
//   reval    the reval sandbox (pre-isolated worker, fresh pid+mount+ipc ns, tmpfs, cgroup or rlimits, seccomp)
//   unshare  `unshare -Urnmpif --mount-proc PROGRAM`
//   bwrap    `bwrap --unshare-all --ro-bind /usr ... PROGRAM`
// for two programs: /bin/true (pure overhead) and `python3 -c pass`; then the sandbox with features switched off
// (including "rlimits only": what the whole-tree cgroup limits cost); then Python throughput: runs/s/core with one
// worker per core running `python3 -c pass` back to back. The features line says which limits the sandbox uses.
// Usage: sandbox_bench [--runs N] [--throughput-seconds S] [--python /usr/bin/python3]
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "sandbox/sandbox.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
namespace sb = reval::sandbox;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// CPU time in ms: this process, its reaped children, and its live children (the sandbox's workers, whose reaped
// children are every run's init, program and descendants). Wall time on a loaded machine mostly measures the other
// tenants; CPU time per run is what the sandbox itself costs.
double tv_ms(const timeval& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3; }
double own_cpu_ms() {
  rusage self{}, kids{};
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &kids);
  return tv_ms(self.ru_utime) + tv_ms(self.ru_stime) + tv_ms(kids.ru_utime) + tv_ms(kids.ru_stime);
}
double live_children_cpu_ms() {
  static const long tick = sysconf(_SC_CLK_TCK);
  double total = 0;
  DIR* d = opendir("/proc");
  while (dirent* e = d ? readdir(d) : nullptr) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE* f = std::fopen(path, "r");
    if (!f) continue;
    char buf[1024];
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    char* p = std::strrchr(buf, ')');
    if (!p) continue;
    int field = 2, ppid = 0;
    long v[4] = {0, 0, 0, 0};
    for (char* q = p + 1; *q; ++q) {
      if (*q != ' ') continue;
      ++field;
      if (field == 4) ppid = std::atoi(q + 1);
      if (field >= 14 && field <= 17) v[field - 14] = std::atol(q + 1);
    }
    if (ppid == getpid()) total += static_cast<double>(v[0] + v[1] + v[2] + v[3]) * 1000.0 / static_cast<double>(tick);
  }
  if (d) closedir(d);
  return total;
}
double cpu_ms() { return own_cpu_ms() + live_children_cpu_ms(); }

bool spawn_wait(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return false;
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

// bare fork/exec: fork() + execve like a minimal runner would (not vfork-style posix_spawn).
bool fork_exec(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    execve(args[0], args.data(), environ);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

struct Stats {
  std::vector<double> ms;
  int failures = 0;
  double pct(double p) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    size_t i = std::min(ms.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(ms.size())));
    return ms[i];
  }
};

}  // namespace

int main(int argc, char** argv) {
  int runs = 200;
  double tp_seconds = 5;
  std::string python = "/usr/bin/python3";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (a == "--throughput-seconds" && i + 1 < argc) tp_seconds = std::atof(argv[++i]);
    else if (a == "--python" && i + 1 < argc) python = argv[++i];
  }
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  sb::Policy policy;
  policy.workers = static_cast<int>(cores);
  auto box = sb::make_sandbox(policy);
  std::printf("sandbox_bench: %d runs per cell, %u cores\nfeatures: %s\n", runs, cores,
              sb::probe_features().dump().c_str());

  const bool have_bwrap = access("/usr/bin/bwrap", X_OK) == 0;
  const bool have_unshare = access("/usr/bin/unshare", X_OK) == 0;
  struct Program {
    const char* name;
    std::vector<std::string> argv;
  };
  std::vector<Program> programs = {{"true", {"/bin/true"}}, {"python -c pass", {python, "-c", "pass"}}};
  for (const auto& prog : programs) {
    const std::vector<std::string> bw = {"/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
                                         "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
                                         "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev",
                                         "--tmpfs", "/tmp", "--chdir", "/tmp"};
    std::vector<std::string> bwrap_argv = bw;
    bwrap_argv.insert(bwrap_argv.end(), prog.argv.begin(), prog.argv.end());
    std::vector<std::string> unshare_argv = {"/usr/bin/unshare", "-Urnmpif", "--mount-proc"};
    unshare_argv.insert(unshare_argv.end(), prog.argv.begin(), prog.argv.end());
    Stats bare, reval, inside, uns, bwr;
    double bare_cpu = 0, reval_cpu = 0;
    sb::Request req;
    req.argv = prog.argv;
    for (int w = 0; w < 5; ++w) {  // warm up caches and workers
      fork_exec(prog.argv);
      box->run(req);
    }
    // Methods run in blocks of 25, rotating, so load drift hits all alike while the kernel's asynchronous
    // namespace cleanup after unshare/bwrap (net namespaces above all) spills into other methods' runs as little
    // as possible.
    const int block = 25;
    for (int done_runs = 0; done_runs < runs; done_runs += block) {
      int n = std::min(block, runs - done_runs);
      double c0 = cpu_ms();
      for (int i = 0; i < n; ++i) {
        auto t0 = Clock::now();
        bool ok = fork_exec(prog.argv);
        bare.ms.push_back(ms_since(t0));
        bare.failures += !ok;
      }
      double c1 = cpu_ms();
      bare_cpu += c1 - c0;
      for (int i = 0; i < n; ++i) {
        auto t0 = Clock::now();
        auto r = box->run(req);
        reval.ms.push_back(ms_since(t0));
        reval.failures += r.status != sb::Status::ok;
        inside.ms.push_back(r.wall_s * 1000);  // clone of the run's init .. its exit, as the worker saw it
      }
      reval_cpu += cpu_ms() - c1;
      for (int i = 0; have_unshare && i < n; ++i) {
        auto t0 = Clock::now();
        bool ok = spawn_wait(unshare_argv);
        uns.ms.push_back(ms_since(t0));
        uns.failures += !ok;
      }
      for (int i = 0; have_bwrap && i < n; ++i) {
        auto t0 = Clock::now();
        bool ok = spawn_wait(bwrap_argv);
        bwr.ms.push_back(ms_since(t0));
        bwr.failures += !ok;
      }
    }
    double base50 = bare.pct(50), base99 = bare.pct(99);
    std::printf("\nprogram: %s\n%-10s %9s %9s %14s %14s %8s\n", prog.name, "method", "p50 ms", "p99 ms",
                "+p50 vs bare", "+p99 vs bare", "failed");
    auto row = [&](const char* name, Stats& s) {
      if (s.ms.empty()) return;
      std::printf("%-10s %9.2f %9.2f %14.2f %14.2f %8d\n", name, s.pct(50), s.pct(99), s.pct(50) - base50,
                  s.pct(99) - base99, s.failures);
    };
    row("bare", bare);
    row("reval", reval);
    row("  in-worker", inside);
    row("unshare", uns);
    row("bwrap", bwr);
    std::printf("CPU per run (every process involved): bare %.3f ms, reval %.3f ms (+%.3f ms)\n", bare_cpu / runs,
                reval_cpu / runs, (reval_cpu - bare_cpu) / runs);
  }

  // Where the per-run time goes: the sandbox with features switched off.
  {
    struct Variant {
      const char* name;
      bool proc, seccomp;
      sb::Limits limits = sb::Limits::automatic;
    };
    std::printf("\nreval variants (python -c pass, interleaved):\n%-24s %9s %9s %8s\n", "variant", "p50 ms", "p99 ms", "failed");
    std::vector<Variant> variants = {Variant{"default", true, true}, Variant{"no /proc", false, true},
                                     Variant{"no seccomp", true, false}, Variant{"no /proc, no seccomp", false, false},
                                     Variant{"rlimits only (no cgroup)", true, true, sb::Limits::rlimit}};
    std::vector<std::unique_ptr<sb::Sandbox>> boxes;
    std::vector<Stats> stats(variants.size());
    for (const auto& v : variants) {
      sb::Policy p = policy;
      p.mount_proc = v.proc;
      p.seccomp = v.seccomp;
      p.limits = v.limits;
      p.workers = 1;
      boxes.push_back(sb::make_sandbox(p));
    }
    sb::Request req;
    req.argv = {python, "-c", "pass"};
    for (int i = 0; i < runs + 5; ++i)
      for (size_t k = 0; k < variants.size(); ++k) {
        auto t0 = Clock::now();
        auto r = boxes[k]->run(req);
        if (i >= 5) stats[k].ms.push_back(ms_since(t0));
        stats[k].failures += r.status != sb::Status::ok;
      }
    for (size_t k = 0; k < variants.size(); ++k)
      std::printf("%-24s %9.2f %9.2f %8d\n", variants[k].name, stats[k].pct(50), stats[k].pct(99), stats[k].failures);
  }

  // Throughput: `cores` threads each running python -c pass through the sandbox for tp_seconds.
  std::atomic<long> done{0}, failed{0};
  std::atomic<bool> stop{false};
  sb::Request req;
  req.argv = {python, "-c", "pass"};
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < cores; ++t)
    ts.emplace_back([&] {
      while (!stop) {
        auto r = box->run(req);
        (r.status == sb::Status::ok ? done : failed)++;
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(tp_seconds));
  stop = true;
  for (auto& t : ts) t.join();
  double secs = ms_since(t0) / 1000.0;
  std::printf("\nthroughput: %ld python runs in %.2f s on %u cores = %.1f runs/s = %.1f runs/s/core (%ld failed)\n",
              done.load(), secs, cores, static_cast<double>(done) / secs, static_cast<double>(done) / secs / cores,
              failed.load());
  // Same for bare fork/exec, for reference.
  done = 0;
  stop = false;
  ts.clear();
  t0 = Clock::now();
  for (unsigned t = 0; t < cores; ++t)
    ts.emplace_back([&] {
      while (!stop) {
        fork_exec(req.argv);
        done++;
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(tp_seconds));
  stop = true;
  for (auto& t : ts) t.join();
  secs = ms_since(t0) / 1000.0;
  std::printf("throughput (bare fork/exec): %.1f runs/s/core\n", static_cast<double>(done) / secs / cores);
  return 0;
}
