// The sandbox worker: a pre-isolated "zygote" process that executes untrusted programs one at a time.
//
// Theory of operation
//  Setup, once per worker (paid once, not per run):
//   0. Wipe the host's environment and command line from memory (a run's init is a copy of this process, and
//      /proc/1/cmdline reads that memory); open the control files of this worker's cgroup (see cgroup.hpp) while
//      still privileged.
//   1. Close every inherited fd except the request socket; when started as root, drop to Policy::run_uid (so
//      rlimits such as RLIMIT_NPROC apply: the kernel exempts uid 0 and files only root may read stay unreadable).
//   2. unshare(user, mount, net, ipc, uts). The new user namespace maps a single uid/gid 1000 to our outer uid, so
//      the program runs as an unprivileged user and execve() clears every capability. The new net namespace holds
//      only a downed loopback: no traffic can leave, whatever the program does.
//   3. Build a new root on a tmpfs: read-only bind mounts of Policy::ro_binds (symlinks such as /bin -> usr/bin
//      are recreated), /dev/{null,zero,full,random,urandom}, an empty /work, /tmp -> /work, and /proc (a bind of the
//      host /proc so the kernel allows fresh proc mounts later; every run covers it with its own). pivot_root into
//      it, detach the old root, and remount the root tmpfs read-only.
//   4. Build the seccomp filter (libseccomp) once.
//  Per run:
//   5. Write the run's limits to the worker's cgroup (only when they changed) and put stdin in a sealed memfd (the
//      worker's, so its pages are not charged to the run; a host stdin file is streamed into it with sendfile).
//   6. clone(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC) an init process (pid 1 of the run; a fresh IPC namespace,
//      so SysV objects die with the run). init joins the cgroup first, then unshares a cgroup namespace, mounts a
//      size-limited tmpfs on /work and a fresh /proc, writes the request's files and forks the program: setsid,
//      fds 0-2 (and 3: a linked run's socket), rlimits, no_new_privs, seccomp, execve. init reaps everything until
//      the program exits, then kills and reaps whatever the program left running (so all of it is counted), sends
//      the program's wait status and the collected files through a status pipe, and exits — and when a pid
//      namespace's init exits the kernel SIGKILLs every process left in it: nothing outlives a run.
//   7. The worker polls stdout, stderr, the status pipe and a pidfd of init until init exits or the wall deadline
//      passes. With a cgroup it also reads the group's CPU counter and stops the run when the whole tree reaches
//      the CPU limit; without one, init adds up its processes' CPU time from its own /proc and does the same.
//      Output beyond the cap stops the run with output_limit. Afterwards the cgroup counters (CPU, OOM kills, limit
//      hits, peak) or init's rusage are the evidence decide_status() judges by (docs/sandbox.md).
//  Why fork/clone and not Boost.Process: the child must do namespace, mount and seccomp steps between fork and
//  exec, and the worker is a single-threaded process, so raw clone() is both simpler and safe here.
//  Without user namespaces (and Isolation::best_effort) the worker skips 2-3 and 6's namespaces: runs get a private
//  temp dir, rlimits and seccomp only, a separate session that is killed as a group, and a message saying so.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/time.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "sandbox/internal.hpp"

