// Registers `reval render-chat`: renders JSONL conversations with a model's chat template (model/chat) and
// tokenizes the result with its tokenizer.json when there is one (without adding special tokens, as
// transformers' apply_chat_template(tokenize=True) does). Exit status 0 when every line rendered, 2 when some
// lines were malformed or failed to render, 1 on error (no template, unreadable input; printed by
// main as "reval: error: ...").
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/cli.hpp"
#include "model/chat/chat_template.hpp"
#include "model/chat/render_chat.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "base/error.hpp"

namespace reval::cli {

void add_chat_commands(CLI::App& app, int& status) {
  struct Options {
    std::string model, chat_template, input, output;
    bool no_ids = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "render-chat", "Render JSONL conversations ({\"messages\", \"add_generation_prompt\"}) with a chat template");
  cmd->add_option("--model", opt->model, "model folder (chat_template.jinja or tokenizer_config.json, tokenizer.json)")
      ->required();
  cmd->add_option("--chat-template", opt->chat_template, "template file overriding the model's");
  cmd->add_option("--input", opt->input, "input JSONL")->required();
  cmd->add_option("--output", opt->output, "output JSONL (default: stdout)");
  cmd->add_flag("--no-ids", opt->no_ids, "do not tokenize (leave out \"ids\")");
  cmd->callback([opt, &status] {
    auto tmpl = ChatTemplate::from_model_dir(opt->model, opt->chat_template);
    ChatEncodeFn encode;
    const std::string tok_path = (std::filesystem::path(opt->model) / "tokenizer.json").string();
    if (!opt->no_ids) {
      if (std::filesystem::exists(tok_path)) {
        auto tok = Tokenizer::from_file(tok_path);
        encode = [tok](const std::string& text) { return tok->encode(text, /*add_special_tokens=*/false); };
      } else {
        std::cerr << "note: " << tok_path << " not found; writing \"rendered\" without \"ids\"\n";
      }
    }
    std::ofstream file;
    std::ostream* out = &std::cout;
    if (!opt->output.empty() && opt->output != "-") {
      file.open(opt->output);
      if (!file) throw Error("cannot write " + opt->output);
      out = &file;
    }
    auto stats = render_chat_jsonl(*tmpl, opt->input, *out, encode);
    out->flush();
    std::cerr << "rendered " << stats.lines - stats.errors << "/" << stats.lines << " lines with " << tmpl->origin()
              << " (sha256 " << tmpl->source_hash().substr(0, 16) << ")";
    if (stats.errors) std::cerr << " (" << stats.errors << " failed)";
    std::cerr << "\n";
    status = stats.errors ? 2 : 0;
  });
}

}  // namespace reval::cli
