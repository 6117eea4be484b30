// Per-sample reading: SampleStore::for_each_sample (filters, the problem join, completions cut by characters, and
// the SQLite query checked against the store's generic implementation built from samples()/grades()/problems()),
// and export_samples in its three formats (JSONL parsed back, CSV parsed back with quoted newlines, text), with
// invalid UTF-8, HTML-special characters and bad arguments.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/utf8.hpp"
#include "results/sample_export.hpp"
#include "results/store.hpp"
#include "tests/test_util.hpp"

using namespace reval;
using reval::test::TempDir;

namespace {

// RFC 4180 parsing of a whole document (quoted fields may hold commas, quotes and newlines).
std::vector<std::vector<std::string>> parse_csv(const std::string& s) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row(1);
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '"' && i + 1 < s.size() && s[i + 1] == '"') {
        row.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        row.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.emplace_back();
    } else if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      rows.push_back(std::move(row));
      row.assign(1, "");
      ++i;
    } else {
      row.back() += c;
    }
  }
  if (row.size() > 1 || !row[0].empty()) rows.push_back(std::move(row));
  return rows;
}

// SampleQuery with chained setters (designated initializers would warn about the fields left out).
struct Q : SampleQuery {
  Q& task(std::string v) { SampleQuery::task = std::move(v); return *this; }
  Q& problem_id(std::string v) { SampleQuery::problem_id = std::move(v); return *this; }
  Q& sample_index(int v) { SampleQuery::sample_index = v; return *this; }
  Q& statuses(std::vector<std::string> v) { SampleQuery::statuses = std::move(v); return *this; }
  Q& truncated_only(bool v) { SampleQuery::truncated_only = v; return *this; }
  Q& with_problem(bool v) { SampleQuery::with_problem = v; return *this; }
  Q& head_chars(std::int64_t v) { SampleQuery::head_chars = v; return *this; }
  Q& tail_chars(std::int64_t v) { SampleQuery::tail_chars = v; return *this; }
};

std::string long_text() {
  std::string s;
  for (int i = 0; i < 100; ++i) s += "\xc3\xa9";  // 100 x U+00E9
  return s + "END";                                 // 103 characters, 203 bytes
}

struct Fixture {
  TempDir dir;
  std::string path = dir.file("s.db");
  std::unique_ptr<SampleStore> store = open_sqlite_store(path);
  RunInfo run, other;

  void sample(const RunInfo& r, const std::string& task, const std::string& pid, int idx, const std::string& text,
              const std::string& finish, const std::string& error = "") {
    SampleRecord s;
    s.run_id = r.id;
    s.key = {task, pid, idx};
    s.completion = text;
    s.finish_reason = finish;
    s.error = error;
    s.prompt_tokens = 12;
    s.completion_tokens = error.empty() ? 100 + idx : -1;
    s.latency_s = 1.5;
    s.seed = 99;
    store->add_sample(s);
  }
  void grade(const RunInfo& r, const std::string& task, const std::string& pid, int idx, Verdict v,
             std::optional<std::string> extracted, const std::string& grader = "math") {
    GradeRecord g;
    g.run_id = r.id;
    g.key = {task, pid, idx};
    g.grader = grader;
    g.grader_version = "1.0";
    g.result.verdict = v;
    g.result.score = v == Verdict::correct ? 1.0 : 0.0;
    g.result.extracted = std::move(extracted);
    g.result.details = {{"method", "boxed"}, {"note", "<tag> & more"}};
    store->add_grade(g);
  }

