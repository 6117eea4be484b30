// Batch chat rendering (see render_chat.hpp).
//
// Theory of operation
// -------------------
// Each non-blank input line is parsed (for_each_jsonl validates UTF-8 and JSON), re-parsed as ordered_json so the
// objects keep their key order (it shows in `tojson` of tools), validated (an object with a "messages" array;
// optional boolean "add_generation_prompt", default false as in transformers; optional "tools"; optional object
// "chat_template_kwargs" whose entries become template variables), rendered, optionally tokenized, and written
// back as the input object plus "rendered"/"ids". Problems become an "error" field naming the input line.
#include "model/chat/render_chat.hpp"

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/jsonl.hpp"

namespace reval {

RenderChatStats render_chat_jsonl(const ChatTemplate& tmpl, const std::string& input_path, std::ostream& out,
                                  const ChatEncodeFn& encode) {
  RenderChatStats stats;
  for_each_jsonl_file(input_path, [&](JsonlLine& l) {
    ++stats.lines;
    nlohmann::ordered_json row = nlohmann::ordered_json::object();
    auto bad = [&](const std::string& msg) {
      ++stats.errors;
      nlohmann::ordered_json err = nlohmann::ordered_json::object();
      err["line"] = l.line;
      err["error"] = fmt::format("{}:{}: {}", input_path, l.line, msg);
      if (row.is_object())
        for (auto it = row.begin(); it != row.end(); ++it)
          if (it.key() != "line" && it.key() != "error") err[it.key()] = it.value();
      out << err.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    };
    if (!l.value) return bad(l.error);
    try {
      row = nlohmann::ordered_json::parse(l.raw);
    } catch (const nlohmann::json::exception& e) {
      row = nlohmann::ordered_json::object();
      return bad(std::string("invalid JSON: ") + e.what());
    }
    if (!row.is_object()) {
      row = nlohmann::ordered_json::object();
      return bad("expected a JSON object");
    }
    if (!row.contains("messages") || !row["messages"].is_array()) return bad("field 'messages': expected an array");
    bool add_gen = false;
    if (row.contains("add_generation_prompt")) {
      if (!row["add_generation_prompt"].is_boolean()) return bad("field 'add_generation_prompt': expected a boolean");
      add_gen = row["add_generation_prompt"].get<bool>();
    }
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();
    if (row.contains("chat_template_kwargs")) {
      if (!row["chat_template_kwargs"].is_object()) return bad("field 'chat_template_kwargs': expected an object");
      extra = row["chat_template_kwargs"];
    }
    if (row.contains("tools") && !row["tools"].is_null()) {
      if (!row["tools"].is_array()) return bad("field 'tools': expected an array");
      extra["tools"] = row["tools"];
    }
    try {
      std::string rendered = tmpl.render_ordered(row["messages"], add_gen, extra);
      row["rendered"] = rendered;
      if (encode) row["ids"] = encode(rendered);
    } catch (const Error& e) {
      row.erase("rendered");
      row.erase("ids");
      return bad(e.what());
    }
    out << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  });
  return stats;
}

}  // namespace reval
