// Jinja subset: reference cases computed by Python jinja2 with Hugging Face's settings
// (tests/model/chat/jinja_reference_cases.json: whitespace control, scoping, filters, tests, methods, printing,
// errors), plus error reporting, Undefined semantics, loading rules and the template hash.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "model/chat/chat_template.hpp"
#include "model/chat/jinja.hpp"
#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "tests/test_util.hpp"

using namespace reval;

namespace {

std::string render(const std::string& tmpl, const nlohmann::ordered_json& ctx = nlohmann::ordered_json::object()) {
  auto prog = jinja::parse_template(tmpl, "t.jinja");
  jinja::Value v = jinja::Value::from_json(ctx);
  return jinja::render_program(*prog, v.dict_ref());
}

std::string error_of(const std::string& tmpl, const nlohmann::ordered_json& ctx = nlohmann::ordered_json::object()) {
  try {
    render(tmpl, ctx);
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

void write(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

}  // namespace

TEST(Jinja, MatchesPythonJinja2ReferenceCases) {
  auto doc = nlohmann::ordered_json::parse(read_file(test::source_dir() + "/tests/model/chat/jinja_reference_cases.json"));
  const auto& ctx = doc["context"];
  int n = 0;
  for (const auto& c : doc["cases"]) {
    ++n;
    const std::string t = c["template"];
    if (c.contains("error")) {
      EXPECT_NE(error_of(t, ctx), "<no error>") << "template should fail like jinja2 (" << c["error"] << "): " << t;
    } else {
      std::string got;
      try {
        got = render(t, ctx);
      } catch (const Error& e) {
        got = std::string("<error> ") + e.what();
      }
      EXPECT_EQ(got, c["expected"].get<std::string>()) << "template: " << t;
    }
  }
  EXPECT_GE(n, 70);
}

TEST(Jinja, WhitespaceControlAsHuggingFace) {
  // trim_blocks drops the newline after a block tag; lstrip_blocks drops the indentation before it.
  EXPECT_EQ(render("{% if true %}\n  a\n  {% endif %}\nb"), "  a\nb");
  // Neither applies to {{ }}.
  EXPECT_EQ(render("  {{ 1 }}\n{{ 2 }}"), "  1\n2");
  // '-' strips all whitespace including newlines; '+' keeps what lstrip/trim would remove.
  EXPECT_EQ(render("a  \n {%- if true -%} \n b {%- endif %}"), "ab");
  EXPECT_EQ(render("  {%+ if true %}x{% endif +%}\ny"), "  x\ny");
  // One trailing newline of the template is dropped (keep_trailing_newline=False), CRLF becomes LF.
  EXPECT_EQ(render("x\n\n"), "x\n");
  EXPECT_EQ(render("a\r\nb\r\n"), "a\nb");
  // Comments and raw blocks.
  EXPECT_EQ(render("a{# c #}b{% raw %}{{ x }}{% endraw %}"), "ab{{ x }}");
}

TEST(Jinja, UndefinedSemantics) {
  EXPECT_EQ(render("[{{ nope }}]"), "[]");
  EXPECT_EQ(render("{{ nope is defined }}|{{ nope|length }}|{{ nope|default('d') }}|{% for x in nope %}x{% endfor %}"),
            "False|0|d|");
  EXPECT_EQ(render("{{ d.missing is defined }}{{ d.missing }}", {{"d", nlohmann::ordered_json::object()}}), "False");
  // Using an undefined value as an object is an error naming what was missing.
  std::string e = error_of("{{ d.missing.deeper }}", {{"d", nlohmann::ordered_json::object()}});
  EXPECT_NE(e.find("'dict object' has no attribute 'missing'"), std::string::npos) << e;
  EXPECT_NE(error_of("{{ nope + 1 }}").find("'nope' is undefined"), std::string::npos);
}

TEST(Jinja, SyntaxErrorsCarryLineAndColumn) {
  std::string e;
  try {
    jinja::parse_template("line one\n{% if x %}\n  {{ 1 + }}\n{% endif %}", "my.jinja");
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("my.jinja:3:"), std::string::npos) << e;
  EXPECT_NE(e.find("syntax error"), std::string::npos) << e;
  try {
    jinja::parse_template("{% for x in y %}no end", "t");
    e.clear();
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("endfor"), std::string::npos) << e;
  EXPECT_THROW(jinja::parse_template("{% bogus %}", "t"), Error);
  EXPECT_THROW(jinja::parse_template("{{ 'unterminated }}", "t"), Error);
  EXPECT_THROW(jinja::parse_template("{% break %}", "t"), Error);
  EXPECT_THROW(ChatTemplate::parse("{% if %}"), Error);
}

TEST(Jinja, RuntimeErrorsAndRaiseException) {
  std::string e = error_of("a\n{{ raise_exception('Only user and assistant roles are supported!') }}");
  EXPECT_NE(e.find("Only user and assistant roles are supported!"), std::string::npos) << e;
  EXPECT_NE(e.find("t.jinja:2:"), std::string::npos) << e;
  EXPECT_NE(error_of("{{ 'a' + none }}").find("concatenate"), std::string::npos);
  EXPECT_NE(error_of("{% set x = 1 %}{% set x.y = 2 %}").find("namespace"), std::string::npos);
}

TEST(Jinja, PythonPrinting) {
  EXPECT_EQ(jinja::python_float_repr(1.0), "1.0");
  EXPECT_EQ(jinja::python_float_repr(0.1), "0.1");
  EXPECT_EQ(jinja::python_float_repr(1e-5), "1e-05");
  EXPECT_EQ(jinja::python_float_repr(1e16), "1e+16");
  EXPECT_EQ(jinja::python_float_repr(123456789012345.6), "123456789012345.6");
  EXPECT_EQ(jinja::python_float_repr(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(render("{{ x }}", {{"x", nlohmann::ordered_json::parse(R"([1, 2.0, "a'b", null, true, {"k": "v"}])")}}),
            R"([1, 2.0, "a'b", None, True, {'k': 'v'}])");
  // tojson keeps the input key order and non-ASCII text, with Python's separators.
  auto tools = nlohmann::ordered_json::parse(R"({"z": 1, "a": "é\n", "m": [1.5, null]})");
  EXPECT_EQ(render("{{ t|tojson }}", {{"t", tools}}), R"({"z": 1, "a": "é\n", "m": [1.5, null]})");
  EXPECT_EQ(render("{{ t|tojson(indent=2) }}", {{"t", tools}}),
            "{\n  \"z\": 1,\n  \"a\": \"é\\n\",\n  \"m\": [\n    1.5,\n    null\n  ]\n}");
}

TEST(ChatTemplateLoad, SourcesTokensAndHash) {
  test::TempDir dir;
  // Named-list form in tokenizer_config.json, AddedToken-style bos and plain eos.
  write(dir.file("tokenizer_config.json"), R"({
    "bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>", "pad_token": null,
    "chat_template": [{"name": "tool_use", "template": "TOOLS"},
                      {"name": "default", "template": "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}{{ eos_token }}{{ pad_token is defined }}"}]})");
  auto t = ChatTemplate::from_model_dir(dir.path());
  auto msgs = nlohmann::json::parse(R"([{"role": "user", "content": "hi"}])");
  EXPECT_EQ(t->render(msgs, true), "<s>[hi]</s>False");
  EXPECT_EQ(t->bos_token(), "<s>");
  EXPECT_EQ(t->eos_token(), "</s>");
  // extra overrides context variables.
  EXPECT_EQ(t->render(msgs, true, {{"bos_token", "B"}}), "B[hi]</s>False");
  // chat_template.jinja beats tokenizer_config.json; an override file beats both.
  write(dir.file("chat_template.jinja"), "J{{ add_generation_prompt }}{{ date_string }}\n");
  EXPECT_EQ(ChatTemplate::from_model_dir(dir.path())->render(msgs, false), "JFalse26 Jul 2024");
  write(dir.file("other.jinja"), "O");
  auto o = ChatTemplate::from_model_dir(dir.path(), dir.file("other.jinja"));
  EXPECT_EQ(o->render(msgs, false), "O");
  EXPECT_EQ(o->origin(), dir.file("other.jinja"));
  // SHA-256 of the template text.
  EXPECT_EQ(o->source_hash(), "c4694f2e93d5c4e7d51f9c5deb75e6cc8be5e1114178c6a45b6fc2c566a0aa8c");
  EXPECT_EQ(ChatTemplate::parse("abc")->source_hash(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ChatTemplate::parse("")->source_hash(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // No template anywhere -> error naming the folder.
  test::TempDir empty;
  write(empty.file("tokenizer_config.json"), R"({"eos_token": "x"})");
  EXPECT_THROW(ChatTemplate::from_model_dir(empty.path()), Error);
}

TEST(ChatTemplateLoad, ToolsRenderInInputKeyOrder) {
  auto t = ChatTemplate::from_model_dir(test::shared_path("models/qwen2.5-instruct"));
  auto msgs = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "Weather?"}])");
  auto extra = nlohmann::ordered_json::parse(
      R"({"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]})");
  std::string out = t->render_ordered(msgs, true, extra);
  EXPECT_NE(out.find(R"({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}})"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.rfind("<|im_start|>assistant\n"), out.size() - std::string("<|im_start|>assistant\n").size());
}

TEST(ChatTemplateLoad, ConcurrentRendersAgree) {
  // The engine renders from many threads with one ChatTemplate; renders must not interfere.
  auto t = ChatTemplate::from_model_dir(test::shared_path("models/qwen3-tokenizer"));
  auto msgs = nlohmann::ordered_json::parse(R"([
    {"role":"system","content":"S"}, {"role":"user","content":"Q1"},
    {"role":"assistant","content":"<think>\nr1\n</think>\n\nA1"}, {"role":"user","content":"Q2"}])");
  const std::string want = t->render_ordered(msgs, true);
  ASSERT_FALSE(want.empty());
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int k = 0; k < 8; ++k)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i)
        if (t->render_ordered(msgs, true) != want) ++mismatches;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}
