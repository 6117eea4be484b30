// Random-weight checkpoints (see random_checkpoint.hpp).
#include "model/engine/random_checkpoint.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "kernels/counter_rng.hpp"
#include "kernels/cpu_kernels.hpp"

namespace reval::engine {
namespace {

namespace fs = std::filesystem;

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
  enum Kind { matrix, embed, norm, bias } kind;
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

std::int64_t head_dim_of(const RandomCheckpointSpec& s) { return s.head_dim > 0 ? s.head_dim : s.hidden / s.heads; }

void check(const RandomCheckpointSpec& s) {
  auto bad = [](const std::string& what) { throw Error("random checkpoint: " + what); };
  if (s.arch != "qwen2" && s.arch != "llama" && s.arch != "qwen3") bad("arch must be qwen2, llama or qwen3");
  if (s.hidden <= 0 || s.layers < 0 || s.heads <= 0 || s.kv_heads <= 0 || s.intermediate <= 0 || s.vocab <= 0)
    bad("dimensions must be positive");
  if (s.heads % s.kv_heads != 0) bad("kv_heads must divide heads");
  if (s.head_dim <= 0 && s.hidden % s.heads != 0) bad("hidden must be divisible by heads (or give head_dim)");
  if (head_dim_of(s) % 2 != 0) bad("head_dim must be even");
  if (s.dtype != "bf16" && s.dtype != "f16" && s.dtype != "f32") bad("dtype must be bf16, f16 or f32");
  if (!(s.init_std > 0)) bad("init_std must be positive");
}

std::vector<TensorSpec> tensors(const RandomCheckpointSpec& s) {
  const std::int64_t hd = head_dim_of(s), nq = s.heads * hd, nkv = s.kv_heads * hd, H = s.hidden;
  std::vector<TensorSpec> t;
  t.push_back({"model.embed_tokens.weight", {s.vocab, H}, TensorSpec::embed});
  for (std::int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "input_layernorm.weight", {H}, TensorSpec::norm});
    t.push_back({p + "self_attn.q_proj.weight", {nq, H}, TensorSpec::matrix});
    t.push_back({p + "self_attn.k_proj.weight", {nkv, H}, TensorSpec::matrix});
    t.push_back({p + "self_attn.v_proj.weight", {nkv, H}, TensorSpec::matrix});
    if (s.arch == "qwen2") {
      t.push_back({p + "self_attn.q_proj.bias", {nq}, TensorSpec::bias});
      t.push_back({p + "self_attn.k_proj.bias", {nkv}, TensorSpec::bias});
      t.push_back({p + "self_attn.v_proj.bias", {nkv}, TensorSpec::bias});
    }
    if (s.arch == "qwen3") {
      t.push_back({p + "self_attn.q_norm.weight", {hd}, TensorSpec::norm});
      t.push_back({p + "self_attn.k_norm.weight", {hd}, TensorSpec::norm});
    }
    t.push_back({p + "self_attn.o_proj.weight", {H, nq}, TensorSpec::matrix});
    t.push_back({p + "post_attention_layernorm.weight", {H}, TensorSpec::norm});
    t.push_back({p + "mlp.gate_proj.weight", {s.intermediate, H}, TensorSpec::matrix});
    t.push_back({p + "mlp.up_proj.weight", {s.intermediate, H}, TensorSpec::matrix});
    t.push_back({p + "mlp.down_proj.weight", {H, s.intermediate}, TensorSpec::matrix});
  }
  t.push_back({"model.norm.weight", {H}, TensorSpec::norm});
  if (!s.tie_embeddings) t.push_back({"lm_head.weight", {s.vocab, H}, TensorSpec::matrix});
  return t;
}

std::size_t elem_size(const std::string& dtype) { return dtype == "f32" ? 4 : 2; }
std::string st_dtype(const std::string& dtype) { return dtype == "f32" ? "F32" : dtype == "f16" ? "F16" : "BF16"; }

