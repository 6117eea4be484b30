// reval-make-checkpoint: writes a random-weight Hugging Face checkpoint (config.json, generation_config.json,
// model.safetensors) of a preset or given shape, for tests and GPU benchmarks without a download.
//
//   reval-make-checkpoint --preset r1-distill-qwen-1.5b --out /tmp/r1-1.5b [--tokenizer DIR] [--seed N]
//   reval-make-checkpoint --arch qwen2 --hidden 96 --layers 3 --heads 6 --kv-heads 2 --intermediate 200
//       --vocab 1003 --out /tmp/tiny   (one line)
// Every dimension flag overrides the preset's value. See model/engine/random_checkpoint.hpp.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/error.hpp"
#include "model/engine/random_checkpoint.hpp"

namespace {

void usage() {
  std::printf(
      "usage: reval-make-checkpoint [--preset NAME] --out DIR [--arch qwen2|llama|qwen3] [--hidden N] [--layers N]\n"
      "  [--heads N] [--kv-heads N] [--head-dim N] [--intermediate N] [--vocab N] [--tie] [--llama3-rope]\n"
      "  [--rope-theta X] [--dtype bf16|f16|f32] [--init-std X] [--embed-std X] [--seed N] [--tokenizer DIR]\n"
      "presets:");
  for (const auto& p : reval::engine::random_checkpoint_presets()) std::printf(" %s", p.c_str());
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace reval::engine;
  try {
    RandomCheckpointSpec s;
    std::string out, tokenizer;
    // The preset first, so that explicit flags override it whatever their order.
    for (int i = 1; i + 1 < argc; ++i)
      if (std::string(argv[i]) == "--preset") s = random_checkpoint_preset(argv[i + 1]);
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        usage();
        return 0;
      }
      if (a == "--tie") { s.tie_embeddings = true; continue; }
      if (a == "--llama3-rope") { s.llama3_rope_scaling = true; continue; }
      if (i + 1 >= argc) throw reval::Error("reval-make-checkpoint: " + a + " needs a value");
      const std::string v = argv[++i];
      auto num = [&]() -> std::int64_t {
        char* end = nullptr;
        const long long x = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end) throw reval::Error("reval-make-checkpoint: " + a + ": not an integer: '" + v + "'");
        return x;
      };
      auto real = [&]() -> double {
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (v.empty() || *end) throw reval::Error("reval-make-checkpoint: " + a + ": not a number: '" + v + "'");
        return x;
      };
      if (a == "--preset") continue;
      else if (a == "--out") out = v;
      else if (a == "--tokenizer") tokenizer = v;
      else if (a == "--arch") s.arch = v;
      else if (a == "--hidden") s.hidden = num();
      else if (a == "--layers") s.layers = num();
      else if (a == "--heads") s.heads = num();
      else if (a == "--kv-heads") s.kv_heads = num();
      else if (a == "--head-dim") s.head_dim = num();
      else if (a == "--intermediate") s.intermediate = num();
      else if (a == "--vocab") s.vocab = num();
      else if (a == "--rope-theta") s.rope_theta = real();
      else if (a == "--dtype") s.dtype = v;
      else if (a == "--init-std") s.init_std = real();
      else if (a == "--embed-std") s.embed_std = real();
      else if (a == "--seed") s.seed = static_cast<std::uint64_t>(num());
      else throw reval::Error("reval-make-checkpoint: unknown option '" + a + "' (see --help)");
    }
    if (out.empty()) throw reval::Error("reval-make-checkpoint: --out DIR is required (see --help)");
    const double gib = static_cast<double>(random_checkpoint_bytes(s)) / (1024.0 * 1024.0 * 1024.0);
    std::printf("writing %s checkpoint (%.2f GiB, %s) to %s\n", s.arch.c_str(), gib, s.dtype.c_str(), out.c_str());
    write_random_checkpoint(s, out, tokenizer);
    std::printf("done\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
