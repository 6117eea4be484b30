// Native engine throughput: the per-problem loop vs the continuous-batching scheduler, and the KV memory of prompt
// sharing. Prints a Markdown table (not a timed test; numbers depend on the machine and its load).
//
// Theory of operation: for each tiny checkpoint, the first N MATH-500 problems (R1 prompt, the model's chat
// template) are generated with k samples each, up to M new tokens (stopping at EOS as an evaluation would), at the
// R1 sampling settings (T 0.6, top-p 0.95), on a CPU device with T threads, through engine::Session — the path the
// native backend uses. Modes:
//   per-problem loop   what the engine did before the scheduler: one problem at a time (the harness called the
//                      backend serially), its k samples batched, every sample holding its own copy of the prompt's
//                      KV (no sharing, no prefix cache). Replayed on the same kernels, so the difference is the
//                      scheduling alone.
//   scheduler          every problem submitted at once from its own thread (as the harness does now with
//                      max_concurrency() threads): one batch across problems, prompts shared by their samples.
//   scheduler, copies  the same without prompt sharing (for the KV column).
// Columns: wall time, samples/s, generated tokens/s, engine steps, peak KV (blocks in use x bytes per block).
// Then the KV bound for k samples of one prompt: peak blocks shared vs copied vs the bound
// ceil-free full prompt blocks + k x blocks of (partial prompt block + generated positions).
//
// Usage: engine_throughput [--problems 32] [--samples 8] [--max-new-tokens 128] [--threads 2] [--k64 64]
//                          [--models tinystories-656k,tiny-random-qwen2] [--data DIR]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/error.hpp"
#include "model/engine/session.hpp"
#include "tasks/task.hpp"

namespace {

using namespace reval;
using namespace reval::engine;

std::string shared_dir() {
  if (const char* e = std::getenv("REVAL_SHARED"); e && *e) return e;
  return REVAL_SHARED_DEFAULT;
}

struct Args {
  int problems = 32, samples = 8, max_new = 128, threads = 2, k64 = 64;
  std::vector<std::string> models = {"tinystories-656k", "tiny-random-qwen2"};
  std::string data;
};

struct Row {
  std::string mode;
  std::vector<std::string> texts;  // every sample's completion, for the identity check across modes
  double wall_s = 0;
  std::int64_t samples = 0, tokens = 0, steps = 0;
  std::size_t peak_kv = 0;
};

SessionOptions options(const Args& a, bool share, bool prefix, int max_running) {
  SessionOptions o;
  o.engine.threads = a.threads;
  o.engine.kv_memory = 1LL << 30;
  o.engine.share_prompt = share;
  o.engine.prefix_cache = prefix;
  o.engine.max_running = max_running;
  return o;
}

TextRequest request_for(const std::vector<TokenId>& prompt, int p, const Args& a) {
  TextRequest r;
  r.prompt = prompt;
  for (int j = 0; j < a.samples; ++j) r.seeds.push_back(static_cast<std::uint64_t>(p) * 1000 + static_cast<std::uint64_t>(j));
  r.sampler = {0.6, 0.95, 0, 0.0};
  r.max_new_tokens = a.max_new;
  return r;
}

Row run(const std::string& dir, const std::string& mode, const std::vector<std::string>& prompts, const Args& a,
        bool all_at_once, bool share, bool prefix, int max_running) {
  Session s(dir, options(a, share, prefix, max_running));
  std::vector<std::vector<TokenId>> ids;
  for (const auto& p : prompts) ids.push_back(s.chat_prompt(nlohmann::json::array({{{"role", "user"}, {"content", p}}})));
  Row row;
  row.mode = mode;
  std::vector<std::vector<TextResult>> out(prompts.size());
  const auto t0 = std::chrono::steady_clock::now();
  if (all_at_once) {
    std::vector<std::thread> threads;
    for (std::size_t p = 0; p < prompts.size(); ++p)
      threads.emplace_back([&, p] { out[p] = s.generate(request_for(ids[p], static_cast<int>(p), a)); });
    for (auto& t : threads) t.join();
  } else {
    for (std::size_t p = 0; p < prompts.size(); ++p) out[p] = s.generate(request_for(ids[p], static_cast<int>(p), a));
  }
  row.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& o : out)
    for (const auto& r : o) {
      if (r.finish == Finish::error) throw Error("bench: a sample failed: " + r.error);
      ++row.samples;
      row.tokens += r.completion_tokens;
      row.texts.push_back(r.text);
    }
  const EngineStats st = s.engine().stats();
  row.steps = st.scheduler.steps;
  row.peak_kv = st.peak_kv_bytes();
  return row;
}

