// Chat-template goldens: every line of shared/models/goldens/chat_template_goldens_A.jsonl must render to exactly
// the string transformers produced, loading each template the way `reval render-chat --model DIR
// [--chat-template FILE]` does. Also checks the Qwen3 template (enable_thinking, reversed message scan) on cases
// whose expected text is written out here from the template's logic.
#include <gtest/gtest.h>

#include <map>

#include "model/chat/chat_template.hpp"
#include "base/jsonl.hpp"
#include "tests/test_util.hpp"

using namespace reval;

namespace {

struct Setup {
  std::string dir;        // relative to shared/models
  std::string override_;  // relative to shared/models, may be empty
};

// Golden "template" name -> how to load it.
const std::map<std::string, std::vector<Setup>>& setups() {
  static const std::map<std::string, std::vector<Setup>> m = {
      {"deepseek-r1-distill",
       {{"deepseek-r1-distill-qwen-32b", ""},
        {"deepseek-r1-distill-qwen-32b", "deepseek-r1-distill-llama-8b/chat_template.jinja"}}},
      {"deepseek-r1-distill-jan2025", {{"reconstructed/deepseek-r1-distill-qwen", ""}}},
      {"qwen2.5-instruct", {{"qwen2.5-instruct", ""}, {"reconstructed/qwen2.5-instruct", ""}}},
      {"qwq-32b", {{"qwq-32b", ""}, {"qwen3-tokenizer", "qwq-32b/chat_template.jinja"}}},
      {"llama-3.1-instruct",
       {{"llama3-tokenizer", "llama-3.1-8b-instruct/chat_template.jinja"},
        {"llama3-tokenizer", "llama-3.3-70b-instruct/chat_template.jinja"}}},
  };
  return m;
}

}  // namespace

TEST(ChatGoldens, AllRendersIdentical) {
  const std::string models = test::shared_path("models");
  const std::string golden = models + "/goldens/chat_template_goldens_A.jsonl";
  std::map<std::string, std::pair<int, int>> counts;  // template -> (pass, total)
  int lines = 0;
  for_each_jsonl_file(golden, [&](JsonlLine& l) {
    ASSERT_TRUE(l.value.has_value()) << l.error;
    ++lines;
    auto j = nlohmann::ordered_json::parse(l.raw);
    std::string name = j["template"];
    auto it = setups().find(name);
    ASSERT_NE(it, setups().end()) << "unknown golden template " << name;
    for (const auto& s : it->second) {
      std::string override_file = s.override_.empty() ? "" : models + "/" + s.override_;
      auto tmpl = ChatTemplate::from_model_dir(models + "/" + s.dir, override_file);
      std::string got = tmpl->render_ordered(j["messages"], j["add_generation_prompt"].get<bool>());
      auto& c = counts[name + " via " + s.dir + (s.override_.empty() ? "" : " + " + s.override_)];
      ++c.second;
      if (got == j["rendered"].get<std::string>())
        ++c.first;
      else
        ADD_FAILURE() << name << " line " << l.line << " via " << s.dir << "\n got: " << nlohmann::json(got).dump()
                      << "\nwant: " << j["rendered"].dump();
      // The sorted-key json entry point must agree for these messages.
      EXPECT_EQ(tmpl->render(nlohmann::json::parse(j["messages"].dump()), j["add_generation_prompt"].get<bool>()), got);
    }
  });
  EXPECT_EQ(lines, 40);
  for (const auto& [k, c] : counts) {
    std::printf("[golden] %-90s %d/%d\n", k.c_str(), c.first, c.second);
    EXPECT_EQ(c.first, c.second) << k;
  }
}

TEST(ChatGoldens, Qwen3TemplateThinking) {
  auto t = ChatTemplate::from_model_dir(test::shared_path("models/qwen3-tokenizer"));
  auto msgs = nlohmann::ordered_json::parse(R"([
    {"role":"system","content":"S"},
    {"role":"user","content":"Q1"},
    {"role":"assistant","content":"<think>\nr1\n</think>\n\nA1"},
    {"role":"user","content":"Q2"},
    {"role":"assistant","content":"<think>\nr2\n</think>\n\nA2"}])");
  // Reasoning is dropped before the last user query and kept after it.
  EXPECT_EQ(t->render_ordered(msgs, false),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
            "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n<think>\nr2\n</think>\n\nA2<|im_end|>\n");
  auto one = nlohmann::ordered_json::parse(R"([{"role":"user","content":"Hi"}])");
  EXPECT_EQ(t->render_ordered(one, true), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(t->render_ordered(one, true, nlohmann::ordered_json{{"enable_thinking", false}}),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  EXPECT_EQ(t->eos_token(), "<|im_end|>");
  EXPECT_EQ(t->bos_token(), "");
}
