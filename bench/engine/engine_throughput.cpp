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
// Each mode runs --repeat times (modes interleaved) and the fastest run is reported: the numbers are meant for a
// shared machine. Columns: wall time, samples/s, generated tokens/s, CPU seconds per 1000 tokens (process user +
// system time, less sensitive to other load than wall time), engine steps, peak KV (blocks in use x bytes per
// block). All modes must produce identical completions (checked). Then the KV of k samples of one prompt, all
// generating the full max_new_tokens (EOS ignored): peak blocks with shared prompts vs copied prompts vs the bound
// full prompt blocks + k x blocks(partial prompt block + generated positions), and the ideal prompt + k x generated.
//
// Usage: engine_throughput [--problems 32] [--samples 8] [--max-new-tokens 128] [--threads 2] [--k64 64]
//                          [--repeat 3] [--models tinystories-656k,tiny-random-qwen2] [--data DIR]
#include <sys/resource.h>

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
  int problems = 32, samples = 8, max_new = 128, threads = 2, k64 = 64, repeat = 3;
  std::vector<std::string> models = {"tinystories-656k", "tiny-random-qwen2"};
  std::string data;
};

struct Row {
  std::string mode;
  std::vector<std::string> texts;  // every sample's completion, for the identity check across modes
  double wall_s = 0, cpu_s = 0;
  std::int64_t samples = 0, tokens = 0, steps = 0;
  std::size_t peak_kv = 0;
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

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
  const double c0 = cpu_seconds();
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
  row.cpu_s = cpu_seconds() - c0;
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
  std::int64_t P = 0, bs = 16;
  std::size_t block_bytes = 0;
  for (int share = 1; share >= 0; --share) {
    Session s(dir, options(a, share == 1, false, std::max(256, a.k64)));
    Request r;  // on the engine directly: no stop tokens, every sample generates max_new_tokens
    r.prompt = s.chat_prompt(nlohmann::json::array({{{"role", "user"}, {"content", prompt}}}));
    for (int j = 0; j < a.k64; ++j) r.seeds.push_back(static_cast<std::uint64_t>(j));
    r.sampler = {0.6, 0.95, 0, 0.0};
    r.max_new_tokens = a.max_new;
    r.vocab_limit = s.vocab_limit();
    for (const auto& o : s.engine().generate(r))
      if (static_cast<int>(o.tokens.size()) != a.max_new) throw Error("bench: a sample ended early");
    P = static_cast<std::int64_t>(r.prompt.size());
    peak[share] = s.engine().stats().peak_used_blocks;
    bs = s.engine().kv_layout().block_size;
    block_bytes = s.engine().kv_layout().block_bytes();
  }
  const std::int64_t G = a.max_new - 1;  // positions a sample adds (its last token is never forwarded)
  const std::int64_t bound = P / bs + a.k64 * ((P % bs + G + bs - 1) / bs);
  const std::int64_t ideal = (P + a.k64 * G + bs - 1) / bs;
  auto kv = [&](std::int64_t blocks) {
    return format_bytes(static_cast<double>(blocks) * static_cast<double>(block_bytes));
  };
  std::printf("| %d samples, prompt %lld + %d new tokens | %d blocks (%s) | %d blocks (%s) | %lld blocks (%s) | "
              "%lld blocks (%s) |\n",
              a.k64, static_cast<long long>(P), a.max_new, peak[1], kv(peak[1]).c_str(), peak[0], kv(peak[0]).c_str(),
              static_cast<long long>(bound), kv(bound).c_str(), static_cast<long long>(ideal), kv(ideal).c_str());
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
    else if (k == "--repeat") a.repeat = std::max(1, std::stoi(v));
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
      std::printf("### %s\n\n| mode | wall s | samples/s | tokens/s | CPU s / 1k tokens | steps | peak KV |\n"
                  "|---|---:|---:|---:|---:|---:|---:|\n",
                  m.c_str());
      struct Mode {
        const char* name;
        bool all_at_once, share, prefix;
        int max_running;
      };
      const Mode modes[] = {{"per-problem loop (k batched, prompt copied)", false, false, false, 16},
                            {"scheduler (all problems, shared prompts)", true, true, true, 256},
                            {"scheduler, prompt copied per sample", true, false, false, 256}};
      std::vector<Row> rows(3);
      for (int rep = 0; rep < a.repeat; ++rep)
        for (int i = 0; i < 3; ++i) {
          const Mode& md = modes[i];
          Row r = run(dir, md.name, prompts, a, md.all_at_once, md.share, md.prefix, md.max_running);
          if (rep == 0 || r.wall_s < rows[static_cast<std::size_t>(i)].wall_s) rows[static_cast<std::size_t>(i)] = r;
        }
      for (const auto& r : rows)
        std::printf("| %s | %.2f | %.1f | %.0f | %.2f | %lld | %s |\n", r.mode.c_str(), r.wall_s, r.samples / r.wall_s,
                    r.tokens / r.wall_s, 1000.0 * r.cpu_s / static_cast<double>(r.tokens),
                    static_cast<long long>(r.steps), format_bytes(static_cast<double>(r.peak_kv)).c_str());
      const bool same = rows[0].texts == rows[1].texts && rows[1].texts == rows[2].texts;
      std::printf("\nscheduler / per-problem loop: %.2fx tokens/s, %.2fx CPU per token (%lld tokens generated by "
                  "each mode; completions identical across modes: %s; best of %d)\n\n",
                  (rows[1].tokens / rows[1].wall_s) / (rows[0].tokens / rows[0].wall_s),
                  (rows[1].cpu_s / static_cast<double>(rows[1].tokens)) / (rows[0].cpu_s / static_cast<double>(rows[0].tokens)),
                  static_cast<long long>(rows[1].tokens), same ? "yes" : "NO", a.repeat);
      if (!same) return 3;
      std::printf("| KV, one prompt, EOS ignored | shared prompt | copied prompt | bound | prompt + k x generated |\n"
                  "|---|---:|---:|---:|---:|\n");
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
