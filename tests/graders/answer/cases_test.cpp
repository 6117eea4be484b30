// Table-driven grading cases: tests/graders/answer/data/cases.jsonl, one JSON object per line with
// grader ("math" | "choice"), response, gold (list), expected verdict, note, and optionally fields, options and the
// expected extraction method. Every mismatch is listed; the test fails on any.
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "graders/grader.hpp"
#include "tests/test_util.hpp"

namespace {

TEST(AnswerCases, Table) {
  std::ifstream in(reval::test::source_dir() + "/tests/graders/answer/data/cases.jsonl");
  ASSERT_TRUE(in.good());
  std::string line;
  int n = 0, bad = 0, lineno = 0;
  std::map<std::string, int> per_verdict;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    auto c = nlohmann::json::parse(line);
    auto opts = c.value("options", nlohmann::json::object());
    const std::string grader_name = c.value("grader", std::string("math"));
    if (grader_name != "math" && grader_name != "choice") {  // a typo must not silently run another grader
      ADD_FAILURE() << "line " << lineno << ": unknown grader '" << grader_name << "'";
      ++bad;
      continue;
    }
    auto grader = grader_name == "choice" ? reval::make_choice_grader(opts) : reval::make_math_grader(opts);
    std::string response = c.at("response").get<std::string>();
    reval::GradeRequest req;
    req.response = response;
    req.gold = c.at("gold").get<std::vector<std::string>>();
    req.fields = c.value("fields", nlohmann::json::object());
    if (req.fields.contains("finish_reason")) {  // the table spells how generation ended as a field
      req.finish = reval::finish_reason_from_string(req.fields["finish_reason"].get<std::string>());
      req.fields.erase("finish_reason");
    }
    auto r = grader->grade(req);
    ++n;
    std::string want = c.at("expected").get<std::string>();
    ++per_verdict[want];
    std::string got(reval::to_string(r.verdict));
    bool ok = got == want;
    if (ok && c.contains("method")) ok = r.details.value("method", std::string()) == c["method"].get<std::string>();
    if (!ok) {
      ++bad;
      ADD_FAILURE() << "line " << lineno << " [" << c.value("note", std::string()) << "]: expected " << want
                    << (c.contains("method") ? " via " + c["method"].get<std::string>() : std::string()) << ", got "
                    << got << "\n  response: " << response.substr(0, 200) << "\n  gold: " << c["gold"].dump()
                    << "\n  details: " << r.details.dump();
    }
  }
  std::cout << n << " cases, " << bad << " mismatches; expected verdicts:";
  for (const auto& [k, v] : per_verdict) std::cout << " " << k << "=" << v;
  std::cout << "\n";
  EXPECT_GE(n, 300);
}

}  // namespace
