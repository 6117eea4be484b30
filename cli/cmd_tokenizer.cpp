// Registers `reval tokenize`: tokenizes JSONL texts with a model's tokenizer.json (see model/tokenizer/
// tokenize_jsonl.hpp). Exit status 0 when every line was processed, 2 when some lines were malformed, 1 on error
// (printed by main).
#include <iostream>

#include "cli/cli.hpp"
#include "model/tokenizer/tokenize_jsonl.hpp"
#include "base/error.hpp"

namespace reval::cli {

void add_tokenizer_commands(CLI::App& app, int& status) {
  struct Options {
    std::string model, input, output;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Tokenize JSONL texts ({\"text\", \"add_special_tokens\"}) with a tokenizer.json");
  cmd->add_option("--model", opt->model, "model folder containing tokenizer.json, or the tokenizer.json file")->required();
  cmd->add_option("--input", opt->input, "input JSONL")->required();
  cmd->add_option("--output", opt->output, "output JSONL (default: stdout)");
  cmd->callback([opt, &status] {
    auto stats = tokenize_jsonl(opt->model, opt->input, opt->output);
    std::cerr << "tokenized " << stats.lines - stats.errors << "/" << stats.lines << " lines";
    if (stats.errors) std::cerr << " (" << stats.errors << " malformed)";
    std::cerr << "\n";
    status = stats.errors ? 2 : 0;
  });
}

}  // namespace reval::cli
