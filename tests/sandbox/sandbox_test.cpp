// Basic sandbox behaviour: a run's record (status, exit code, output, limits), policy JSON round trip, languages
// and the compile cache.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <csignal>

#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <seccomp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/error.hpp"
#include "sandbox/sandbox.hpp"
#include "tests/test_util.hpp"

namespace sb = reval::sandbox;

namespace {

sb::Sandbox& box() {
  static std::unique_ptr<sb::Sandbox> s = [] {
    sb::Policy p;
    p.workers = 2;
    p.time_limit_s = 2;
    return sb::make_sandbox(p);
  }();
  return *s;
}

sb::Result py(const std::string& code, const std::string& stdin_data = {}, std::optional<sb::Policy> policy = {}) {
  sb::Request r;
  r.argv = {"/usr/bin/python3", "main.py"};
  r.files = {{"main.py", code, false}};
  r.stdin_data = stdin_data;
  r.policy = policy;
  return box().run(r);
}

}  // namespace

TEST(Sandbox, RunsPythonAndCapturesOutput) {
  auto r = py("import sys\nprint(sys.stdin.read().upper())\nprint('err', file=sys.stderr)\n", "hello");
  EXPECT_EQ(r.status, sb::Status::ok) << r.message << r.stderr_data;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_data, "HELLO\n");
  EXPECT_EQ(r.stderr_data, "err\n");
  EXPECT_GT(r.wall_s, 0);
  EXPECT_GT(r.peak_rss_kb, 0);
}

TEST(Sandbox, NonZeroExitIsRuntimeError) {
  auto r = py("raise SystemExit(3)");
  EXPECT_EQ(r.status, sb::Status::runtime_error);
  EXPECT_EQ(r.exit_code, 3);
  auto r2 = py("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)");
  EXPECT_EQ(r2.status, sb::Status::runtime_error);
  EXPECT_EQ(r2.signal, 11);
}

TEST(Sandbox, MissingExecutableIsInternalError) {
  sb::Request r;
  r.argv = {"/no/such/binary"};
  auto res = box().run(r);
  EXPECT_EQ(res.status, sb::Status::internal_error);
  EXPECT_NE(res.message.find("cannot execute"), std::string::npos) << res.message;
}

TEST(Sandbox, RunsAsUnprivilegedUserInPrivateNamespaces) {
  auto r = py("import os, socket\nprint(os.getuid(), os.getpid() < 5, socket.gethostname(), os.getcwd())\n"
              "print(sorted(os.listdir('/')))");
  ASSERT_EQ(r.status, sb::Status::ok) << r.message << r.stderr_data;
  EXPECT_EQ(r.stdout_data.substr(0, r.stdout_data.find('\n')), "1000 True sandbox /work");
  EXPECT_EQ(r.stdout_data.find("'root'"), std::string::npos) << r.stdout_data;
}

TEST(Sandbox, WorkDirIsPrivatePerRun) {
  auto r1 = py("open('leftover.txt','w').write('x')\nimport os\nprint(sorted(os.listdir('.')))");
  ASSERT_EQ(r1.status, sb::Status::ok) << r1.stderr_data;
  auto r2 = py("import os\nprint(sorted(os.listdir('.')))");
  ASSERT_EQ(r2.status, sb::Status::ok);
  EXPECT_EQ(r2.stdout_data, "['main.py']\n");
}

TEST(Sandbox, CpuTimeLimit) {
  sb::Policy p = box().policy();
  p.time_limit_s = 1;
  p.wall_time_limit_s = 20;
  auto r = py("while True: pass", {}, p);
  EXPECT_EQ(r.status, sb::Status::time_limit) << r.message;
  EXPECT_NE(r.message.find("CPU"), std::string::npos) << r.message;
  EXPECT_GE(r.cpu_s, 0.5);  // rusage is tick-sampled: near, not exactly at, the 1 s rlimit
}

TEST(Sandbox, MemoryLimit) {
  sb::Policy p = box().policy();
  p.memory_limit_mb = 256;
  auto r = py("x = bytearray(1 << 30)\nprint(len(x))", {}, p);
  EXPECT_EQ(r.status, sb::Status::memory_limit) << r.message << r.stderr_data;
}

TEST(Sandbox, OutputLimitTruncates) {
  sb::Policy p = box().policy();
  p.output_limit_bytes = 1000;
  auto r = py("print('a' * 5000)", {}, p);
  EXPECT_EQ(r.status, sb::Status::output_limit);
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_EQ(r.stdout_data.size(), 1000u);
}

