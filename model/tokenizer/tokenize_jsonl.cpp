// `reval tokenize` as a library function: reads JSONL with for_each_jsonl_file, encodes and decodes each text,
// writes one output row per non-blank input line (input fields + ids + decoded, or line + error).
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "model/tokenizer/tokenize_jsonl.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "base/error.hpp"
#include "base/jsonl.hpp"

namespace reval {

TokenizeStats tokenize_jsonl(const std::string& model, const std::string& input_path, std::ostream& out) {
  auto tok = Tokenizer::from_file(model);
  TokenizeStats stats;
  for_each_jsonl_file(input_path, [&](JsonlLine& line) {
    ++stats.lines;
    auto fail_row = [&](std::string_view field, const std::string& msg) {
      ++stats.errors;
      nlohmann::json row = {{"line", line.line}, {"error", where(input_path, line.line, field) + ": " + msg}};
      out << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    };
    if (!line.value) return fail_row({}, line.error);
    nlohmann::json& v = *line.value;
    if (!v.is_object()) return fail_row({}, "expected a JSON object");
    if (!v.contains("text") || !v["text"].is_string()) return fail_row("text", "missing or not a string");
    bool add_special = false;
    if (v.contains("add_special_tokens")) {
      if (!v["add_special_tokens"].is_boolean()) return fail_row("add_special_tokens", "not a boolean");
      add_special = v["add_special_tokens"].get<bool>();
    }
    auto ids = tok->encode(v["text"].get_ref<const std::string&>(), add_special);
    v["ids"] = ids;
    v["decoded"] = tok->decode(ids, false);
    out << v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  });
  out.flush();
  return stats;
}

TokenizeStats tokenize_jsonl(const std::string& model, const std::string& input_path, const std::string& output_path) {
  if (output_path.empty() || output_path == "-") return tokenize_jsonl(model, input_path, std::cout);
  std::ofstream f(output_path, std::ios::binary);
  if (!f) throw Error(output_path + ": cannot open for writing");
  auto stats = tokenize_jsonl(model, input_path, f);
  if (!f) throw Error(output_path + ": write failed");
  return stats;
}

}  // namespace reval
