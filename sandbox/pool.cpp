// The real Sandbox: a pool of pre-isolated worker processes (see worker.cpp), plus the policy/result records.
//
// Theory of operation
//  Workers are forked at construction (and re-forked when one dies), one per pool slot, each connected by a
//  socketpair. run() takes a free slot (condition variable), sends the request as one MessagePack message and
//  blocks on the reply. A worker that dies (EOF) yields internal_error for that run and is replaced on the next one.
//  Workers are forked from the calling process: after fork the child immediately closes inherited fds and only uses
//  its own single-threaded code (glibc's malloc is fork-safe), so forking from a multi-threaded host is fine; it is
//  still best to construct the sandbox early. The destructor closes the sockets (workers exit on EOF) and reaps.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
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

nlohmann::json request_to_wire(const Request& request, const Policy& policy) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : request.files) files.push_back({{"name", f.name}, {"content", binary(f.content)}, {"x", f.executable}});
  return {{"argv", request.argv},
          {"files", files},
          {"stdin", binary(request.stdin_data)},
          {"collect", request.collect},
          {"policy", policy.to_json()}};
}

nlohmann::json result_to_wire(const Result& r) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [name, content] : r.files) files[name] = binary(content);
  return {{"status", static_cast<int>(r.status)}, {"exit", r.exit_code}, {"sig", r.signal}, {"cpu", r.cpu_s},
          {"wall", r.wall_s}, {"rss", r.peak_rss_kb}, {"out", binary(r.stdout_data)},
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
};

class PoolSandbox final : public Sandbox {
 public:
  explicit PoolSandbox(const Policy& policy) : policy_(policy) {
    int n = policy.workers > 0 ? policy.workers : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    workers_.resize(static_cast<size_t>(n));
    // Start every worker now: the first reports whether isolation works here, and forking while the caller is
    // still (usually) single-threaded is the safest moment. Workers that die later are re-forked on demand.
    std::lock_guard lock(mu_);
    for (auto& w : workers_) {
      spawn(w);
      if (!broken_.empty()) break;
    }
  }

  ~PoolSandbox() override {
    std::lock_guard lock(mu_);
    for (auto& w : workers_) stop(w);
  }

  const Policy& policy() const override { return policy_; }

  Result run(const Request& request) override {
    Worker* w = nullptr;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] {
        for (auto& x : workers_)
          if (!x.busy) return true;
        return false;
      });
      for (auto& x : workers_)
        if (!x.busy) {
          // Prefer a worker that is already running.
          if (!w || (w->pid < 0 && x.pid >= 0)) w = &x;
        }
      w->busy = true;
      if (!broken_.empty()) {
        w->busy = false;
        Result r;
        r.message = broken_;
        return r;
      }
      if (w->pid < 0) spawn(*w);
      if (!broken_.empty() || w->pid < 0) {
        w->busy = false;
        cv_.notify_one();
        Result r;
        r.message = broken_.empty() ? "cannot start a sandbox worker" : broken_;
        return r;
      }
    }
    Result result;
    const Policy& policy = request.policy ? *request.policy : policy_;
    nlohmann::json reply;
    const nlohmann::json wire = detail::request_to_wire(request, policy);
    bool sent = detail::write_message(w->fd, wire);
    if (!sent) {
      // The worker died while idle (the request never reached it): replace it and send again, once.
      std::lock_guard lock(mu_);
      stop(*w);
      spawn(*w);
      sent = w->pid > 0 && detail::write_message(w->fd, wire);
    }
    bool ok = sent && detail::read_message(w->fd, reply);
    if (ok) {
      try {
        result = detail::result_from_wire(reply);
      } catch (const std::exception& e) {
        result.status = Status::internal_error;
        result.message = std::string("bad worker reply: ") + e.what();
      }
      if (!weak_note_.empty() && result.message.find("weaker") == std::string::npos)
        result.message += (result.message.empty() ? "" : "; ") + weak_note_;
    } else {
      result.status = Status::internal_error;
      result.message = "sandbox worker died";
    }
    {
      std::lock_guard lock(mu_);
      if (!ok) stop(*w);
      w->busy = false;
    }
    cv_.notify_one();
    return result;
  }

 private:
  void spawn(Worker& w) {
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
      detail::worker_main(3, policy_);
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
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Worker> workers_;
  std::string broken_;
  std::string weak_note_;
};

}  // namespace

std::unique_ptr<Sandbox> make_sandbox(const Policy& policy) { return std::make_unique<PoolSandbox>(policy); }

}  // namespace reval::sandbox
