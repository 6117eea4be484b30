// Opening what an evaluation runs against: the backend named by the options (a Hub id resolved to its cached
// download first) and the results store; run_eval() ties them to plan_eval() + execute_eval() (eval.hpp).
#include "harness/eval.hpp"

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "model/backends.hpp"
#include "model/hub.hpp"
#include "base/error.hpp"
#include "results/store.hpp"
#include "tasks/task.hpp"

namespace reval {

std::unique_ptr<Backend> open_backend(const EvalOptions& options) {
  BackendOptions b = options.backend_options;
  b.model = options.model;
  if (!b.log) b.log = [](const std::string& line) { std::fprintf(stderr, "reval: %s\n", line.c_str()); };
  if (options.concurrency > 0) b.concurrency = options.concurrency;
  else if (b.base_urls.size() > 1) b.concurrency *= static_cast<int>(b.base_urls.size());  // the default per server
  if (options.backend == "replay" && b.replay_file.empty())
    throw Error("--backend replay needs --responses FILE (JSONL of {task, problem_id, sample_index, completion})");
  if (options.backend == "native" && options.model.empty())
    throw Error("--backend native needs --model DIR or a Hugging Face Hub id (org/name[@revision])");
  if (options.backend == "native") {  // a hub id becomes its cached download; run.model keeps what was typed
    HubOptions hub = options.hub;
    if (!hub.log) hub.log = b.log;
    b.model = resolve_model_dir(options.model, hub);
  }
  return make_backend(options.backend, b);
}

EvalStats run_eval(const EvalOptions& options, const std::atomic<bool>* stop) {
  for (const auto& t : options.tasks) task_info(t);  // unknown task names fail before any backend starts
  auto backend = open_backend(options);
  EvalPlan plan = plan_eval(options, backend->info(), backend->max_concurrency());
  StoreOptions so;
  so.quick_check = true;  // a corrupt database is named before anything is generated into it
  auto store = open_sqlite_store(options.db, so);
  return execute_eval(plan, *store, *backend, stop);
}

}  // namespace reval