TEST(Sandbox, CollectsFiles) {
  sb::Request r;
  r.argv = {"/usr/bin/python3", "main.py"};
  r.files = {{"main.py", "open('out.bin','wb').write(bytes(range(256)))", false}};
  r.collect = {"out.bin", "absent"};
  auto res = box().run(r);
  ASSERT_EQ(res.status, sb::Status::ok) << res.stderr_data;
  ASSERT_EQ(res.files.count("out.bin"), 1u);
  EXPECT_EQ(res.files["out.bin"].size(), 256u);
  EXPECT_EQ(res.files.count("absent"), 0u);
}

TEST(Policy, JsonRoundTripAndErrors) {
  sb::Policy p;
  p.time_limit_s = 3.5;
  p.isolation = sb::Isolation::best_effort;
  p.ro_binds = {"/usr"};
  auto q = sb::Policy::from_json(p.to_json());
  EXPECT_EQ(q.to_json(), p.to_json());
  EXPECT_THROW(sb::Policy::from_json({{"bogus", 1}}), reval::Error);
  EXPECT_THROW(sb::Policy::from_json({{"time_limit_s", "x"}}), reval::Error);
  EXPECT_DOUBLE_EQ(sb::Policy::from_json({{"time_limit_s", 2}}).effective_wall_s(), 5.0);
}

TEST(Languages, LookupByNameAndTag) {
  auto langs = sb::default_languages();
  ASSERT_NE(sb::find_language(langs, "py"), nullptr);
  EXPECT_EQ(sb::find_language(langs, "Python3")->name, "python");
  EXPECT_EQ(sb::find_language(langs, "c++")->name, "cpp");
  EXPECT_EQ(sb::find_language(langs, "C++17")->name, "cpp");
  EXPECT_EQ(sb::find_language(langs, "cobol"), nullptr);
}

TEST(Runner, CompilesOnceAndRunsCpp) {
  reval::test::TempDir cache;
  sb::Runner runner(box(), sb::default_languages(), cache.path());
  const sb::Language* cpp = runner.language("cpp");
  std::string src = "#include <cstdio>\nint main(){int a,b;std::scanf(\"%d %d\",&a,&b);std::printf(\"%d\\n\",a+b);}\n";
  auto c1 = runner.compile(*cpp, src);
  ASSERT_TRUE(c1.ok) << c1.message;
  EXPECT_FALSE(c1.cached);
  auto c2 = runner.compile(*cpp, src);
  EXPECT_TRUE(c2.cached);
  auto r = runner.run(*cpp, src, c1, "2 40", box().policy());
  EXPECT_EQ(r.status, sb::Status::ok) << r.message << r.stderr_data;
  EXPECT_EQ(r.stdout_data, "42\n");
}

TEST(Runner, CompileErrorCarriesDiagnostics) {
  reval::test::TempDir cache;
  sb::Runner runner(box(), sb::default_languages(), cache.path());
  auto c = runner.compile(*runner.language("cpp"), "int main() { return undefined_thing; }\n");
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.message.find("undefined_thing"), std::string::npos) << c.message;
}

TEST(Features, ProbeReportsNamespaces) {
  auto f = sb::probe_features();
  EXPECT_TRUE(f.contains("user_namespace"));
  EXPECT_TRUE(f.contains("net_namespace"));
}

TEST(Cli, SandboxRunPrintsResultJson) {
  if (!std::filesystem::exists(reval::test::reval_binary())) GTEST_SKIP() << "reval binary not built";
  reval::test::TempDir dir;
  {
    std::ofstream(dir.file("prog.cpp")) << "#include <iostream>\nint main(){int x;std::cin>>x;std::cout<<x*2<<'\\n';}\n";
    std::ofstream(dir.file("in.txt")) << "21\n";
  }
  std::string cmd = reval::test::reval_binary() + " sandbox run --lang cpp --time-limit 2 --memory-limit 512 --cache-dir " +
                    dir.file("cache") + " --stdin " + dir.file("in.txt") + " " + dir.file("prog.cpp") + " > " +
                    dir.file("out.json");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(dir.file("out.json"));
  auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["stdout"], "42\n");
  EXPECT_EQ(j["policy"]["memory_limit_mb"], 512);
}

