// The real Sandbox: a pool of pre-isolated worker processes (see worker.cpp), plus the policy/result records.
//
// Theory of operation
//  Workers are forked at construction (and re-forked when one dies), one per pool slot, each connected by a
//  socketpair and, where cgroups can be had, owning one cgroup (cgroup.hpp) that its runs' processes join. run()
//  takes a free slot (condition variable), sends the request as one MessagePack message (plus, as SCM_RIGHTS, the
//  file descriptors it needs: a streamed stdin file, a linked run's socket) and blocks on the reply. run_linked()
//  takes two slots at once, so two linked runs never wait for each other's worker, and hands each one end of a
//  fresh socketpair, closing its own copies at once (so either run reads EOF when the other one ends). A worker that
//  dies (EOF) yields internal_error for that run and is replaced on the next one.
//  Workers are forked from the calling process: after fork the child immediately closes inherited fds and only uses
//  its own single-threaded code (glibc's malloc is fork-safe), so forking from a multi-threaded host is fine; it is
//  still best to construct the sandbox early. The destructor closes the sockets (workers exit on EOF) and reaps.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "sandbox/internal.hpp"

namespace reval::sandbox {

std::string_view to_string(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::runtime_error: return "runtime_error";
    case Status::time_limit: return "time_limit";
    case Status::memory_limit: return "memory_limit";
    case Status::output_limit: return "output_limit";
    case Status::denied: return "denied";
    case Status::internal_error: return "internal_error";
  }
  return "internal_error";
}

std::string_view to_string(Limits l) {
  switch (l) {
    case Limits::automatic: return "auto";
    case Limits::cgroup: return "cgroup";
    case Limits::cgroup_v2: return "cgroup-v2";
    case Limits::cgroup_v1: return "cgroup-v1";
    case Limits::rlimit: return "rlimit";
  }
  return "auto";
}

nlohmann::json Policy::to_json() const {
  return {{"time_limit_s", time_limit_s},
          {"wall_time_limit_s", wall_time_limit_s},
          {"memory_limit_mb", memory_limit_mb},
          {"stack_limit_mb", stack_limit_mb},
          {"file_size_limit_mb", file_size_limit_mb},
          {"open_files", open_files},
          {"processes", processes},
          {"output_limit_bytes", output_limit_bytes},
          {"work_dir_mb", work_dir_mb},
          {"limits", to_string(limits)},
          {"cgroup_root", cgroup_root},
          {"isolation", isolation == Isolation::required ? "required" : "best_effort"},
          {"seccomp", seccomp},
          {"kill_on_denied", kill_on_denied},
          {"mount_proc", mount_proc},
          {"run_uid", run_uid},
          {"ro_binds", ro_binds},
          {"env", env},
          {"workers", workers}};
}

Policy Policy::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("sandbox policy: expected a JSON object");
  Policy p;
  for (const auto& [key, value] : j.items()) {
    try {
      if (key == "time_limit_s") p.time_limit_s = value.get<double>();
      else if (key == "wall_time_limit_s") p.wall_time_limit_s = value.get<double>();
      else if (key == "memory_limit_mb") p.memory_limit_mb = value.get<std::int64_t>();
      else if (key == "stack_limit_mb") p.stack_limit_mb = value.get<std::int64_t>();
      else if (key == "file_size_limit_mb") p.file_size_limit_mb = value.get<std::int64_t>();
      else if (key == "open_files") p.open_files = value.get<std::int64_t>();
      else if (key == "processes") p.processes = value.get<std::int64_t>();
      else if (key == "output_limit_bytes") p.output_limit_bytes = value.get<std::int64_t>();
      else if (key == "work_dir_mb") p.work_dir_mb = value.get<std::int64_t>();
      else if (key == "limits") {
        auto s = value.get<std::string>();
        bool found = false;
        for (Limits l : {Limits::automatic, Limits::cgroup, Limits::cgroup_v2, Limits::cgroup_v1, Limits::rlimit})
          if (s == to_string(l)) {
            p.limits = l;
            found = true;
          }
        if (!found) throw Error("expected \"auto\", \"cgroup\", \"cgroup-v2\", \"cgroup-v1\" or \"rlimit\"");
      } else if (key == "cgroup_root") p.cgroup_root = value.get<std::string>();
      else if (key == "isolation") {
        auto s = value.get<std::string>();
        if (s == "required") p.isolation = Isolation::required;
        else if (s == "best_effort") p.isolation = Isolation::best_effort;
        else throw Error("expected \"required\" or \"best_effort\"");
      } else if (key == "seccomp") p.seccomp = value.get<bool>();
      else if (key == "kill_on_denied") p.kill_on_denied = value.get<bool>();
      else if (key == "mount_proc") p.mount_proc = value.get<bool>();
      else if (key == "run_uid") p.run_uid = value.get<std::int64_t>();
      else if (key == "ro_binds") p.ro_binds = value.get<std::vector<std::string>>();
      else if (key == "env") p.env = value.get<std::map<std::string, std::string>>();
      else if (key == "workers") p.workers = value.get<int>();
      else throw Error("unknown key");
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("sandbox policy: field '{}': {}", key, e.what()));
    } catch (const Error& e) {
      throw Error(fmt::format("sandbox policy: field '{}': {}", key, e.what()));
    }
  }
  return p;
}

