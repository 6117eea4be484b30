// render-chat batch: the chat-template goldens re-rendered through render_chat_jsonl with the models' real
// tokenizers must give identical "rendered" text and "ids"; malformed lines become error rows and the rest go on.
// The `reval render-chat` command itself is exercised when the reval binary has been built.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "model/chat/chat_template.hpp"
#include "model/chat/render_chat.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "base/jsonl.hpp"
#include "tests/test_util.hpp"

using namespace reval;

namespace {

struct Group {
  std::string model_dir;  // relative to shared/models: holds tokenizer.json (+ tokenizer_config.json)
  std::string override_;  // template file relative to shared/models, or ""
};

const std::map<std::string, Group>& groups() {
  static const std::map<std::string, Group> m = {
      {"deepseek-r1-distill", {"reconstructed/deepseek-r1-distill-qwen", "deepseek-r1-distill-qwen-32b/chat_template.jinja"}},
      {"deepseek-r1-distill-jan2025", {"reconstructed/deepseek-r1-distill-qwen", ""}},
      // The goldens' Qwen2.5 ids come from the Qwen3 vocabulary (<think> = 151667, which Qwen2.5 lacks).
      {"qwen2.5-instruct", {"qwen3-tokenizer", "qwen2.5-instruct/chat_template.jinja"}},
      {"qwq-32b", {"qwen3-tokenizer", "qwq-32b/chat_template.jinja"}},
      {"llama-3.1-instruct", {"llama3-tokenizer", "llama-3.1-8b-instruct/chat_template.jinja"}},
  };
  return m;
}

std::vector<nlohmann::ordered_json> read_rows(const std::string& text) {
  std::vector<nlohmann::ordered_json> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(nlohmann::ordered_json::parse(line));
  return rows;
}

}  // namespace

TEST(RenderChat, GoldensRenderAndTokenizeIdentically) {
  const std::string models = test::shared_path("models");
  std::map<std::string, std::vector<nlohmann::ordered_json>> by_template;
  for_each_jsonl_file(models + "/goldens/chat_template_goldens_A.jsonl",
                      [&](JsonlLine& l) { by_template[(*l.value)["template"]].push_back(nlohmann::ordered_json::parse(l.raw)); });
  ASSERT_EQ(by_template.size(), groups().size());
  int total = 0;
  for (const auto& [name, rows] : by_template) {
    const Group& g = groups().at(name);
    test::TempDir tmp;
    {
      std::ofstream f(tmp.file("in.jsonl"));
      for (const auto& r : rows)
        f << nlohmann::ordered_json{{"template", name}, {"messages", r["messages"]}, {"add_generation_prompt", r["add_generation_prompt"]}}.dump()
          << "\n";
    }
    auto tmpl = ChatTemplate::from_model_dir(models + "/" + g.model_dir, g.override_.empty() ? "" : models + "/" + g.override_);
    auto tok = Tokenizer::from_file(models + "/" + g.model_dir + "/tokenizer.json");
    std::ostringstream out;
    auto stats = render_chat_jsonl(*tmpl, tmp.file("in.jsonl"), out,
                                   [&](const std::string& s) { return tok->encode(s, false); });
    EXPECT_EQ(stats.errors, 0);
    auto got = read_rows(out.str());
    ASSERT_EQ(got.size(), rows.size()) << name;
    int pass = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(got[i]["template"], name);  // input fields are repeated
      bool ok = got[i]["rendered"] == rows[i]["rendered"] && got[i]["ids"] == rows[i]["ids"];
      EXPECT_EQ(got[i]["rendered"], rows[i]["rendered"]) << name << " #" << i;
      EXPECT_EQ(got[i]["ids"], rows[i]["ids"]) << name << " #" << i;
      pass += ok;
    }
    total += static_cast<int>(rows.size());
    std::printf("[render-chat golden] %-28s rendered+ids %d/%zu\n", name.c_str(), pass, rows.size());
  }
  EXPECT_EQ(total, 40);
}

