// LiveCodeBench and Codeforces fixtures (tests/tasks/data, written in the official formats), MMLU-Pro's JSONL
// export, filters, golden prompt renders, the grading-field contract, and broken files failing loudly with file,
// line and field named.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <zip.h>
#include <zlib.h>

#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "tasks/task.hpp"
#include "tests/test_util.hpp"

using namespace reval;
namespace fs = std::filesystem;

namespace {

LoadOptions fixture_options(nlohmann::json filters = nlohmann::json::object()) {
  LoadOptions o;
  o.data_dir = REVAL_TASKS_FIXTURES;
  o.filters = std::move(filters);
  return o;
}

std::map<std::string, Problem> by_id(std::vector<Problem> ps) {
  std::map<std::string, Problem> m;
  for (auto& p : ps) m.emplace(p.id, std::move(p));
  return m;
}

// Expects load_task to throw an Error whose message contains every fragment.
void expect_load_error(const std::string& task, const LoadOptions& o, const std::vector<std::string>& fragments) {
  try {
    auto ps = load_task(task, o);
    ADD_FAILURE() << task << ": expected an error, loaded " << ps.size() << " problems";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string fixture_line(const std::string& rel, int line) {
  std::ifstream in(std::string(REVAL_TASKS_FIXTURES) + "/" + rel);
  std::string s;
  for (int k = 0; k < line && std::getline(in, s);) ++k;
  return s;
}

}  // namespace

TEST(LiveCodeBench, LoadsAllFixturesWithDecodedPrivateTests) {
  auto ps = load_task("livecodebench", fixture_options());
  ASSERT_EQ(ps.size(), 14u);  // test.jsonl (12) + test2.jsonl (2), every release present
  auto m = by_id(std::move(ps));
  // public + private test counts, private ones decoded from plain JSON or base64/zlib/pickle (protocols 3-5).
  const std::map<std::string, size_t> counts = {{"abc900_a", 3}, {"abc901_b", 4}, {"3301", 3}, {"3302", 3},
                                                {"2013A", 4},    {"abc905_d", 3}, {"3310", 4}, {"abc908_c", 3},
                                                {"3320", 4},     {"2060B", 3},    {"abc915_b", 2}, {"3290", 2},
                                                {"abc920_a", 2}, {"3350", 3}};
  for (const auto& [id, n] : counts) {
    ASSERT_TRUE(m.count(id)) << id;
    EXPECT_EQ(m[id].grading["tests"].size(), n) << id;
    EXPECT_EQ(m[id].grading["language"], "python");
    EXPECT_EQ(m[id].grading["time_limit"], 6.0);
    EXPECT_TRUE(m[id].grading["memory_limit"].is_number());
    EXPECT_TRUE(m[id].gold.empty());
  }
  EXPECT_EQ(m["abc901_b"].metadata["private_tests_compressed"], true);
  EXPECT_EQ(m["abc900_a"].metadata["private_tests_compressed"], false);
  // The large private test (pickled outside the protocol-4 frame) arrives intact.
  const auto& big = m["2013A"].grading["tests"][2];
  EXPECT_EQ(big["input"].get<std::string>().size(), 6 + 39999u + 1);
  EXPECT_EQ(big["output"], "EVEN\n");
  EXPECT_EQ(m["2013A"].grading["tests"][3]["output"], "ODD\n");
}

TEST(LiveCodeBench, GradingContractStdinAndFunctional) {
  auto m = by_id(load_task("livecodebench", fixture_options()));
  const Problem& s = m["abc901_b"];
  EXPECT_EQ(s.grading["mode"], "stdio");
  EXPECT_FALSE(s.grading.contains("fn_name"));
  EXPECT_EQ(s.grading["tests"][0], (nlohmann::json{{"input", "a b c\n"}, {"output", "c b a\n"}}));
  EXPECT_EQ(s.grading["checker"], "lcb");
  EXPECT_EQ(s.metadata["platform"], "atcoder");
  EXPECT_EQ(s.metadata["contest_date"], "2024-08-03T00:00:00");
  const Problem& f = m["3301"];
  EXPECT_EQ(f.grading["mode"], "functional");
  EXPECT_EQ(f.grading["fn_name"], "countPairs");
  EXPECT_EQ(f.grading["starter_code"],
            "class Solution:\n    def countPairs(self, nums: List[int], target: int) -> int:\n        ");
  // LCB's own strings: newline-separated JSON arguments, JSON result.
  EXPECT_EQ(f.grading["tests"][0], (nlohmann::json{{"input", "[1, 2, 3, 4]\n5"}, {"output", "2"}}));
}

TEST(LiveCodeBench, GoldenPrompts) {
  auto m = by_id(load_task("livecodebench", fixture_options()));
  EXPECT_EQ(m["abc908_c"].prompt,
            "### Question:\nUsing coins of 1, 5 and 10 yen, print the minimum number of coins that sum to N.\n\n"
            "### Format: Read the inputs from stdin solve the problem and write the answer to stdout (do not directly "
            "test on the sample inputs). Enclose your code within delimiters as follows. Ensure that when the python "
            "program runs, it reads the inputs, runs the algorithm and writes output to STDOUT.\n"
            "```python\n# YOUR CODE HERE\n```\n\n### Answer: (use the provided format with backticks)\n\n");
  EXPECT_EQ(m["3310"].prompt,
            "### Question:\nReturn the number of vowels (a, e, i, o, u) in the string s.\n\n"
            "### Format: You will use the following starter code to write the solution to the problem and enclose "
            "your code within delimiters.\n"
            "```python\nclass Solution:\n    def countVowels(self, s: str) -> int:\n        \n```\n\n"
            "### Answer: (use the provided format with backticks)\n\n");
}

TEST(LiveCodeBench, DateWindowAndReleaseFilters) {
  // The R1 window, inclusive at both ends (2025-01-31T00:00:00 is in, 2024-07-31 and 2025-02-08 are out).
  auto win = by_id(load_task("livecodebench", fixture_options({{"date_from", "2024-08-01"}, {"date_to", "2025-01-31"}})));
  EXPECT_EQ(win.size(), 10u);
  EXPECT_TRUE(win.count("2060B"));
  EXPECT_TRUE(win.count("abc901_b"));
  EXPECT_TRUE(win.count("3350"));  // from test2.jsonl
  EXPECT_FALSE(win.count("3290"));
  EXPECT_FALSE(win.count("abc915_b"));
  EXPECT_FALSE(win.count("abc900_a"));
  EXPECT_FALSE(win.count("abc920_a"));

  EXPECT_EQ(load_task("livecodebench", fixture_options({{"release", "release_v1"}})).size(), 12u);
  EXPECT_EQ(load_task("livecodebench", fixture_options({{"release", "release_v2"}})).size(), 14u);
  EXPECT_EQ(load_task("livecodebench", fixture_options({{"release", "v2"}})).size(), 2u);
  EXPECT_EQ(load_task("livecodebench", fixture_options({{"release", "release_v1"}, {"date_from", "2024-08-01"},
                                                        {"date_to", "2025-01-31"}})).size(), 9u);
  EXPECT_EQ(load_task("livecodebench", fixture_options({{"platform", "leetcode"}})).size(), 6u);
  // A release whose files are missing, a bad release name, a bad date, an unknown filter: errors, not silence.
  expect_load_error("livecodebench", fixture_options({{"release", "release_v3"}}), {"test3.jsonl", "missing"});
  expect_load_error("livecodebench", fixture_options({{"release", "v7x"}}), {"release"});
  expect_load_error("livecodebench", fixture_options({{"date_from", "2024/08/01"}}), {"YYYY-MM-DD"});
  expect_load_error("livecodebench", fixture_options({{"date_form", "2024-08-01"}}), {"unknown filter 'date_form'"});
}

TEST(LiveCodeBench, StatusCountsRowsCheaply) {
  LoadOptions o = fixture_options();
  for (const auto& s : task_statuses(o)) {
    if (s.info.name == "livecodebench") {
      EXPECT_TRUE(s.available);
      EXPECT_EQ(s.problems, 14u);
      EXPECT_FALSE(s.note.empty());
    }
    if (s.info.name == "codeforces") {
      EXPECT_EQ(s.problems, 12u);
    }
    if (s.info.name == "mmlu_pro") {
      EXPECT_EQ(s.problems, 4u);
    }
    if (s.info.name == "math500") {
      EXPECT_FALSE(s.available);
    }
  }
}

TEST(LiveCodeBench, BrokenRowsFailTheLoad) {
  test::TempDir dir;
  LoadOptions o;
  o.data_dir = dir.path();
  std::string file = dir.file("livecodebench/test.jsonl");
  std::string good = fixture_line("livecodebench/test.jsonl", 1);
  auto row = nlohmann::json::parse(fixture_line("livecodebench/test.jsonl", 2));

  auto bad = row;
  bad["private_test_cases"] = "eJzLSM3JyVfIQJAAOi4GfQ==";  // zlib of bytes that are not a pickle
  write(file, good + "\n" + bad.dump() + "\n");
  expect_load_error("livecodebench", o, {file + ":2", "private_test_cases", "pickle"});

  bad = row;
  bad["private_test_cases"] = "!!notbase64!!";
  write(file, good + "\n" + bad.dump() + "\n");
  expect_load_error("livecodebench", o, {file + ":2", "private_test_cases", "base64"});

  bad = row;
  bad["public_test_cases"] = "[{\"input\": \"1\", \"output\": \"2\", \"testtype\": \"weird\"}]";
  write(file, bad.dump() + "\n" + good + "\n");
  expect_load_error("livecodebench", o, {file + ":1", "public_test_cases[0].testtype"});

  bad = row;
  bad.erase("contest_date");
  write(file, good + "\n" + bad.dump() + "\n");
  expect_load_error("livecodebench", o, {file + ":2", "contest_date", "missing"});

  auto fn = nlohmann::json::parse(fixture_line("livecodebench/test.jsonl", 3));
  fn["metadata"] = "{}";
  write(file, fn.dump() + "\n");
  expect_load_error("livecodebench", o, {file + ":1", "metadata", "func_name"});

  write(file, good + "\n{\"question_id\": \n");
  expect_load_error("livecodebench", o, {file + ":2", "invalid JSON"});

  write(file, good + "\n" + good + "\n");
  expect_load_error("livecodebench", o, {file + ":2", "duplicate"});
}

TEST(Codeforces, LoadsPackages) {
  auto ps = load_task("codeforces", fixture_options());
  ASSERT_EQ(ps.size(), 12u);
  EXPECT_EQ(ps[0].id, "2050A");
  auto m = by_id(std::move(ps));
  const Problem& a = m["2050A"];
  EXPECT_EQ(a.grading["mode"], "stdio");
  EXPECT_EQ(a.grading["language"], "cpp");
  EXPECT_EQ(a.grading["time_limit"], 1);
  EXPECT_EQ(a.grading["memory_limit"], 256);
  EXPECT_EQ(a.grading["checker"], "tokens");  // the default
  EXPECT_EQ(a.grading["tests"].size(), 3u);   // the sample is also test 1, so it is not repeated
  EXPECT_EQ(a.metadata["rating"], 800);
  EXPECT_EQ(a.metadata["points"], 500);
  EXPECT_EQ(a.metadata["tags"], nlohmann::json{"math"});
  EXPECT_EQ(m["2050B"].grading["checker"], "exact");
  EXPECT_EQ(m["2050B"].grading["tests"].size(), 3u);  // sample prepended to the two tests
  EXPECT_EQ(m["2051C"].grading["checker"], (nlohmann::json{{"kind", "float"}, {"abs", 1e-6}, {"rel", 1e-6}}));
  EXPECT_EQ(m["2054F"].grading["checker"]["abs"], 1e-4);
  EXPECT_EQ(m["2051D"].grading["checker"]["kind"], "custom");
  EXPECT_EQ(m["2051D"].grading["checker"]["language"], "cpp");
  EXPECT_NE(m["2051D"].grading["checker"]["source"].get<std::string>().find("int main"), std::string::npos);
  EXPECT_EQ(m["2052B"].grading["memory_limit"], 512);

  auto hard = load_task("codeforces", fixture_options({{"rating_min", 2000}}));
  EXPECT_EQ(hard.size(), 3u);
}

TEST(Codeforces, GoldenPrompt) {
  auto m = by_id(load_task("codeforces", fixture_options()));
  EXPECT_EQ(m["2051D"].prompt,
            "# 2051D. Non-adjacent Permutation\n\n"
            "Print a permutation of $1..n$ in which no two neighbours differ by exactly 1, or -1 if there is none.\n\n"
            "## Input\n\nA single integer $n$ ($1 \\le n \\le 10^5$).\n\n"
            "## Output\n\nAny valid permutation, or -1.\n\n"
            "## Examples\n\nInput:\n```\n5\n```\nOutput:\n```\n2 4 1 3 5\n```\n\n"
            "## Note\n\nAny valid answer is accepted. For $n = 2$ and $n = 3$ no permutation exists.\n\n"
            "Write a C++17 program that solves this problem. It must read the input from standard input and write the "
            "answer to standard output. Time limit per test: 1 s. Memory limit: 256 MB. Think step by step, then put "
            "your complete solution in a single ```cpp code block.");
  EXPECT_NE(m["2052B"].prompt.find("Time limit per test: 2 s. Memory limit: 512 MB."), std::string::npos);
}

TEST(Codeforces, BrokenPackagesFail) {
  test::TempDir dir;
  LoadOptions o;
  o.data_dir = dir.path();
  auto pkg = nlohmann::json::parse(reval::read_file(std::string(REVAL_TASKS_FIXTURES) + "/codeforces/2050A.json"));
  std::string file = dir.file("codeforces/x.json");

  auto bad = pkg;
  bad["checker"] = {{"kind", "fuzzy"}};
  write(file, bad.dump());
  expect_load_error("codeforces", o, {file, "checker.kind", "fuzzy"});

  bad = pkg;
  bad.erase("time_limit");
  write(file, bad.dump());
  expect_load_error("codeforces", o, {file, "time_limit"});

  bad = pkg;
  bad["tests"][1].erase("output");
  write(file, bad.dump());
  expect_load_error("codeforces", o, {file, "tests[1]"});

  bad = pkg;
  bad["checker"] = {{"kind", "custom"}, {"language", "cpp"}};
  write(file, bad.dump());
  expect_load_error("codeforces", o, {file, "checker.source"});

  write(file, "{\"contest_id\": 1,");
  expect_load_error("codeforces", o, {file, "invalid JSON"});

  fs::remove_all(dir.file("codeforces"));
  expect_load_error("codeforces", o, {"codeforces", "missing"});
}

TEST(MmluPro, LoadsJsonlExport) {
  auto ps = load_task("mmlu_pro", fixture_options());
  ASSERT_EQ(ps.size(), 4u);
  EXPECT_EQ(ps[0].id, "70");
  EXPECT_EQ(ps[0].gold, std::vector<std::string>{"C"});
  EXPECT_EQ(ps[0].grading["choices"], "ABCDEFGHIJ");
  EXPECT_EQ(ps[0].grading["options"].size(), 10u);
  EXPECT_EQ(ps[0].metadata["category"], "math");
  EXPECT_EQ(ps[1].grading["choices"], "ABCDEFGHI");  // 9 options
  EXPECT_EQ(ps[3].prompt,
            "Answer the following multiple choice question. The last line of your response should be of the following "
            "format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think step by step before "
            "answering.\n\nIn economics, what does GDP stand for?\n\nA) Gross Domestic Product\nB) General Debt "
            "Position\nC) Global Development Plan\nD) Gross Dividend Payout");
  EXPECT_NE(ps[0].prompt.find("where LETTER is one of ABCDEFGHIJ."), std::string::npos);
  EXPECT_TRUE(ps[0].prompt.ends_with("\nI) 77\nJ) 91"));
}

TEST(MmluPro, BrokenRowsFail) {
  test::TempDir dir;
  LoadOptions o;
  o.data_dir = dir.path();
  std::string file = dir.file("mmlu_pro/test.jsonl");
  std::string good = fixture_line("mmlu_pro/test.jsonl", 1);
  auto row = nlohmann::json::parse(good);
  auto bad = row;
  bad["answer_index"] = 3;
  write(file, good + "\n" + bad.dump() + "\n");
  expect_load_error("mmlu_pro", o, {file + ":2", "answer_index"});
  bad = row;
  bad["answer"] = "K";
  write(file, bad.dump() + "\n");
  expect_load_error("mmlu_pro", o, {file + ":1", "answer"});
}

TEST(BrokenData, MathAndChoiceRowsFailWithFileLineField) {
  test::TempDir dir;
  LoadOptions o;
  o.data_dir = dir.path();
  o.accept_data_release = true;  // the hand-written files below are not the official releases
  o.warn = [](const std::string&) {};

  std::string math = dir.file("math500/test.jsonl");
  write(math, "{\"problem\": \"1+1\", \"answer\": \"2\", \"unique_id\": \"a\"}\n{\"problem\": \"2+2\", \"unique_id\": \"b\"}\n");
  expect_load_error("math500", o, {math + ":2", "field 'answer'", "missing"});

  std::string aime = dir.file("aime2024/test.jsonl");
  write(aime, "{\"problem\": \"p\", \"answer\": \"025\", \"url\": \"https://example.com/nothing\"}\n");
  expect_load_error("aime24", o, {aime + ":1", "field 'url'"});
  write(aime, "{\"problem\": \"p\", \"answer\": \"2x\", \"url\": \"x/2024_AIME_I_Problems/Problem_3\"}\n");
  expect_load_error("aime24", o, {aime + ":1", "field 'answer'"});

  std::string gsm = dir.file("gsm8k/test.jsonl");
  write(gsm, "{\"question\": \"q\", \"answer\": \"so 1,234\\n#### 1,234\"}\n{\"question\": \"q\", \"answer\": \"no mark\"}\n");
  expect_load_error("gsm8k", o, {gsm + ":2", "field 'answer'", "####"});
  write(gsm, "{\"question\": \"q\", \"answer\": \"so\\n#### 1,234\"}\n");
  auto g = load_task("gsm8k", o);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].gold, std::vector<std::string>{"1234"});

