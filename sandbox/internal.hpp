// Private to sandbox/: the wire protocol between the pool (parent) and a worker process, the worker entry point, and
// the verdict rules (a pure function, so tests can check the rule table without running anything).
// Messages are a 4-byte little-endian length followed by a MessagePack document (nlohmann::json with binary
// values for file contents and program output, so arbitrary bytes survive). File descriptors (a stdin file, the
// socket of a linked run) follow a request as one byte carrying SCM_RIGHTS; the request's "fds" names them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sandbox/cgroup.hpp"
#include "sandbox/sandbox.hpp"

namespace reval::sandbox::detail {

bool write_message(int fd, const nlohmann::json& message);
// Returns false on EOF or error.
bool read_message(int fd, nlohmann::json& message);
// One byte carrying `fds` (SCM_RIGHTS); the receiver gets them O_CLOEXEC.
bool send_fds(int sock, const std::vector<int>& fds);
bool recv_fds(int sock, std::vector<int>& fds, size_t count);

// `fd_names`: which descriptors follow the message, in order ("stdin", "channel").
nlohmann::json request_to_wire(const Request& request, const Policy& policy, const std::vector<std::string>& fd_names);
nlohmann::json result_to_wire(const Result& result);
Result result_from_wire(const nlohmann::json& wire);

// Runs in a freshly forked process: opens the slot's cgroup files, sets up isolation per `policy`, sends a hello
// message {"ok": bool, "isolated": bool, "error": str, "limits": "cgroup-v1"|..., "limits_error": str}, then
// serves requests on `fd` until EOF. Never returns.
[[noreturn]] void worker_main(int fd, const Policy& policy, const CgroupSlot& slot);

std::string bytes_of(const nlohmann::json& value);  // a binary or string value as bytes
nlohmann::json binary(const std::string& bytes);

// What the sandbox measured about one run; decide_status turns it into a Status (docs/sandbox.md has the table).
struct Evidence {
  bool ran = false;              // init reported how the main program ended
  int exit_code = -1, signal = 0;
  bool seccomp = true;           // a seccomp filter was installed (SIGSYS means a denied system call)
  bool output_exceeded = false;  // the worker stopped the run: stdout/stderr over the cap
  bool wall_exceeded = false;    // the worker stopped the run: wall clock
  bool cpu_killed = false;       // the run was stopped when its processes' CPU time reached the limit
  double cpu_s = 0, time_limit_s = 0;
  bool cgroup = false;                 // memory evidence below comes from the run's cgroup
  bool oom_killed = false;             // cgroup: the OOM killer killed a process of the run
  bool memory_limit_hit = false;       // cgroup: usage reached the limit (v1 failcnt, v2 memory.events max)
  std::int64_t peak_bytes = -1;        // cgroup: the run's peak (-1 unknown)
  std::int64_t memory_limit_bytes = 0; // <= 0: none
  std::int64_t peak_rss_kb = 0;        // rlimits: the largest process's peak RSS
};
Status decide_status(const Evidence& e, std::string* message);

}  // namespace reval::sandbox::detail
