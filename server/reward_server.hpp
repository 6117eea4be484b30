// The reward server (`reval serve-reward`): the RL reward core (graders/rewards.hpp) over HTTP, speaking
// OpenRLHF's remote reward-model protocol and reval's own /grade.
//
// Endpoints (docs/rewards.md has examples):
//   POST /, /get_reward, /reward   OpenRLHF: {"query": [..], "prompts": [..], "labels": [..], "metas"?: [..]} ->
//                                  {"rewards": [..], "scores": [..], "extra_logs": {..}, "verdicts": [..],
//                                   "missing": n, "infra_errors": n, "stats": {..}, "errors": [..]}
//                                  The response is the query with its prompt cut off; metas[i].data_source (else
//                                  --source) routes the item; a missing reward is null, never 0.
//   POST /grade                    reval's own lines (as `reval grade` reads them): {"grader": G, "items": [..]},
//                                  a JSON list with ?grader=G, or JSONL with ?grader=G (answered in JSONL). Each
//                                  result is the `reval grade` output line plus "reward" and "missing".
//   GET  /health                   {"status": "ok", "version", "workers", "pending_items", ...} (no token needed)
//
// Theory of operation: cpp-httplib parses HTTP on a fixed set of connection threads; grading runs on the scorer's
// job pool. Nothing queues without bound: (1) items admitted and not yet graded are counted across requests, and
// a request that would pass max_pending_items is answered 429 with Retry-After at once; (2) connections wait for a
// connection thread in a queue of max_waiting_connections; past that a small rejecting pool answers each request
// on them 429 (Connection: close), and past that the accept loop waits (the kernel's listen backlog holds the
// rest). Each request's items must be graded within request_timeout_s or get a missing reward ("deadline");
// bodies over max_body_bytes get 413; a client slower than read_timeout_s is cut off; a wrong or missing bearer
// token gets 401; malformed JSON or fields get 400 with a message naming the field. stop() stops accepting and lets
// requests in flight finish (graceful shutdown; serve_rewards() calls it on SIGTERM/SIGINT).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "graders/rewards.hpp"

namespace reval::server {

struct RewardServerOptions {
  std::string host = "127.0.0.1";           // loopback unless asked otherwise
  int port = 0;                             // 0: any free port (RewardServer::port() says which)
  std::string token;                        // non-empty: requests need "Authorization: Bearer <token>"
  int workers = 0;                          // grading threads; 0: all cores
  int http_threads = 0;                     // connection threads; 0: max(8, 2 * workers + 4)
  std::size_t max_waiting_connections = 16; // connections queued for a busy connection thread (may be 0)
  std::size_t max_pending_items = 100000;   // items admitted and not yet graded, all requests together
  std::size_t max_body_bytes = 64u << 20;   // larger bodies: 413
  double request_timeout_s = 600;           // per request; items not graded by then: missing ("deadline"); 0: none
  double read_timeout_s = 30;               // receiving one request (and sending its answer)
  int retry_after_s = 1;                    // the Retry-After of a 429
  std::string source = "math";              // kind or data source of OpenRLHF items whose metas name none
  rewards::RewardOptions reward;            // weights, format, language, length (deadline_s is request_timeout_s)
  nlohmann::json grader_options = nlohmann::json::object();  // passed to every grader (e.g. {"timeout_s": 2})

  nlohmann::json to_json() const;  // the effective configuration (without the token), logged at start
};

struct ServerCounters {
  std::int64_t requests = 0;     // requests answered
  std::int64_t items = 0;        // items graded
  std::int64_t missing = 0;      // items with a missing reward
  std::int64_t busy = 0;         // 429 answers
  std::int64_t bad_requests = 0; // 400/413 answers
  std::int64_t unauthorized = 0; // 401 answers
};

class RewardServer {
 public:
  explicit RewardServer(RewardServerOptions options);
  ~RewardServer();  // stop() and wait()
  RewardServer(const RewardServer&) = delete;
  RewardServer& operator=(const RewardServer&) = delete;

  // Binds and serves on background threads; returns the port. Throws reval::Error when it cannot listen.
  int start();
  // Stops accepting connections; requests in flight finish. Returns at once; safe to call more than once.
  void stop();
  // Blocks until the server has stopped and every request in flight has been answered.
  void wait();
  int port() const { return port_; }
  const RewardServerOptions& options() const { return options_; }
  ServerCounters counters() const;
  std::size_t pending_items() const { return pending_.load(); }
  rewards::RewardScorer& scorer() { return *scorer_; }  // tests add fake graders and routes

  struct Impl;  // the HTTP side (reward_server.cpp)

 private:
  RewardServerOptions options_;
  std::unique_ptr<rewards::RewardScorer> scorer_;
  std::unique_ptr<Impl> impl_;
  std::thread listener_;
  int port_ = 0;
  std::atomic<std::size_t> pending_{0};
};

// `reval serve-reward`: starts the server, logs its configuration and address to `log`, waits for SIGTERM or
// SIGINT, then shuts down gracefully (requests in flight are answered). Returns the process exit status (0).
int serve_rewards(const RewardServerOptions& options, std::ostream& log);

}  // namespace reval::server