  // MMLU, original hendrycks layout (no header, letter answers) with quoted newlines and CRLF.
  std::string mmlu = dir.file("mmlu/test/astronomy_test.csv");
  write(mmlu, "\"What is\nthe Sun?\",A star,A planet,A moon,\"A \"\"comet\"\"\",A\r\nSecond?,w,x,y,z,D\r\n");
  auto ms = load_task("mmlu", o);
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0].id, "astronomy/0");
  EXPECT_EQ(ms[0].gold, std::vector<std::string>{"A"});
  EXPECT_EQ(ms[1].gold, std::vector<std::string>{"D"});
  EXPECT_EQ(ms[0].metadata["subject"], "astronomy");
  EXPECT_EQ(ms[0].metadata["category"], "STEM");  // the MMLU paper's category, for `reval report --by category`
  EXPECT_TRUE(ms[0].prompt.ends_with("What is\nthe Sun?\n\nA) A star\nB) A planet\nC) A moon\nD) A \"comet\""));
  write(mmlu, "q1,a,b,c,d,A\nq2,a,b,c,d,E\n");
  expect_load_error("mmlu", o, {mmlu + ":2", "field 'answer'"});
  write(mmlu, "question,choice0,choice1,choice2,choice3,answer\nq1,a,b,c,d,4\n");
  expect_load_error("mmlu", o, {mmlu + ":2", "field 'answer'"});
  write(mmlu, "question,choice0,choice1,choice2,choice3,answer\nq1,a,b,c,3\n");
  expect_load_error("mmlu", o, {mmlu + ":2", "fields"});

  // Missing files are a clear error naming the path.
  expect_load_error("humaneval", o, {"humaneval/HumanEval.jsonl.gz", "missing", "reval data fetch"});
  expect_load_error("gpqa_diamond", o, {"gpqa/gpqa_diamond.zip", "missing"});
}

