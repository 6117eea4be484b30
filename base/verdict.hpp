// The typed outcome of grading one sample. A harness, transport or sandbox failure is `infra_error`: it is never a
// wrong answer, and metrics leave it out of denominators (and report how many there were).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace reval {

enum class Verdict {
  correct,
  wrong,
  no_answer,       // nothing could be extracted (no box, unterminated <think>, no code block, ...)
  compile_error,
  runtime_error,
  time_limit,
  memory_limit,
  output_limit,
  infra_error,     // the harness failed, not the model: excluded from scoring
};

std::string_view to_string(Verdict v);
std::optional<Verdict> verdict_from_string(std::string_view s);
inline bool is_scored(Verdict v) { return v != Verdict::infra_error; }

struct GradeResult {
  Verdict verdict = Verdict::infra_error;
  double score = 0.0;                    // 1.0 for correct; partial credit allowed in [0, 1]
  std::optional<std::string> extracted;  // canonical extracted answer (used for cons@k voting)
  nlohmann::json details = nlohmann::json::object();  // grader-specific: method used, per-test verdicts, ...
};

}  // namespace reval
