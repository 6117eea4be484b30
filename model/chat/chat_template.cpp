// ChatTemplate: loads a model's chat template, builds the render context the way transformers does, and renders
// through the Jinja subset (jinja.hpp).
//
// Theory of operation
// -------------------
// Template lookup (from_model_dir): an explicit override file wins; else DIR/chat_template.jinja; else
// DIR/chat_template.json ({"chat_template": ...}); else tokenizer_config.json's "chat_template", either a string or
// a list of {"name", "template"} from which the "default" entry is used. Special tokens come from
// tokenizer_config.json, where each is a string, {"content": ...} (AddedToken form) or null.
// render() builds the context {messages, add_generation_prompt, tools: None, documents: None, date_string,
// bos/eos/pad/unk_token (only those set)} and lets `extra` override any of it, then renders. The AST is shared and
// immutable, so concurrent renders are safe. source_hash() is the SHA-256 of the template text (hex).
#include <array>
#include <cstdint>
#include <filesystem>

#include <fmt/format.h>

#include "model/chat/chat_template.hpp"
#include "model/chat/jinja.hpp"
#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "base/sha256.hpp"

namespace reval {
namespace {


class ChatTemplateImpl final : public ChatTemplate {
 public:
  ChatTemplateImpl(std::string source, std::string origin, std::string bos, std::string eos,
                   nlohmann::ordered_json special_tokens)
      : source_(std::move(source)),
        origin_(std::move(origin)),
        bos_(std::move(bos)),
        eos_(std::move(eos)),
        special_(std::move(special_tokens)),
        program_(jinja::parse_template(source_, origin_)),
        hash_(sha256_hex(source_)) {}

  std::string render(const nlohmann::json& messages, bool add_generation_prompt,
                     const nlohmann::json& extra) const override {
    return render_values(jinja::Value::from_json(messages), add_generation_prompt, jinja::Value::from_json(extra));
  }
  std::string render_ordered(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                             const nlohmann::ordered_json& extra) const override {
    return render_values(jinja::Value::from_json(messages), add_generation_prompt, jinja::Value::from_json(extra));
  }
  std::string source_hash() const override { return hash_; }
  const std::string& source() const override { return source_; }
  const std::string& origin() const override { return origin_; }
  const std::string& bos_token() const override { return bos_; }
  const std::string& eos_token() const override { return eos_; }

 private:
  std::string render_values(jinja::Value messages, bool add_generation_prompt, const jinja::Value& extra) const {
    jinja::Dict ctx;
    ctx.set(jinja::Value("messages"), std::move(messages));
    ctx.set(jinja::Value("add_generation_prompt"), jinja::Value(add_generation_prompt));
    ctx.set(jinja::Value("tools"), jinja::Value::none());
    ctx.set(jinja::Value("documents"), jinja::Value::none());
    ctx.set(jinja::Value("date_string"), jinja::Value("26 Jul 2024"));
    for (auto it = special_.begin(); it != special_.end(); ++it)
      ctx.set(jinja::Value(it.key()), jinja::Value::from_json(it.value()));
    if (extra.is_dict()) {
      for (const auto& [k, v] : extra.dict_ref().entries) ctx.set(k, v);
    } else if (!extra.is_none() && !extra.is_undefined()) {
      throw Error("chat template: `extra` must be a JSON object");
    }
    return jinja::render_program(*program_, ctx);
  }

  std::string source_, origin_, bos_, eos_;
  nlohmann::ordered_json special_;
  std::shared_ptr<const jinja::Program> program_;
  std::string hash_;
};

// tokenizer_config.json token field: "str", {"content": "str", ...} or null -> "" when absent.
std::string token_string(const nlohmann::json& cfg, const char* key, const std::string& path) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  fail_at(path, 0, key, "expected a string, {\"content\": ...} or null");
}

}  // namespace

std::shared_ptr<const ChatTemplate> ChatTemplate::parse(const std::string& source, const std::string& origin) {
  return parse_with_tokens(source, origin, "", "");
}