  Fixture() {
    RunInfo r;
    r.name = "r1";
    r.model = "org/m1";
    r.backend = "replay";
    r.config = {{"chat_template_id", "qwen2-chatml"}};
    run = store->create_or_open_run(r);
    r.name = "r2";
    other = store->create_or_open_run(r);
    std::vector<ProblemRecord> problems;
    for (auto [task, pid, gold] : {std::tuple{"math500", "p1", "42"}, {"math500", "p2", "7"}, {"codeforces", "c1", ""}}) {
      ProblemRecord p;
      p.run_id = run.id;
      p.task = task;
      p.problem_id = pid;
      p.prompt = std::string("Solve ") + pid + ", \"quoted\",\nsecond line <b>";
      p.gold = gold[0] ? nlohmann::json::array({gold}) : nlohmann::json::array();
      p.grading = {{"tests", nlohmann::json::array({{{"input", "1"}, {"output", "2"}}})}};
      p.metadata = {{"level", 3}, {"subject", "Algebra"}};
      problems.push_back(p);
    }
    store->put_problems(problems);
    sample(run, "math500", "p1", 0, "Think.\nSo \\boxed{42}, \"done\"", "stop");
    grade(run, "math500", "p1", 0, Verdict::correct, "42");
    sample(run, "math500", "p1", 1, long_text(), "length");
    grade(run, "math500", "p1", 1, Verdict::wrong, "7");
    sample(run, "math500", "p1", 2, "", "error", "connection reset");
    sample(run, "math500", "p2", 0, "x", "stop");  // ungraded
    sample(run, "math500", "p2", 1, "y", "stop");
    grade(run, "math500", "p2", 1, Verdict::infra_error, std::nullopt);
    sample(run, "codeforces", "c1", 0, "int main(){}\xff\xfe", "stop");
    grade(run, "codeforces", "c1", 0, Verdict::compile_error, "int main(){}", "code");
    sample(other, "math500", "p1", 0, "other run", "stop");
    grade(other, "math500", "p1", 0, Verdict::wrong, "1");
    store->flush();
  }

  std::vector<SampleDetail> query(const SampleQuery& q, std::int64_t id = 0) {
    std::vector<SampleDetail> out;
    store->for_each_sample(id ? id : run.id, q, [&](const SampleDetail& d) { out.push_back(d); });
    return out;
  }
  std::string keys(const std::vector<SampleDetail>& v) {
    std::string out;
    for (const auto& d : v)
      out += d.sample.key.task + "/" + d.sample.key.problem_id + "#" + std::to_string(d.sample.key.sample_index) + " ";
    return out;
  }
};

}  // namespace

TEST(SampleQueryTest, FiltersOrderAndProblemJoin) {
  Fixture f;
  auto all = f.query({});
  EXPECT_EQ(f.keys(all), "codeforces/c1#0 math500/p1#0 math500/p1#1 math500/p1#2 math500/p2#0 math500/p2#1 ");
  EXPECT_EQ(f.keys(f.query(Q().task("math500").problem_id("p1"))), "math500/p1#0 math500/p1#1 math500/p1#2 ");
  EXPECT_EQ(f.keys(f.query(Q().task("math500").problem_id("p1").sample_index(1))), "math500/p1#1 ");
  EXPECT_EQ(f.keys(f.query(Q().statuses({"wrong"}))), "math500/p1#1 ");
  // infra_error: a failed generation (no grade) and an infra_error grade.
  EXPECT_EQ(f.keys(f.query(Q().statuses({"infra_error"}))), "math500/p1#2 math500/p2#1 ");
  EXPECT_EQ(f.keys(f.query(Q().statuses({"ungraded"}))), "math500/p2#0 ");
  EXPECT_EQ(f.keys(f.query(Q().statuses({"correct", "compile_error"}))), "codeforces/c1#0 math500/p1#0 ");
  EXPECT_EQ(f.keys(f.query(Q().truncated_only(true))), "math500/p1#1 ");
  EXPECT_EQ(f.keys(f.query({}, f.other.id)), "math500/p1#0 ");
  EXPECT_THROW(f.query(Q().statuses({"worng"})), Error);

  const auto& d = all[1];  // math500/p1#0
  ASSERT_TRUE(d.has_problem);
  EXPECT_EQ(d.prompt, "Solve p1, \"quoted\",\nsecond line <b>");
  EXPECT_EQ(nlohmann::json::parse(d.gold_json), nlohmann::json::array({"42"}));
  EXPECT_EQ(nlohmann::json::parse(d.metadata_json)["subject"], "Algebra");
  ASSERT_TRUE(d.grade.has_value());
  EXPECT_EQ(d.grade->grader, "math");
  EXPECT_EQ(d.grade->result.extracted, std::optional<std::string>("42"));
  EXPECT_EQ(nlohmann::json::parse(d.grade_details_json)["method"], "boxed");
  EXPECT_EQ(d.sample.completion_tokens, 100);
  EXPECT_EQ(d.sample.seed, 99u);
  EXPECT_FALSE(d.completion_cut);
  EXPECT_EQ(d.completion_chars, 28);

  auto plain = f.query(Q().task("math500").problem_id("p1").sample_index(0).with_problem(false));
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_FALSE(plain[0].has_problem);
  EXPECT_EQ(plain[0].prompt, "");

  // problem_texts: no grading fields (test sets), the rest intact.
  auto texts = f.store->problem_texts(f.run.id, "codeforces");
  ASSERT_EQ(texts.size(), 1u);
  EXPECT_TRUE(texts[0].grading.empty());
  EXPECT_EQ(texts[0].metadata["level"], 3);
}

