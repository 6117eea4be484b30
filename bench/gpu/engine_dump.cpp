// reval-engine-dump: runs the native engine on token-id prompts and writes what the Hugging Face comparison
// (bench/gpu/hf_compare.py) and the first GPU timing need. No tokenizer: prompts are token ids.
//
//   reval-engine-dump --model DIR --device cuda --prompts P.json --steps 32 --out R.json --logits L.f32
//     P.json: [[ids...], ...]. For each prompt: the fp32 logits of its last prompt token (single-sequence path,
//     rows of L.f32, [prompts, vocab] little-endian float32) and the greedy continuation of --steps tokens through
//     the scheduler (all prompts in one batch, stop tokens ignored), written to R.json:
//     {"device": "...", "greedy": [[ids...], ...], "vocab": V}.
//   reval-engine-dump --model DIR --device cuda --bench 1,64,256 --prompt-len 128 --new 512
//     Fixed-length generation (EOS ignored, greedy) for each batch size: prints a Markdown table of wall time,
//     generated tok/s and ms per decode step. A first timing, not the issue-12 benchmark (no roofline here).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "kernels/counter_rng.hpp"
#include "model/engine/engine.hpp"
#include "model/engine/single_sequence.hpp"

namespace {

using namespace reval::engine;

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stoi(item));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string model_dir, prompts_file, out_file, logits_file, bench, device = "auto";
    int steps = 32, prompt_len = 128, new_tokens = 512;
    double gpu_memory = 0.9;
    std::string kv_memory;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (i + 1 >= argc) throw reval::Error(a + " needs a value");
      const std::string v = argv[++i];
      if (a == "--model") model_dir = v;
      else if (a == "--device") device = v;
      else if (a == "--prompts") prompts_file = v;
      else if (a == "--out") out_file = v;
      else if (a == "--logits") logits_file = v;
      else if (a == "--steps") steps = std::stoi(v);
      else if (a == "--bench") bench = v;
      else if (a == "--prompt-len") prompt_len = std::stoi(v);
      else if (a == "--new") new_tokens = std::stoi(v);
      else if (a == "--gpu-memory") gpu_memory = std::stod(v);
      else if (a == "--kv-memory") kv_memory = v;
      else throw reval::Error("unknown option " + a);
    }
    if (model_dir.empty()) throw reval::Error("--model DIR is required");
    auto model = Model::load(model_dir);
    const std::int64_t V = model->config().vocab_size;
    EngineOptions eo;
    eo.device = device;
    eo.gpu_memory = gpu_memory;
    if (!kv_memory.empty()) eo.kv_memory = parse_memory_size(kv_memory);

    if (!bench.empty()) {
      const auto sizes = parse_list(bench);
      int max_b = 1;
      for (int b : sizes) max_b = std::max(max_b, b);
      eo.max_running = max_b;
      eo.max_step_tokens = std::max<std::int64_t>(2048, max_b);
      eo.prefix_cache = false;
      Engine engine(model, eo);
      std::printf("device: %s\nmodel: %s (%lld layers, hidden %lld, vocab %lld)\n\n", engine.device().c_str(),
                  model_dir.c_str(), static_cast<long long>(model->config().num_layers),
                  static_cast<long long>(model->config().hidden_size), static_cast<long long>(V));
      std::printf("| batch | prompt | new | wall s | gen tok/s | ms/step (decode) |\n|---|---|---|---|---|---|\n");
      for (int b : sizes) {
        auto run = [&](int n_new) {
          std::vector<PendingRequest> pending;
          const auto t0 = std::chrono::steady_clock::now();
          for (int r = 0; r < b; ++r) {
            Request q;
            for (int i = 0; i < prompt_len; ++i)
              q.prompt.push_back(static_cast<TokenId>(reval::kernels::counter_random(1000 + r, i) % static_cast<std::uint64_t>(V)));
            q.seeds = {static_cast<std::uint64_t>(r)};
            q.max_new_tokens = n_new;
            pending.push_back(engine.submit(q));
          }
          std::int64_t tokens = 0;
          for (auto& p : pending)
            for (const auto& s : p.wait()) {
              if (s.finish == Finish::error) throw reval::Error("generation failed: " + s.error);
              tokens += static_cast<std::int64_t>(s.tokens.size());
            }
          const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          return std::make_pair(wall, tokens);
        };
        run(8);  // warm-up (cuBLAS heuristics, first allocations)
        const auto [wall, tokens] = run(new_tokens);
        std::printf("| %d | %d | %d | %.2f | %.0f | %.2f |\n", b, prompt_len, new_tokens, wall,
                    static_cast<double>(tokens) / wall, 1000.0 * wall / new_tokens);
        std::fflush(stdout);
      }
      return 0;
    }

    if (prompts_file.empty() || out_file.empty()) throw reval::Error("--prompts and --out are required");
    std::ifstream in(prompts_file);
    if (!in) throw reval::Error(prompts_file + ": cannot open");
    const nlohmann::json pj = nlohmann::json::parse(in);
    std::vector<std::vector<TokenId>> prompts;
    for (const auto& p : pj) prompts.push_back(p.get<std::vector<TokenId>>());

    auto ops = make_device(eo);
    const std::string device_name = ops->name();
    std::vector<float> all_logits;
    std::int64_t longest = 0;
    for (const auto& p : prompts) longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(p.size()));
    {
      SequenceRunner runner(model, *ops, longest + 1);
      for (const auto& p : prompts) {
        runner.reset();
        const auto lg = runner.forward(p, false);
        all_logits.insert(all_logits.end(), lg.begin(), lg.end());
      }
    }
    ops.reset();
    eo.max_running = static_cast<int>(std::max<std::size_t>(1, prompts.size()));
    if (kv_memory.empty()) eo.kv_memory = 0;
    Engine engine(model, eo);
    std::vector<PendingRequest> pending;
    for (const auto& p : prompts) {
      Request q;
      q.prompt = p;
      q.seeds = {0};
      q.max_new_tokens = steps;
      pending.push_back(engine.submit(q));
    }
    nlohmann::json out;
    out["device"] = engine.device();
    out["vocab"] = V;
    out["greedy"] = nlohmann::json::array();
    for (auto& p : pending) {
      const auto r = p.wait();
      if (r.at(0).finish == Finish::error) throw reval::Error("generation failed: " + r[0].error);
      out["greedy"].push_back(r[0].tokens);
    }
    std::ofstream(out_file) << out.dump() << "\n";
    if (!logits_file.empty()) {
      std::ofstream lf(logits_file, std::ios::binary);
      lf.write(reinterpret_cast<const char*>(all_logits.data()),
               static_cast<std::streamsize>(all_logits.size() * sizeof(float)));
      if (!lf) throw reval::Error(logits_file + ": write failed");
    }
    std::printf("%s: %zu prompts, logits [%zu, %lld], %d greedy steps\n", device_name.c_str(), prompts.size(),
                prompts.size(), static_cast<long long>(V), steps);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