// Without user namespaces (simulated: a seccomp filter makes unshare fail with EPERM in a child process), the
// sandbox refuses under Isolation::required and runs, saying so, under Isolation::best_effort.
TEST(Sandbox, MissingNamespacesRefuseOrDegradeByChoice) {
  pid_t pid = fork();
  if (pid == 0) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 0);
    if (seccomp_load(ctx) != 0) _exit(10);
    sb::Policy p;
    p.workers = 1;
    auto strict = sb::make_sandbox(p);
    sb::Request r;
    r.argv = {"/usr/bin/python3", "main.py"};
    r.files = {{"main.py", "import os\nprint(os.path.exists('main.py'))", false}};
    auto refused = strict->run(r);
    if (refused.status != sb::Status::internal_error) _exit(11);
    if (refused.message.find("unshare") == std::string::npos) _exit(12);
    p.isolation = sb::Isolation::best_effort;
    auto weak = sb::make_sandbox(p);
    auto ran = weak->run(r);
    if (ran.status != sb::Status::ok) _exit(13);
    if (ran.stdout_data != "True\n") _exit(14);
    if (ran.message.find("weaker") == std::string::npos) _exit(15);
    r.files = {{"main.py", "while True: pass", false}};
    r.policy = p;
    r.policy->time_limit_s = 1;
    if (weak->run(r).status != sb::Status::time_limit) _exit(16);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0) << "step " << WEXITSTATUS(st) << " failed";
}

// A worker killed while idle is replaced transparently; the host never gets SIGPIPE.
TEST(Sandbox, DeadWorkerIsReplaced) {
  sb::Policy p;
  p.workers = 1;
  auto s = sb::make_sandbox(p);
  std::vector<pid_t> kids;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    auto rp = line.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream ss(line.substr(rp + 2));
    char state;
    int ppid;
    ss >> state >> ppid;
    if (ppid == getpid()) kids.push_back(std::stoi(name));
  }
  ASSERT_FALSE(kids.empty());
  for (pid_t k : kids) kill(k, SIGKILL);
  usleep(100000);
  sb::Request r;
  r.argv = {"/usr/bin/python3", "-c", "print('back')"};
  auto res = s->run(r);
  EXPECT_EQ(res.status, sb::Status::ok) << res.message;
  EXPECT_EQ(res.stdout_data, "back\n");
}

// The same isolation as an ordinary user (when the tests run as root, a child process drops to uid 4242 first).
TEST(Sandbox, WorksAsNormalUser) {
  if (geteuid() != 0) GTEST_SKIP() << "already a normal user: every other test covers it";
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(4242, 4242, 4242) != 0 || setresuid(4242, 4242, 4242) != 0) _exit(10);
    sb::Policy p;
    p.workers = 1;
    auto s = sb::make_sandbox(p);
    sb::Request r;
    r.argv = {"/usr/bin/python3", "main.py"};
    r.files = {{"main.py", "import os, socket\nprint(os.getuid(), socket.gethostname())\n"
                           "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=1)\nexcept OSError:\n    print('no net')\n", false}};
    auto res = s->run(r);
    if (res.status != sb::Status::ok) {
      std::fprintf(stderr, "as uid 4242: %s %s\n", res.message.c_str(), res.stderr_data.c_str());
      _exit(11);
    }
    if (res.stdout_data != "1000 sandbox\nno net\n") _exit(12);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0) << "step " << WEXITSTATUS(st) << " failed";
}

// Two runs joined by a socket (fd 3 in each): messages cross, each run keeps its own output and record, and a run
// reads end-of-file once its partner has ended.
TEST(Sandbox, LinkedRunsTalkOverFd3) {
  sb::Request ping, pong;
  ping.argv = {"/usr/bin/python3", "-c",
               "import os\nos.write(3, b'ping')\nprint('ping got', os.read(3, 100))\nprint('then', os.read(3, 100))"};
  pong.argv = {"/usr/bin/python3", "-c",
               "import os, sys\nmsg = os.read(3, 100)\nos.write(3, msg.upper())\nprint('pong got', msg)\nsys.exit(4)"};
  auto [a, b] = box().run_linked(ping, pong);
  EXPECT_EQ(a.status, sb::Status::ok) << a.message << a.stderr_data;
  EXPECT_EQ(a.stdout_data, "ping got b'PING'\nthen b''\n");  // EOF after pong ended
  EXPECT_EQ(b.status, sb::Status::runtime_error);
  EXPECT_EQ(b.exit_code, 4);
  EXPECT_EQ(b.stdout_data, "pong got b'ping'\n");
  // A partner that never writes is cut off by its own limits; the other side sees EOF, not a hang.
  sb::Request waiter, sleeper;
  waiter.argv = {"/usr/bin/python3", "-c", "import os\nprint('read', os.read(3, 10))"};
  sleeper.argv = {"/usr/bin/python3", "-c", "import time\ntime.sleep(60)"};
  sb::Policy quick = box().policy();
  quick.time_limit_s = 1;
  quick.wall_time_limit_s = 2;
  sleeper.policy = quick;
  sb::Policy patient = box().policy();
  patient.wall_time_limit_s = 60;  // whatever the machine's speed, the waiter outlives the sleeper's 2 s
  waiter.policy = patient;
  auto [w, s] = box().run_linked(waiter, sleeper);
  EXPECT_EQ(w.status, sb::Status::ok) << w.message;
  EXPECT_EQ(w.stdout_data, "read b''\n");
  EXPECT_EQ(s.status, sb::Status::time_limit);
  // A plain run has no fd 3.
  auto lone = py("import os\ntry:\n    os.fstat(3)\n    print('open')\nexcept OSError:\n    print('closed')");
  EXPECT_EQ(lone.stdout_data, "closed\n");
}