TEST(SampleQueryTest, CompletionsAreCutByCharactersNotBytes) {
  Fixture f;
  auto cut = f.query(Q().task("math500").problem_id("p1").sample_index(1).head_chars(10).tail_chars(20));
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_TRUE(cut[0].completion_cut);
  EXPECT_EQ(cut[0].completion_chars, 103);
  EXPECT_EQ(cut[0].sample.completion, long_text().substr(0, 20));  // 10 x U+00E9
  EXPECT_TRUE(is_valid_utf8(cut[0].sample.completion));
  EXPECT_TRUE(is_valid_utf8(cut[0].completion_tail));
  EXPECT_EQ(cut[0].completion_tail, long_text().substr(long_text().size() - 37));  // 17 x U+00E9 + "END"
  // Short enough: whole, not cut. Head only (tail 0).
  auto whole = f.query(Q().task("math500").problem_id("p1").sample_index(1).head_chars(100).tail_chars(3));
  EXPECT_FALSE(whole[0].completion_cut);
  EXPECT_EQ(whole[0].sample.completion, long_text());
  auto head = f.query(Q().task("math500").problem_id("p1").sample_index(1).head_chars(5).tail_chars(0));
  EXPECT_TRUE(head[0].completion_cut);
  EXPECT_EQ(head[0].sample.completion, long_text().substr(0, 10));
  EXPECT_EQ(head[0].completion_tail, "");
}

// The SQLite query and the store's generic implementation (samples() + grades() + problem_texts()) agree.
TEST(SampleQueryTest, SqliteQueryMatchesGenericImplementation) {
  Fixture f;
  std::vector<SampleQuery> queries = {{},
                                      Q().task("math500"),
                                      Q().problem_id("p1"),
                                      Q().statuses({"infra_error", "ungraded"}),
                                      Q().truncated_only(true),
                                      Q().head_chars(4).tail_chars(6),
                                      Q().task("math500").sample_index(0).with_problem(false),
                                      // Each set of filters is its own cached statement: combinations, and shapes
                                      // met again after others.
                                      Q().sample_index(1),
                                      Q().task("math500").problem_id("p1").statuses({"wrong"}).truncated_only(true),
                                      Q().task("math500").problem_id("p1").sample_index(2),
                                      Q().task("math500").problem_id("p2").sample_index(0).with_problem(false),
                                      Q().task("math500")};
  for (const auto& q : queries) {
    std::vector<SampleDetail> fast = f.query(q), generic;
    f.store->SampleStore::for_each_sample(f.run.id, q, [&](const SampleDetail& d) { generic.push_back(d); });
    ASSERT_EQ(f.keys(fast), f.keys(generic));
    for (size_t i = 0; i < fast.size(); ++i) {
      const auto &a = fast[i], &b = generic[i];
      SCOPED_TRACE(f.keys({a}));
      EXPECT_EQ(a.sample.completion, b.sample.completion);
      EXPECT_EQ(a.completion_tail, b.completion_tail);
      EXPECT_EQ(a.completion_chars, b.completion_chars);
      EXPECT_EQ(a.completion_cut, b.completion_cut);
      EXPECT_EQ(a.sample.finish_reason, b.sample.finish_reason);
      EXPECT_EQ(a.sample.error, b.sample.error);
      EXPECT_EQ(a.has_problem, b.has_problem);
      EXPECT_EQ(a.prompt, b.prompt);
      EXPECT_EQ(nlohmann::json::parse(a.gold_json), nlohmann::json::parse(b.gold_json));
      EXPECT_EQ(nlohmann::json::parse(a.metadata_json), nlohmann::json::parse(b.metadata_json));
      EXPECT_EQ(nlohmann::json::parse(a.grade_details_json), nlohmann::json::parse(b.grade_details_json));
      ASSERT_EQ(a.grade.has_value(), b.grade.has_value());
      if (a.grade) {
        EXPECT_EQ(a.grade->result.verdict, b.grade->result.verdict);
        EXPECT_EQ(a.grade->result.extracted, b.grade->result.extracted);
        EXPECT_EQ(a.grade->grader, b.grade->grader);
      }
    }
  }
}

