// ServerPool (model/backends/server_pool.hpp) on its own: problems spread by load with ties in rotation, affinity
// to the home server, the circuit breaker (trip after N failures in a row, probe after the time out, back in rotation
// on success, longer out on a failed probe) and waiting while every server is out. No network: the pool only
// chooses servers.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "base/error.hpp"
#include "model/backends/server_pool.hpp"

namespace reval {
namespace {

std::vector<std::string> urls(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("http://127.0.0.1:" + std::to_string(9000 + i) + "/v1");
  return out;
}

TEST(ServerPool, ProblemsGoToTheLeastLoadedServer) {
  ServerPool pool(urls(3), {});
  // Three problems land on three different servers (ties go round the servers).
  std::set<size_t> first{pool.take_home(), pool.take_home(), pool.take_home()};
  EXPECT_EQ(first.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(pool.load(i), 1);
  // Server 1 finishes its problem: the next problem goes there, not to a busy one.
  pool.release_home(1);
  EXPECT_EQ(pool.take_home(), 1u);
  pool.release_home(0);
  pool.release_home(0);  // more releases than homes never go below zero
  EXPECT_EQ(pool.load(0), 0);
  EXPECT_EQ(pool.take_home(), 0u);
  // Equal loads again: the next three problems go to three different servers.
  std::set<size_t> next{pool.take_home(), pool.take_home(), pool.take_home()};
  EXPECT_EQ(next.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(pool.load(i), 2);
}

TEST(ServerPool, AttemptsStayOnTheHomeServerWhileItIsInRotation) {
  ServerPool pool(urls(4), {});
  size_t home = pool.take_home();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(pool.acquire(home), home);
    pool.report(home, true);
  }
  // A failure alone does not move the problem; a retry asked to avoid the failed server goes elsewhere.
  EXPECT_EQ(pool.acquire(home), home);
  pool.report(home, false, "HTTP 503");
  size_t retry = pool.acquire(home, /*avoid=*/home);
  EXPECT_NE(retry, home);
  pool.report(retry, true);
  EXPECT_TRUE(pool.in_rotation(home)) << "one failure does not trip the breaker (3 do)";
}

TEST(ServerPool, BreakerTakesAFailingServerOutAndProbesItLater) {
  ServerPoolOptions o;
  o.failures_to_trip = 2;
  o.open_initial_s = 0.2;
  o.open_max_s = 10;
  std::mutex mu;
  std::vector<std::string> log;
  o.log = [&](const std::string& line) {
    std::lock_guard lock(mu);
    log.push_back(line);
  };
  ServerPool pool(urls(2), o);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(pool.acquire(0), 0u);
    pool.report(0, false, "connection error: Connection");
  }
  EXPECT_FALSE(pool.in_rotation(0));
  EXPECT_EQ(pool.in_rotation_count(), 1u);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("taken out of rotation after 2 failures in a row"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find("1 of 2 servers in rotation"), std::string::npos) << log[0];
  // While it is out, even requests homed on it go to the other server, and new problems are homed there.
  EXPECT_EQ(pool.acquire(0), 1u);
  pool.report(1, true);
  EXPECT_EQ(pool.take_home(), 1u);
  // After the time out, the next attempt that asks for it is the probe; a success puts it back.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(pool.take_home(), 0u) << "the next new problem probes it, though server 1 is less loaded";
  EXPECT_EQ(pool.acquire(0), 0u);
  EXPECT_EQ(pool.acquire(0), 1u) << "only one probe at a time";
  EXPECT_EQ(pool.take_home(), 1u) << "not while its probe is in flight";
  pool.report(1, true);
  pool.report(0, true);
  EXPECT_TRUE(pool.in_rotation(0));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[1].find("back in rotation"), std::string::npos) << log[1];
}

TEST(ServerPool, FailedProbeDoublesTheTimeOut) {
  ServerPoolOptions o;
  o.failures_to_trip = 1;
  o.open_initial_s = 0.1;
  std::vector<std::string> log;
  o.log = [&](const std::string& line) { log.push_back(line); };
  ServerPool pool(urls(2), o);
  pool.acquire(0);
  pool.report(0, false, "HTTP 502");
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  ASSERT_EQ(pool.acquire(0), 0u);  // the probe
  pool.report(0, false, "HTTP 502");
  EXPECT_FALSE(pool.in_rotation(0));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[0].find("in 0.1 s"), std::string::npos) << log[0];
  EXPECT_NE(log[1].find("again: the probe failed"), std::string::npos) << log[1];
  EXPECT_NE(log[1].find("in 0.2 s"), std::string::npos) << log[1];
}

TEST(ServerPool, WaitsWhileEveryServerIsOut) {
  ServerPoolOptions o;
  o.failures_to_trip = 1;
  o.open_initial_s = 0.2;
  ServerPool pool(urls(2), o);
  for (size_t i = 0; i < 2; ++i) {
    pool.acquire(i);
    pool.report(i, false, "down");
  }
  EXPECT_EQ(pool.in_rotation_count(), 0u);
  auto t0 = std::chrono::steady_clock::now();
  size_t got = pool.acquire(0);  // blocks until one may be probed
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(150));
  pool.report(got, true);
  EXPECT_EQ(pool.in_rotation_count(), 1u);
}

TEST(ServerPool, OneServerIsNeverTakenOut) {
  ServerPoolOptions o;
  o.breaker = false;  // what the backend does with a single server: its retries and backoff suffice
  o.failures_to_trip = 1;
  ServerPool pool(urls(1), o);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(pool.acquire(0), 0u);
    pool.report(0, false, "down");
  }
  EXPECT_TRUE(pool.in_rotation(0));
}

TEST(ServerPool, RejectsBadLists) {
  EXPECT_THROW(ServerPool({}, {}), Error);
  EXPECT_THROW(ServerPool({"http://a:1/v1", "http://a:1/v1/"}, {}), Error);
  EXPECT_THROW(ServerPool({"ftp://a/v1"}, {}), Error);
}

}  // namespace
}  // namespace reval