TEST(RenderChat, MalformedLinesBecomeErrorRows) {
  test::TempDir tmp;
  {
    std::ofstream f(tmp.file("in.jsonl"));
    f << R"({"messages": [{"role": "user", "content": "a"}], "add_generation_prompt": true})" << "\n";
    f << "{not json\n";
    f << R"({"messages": "oops"})" << "\n";
    f << "\n";
    f << R"({"messages": [{"role": "user", "content": "b"}], "add_generation_prompt": "yes"})" << "\n";
    f << R"({"id": 7, "messages": [{"role": "user", "content": "boom"}]})" << "\n";
    f << R"({"messages": [{"role": "user", "content": "c"}], "chat_template_kwargs": {"suffix": "!"}})" << "\n";
  }
  auto tmpl = ChatTemplate::parse(
      "{% for m in messages %}{% if m.content == 'boom' %}{{ raise_exception('no boom') }}{% endif %}"
      "<{{ m.content }}>{% endfor %}{% if add_generation_prompt %}GEN{% endif %}{{ suffix }}",
      "inline");
  std::ostringstream out;
  auto stats = render_chat_jsonl(*tmpl, tmp.file("in.jsonl"), out);
  EXPECT_EQ(stats.lines, 6);
  EXPECT_EQ(stats.errors, 4);
  auto rows = read_rows(out.str());
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0]["rendered"], "<a>GEN");
  EXPECT_FALSE(rows[0].contains("ids"));
  EXPECT_EQ(rows[1]["line"], 2);
  EXPECT_NE(rows[1]["error"].get<std::string>().find("in.jsonl:2:"), std::string::npos);
  EXPECT_EQ(rows[2]["line"], 3);
  EXPECT_NE(rows[2]["error"].get<std::string>().find("messages"), std::string::npos);
  EXPECT_EQ(rows[3]["line"], 5);
  EXPECT_NE(rows[3]["error"].get<std::string>().find("add_generation_prompt"), std::string::npos);
  EXPECT_EQ(rows[4]["line"], 6);
  EXPECT_EQ(rows[4]["id"], 7);
  EXPECT_NE(rows[4]["error"].get<std::string>().find("no boom"), std::string::npos);
  EXPECT_EQ(rows[5]["rendered"], "<c>!");
}

TEST(RenderChat, CommandLine) {
  const std::string bin = test::reval_binary();
  if (!std::ifstream(bin).good()) GTEST_SKIP() << "reval binary not built: " << bin;
  const std::string models = test::shared_path("models");
  test::TempDir tmp;
  {
    std::ofstream f(tmp.file("in.jsonl"));
    f << R"({"messages": [{"role": "user", "content": "What is 1+1?"}], "add_generation_prompt": true})" << "\n";
    f << "[1, 2]\n";
  }
  std::string cmd = bin + " render-chat --model " + models + "/reconstructed/deepseek-r1-distill-qwen --input " +
                    tmp.file("in.jsonl") + " --output " + tmp.file("out.jsonl") + " 2>" + tmp.file("err.txt");
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 2) << read_file(tmp.file("err.txt"));
  auto rows = read_rows(read_file(tmp.file("out.jsonl")));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["rendered"], "<｜begin▁of▁sentence｜><｜User｜>What is 1+1?<｜Assistant｜><think>\n");
  // Same ids as shared/models/tokenizer-tests/derived-chat-prompts.json gives for this prompt.
  EXPECT_EQ(rows[0]["ids"], nlohmann::ordered_json::parse("[151646,151644,3838,374,220,16,10,16,30,151645,151648,198]"));
  EXPECT_EQ(rows[1]["line"], 2);
  // Unknown model folder: exit status 1.
  std::string bad = bin + " render-chat --model " + tmp.file("nope") + " --input " + tmp.file("in.jsonl") + " 2>/dev/null >/dev/null";
  rc = std::system(bad.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 1);
}
