// The R1 prompts and the template engine. Templates are plain text with {name} placeholders; the engine replaces a
// placeholder only when its name is a known variable, so LaTeX such as "\boxed{}" or "{x}" in a user template is left
// alone. Values are inserted verbatim in one pass (a problem containing "{A}" is never expanded again).
//
// Default prompts (R1 protocol: no system prompt, this is the whole user turn):
//  * math: "{problem}\nPlease reason step by step, and put your final answer within \boxed{}."
//  * multiple choice: the simple-evals QUERY_TEMPLATE_MULTICHOICE, generalised to N options (letters "ABCD" for 4).
//  * LiveCodeBench: LCB's generic code-generation question template, stdin and starter-code variants.
//  * HumanEval and Codeforces: our own instructions, documented in docs/tasks.md.
#include <cctype>
#include <filesystem>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "tasks/internal.hpp"

namespace reval {

std::string render_prompt_template(std::string_view tmpl, const nlohmann::json& vars) {
  std::string out;
  out.reserve(tmpl.size() + 256);
  size_t i = 0;
  while (i < tmpl.size()) {
    char c = tmpl[i];
    if (c == '{') {
      size_t close = tmpl.find('}', i + 1);
      if (close != std::string_view::npos) {
        std::string name(tmpl.substr(i + 1, close - i - 1));
        bool ident = !name.empty();
        for (char ch : name)
          if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_')) ident = false;
        if (ident && vars.is_object()) {
          auto it = vars.find(name);
          if (it != vars.end()) {
            if (it->is_string()) out += it->get<std::string>();
            else out += it->dump();
            i = close + 1;
            continue;
          }
        }
      }
    }
    out += c;
    ++i;
  }
  return out;
}

namespace tasks_detail {

const char* const kMathTemplate = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}.";

const char* const kChoiceTemplate =
    "Answer the following multiple choice question. The last line of your response should be of the following "
    "format: 'Answer: $LETTER' (without quotes) where LETTER is one of {letters}. Think step by step before "
    "answering.\n\n{question}\n\n{choices}";

const char* const kLcbStdinTemplate =
    "### Question:\n{question}\n\n"
    "### Format: Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test on "
    "the sample inputs). Enclose your code within delimiters as follows. Ensure that when the python program runs, it "
    "reads the inputs, runs the algorithm and writes output to STDOUT.\n"
    "```python\n# YOUR CODE HERE\n```\n\n"
    "### Answer: (use the provided format with backticks)\n\n";

const char* const kLcbStarterTemplate =
    "### Question:\n{question}\n\n"
    "### Format: You will use the following starter code to write the solution to the problem and enclose your code "
    "within delimiters.\n"
    "```python\n{starter_code}\n```\n\n"
    "### Answer: (use the provided format with backticks)\n\n";

const char* const kHumanEvalTemplate =
    "Complete the following Python function. Keep its signature, and put the complete function (with any imports "
    "it needs) in a single ```python code block.\n\n```python\n{prompt}\n```";

const char* const kCodeforcesTemplate =
    "{statement}\n\n"
    "Write a C++17 program that solves this problem. It must read the input from standard input and write the answer "
    "to standard output. Time limit per test: {time_limit} s. Memory limit: {memory_limit} MB. Think step by "
    "step, then put your complete solution in a single ```cpp code block.";

Json choice_vars(const std::string& question, const std::vector<std::string>& options) {
  Json v = Json::object();
  v["question"] = question;
  v["Question"] = question;
  v["problem"] = question;
  std::string letters, choices;
  for (size_t k = 0; k < options.size(); ++k) {
    char letter = static_cast<char>('A' + k);
    letters += letter;
    if (k) choices += "\n";
    choices += fmt::format("{}) {}", letter, options[k]);
    v[std::string(1, letter)] = options[k];
  }
  v["letters"] = letters;
  v["choices"] = choices;
  return v;
}

std::string join_path(const std::string& dir, const std::string& rel) {
  if (dir.empty()) return rel;
  if (dir.back() == '/') return dir + rel;
  return dir + "/" + rel;
}

std::string require_file(std::string_view task, const LoadOptions& o, const std::string& rel) {
  std::string path = join_path(o.data_dir, rel);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(fmt::format("{}: missing data file {} (`reval data fetch {}` downloads it or says where to get it; "
                            "or point --data-dir / REVAL_DATA at a directory holding {})", task, path, task, rel));
  return path;
}

const Json& field(const Json& row, std::string_view name, const std::string& file, std::int64_t line) {
  auto it = row.find(name);
  if (it == row.end() || it->is_null()) fail_at(file, line, name, "missing");
  return *it;
}

std::string string_field(const Json& row, std::string_view name, const std::string& file, std::int64_t line) {
  const Json& v = field(row, name, file, line);
  if (!v.is_string()) fail_at(file, line, name, fmt::format("expected a string, got {}", v.type_name()));
  return v.get<std::string>();
}

void check_row(const JsonlLine& l, const std::string& file) {
  if (!l.value) fail_at(file, l.line, "", "invalid JSON: " + l.error);
  if (!l.value->is_object()) fail_at(file, l.line, "", "expected a JSON object");
}

std::string trim(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

std::string template_text(const LoadOptions& o, std::string_view fallback) {
  if (!o.prompt_template) return std::string(fallback);
  return read_file(*o.prompt_template);
}

}  // namespace tasks_detail
}  // namespace reval
