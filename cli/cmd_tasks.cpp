// `reval tasks`, `reval show` and `reval data fetch` (see cli/cli.hpp). Each callback only parses options and
// calls the tasks library: task_statuses, load_task (show without an id lists ids), find_problem, fetch_task_data.
#include <cstdio>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/cli.hpp"
#include "base/error.hpp"
#include "tasks/fetch.hpp"
#include "tasks/task.hpp"

namespace reval::cli {
namespace {

nlohmann::json parse_filters(const std::string& text) {
  if (text.empty()) return nlohmann::json::object();
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_object()) throw Error("--filters: expected a JSON object");
    return j;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("--filters: invalid JSON: ") + e.what());
  }
}

}  // namespace

void add_task_commands(CLI::App& app, int& status) {
  // reval tasks
  struct ListOpts {
    bool json = false;
    std::string data_dir, filters;
  };
  auto lo = std::make_shared<ListOpts>();
  auto* tasks = app.add_subcommand("tasks", "List the benchmark tasks and how many problems each has in the data dir");
  tasks->add_flag("--json", lo->json, "Print JSON instead of a table");
  tasks->add_option("--data-dir", lo->data_dir, "Benchmark data directory (default: $REVAL_DATA, else ~/.cache/reval/data)");
  tasks->callback([lo] {
    LoadOptions o;
    o.data_dir = resolve_data_dir(lo->data_dir);
    auto statuses = task_statuses(o);
    if (lo->json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& s : statuses) list.push_back(to_json(s));
      std::cout << nlohmann::json{{"data_dir", o.data_dir}, {"tasks", list}}.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("data dir: {}\n", o.data_dir);
    std::cout << fmt::format("{:<14} {:<11} {:<7} {:>3}  {:>9}  {}\n", "task", "kind", "grader", "k", "problems",
                             "description");
    for (const auto& s : statuses) {
      std::cout << fmt::format("{:<14} {:<11} {:<7} {:>3}  {:>9}  {}\n", s.info.name, to_string(s.info.kind),
                               s.info.grader, s.info.default_samples,
                               s.available ? std::to_string(s.problems) : "-", s.info.description);
      if (!s.available) std::cout << fmt::format("{:<14} unavailable: {}\n", "", s.error);
    }
  });

  // reval show TASK ID
  struct ShowOpts {
    std::string task, id, data_dir, prompt_template, filters, gpqa_password;
    std::uint64_t seed = 0;
    bool json = false;
  };
  auto so = std::make_shared<ShowOpts>();
  auto* show = app.add_subcommand("show", "Print one problem's prompt exactly as the model sees it (before the chat "
                                          "template); without an id, list the task's problem ids");
  show->add_option("task", so->task, "Task name (see `reval tasks`)")->required();
  show->add_option("id", so->id, "Problem id, e.g. 2024-I-1 or test/algebra/1.json (omit to list the ids)");
  show->add_option("--data-dir", so->data_dir, "Benchmark data directory");
  show->add_option("--seed", so->seed, "Seed (GPQA choice shuffling)");
  show->add_option("--prompt-template", so->prompt_template, "File overriding the task's prompt ({problem}, ...)");
  show->add_option("--filters", so->filters, "Task filters as a JSON object");
  show->add_flag("--json", so->json, "Print the whole problem (prompt, gold, grading, metadata) as JSON");
  show->callback([so] {
    LoadOptions o;
    o.data_dir = resolve_data_dir(so->data_dir);
    o.seed = so->seed;
    if (!so->prompt_template.empty()) o.prompt_template = so->prompt_template;
    o.filters = parse_filters(so->filters);
    if (so->id.empty()) {  // reval show TASK: the problem ids (with --json: ids and metadata)
      auto problems = load_task(so->task, o);
      if (so->json) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& p : problems) list.push_back({{"id", p.id}, {"metadata", p.metadata}});
        std::cout << nlohmann::json{{"task", so->task}, {"problems", list}}.dump(2) << "\n";
      } else {
        for (const auto& p : problems) std::cout << p.id << "\n";
      }
      return;
    }
    Problem p = find_problem(so->task, so->id, o);
    if (so->json) std::cout << to_json(p).dump(2) << "\n";
    else std::cout << p.prompt << (p.prompt.ends_with('\n') ? "" : "\n");
  });

  // reval data fetch TASK...
  struct FetchOpts {
    std::vector<std::string> tasks;
    std::string data_dir, hub_url, revision, api_url;
    std::vector<std::int64_t> contests;
    bool no_verify = false, force = false;
  };
  auto fo = std::make_shared<FetchOpts>();
  auto* data = app.add_subcommand("data", "Manage benchmark data");
  data->require_subcommand(1);
  auto* fetch = data->add_subcommand("fetch", "Download a task's official files from the Hugging Face Hub (resumable)");
  fetch->add_option("task", fo->tasks, "Task name(s)")->required();
  fetch->add_option("--data-dir", fo->data_dir, "Destination data directory");
  fetch->add_option("--hub-url", fo->hub_url, "Hub endpoint (default: $HF_ENDPOINT, else https://huggingface.co)");
  fetch->add_option("--revision", fo->revision, "Dataset revision (branch, tag or commit) instead of the default");
  fetch->add_flag("--no-verify", fo->no_verify, "Skip the sha256 check");
  fetch->add_flag("--force", fo->force, "Download again even if the files exist");
  fetch->add_option("--contest", fo->contests,
                    "codeforces: contest ids whose standings and rating changes to cache (for `reval rating`)")
      ->delimiter(',');
  fetch->add_option("--api-url", fo->api_url,
                    "codeforces: API endpoint (default: $REVAL_CODEFORCES_API, else https://codeforces.com/api)");
  fetch->callback([fo, &status] {
    FetchOptions o;
    o.data_dir = resolve_data_dir(fo->data_dir);
    o.hub_url = fo->hub_url;
    o.revision = fo->revision;
    o.verify = !fo->no_verify;
    o.force = fo->force;
    if (!fo->contests.empty()) {  // reval data fetch codeforces --contest ID[,ID...]
      if (fo->tasks != std::vector<std::string>{"codeforces"})
        throw Error("field 'contest': --contest goes with the task codeforces only");
      CodeforcesFetchOptions cf;
      cf.api_url = fo->api_url;
      for (const auto& r : fetch_codeforces_contests(fo->contests, o, cf))
        std::cout << fmt::format("codeforces\t{}\t{}\t{}\n", r.dest_path, r.bytes, r.skipped ? "present" : "downloaded");
      return;
    }
    for (const auto& t : fo->tasks) {
      auto results = fetch_task_data(t, o);
      for (const auto& r : results)
        std::cout << fmt::format("{}\t{}\t{}\t{}\n", t, r.dest_path, r.bytes, r.skipped ? "present" : "downloaded");
    }
    status = 0;
  });
}

}  // namespace reval::cli
