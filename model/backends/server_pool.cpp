// See server_pool.hpp for the theory of operation.
#include "model/backends/server_pool.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "base/error.hpp"

namespace reval {

ServerPool::ServerPool(const std::vector<std::string>& base_urls, ServerPoolOptions options)
    : opt_(std::move(options)) {
  if (base_urls.empty()) throw Error("openai backend: no server URL (base_url)");
  if (opt_.failures_to_trip < 1) throw Error("openai backend: breaker failures_to_trip must be >= 1");
  for (const auto& u : base_urls) {
    Server s;
    s.base_url = u;
    while (!s.base_url.empty() && s.base_url.back() == '/') s.base_url.pop_back();
    s.url = parse_url(u, "base_url");
    for (const auto& other : servers_)
      if (other.base_url == s.base_url) throw Error("openai backend: base_url '" + u + "' is listed twice");
    servers_.push_back(std::move(s));
  }
}

void ServerPool::log(const std::string& line) const {
  if (opt_.log) opt_.log(line);
}

bool ServerPool::usable(const Server& s, Clock::time_point now) const {
  return !opt_.breaker || !s.open || (!s.probing && now >= s.open_until);
}

std::size_t ServerPool::least_loaded(Clock::time_point now, std::size_t avoid) {
  std::size_t best = SIZE_MAX;
  const std::size_t n = servers_.size();
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = (next_ + k) % n;
    const Server& s = servers_[i];
    if (!usable(s, now) || i == avoid) continue;
    // A server whose time out of rotation is over comes first (the next problem probes it, so a recovered server
    // returns even under light load; a failed probe's retry goes elsewhere); then the fewest homed problems, ties
    // in rotation order.
    if (best == SIZE_MAX) {
      best = i;
      continue;
    }
    const Server& b = servers_[best];
    if ((s.open && !b.open) || (b.open == s.open && s.homed < b.homed)) best = i;
  }
  if (best != SIZE_MAX) next_ = (best + 1) % n;
  return best;
}

std::size_t ServerPool::take_home() {
  std::lock_guard lock(mu_);
  std::size_t i = least_loaded(Clock::now());
  if (i == SIZE_MAX) {  // every server is out of rotation: home on the one back first (acquire() waits for it)
    i = 0;
    for (std::size_t k = 1; k < servers_.size(); ++k)
      if (servers_[k].open_until < servers_[i].open_until) i = k;
  }
  ++servers_[i].homed;
  return i;
}

void ServerPool::release_home(std::size_t server) {
  std::lock_guard lock(mu_);
  if (server < servers_.size() && servers_[server].homed > 0) --servers_[server].homed;
}

std::size_t ServerPool::acquire(std::size_t preferred, std::size_t avoid) {
  std::unique_lock lock(mu_);
  for (;;) {
    const auto now = Clock::now();
    std::size_t i = preferred < servers_.size() && preferred != avoid && usable(servers_[preferred], now)
                        ? preferred
                        : least_loaded(now, avoid);
    if (i == SIZE_MAX && avoid < servers_.size() && usable(servers_[avoid], now)) i = avoid;
    if (i != SIZE_MAX) {
      Server& s = servers_[i];
      if (opt_.breaker && s.open) s.probing = true;  // its time out of rotation is over: this attempt probes it
      return i;
    }
    // Every server is out of rotation: wait for the first whose time is up (or for a probe to come back).
    auto until = Clock::time_point::max();
    for (const auto& s : servers_)
      if (!s.probing) until = std::min(until, s.open_until);
    if (until == Clock::time_point::max()) cv_.wait(lock);
    else cv_.wait_until(lock, until);
  }
}

void ServerPool::report(std::size_t server, bool ok, const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (server >= servers_.size()) return;
    Server& s = servers_[server];
    if (ok) {
      s.failures = 0;
      if (s.open) {
        s.open = false;
        s.probing = false;
        s.trips = 0;
        log(fmt::format("openai: server {} is back in rotation ({} of {} in rotation)", s.base_url,
                        in_rotation_count_locked(), servers_.size()));
      }
    } else {
      ++s.failures;
      const bool probe_failed = s.probing;
      if (opt_.breaker && (probe_failed || (!s.open && s.failures >= opt_.failures_to_trip))) {
        s.probing = false;
        s.open = true;
        ++s.trips;
        const double secs =
            std::min(opt_.open_max_s, opt_.open_initial_s * std::pow(2.0, static_cast<double>(s.trips - 1)));
        s.open_until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
        log(fmt::format("openai: server {} taken out of rotation {} ({}); {} of {} servers in rotation; trying it "
                        "again in {:.1f} s",
                        s.base_url,
                        probe_failed ? std::string("again: the probe failed")
                                     : fmt::format("after {} failures in a row", s.failures),
                        why.substr(0, 300), in_rotation_count_locked(), servers_.size(), secs));
      }
    }
  }
  cv_.notify_all();
}

std::size_t ServerPool::in_rotation_count_locked() const {
  std::size_t n = 0;
  for (const auto& s : servers_) n += !s.open;
  return n;
}

bool ServerPool::in_rotation(std::size_t server) const {
  std::lock_guard lock(mu_);
  return server < servers_.size() && !servers_[server].open;
}

int ServerPool::load(std::size_t server) const {
  std::lock_guard lock(mu_);
  return server < servers_.size() ? servers_[server].homed : 0;
}

std::size_t ServerPool::in_rotation_count() const {
  std::lock_guard lock(mu_);
  return in_rotation_count_locked();
}

}  // namespace reval
