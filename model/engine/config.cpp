// Parsing of config.json / generation_config.json (see config.hpp for the normalisation rules).
#include "model/engine/config.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.hpp"
#include "base/jsonl.hpp"

namespace reval::engine {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& origin, const std::string& field, const std::string& msg) {
  fail_at(origin, 0, field, msg);
}

std::optional<std::int64_t> opt_int(const json& j, const char* key, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) bad(origin, key, "expected an integer, got " + it->dump());
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
    bad(origin, key, "integer out of range: " + it->dump());
  return it->get<std::int64_t>();
}

std::int64_t req_int(const json& j, const char* key, const std::string& origin) {
  auto v = opt_int(j, key, origin);
  if (!v) bad(origin, key, "missing");
  if (*v <= 0) bad(origin, key, "must be positive, got " + std::to_string(*v));
  // Model dimensions index tensors and size buffers: anything above 2^31 is a broken file, not a model.
  if (*v > (std::int64_t{1} << 31)) bad(origin, key, "out of range (more than 2^31): " + std::to_string(*v));
  return *v;
}

std::optional<double> opt_num(const json& j, const char* key, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) bad(origin, key, "expected a number, got " + it->dump());
  return it->get<double>();
}

std::vector<std::int64_t> id_list(const json& j, const char* key, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_number_integer()) return {it->get<std::int64_t>()};
  if (!it->is_array()) bad(origin, key, "expected an integer or a list of integers");
  std::vector<std::int64_t> out;
  for (const auto& v : *it) {
    if (!v.is_number_integer()) bad(origin, key, "expected a list of integers, got " + it->dump());
    out.push_back(v.get<std::int64_t>());
  }
  return out;
}

RopeConfig parse_rope(const json& j, const std::string& origin) {
  RopeConfig r;
  const json* params = nullptr;
  std::string field = "rope_scaling";
  if (auto it = j.find("rope_parameters"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) bad(origin, "rope_parameters", "expected an object");
    params = &*it;
    field = "rope_parameters";
    if (auto t = opt_num(*params, "rope_theta", origin)) r.theta = *t;
  }
  if (auto t = opt_num(j, "rope_theta", origin)) r.theta = *t;  // v4 style (and v5 files that keep both)
  if (!params) {
    if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
      if (!it->is_object()) bad(origin, "rope_scaling", "expected an object or null");
      params = &*it;
    }
  }
  if (params) {
    std::string type = "default";
    if (auto it = params->find("rope_type"); it != params->end() && it->is_string()) type = it->get<std::string>();
    else if (auto it2 = params->find("type"); it2 != params->end() && it2->is_string()) type = it2->get<std::string>();
    r.type = type;
    if (type == "default") {
    } else if (type == "linear") {
      r.factor = opt_num(*params, "factor", origin).value_or(1.0);
    } else if (type == "llama3") {
      auto need = [&](const char* k) {
        auto v = opt_num(*params, k, origin);
        if (!v) bad(origin, field + "." + k, "missing (required by rope_type llama3)");
        return *v;
      };
      r.factor = need("factor");
      r.low_freq_factor = need("low_freq_factor");
      r.high_freq_factor = need("high_freq_factor");
      r.original_max_position_embeddings = static_cast<std::int64_t>(need("original_max_position_embeddings"));
      if (r.high_freq_factor <= r.low_freq_factor)
        bad(origin, field, "high_freq_factor must exceed low_freq_factor");
    } else {
      bad(origin, field + ".rope_type", "unsupported rope type '" + type + "' (supported: default, linear, llama3)");
    }
  }
  if (!(r.theta > 0)) bad(origin, "rope_theta", "must be positive");
  return r;
}

}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  return ss.str();
}

