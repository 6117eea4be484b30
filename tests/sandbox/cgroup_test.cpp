// Limits for a run's whole process tree, away from the real machine's cgroups:
//  * the verdict rules (decide_status) as a table: evidence in, status out — memory before CPU, OOM kills and the
//    limit being reached as the only memory evidence, never the program's text;
//  * cgroup v2 through a fake cgroup file system (a plain folder with cgroup.controllers): detection (an explicit
//    delegated root, our own group with reval moving itself into a leaf, or none), the files a run writes (limits,
//    joining), and the counters it is judged by (a CPU counter past the limit stops the run; an OOM kill event
//    makes it memory_limit) — so the v2 path is tested on machines whose kernel only gives v1;
//  * cgroup v1 detection through fake /proc/self/cgroup and mountinfo;
//  * isolation: required refusing a policy that asks for tree-wide limits that can't be had.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "sandbox/cgroup.hpp"
#include "sandbox/internal.hpp"
#include "sandbox/sandbox.hpp"
#include "tests/test_util.hpp"

namespace sb = reval::sandbox;
namespace d = reval::sandbox::detail;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void put(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string base() { return "reval-" + std::to_string(getpid()); }

// The only folder under `dir` (a slot group).
std::string only_subdir(const std::string& dir) {
  std::string found;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) {
      EXPECT_TRUE(found.empty()) << "more than one group in " << dir;
      found = e.path().string();
    }
  return found;
}

}  // namespace

TEST(VerdictRules, EvidenceDecidesTheStatus) {
  struct Row {
    const char* what;
    d::Evidence e;
    sb::Status want;
  };
  auto ev = [](auto&& set) {
    d::Evidence e;
    e.ran = true;
    e.exit_code = 0;
    e.time_limit_s = 2;
    e.cgroup = true;
    e.memory_limit_bytes = 256 << 20;
    set(e);
    return e;
  };
  std::vector<Row> rows = {
      {"clean exit", ev([](auto&) {}), sb::Status::ok},
      {"exit 1", ev([](auto& e) { e.exit_code = 1; }), sb::Status::runtime_error},
      {"exit 1 after printing MemoryError (no evidence)", ev([](auto& e) { e.exit_code = 1; }), sb::Status::runtime_error},
      {"OOM kill of a child, main exits 0", ev([](auto& e) { e.oom_killed = true; }), sb::Status::memory_limit},
      {"OOM kill and CPU past the limit: memory first", ev([](auto& e) { e.oom_killed = true; e.signal = 9; e.cpu_s = 2.5; }),
       sb::Status::memory_limit},
      {"OOM killed init: no report", ev([](auto& e) { e.ran = false; e.oom_killed = true; }), sb::Status::memory_limit},
      {"limit reached, then a crash", ev([](auto& e) { e.memory_limit_hit = true; e.signal = 6; }), sb::Status::memory_limit},
      {"peak at the limit, then exit 1", ev([](auto& e) { e.peak_bytes = 256 << 20; e.exit_code = 1; }), sb::Status::memory_limit},
      {"limit reached (cache reclaimed), clean exit", ev([](auto& e) { e.memory_limit_hit = true; }), sb::Status::ok},
      {"crash after a large legal allocation", ev([](auto& e) { e.peak_bytes = 200 << 20; e.signal = 11; }), sb::Status::runtime_error},
      {"CPU counter past the limit", ev([](auto& e) { e.cpu_s = 2.0; }), sb::Status::time_limit},
      {"stopped at the CPU limit", ev([](auto& e) { e.cpu_killed = true; e.signal = 9; e.cpu_s = 1.97; }), sb::Status::time_limit},
      {"SIGXCPU", ev([](auto& e) { e.signal = 24; e.cpu_s = 1.5; }), sb::Status::time_limit},
      {"wall clock", ev([](auto& e) { e.wall_exceeded = true; e.signal = 9; }), sb::Status::time_limit},
      {"output cap beats everything", ev([](auto& e) { e.output_exceeded = true; e.oom_killed = true; e.cpu_s = 9; }),
       sb::Status::output_limit},
      {"seccomp kill", ev([](auto& e) { e.signal = 31; }), sb::Status::denied},
      {"SIGSYS without seccomp is a crash", ev([](auto& e) { e.signal = 31; e.seccomp = false; }), sb::Status::runtime_error},
      {"no report and no evidence", ev([](auto& e) { e.ran = false; }), sb::Status::internal_error},
      {"rlimits: RSS at the limit, crash", ev([](auto& e) { e.cgroup = false; e.peak_rss_kb = 250 << 10; e.signal = 11; }),
       sb::Status::memory_limit},
      {"rlimits: RSS at the limit, clean exit", ev([](auto& e) { e.cgroup = false; e.peak_rss_kb = 250 << 10; }), sb::Status::ok},
      {"rlimits: an OOM flag is not looked at", ev([](auto& e) { e.cgroup = false; e.oom_killed = true; }), sb::Status::ok},
  };
  for (const auto& r : rows) {
    std::string message;
    EXPECT_EQ(d::decide_status(r.e, &message), r.want) << r.what << " (" << message << ")";
  }
}