namespace reval::sandbox::detail {
namespace {

constexpr const char* kNewRoot = "/tmp";  // mount point of the new root inside our private mount namespace
constexpr int kInnerId = 1000;

std::string errstr(const std::string& what) { return what + ": " + std::strerror(errno); }

bool write_file(const std::string& path, const std::string& content) {
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  close(fd);
  return ok;
}

bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

struct State {
  Policy policy;
  bool isolated = false;
  bool proc_ok = false;
  CgroupFiles cg;      // this worker's run group (inactive: rlimits only)
  std::string cg_why;  // why there is none
  // The seccomp filters as ready-made BPF (compiled once by libseccomp; a run only installs them).
  std::vector<sock_filter> seccomp_kill;   // kill_on_denied = true
  std::vector<sock_filter> seccomp_errno;  // kill_on_denied = false
};

// ---- setup -------------------------------------------------------------------------------------------------------

unsigned long locked_flags(const std::string& path) {
  struct statvfs vfs {};
  if (statvfs(path.c_str(), &vfs) != 0) return 0;
  unsigned long flags = 0;
  if (vfs.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (vfs.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (vfs.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (vfs.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (vfs.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (vfs.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

void mkdirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
}

// Binds host `src` read-only at the same path under the new root. Missing sources are skipped.
std::string bind_ro(const std::string& src, bool recursive_ro = true) {
  struct stat st {};
  if (lstat(src.c_str(), &st) != 0) return {};
  std::string dst = std::string(kNewRoot) + src;
  mkdirs(std::filesystem::path(dst).parent_path().string());
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = readlink(src.c_str(), target, sizeof target - 1);
    if (n < 0) return errstr("readlink " + src);
    target[n] = 0;
    if (symlink(target, dst.c_str()) != 0 && errno != EEXIST) return errstr("symlink " + dst);
    return {};
  }
  if (S_ISDIR(st.st_mode)) {
    mkdirs(dst);
  } else {
    int fd = open(dst.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return errstr("create " + dst);
    close(fd);
  }
  if (mount(src.c_str(), dst.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) return errstr("bind " + src);
  if (recursive_ro) {
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | locked_flags(dst);
    if (mount(nullptr, dst.c_str(), nullptr, flags, nullptr) != 0) return errstr("remount read-only " + src);
  }
  return {};
}

std::string enter_namespaces(const Policy& policy) {
  if (geteuid() == 0 && policy.run_uid > 0) {
    gid_t gid = static_cast<gid_t>(policy.run_uid);
    if (setgroups(0, nullptr) != 0) return errstr("setgroups");
    if (setresgid(gid, gid, gid) != 0) return errstr("setresgid");
    if (setresuid(static_cast<uid_t>(policy.run_uid), static_cast<uid_t>(policy.run_uid),
                  static_cast<uid_t>(policy.run_uid)) != 0)
      return errstr("setresuid");
  }
  // A process that changed uid (we just did, or the host did without exec) is not dumpable, and then its
  // /proc/self/{uid_map,gid_map,setgroups} stay owned by root. Set back to 0 once setup is done.
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) != 0)
    return errstr("unshare(user, mount, net, ipc, uts namespaces)");
  if (!write_file("/proc/self/setgroups", "deny")) return errstr("write /proc/self/setgroups");
  if (!write_file("/proc/self/uid_map", std::to_string(kInnerId) + " " + std::to_string(uid) + " 1"))
    return errstr("write uid_map");
  if (!write_file("/proc/self/gid_map", std::to_string(kInnerId) + " " + std::to_string(gid) + " 1"))
    return errstr("write gid_map");
  sethostname("sandbox", 7);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errstr("make / private");
  if (mount("tmpfs", kNewRoot, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") != 0)
    return errstr("mount root tmpfs");
  for (const auto& path : policy.ro_binds)
    if (auto err = bind_ro(path); !err.empty()) return err;
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}) {
    std::string dst = std::string(kNewRoot) + dev;
    mkdirs(std::string(kNewRoot) + "/dev");
    int fd = open(dst.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
    if (mount(dev, dst.c_str(), nullptr, MS_BIND, nullptr) != 0) return errstr(std::string("bind ") + dev);
  }
  mkdirs(std::string(kNewRoot) + "/work");
  symlink("/work", (std::string(kNewRoot) + "/tmp").c_str());
  symlink("/proc/self/fd", (std::string(kNewRoot) + "/dev/fd").c_str());
  symlink("/proc/self/fd/0", (std::string(kNewRoot) + "/dev/stdin").c_str());
  symlink("/proc/self/fd/1", (std::string(kNewRoot) + "/dev/stdout").c_str());
  symlink("/proc/self/fd/2", (std::string(kNewRoot) + "/dev/stderr").c_str());
  mkdirs(std::string(kNewRoot) + "/proc");
  if (policy.mount_proc) {
    // Not read-only: it is always covered by the run's own /proc; it only has to exist so proc mounts are allowed.
    if (mount("/proc", (std::string(kNewRoot) + "/proc").c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
      return errstr("bind /proc");
  }
  if (chdir(kNewRoot) != 0) return errstr("chdir new root");
  if (syscall(SYS_pivot_root, ".", ".") != 0) return errstr("pivot_root");
  if (umount2(".", MNT_DETACH) != 0) return errstr("detach old root");
  if (chdir("/") != 0) return errstr("chdir /");
  if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0)
    return errstr("remount / read-only");
  return {};
}

scmp_filter_ctx build_seccomp(bool kill) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return nullptr;
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);  // binary search over syscall numbers, not a linear scan
  const uint32_t deny = kill ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ERRNO(EPERM);
  const char* denied[] = {
      "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount", "umount2", "pivot_root", "chroot",
      "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "init_module",
      "finit_module", "delete_module", "unshare", "setns", "reboot", "swapon", "swapoff", "acct", "quotactl",
      "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "iopl", "ioperm",
      "syslog", "userfaultfd", "fanotify_init", "open_by_handle_at", "name_to_handle_at", "lookup_dcookie",
      "io_uring_setup", "io_uring_enter", "io_uring_register", "fsopen", "fsmount", "fsconfig", "fspick",
      "move_mount", "open_tree", "mount_setattr", "nfsservctl", "vhangup", "personality", "uselib", "kcmp"};
  for (const char* name : denied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    if (seccomp_rule_add(ctx, deny, nr, 0) != 0) {
      seccomp_release(ctx);
      return nullptr;
    }
  }
  // Sockets: AF_UNIX only (the net namespace already cuts the network; this also blocks raw/netlink sockets).
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX));
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX));
  // New namespaces through clone flags; clone3 passes flags in memory, so it reports ENOSYS and libc falls back.
  for (unsigned long flag : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS,
                             CLONE_NEWCGROUP})
    seccomp_rule_add(ctx, deny, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  // TIOCSTI would let a program type into a terminal it shares (it never gets one; defence in depth).
  seccomp_rule_add(ctx, deny, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, 0x5412u));
  return ctx;
}

// Compiles a libseccomp filter to BPF (through a memfd) and releases the context.
std::vector<sock_filter> export_bpf(scmp_filter_ctx ctx) {
  std::vector<sock_filter> out;
  if (!ctx) return out;
  int fd = static_cast<int>(syscall(SYS_memfd_create, "bpf", 0u));
  if (fd >= 0 && seccomp_export_bpf(ctx, fd) == 0) {
    off_t size = lseek(fd, 0, SEEK_END);
    if (size > 0 && size % static_cast<off_t>(sizeof(sock_filter)) == 0) {
      out.resize(static_cast<size_t>(size) / sizeof(sock_filter));
      if (pread(fd, out.data(), static_cast<size_t>(size), 0) != size) out.clear();
    }
  }
  if (fd >= 0) close(fd);
  seccomp_release(ctx);
  return out;
}

// ---- one run -----------------------------------------------------------------------------------------------------

struct RunSpec {
  std::vector<std::string> argv;
  std::vector<File> files;
  std::string stdin_data;
  int stdin_file_fd = -1;  // a host file to copy to stdin (received from the pool)
  int channel_fd = -1;     // the linked run's socket end (fd 3 of the program)
  std::vector<std::string> collect;
  Policy policy;
};

void set_limit(int resource, rlim_t soft, rlim_t hard) {
  struct rlimit rl {soft, hard};
  setrlimit(resource, &rl);
}

// Moves `fd` to a number >= 10 (keeping it open across the dup2 calls below).
int lift(int fd) {
  if (fd < 0) return fd;
  return fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

// In the program process (after fork from init): never returns.
[[noreturn]] void exec_program(const State& state, const RunSpec& spec, bool tree_limits, int stdin_fd, int out_fd,
                               int err_fd, int exec_err_fd, const std::string& workdir) {
  setsid();
  int in = lift(stdin_fd), out = lift(out_fd), err = lift(err_fd), chan = lift(spec.channel_fd),
      xerr = lift(exec_err_fd);
  auto fail = [&](int code) {
    int e = code;
    write_all(xerr, reinterpret_cast<const char*>(&e), sizeof e);
    _exit(127);
  };
  if (in < 0 || out < 0 || err < 0 || xerr < 0 || (spec.channel_fd >= 0 && chan < 0)) fail(errno);
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
  const unsigned first_free = chan >= 0 ? 4u : 3u;
  if (chan >= 0) dup2(chan, 3);
  // Everything else closes at exec (the exec-error pipe too, which tells init that exec worked).
  if (syscall(SYS_close_range, first_free, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */) != 0) {
    for (int fd = static_cast<int>(first_free); fd < 1024; ++fd)
      if (fd != xerr) close(fd);
  }
  if (chdir(workdir.c_str()) != 0) fail(errno);
  const Policy& p = spec.policy;
  rlim_t cpu = static_cast<rlim_t>(std::ceil(std::max(p.time_limit_s, 0.01)));
  set_limit(RLIMIT_CPU, cpu, cpu + 1);  // per process; the whole tree's time is watched by the worker or init
  rlim_t mem = static_cast<rlim_t>(p.memory_limit_mb) << 20;
  // Under a cgroup the memory limit is the whole run's real usage; RLIMIT_AS (address space, per process) would
  // make large but untouched reservations fail, and allocation failures leave no evidence of the limit.
  if (p.memory_limit_mb > 0 && !tree_limits) set_limit(RLIMIT_AS, mem, mem);
  rlim_t stack = static_cast<rlim_t>(p.stack_limit_mb) << 20;
  if (p.memory_limit_mb > 0) stack = std::min(stack, mem);
  if (p.stack_limit_mb > 0) set_limit(RLIMIT_STACK, stack, stack);
  set_limit(RLIMIT_FSIZE, static_cast<rlim_t>(p.file_size_limit_mb) << 20, static_cast<rlim_t>(p.file_size_limit_mb) << 20);
  set_limit(RLIMIT_NOFILE, static_cast<rlim_t>(p.open_files), static_cast<rlim_t>(p.open_files));
  set_limit(RLIMIT_NPROC, static_cast<rlim_t>(p.processes), static_cast<rlim_t>(p.processes));
  set_limit(RLIMIT_CORE, 0, 0);
  set_limit(RLIMIT_MEMLOCK, 0, 0);
  set_limit(RLIMIT_MSGQUEUE, 0, 0);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : p.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(errno);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGALRM, SIG_DFL);
  if (p.seccomp) {
    const auto& filter = p.kill_on_denied ? state.seccomp_kill : state.seccomp_errno;
    sock_fprog prog{static_cast<unsigned short>(filter.size()), const_cast<sock_filter*>(filter.data())};
    if (filter.empty() || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) fail(errno ? errno : ENOSYS);
  }
  execve(argv[0], argv.data(), envp.data());
  fail(errno);
  _exit(127);
}

// Status pipe payload written by init: [u8 kind] then data. kind 0: program ran -> i32 wait status, u8 flags
// (1: init stopped the run at the CPU limit), i64 init's own CPU ns, then collected files as (u32 name length,
// name, i64 size or -1, bytes). kind 1: setup failed -> message. kind 2: exec failed -> i32 errno.
void put_u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void put_i64(std::string& out, int64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }

// In init: who to SIGKILL when the worker asks the run to stop. -1 inside a pid namespace means everything in it
// but init; without namespaces it is the program's process group (never -1 there: that would reach the host).
volatile pid_t g_kill_target = 0;
volatile sig_atomic_t g_tick = 0;
void on_stop_request(int) {
  if (g_kill_target != 0) kill(g_kill_target, SIGKILL);
}
void on_tick(int) { g_tick = 1; }

std::int64_t ns_of(const timeval& a, const timeval& b) {
  return (static_cast<std::int64_t>(a.tv_sec) + b.tv_sec) * 1000000000LL +
         (static_cast<std::int64_t>(a.tv_usec) + b.tv_usec) * 1000LL;
}

// Without a cgroup: CPU time of every process of the run so far, seen from its init (pid 1 of the run's pid
// namespace, with the run's own /proc): live processes' own and reaped-children time, plus what init reaped.
std::int64_t tree_cpu_ns() {
  static const long ticks = sysconf(_SC_CLK_TCK);
  struct rusage ru {};
  getrusage(RUSAGE_CHILDREN, &ru);
  std::int64_t total = ns_of(ru.ru_utime, ru.ru_stime);
  DIR* d = opendir("/proc");
  if (!d) return total;
  while (dirent* e = readdir(d)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 1) continue;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    const char* p = std::strrchr(buf, ')');
    if (!p) continue;
    // Fields after ")": state(3) ... utime(14) stime(15) cutime(16) cstime(17).
    unsigned long long v[4] = {0, 0, 0, 0};
    int field = 2;
    for (const char* q = p + 1; *q && field < 17; ++q) {
      if (*q != ' ') continue;
      ++field;
      if (field >= 14 && field <= 17) v[field - 14] = std::strtoull(q + 1, nullptr, 10);
    }
    total += static_cast<std::int64_t>((v[0] + v[1] + v[2] + v[3]) * (1000000000ULL / static_cast<unsigned long long>(ticks)));
  }
  closedir(d);
  return total;
}

[[noreturn]] void run_init(const State& state, const RunSpec& spec, bool tree_limits, int stdin_fd, int out_fd,
                           int err_fd, int status_fd, const std::string& workdir) {
  auto setup_fail = [&](const std::string& msg) {
    std::string payload(1, '\1');
    payload += msg;
    write_all(status_fd, payload.data(), payload.size());
    _exit(1);
  };
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // a dying worker takes the run (and its pid namespace) with it
  prctl(PR_SET_NAME, "init", 0, 0, 0);        // /proc/1/comm says nothing about the host
  // Join the run's cgroup before anything else: every byte and CPU second of the run is charged to it.
  if (tree_limits && !state.cg.join()) setup_fail(errstr("join the run's cgroup"));
  if (state.isolated) {
    unshare(CLONE_NEWCGROUP);  // /proc/self/cgroup shows "/" instead of host paths (best effort)
    std::string opts = "size=" + std::to_string(spec.policy.work_dir_mb) + "m,mode=0755";
    if (mount("tmpfs", "/work", "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) setup_fail(errstr("mount /work"));
    if (spec.policy.mount_proc && state.proc_ok)
      mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);  // best effort
  } else {
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);  // orphans of the run come to us, so we can count and kill them
  }
  for (const auto& f : spec.files) {
    if (f.name.empty() || f.name.front() == '/' || f.name.find("..") != std::string::npos)
      setup_fail("bad file name '" + f.name + "'");
    std::string path = workdir + "/" + f.name;
    auto parent = std::filesystem::path(path).parent_path().string();
    mkdirs(parent);
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, f.executable ? 0755 : 0644);
    if (fd < 0 || !write_all(fd, f.content.data(), f.content.size())) setup_fail(errstr("write " + f.name));
    close(fd);
  }
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) setup_fail(errstr("pipe"));
  pid_t child = fork();
  if (child < 0) setup_fail(errstr("fork program"));
  if (child == 0) {
    close(exec_pipe[0]);
    exec_program(state, spec, tree_limits, stdin_fd, out_fd, err_fd, exec_pipe[1], workdir);
  }
  g_kill_target = state.isolated ? -1 : -child;
  struct sigaction sa {};
  sa.sa_handler = on_stop_request;  // no SA_RESTART: waitpid below returns EINTR and goes on waiting
  sigaction(SIGUSR1, &sa, nullptr);
  close(exec_pipe[1]);
  close(out_fd);
  close(err_fd);
  close(stdin_fd);
  if (spec.channel_fd >= 0) close(spec.channel_fd);  // only the program holds the link now: its end means EOF
  int exec_errno = 0;
  ssize_t got;
  do got = read(exec_pipe[0], &exec_errno, sizeof exec_errno);
  while (got < 0 && errno == EINTR);
  if (got == sizeof exec_errno) {
    waitpid(child, nullptr, 0);
    std::string payload(1, '\2');
    payload.append(reinterpret_cast<const char*>(&exec_errno), sizeof exec_errno);
    write_all(status_fd, payload.data(), payload.size());
    _exit(1);
  }
  // Without a cgroup, init adds up the CPU time of the run's processes itself (it sees exactly them in its /proc)
  // and stops the run at the limit.
  const bool watch_cpu = !tree_limits && state.isolated && state.proc_ok && spec.policy.mount_proc;
  const std::int64_t cpu_limit_ns = static_cast<std::int64_t>(spec.policy.time_limit_s * 1e9);
  if (watch_cpu) {
    struct sigaction ta {};
    ta.sa_handler = on_tick;
    sigaction(SIGALRM, &ta, nullptr);
    itimerval iv{{0, 50000}, {0, 50000}};
    setitimer(ITIMER_REAL, &iv, nullptr);
  }
  bool cpu_killed = false;
  // Reap everything (orphans re-parent to us) until the program itself exits.
  int status = 0;
  for (;;) {
    int st = 0;
    pid_t pid = waitpid(-1, &st, 0);
    if (pid == child) {
      status = st;
      break;
    }
    if (pid < 0 && errno != EINTR) break;
    if (g_tick) {
      g_tick = 0;
      if (!cpu_killed && tree_cpu_ns() >= cpu_limit_ns) {
        cpu_killed = true;
        kill(g_kill_target, SIGKILL);
      }
    }
  }
  if (watch_cpu) {
    itimerval off{};
    setitimer(ITIMER_REAL, &off, nullptr);
  }
  // The program is done: nothing it started may run on (or go uncounted). Kill the rest and reap all of it, so
  // their CPU time reaches our rusage (and the worker's wait4). Without a pid namespace only the program's process
  // group can be killed, and whatever left it must not keep us waiting.
  kill(g_kill_target, SIGKILL);
  if (state.isolated) {
    while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
    }
  } else {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }
  struct rusage self {};
  getrusage(RUSAGE_SELF, &self);
  std::string payload(1, '\0');
  payload.append(reinterpret_cast<const char*>(&status), sizeof status);
  payload += static_cast<char>(cpu_killed ? 1 : 0);
  put_i64(payload, ns_of(self.ru_utime, self.ru_stime));
  for (const auto& name : spec.collect) {
    put_u32(payload, static_cast<uint32_t>(name.size()));
    payload += name;
    std::string path = workdir + "/" + name;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    std::string data;
    bool ok = fd >= 0;
    if (ok) {
      char buf[65536];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
      close(fd);
    }
    put_i64(payload, ok ? static_cast<int64_t>(data.size()) : -1);
    payload += data;
  }
  write_all(status_fd, payload.data(), payload.size());
  _exit(0);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The program's stdin: a sealed memfd the worker fills (so its pages are never charged to the run), from the
