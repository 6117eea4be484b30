// Adversarial programs: each has an expected status, and after each run nothing it started may still be running.
// Stray detection: every program is started with a unique token in its argv (forked children inherit it), and
// no process on the host may carry that token once run() has returned; nor may the test process have
// grandchildren (workers are its children; a run's processes would be below them).
// The table tests/sandbox/data/adversarial.jsonl holds the limits that must hold for a run's whole process tree
// (memory of forked children, SysV shared memory, memfds, CPU time of children, orphans) and the verdict rules
// (evidence, not text), each row run under every limits mode it names: "cgroup" (this machine's cgroups, skipped
// visibly where there are none) and "rlimit" (per-process rlimits, CPU time summed by the run's init).
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "base/jsonl.hpp"
#include "sandbox/sandbox.hpp"
#include "tests/test_util.hpp"

namespace sb = reval::sandbox;

namespace {

sb::Sandbox& box() {
  static std::unique_ptr<sb::Sandbox> s = [] {
    setenv("REVAL_TEST_SECRET", "hunter2-parent-secret", 1);  // must not be visible inside
    sb::Policy p;
    p.workers = 2;
    p.time_limit_s = 1;
    p.wall_time_limit_s = 3;
    return sb::make_sandbox(p);
  }();
  return *s;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Processes whose cmdline contains `token`, and descendants of this process at depth >= 2.
std::vector<std::string> strays(const std::string& token) {
  std::vector<std::string> found;
  std::map<int, int> parent;
  DIR* d = opendir("/proc");
  while (dirent* e = d ? readdir(d) : nullptr) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::string cmd = read_text("/proc/" + std::to_string(pid) + "/cmdline");
    for (char& c : cmd)
      if (c == 0) c = ' ';
    if (!token.empty() && cmd.find(token) != std::string::npos) found.push_back(std::to_string(pid) + ": " + cmd);
    std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    auto rp = stat.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream ss(stat.substr(rp + 2));
    char state;
    int ppid = 0;
    ss >> state >> ppid;
    parent[pid] = ppid;
  }
  if (d) closedir(d);
  int me = getpid();
  for (auto [pid, ppid] : parent) {
    if (ppid == me || pid == me) continue;
    auto it = parent.find(ppid);
    if (it != parent.end() && it->second == me) found.push_back("grandchild " + std::to_string(pid));
  }
  return found;
}

std::atomic<int> g_counter{0};

sb::Result run_py(const std::string& code, std::optional<sb::Policy> policy = {}, bool check = true,
                  sb::Sandbox* sandbox = nullptr) {
  std::string token = "reval-adv-" + std::to_string(getpid()) + "-" + std::to_string(g_counter++);
  sb::Request r;
  r.argv = {"/usr/bin/python3", "main.py", token};
  r.files = {{"main.py", code, false}};
  r.policy = policy;
  sb::Result res = (sandbox ? *sandbox : box()).run(r);
  auto left = check ? strays(token) : std::vector<std::string>{};
  EXPECT_TRUE(left.empty()) << "left running: " << (left.empty() ? "" : left.front());
  return res;
}

}  // namespace

TEST(Adversarial, ForkBomb) {
  auto r = run_py("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n");
  EXPECT_EQ(r.status, sb::Status::time_limit) << r.message;
}

TEST(Adversarial, ThreadBomb) {
  auto r = run_py("import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(100,), daemon=True).start()\n");
  EXPECT_EQ(r.status, sb::Status::runtime_error) << r.message << r.stderr_data;
  EXPECT_NE(r.stderr_data.find("can't start new thread"), std::string::npos) << r.stderr_data;
}

TEST(Adversarial, MemoryBomb) {
  // Faulting pages in costs CPU (about 4 CPU-s per GB on slow VMs): a small memory limit and a generous CPU and
  // wall budget make "memory" the limit this program reaches first on any machine.
  sb::Policy p = box().policy();
  p.memory_limit_mb = 256;
  p.time_limit_s = 20;
  p.wall_time_limit_s = 60;
  auto r = run_py("a = []\nwhile True:\n    a.append(' ' * 10**7)\n", p);
  EXPECT_EQ(r.status, sb::Status::memory_limit) << r.message << r.stderr_data;
}

