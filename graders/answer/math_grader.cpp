// The `math` grader: extract_answer() on the response, then math_equal() against each gold answer (any match
// counts). Verdicts: correct / wrong / no_answer (nothing extracted: unterminated think, truncation inside it, no
// answer in the text). A comparison that runs out of its budget is `wrong` with details.timeout = true (the model
// did answer; we could not prove it right in time); an over-limit input is `wrong` with details.refused = true.
// An unexpected internal failure propagates to GraderSet::grade (graders/grading.hpp), which records infra_error.
#include <chrono>

#include "graders/answer/latex.hpp"
#include "graders/answer/math.hpp"
#include "graders/grader.hpp"

namespace reval::answer {
namespace {

class MathGrader final : public Grader {
 public:
  explicit MathGrader(MathOptions o) : opt_(o) {}
  std::string_view name() const override { return "math"; }
  // 2.0: issue 13 (free-text extraction, gold extraction, new structures, decimal rounding) -- verdicts differ from 1.0
  std::string_view version() const override { return "2.0"; }

  GradeResult grade(const GradeRequest& req) const override {
    GradeResult r;
    auto t0 = std::chrono::steady_clock::now();
    {  // failures propagate to GraderSet::grade, the one place they become infra_error
      const std::string finish = to_string(req.finish);
      if (req.gold.empty()) {
        r.verdict = Verdict::infra_error;
        r.details["error"] = "no gold answer";
        return r;
      }
      Extraction ex = extract_answer(req.response, opt_, finish);
      if (!ex.answer) {
        r.verdict = Verdict::no_answer;
        r.details["method"] = "none";
        r.details["reason"] = ex.reason;
      } else {
        r.extracted = canonical_answer(*ex.answer);
        r.details["method"] = ex.method;
        r.details["answer"] = *ex.answer;
        r.verdict = Verdict::wrong;
        bool any_timeout = false, any_refused = false;
        std::string step;
        nlohmann::json notes = nlohmann::json::array();
        for (std::size_t k = 0; k < req.gold.size(); ++k) {
          std::string gold = gold_answer(req.gold[k], opt_);
          EqualResult e = math_equal(*ex.answer, gold, opt_);
          any_timeout |= e.timeout;
          any_refused |= e.refused;
          if (!e.note.empty()) notes.push_back(e.note);
          step = e.step;
          if (e.equal) {
            r.verdict = Verdict::correct;
            r.score = 1.0;
            r.details["matched_gold"] = k;
            break;
          }
        }
        r.details["step"] = step;
        if (r.verdict != Verdict::correct) {
          if (any_timeout) r.details["timeout"] = true;
          if (any_refused) r.details["refused"] = true;
        }
        if (!notes.empty()) r.details["notes"] = notes;
      }
    }
    r.details["time_us"] =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }

 private:
  MathOptions opt_;
};

}  // namespace
}  // namespace reval::answer

namespace reval {

std::unique_ptr<Grader> make_math_grader(const nlohmann::json& options) {
  return std::make_unique<answer::MathGrader>(answer::MathOptions::from_json(options));
}

}  // namespace reval
