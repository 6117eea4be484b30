// `reval grade` batch contract: output in input order repeating the input fields, malformed lines reported with
// their line number and field while grading continues.
#include <gtest/gtest.h>

#include <sstream>

#include "harness/batch_grade.hpp"
#include "base/jsonl.hpp"

using namespace reval;

namespace {
std::vector<nlohmann::json> run(const std::string& grader, const std::string& input, BatchGradeStats* stats = nullptr) {
  std::ostringstream out;
  BatchGradeOptions o;
  o.grader = grader;
  o.threads = 3;
  o.input_name = "in.jsonl";
  BatchGradeStats s = grade_jsonl(input, out, o);
  if (stats) *stats = s;
  std::vector<nlohmann::json> lines;
  for_each_jsonl(out.str(), [&](JsonlLine& l) { lines.push_back(*l.value); });
  return lines;
}
}  // namespace

TEST(BatchGrade, MathInOrderWithInputFieldsKept) {
  std::string input;
  for (int i = 0; i < 40; ++i)
    input += nlohmann::json{{"id", i}, {"response", "\\boxed{" + std::to_string(i % 3 == 0 ? i : i + 1) + "}"},
                            {"gold", std::to_string(i)}}.dump() + "\n";
  BatchGradeStats stats;
  auto out = run("math", input, &stats);
  ASSERT_EQ(out.size(), 40u);
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(out[i]["id"], i);
    EXPECT_EQ(out[i]["verdict"], i % 3 == 0 ? "correct" : "wrong") << i;
    EXPECT_EQ(out[i]["score"], i % 3 == 0 ? 1.0 : 0.0);
    EXPECT_TRUE(out[i].contains("details"));
    EXPECT_TRUE(out[i]["extracted"].is_string());
  }
  EXPECT_EQ(stats.correct, 14);
  EXPECT_EQ(stats.malformed, 0);
}

TEST(BatchGrade, MalformedLinesNamedAndSkipped) {
  std::string input =
      "{\"response\": \"Answer: B\", \"gold\": \"B\"}\n"
      "{\"response\": \"Answer: B\"\n"
      "{\"gold\": \"B\"}\n"
      "{\"response\": 5, \"gold\": \"B\"}\n"
      "{\"response\": \"x\", \"gold\": [\"B\", {}]}\n"
      "\"\xff\"\n"
      "{\"response\": \"I pick C\\nAnswer: C\", \"gold\": [\"A\", \"C\"]}\n";
  BatchGradeStats stats;
  auto out = run("choice", input, &stats);
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(out[0]["verdict"], "correct");
  EXPECT_EQ(out[1]["line"], 2);
  EXPECT_NE(out[1]["error"].get<std::string>().find("in.jsonl:2"), std::string::npos);
  EXPECT_NE(out[2]["error"].get<std::string>().find("'response'"), std::string::npos);
  EXPECT_NE(out[3]["error"].get<std::string>().find("'response'"), std::string::npos);
  EXPECT_NE(out[4]["error"].get<std::string>().find("'gold[1]'"), std::string::npos);
  EXPECT_NE(out[5]["error"].get<std::string>().find("UTF-8"), std::string::npos);
  EXPECT_EQ(out[6]["verdict"], "correct");
  EXPECT_EQ(stats.malformed, 5);
  EXPECT_EQ(stats.correct, 2);
}

TEST(BatchGrade, UnknownGraderIsAnError) {
  std::ostringstream out;
  BatchGradeOptions o;
  o.grader = "nope";
  EXPECT_THROW(grade_jsonl("{}", out, o), std::exception);
}
