// ServerPool: the OpenAI-compatible servers one run spreads its requests over (several vLLM/SGLang replicas, the
// replicas of a data-parallel deployment, or one router), with load balancing, problem affinity and a circuit
// breaker. Used by the openai backend; thread-safe.
//
// Theory of operation
// - Load. Each server counts the problems homed on it (take_home() .. release_home()). A new problem goes to the
//   server in rotation with the fewest, ties broken round-robin, so requests spread by load: a slow server keeps
//   its problems longer and receives fewer new ones.
// - Affinity. Every attempt of every request of one problem asks for its home server first (acquire(home)), so all
//   k samples of a problem reach the same server and its prefix cache holds the prompt. Only while the home server
//   is out of rotation does an attempt go elsewhere (the least loaded server in rotation).
// - Circuit breaker (when enabled; the backend enables it with two or more servers). `failures_to_trip` failures
//   in a row (connection errors, timeouts, 5xx, broken bodies: what report(ok = false) is told) take a server out
//   of rotation for open_initial_s, doubling with every trip in a row up to open_max_s. When that time is up, one
//   attempt is let through as a probe (the next new problem is homed on it, so a recovered server returns even under
//   light load): success puts the server back in rotation (and resets the doubling), failure takes it out again for
//   twice as long (and that attempt's retry goes to another server). While every server is out of rotation, acquire() waits for the first
//   one whose time is up. Each transition is logged.
// - Every acquire() must be followed by exactly one report() for the same server.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "base/url.hpp"

namespace reval {

struct ServerPoolOptions {
  bool breaker = true;           // false: servers are never taken out of rotation (one server: retries suffice)
  int failures_to_trip = 3;      // consecutive failures that take a server out of rotation
  double open_initial_s = 5;     // first time out of rotation; doubles per consecutive trip
  double open_max_s = 120;       // cap of that time
  std::function<void(const std::string&)> log;  // one line per transition; may be empty
};

class ServerPool {
 public:
  // Throws reval::Error (naming the URL) for an empty list or a malformed URL.
  ServerPool(const std::vector<std::string>& base_urls, ServerPoolOptions options);

  std::size_t size() const { return servers_.size(); }
  const std::string& base_url(std::size_t i) const { return servers_[i].base_url; }
  const Url& url(std::size_t i) const { return servers_[i].url; }

  std::size_t take_home();                 // see Load; pair with release_home()
  void release_home(std::size_t server);
  // See Affinity; may wait while every server is out of rotation. `avoid` (a server that just failed this request)
  // is chosen only when no other server can be.
  std::size_t acquire(std::size_t preferred, std::size_t avoid = SIZE_MAX);
  void report(std::size_t server, bool ok, const std::string& why = "");

  // Observers (logs, tests).
  bool in_rotation(std::size_t server) const;
  int load(std::size_t server) const;
  std::size_t in_rotation_count() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Server {
    std::string base_url;
    Url url;
    int homed = 0;                    // problems homed here
    int failures = 0;                 // consecutive failures
    int trips = 0;                    // consecutive trips (doubles the time out)
    bool open = false;                // out of rotation
    bool probing = false;             // the probe attempt is in flight
    Clock::time_point open_until{};
  };
  bool usable(const Server& s, Clock::time_point now) const;  // in rotation, or its probe may start
  std::size_t least_loaded(Clock::time_point now, std::size_t avoid = SIZE_MAX);  // SIZE_MAX when none usable
  void log(const std::string& line) const;
  std::size_t in_rotation_count_locked() const;

  ServerPoolOptions opt_;
  std::vector<Server> servers_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::size_t next_ = 0;  // round-robin start for ties
};

}  // namespace reval
