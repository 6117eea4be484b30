// The grader interface shared by evaluation, `reval grade` and the RL reward layer. A Grader is immutable after
// construction and grade() is thread-safe. Bad model output is never an error: unparseable answers are `no_answer`
// (or compared as strings). A grader throws GradeInputError for an invalid request and may throw anything else for
// its own failures; callers grade through GraderSet (graders/grading.hpp), the one place where such an exception
// becomes a verdict.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/finish_reason.hpp"
#include "base/verdict.hpp"

namespace reval {

// Thrown by a grader (and by gold_answers) when the request itself is invalid: a field of the wrong type, an
// unknown mode or checker, no tests. It names the field. GraderSet records it as an input error (GradedSample::
// input_error), which batch grading reports as a malformed line; any other exception is a failure of the grader.
class GradeInputError : public Error {
 public:
  using Error::Error;
};

// One sample to grade. Owns its strings, so it can be queued and graded on another thread.
struct GradeRequest {
  std::string response;                      // the full model output (or a bare answer)
  std::vector<std::string> gold;             // acceptable answers; any match counts
  nlohmann::json fields = nlohmann::json::object();  // grader-specific: choices, tests, fn_name, time_limit, ...
  FinishReason finish = FinishReason::stop;  // how generation ended (`length`: the output was cut off)
};

class Grader {
 public:
  virtual ~Grader() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view version() const = 0;
  virtual GradeResult grade(const GradeRequest& request) const = 0;
};

// Known names: "math", "choice", "code". `options` are grader settings (e.g. {"timeout_s": 2}).
// Throws reval::Error for an unknown name, listing the known ones.
std::unique_ptr<Grader> make_grader(std::string_view name, const nlohmann::json& options = nlohmann::json::object());
std::vector<std::string> grader_names();

// Factories, one per grader family (graders/answer, graders/code).
std::unique_ptr<Grader> make_math_grader(const nlohmann::json& options);
std::unique_ptr<Grader> make_choice_grader(const nlohmann::json& options);
std::unique_ptr<Grader> make_code_grader(const nlohmann::json& options);

}  // namespace reval