// Positive twin: the same policy lets a program that stays well under the limit (about 60 MB) finish normally.
TEST(Adversarial, MemoryUnderTheLimitRuns) {
  sb::Policy p = box().policy();
  p.memory_limit_mb = 256;
  p.time_limit_s = 20;
  p.wall_time_limit_s = 60;
  auto r = run_py("a = []\nfor _ in range(6):\n    a.append(' ' * 10**7)\nprint(len(a))\n", p);
  EXPECT_EQ(r.status, sb::Status::ok) << r.message << r.stderr_data;
  EXPECT_EQ(r.stdout_data, "6\n");
}

TEST(Adversarial, InfiniteLoop) {
  auto r = run_py("while True:\n    pass\n");
  EXPECT_EQ(r.status, sb::Status::time_limit) << r.message;
  if (r.message.find("CPU") != std::string::npos) {
    EXPECT_GE(r.cpu_s, 0.5);  // rusage is tick-sampled: near, not exactly at, the 1 s rlimit
  }
}

TEST(Adversarial, EndlessOutput) {
  sb::Policy p = box().policy();
  p.output_limit_bytes = 1 << 20;
  auto r = run_py("import sys\nwhile True:\n    sys.stdout.write('y' * 4096)\n", p);
  EXPECT_EQ(r.status, sb::Status::output_limit) << r.message;
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_EQ(r.stdout_data.size(), size_t{1} << 20);
}

TEST(Adversarial, SleepPastWallLimit) {
  auto r = run_py("import time\ntime.sleep(60)\n");
  EXPECT_EQ(r.status, sb::Status::time_limit) << r.message;
  EXPECT_NE(r.message.find("wall"), std::string::npos) << r.message;
}

const char* kConnect = R"(import socket
for host in ['127.0.0.1', '1.1.1.1']:
    try:
        s = socket.create_connection((host, 80), timeout=2)
        print(host, 'CONNECTED')
    except OSError as e:
        print(host, 'blocked', e.errno)
)";