// request's bytes or, streamed, from a host file the pool opened.
int make_stdin(const RunSpec& spec, std::string& error) {
  int fd = static_cast<int>(syscall(SYS_memfd_create, "stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd < 0) {
    error = errstr("memfd_create");
    return -1;
  }
  bool ok = true;
  if (spec.stdin_file_fd >= 0) {
    bool copy_by_hand = false;  // sendfile needs a file it can map; a pipe or a terminal is read the plain way
    for (bool first = true;; first = false) {
      ssize_t n = sendfile(fd, spec.stdin_file_fd, nullptr, 1 << 30);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && first && (errno == EINVAL || errno == ENOSYS)) copy_by_hand = true;
      else if (n < 0) {
        error = errstr("copy the stdin file");
        ok = false;
      }
      if (n <= 0) break;
    }
    std::vector<char> buf(copy_by_hand ? 1 << 16 : 0);
    while (copy_by_hand && ok) {
      ssize_t n = read(spec.stdin_file_fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = errstr("read the stdin file");
        ok = false;
      }
      if (n <= 0) break;
      if (!write_all(fd, buf.data(), static_cast<size_t>(n))) {
        error = errstr("write stdin");
        ok = false;
      }
    }
  } else {
    ok = write_all(fd, spec.stdin_data.data(), spec.stdin_data.size());
    if (!ok) error = errstr("write stdin");
  }
  if (!ok) {
    close(fd);
    return -1;
  }
  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  lseek(fd, 0, SEEK_SET);
  return fd;
}

