// reval: evaluation harness for reasoning models. Parses the command line and dispatches to the subcommands
// registered by cli/cmd_*.cpp; every error that reaches here is printed once, as "reval: error: ...".
#include <cstdio>
#include <exception>

#include "cli/cli.hpp"
#include "reval/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"reval: evaluate reasoning models on benchmark suites, grade, compare and export results"};
  app.set_version_flag("--version", std::string("reval ") + reval::kVersion);
  app.require_subcommand(1);
  int status = 0;
  reval::cli::add_eval_commands(app, status);
  reval::cli::add_results_commands(app, status);
  reval::cli::add_grade_command(app, status);
  reval::cli::add_task_commands(app, status);
  reval::cli::add_sandbox_commands(app, status);
  reval::cli::add_tokenizer_commands(app, status);
  reval::cli::add_chat_commands(app, status);
  reval::cli::add_engine_commands(app, status);
  reval::cli::add_rating_command(app, status);
  reval::cli::add_merge_command(app, status);
  reval::cli::add_sample_commands(app, status);
  reval::cli::add_serve_reward_command(app, status);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reval: error: %s\n", e.what());
    return 1;
  }
  return status;
}
