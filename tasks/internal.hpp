// Pieces shared by the task loaders (not part of the public API): the loader signatures, row-field accessors that
// fail with file/line/field named, and the default R1 prompt templates.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/jsonl.hpp"
#include "tasks/task.hpp"

namespace reval::tasks_detail {

using Json = nlohmann::json;

// Loaders, one per task (loaders_*.cpp). Each throws reval::Error for a missing file or a bad row.
std::vector<Problem> load_math500(const LoadOptions& o);
std::vector<Problem> load_aime24(const LoadOptions& o);
std::vector<Problem> load_aime25(const LoadOptions& o);
std::vector<Problem> load_gsm8k(const LoadOptions& o);
std::vector<Problem> load_gpqa_diamond(const LoadOptions& o);
std::vector<Problem> load_mmlu(const LoadOptions& o);
std::vector<Problem> load_mmlu_pro(const LoadOptions& o);
std::vector<Problem> load_livecodebench(const LoadOptions& o);
std::vector<Problem> load_codeforces(const LoadOptions& o);
std::vector<Problem> load_humaneval(const LoadOptions& o);
// Rows in the LiveCodeBench files of the selected release, counted without parsing or decoding (for `reval tasks`;
// the real files are gigabytes of compressed tests).
std::size_t count_livecodebench_rows(const LoadOptions& o);

// `data_dir/rel`, or reval::Error "TASK: missing data file PATH (...)" when it does not exist.
std::string require_file(std::string_view task, const LoadOptions& o, const std::string& rel);
std::string join_path(const std::string& dir, const std::string& rel);

// Field accessors on a JSON row; they fail with "file:line: field 'name': ..." when absent or of the wrong type.
const Json& field(const Json& row, std::string_view name, const std::string& file, std::int64_t line);
std::string string_field(const Json& row, std::string_view name, const std::string& file, std::int64_t line);
// Fails the load with the row's parse error when a JSONL line could not be parsed or is not an object.
void check_row(const JsonlLine& l, const std::string& file);

std::string trim(std::string_view s);

// The template text: the file named by options.prompt_template when set (read once per load), else `fallback`.
std::string template_text(const LoadOptions& o, std::string_view fallback);

// Default prompts (prompts.cpp).
extern const char* const kMathTemplate;         // {problem}
extern const char* const kChoiceTemplate;       // {question} {choices} {letters} (also {A}..{J})
extern const char* const kLcbStdinTemplate;     // {question}
extern const char* const kLcbStarterTemplate;   // {question} {starter_code}
extern const char* const kHumanEvalTemplate;    // {prompt}
extern const char* const kCodeforcesTemplate;   // {statement} {time_limit} {memory_limit}

// Variables for a multiple-choice prompt: question, Question, letters, choices ("A) ..\nB) .."), A, B, ...
Json choice_vars(const std::string& question, const std::vector<std::string>& options);

}  // namespace reval::tasks_detail
