// Math loaders: MATH-500, AIME 2024, AIME 2025 and GSM8K. Each reads its JSONL file row by row, takes the gold answer
// (normalising only what the source format forces: AIME 2024's zero padding, GSM8K's "#### " line and thousands
// separators), repairs known corruption (AIME 2025's control characters) and renders the R1 math prompt.
#include <algorithm>
#include <regex>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "tasks/internal.hpp"

namespace reval::tasks_detail {
namespace {

Problem math_problem(std::string_view task, std::string id, const std::string& text, const std::string& tmpl) {
  Problem p;
  p.task = std::string(task);
  p.id = std::move(id);
  p.prompt = render_prompt_template(tmpl, Json{{"problem", text}, {"question", text}});
  return p;
}

// "025" -> "25"; "0" stays "0".
std::string strip_leading_zeros(const std::string& s) {
  size_t k = 0;
  while (k + 1 < s.size() && s[k] == '0') ++k;
  return s.substr(k);
}

}  // namespace

std::vector<Problem> load_math500(const LoadOptions& o) {
  std::string file = require_file("math500", o, "math500/test.jsonl");
  std::string tmpl = template_text(o, kMathTemplate);
  std::vector<Problem> out;
  for_each_jsonl_file(file, [&](JsonlLine& l) {
    check_row(l, file);
    const Json& row = *l.value;
    std::string id = string_field(row, "unique_id", file, l.line);
    std::string problem = string_field(row, "problem", file, l.line);
    std::string answer = string_field(row, "answer", file, l.line);
    Problem p = math_problem("math500", id, problem, tmpl);
    p.gold = {answer};
    if (auto it = row.find("subject"); it != row.end()) p.metadata["subject"] = *it;
    if (auto it = row.find("level"); it != row.end()) p.metadata["level"] = *it;
    out.push_back(std::move(p));
  });
  return out;
}

std::vector<Problem> load_aime24(const LoadOptions& o) {
  std::string file = require_file("aime24", o, "aime2024/test.jsonl");
  std::string tmpl = template_text(o, kMathTemplate);
  static const std::regex url_re(R"((\d{4})_AIME_(I|II)_Problems/Problem_(\d+))");
  struct Row { int contest; int number; Problem p; };
  std::vector<Row> rows;
  for_each_jsonl_file(file, [&](JsonlLine& l) {
    check_row(l, file);
    const Json& row = *l.value;
    std::string url = string_field(row, "url", file, l.line);
    std::smatch m;
    if (!std::regex_search(url, m, url_re))
      fail_at(file, l.line, "url", "expected an AoPS URL ending in YYYY_AIME_I|II_Problems/Problem_N, got '" + url + "'");
    std::string id = fmt::format("{}-{}-{}", m[1].str(), m[2].str(), m[3].str());
    std::string problem = string_field(row, "problem", file, l.line);
    const Json& ans = field(row, "answer", file, l.line);
    std::string answer = ans.is_string() ? trim(ans.get<std::string>()) : ans.dump();
    if (answer.empty() || !std::all_of(answer.begin(), answer.end(), [](char c) { return c >= '0' && c <= '9'; }))
      fail_at(file, l.line, "answer", "expected an integer answer, got '" + answer + "'");
    Problem p = math_problem("aime24", id, problem, tmpl);
    std::string canonical = strip_leading_zeros(answer);
    p.gold = {canonical};
    if (canonical != answer) p.gold.push_back(answer);
    p.metadata["url"] = url;
    p.metadata["contest"] = fmt::format("{} AIME {}", m[1].str(), m[2].str());
    if (auto it = row.find("id"); it != row.end()) p.metadata["source_id"] = *it;
    rows.push_back({m[2].str() == "I" ? 1 : 2, std::stoi(m[3].str()), std::move(p)});
  });
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return std::tie(a.contest, a.number) < std::tie(b.contest, b.number); });
  std::vector<Problem> out;
  for (auto& r : rows) out.push_back(std::move(r.p));
  return out;
}

std::vector<Problem> load_aime25(const LoadOptions& o) {
  std::string file = require_file("aime25", o, "aime2025/test.jsonl");
  std::string tmpl = template_text(o, kMathTemplate);
  std::vector<Problem> out;
  for_each_jsonl_file(file, [&](JsonlLine& l) {
    check_row(l, file);
    const Json& row = *l.value;
    size_t index = out.size();
    if (index >= 30) fail_at(file, l.line, "", "AIME 2025 has 30 problems (I-1..I-15, II-1..II-15); found more rows");
    std::string raw = string_field(row, "problem", file, l.line);
    const Json& ans = field(row, "answer", file, l.line);
    std::string answer = ans.is_string() ? trim(ans.get<std::string>()) : ans.dump();
    if (answer.empty()) fail_at(file, l.line, "answer", "empty answer");
    // Upstream stored "\frac" / "\triangle" with one backslash, which JSON decodes to U+000C / U+0009.
    std::string problem;
    int repaired = 0;
    for (char c : raw) {
      if (c == '\f') { problem += "\\f"; ++repaired; }
      else if (c == '\t') { problem += "\\t"; ++repaired; }
      else problem += c;
    }
    std::string id = fmt::format("2025-{}-{}", index < 15 ? "I" : "II", index % 15 + 1);
    Problem p = math_problem("aime25", id, problem, tmpl);
    std::string canonical = strip_leading_zeros(answer);
    p.gold = {canonical};
    if (canonical != answer) p.gold.push_back(answer);
    p.metadata["contest"] = index < 15 ? "2025 AIME I" : "2025 AIME II";
    if (repaired) p.metadata["repaired_escapes"] = repaired;
    out.push_back(std::move(p));
  });
  return out;
}

std::vector<Problem> load_gsm8k(const LoadOptions& o) {
  std::string file = require_file("gsm8k", o, "gsm8k/test.jsonl");
  std::string tmpl = template_text(o, kMathTemplate);
  std::vector<Problem> out;
  for_each_jsonl_file(file, [&](JsonlLine& l) {
    check_row(l, file);
    const Json& row = *l.value;
    std::string question = string_field(row, "question", file, l.line);
    std::string solution = string_field(row, "answer", file, l.line);
    size_t mark = solution.rfind("#### ");
    if (mark == std::string::npos) fail_at(file, l.line, "answer", "no final answer line '#### N'");
    std::string answer;
    for (char c : trim(std::string_view(solution).substr(mark + 5)))
      if (c != ',') answer += c;
    if (answer.empty()) fail_at(file, l.line, "answer", "empty final answer after '#### '");
    Problem p = math_problem("gsm8k", fmt::format("test/{}", out.size()), question, tmpl);
    p.gold = {answer};
    out.push_back(std::move(p));
  });
  return out;
}

}  // namespace reval::tasks_detail