TEST(SampleExport, JsonlRowsParseWithEveryColumn) {
  Fixture f;
  std::ostringstream out;
  SampleExportOptions o;
  o.runs = {"r1", std::to_string(f.other.id)};
  auto stats = export_samples(*f.store, o, out);
  EXPECT_EQ(stats.rows, 7);
  EXPECT_EQ(stats.bytes, static_cast<std::int64_t>(out.str().size()));
  std::istringstream in(out.str());
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));  // throws on invalid JSON or UTF-8
  ASSERT_EQ(rows.size(), 7u);
  for (const auto& r : rows) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : r.items()) keys.push_back(k);
    auto cols = sample_export_columns();
    std::sort(cols.begin(), cols.end());
    EXPECT_EQ(keys, cols);
  }
  const auto& cf = rows[0];
  EXPECT_EQ(cf["task"], "codeforces");
  EXPECT_EQ(cf["verdict"], "compile_error");
  EXPECT_EQ(cf["completion"], "int main(){}\xef\xbf\xbd\xef\xbf\xbd") << "invalid UTF-8 -> U+FFFD";
  EXPECT_EQ(cf["grader"], "code");
  const auto& ok = rows[1];
  EXPECT_EQ(ok["run"], "r1");
  EXPECT_EQ(ok["correct"], true);
  EXPECT_EQ(ok["extracted"], "42");
  EXPECT_EQ(ok["gold"], nlohmann::json::array({"42"}));
  EXPECT_EQ(ok["metadata"]["level"], 3);
  EXPECT_EQ(ok["grade_details"]["note"], "<tag> & more");
  EXPECT_EQ(ok["prompt"], "Solve p1, \"quoted\",\nsecond line <b>");
  EXPECT_EQ(ok["completion"], "Think.\nSo \\boxed{42}, \"done\"");
  EXPECT_EQ(ok["prompt_tokens"], 12);
  EXPECT_EQ(rows[2]["truncated"], true);
  EXPECT_EQ(rows[3]["verdict"], "infra_error");
  EXPECT_EQ(rows[3]["error"], "connection reset");
  EXPECT_TRUE(rows[3]["completion_tokens"].is_null());
  EXPECT_TRUE(rows[3]["grader"].is_null());
  EXPECT_EQ(rows[4]["verdict"], "ungraded");
  EXPECT_TRUE(rows[4]["extracted"].is_null());
  EXPECT_EQ(rows[6]["run"], "r2");
  EXPECT_EQ(out.str().find("\\u003c"), std::string::npos) << "exports keep '<' readable";

  // Filters apply; --no-prompt gives null prompts.
  std::ostringstream wrong;
  o.runs = {"r1"};
  o.query.statuses = {"wrong"};
  o.prompts = false;
  EXPECT_EQ(export_samples(*f.store, o, wrong).rows, 1);
  EXPECT_TRUE(nlohmann::json::parse(wrong.str())["prompt"].is_null());
}