bool wants_cgroup(Limits l) { return l == Limits::cgroup || l == Limits::cgroup_v2 || l == Limits::cgroup_v1; }

Result execute(State& state, const RunSpec& spec) {
  Result r;
  const Policy& p = spec.policy;
  if (spec.argv.empty()) {
    r.message = "empty argv";
    return r;
  }
  // How this run's limits hold for its process tree.
  const CgroupKind slot_kind = state.cg.kind();
  bool tree_limits = state.cg.active() && p.limits != Limits::rlimit &&
                     !(p.limits == Limits::cgroup_v2 && slot_kind != CgroupKind::v2) &&
                     !(p.limits == Limits::cgroup_v1 && slot_kind != CgroupKind::v1);
  std::string weaker;
  if (!tree_limits && wants_cgroup(p.limits)) {
    std::string why = state.cg.active() ? std::string("this sandbox's workers use ") + std::string(to_string(slot_kind))
                                        : state.cg_why;
    if (p.isolation == Isolation::required) {
      r.message = "tree-wide limits (" + std::string(to_string(p.limits)) + ") unavailable: " + why +
                  " (set limits to auto or rlimit, or isolation to best_effort)";
      return r;
    }
    weaker = "rlimits only (" + why + ")";
  }
  r.limits = std::string(tree_limits ? to_string(slot_kind) : to_string(CgroupKind::none));
  std::string error;
  const std::int64_t mem_bytes = p.memory_limit_mb > 0 ? p.memory_limit_mb << 20 : -1;
  if (tree_limits && !state.cg.prepare(mem_bytes, p.processes, &error)) {
    r.message = "cgroup: " + error;
    return r;
  }
  int stdin_fd = make_stdin(spec, error);
  if (stdin_fd < 0) {
    r.message = error;
    return r;
  }
  int out[2], err[2], st[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(st, O_CLOEXEC) != 0) {
    r.message = errstr("pipe");
    close(stdin_fd);
    return r;
  }
  std::string workdir = "/work";
  if (!state.isolated) {
    char tmpl[] = "/tmp/reval-run-XXXXXX";
    if (!mkdtemp(tmpl)) {
      r.message = errstr("mkdtemp");
      return r;
    }
    workdir = tmpl;
  }
  auto t0 = std::chrono::steady_clock::now();
  unsigned long flags = SIGCHLD | (state.isolated ? (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC) : 0);
  long init = syscall(SYS_clone, flags, nullptr, nullptr, nullptr, nullptr);
  if (init == 0) {
    close(out[0]);
    close(err[0]);
    close(st[0]);
    run_init(state, spec, tree_limits, stdin_fd, out[1], err[1], st[1], workdir);
  }
  close(out[1]);
  close(err[1]);
  close(st[1]);
  close(stdin_fd);
  if (init < 0) {
    r.message = errstr("clone");
    close(out[0]);
    close(err[0]);
    close(st[0]);
    return r;
  }
  pid_t init_pid = static_cast<pid_t>(init);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, init_pid, 0u));
  const double wall_limit = p.effective_wall_s();
  std::string status_data;
  bool wall_exceeded = false, output_exceeded = false, cpu_exceeded = false, init_done = false;
  std::chrono::steady_clock::time_point drain_deadline{};
  int fds[3] = {out[0], err[0], st[0]};
  std::string* bufs[3] = {&r.stdout_data, &r.stderr_data, &status_data};
  bool* truncs[3] = {&r.stdout_truncated, &r.stderr_truncated, nullptr};
  const size_t cap = static_cast<size_t>(std::max<int64_t>(p.output_limit_bytes, 0));
  std::vector<char> buf(1 << 16);
  // Stopping a run: SIGUSR1 asks init to SIGKILL everything else and report (so CPU time and status are still
  // known); if init hasn't exited a second later it is SIGKILLed, which kills the namespace all the same.
  bool soft_killed = false;
  std::chrono::steady_clock::time_point hard_deadline{};
  auto kill_init = [&] {
    if (soft_killed) return;
    soft_killed = true;
    kill(init_pid, SIGUSR1);
    hard_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  };
  // With a cgroup, the worker watches the CPU time of the whole tree: at most every 250 ms, and sooner when the
  // limit could be reached sooner with every CPU busy.
  static const double cpus = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  const std::int64_t cpu_limit_ns = static_cast<std::int64_t>(p.time_limit_s * 1e9);
  auto next_cpu_check = t0;
  for (;;) {
    struct pollfd pfd[4];
    int n = 0;
    int idx[4];
    for (int i = 0; i < 3; ++i)
      if (fds[i] >= 0) {
        pfd[n] = {fds[i], POLLIN, 0};
        idx[n++] = i;
      }
    if (!init_done && pidfd >= 0) {
      pfd[n] = {pidfd, POLLIN, 0};
      idx[n++] = 3;
    }
    if (n == 0) break;
    double remaining;
    if (init_done) {
      remaining = std::chrono::duration<double>(drain_deadline - std::chrono::steady_clock::now()).count();
    } else {
      remaining = wall_limit - seconds_since(t0);
      if (remaining <= 0 && !wall_exceeded) {
        wall_exceeded = true;
        kill_init();
      }
      if (tree_limits && !soft_killed) {
        auto now = std::chrono::steady_clock::now();
        if (now >= next_cpu_check) {
          std::int64_t used = state.cg.cpu_ns_now();
          if (used >= cpu_limit_ns) {
            cpu_exceeded = true;
            kill_init();
          } else {
            double wait = std::clamp(static_cast<double>(cpu_limit_ns - used) / 1e9 / cpus, 0.01, 0.25);
            next_cpu_check = now + std::chrono::microseconds(static_cast<std::int64_t>(wait * 1e6));
          }
        }
        remaining = std::min(remaining, std::chrono::duration<double>(next_cpu_check - now).count());
      }
      if (soft_killed) {
        double hard = std::chrono::duration<double>(hard_deadline - std::chrono::steady_clock::now()).count();
        if (hard <= 0) kill(init_pid, SIGKILL);
        remaining = std::max(hard, 0.005);
      }
      if (pidfd < 0) remaining = std::min(remaining, 0.01);  // no pidfd: poll waitpid below
    }
    if (remaining <= 0 && init_done) break;
    int timeout_ms = remaining <= 0 ? 1 : static_cast<int>(std::ceil(remaining * 1000));
    int rc = poll(pfd, static_cast<nfds_t>(n), timeout_ms);
    if (rc < 0 && errno != EINTR) break;
    for (int k = 0; k < n && rc > 0; ++k) {
      if (!pfd[k].revents) continue;
      int i = idx[k];
      if (i == 3) continue;
      ssize_t got = read(fds[i], buf.data(), buf.size());
      if (got <= 0) {
        if (got < 0 && errno == EINTR) continue;
        close(fds[i]);
        fds[i] = -1;
        continue;
      }
      std::string& b = *bufs[i];
      if (i < 2 && b.size() + static_cast<size_t>(got) > cap) {
        b.append(buf.data(), cap - b.size());
        *truncs[i] = true;
        if (!output_exceeded) {
          output_exceeded = true;
          kill_init();
        }
      } else {
        b.append(buf.data(), static_cast<size_t>(got));
      }
    }
    if (!init_done) {
      bool exited = false;
      if (pidfd >= 0) {
        for (int k = 0; k < n; ++k)
          if (idx[k] == 3 && pfd[k].revents) exited = true;
      } else {
        siginfo_t si{};
        exited = waitid(P_PID, static_cast<id_t>(init_pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
      }
      if (exited) {
        init_done = true;
        drain_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
      }
    }
  }
  for (int i = 0; i < 3; ++i)
    if (fds[i] >= 0) close(fds[i]);
  if (!init_done) kill(init_pid, SIGKILL);
  int init_status = 0;
  struct rusage ru {};
  while (wait4(init_pid, &init_status, 0, &ru) < 0 && errno == EINTR) {
  }
  if (pidfd >= 0) close(pidfd);
  r.wall_s = seconds_since(t0);
  r.peak_rss_kb = ru.ru_maxrss;
  CgroupCounters counters;
  if (tree_limits) {
    counters = state.cg.finish();
    std::int64_t peak = state.cg.peak_bytes();
    r.memory_peak_kb = peak >= 0 ? peak / 1024 : -1;
    r.oom_killed = counters.oom_kills > 0;
  }
  if (!state.isolated) {
    std::error_code ec;
    std::filesystem::remove_all(workdir, ec);
  }

  // Decode init's report.
  Evidence e;
  e.seccomp = p.seccomp;
  e.output_exceeded = output_exceeded;
  e.wall_exceeded = wall_exceeded;
  e.cpu_killed = cpu_exceeded;
  e.time_limit_s = p.time_limit_s;
  e.cgroup = tree_limits;
  e.oom_killed = r.oom_killed;
  e.memory_limit_hit = counters.limit_hits > 0;
  e.peak_bytes = r.memory_peak_kb >= 0 ? r.memory_peak_kb * 1024 : -1;
  e.memory_limit_bytes = mem_bytes;
  e.peak_rss_kb = r.peak_rss_kb;
  std::int64_t init_self_ns = 0;
  int wstatus = 0;
  if (!status_data.empty()) {
    char kind = status_data[0];
    if (kind == '\1') {
      r.status = Status::internal_error;
      r.message = "sandbox setup failed: " + status_data.substr(1);
      return r;
    }
    if (kind == '\2' && status_data.size() >= 5) {
      int en;
      std::memcpy(&en, status_data.data() + 1, sizeof en);
      r.status = Status::internal_error;
      r.message = "cannot execute '" + spec.argv[0] + "': " + std::strerror(en);
      return r;
    }
    if (kind == '\0' && status_data.size() >= 14) {
      e.ran = true;
      std::memcpy(&wstatus, status_data.data() + 1, sizeof wstatus);
      if (status_data[5] & 1) e.cpu_killed = true;
      std::memcpy(&init_self_ns, status_data.data() + 6, 8);
      size_t pos = 14;
      while (pos + 4 <= status_data.size()) {
        uint32_t len;
        std::memcpy(&len, status_data.data() + pos, 4);
        pos += 4;
        if (pos + len + 8 > status_data.size()) break;
        std::string name = status_data.substr(pos, len);
        pos += len;
        int64_t size;
        std::memcpy(&size, status_data.data() + pos, 8);
        pos += 8;
        if (size < 0) continue;
        if (pos + static_cast<size_t>(size) > status_data.size()) break;
        r.files[name] = status_data.substr(pos, static_cast<size_t>(size));
        pos += static_cast<size_t>(size);
      }
    }
  }
  // CPU time of every process of the run, init's own bookkeeping left out.
  const std::int64_t total_ns = tree_limits ? counters.cpu_ns : ns_of(ru.ru_utime, ru.ru_stime);
  r.cpu_s = static_cast<double>(std::max<std::int64_t>(total_ns - init_self_ns, 0)) / 1e9;
  e.cpu_s = r.cpu_s;
  if (e.ran) {
    if (WIFEXITED(wstatus)) r.exit_code = WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) r.signal = WTERMSIG(wstatus);
  }
  e.exit_code = r.exit_code;
  e.signal = r.signal;
  std::string message;
  r.status = decide_status(e, &message);
  if (r.status == Status::internal_error && !e.ran)
    message += " (status " + std::to_string(init_status) + ")";
  if (!state.isolated) weaker += std::string(weaker.empty() ? "" : "; ") + "weaker isolation: no namespaces (rlimits, seccomp and a temp dir only)";
  r.message = message;
  if (!weaker.empty()) r.message += (r.message.empty() ? "" : "; ") + weaker;
  return r;
}