TEST(BrokenData, KnownReleasesAreCheckedAndEmptyFilesRefused) {
  test::TempDir dir;
  LoadOptions o;
  o.data_dir = dir.path();
  std::vector<std::string> warnings;
  o.warn = [&](const std::string& w) { warnings.push_back(w); };
  // HumanEval cut at a line boundary (a well-formed gzip of the first 100 rows): a different count is an error.
  std::string src = read_file(test::shared_path("data/humaneval/HumanEval.jsonl.gz"));
  std::string first100;
  std::istringstream lines(src);
  std::string line;
  for (int i = 0; i < 100 && std::getline(lines, line); ++i) first100 += line + "\n";
  {
    fs::create_directories(dir.file("humaneval"));
    gzFile f = gzopen(dir.file("humaneval/HumanEval.jsonl.gz").c_str(), "wb");
    gzwrite(f, first100.data(), static_cast<unsigned>(first100.size()));
    gzclose(f);
  }
  expect_load_error("humaneval", o, {"100 problems", "official release has 164", "--accept-data-release"});
  o.accept_data_release = true;
  EXPECT_EQ(load_task("humaneval", o).size(), 100u);
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings.front().find("accepted"), std::string::npos) << warnings.front();
  o.accept_data_release = false;
  // The same file without its gzip trailer is refused as truncated, whatever the flag.
  {
    std::ifstream in(dir.file("humaneval/HumanEval.jsonl.gz"), std::ios::binary);
    std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    write(dir.file("humaneval/HumanEval.jsonl.gz"), gz.substr(0, gz.size() - 8));
  }
  expect_load_error("humaneval", o, {"HumanEval.jsonl.gz", "truncated"});
  // Empty files load nothing: an error, not a run over zero problems.
  write(dir.file("math500/test.jsonl"), "");
  expect_load_error("math500", o, {"math500", "no problems"});
  // One empty MMLU subject file among others is an error naming it, not 100 silently missing problems.
  write(dir.file("mmlu/test/astronomy_test.csv"), "q1,a,b,c,d,A\n");
  write(dir.file("mmlu/test/anatomy_test.csv"), "");
  expect_load_error("mmlu", o, {"anatomy_test.csv", "no rows"});
  // Positive twin: the official files load without a warning.
  LoadOptions real;
  real.data_dir = test::shared_path("data");
  std::vector<std::string> none;
  real.warn = [&](const std::string& w) { none.push_back(w); };
  EXPECT_EQ(load_task("humaneval", real).size(), 164u);
  EXPECT_EQ(load_task("math500", real).size(), 500u);
  EXPECT_TRUE(none.empty()) << none.front();
  // A same-sized file with other bytes: loaded, with a checksum warning.
  std::string m = read_file(test::shared_path("data/math500/test.jsonl"));
  write(dir.file("math500/test.jsonl"), m + "\n");
  warnings.clear();
  EXPECT_EQ(load_task("math500", o).size(), 500u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("sha256"), std::string::npos) << warnings[0];
}

