// Tokenizer throughput on MATH-500 (problems + solutions concatenated, ~400 KB): encode with a cold word cache
// (a freshly loaded tokenizer, first pass), encode warm (cache filled), encode from 4 threads sharing one
// tokenizer, decode, and load time. Counters report tokens/s and MB/s. Run: ./bench/tokenizer/tokenizer_bench
#include <cstdlib>
#include <thread>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "model/tokenizer/tokenizer.hpp"
#include "base/jsonl.hpp"

namespace {

std::string shared(const std::string& rel) {
  const char* env = std::getenv("REVAL_SHARED");
  return (env && *env ? std::string(env) : std::string(REVAL_SHARED_DEFAULT)) + "/" + rel;
}

const std::string& math500_text() {
  static const std::string text = [] {
    std::string all;
    reval::for_each_jsonl_file(shared("data/math500/test.jsonl"), [&](reval::JsonlLine& l) {
      if (!l.value) return;
      all += l.value->value("problem", "") + "\n\n" + l.value->value("solution", "") + "\n\n";
    });
    return all;
  }();
  return text;
}

std::string dir_of(int which) {
  switch (which) {
    case 0: return shared("models/qwen3-tokenizer");
    case 1: return shared("models/llama3-tokenizer");
    default: return shared("models/tinystories-656k");
  }
}
const char* name_of(int which) { return which == 0 ? "qwen3" : which == 1 ? "llama3" : "tinystories"; }

std::shared_ptr<const reval::Tokenizer> cached(int which) {
  static std::shared_ptr<const reval::Tokenizer> t[3];
  if (!t[which]) t[which] = reval::Tokenizer::from_file(dir_of(which));
  return t[which];
}

void report(benchmark::State& state, std::size_t tokens, std::size_t bytes) {
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  state.counters["MB/s"] = benchmark::Counter(static_cast<double>(bytes) / 1e6, benchmark::Counter::kIsRate);
  state.counters["tokens"] = static_cast<double>(tokens) / static_cast<double>(state.iterations());
}

void BM_Load(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(reval::Tokenizer::from_file(dir_of(static_cast<int>(state.range(0)))));
  state.SetLabel(name_of(static_cast<int>(state.range(0))));
}

// Cold: a fresh tokenizer per iteration (load time excluded), so every word goes through BPE.
void BM_EncodeCold(benchmark::State& state) {
  const std::string& text = math500_text();
  std::size_t tokens = 0, bytes = 0;
  std::shared_ptr<const reval::Tokenizer> tok;
  for (auto _ : state) {
    state.PauseTiming();
    tok.reset();  // destroy the previous one outside the timed region
    tok = reval::Tokenizer::from_file(dir_of(static_cast<int>(state.range(0))));
    state.ResumeTiming();
    tokens += tok->encode(text).size();
    bytes += text.size();
  }
  tok.reset();  // after the loop: not timed
  report(state, tokens, bytes);
  state.SetLabel(name_of(static_cast<int>(state.range(0))));
}

void BM_EncodeWarm(benchmark::State& state) {
  auto tok = cached(static_cast<int>(state.range(0)));
  const std::string& text = math500_text();
  tok->encode(text);
  std::size_t tokens = 0, bytes = 0;
  for (auto _ : state) {
    tokens += tok->encode(text).size();
    bytes += text.size();
  }
  report(state, tokens, bytes);
  state.SetLabel(name_of(static_cast<int>(state.range(0))));
}

void BM_EncodeThreads4(benchmark::State& state) {
  auto tok = cached(0);
  const std::string& text = math500_text();
  tok->encode(text);
  std::size_t tokens = 0, bytes = 0;
  for (auto _ : state) {
    std::vector<std::thread> threads;
    std::vector<std::size_t> counts(4);
    for (int k = 0; k < 4; ++k)
      threads.emplace_back([&, k] { counts[static_cast<std::size_t>(k)] = tok->encode(text).size(); });
    for (auto& th : threads) th.join();
    for (auto c : counts) tokens += c;
    bytes += 4 * text.size();
  }
  report(state, tokens, bytes);
  state.SetLabel("qwen3");
}

void BM_Decode(benchmark::State& state) {
  auto tok = cached(static_cast<int>(state.range(0)));
  auto ids = tok->encode(math500_text());
  std::size_t tokens = 0, bytes = 0;
  for (auto _ : state) {
    auto s = tok->decode(ids);
    tokens += ids.size();
    bytes += s.size();
  }
  report(state, tokens, bytes);
  state.SetLabel(name_of(static_cast<int>(state.range(0))));
}

void BM_IncrementalDecode(benchmark::State& state) {
  auto tok = cached(0);
  auto ids = tok->encode(math500_text());
  std::size_t tokens = 0, bytes = 0;
  for (auto _ : state) {
    reval::IncrementalDecoder dec(tok);
    for (auto id : ids) bytes += dec.push(id).size();
    bytes += dec.flush().size();
    tokens += ids.size();
  }
  report(state, tokens, bytes);
  state.SetLabel("qwen3");
}

BENCHMARK(BM_Load)->DenseRange(0, 2)->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK(BM_EncodeCold)->DenseRange(0, 1)->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK(BM_EncodeWarm)->DenseRange(0, 1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeThreads4)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Decode)->DenseRange(0, 1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IncrementalDecode)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