RunSpec spec_from_wire(const nlohmann::json& w) {
  RunSpec s;
  s.argv = w.at("argv").get<std::vector<std::string>>();
  for (const auto& f : w.at("files")) s.files.push_back({f.at("name").get<std::string>(), bytes_of(f.at("content")), f.at("x").get<bool>()});
  s.stdin_data = bytes_of(w.at("stdin"));
  s.collect = w.at("collect").get<std::vector<std::string>>();
  s.policy = Policy::from_json(w.at("policy"));
  return s;
}

// Wipes the environment inherited from the host (its strings too: /proc/PID/environ reads that memory).
void wipe_environment() {
  for (char** e = environ; e && *e; ++e) std::memset(*e, 0, std::strlen(*e));
  clearenv();
}

// Wipes the command line inherited from the host process (/proc/PID/cmdline reads that memory, and every run's
// init is a copy of this process).
void wipe_cmdline() {
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[2048];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');
  if (!p) return;
  // Fields after ")": state is field 3; arg_start and arg_end are fields 48 and 49.
  unsigned long long start = 0, end = 0;
  int field = 2;
  for (const char* q = p + 1; *q && field < 49; ++q) {
    if (*q != ' ') continue;
    ++field;
    if (field == 48) start = std::strtoull(q + 1, nullptr, 10);
    if (field == 49) end = std::strtoull(q + 1, nullptr, 10);
  }
  if (start == 0 || end <= start || end - start > (1u << 20)) return;
  std::memset(reinterpret_cast<void*>(start), 0, end - start);
}

}  // namespace

