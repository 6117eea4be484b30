// The two conversions every harness path that grades stored samples shares (eval, regrade, merge): a stored
// sample plus its problem's gold -> the grading input, and a grader's answer -> the stored grade row.
#pragma once
#include <cstdint>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/finish_reason.hpp"
#include "graders/grading.hpp"
#include "results/records.hpp"

namespace reval {

// The grading input of a stored sample: the text as stored (sanitised), how generation ended, the problem's gold.
inline SampleToGrade sample_to_grade(const nlohmann::json& gold, const nlohmann::json& grading,
                                     const SampleRecord& s) {
  SampleToGrade g;
  g.response = s.completion;
  g.gold = gold;
  g.fields = grading;
  g.finish = finish_reason_from_string(s.finish_reason);
  g.generation_error = s.error;
  return g;
}

// The one construction of a stored grade row.
inline GradeRecord grade_record(std::int64_t run_id, const SampleKey& key, GradedSample graded) {
  GradeRecord r;
  r.run_id = run_id;
  r.key = key;
  r.grader = std::move(graded.grader);
  r.grader_version = std::move(graded.grader_version);
  r.result = std::move(graded.result);
  return r;
}

}  // namespace reval
