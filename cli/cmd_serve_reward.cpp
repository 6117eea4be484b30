// `reval serve-reward [--host 127.0.0.1] --port P [--token T] [--workers N] ...`: the RL reward server
// (server/reward_server.hpp) until SIGTERM/SIGINT.
#include <cstdlib>
#include <iostream>

#include "base/error.hpp"
#include "cli/cli.hpp"
#include "server/reward_server.hpp"

namespace reval::cli {

void add_serve_reward_command(CLI::App& app, int& status) {
  struct Opts {
    server::RewardServerOptions server;
    std::string reward_json, grader_json, token_env;
    double max_body_mb = 64;
  };
  auto o = std::make_shared<Opts>();
  auto& s = o->server;
  auto* cmd = app.add_subcommand(
      "serve-reward", "Serve rewards over HTTP: OpenRLHF's remote reward protocol (POST /), reval's /grade, /health");
  cmd->add_option("--host", s.host, "Address to listen on (default 127.0.0.1: this machine only)");
  cmd->add_option("--port", s.port, "Port (0: any free port, printed at start)")->required();
  cmd->add_option("--token", s.token, "Require 'Authorization: Bearer TOKEN' on POST requests");
  cmd->add_option("--token-env", o->token_env, "Read the token from this environment variable (keeps it off ps)");
  cmd->add_option("--workers", s.workers, "Grading threads (default: all cores)");
  cmd->add_option("--http-threads", s.http_threads, "Connection threads (default: max(8, 2*workers+4))");
  cmd->add_option("--max-waiting", s.max_waiting_connections,
                  "Connections queued for a busy connection thread; more get 429 (default 16)");
  cmd->add_option("--source", s.source,
                  "Kind or data source of OpenRLHF items whose metas name none (default math; e.g. aime24, gpqa, "
                  "livecodebench)");
  cmd->add_option("--max-pending", s.max_pending_items,
                  "Items admitted and not yet graded, all requests together; more: 429 (default 100000)");
  cmd->add_option("--max-body-mb", o->max_body_mb, "Largest request body in MiB (default 64); larger: 413")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--request-timeout", s.request_timeout_s,
                  "Seconds to grade one request; later items get a missing reward (default 600; 0: none)");
  cmd->add_option("--read-timeout", s.read_timeout_s, "Seconds to receive one request (default 30)");
  cmd->add_option("--retry-after", s.retry_after_s, "Retry-After of a 429, seconds (default 1)");
  cmd->add_option("--reward-options", o->reward_json,
                  "Reward options as JSON, e.g. '{\"format_weight\":0.1,\"language\":\"en\",\"max_length\":8192}'");
  cmd->add_option("--grader-options", o->grader_json, "Grader options as JSON, e.g. '{\"timeout_s\":2}'");
  cmd->callback([o, &status] {
    auto parse = [](const std::string& text, const char* flag) {
      try {
        return nlohmann::json::parse(text);
      } catch (const std::exception& e) {
        throw Error(std::string(flag) + ": invalid JSON: " + e.what());
      }
    };
    o->server.max_body_bytes = static_cast<std::size_t>(o->max_body_mb * 1048576.0);
    if (!o->reward_json.empty()) {
      try {
        o->server.reward = rewards::RewardOptions::from_json(parse(o->reward_json, "--reward-options"));
      } catch (const Error& e) {
        throw Error(std::string("--reward-options: ") + e.what());
      }
    }
    if (!o->grader_json.empty()) o->server.grader_options = parse(o->grader_json, "--grader-options");
    if (!o->token_env.empty()) {
      const char* t = std::getenv(o->token_env.c_str());
      if (!t || !*t) throw Error("--token-env " + o->token_env + ": the variable is not set");
      o->server.token = t;
    }
    status = server::serve_rewards(o->server, std::cerr);
  });
}

}  // namespace reval::cli
