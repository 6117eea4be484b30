// `reval grade --grader NAME --input IN.jsonl [--output OUT.jsonl]`: batch grading (see harness/batch_grade.hpp).
#include <fstream>
#include <iostream>

#include "harness/batch_grade.hpp"
#include "cli/cli.hpp"
#include "base/error.hpp"
#include "base/jsonl.hpp"

namespace reval::cli {

void add_grade_command(CLI::App& app, int& status) {
  struct Opts {
    BatchGradeOptions batch;
    std::string input, output, options_json;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("grade", "Grade a JSONL file of responses (math, choice, code)");
  cmd->add_option("--grader", o->batch.grader, "math | choice | code")->required();
  cmd->add_option("--input", o->input, "Input JSONL ('-' for stdin)")->required();
  cmd->add_option("--output", o->output, "Output JSONL (default stdout)");
  cmd->add_option("--threads", o->batch.threads, "Grading threads (default: all cores)");
  cmd->add_option("--grader-options", o->options_json, "Grader options as a JSON object, e.g. '{\"timeout_s\":2}'");
  cmd->callback([o, &status] {
    if (!o->options_json.empty()) {
      try {
        o->batch.grader_options = nlohmann::json::parse(o->options_json);
      } catch (const std::exception& e) {
        throw Error(std::string("--grader-options: invalid JSON: ") + e.what());
      }
    }
    std::string text;
    if (o->input == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      o->batch.input_name = "<stdin>";
    } else {
      text = read_file(o->input);
      o->batch.input_name = o->input;
    }
    BatchGradeStats stats;
    if (o->output.empty()) {
      stats = grade_jsonl(text, std::cout, o->batch);
    } else {
      std::ofstream out(o->output, std::ios::binary);
      if (!out) throw Error(o->output + ": cannot open for writing");
      stats = grade_jsonl(text, out, o->batch);
      if (!out) throw Error(o->output + ": write failed");
    }
    std::cerr << "reval: graded " << stats.lines - stats.malformed << " lines: " << stats.correct << " correct, "
              << stats.infra_errors << " infra errors, " << stats.malformed << " malformed\n";
    if (stats.malformed > 0) status = 2;
  });
}

}  // namespace reval::cli
