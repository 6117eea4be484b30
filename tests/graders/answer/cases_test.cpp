// Table-driven grading cases: every tests/graders/answer/data/*.jsonl table, one JSON object per line with
// grader ("math" | "choice"), response, gold (list), expected verdict, note, and optionally category, fields,
// options and the expected extraction method. cases.jsonl is the original table; categories.jsonl covers each
// category of issue 13 (extraction, gold answers, number formats, units, relations, sets, matrices, precision,
// traps, multiple choice) with both equal and not-equal rows. Every mismatch is listed; the test fails on any.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "graders/grader.hpp"
#include "tests/test_util.hpp"

namespace {

struct TableStats {
  int rows = 0, bad = 0;
  std::map<std::string, int> per_verdict;
  std::map<std::string, std::set<std::string>> verdicts_per_category;
};

TableStats run_table(const std::string& path) {
  TableStats st;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::json c;
    try {
      c = nlohmann::json::parse(line);
      for (const char* field : {"response", "gold", "expected"})
        if (!c.contains(field)) throw std::runtime_error(std::string("missing field ") + field);
    } catch (const std::exception& e) {
      ADD_FAILURE() << path << ":" << lineno << ": malformed row: " << e.what();
      continue;
    }
    auto opts = c.value("options", nlohmann::json::object());
    const std::string grader_name = c.value("grader", std::string("math"));
    if (grader_name != "math" && grader_name != "choice") {  // a typo must not silently run another grader
      ADD_FAILURE() << path << ":" << lineno << ": unknown grader '" << grader_name << "'";
      ++st.bad;
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
    ++st.rows;
    std::string want = c.at("expected").get<std::string>();
    ++st.per_verdict[want];
    st.verdicts_per_category[c.value("category", std::string())].insert(want == "correct" ? "equal" : "not equal");
    std::string got(reval::to_string(r.verdict));
    bool ok = got == want;
    if (ok && c.contains("method")) ok = r.details.value("method", std::string()) == c["method"].get<std::string>();
    if (!ok) {
      ++st.bad;
      ADD_FAILURE() << path << ":" << lineno << " [" << c.value("note", std::string()) << "]: expected " << want
                    << (c.contains("method") ? " via " + c["method"].get<std::string>() : std::string()) << ", got "
                    << got << "\n  response: " << response.substr(0, 200) << "\n  gold: " << c["gold"].dump().substr(0, 200)
                    << "\n  details: " << r.details.dump().substr(0, 400);
    }
  }
  std::cout << path << ": " << st.rows << " cases, " << st.bad << " mismatches; expected verdicts:";
  for (const auto& [k, v] : st.per_verdict) std::cout << " " << k << "=" << v;
  std::cout << "\n";
  return st;
}

std::string data_dir() { return reval::test::source_dir() + "/tests/graders/answer/data"; }

TEST(AnswerCases, OriginalTable) {
  auto st = run_table(data_dir() + "/cases.jsonl");
  EXPECT_GE(st.rows, 300);
  EXPECT_EQ(st.bad, 0);
}

TEST(AnswerCases, CategoryTable) {
  auto st = run_table(data_dir() + "/categories.jsonl");
  EXPECT_GE(st.rows, 250);
  EXPECT_EQ(st.bad, 0);
  // Each category has rows that must be equal and rows that must not be: a rule that only accepts (or only rejects)
  // cannot pass it.
  EXPECT_GE(st.verdicts_per_category.size(), 10u);
  for (const auto& [cat, kinds] : st.verdicts_per_category)
    EXPECT_EQ(kinds.size(), 2u) << "category '" << cat << "' lacks equal or not-equal rows";
}

TEST(AnswerCases, EveryTableIsRun) {
  // A new table dropped into data/ must be listed above.
  std::set<std::string> known = {"cases.jsonl", "categories.jsonl"};
  for (const auto& e : std::filesystem::directory_iterator(data_dir())) {
    if (e.path().extension() == ".jsonl") {
      EXPECT_TRUE(known.count(e.path().filename().string())) << e.path();
    }
  }
}

}  // namespace
