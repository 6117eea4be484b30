// GraderSet: verdicts from the named grader, failures of any kind as infra_error (never wrong), and the one rule
// that turns gold JSON into a list of answers.
#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "graders/grading.hpp"

namespace {

using namespace reval;

// A grader that answers `correct` when the response equals the first gold answer, and throws on "boom".
struct Scripted : Grader {
  std::string_view name() const override { return "scripted"; }
  std::string_view version() const override { return "7"; }
  GradeResult grade(const GradeRequest& r) const override {
    if (r.response == "boom") throw std::runtime_error("boom");
    GradeResult g;
    g.verdict = !r.gold.empty() && r.response == r.gold[0] ? Verdict::correct : Verdict::wrong;
    g.score = g.verdict == Verdict::correct ? 1.0 : 0.0;
    g.details["finish"] = to_string(r.finish);
    return g;
  }
};

TEST(Grading, VerdictFromTheNamedGraderWithItsNameAndVersion) {
  GraderSet set;
  set.add("s", std::make_unique<Scripted>());
  SampleToGrade s;
  s.response = "42";
  s.gold = "42";
  s.finish = FinishReason::length;
  GradedSample g = set.grade("s", s);
  EXPECT_EQ(g.result.verdict, Verdict::correct);
  EXPECT_EQ(g.grader, "scripted");
  EXPECT_EQ(g.grader_version, "7");
  EXPECT_EQ(g.result.details["finish"], "length");  // the typed finish reason reaches the grader
  s.response = "41";
  EXPECT_EQ(set.grade("s", s).result.verdict, Verdict::wrong);
}

TEST(Grading, GraderExceptionIsInfraErrorNotWrong) {
  GraderSet set;
  set.add("s", std::make_unique<Scripted>());
  GradeRequest r;
  r.response = "boom";
  r.gold = {"1"};
  GradedSample g = set.grade("s", r);
  EXPECT_EQ(g.result.verdict, Verdict::infra_error);
  EXPECT_EQ(g.result.details["error"], "boom");
  EXPECT_EQ(g.result.details["stage"], "grading");
  EXPECT_EQ(g.grader, "scripted");
}

TEST(Grading, GenerationErrorIsInfraErrorWithoutGrading) {
  GraderSet set;
  set.add("s", std::make_unique<Scripted>());
  SampleToGrade s;
  s.response = "42";  // would be correct: the generation error must win
  s.gold = "42";
  s.generation_error = "timeout after 600 s";
  GradedSample g = set.grade("s", s);
  EXPECT_EQ(g.result.verdict, Verdict::infra_error);
  EXPECT_EQ(g.result.details["stage"], "generation");
  EXPECT_EQ(g.result.details["error"], "timeout after 600 s");
  EXPECT_EQ(g.grader_version, "7");
}

TEST(Grading, BadGoldAndUnknownGraderAreInfraErrors) {
  GraderSet set;
  set.add("s", std::make_unique<Scripted>());
  SampleToGrade s;
  s.response = "42";
  s.gold = nlohmann::json::object({{"x", 1}});
  GradedSample g = set.grade("s", s);
  EXPECT_EQ(g.result.verdict, Verdict::infra_error);
  EXPECT_NE(g.result.details["error"].get<std::string>().find("field 'gold'"), std::string::npos);
  s.gold = "42";
  EXPECT_EQ(set.grade("no-such-grader", s).result.verdict, Verdict::infra_error);
  EXPECT_THROW(set.get("no-such-grader"), Error);
}

TEST(Grading, BuiltInGradersByName) {
  GraderSet set;
  GradeRequest r;
  r.response = "so \\boxed{\\frac{1}{2}}";
  r.gold = {"0.5"};
  EXPECT_EQ(set.grade("math", r).result.verdict, Verdict::correct);
  r.gold = {"0.25"};
  EXPECT_EQ(set.grade("math", r).result.verdict, Verdict::wrong);
  EXPECT_EQ(&set.get("math"), &set.get("math"));  // made once, shared
}

TEST(GoldAnswers, OneRule) {
  EXPECT_EQ(gold_answers("x"), std::vector<std::string>{"x"});
  EXPECT_EQ(gold_answers(12), std::vector<std::string>{"12"});
  EXPECT_EQ(gold_answers(nlohmann::json::array({"a", 3, "b"})), (std::vector<std::string>{"a", "3", "b"}));
  EXPECT_TRUE(gold_answers(nullptr).empty());
  try {
    gold_answers(nlohmann::json::array({"a", nlohmann::json::array()}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("field 'gold[1]'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gold_answers(true), Error);
}

}  // namespace