void kv_bound(const std::string& dir, const std::string& prompt, const Args& a) {
  std::int32_t peak[2] = {0, 0};
  std::int64_t P = 0, G = 0, bs = 16;
  std::size_t block_bytes = 0;
  for (int share = 1; share >= 0; --share) {
    Session s(dir, options(a, share == 1, false, std::max(256, a.k64)));
    TextRequest r;
    r.prompt = s.chat_prompt(nlohmann::json::array({{{"role", "user"}, {"content", prompt}}}));
    for (int j = 0; j < a.k64; ++j) r.seeds.push_back(static_cast<std::uint64_t>(j));
    r.sampler = {0.6, 0.95, 0, 0.0};
    r.max_new_tokens = a.max_new;
    auto out = s.generate(r);
    P = static_cast<std::int64_t>(r.prompt.size());
    G = 0;
    for (const auto& o : out) G = std::max(G, o.completion_tokens);
    peak[share] = s.engine().stats().peak_used_blocks;
    bs = s.engine().kv_layout().block_size;
    block_bytes = s.engine().kv_layout().block_bytes();
  }
  const std::int64_t ideal_tokens = P + static_cast<std::int64_t>(a.k64) * (G - 1);
  const std::int64_t bound = P / bs + a.k64 * ((P % bs + G - 1 + bs - 1) / bs);
  std::printf("| %d samples of one prompt (%lld tokens, up to %lld new) | %d blocks (%s) | %d blocks (%s) | "
              "%lld blocks = (prompt + %d x generated) %lld tokens in %lld-token blocks |\n",
              a.k64, static_cast<long long>(P), static_cast<long long>(G), peak[1],
              format_bytes(static_cast<double>(peak[1]) * static_cast<double>(block_bytes)).c_str(), peak[0],
              format_bytes(static_cast<double>(peak[0]) * static_cast<double>(block_bytes)).c_str(),
              static_cast<long long>(bound), a.k64, static_cast<long long>(ideal_tokens), static_cast<long long>(bs));
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t b = 0;
  while (b <= s.size()) {
    const std::size_t e = s.find(',', b);
    out.push_back(s.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--problems") a.problems = std::stoi(v);
    else if (k == "--samples") a.samples = std::stoi(v);
    else if (k == "--max-new-tokens") a.max_new = std::stoi(v);
    else if (k == "--threads") a.threads = std::stoi(v);
    else if (k == "--k64") a.k64 = std::stoi(v);
    else if (k == "--models") a.models = split(v);
    else if (k == "--data") a.data = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    reval::LoadOptions lo;
    lo.data_dir = a.data.empty() ? shared_dir() + "/data" : a.data;
    auto problems = reval::load_task("math500", lo);
    std::vector<std::string> prompts;
    for (int i = 0; i < a.problems && i < static_cast<int>(problems.size()); ++i) prompts.push_back(problems[static_cast<std::size_t>(i)].prompt);
    std::printf("MATH-500: first %zu problems x %d samples, up to %d new tokens (EOS stops), T 0.6 / top-p 0.95, "
                "%d CPU threads, %u hardware threads\n\n",
                prompts.size(), a.samples, a.max_new, a.threads, std::thread::hardware_concurrency());
    for (const auto& m : a.models) {
      const std::string dir = shared_dir() + "/models/" + m;
      std::printf("### %s\n\n| mode | wall s | samples/s | tokens/s | steps | peak KV |\n|---|---:|---:|---:|---:|---:|\n",
                  m.c_str());
      std::vector<Row> rows;
      rows.push_back(run(dir, "per-problem loop (k batched, prompt copied)", prompts, a, false, false, false, 16));
      rows.push_back(run(dir, "scheduler (all problems, shared prompts)", prompts, a, true, true, true, 256));
      rows.push_back(run(dir, "scheduler, prompt copied per sample", prompts, a, true, false, false, 256));
      for (const auto& r : rows)
        std::printf("| %s | %.2f | %.1f | %.0f | %lld | %s |\n", r.mode.c_str(), r.wall_s, r.samples / r.wall_s,
                    r.tokens / r.wall_s, static_cast<long long>(r.steps), format_bytes(static_cast<double>(r.peak_kv)).c_str());
      const bool same = rows[0].texts == rows[1].texts && rows[1].texts == rows[2].texts;
      std::printf("\nscheduler / per-problem loop: %.2fx tokens/s (%lld tokens generated by each mode; completions "
                  "identical across modes: %s)\n\n",
                  (rows[1].tokens / rows[1].wall_s) / (rows[0].tokens / rows[0].wall_s),
                  static_cast<long long>(rows[1].tokens), same ? "yes" : "NO");
      if (!same) return 3;
      std::printf("| KV for k samples | shared | copied | bound |\n|---|---:|---:|---|\n");
      kv_bound(dir, prompts.at(0), a);
      std::printf("\n");
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine_throughput: %s\n", e.what());
    return 1;
  }
  return 0;
}