std::shared_ptr<const ChatTemplate> ChatTemplate::parse_with_tokens(const std::string& source, const std::string& origin,
                                                                    const std::string& bos_token,
                                                                    const std::string& eos_token) {
  nlohmann::ordered_json special = nlohmann::ordered_json::object();
  if (!bos_token.empty()) special["bos_token"] = bos_token;
  if (!eos_token.empty()) special["eos_token"] = eos_token;
  return std::make_shared<ChatTemplateImpl>(source, origin, bos_token, eos_token, std::move(special));
}

std::shared_ptr<const ChatTemplate> ChatTemplate::from_model_dir(const std::string& dir, const std::string& override_file) {
  namespace fs = std::filesystem;
  const std::string cfg_path = (fs::path(dir) / "tokenizer_config.json").string();
  nlohmann::json cfg = nlohmann::json::object();
  bool have_cfg = fs::exists(cfg_path);
  if (have_cfg) {
    try {
      cfg = parse_json(read_file(cfg_path), cfg_path);
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: invalid JSON: {}", cfg_path, e.what()));
    }
    if (!cfg.is_object()) fail_at(cfg_path, 0, "", "expected a JSON object");
  }

  std::string source, origin;
  const std::string jinja_path = (fs::path(dir) / "chat_template.jinja").string();
  const std::string json_path = (fs::path(dir) / "chat_template.json").string();
  if (!override_file.empty()) {
    source = read_file(override_file);
    origin = override_file;
  } else if (fs::exists(jinja_path)) {
    source = read_file(jinja_path);
    origin = jinja_path;
  } else if (fs::exists(json_path)) {
    nlohmann::json j;
    try {
      j = parse_json(read_file(json_path), json_path);
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: invalid JSON: {}", json_path, e.what()));
    }
    if (!j.is_object() || !j.contains("chat_template") || !j["chat_template"].is_string())
      fail_at(json_path, 0, "chat_template", "expected a string");
    source = j["chat_template"].get<std::string>();
    origin = json_path;
  } else if (have_cfg && cfg.contains("chat_template") && !cfg["chat_template"].is_null()) {
    const auto& ct = cfg["chat_template"];
    origin = cfg_path + "#chat_template";
    if (ct.is_string()) {
      source = ct.get<std::string>();
    } else if (ct.is_array()) {
      std::string names;
      for (const auto& e : ct) {
        if (!e.is_object() || !e.contains("name") || !e.contains("template") || !e["name"].is_string() ||
            !e["template"].is_string())
          fail_at(cfg_path, 0, "chat_template", "list entries must be {\"name\": str, \"template\": str}");
        names += (names.empty() ? "" : ", ") + e["name"].get<std::string>();
        if (e["name"] == "default") {
          source = e["template"].get<std::string>();
          origin = cfg_path + "#chat_template[default]";
        }
      }
      if (source.empty()) fail_at(cfg_path, 0, "chat_template", "no 'default' template among: " + names);
    } else {
      fail_at(cfg_path, 0, "chat_template", "expected a string or a list of {name, template}");
    }
  } else {
    throw Error(fmt::format("{}: no chat template found (looked for chat_template.jinja, chat_template.json and "
                            "tokenizer_config.json 'chat_template')", dir));
  }

  nlohmann::ordered_json special = nlohmann::ordered_json::object();
  std::string bos, eos;
  if (have_cfg) {
    bos = token_string(cfg, "bos_token", cfg_path);
    eos = token_string(cfg, "eos_token", cfg_path);
    for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"}) {
      std::string v = token_string(cfg, key, cfg_path);
      if (!v.empty() || (cfg.contains(key) && cfg[key].is_string())) special[key] = v;
    }
    if (cfg.contains("additional_special_tokens") && cfg["additional_special_tokens"].is_array()) {
      nlohmann::ordered_json extra = nlohmann::ordered_json::array();
      for (const auto& t : cfg["additional_special_tokens"]) {
        if (t.is_string())
          extra.push_back(t.get<std::string>());
        else if (t.is_object() && t.contains("content") && t["content"].is_string())
          extra.push_back(t["content"].get<std::string>());
      }
      special["additional_special_tokens"] = extra;
    }
  }
  return std::make_shared<ChatTemplateImpl>(std::move(source), std::move(origin), std::move(bos), std::move(eos),
                                            std::move(special));
}

}  // namespace reval