TEST(Adversarial, NetworkBlockedBySeccompAndNamespace) {
  auto r = run_py(kConnect);
  EXPECT_EQ(r.status, sb::Status::ok) << r.stderr_data;
  EXPECT_EQ(r.stdout_data.find("CONNECTED"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("127.0.0.1 blocked"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("1.1.1.1 blocked"), std::string::npos) << r.stdout_data;
  // Without seccomp the net namespace alone still has no route anywhere (only a downed loopback).
  sb::Policy p = box().policy();
  p.seccomp = false;
  auto r2 = run_py(kConnect + std::string("import socket\nprint(socket.if_nameindex())\n"), p);
  EXPECT_EQ(r2.status, sb::Status::ok) << r2.stderr_data;
  EXPECT_EQ(r2.stdout_data.find("CONNECTED"), std::string::npos) << r2.stdout_data;
  EXPECT_NE(r2.stdout_data.find("1.1.1.1 blocked"), std::string::npos) << r2.stdout_data;
  EXPECT_NE(r2.stdout_data.find("(1, 'lo')]"), std::string::npos) << r2.stdout_data;  // lo is the only interface
}

TEST(Adversarial, WritesOutsideWorkDirFail) {
  auto r = run_py(R"(import os
for path in ['/usr/evil', '/etc/evil', '/evil', '/proc/evil', '/dev/evil', '/work/../evil', '/lib/evil']:
    try:
        open(path, 'w').write('x')
        print(path, 'WRITTEN')
    except OSError as e:
        print(path, 'refused')
open('ok.txt', 'w').write('fine')
print('workdir ok')
)");
  EXPECT_EQ(r.status, sb::Status::ok) << r.stderr_data;
  EXPECT_EQ(r.stdout_data.find("WRITTEN"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("workdir ok"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists("/evil"));
  EXPECT_FALSE(std::filesystem::exists("/usr/evil"));
}

TEST(Adversarial, HostSecretsInvisible) {
  auto r = run_py(R"(import os
print('ENV', sorted(os.environ))
print('SECRET' if any('hunter2' in v for v in os.environ.values()) else 'no-secret')
for path in ['/root', '/etc/shadow', '/home', '/proc/1/environ', '/proc/1/mem']:
    try:
        data = os.listdir(path) if os.path.isdir(path) else open(path, 'rb').read(4096)
        print(path, 'READ', 'hunter2' in str(data))
    except OSError as e:
        print(path, 'refused')
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            if b'hunter2' in open('/proc/%s/environ' % pid, 'rb').read():
                print('LEAK via', pid)
        except OSError:
            pass
)");
  EXPECT_EQ(r.status, sb::Status::ok) << r.stderr_data;
  EXPECT_NE(r.stdout_data.find("no-secret"), std::string::npos) << r.stdout_data;
  EXPECT_EQ(r.stdout_data.find("True"), std::string::npos) << r.stdout_data;
  EXPECT_EQ(r.stdout_data.find("LEAK"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("/etc/shadow refused"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("/root refused"), std::string::npos) << r.stdout_data;
}

TEST(Adversarial, KillAllOnlyReachesTheRun) {
  pid_t sentinel = fork();
  if (sentinel == 0) {
    pause();
    _exit(0);
  }
  auto r = run_py(R"(import os, signal, time
pids = []
for i in range(3):
    p = os.fork()
    if p == 0:
        time.sleep(30)
        os._exit(0)
    pids.append(p)
os.kill(-1, signal.SIGKILL)
print('survived', all(os.waitpid(p, 0)[1] == signal.SIGKILL for p in pids))
)");
  EXPECT_EQ(r.status, sb::Status::ok) << r.message << r.stderr_data;
  EXPECT_EQ(r.stdout_data, "survived True\n");
  EXPECT_EQ(waitpid(sentinel, nullptr, WNOHANG), 0) << "host process was killed";
  kill(sentinel, SIGKILL);
  waitpid(sentinel, nullptr, 0);
  // Both workers still serve runs.
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] { ok += run_py("print(1)", {}, false).status == sb::Status::ok; });
  for (auto& t : ts) t.join();
  EXPECT_TRUE(strays("").empty());
  EXPECT_EQ(ok.load(), 4);
}

TEST(Adversarial, PtraceIsDenied) {
  auto r = run_py("import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.ptrace(0, 0, 0, 0))\n");
  EXPECT_EQ(r.status, sb::Status::denied) << r.message << r.stderr_data;
  EXPECT_EQ(r.signal, SIGSYS);
  auto r2 = run_py("import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.unshare(0x10000000))\n");
  EXPECT_EQ(r2.status, sb::Status::denied) << r2.message;
  sb::Policy p = box().policy();
  p.kill_on_denied = false;
  auto r3 = run_py("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.ptrace(0, 0, 0, 0), ctypes.get_errno())\n", p);
  EXPECT_EQ(r3.status, sb::Status::ok) << r3.message;
  EXPECT_EQ(r3.stdout_data, "-1 1\n");  // EPERM
}

TEST(Adversarial, DaemonCannotOutliveRun) {
  auto r = run_py(R"(import os, time, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(30)
        open('/work/late', 'w').write('x')
        os._exit(0)
    os._exit(0)
print('parent done')
)");
  EXPECT_EQ(r.status, sb::Status::ok) << r.message << r.stderr_data;
  EXPECT_EQ(r.stdout_data, "parent done\n");
  EXPECT_EQ(r.message.find("wall"), std::string::npos);  // not waiting for the daemon (it holds stdout open)
}

TEST(Adversarial, CompileBombsHitCompileLimits) {
  reval::test::TempDir cache;
  sb::Runner runner(box(), sb::default_languages(), cache.path());
  const sb::Language* cpp = runner.language("cpp");
  auto c = runner.compile(*cpp, "#include </dev/zero>\nint main(){}\n");
  EXPECT_FALSE(c.ok);
  EXPECT_FALSE(c.message.empty());
  auto c2 = runner.compile(*cpp, "template<int N> struct F { static constexpr long v = F<N + 1>::v + 1; };\n"
                                 "int main() { return F<0>::v; }\n");
  EXPECT_FALSE(c2.ok);
  EXPECT_NE(c2.message.find("depth"), std::string::npos) << c2.message;
  EXPECT_TRUE(strays("").empty());
}

namespace {

// The same sandbox as box(), with per-process rlimits only.
sb::Sandbox& rlimit_box() {
  static std::unique_ptr<sb::Sandbox> s = [] {
    sb::Policy p = box().policy();
    p.limits = sb::Limits::rlimit;
    return sb::make_sandbox(p);
  }();
  return *s;
}

}  // namespace

TEST(Adversarial, TreeLimitsTable) {
  std::vector<nlohmann::json> rows;
  reval::for_each_jsonl_file(reval::test::source_dir() + "/tests/sandbox/data/adversarial.jsonl",
                             [&](reval::JsonlLine& line) {
                               ASSERT_TRUE(line.value) << line.error;
                               rows.push_back(*line.value);
                             });
  ASSERT_GE(rows.size(), 10u);
  const bool have_cgroup = sb::probe_features()["limits"] != "rlimit";
  int ran = 0, skipped = 0;
  for (const auto& row : rows) {
    for (const auto& mode : row["modes"]) {
      if (mode == "cgroup" && !have_cgroup) {
        ++skipped;
        continue;
      }
      sb::Sandbox& s = mode == "cgroup" ? box() : rlimit_box();
      sb::Policy p = s.policy();
      if (row.contains("policy"))
        for (const auto& [k, v] : row["policy"].items()) {
          auto j = p.to_json();
          j[k] = v;
          p = sb::Policy::from_json(j);
        }
      auto r = run_py(row["code"].get<std::string>(), p, true, &s);
      const std::string where = row["name"].get<std::string>() + " [" + mode.get<std::string>() + "]";
      ++ran;
      std::printf("  %-40s %-13s cpu %6.2f s  wall %6.2f s  memory peak %lld kB%s\n", where.c_str(),
                  std::string(sb::to_string(r.status)).c_str(), r.cpu_s, r.wall_s,
                  static_cast<long long>(r.memory_peak_kb), r.oom_killed ? "  (OOM kill)" : "");
      EXPECT_EQ(std::string(sb::to_string(r.status)), row["expect"].get<std::string>())
          << where << ": " << r.message << "\nstdout: " << r.stdout_data << "\nstderr: " << r.stderr_data.substr(0, 2000);
      EXPECT_EQ(r.limits, mode == "cgroup" ? sb::probe_features()["limits"].get<std::string>() : "rlimit") << where;
      for (const auto& h : row.value("stdout_has", std::vector<std::string>{}))
        EXPECT_NE(r.stdout_data.find(h), std::string::npos) << where << ": no '" << h << "' in\n" << r.stdout_data;
      for (const auto& h : row.value("stdout_lacks", std::vector<std::string>{}))
        EXPECT_EQ(r.stdout_data.find(h), std::string::npos) << where << ": '" << h << "' in\n" << r.stdout_data;
    }
  }
  if (skipped) std::printf("TreeLimitsTable: %d rows skipped: no cgroups here (%s)\n", skipped,
                           sb::probe_features()["cgroup"].dump().c_str());
  EXPECT_GT(ran, 0);
}

// SysV objects written in one run are gone in the next: every run has an IPC namespace of its own.
TEST(Adversarial, IpcNamespaceIsFreshPerRun) {
  const char* make = R"(import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
shmid = libc.shmget(0x5eed, ctypes.c_size_t(1 << 20), 0o1000 | 0o666)
addr = libc.shmat(shmid, None, 0)
ctypes.memmove(addr, b'left behind', 11)
print('made', shmid >= 0)
)";
  const char* look = R"(import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print('found' if libc.shmget(0x5eed, ctypes.c_size_t(0), 0) >= 0 else 'absent', ctypes.get_errno())
)";
  for (sb::Sandbox* s : {&box(), &rlimit_box()}) {
    auto a = run_py(make, {}, true, s);
    ASSERT_EQ(a.status, sb::Status::ok) << a.message << a.stderr_data;
    EXPECT_EQ(a.stdout_data, "made True\n");
    for (int i = 0; i < 3; ++i) {  // whichever worker serves the next runs
      auto b = run_py(look, {}, true, s);
      ASSERT_EQ(b.status, sb::Status::ok) << b.message << b.stderr_data;
      EXPECT_EQ(b.stdout_data, "absent 2\n");  // ENOENT
    }
  }
}
