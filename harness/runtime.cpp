// See runtime.hpp.
#include "harness/runtime.hpp"

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "model/backends.hpp"
#include "model/hub.hpp"
#include "base/error.hpp"
#include "tasks/task.hpp"

namespace reval {

std::unique_ptr<Backend> open_backend(const EvalOptions& options) {
  BackendOptions b;
  b.model = options.model;
  b.threads = options.threads;
  if (!options.kv_memory.empty()) b.native["kv_memory"] = options.kv_memory;
  b.chat_template = options.chat_template;
  b.replay_file = options.responses;
  b.base_url = options.base_url;
  b.endpoint = options.endpoint;
  b.api_key_env = options.api_key_env;
  b.max_retries = options.max_retries;
  b.timeout_s = options.request_timeout_s;
  b.log = [](const std::string& line) { std::fprintf(stderr, "reval: %s\n", line.c_str()); };
  if (options.concurrency > 0) b.concurrency = options.concurrency;
  if (options.backend == "replay" && options.responses.empty())
    throw Error("--backend replay needs --responses FILE (JSONL of {task, problem_id, sample_index, completion})");
  if (options.backend == "native" && options.model.empty())
    throw Error("--backend native needs --model DIR or a Hugging Face Hub id (org/name[@revision])");
  if (options.backend == "native") {  // a hub id becomes its cached download; run.model keeps what was typed
    HubOptions hub;
    hub.hub_url = options.hub_url;
    if (!options.revision.empty()) hub.revision = options.revision;
    hub.log = b.log;
    b.model = resolve_model_dir(options.model, hub);
  }
  return make_backend(options.backend, b);
}

std::string grader_for_task(const std::string& task) { return task_info(task).grader; }

EvalStats run_eval(const EvalOptions& options, const std::atomic<bool>* stop) {
  for (const auto& t : options.tasks) task_info(t);  // unknown task names fail before any backend starts
  auto backend = open_backend(options);
  EvalPlan plan = plan_eval(options, backend->info(), backend->max_concurrency());
  auto store = open_sqlite_store(options.db);
  return execute_eval(plan, *store, *backend, stop);
}

}  // namespace reval