ModelConfig parse_model_config(const json& j, const std::string& origin) {
  if (!j.is_object()) bad(origin, "", "expected a JSON object");
  ModelConfig c;
  std::string arch;
  if (auto it = j.find("architectures"); it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_string())
    arch = (*it)[0].get<std::string>();
  std::string model_type = j.value("model_type", std::string());
  if (arch.empty()) {
    if (model_type == "qwen2") arch = "Qwen2ForCausalLM";
    else if (model_type == "llama") arch = "LlamaForCausalLM";
    else if (model_type == "qwen3") arch = "Qwen3ForCausalLM";
  }
  c.architecture_name = arch;
  if (arch == "Qwen2ForCausalLM") {
    c.arch = Architecture::qwen2;
    c.attention_bias = true;
  } else if (arch == "LlamaForCausalLM" || arch == "MistralForCausalLM") {
    c.arch = Architecture::llama;
    c.attention_bias = j.value("attention_bias", false);
  } else if (arch == "Qwen3ForCausalLM") {
    c.arch = Architecture::qwen3;
    c.qk_norm = true;
    c.attention_bias = j.value("attention_bias", false);
  } else {
    bad(origin, "architectures",
        "unsupported architecture '" + arch + "' (supported: Qwen2ForCausalLM, LlamaForCausalLM, Qwen3ForCausalLM)");
  }
  if (j.value("mlp_bias", false)) bad(origin, "mlp_bias", "MLP bias is not supported");
  if (auto act = j.find("hidden_act"); act != j.end() && act->is_string() && *act != "silu")
    bad(origin, "hidden_act", "unsupported activation '" + act->get<std::string>() + "' (only silu)");

  c.hidden_size = req_int(j, "hidden_size", origin);
  c.intermediate_size = req_int(j, "intermediate_size", origin);
  c.num_layers = req_int(j, "num_hidden_layers", origin);
  c.num_heads = req_int(j, "num_attention_heads", origin);
  c.num_kv_heads = opt_int(j, "num_key_value_heads", origin).value_or(c.num_heads);
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0)
    bad(origin, "num_key_value_heads", "must be positive and divide num_attention_heads");
  if (auto hd = opt_int(j, "head_dim", origin)) {
    c.head_dim = *hd;
  } else {
    if (c.hidden_size % c.num_heads != 0) bad(origin, "hidden_size", "not divisible by num_attention_heads");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) bad(origin, "head_dim", "must be positive and even");
  c.vocab_size = req_int(j, "vocab_size", origin);
  c.max_position_embeddings = opt_int(j, "max_position_embeddings", origin).value_or(0);
  c.rms_norm_eps = opt_num(j, "rms_norm_eps", origin).value_or(1e-6);
  c.tie_word_embeddings = j.value("tie_word_embeddings", false);
  c.rope = parse_rope(j, origin);
  c.bos_token_id = opt_int(j, "bos_token_id", origin);
  c.eos_token_ids = id_list(j, "eos_token_id", origin);
  if (auto it = j.find("torch_dtype"); it != j.end() && it->is_string()) c.torch_dtype = it->get<std::string>();
  else if (auto it2 = j.find("dtype"); it2 != j.end() && it2->is_string()) c.torch_dtype = it2->get<std::string>();
  return c;
}

ModelConfig load_model_config(const std::string& path) {
  json j;
  try {
    j = parse_json(read_file(path), path);
  } catch (const json::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
  return parse_model_config(j, path);
}

GenerationConfig parse_generation_config(const json& j, const std::string& origin) {
  if (!j.is_object()) bad(origin, "", "expected a JSON object");
  GenerationConfig g;
  g.bos_token_id = opt_int(j, "bos_token_id", origin);
  g.eos_token_ids = id_list(j, "eos_token_id", origin);
  if (auto it = j.find("do_sample"); it != j.end() && it->is_boolean()) g.do_sample = it->get<bool>();
  g.temperature = opt_num(j, "temperature", origin);
  g.top_p = opt_num(j, "top_p", origin);
  g.min_p = opt_num(j, "min_p", origin);
  g.top_k = opt_int(j, "top_k", origin);
  g.max_new_tokens = opt_int(j, "max_new_tokens", origin);
  return g;
}

GenerationConfig load_generation_config(const std::string& path) {
  if (!std::filesystem::exists(path)) return {};
  json j;
  try {
    j = parse_json(read_file(path), path);
  } catch (const json::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
  return parse_generation_config(j, path);
}

}  // namespace reval::engine