nlohmann::json config_json(const RandomCheckpointSpec& s) {
  nlohmann::json j;
  const char* arch = s.arch == "qwen2" ? "Qwen2ForCausalLM" : s.arch == "qwen3" ? "Qwen3ForCausalLM" : "LlamaForCausalLM";
  j["architectures"] = {arch};
  j["model_type"] = s.arch;
  j["hidden_size"] = s.hidden;
  j["intermediate_size"] = s.intermediate;
  j["num_hidden_layers"] = s.layers;
  j["num_attention_heads"] = s.heads;
  j["num_key_value_heads"] = s.kv_heads;
  if (s.head_dim > 0 || s.arch == "qwen3") j["head_dim"] = head_dim_of(s);
  j["vocab_size"] = s.vocab;
  j["max_position_embeddings"] = s.max_positions;
  j["rms_norm_eps"] = s.rms_norm_eps;
  j["rope_theta"] = s.rope_theta;
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = s.tie_embeddings;
  j["attention_bias"] = s.arch == "qwen2";
  j["attention_dropout"] = 0.0;
  j["use_cache"] = true;
  j["use_sliding_window"] = false;
  j["sliding_window"] = nullptr;
  j["bos_token_id"] = s.bos_token_id;
  j["eos_token_id"] = s.eos_token_id;
  j["initializer_range"] = s.init_std;
  j["torch_dtype"] = s.dtype == "bf16" ? "bfloat16" : s.dtype == "f16" ? "float16" : "float32";
  if (s.arch == "llama" && s.llama3_rope_scaling)
    j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  else
    j["rope_scaling"] = nullptr;
  return j;
}

void write_text(const fs::path& p, const std::string& text) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(p.c_str(), "wb"), &std::fclose);
  if (!f || std::fwrite(text.data(), 1, text.size(), f.get()) != text.size())
    throw Error(p.string() + ": cannot write");
}

}  // namespace

std::vector<std::string> random_checkpoint_presets() {
  return {"r1-distill-qwen-1.5b", "r1-distill-qwen-7b", "tiny-qwen2", "tiny-llama3", "tiny-qwen3"};
}

RandomCheckpointSpec random_checkpoint_preset(const std::string& name) {
  RandomCheckpointSpec s;
  if (name == "r1-distill-qwen-1.5b") {
    s.arch = "qwen2"; s.hidden = 1536; s.layers = 28; s.heads = 12; s.kv_heads = 2; s.intermediate = 8960;
    s.vocab = 151936; s.max_positions = 131072; s.rope_theta = 10000.0; s.bos_token_id = 151646;
    s.eos_token_id = 151643;
  } else if (name == "r1-distill-qwen-7b") {
    s.arch = "qwen2"; s.hidden = 3584; s.layers = 28; s.heads = 28; s.kv_heads = 4; s.intermediate = 18944;
    s.vocab = 152064; s.max_positions = 131072; s.rope_theta = 10000.0; s.bos_token_id = 151646;
    s.eos_token_id = 151643;
  } else if (name == "tiny-qwen2") {
    s.arch = "qwen2"; s.hidden = 96; s.layers = 3; s.heads = 6; s.kv_heads = 2; s.intermediate = 200;
    s.vocab = 1003; s.rope_theta = 1000000.0; s.init_std = 0.1;
  } else if (name == "tiny-llama3") {
    s.arch = "llama"; s.hidden = 128; s.layers = 2; s.heads = 4; s.kv_heads = 1; s.intermediate = 333;
    s.vocab = 777; s.rope_theta = 500000.0; s.llama3_rope_scaling = true; s.tie_embeddings = true; s.init_std = 0.1;
  } else if (name == "tiny-qwen3") {
    s.arch = "qwen3"; s.hidden = 80; s.layers = 2; s.heads = 4; s.kv_heads = 2; s.head_dim = 32;
    s.intermediate = 150; s.vocab = 901; s.rope_theta = 1000000.0; s.init_std = 0.1;
  } else {
    std::string names;
    for (const auto& n : random_checkpoint_presets()) names += (names.empty() ? "" : ", ") + n;
    throw Error("random checkpoint: unknown preset '" + name + "' (known: " + names + ")");
  }
  return s;
}

