// `reval sandbox run|probe|policy`: run one program in the sandbox and print its result record as JSON; report
// which isolation features work here (and how limits would hold: cgroup-v2, cgroup-v1 or rlimit); print the
// effective policy. Parsing only: the work is in sandbox/.
#include <unistd.h>

#include <iostream>

#include "cli/cli.hpp"
#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "sandbox/sandbox.hpp"

namespace reval::cli {

void add_sandbox_commands(CLI::App& app, int& status) {
  auto* sb = app.add_subcommand("sandbox", "Run untrusted programs in the sandbox");
  sb->require_subcommand(1);

  struct Opts {
    std::string lang = "python", stdin_file, policy_file, source, python, cxx, cache_dir, limits;
    double time_limit = -1, wall_limit = -1;
    std::int64_t memory_limit = -1;
    bool best_effort = false;
  };
  auto o = std::make_shared<Opts>();
  auto policy_of = [o] {
    sandbox::Policy p = o->policy_file.empty() ? sandbox::Policy{} : sandbox::Policy::from_file(o->policy_file);
    if (o->time_limit >= 0) p.time_limit_s = o->time_limit;
    if (o->wall_limit >= 0) p.wall_time_limit_s = o->wall_limit;
    if (o->memory_limit >= 0) p.memory_limit_mb = o->memory_limit;
    if (o->best_effort) p.isolation = sandbox::Isolation::best_effort;
    if (!o->limits.empty()) p = sandbox::Policy::from_json([&] {
      auto j = p.to_json();
      j["limits"] = o->limits;
      return j;
    }());
    return p;
  };
  auto add_policy_flags = [o](CLI::App* cmd) {
    cmd->add_option("--time-limit", o->time_limit, "CPU time limit in seconds (default 6)");
    cmd->add_option("--wall-limit", o->wall_limit, "Wall-clock limit in seconds (default 2 * time limit + 1)");
    cmd->add_option("--memory-limit", o->memory_limit, "Memory limit of the whole run in MB (default 1024)");
    cmd->add_option("--limits", o->limits, "auto | cgroup | cgroup-v2 | cgroup-v1 | rlimit (default auto)");
    cmd->add_option("--policy", o->policy_file, "Policy JSON file (see `reval sandbox policy`); flags override it");
    cmd->add_flag("--best-effort", o->best_effort, "Run with weaker isolation where namespaces are unavailable");
  };

  auto* run = sb->add_subcommand("run", "Compile (if needed) and run SOURCE once; print the result as JSON");
  run->add_option("--lang", o->lang, "python | cpp")->capture_default_str();
  run->add_option("--stdin", o->stdin_file, "File fed to the program's stdin (streamed, never read into memory)");
  run->add_option("--python", o->python, "Python interpreter (absolute path; default /usr/bin/python3)");
  run->add_option("--cxx", o->cxx, "C++ compiler (default /usr/bin/g++)");
  run->add_option("--cache-dir", o->cache_dir, "Compile cache directory");
  run->add_option("SOURCE", o->source, "Source file")->required();
  add_policy_flags(run);
  run->callback([o, policy_of, &status] {
    sandbox::RunSourceOptions ro;
    ro.language = o->lang;
    ro.source = read_file(o->source);
    if (!o->stdin_file.empty()) {
      if (access(o->stdin_file.c_str(), R_OK) != 0) throw Error(o->stdin_file + ": cannot read the --stdin file");
      ro.stdin_file = o->stdin_file;
    }
    ro.policy = policy_of();
    if (!o->python.empty()) ro.languages.python = o->python;
    if (!o->cxx.empty()) ro.languages.cxx = o->cxx;
    ro.cache_dir = o->cache_dir;
    nlohmann::json out = sandbox::run_source(ro);
    std::cout << out.dump(2) << "\n";
    if (out.value("status", std::string()) == "internal_error") status = 1;
  });

  auto* probe = sb->add_subcommand("probe", "Report which isolation features work here and how limits would hold");
  add_policy_flags(probe);
  probe->callback([policy_of] { std::cout << sandbox::probe_features(policy_of()).dump(2) << "\n"; });

  auto* pol = sb->add_subcommand("policy", "Print the effective sandbox policy as JSON");
  add_policy_flags(pol);
  pol->callback([policy_of] { std::cout << policy_of().to_json().dump(2) << "\n"; });
}

}  // namespace reval::cli