Policy Policy::from_file(const std::string& path) {
  std::string text = read_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
  try {
    return from_json(j);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
}

nlohmann::json Result::to_json() const {
  nlohmann::json files_json = nlohmann::json::object();
  for (const auto& [name, content] : files) files_json[name] = content.size();
  return {{"status", to_string(status)},
          {"exit_code", exit_code},
          {"signal", signal},
          {"cpu_s", cpu_s},
          {"wall_s", wall_s},
          {"peak_rss_kb", peak_rss_kb},
          {"memory_peak_kb", memory_peak_kb},
          {"oom_killed", oom_killed},
          {"limits", limits},
          {"stdout", sanitize_utf8(stdout_data)},
          {"stderr", sanitize_utf8(stderr_data)},
          {"stdout_truncated", stdout_truncated},
          {"stderr_truncated", stderr_truncated},
          {"message", message},
          {"files", files_json}};
}

namespace detail {

std::string bytes_of(const nlohmann::json& value) {
  if (value.is_binary()) {
    const auto& b = value.get_binary();
    return std::string(b.begin(), b.end());
  }
  return value.get<std::string>();
}

nlohmann::json binary(const std::string& bytes) {
  return nlohmann::json::binary(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
}

static bool io_all(int fd, char* data, size_t n, bool writing) {
  while (n > 0) {
    ssize_t k = writing ? send(fd, data, n, MSG_NOSIGNAL) : read(fd, data, n);  // no SIGPIPE for the host
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    data += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

bool write_message(int fd, const nlohmann::json& message) {
  std::vector<std::uint8_t> bytes = nlohmann::json::to_msgpack(message);
  std::uint32_t len = static_cast<std::uint32_t>(bytes.size());
  std::string frame(reinterpret_cast<const char*>(&len), 4);
  frame.append(bytes.begin(), bytes.end());
  return io_all(fd, frame.data(), frame.size(), true);
}

bool read_message(int fd, nlohmann::json& message) {
  std::uint32_t len = 0;
  if (!io_all(fd, reinterpret_cast<char*>(&len), 4, false)) return false;
  std::vector<std::uint8_t> bytes(len);
  if (!io_all(fd, reinterpret_cast<char*>(bytes.data()), len, false)) return false;
  try {
    message = nlohmann::json::from_msgpack(bytes);
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

bool send_fds(int sock, const std::vector<int>& fds) {
  if (fds.empty() || fds.size() > 8) return fds.empty();
  char byte = 'F';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(8 * sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
  std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  for (;;) {
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    return n == 1;
  }
}

bool recv_fds(int sock, std::vector<int>& fds, size_t count) {
  fds.clear();
  if (count == 0 || count > 8) return count == 0;
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(8 * sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n != 1) return false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.push_back(fd);
    }
  }
  if (fds.size() == count) return true;
  for (int fd : fds) close(fd);
  fds.clear();
  return false;
}

nlohmann::json request_to_wire(const Request& request, const Policy& policy, const std::vector<std::string>& fd_names) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : request.files) files.push_back({{"name", f.name}, {"content", binary(f.content)}, {"x", f.executable}});
  return {{"argv", request.argv},
          {"files", files},
          {"stdin", binary(request.stdin_data)},
          {"collect", request.collect},
          {"policy", policy.to_json()},
          {"fds", fd_names}};
}

nlohmann::json result_to_wire(const Result& r) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [name, content] : r.files) files[name] = binary(content);
  return {{"status", static_cast<int>(r.status)}, {"exit", r.exit_code}, {"sig", r.signal}, {"cpu", r.cpu_s},
          {"wall", r.wall_s}, {"rss", r.peak_rss_kb}, {"mpeak", r.memory_peak_kb}, {"oom", r.oom_killed},
          {"limits", r.limits}, {"out", binary(r.stdout_data)},
          {"err", binary(r.stderr_data)}, {"otr", r.stdout_truncated}, {"etr", r.stderr_truncated},
          {"msg", r.message}, {"files", files}};
}

Result result_from_wire(const nlohmann::json& w) {
  Result r;
  r.status = static_cast<Status>(w.at("status").get<int>());
  r.exit_code = w.at("exit").get<int>();
  r.signal = w.at("sig").get<int>();
  r.cpu_s = w.at("cpu").get<double>();
  r.wall_s = w.at("wall").get<double>();
  r.peak_rss_kb = w.at("rss").get<std::int64_t>();
  r.memory_peak_kb = w.at("mpeak").get<std::int64_t>();
  r.oom_killed = w.at("oom").get<bool>();
  r.limits = w.at("limits").get<std::string>();
  r.stdout_data = bytes_of(w.at("out"));
  r.stderr_data = bytes_of(w.at("err"));
  r.stdout_truncated = w.at("otr").get<bool>();
  r.stderr_truncated = w.at("etr").get<bool>();
  r.message = w.at("msg").get<std::string>();
  for (const auto& [name, content] : w.at("files").items()) r.files[name] = bytes_of(content);
  return r;
}

}  // namespace detail

namespace {

struct Worker {
  pid_t pid = -1;
  int fd = -1;
  bool busy = false;
  size_t index = 0;
  detail::CgroupSlot slot;  // made at the first spawn, kept for the workers that replace this one
  bool slot_made = false;
};

detail::CgroupWant want_of(Limits l) {
  switch (l) {
    case Limits::automatic:
    case Limits::cgroup: return detail::CgroupWant::any;
    case Limits::cgroup_v2: return detail::CgroupWant::v2_only;
    case Limits::cgroup_v1: return detail::CgroupWant::v1_only;
    case Limits::rlimit: return detail::CgroupWant::none;
  }
  return detail::CgroupWant::any;
}

bool requires_cgroup(Limits l) { return l == Limits::cgroup || l == Limits::cgroup_v2 || l == Limits::cgroup_v1; }

std::atomic<int> g_pool_seq{0};

class PoolSandbox final : public Sandbox {
 public:
  explicit PoolSandbox(const Policy& policy) : policy_(policy), id_(g_pool_seq++) {
    detail::CgroupSources sources;
    sources.cgroup_root = policy.cgroup_root;
    setup_ = &detail::cgroup_setup(want_of(policy.limits), sources);
    int n = policy.workers > 0 ? policy.workers : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::lock_guard lock(mu_);
    if (setup_->kind == detail::CgroupKind::none && requires_cgroup(policy.limits) &&
        policy.isolation == Isolation::required) {
      broken_ = fmt::format("tree-wide limits ({}) unavailable: {} (set limits to auto or rlimit, or isolation to "
                            "best_effort)", to_string(policy.limits), setup_->why_not);
      return;
    }
    // Start every worker now: the first reports whether isolation works here, and forking while the caller is
    // still (usually) single-threaded is the safest moment. Workers that die later are re-forked on demand.
    for (int i = 0; i < n; ++i) add_worker();
    for (auto& w : workers_) {
      spawn(w);
      if (!broken_.empty()) break;
    }
  }

  ~PoolSandbox() override {
    std::lock_guard lock(mu_);
    for (auto& w : workers_) stop(w);
    for (auto& w : workers_)
      if (w.slot_made) detail::remove_slot(w.slot);
  }

  const Policy& policy() const override { return policy_; }

  Result run(const Request& request) override {
    std::vector<Worker*> ws;
    Result result;
    if (!acquire(1, ws, result.message)) return result;
    bool ok = send(*ws[0], request, -1, result.message);
    if (ok) ok = receive(*ws[0], result);
    release(ws, {ok});
    return result;
  }

  std::pair<Result, Result> run_linked(const Request& first, const Request& second) override {
    std::vector<Worker*> ws;
    std::pair<Result, Result> out;
    if (!acquire(2, ws, out.first.message)) {
      out.second.message = out.first.message;
      return out;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      out.first.message = out.second.message = std::string("socketpair: ") + std::strerror(errno);
      release(ws, {true, true});
      return out;
    }
    bool ok1 = send(*ws[0], first, sv[0], out.first.message);
    bool ok2 = send(*ws[1], second, sv[1], out.second.message);
    // Only the runs hold the ends now: when one run ends, the other reads EOF.
    close(sv[0]);
    close(sv[1]);
    if (ok1) ok1 = receive(*ws[0], out.first);
    if (ok2) ok2 = receive(*ws[1], out.second);
    release(ws, {ok1, ok2});
    return out;
  }

 private:
  void add_worker() {
    workers_.emplace_back();
    workers_.back().index = workers_.size() - 1;
  }

  size_t free_count() const {
    size_t n = 0;
    for (const auto& w : workers_) n += !w.busy;
    return n;
  }

  // Takes `n` free workers at once (growing the pool to n if it is smaller), starting any that are down.
  bool acquire(size_t n, std::vector<Worker*>& out, std::string& message) {
    std::unique_lock lock(mu_);
    while (broken_.empty() && workers_.size() < n) add_worker();
    cv_.wait(lock, [&] { return !broken_.empty() || free_count() >= n; });
    if (!broken_.empty()) {
      message = broken_;
      return false;
    }
    for (int pass = 0; pass < 2 && out.size() < n; ++pass)  // workers already running first
      for (auto& w : workers_)
        if (!w.busy && out.size() < n && (pass == 1 || w.pid >= 0)) {
          w.busy = true;
          out.push_back(&w);
        }
    for (Worker* w : out)
      if (w->pid < 0) spawn(*w);
    bool up = broken_.empty();
    for (Worker* w : out) up = up && w->pid >= 0;
    if (!up) {
      message = broken_.empty() ? "cannot start a sandbox worker" : broken_;
      for (Worker* w : out) w->busy = false;
      out.clear();
      cv_.notify_all();
      return false;
    }
    return true;
  }

  void release(const std::vector<Worker*>& ws, const std::vector<bool>& ok) {
    {
      std::lock_guard lock(mu_);
      for (size_t i = 0; i < ws.size(); ++i) {
        if (!ok[i]) stop(*ws[i]);
        ws[i]->busy = false;
      }
    }
    cv_.notify_all();
  }

  // Sends the request (and its descriptors) to a worker; a worker that died while idle is replaced once.
  bool send(Worker& w, const Request& request, int channel_fd, std::string& message) {
    const Policy& policy = request.policy ? *request.policy : policy_;
    std::vector<int> fds;
    std::vector<std::string> names;
    int stdin_file = -1;
    if (!request.stdin_file.empty() && request.stdin_data.empty()) {
      stdin_file = ::open(request.stdin_file.c_str(), O_RDONLY | O_CLOEXEC);
      if (stdin_file < 0) {
        message = fmt::format("cannot open the stdin file {}: {}", request.stdin_file, std::strerror(errno));
        return false;
      }
      fds.push_back(stdin_file);
      names.push_back("stdin");
    }
    if (channel_fd >= 0) {
      fds.push_back(channel_fd);
      names.push_back("channel");
    }
    const nlohmann::json wire = detail::request_to_wire(request, policy, names);
    bool sent = detail::write_message(w.fd, wire) && detail::send_fds(w.fd, fds);
    if (!sent) {
      std::lock_guard lock(mu_);
      stop(w);
      spawn(w);
      sent = w.pid > 0 && detail::write_message(w.fd, wire) && detail::send_fds(w.fd, fds);
    }
    if (stdin_file >= 0) close(stdin_file);
    if (!sent) message = "sandbox worker died";
    return sent;
  }

  bool receive(Worker& w, Result& result) {
    nlohmann::json reply;
    if (!detail::read_message(w.fd, reply)) {
      result.status = Status::internal_error;
      result.message = "sandbox worker died";
      return false;
    }
    try {
      result = detail::result_from_wire(reply);
    } catch (const std::exception& e) {
      result.status = Status::internal_error;
      result.message = std::string("bad worker reply: ") + e.what();
    }
    if (!weak_note_.empty() && result.message.find("weaker") == std::string::npos)
      result.message += (result.message.empty() ? "" : "; ") + weak_note_;
    return true;
  }

  void spawn(Worker& w) {
    if (setup_->kind == detail::CgroupKind::none) {
      w.slot.why_not = setup_->why_not;
    } else if (!w.slot_made) {
      std::string error;
      w.slot = detail::create_slot(*setup_, fmt::format("p{}-w{}", id_, w.index), &error);
      w.slot_made = w.slot.kind != detail::CgroupKind::none;
      if (!w.slot_made) {
        w.slot.why_not = "cannot create the worker's cgroup: " + error;
        if (requires_cgroup(policy_.limits) && policy_.isolation == Isolation::required) {
          broken_ = "tree-wide limits unavailable: " + w.slot.why_not;
          return;
        }
      }
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      broken_ = std::string("socketpair: ") + std::strerror(errno);
      return;
    }
    pid_t pid = fork();
    if (pid < 0) {
      close(sv[0]);
      close(sv[1]);
      return;
    }
    if (pid == 0) {
      // Child: keep only stdio (stderr for diagnostics) and the socket as fd 3.
      int devnull = open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
      }
      dup2(sv[1], 3);
      syscall(SYS_close_range, 4u, ~0u, 0u);
      detail::worker_main(3, policy_, w.slot);
    }
    close(sv[1]);
    w.pid = pid;
    w.fd = sv[0];
    nlohmann::json hello;
    if (!detail::read_message(w.fd, hello)) {
      broken_ = "sandbox worker failed to start";
      stop(w);
      return;
    }
    if (!hello.value("ok", false)) {
      broken_ = "sandbox isolation unavailable: " + hello.value("error", std::string("unknown")) +
                " (set isolation to best_effort to run with weaker isolation)";
      stop(w);
      return;
    }
    if (w.slot_made && hello.value("limits", std::string("rlimit")) == "rlimit" && requires_cgroup(policy_.limits) &&
        policy_.isolation == Isolation::required) {
      broken_ = "tree-wide limits unavailable: " + hello.value("limits_error", std::string("unknown"));
      stop(w);
      return;
    }
    if (!hello.value("isolated", false))
      weak_note_ = "weaker isolation (" + hello.value("error", std::string()) + ")";
  }

  void stop(Worker& w) {
    if (w.fd >= 0) close(w.fd);
    w.fd = -1;
    if (w.pid > 0) {
      kill(w.pid, SIGKILL);
      while (waitpid(w.pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    w.pid = -1;
  }

  Policy policy_;
  int id_;
  const detail::CgroupSetup* setup_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Worker> workers_;  // a deque: taken workers keep their address while the pool grows
  std::string broken_;
  std::string weak_note_;
};

}  // namespace

std::pair<Result, Result> Sandbox::run_linked(const Request&, const Request&) {
  Result r;
  r.message = "this sandbox cannot run linked programs";
  return {r, r};
}

std::unique_ptr<Sandbox> make_sandbox(const Policy& policy) { return std::make_unique<PoolSandbox>(policy); }

}  // namespace reval::sandbox