TEST(CgroupV2Fake, ExplicitRootRunsJoinTheGroupAndAreJudgedByItsCounters) {
  reval::test::TempDir root;
  put(root.file("cgroup.controllers"), "cpuset cpu io memory pids\n");
  put(root.file("cgroup.subtree_control"), "");
  put(root.file("cgroup.procs"), "");
  sb::Policy p;
  p.workers = 1;
  p.cgroup_root = root.path();
  p.limits = sb::Limits::cgroup_v2;
  p.memory_limit_mb = 256;
  p.processes = 50;
  p.time_limit_s = 2;
  p.wall_time_limit_s = 60;
  auto box = sb::make_sandbox(p);
  sb::Request req;
  req.argv = {"/usr/bin/python3", "-c", "print('hi')"};
  auto r = box->run(req);
  ASSERT_EQ(r.status, sb::Status::ok) << r.message << r.stderr_data;
  EXPECT_EQ(r.limits, "cgroup-v2");
  // The folders and files a real v2 hierarchy would have been given.
  EXPECT_NE(slurp(root.file("cgroup.subtree_control")).find("+memory"), std::string::npos);
  const std::string mine = root.file(base());
  EXPECT_NE(slurp(mine + "/cgroup.subtree_control").find("+memory"), std::string::npos);
  const std::string slot = only_subdir(mine);
  ASSERT_FALSE(slot.empty());
  EXPECT_EQ(slurp(slot + "/memory.max"), std::to_string(256 << 20));
  EXPECT_EQ(slurp(slot + "/memory.swap.max"), "0");
  EXPECT_EQ(slurp(slot + "/pids.max"), "50");
  EXPECT_EQ(slurp(slot + "/cgroup.procs"), "0");  // the run's init moved itself in ("0": the writer)
  // A limit that changes for one request is written before that run.
  sb::Policy big = p;
  big.memory_limit_mb = 512;
  req.policy = big;
  ASSERT_EQ(box->run(req).status, sb::Status::ok);
  EXPECT_EQ(slurp(slot + "/memory.max"), std::to_string(512 << 20));
  req.policy.reset();
  // The kernel's OOM killer acted in the group during a run: memory_limit, whatever the program printed or exited.
  put(slot + "/memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
  r = box->run(req);
  EXPECT_EQ(r.status, sb::Status::memory_limit) << r.message;
  EXPECT_TRUE(r.oom_killed);
  EXPECT_EQ(box->run(req).status, sb::Status::ok);  // counters are per run: the next run starts from there
  // The group's CPU counter is past the limit: the worker stops the run (a program that would sleep for 30 s).
  put(slot + "/cpu.stat", "usage_usec 9000000\nuser_usec 9000000\nsystem_usec 0\n");
  sb::Request sleeper;
  sleeper.argv = {"/usr/bin/python3", "-c", "import time; time.sleep(30)"};
  r = box->run(sleeper);
  EXPECT_EQ(r.status, sb::Status::time_limit) << r.message;
  EXPECT_NE(r.message.find("CPU"), std::string::npos) << r.message;
  EXPECT_LT(r.wall_s, 30);
  EXPECT_EQ(box->run(req).status, sb::Status::ok);
  box.reset();
  EXPECT_FALSE(fs::exists(slot)) << "the pool removes its groups";
}

TEST(CgroupV2Fake, DetectionFromOurOwnGroup) {
  reval::test::TempDir t;
  const std::string mount = t.file("cg"), own = mount + "/user.slice/app.scope";
  put(mount + "/cgroup.controllers", "cpu memory pids\n");
  put(mount + "/cgroup.subtree_control", "cpu memory pids\n");
  put(own + "/cgroup.controllers", "memory pids\n");
  put(own + "/cgroup.subtree_control", "");
  put(own + "/cgroup.procs", std::to_string(getpid()) + "\n");
  put(t.file("cgroup"), "0::/user.slice/app.scope\n");
  put(t.file("mountinfo"), "30 24 0:26 / " + mount + " rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n");
  d::CgroupSources src;
  src.proc_self_cgroup = t.file("cgroup");
  src.mountinfo = t.file("mountinfo");
  // Alone in a writable group that has the memory controller: use it, after moving into a leaf of our own.
  auto probe = d::probe_cgroups(d::CgroupWant::any, src);
  EXPECT_EQ(probe.kind, d::CgroupKind::v2) << probe.why_not;
  EXPECT_EQ(probe.v2_dir, own + "/" + base());
  EXPECT_FALSE(fs::exists(own + "/" + base())) << "probing changes nothing";
  const auto& setup = d::cgroup_setup(d::CgroupWant::v2_only, src);
  ASSERT_EQ(setup.kind, d::CgroupKind::v2) << setup.why_not;
  EXPECT_EQ(slurp(own + "/" + base() + "-main/cgroup.procs"), std::to_string(getpid()));
  EXPECT_NE(slurp(own + "/cgroup.subtree_control").find("+memory"), std::string::npos);
  EXPECT_TRUE(fs::is_directory(setup.v2_dir));
  // Another process shares the group: not delegated to us (as root, the hierarchy's root would be used instead).
  put(own + "/cgroup.procs", std::to_string(getpid()) + "\n1\n");
  put(own + "/cgroup.subtree_control", "");
  put(mount + "/cgroup.controllers", "cpu\n");
  auto shared = d::probe_cgroups(d::CgroupWant::v2_only, src);
  EXPECT_EQ(shared.kind, d::CgroupKind::none);
  EXPECT_NE(shared.why_not.find("not delegated"), std::string::npos) << shared.why_not;
  if (geteuid() == 0) {
    put(mount + "/cgroup.controllers", "cpu memory pids\n");
    auto as_root = d::probe_cgroups(d::CgroupWant::v2_only, src);
    EXPECT_EQ(as_root.kind, d::CgroupKind::v2) << as_root.why_not;
    EXPECT_EQ(as_root.v2_dir, mount + "/" + base());
  }
  // No memory controller in v2 (it is bound to v1): v2 is not used, and says why.
  put(own + "/cgroup.controllers", "pids\n");
  auto no_memory = d::probe_cgroups(d::CgroupWant::v2_only, src);
  EXPECT_EQ(no_memory.kind, d::CgroupKind::none);
  EXPECT_NE(no_memory.why_not.find("memory controller"), std::string::npos) << no_memory.why_not;
}

TEST(CgroupV1Fake, DetectionPerController) {
  reval::test::TempDir t;
  for (const char* c : {"memory", "cpuacct", "pids"}) fs::create_directories(t.file(std::string(c) + "/jobs/42"));
  put(t.file("cgroup"), "9:pids:/jobs/42\n4:memory:/jobs/42\n2:cpu,cpuacct:/jobs/42\n0::/\n");
  put(t.file("mountinfo"),
      "40 30 0:40 / " + t.file("memory") + " rw - cgroup cgroup rw,memory\n"
      "41 30 0:41 / " + t.file("cpuacct") + " rw - cgroup cgroup rw,cpu,cpuacct\n"
      "42 30 0:42 / " + t.file("pids") + " rw - cgroup cgroup rw,pids\n");
  d::CgroupSources src;
  src.proc_self_cgroup = t.file("cgroup");
  src.mountinfo = t.file("mountinfo");
  auto s = d::probe_cgroups(d::CgroupWant::any, src);
  ASSERT_EQ(s.kind, d::CgroupKind::v1) << s.why_not;
  EXPECT_EQ(s.v1_memory, t.file("memory/jobs/42/" + base()));
  EXPECT_EQ(s.v1_cpuacct, t.file("cpuacct/jobs/42/" + base()));
  EXPECT_EQ(s.v1_pids, t.file("pids/jobs/42/" + base()));
  EXPECT_NE(s.why_not.find("cgroup v2"), std::string::npos) << "says why v2 was not used: " << s.why_not;
  EXPECT_EQ(d::probe_cgroups(d::CgroupWant::v2_only, src).kind, d::CgroupKind::none);
  EXPECT_EQ(d::probe_cgroups(d::CgroupWant::none, src).kind, d::CgroupKind::none);
}

TEST(TreeLimits, RequiredIsolationRefusesWhatCannotBeHad) {
  reval::test::TempDir empty;  // not a cgroup v2 folder at all
  sb::Policy p;
  p.workers = 1;
  p.cgroup_root = empty.path();
  p.limits = sb::Limits::cgroup_v2;
  sb::Request req;
  req.argv = {"/usr/bin/python3", "-c", "print('ran')"};
  auto refused = sb::make_sandbox(p)->run(req);
  EXPECT_EQ(refused.status, sb::Status::internal_error);
  EXPECT_NE(refused.message.find("tree-wide limits"), std::string::npos) << refused.message;
  EXPECT_TRUE(refused.stdout_data.empty());
  p.isolation = sb::Isolation::best_effort;  // the same, allowed to run weaker: rlimits, and it says so
  auto weaker = sb::make_sandbox(p)->run(req);
  EXPECT_EQ(weaker.status, sb::Status::ok) << weaker.message;
  EXPECT_EQ(weaker.limits, "rlimit");
  EXPECT_EQ(weaker.stdout_data, "ran\n");
  p.isolation = sb::Isolation::required;  // auto never refuses: it uses what there is and says which
  p.limits = sb::Limits::automatic;
  auto any = sb::make_sandbox(p)->run(req);
  EXPECT_EQ(any.status, sb::Status::ok) << any.message;
  EXPECT_EQ(any.limits, "rlimit");  // an explicit cgroup_root that isn't one: nothing else is tried
  auto probe = sb::probe_features(p);
  EXPECT_EQ(probe["limits"], "rlimit");
  EXPECT_NE(probe["cgroup"]["why"].get<std::string>().find("not a cgroup v2"), std::string::npos) << probe.dump();
}

// This machine's own cgroups, when it has them: a run's processes are in a group of their own, which it sees as /.
TEST(TreeLimits, RealCgroupsWhereAvailable) {
  auto probe = sb::probe_features();
  if (probe["limits"] == "rlimit") GTEST_SKIP() << "no cgroups here: " << probe["cgroup"].dump();
  sb::Policy p;
  p.workers = 1;
  auto box = sb::make_sandbox(p);
  sb::Request req;
  req.argv = {"/usr/bin/python3", "-c", "print(open('/proc/self/cgroup').read())"};
  auto r = box->run(req);
  ASSERT_EQ(r.status, sb::Status::ok) << r.message << r.stderr_data;
  EXPECT_EQ(r.limits, probe["limits"]);
  EXPECT_GT(r.memory_peak_kb, 0);
  EXPECT_EQ(r.stdout_data.find("reval-"), std::string::npos) << r.stdout_data;  // a cgroup namespace: no host paths
}
