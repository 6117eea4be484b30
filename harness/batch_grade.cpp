// See batch_grade.hpp. Lines are parsed up front, graded by a pool of threads into slots, then written in order.
#include "harness/batch_grade.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/job_pool.hpp"
#include "base/jsonl.hpp"
#include "graders/grading.hpp"

namespace reval {

namespace {
struct Slot {
  std::int64_t line = 0;
  nlohmann::json input;
  std::string error;  // malformed line
  GradeRequest request;
  nlohmann::json output;
};

}  // namespace

BatchGradeStats grade_jsonl(const std::string& input_text, std::ostream& out, const BatchGradeOptions& options) {
  GraderSet graders(options.grader_options);
  graders.get(options.grader);  // throws for an unknown grader before reading anything
  std::vector<Slot> slots;
  for_each_jsonl(input_text, [&](JsonlLine& line) {
    Slot s;
    s.line = line.line;
    if (!line.error.empty()) {
      s.error = line.error;
    } else {
      s.input = std::move(*line.value);
      s.error = request_from_line(s.input, options.grader, s.request);
    }
    slots.push_back(std::move(s));
  });

  parallel_for(slots.size(), options.threads, [&](std::size_t i) {
    Slot& s = slots[i];
    if (!s.error.empty()) {
      s.output = {{"line", s.line}, {"error", where(options.input_name, s.line) + ": " + s.error}};
      return;
    }
    GradedSample graded = graders.grade(options.grader, s.request);
    if (graded.input_error) {  // the line's fields are wrong (naming the field): reported like a malformed line
      s.error = *graded.input_error;
      s.output = {{"line", s.line}, {"error", where(options.input_name, s.line) + ": " + s.error}};
      return;
    }
    const GradeResult& res = graded.result;
    s.output = s.input;
    s.output["verdict"] = to_string(res.verdict);
    s.output["score"] = res.score;
    s.output["extracted"] = res.extracted ? nlohmann::json(*res.extracted) : nlohmann::json(nullptr);
    s.output["details"] = res.details;
  });

  BatchGradeStats stats;
  for (const auto& s : slots) {
    ++stats.lines;
    if (!s.error.empty()) ++stats.malformed;
    else if (s.output["verdict"] == "correct") ++stats.correct;
    else if (s.output["verdict"] == "infra_error") ++stats.infra_errors;
    out << s.output.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }
  out.flush();
  return stats;
}

}  // namespace reval