Status decide_status(const Evidence& e, std::string* message) {
  auto say = [&](const std::string& m) {
    if (message) *message = m;
  };
  const bool abnormal = !e.ran || e.signal != 0 || e.exit_code != 0;
  if (e.output_exceeded) {
    say("output limit exceeded");
    return Status::output_limit;
  }
  if (e.ran && e.signal == SIGSYS && e.seccomp) {
    say("killed by seccomp: forbidden system call");
    return Status::denied;
  }
  // Memory before CPU: faulting pages in costs CPU time, so a run that ran out of memory may also be near its CPU
  // limit; the OOM kill is the evidence of what stopped it.
  if (e.cgroup) {
    if (e.oom_killed) {
      say("memory limit exceeded (the kernel's OOM killer stopped a process of the run)");
      return Status::memory_limit;
    }
    if (abnormal && e.memory_limit_bytes > 0 &&
        (e.memory_limit_hit || (e.peak_bytes >= 0 && e.peak_bytes >= e.memory_limit_bytes))) {
      say("memory limit exceeded (the run's memory reached the limit and it ended abnormally)");
      return Status::memory_limit;
    }
  } else if (abnormal && e.memory_limit_bytes > 0 && e.peak_rss_kb * 1024 >= e.memory_limit_bytes / 100 * 95) {
    say("memory limit exceeded (peak resident memory at the limit and it ended abnormally)");
    return Status::memory_limit;
  }
  if (e.cpu_killed || e.cpu_s >= e.time_limit_s || (e.ran && e.signal == SIGXCPU)) {
    say("CPU time limit exceeded");
    return Status::time_limit;
  }
  if (e.wall_exceeded) {
    say("wall time limit exceeded");
    return Status::time_limit;
  }
  if (!e.ran) {
    say("sandbox init ended without a report");
    return Status::internal_error;
  }
  if (e.signal) {
    say(std::string("killed by signal ") + strsignal(e.signal));
    return Status::runtime_error;
  }
  if (e.exit_code != 0) {
    say("exit code " + std::to_string(e.exit_code));
    return Status::runtime_error;
  }
  say("");
  return Status::ok;
}

