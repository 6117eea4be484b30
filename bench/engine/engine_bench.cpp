// Native engine CPU microbenchmarks on the tiny checkpoints in ../shared/models (Google Benchmark).
//
// Theory of operation: Prefill/<model>/<threads> runs a 128-token prompt through the single-sequence path (paged
// KV, logits for the last position only). Decode/<model>/<batch>/<threads> runs one engine request of `batch`
// greedy samples for 32 new tokens after a 16-token prompt (one shared prefill, then 32 batched decode steps,
// scheduler included). items_per_second is tokens per second (prompt tokens for prefill, generated tokens for
// decode). The end-to-end comparison of the scheduler with the per-problem loop is engine_throughput.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "model/engine/cpu_ops.hpp"
#include "model/engine/engine.hpp"
#include "model/engine/single_sequence.hpp"

namespace {

using namespace reval::engine;

std::string shared_dir() {
  if (const char* e = std::getenv("REVAL_SHARED"); e && *e) return e;
  return REVAL_SHARED_DEFAULT;
}

const char* kModels[] = {"tinystories-656k", "tiny-random-qwen2", "tiny-random-llama3"};

std::shared_ptr<const Model> model(int i) {
  static std::map<int, std::shared_ptr<const Model>> cache;
  auto& m = cache[i];
  if (!m) m = Model::load(shared_dir() + "/models/" + kModels[i]);
  return m;
}

std::vector<TokenId> tokens(std::int64_t n, std::int64_t vocab) {
  std::vector<TokenId> t(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) t[i] = static_cast<TokenId>((i * 7 + 3) % std::min<std::int64_t>(vocab, 2000));
  return t;
}

void Prefill(benchmark::State& state) {
  auto m = model(static_cast<int>(state.range(0)));
  CpuOps ops(static_cast<int>(state.range(1)));
  const auto prompt = tokens(128, m->vocab_rows());
  SequenceRunner runner(m, ops, 128);
  for (auto _ : state) {
    runner.reset();
    auto logits = runner.forward(prompt, false);
    benchmark::DoNotOptimize(logits.data());
  }
  state.SetItemsProcessed(state.iterations() * 128);
  state.SetLabel(kModels[state.range(0)]);
}

void Decode(benchmark::State& state) {
  auto m = model(static_cast<int>(state.range(0)));
  const int batch = static_cast<int>(state.range(1));
  EngineOptions o;
  o.threads = static_cast<int>(state.range(2));
  o.kv_memory = 64 << 20;
  Engine engine(m, o);
  Request r;
  r.prompt = tokens(16, m->vocab_rows());
  for (int b = 0; b < batch; ++b) r.seeds.push_back(static_cast<std::uint64_t>(b));
  r.max_new_tokens = 33;
  for (auto _ : state) {
    auto out = engine.generate(r);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 32 * batch);
  state.SetLabel(kModels[state.range(0)]);
}

}  // namespace

BENCHMARK(Prefill)->ArgNames({"model", "threads"})->ArgsProduct({{0, 1, 2}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(Decode)
    ->ArgNames({"model", "batch", "threads"})
    ->ArgsProduct({{0, 1, 2}, {1, 8, 64}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