TEST(BrokenData, ZipMemberClaimingGigabytesIsRefusedWithoutAllocating) {
  test::TempDir dir;
  std::string path = dir.file("gpqa/gpqa_diamond.zip");
  fs::create_directories(dir.file("gpqa"));
  {
    int err = 0;
    zip_t* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    ASSERT_NE(za, nullptr);
    static const char text[] = "Question,Correct Answer\n";
    zip_source_t* src = zip_source_buffer(za, text, sizeof text - 1, 0);
    ASSERT_GE(zip_file_add(za, "dataset/gpqa_diamond.csv", src, ZIP_FL_OVERWRITE), 0);
    ASSERT_EQ(zip_close(za), 0);
  }
  // Patch the uncompressed size (central directory entry, offset 24; local header, offset 22) to ~4 GB.
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto patch = [&](std::size_t at) {
    f.seekp(static_cast<std::streamoff>(at));
    const unsigned char four_gb[4] = {0xf0, 0xff, 0xff, 0xff};
    f.write(reinterpret_cast<const char*>(four_gb), 4);
  };
  for (std::size_t i = 0; i + 4 <= bytes.size(); ++i) {
    if (bytes.compare(i, 4, "PK\x01\x02") == 0) patch(i + 24);
    if (bytes.compare(i, 4, "PK\x03\x04") == 0) patch(i + 22);
  }
  f.close();
  ASSERT_LT(fs::file_size(path), 400u);
  LoadOptions o;
  o.data_dir = dir.path();
  expect_load_error("gpqa_diamond", o, {"gpqa_diamond.zip", "claims 4294967280 bytes"});
}