TEST(SampleExport, CsvRoundTripsQuotesAndNewlines) {
  Fixture f;
  std::ostringstream out;
  SampleExportOptions o;
  o.runs = {"r1"};
  o.format = SampleFormat::csv;
  EXPECT_EQ(export_samples(*f.store, o, out).rows, 6);
  auto rows = parse_csv(out.str());
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[0], sample_export_columns());
  auto col = [&](const std::string& name) {
    return static_cast<size_t>(std::find(rows[0].begin(), rows[0].end(), name) - rows[0].begin());
  };
  for (const auto& r : rows) EXPECT_EQ(r.size(), rows[0].size());
  EXPECT_EQ(rows[2][col("completion")], "Think.\nSo \\boxed{42}, \"done\"");
  EXPECT_EQ(rows[2][col("prompt")], "Solve p1, \"quoted\",\nsecond line <b>");
  EXPECT_EQ(nlohmann::json::parse(rows[2][col("gold")]), nlohmann::json::array({"42"}));
  EXPECT_EQ(rows[2][col("correct")], "true");
  EXPECT_EQ(rows[4][col("completion_tokens")], "");  // unknown -> empty
  EXPECT_EQ(rows[4][col("verdict")], "infra_error");
  EXPECT_TRUE(is_valid_utf8(out.str()));
}

TEST(SampleExport, TextShowsEachPromptOnceAndCutsOnRequest) {
  Fixture f;
  std::ostringstream out;
  SampleExportOptions o;
  o.runs = {"r1"};
  o.format = SampleFormat::text;
  o.query.task = "math500";
  o.max_chars = 12;
  export_samples(*f.store, o, out);
  std::string s = out.str();
  EXPECT_NE(s.find("chat template qwen2-chatml"), std::string::npos);
  size_t first = s.find("Solve p1"), second = s.find("Solve p1", first + 1);
  EXPECT_NE(first, std::string::npos);
  EXPECT_EQ(second, std::string::npos) << "the prompt is printed once per problem";
  EXPECT_NE(s.find("Solve p2"), std::string::npos);
  EXPECT_NE(s.find("| correct | extracted \"42\""), std::string::npos);
  EXPECT_NE(s.find("generation error: connection reset"), std::string::npos);
  EXPECT_NE(s.find("[... 91 of 103 characters left out ...]"), std::string::npos) << s;

  std::ostringstream none;
  o.query.problem_id = "nope";
  export_samples(*f.store, o, none);
  EXPECT_NE(none.str().find("no samples match"), std::string::npos);
}

TEST(SampleExport, BadArgumentsAreClearErrors) {
  Fixture f;
  std::ostringstream out;
  SampleExportOptions o;
  o.runs = {"nope"};
  try {
    export_samples(*f.store, o, out);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("r1 (1)"), std::string::npos) << e.what();
  }
  o.runs = {"r1"};
  o.query.statuses = {"passed"};
  try {
    export_samples(*f.store, o, out);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown verdict 'passed'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sample_format_from_string("xml"), Error);
  o.runs.clear();
  o.query.statuses.clear();
  EXPECT_THROW(export_samples(*f.store, o, out), Error);
}

TEST(SampleExport, JsonStringEscaping) {
  std::string s;
  const std::string in = std::string("a\"b\\c\n\t") + '\x01' + "</script>&";
  append_json_string(s, in);
  EXPECT_EQ(s, "\"a\\\"b\\\\c\\n\\t\\u0001</script>&\"");
  EXPECT_EQ(nlohmann::json::parse(s), in);
  std::string h;
  append_json_string(h, "</script>&", true);
  EXPECT_EQ(h, "\"\\u003c/script\\u003e\\u0026\"");
  EXPECT_EQ(nlohmann::json::parse(h), "</script>&");
}