[[noreturn]] void worker_main(int fd, const Policy& policy, const CgroupSlot& slot) {
  signal(SIGPIPE, SIG_IGN);
  wipe_environment();
  wipe_cmdline();
  State state;
  state.policy = policy;
  // The cgroup files are opened now, while this process may still (it drops root next).
  std::string limits_error;
  if (slot.kind != CgroupKind::none && !state.cg.open(slot, &limits_error)) state.cg_why = limits_error;
  if (slot.kind == CgroupKind::none) state.cg_why = slot.why_not.empty() ? "no cgroup for this worker" : slot.why_not;
  std::string error = enter_namespaces(policy);
  state.isolated = error.empty();
  state.proc_ok = state.isolated && policy.mount_proc;
  // Not dumpable: the program (same uid) can't read the worker's or init's memory, environ or fds via /proc.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  nlohmann::json hello = {{"ok", state.isolated || policy.isolation == Isolation::best_effort},
                          {"isolated", state.isolated},
                          {"error", error},
                          {"limits", to_string(state.cg.kind())},
                          {"limits_error", limits_error}};
  state.seccomp_kill = export_bpf(build_seccomp(true));
  state.seccomp_errno = export_bpf(build_seccomp(false));
  if (state.seccomp_kill.empty() || state.seccomp_errno.empty()) {
    hello["ok"] = false;
    hello["error"] = "cannot build the seccomp filter";
  }
  if (!write_message(fd, hello) || !hello["ok"].get<bool>()) _exit(0);
  nlohmann::json request;
  while (read_message(fd, request)) {
    Result result;
    std::vector<int> received;
    try {
      RunSpec spec = spec_from_wire(request);
      std::vector<std::string> names = request.value("fds", std::vector<std::string>{});
      if (!names.empty() && !recv_fds(fd, received, names.size())) throw std::runtime_error("lost the request's file descriptors");
      for (size_t i = 0; i < names.size(); ++i) {
        if (names[i] == "stdin") spec.stdin_file_fd = received[i];
        else if (names[i] == "channel") spec.channel_fd = received[i];
      }
      result = execute(state, spec);
    } catch (const std::exception& e) {
      result.status = Status::internal_error;
      result.message = std::string("worker: ") + e.what();
    }
    for (int f : received) close(f);
    if (!write_message(fd, result_to_wire(result))) break;
  }
  _exit(0);
}

}  // namespace reval::sandbox::detail
