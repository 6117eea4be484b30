// Private to sandbox/: limits for a run's whole process tree through cgroups (v2, or the v1 memory/pids/cpuacct
// controllers), and the evidence they give (CPU time of every process, OOM kills, the limit being hit, peak memory).
//
// Theory of operation
//  * Detection (once per process and setting, `cgroup_setup`): find where this process may create groups.
//     - v2: an explicit delegated directory (Policy::cgroup_root); else our own group from /proc/self/cgroup when
//       the memory controller is available there and we may write it. A v2 group that distributes controllers to
//       children may hold no processes, so reval moves itself into a leaf `reval-<pid>-main` first (only when it is
//       alone in its group); as root, the hierarchy's root is used when our own group can't be.
//     - v1: the memory and cpuacct (and pids, when mounted) hierarchies, in a child of our own group in each.
//    Everything of this process lives below `reval-<pid>` (v1: in each hierarchy); stale `reval-<pid>` folders of
//    processes that no longer exist are removed on the way.
//  * Slots: each pool worker gets one group (`reval-<pid>/p<pool>-w<k>`), created by the pool and reused run after
//    run (creating and removing groups per run costs more than the whole run's other overhead). The worker opens its
//    control files while still privileged; the run's init joins the group by writing "0" to cgroup.procs, so every
//    process of the run is in it, and nothing else is.
//  * Per run the worker writes the limits only when they change, and reads counters after the run; the counters of
//    the previous run's end are the baseline of the next (no process is in the group between runs).
//  * Test seam: `CgroupSources` says where to read /proc/self/cgroup and mountinfo from, and an explicit root may be
//    a plain directory with a `cgroup.controllers` file: files are opened with O_CREAT and written at offset 0, so a
//    fake tree behaves like cgroupfs for the code (tests/sandbox/cgroup_test.cpp).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace reval::sandbox::detail {

enum class CgroupKind { none, v1, v2 };
std::string_view to_string(CgroupKind kind);  // "rlimit" | "cgroup-v1" | "cgroup-v2"

// Which kinds detection may pick (from Policy::limits).
enum class CgroupWant { any, v2_only, v1_only, none };

struct CgroupSources {
  std::string proc_self_cgroup = "/proc/self/cgroup";
  std::string mountinfo = "/proc/self/mountinfo";
  std::string cgroup_root;  // explicit delegated v2 directory; empty = detect
};

struct CgroupSetup {
  CgroupKind kind = CgroupKind::none;
  std::string why_not;                         // kind == none: why (every kind tried, '; '-separated)
  std::string v2_dir;                          // v2: the folder slot groups go in (…/reval-<pid>)
  std::string v1_memory, v1_pids, v1_cpuacct;  // v1: the folders slot groups go in (pids may be empty)
  nlohmann::json describe() const;
};

// Process-wide, cached per (want, sources); safe to call from any thread. The first call for a setting may create
// folders and (v2, auto-detected) move this process into its leaf group.
const CgroupSetup& cgroup_setup(CgroupWant want, const CgroupSources& sources = {});
// What detection would find, without creating or moving anything (for `reval sandbox probe`).
CgroupSetup probe_cgroups(CgroupWant want, const CgroupSources& sources = {});

// One worker slot's groups (folders; v1 has one per controller).
struct CgroupSlot {
  CgroupKind kind = CgroupKind::none;
  std::string v2, memory, pids, cpuacct;
  std::string why_not;  // kind none: why this worker has no group
};
// Creates the slot's folders; on failure returns kind none and sets `error`.
CgroupSlot create_slot(const CgroupSetup& setup, const std::string& name, std::string* error);
// Removes the slot's folders (retrying briefly while the kernel finishes killing a run); best effort.
void remove_slot(const CgroupSlot& slot);

// Counters a run is judged by (differences between the end and the start of the run).
struct CgroupCounters {
  std::int64_t cpu_ns = 0;      // CPU time of every process that was in the group
  std::int64_t oom_kills = 0;   // processes the kernel's OOM killer killed in the group
  std::int64_t limit_hits = 0;  // times usage reached the memory limit (v1 failcnt, v2 memory.events max)
};

// The control files of one slot, opened in the worker while it still may (before it drops privileges).
class CgroupFiles {
 public:
  CgroupFiles() = default;
  CgroupFiles(const CgroupFiles&) = delete;
  CgroupFiles& operator=(const CgroupFiles&) = delete;
  ~CgroupFiles();
  // Opens the files and reads the baseline counters; false (with `error`) when the slot can't be used.
  bool open(const CgroupSlot& slot, std::string* error);
  bool active() const { return kind_ != CgroupKind::none; }
  CgroupKind kind() const { return kind_; }
  // Before a run: memory limit in bytes (<= 0: none; swap is held at the same limit), processes (<= 0: none), and
  // a fresh peak. False (with `error`) when a limit can't be set.
  bool prepare(std::int64_t memory_bytes, std::int64_t pids, std::string* error);
  // In the run's init: move the calling process into the group (every descendant follows).
  bool join() const;
  // CPU nanoseconds used in the group so far in this run.
  std::int64_t cpu_ns_now() const;
  // After a run: the run's counters; the end becomes the next run's baseline.
  CgroupCounters finish();
  std::int64_t peak_bytes() const;  // the run's peak memory; -1 when the kernel can't tell per run
  std::int64_t memory_limit_bytes() const { return mem_limit_; }
  // Closes every descriptor except in the caller's own use (the program never inherits them: they are O_CLOEXEC
  // and the program's fds are closed from 3 or 4 upward before exec anyway).

 private:
  CgroupCounters read_counters() const;
  CgroupKind kind_ = CgroupKind::none;
  bool fake_ = false;  // not a cgroup file system (tests): truncate after writing
  int procs_[3] = {-1, -1, -1};
  int mem_max_ = -1, swap_max_ = -1, mem_peak_ = -1, mem_events_ = -1, mem_failcnt_ = -1, pids_max_ = -1,
      cpu_ = -1;
  bool peak_resettable_ = true;
  std::int64_t mem_limit_ = -2, swap_limit_ = -2, pids_limit_ = -2;  // as last written (-2 = never)
  CgroupCounters base_;
};

}  // namespace reval::sandbox::detail