std::uint64_t random_checkpoint_bytes(const RandomCheckpointSpec& spec) {
  check(spec);
  std::uint64_t n = 0;
  for (const auto& t : tensors(spec)) n += static_cast<std::uint64_t>(t.numel()) * elem_size(spec.dtype);
  return n;
}

void write_random_checkpoint(const RandomCheckpointSpec& s, const std::string& dir, const std::string& tokenizer_dir) {
  check(s);
  const fs::path out(dir);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error(dir + ": cannot create: " + ec.message());
  const auto ts = tensors(s);
  const std::size_t es = elem_size(s.dtype);

  nlohmann::json header = nlohmann::json::object();
  std::uint64_t offset = 0;
  for (const auto& t : ts) {
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * es;
    header[t.name] = {{"dtype", st_dtype(s.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  header["__metadata__"] = {{"format", "pt"}, {"generator", "reval random checkpoint"}};
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');

  const fs::path file = out / "model.safetensors";
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(file.c_str(), "wb"), &std::fclose);
  if (!f) throw Error(file.string() + ": cannot open for writing");
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((static_cast<std::uint64_t>(h.size()) >> (8 * i)) & 0xff);
  if (std::fwrite(len, 1, 8, f.get()) != 8 || std::fwrite(h.data(), 1, h.size(), f.get()) != h.size())
    throw Error(file.string() + ": write failed");

  const double embed_std = s.embed_std > 0 ? s.embed_std : s.init_std;
  constexpr std::int64_t kChunk = 1 << 20;
  std::vector<unsigned char> buf(static_cast<std::size_t>(kChunk) * es);
  for (std::size_t ti = 0; ti < ts.size(); ++ti) {
    const TensorSpec& t = ts[ti];
    const double sd = t.kind == TensorSpec::embed ? embed_std : t.kind == TensorSpec::norm ? 0.1 : s.init_std;
    const double a = sd * std::sqrt(3.0);  // uniform(-a, a) has standard deviation sd
    const double center = t.kind == TensorSpec::norm ? 1.0 : 0.0;
    const std::uint64_t stream = kernels::mix64(s.seed * 0x100000001b3ULL + ti);
    const std::int64_t n = t.numel();
    for (std::int64_t b = 0; b < n; b += kChunk) {
      const std::int64_t e = std::min(n, b + kChunk);
      for (std::int64_t i = b; i < e; ++i) {
        const double u = kernels::counter_uniform(stream, static_cast<std::uint64_t>(i));
        const float v = static_cast<float>(center + a * (2.0 * u - 1.0));
        unsigned char* dst = buf.data() + static_cast<std::size_t>(i - b) * es;
        if (s.dtype == "f32") {
          std::memcpy(dst, &v, 4);
        } else {
          const std::uint16_t bits = s.dtype == "bf16" ? kernels::f32_to_bf16(v) : kernels::f32_to_f16(v);
          std::memcpy(dst, &bits, 2);
        }
      }
      const std::size_t bytes = static_cast<std::size_t>(e - b) * es;
      if (std::fwrite(buf.data(), 1, bytes, f.get()) != bytes) throw Error(file.string() + ": write failed (disk full?)");
    }
  }
  if (std::fflush(f.get()) != 0) throw Error(file.string() + ": write failed");

  write_text(out / "config.json", config_json(s).dump(2) + "\n");
  nlohmann::json gen = {{"bos_token_id", s.bos_token_id}, {"eos_token_id", s.eos_token_id}, {"do_sample", false}};
  write_text(out / "generation_config.json", gen.dump(2) + "\n");

  if (!tokenizer_dir.empty()) {
    const fs::path src(tokenizer_dir);
    if (!fs::exists(src / "tokenizer.json")) throw Error(tokenizer_dir + ": no tokenizer.json to copy");
    for (const char* name : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}) {
      if (!fs::exists(src / name)) continue;
      fs::copy_file(src / name, out / name, fs::copy_options::overwrite_existing, ec);
      if (ec) throw Error((src / name).string() + ": cannot copy: " + ec.message());
    }
  }
}

}  // namespace reval::engine