// Linked runs take two workers at once; a one-worker pool grows instead of waiting forever.
TEST(Sandbox, LinkedRunsOnAOneWorkerPool) {
  sb::Policy p;
  p.workers = 1;
  auto s = sb::make_sandbox(p);
  sb::Request a, b;
  a.argv = {"/usr/bin/python3", "-c", "import os\nos.write(3, b'x')"};
  b.argv = {"/usr/bin/python3", "-c", "import os\nprint(os.read(3, 1))"};
  auto [ra, rb] = s->run_linked(a, b);
  EXPECT_EQ(ra.status, sb::Status::ok) << ra.message;
  EXPECT_EQ(rb.stdout_data, "b'x'\n") << rb.message;
}

// A stdin file is streamed (never read into the host's memory); the program sees every byte.
TEST(Sandbox, StdinFileIsStreamed) {
  reval::test::TempDir dir;
  const std::string path = dir.file("in.bin");
  {
    std::ofstream out(path, std::ios::binary);
    std::string block(1 << 20, 'a');
    for (int i = 0; i < 24; ++i) {
      block[0] = static_cast<char>('a' + i);
      out << block;
    }
  }
  sb::Request r;
  r.argv = {"/usr/bin/python3", "-c",
            "import sys, hashlib\nh = hashlib.sha256()\nn = 0\nwhile True:\n    b = sys.stdin.buffer.read(1 << 16)\n"
            "    if not b:\n        break\n    n += len(b)\n    h.update(b)\nprint(n, h.hexdigest()[:16])\n"
            "try:\n    open('/proc/self/fd/0', 'wb').write(b'x')\n    print('writable')\nexcept OSError:\n    print('sealed')"};
  r.stdin_file = path;
  auto res = box().run(r);
  ASSERT_EQ(res.status, sb::Status::ok) << res.message << res.stderr_data;
  EXPECT_EQ(res.stdout_data.substr(0, res.stdout_data.find(' ')), std::to_string(24 << 20));
  EXPECT_NE(res.stdout_data.find("sealed"), std::string::npos) << res.stdout_data;
  r.stdin_file = dir.file("absent");
  auto missing = box().run(r);
  EXPECT_EQ(missing.status, sb::Status::internal_error);
  EXPECT_NE(missing.message.find("absent"), std::string::npos) << missing.message;
}

// `reval sandbox run --stdin` with a large file: reval itself stays small (it used to hold several copies).
TEST(Cli, SandboxRunStreamsALargeStdinFile) {
  if (!std::filesystem::exists(reval::test::reval_binary())) GTEST_SKIP() << "reval binary not built";
  reval::test::TempDir dir;
  {
    std::ofstream(dir.file("count.py")) << "import sys\nn = 0\nwhile True:\n    b = sys.stdin.buffer.read(1 << 16)\n"
                                          "    if not b:\n        break\n    n += len(b)\nprint(n)\n";
    std::ofstream out(dir.file("big.bin"), std::ios::binary);
    std::string block(1 << 20, 'z');
    for (int i = 0; i < 200; ++i) out << block;
  }
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(dir.file("out.json").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    execl(reval::test::reval_binary().c_str(), "reval", "sandbox", "run", "--time-limit", "20", "--stdin",
          dir.file("big.bin").c_str(), dir.file("count.py").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int st = 0;
  struct rusage ru {};
  ASSERT_EQ(wait4(pid, &st, 0, &ru), pid);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  std::ifstream in(dir.file("out.json"));
  auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["status"], "ok") << j.dump();
  EXPECT_EQ(j["stdout"], std::to_string(200 << 20) + "\n");
  // The largest process of reval's tree (reval, its worker, the run) stayed far below the file's 200 MB.
  EXPECT_LT(ru.ru_maxrss, 80 * 1024) << "max RSS " << ru.ru_maxrss << " kB";
}
