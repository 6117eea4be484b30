// Grading one sample: the single entry point the harness (eval, regrade, `reval grade`) and the RL reward layer use.
//
// Theory of operation: a GraderSet creates each named grader once (graders are immutable and thread-safe) and
// grades through it. GraderSet::grade() never throws: an exception from building the request or from the grader is
// turned into an `infra_error` verdict here and nowhere else — with details {"stage": "input", "error": ...} and
// GradedSample::input_error set for a GradeInputError (invalid request fields or gold), {"stage": "grading"} for
// anything else; a sample whose generation failed is `infra_error` with {"stage": "generation"} without reaching a
// grader.
// Gold answers arrive as JSON (task files, stored problems, JSONL lines) and become a list by one rule:
// gold_answers().
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/finish_reason.hpp"
#include "base/verdict.hpp"
#include "graders/grader.hpp"

namespace reval {

// Gold JSON -> acceptable answers: a string is one answer, a number its JSON text, a list each of its strings or
// numbers, null none. Anything else throws GradeInputError naming the field ("gold" or "gold[i]").
std::vector<std::string> gold_answers(const nlohmann::json& gold);

// A sample as the harness has it: the completion, the problem's gold and grading fields, how generation ended.
struct SampleToGrade {
  std::string response;
  nlohmann::json gold;                                // see gold_answers()
  nlohmann::json fields = nlohmann::json::object();   // the problem's grading fields (choices, tests, ...)
  FinishReason finish = FinishReason::stop;
  std::string generation_error;                       // non-empty: generation failed, nothing to grade
};

// A verdict with the grader that gave it.
struct GradedSample {
  std::string grader;
  std::string grader_version;
  GradeResult result;
  // Set when the request itself was invalid (a grader threw GradeInputError naming a field: an unknown mode, a
  // non-list `tests`, a bad gold): the verdict is then infra_error with stage "input". Batch grading reports such a
  // line as malformed; an evaluation records it as infra_error (the task's data, not the model, is at fault).
  std::optional<std::string> input_error;
};

// A `reval grade` input line as a request (the one reading shared by `reval grade`, the reward server's /grade and
// the Python module): an object with `response` (string), `gold` (see gold_answers(); optional for the code grader),
// an optional `finish_reason` (string) and the grader's fields (everything else). Returns "" or a message naming
// the field.
std::string request_from_line(const nlohmann::json& line, std::string_view grader, GradeRequest& out);

// The infra_error result for a failure at `stage` ("generation", "grading").
GradeResult infra_error_result(std::string_view stage, std::string_view message);

class GraderSet {
 public:
  // `options` are passed to every grader made (e.g. {"timeout_s": 2}).
  explicit GraderSet(nlohmann::json options = nlohmann::json::object()) : options_(std::move(options)) {}
  // The named grader, made on first use. Throws reval::Error for an unknown name (listing the known ones).
  const Grader& get(const std::string& name);
  // Registers (or replaces) a grader under `name`: custom graders, fakes in tests.
  void add(const std::string& name, std::unique_ptr<Grader> grader);
  // Never throws (see the theory of operation). An unknown grader name is an infra_error too: the sample is fine,
  // the harness's configuration is not.
  GradedSample grade(const std::string& grader, const GradeRequest& request);
  GradedSample grade(const std::string& grader, const SampleToGrade& sample);

 private:
  nlohmann::json options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Grader>> graders_;
};

}  // namespace reval
