// Command registration for the `reval` tool. Each area registers its subcommands on the app; a subcommand's
// callback parses nothing itself beyond CLI11 options, calls one library function, and stores the process exit
// status in `status` (0 ok, 1 error, 2 completed with bad input lines).
#pragma once
#include <CLI/CLI.hpp>

namespace reval::cli {

void add_eval_commands(CLI::App& app, int& status);     // eval, regrade            (cmd_eval.cpp)
void add_results_commands(CLI::App& app, int& status);  // runs, report, compare, check (cmd_results.cpp)
void add_grade_command(CLI::App& app, int& status);     // grade                    (cmd_grade.cpp)
void add_task_commands(CLI::App& app, int& status);     // tasks, show, data fetch  (cmd_tasks.cpp)
void add_sandbox_commands(CLI::App& app, int& status);  // sandbox run              (cmd_sandbox.cpp)
void add_tokenizer_commands(CLI::App& app, int& status); // tokenize               (cmd_tokenizer.cpp)
void add_chat_commands(CLI::App& app, int& status);     // render-chat            (cmd_chat.cpp)
void add_engine_commands(CLI::App& app, int& status);   // generate               (cmd_engine.cpp)
void add_rating_command(CLI::App& app, int& status);    // rating                 (cmd_rating.cpp)
void add_merge_command(CLI::App& app, int& status);     // merge                  (cmd_merge.cpp)
void add_sample_commands(CLI::App& app, int& status);   // samples, export         (cmd_samples.cpp)
void add_serve_reward_command(CLI::App& app, int& status); // serve-reward       (cmd_serve_reward.cpp)

}  // namespace reval::cli
