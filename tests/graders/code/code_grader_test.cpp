// The code grader end to end on the real sandbox: stdio (python, cpp), checkers incl. custom testlib-style ones,
// LiveCodeBench functional problems, HumanEval-style problems, verdict mapping (compile/runtime/TLE/MLE/output),
// and a fake sandbox to show sandbox failures become infra_error.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "base/error.hpp"
#include "graders/code/code_grader.hpp"
#include "graders/grader.hpp"
#include "tests/test_util.hpp"

using reval::GradeRequest;
using reval::GradeResult;
using reval::Verdict;
using nlohmann::json;

namespace {

reval::Grader& grader() {
  static reval::test::TempDir cache;
  static std::unique_ptr<reval::Grader> g = [] {
    return reval::make_code_grader(json{{"workers", 2}, {"cache_dir", cache.path()}});
  }();
  return *g;
}

GradeResult grade(const std::string& response, json fields) {
  GradeRequest r;
  r.response = response;
  r.fields = std::move(fields);
  return grader().grade(r);
}

std::string fence(const std::string& lang, const std::string& code) { return "```" + lang + "\n" + code + "\n```\n"; }

json sum_tests() {
  return json::array({{{"input", "1 2\n"}, {"output", "3\n"}},
                      {{"input", "10 -4\n"}, {"output", "6\n"}},
                      {{"input", "100 200\n"}, {"output", "300\n"}}});
}

}  // namespace

TEST(CodeGrader, StdioPythonCorrectAndWrong) {
  auto ok = grade("<think>easy</think>\n" + fence("python", "a, b = map(int, input().split())\nprint(a + b)"),
                  {{"tests", sum_tests()}});
  EXPECT_EQ(ok.verdict, Verdict::correct) << ok.details.dump(2);
  EXPECT_EQ(ok.score, 1.0);
  EXPECT_EQ(ok.details["mode"], "stdio");
  EXPECT_EQ(ok.details["passed"], 3);
  auto wrong = grade(fence("python", "a, b = map(int, input().split())\nprint(a + b if a < 50 else 0)"),
                     {{"tests", sum_tests()}});
  EXPECT_EQ(wrong.verdict, Verdict::wrong) << wrong.details.dump(2);
  EXPECT_EQ(wrong.details["passed"], 2);
  EXPECT_EQ(wrong.details["tests"].size(), 3u);
  auto all = grade(fence("python", "print(0)"), {{"tests", sum_tests()}, {"stop_at_first_failure", false}});
  EXPECT_EQ(all.verdict, Verdict::wrong);
  EXPECT_EQ(all.details["tests"].size(), 3u);
  auto first = grade(fence("python", "print(0)"), {{"tests", sum_tests()}});
  EXPECT_EQ(first.details["tests"].size(), 1u);  // stopped at the first failure
}

TEST(CodeGrader, StdioCppAndCompileError) {
  std::string src = "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}";
  auto ok = grade(fence("cpp", src), {{"tests", sum_tests()}});
  EXPECT_EQ(ok.verdict, Verdict::correct) << ok.details.dump(2);
  EXPECT_EQ(ok.details["language"], "cpp");
  auto ce = grade(fence("cpp", "int main() { this is not c++; }"), {{"tests", sum_tests()}});
  EXPECT_EQ(ce.verdict, Verdict::compile_error);
  EXPECT_NE(ce.details["compile_message"].get<std::string>().find("error"), std::string::npos);
  // A Codeforces-style problem (language cpp) answered in Python runs as Python; untagged code uses the field.
  auto py_answer = grade(fence("python", "a, b = map(int, input().split())\nprint(a + b)"), {{"tests", sum_tests()}, {"language", "cpp"}});
  EXPECT_EQ(py_answer.verdict, Verdict::correct) << py_answer.details.dump(2);
  EXPECT_EQ(py_answer.details["language_source"], "fence");
  auto untagged = grade(fence("", src), {{"tests", sum_tests()}, {"language", "cpp"}});
  EXPECT_EQ(untagged.verdict, Verdict::correct) << untagged.details.dump(2);
  EXPECT_EQ(untagged.details["language"], "cpp");
  auto py_syntax = grade(fence("python", "def f(:\n  pass"), {{"tests", sum_tests()}});
  EXPECT_EQ(py_syntax.verdict, Verdict::compile_error) << py_syntax.details.dump(2);
  EXPECT_NE(py_syntax.details["compile_message"].get<std::string>().find("SyntaxError"), std::string::npos);
  auto late_error = grade(fence("python", "exec('def f(:')"), {{"tests", sum_tests()}});
  EXPECT_EQ(late_error.verdict, Verdict::runtime_error);  // raised while running: a runtime error
}

TEST(CodeGrader, LimitsMapToVerdicts) {
  json t = {{"tests", json::array({{{"input", ""}, {"output", "1"}}})}, {"time_limit", 1}, {"memory_limit", 256}};
  EXPECT_EQ(grade(fence("python", "while True: pass"), t).verdict, Verdict::time_limit);
  EXPECT_EQ(grade(fence("python", "raise ValueError('boom')"), t).verdict, Verdict::runtime_error);
  json big = t;
  big["output_limit"] = 1000;
  EXPECT_EQ(grade(fence("python", "print('x' * 100000)"), big).verdict, Verdict::output_limit);
  std::string cpp_tle = "int main(){volatile unsigned long x=0; for(;;) x++;}";
  EXPECT_EQ(grade(fence("cpp", cpp_tle), t).verdict, Verdict::time_limit);
  // Touching memory costs CPU time (about 4 CPU-s per GB on slow VMs): a small memory limit and a CPU budget far
  // beyond what faulting 256 MB in costs make memory the limit these programs reach first on any machine.
  json m = t;
  m["time_limit"] = 30;
  EXPECT_EQ(grade(fence("python", "x = bytearray(2 << 30)"), m).verdict, Verdict::memory_limit);
  std::string cpp_mle = "#include <vector>\n#include <cstdio>\nint main(){std::vector<long> v(1L<<30, 1);std::printf(\"%ld\", v[5]);}";
  EXPECT_EQ(grade(fence("cpp", cpp_mle), m).verdict, Verdict::memory_limit);
  // A program that only says it ran out of memory is a runtime error: verdicts come from evidence, not text.
  EXPECT_EQ(grade(fence("python", "import sys\nprint('MemoryError', file=sys.stderr)\nsys.exit(1)"), m).verdict,
            Verdict::runtime_error);
}

TEST(CodeGrader, NoCodeIsNoAnswer) {
  auto r = grade("<think>hmm", {{"tests", sum_tests()}});
  EXPECT_EQ(r.verdict, Verdict::no_answer);
  EXPECT_EQ(r.details["reason"], "unterminated_think");
}

TEST(CodeGrader, CheckerKinds) {
  json tests = json::array({{{"input", ""}, {"output", "0.333333333\n"}}});
  auto fl = grade(fence("python", "print(1/3)"), {{"tests", tests}, {"checker", "float"}});
  EXPECT_EQ(fl.verdict, Verdict::correct) << fl.details.dump(2);
  auto fl_strict = grade(fence("python", "print(0.3334)"), {{"tests", tests}, {"checker", {{"kind", "float"}, {"abs", 1e-6}, {"rel", 1e-6}}}});
  EXPECT_EQ(fl_strict.verdict, Verdict::wrong);
  json lines = json::array({{{"input", ""}, {"output", "1\n2\n"}}});
  EXPECT_EQ(grade(fence("python", "print(1, 2)"), {{"tests", lines}}).verdict, Verdict::correct);  // tokens
  EXPECT_EQ(grade(fence("python", "print(1, 2)"), {{"tests", lines}, {"checker", "lcb"}}).verdict, Verdict::wrong);
  EXPECT_EQ(grade(fence("python", "print(1, 2)"), {{"tests", lines}, {"checker", "exact"}}).verdict, Verdict::wrong);
}

TEST(CodeGrader, CustomCheckers) {
  // Any pair summing to the input is accepted.
  std::string cpp_checker = R"(#include <fstream>
int main(int argc, char** argv) {
  std::ifstream in(argv[1]), out(argv[2]), ans(argv[3]);
  long n, a, b; in >> n;
  if (!(out >> a >> b)) return 1;
  return a + b == n ? 0 : 1;
})";
  std::string py_checker = "import sys\nn = int(open(sys.argv[1]).read())\na, b = map(int, open(sys.argv[2]).read().split())\nsys.exit(0 if a + b == n else 1)\n";
  json tests = json::array({{{"input", "10\n"}, {"output", "5 5\n"}}, {{"input", "7\n"}, {"output", "3 4\n"}}});
  for (auto [lang, src] : {std::pair{"cpp", cpp_checker}, std::pair{"python", py_checker}}) {
    json f = {{"tests", tests}, {"checker", {{"kind", "custom"}, {"language", lang}, {"source", src}}}};
    auto ok = grade(fence("python", "n = int(input())\nprint(1, n - 1)"), f);
    EXPECT_EQ(ok.verdict, Verdict::correct) << lang << ok.details.dump(2);
    auto bad = grade(fence("python", "n = int(input())\nprint(1, n)"), f);
    EXPECT_EQ(bad.verdict, Verdict::wrong) << lang << bad.details.dump(2);
  }
  // A checker that doesn't build is the problem's input error, naming the field (not infra_error, not a verdict).
  for (auto [lang, src] : {std::pair{"cpp", "not c++"}, std::pair{"python", "def check(:\n"}}) {
    json broken = {{"tests", tests}, {"checker", {{"kind", "custom"}, {"language", lang}, {"source", src}}}};
    try {
      grade(fence("python", "print(1)"), broken);
      ADD_FAILURE() << lang << ": a broken checker was accepted";
    } catch (const reval::Error& e) {
      EXPECT_NE(std::string(e.what()).find("field 'checker'"), std::string::npos) << e.what();
    }
  }
}

TEST(CodeGrader, FunctionalLiveCodeBench) {
  json f = {{"fn_name", "twoSum"},
            {"starter_code", "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        "},
            {"tests", json::array({{{"input", "[2,7,11,15]\n9"}, {"output", "[0, 1]"}},
                                   {{"input", "[3,2,4]\n6"}, {"output", "[1, 2]"}}})}};
  std::string good = "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
                     "        seen = defaultdict(int)\n        for i, x in enumerate(nums):\n"
                     "            if target - x in seen:\n                return (seen[target - x], i)\n"
                     "            seen[x] = i\n";
  auto ok = grade(fence("python", good), f);
  EXPECT_EQ(ok.verdict, Verdict::correct) << ok.details.dump(2);
  EXPECT_EQ(ok.details["mode"], "functional");
  auto wrong = grade(fence("python", "class Solution:\n    def twoSum(self, nums, target):\n        print('noise')\n        return [0, 1]\n"), f);
  EXPECT_EQ(wrong.verdict, Verdict::wrong) << wrong.details.dump(2);
  EXPECT_EQ(wrong.details["passed"], 1);
  auto crash = grade(fence("python", "class Solution:\n    def twoSum(self, nums, target):\n        return nums[99]\n"), f);
  EXPECT_EQ(crash.verdict, Verdict::runtime_error) << crash.details.dump(2);
  auto missing = grade(fence("python", "class Solution:\n    def other(self):\n        pass\n"), f);
  EXPECT_EQ(missing.verdict, Verdict::runtime_error);
  auto syntax = grade(fence("python", "class Solution:\n    def twoSum(self,:\n"), f);
  EXPECT_EQ(syntax.verdict, Verdict::compile_error);
  json tle = f;
  tle["time_limit"] = 1;
  auto slow = grade(fence("python", "class Solution:\n    def twoSum(self, nums, target):\n        while True: pass\n"), tle);
  EXPECT_EQ(slow.verdict, Verdict::time_limit) << slow.details.dump(2);
  auto sleepy = grade(fence("python", "import time\nclass Solution:\n    def twoSum(self, nums, target):\n        time.sleep(60)\n"), tle);
  EXPECT_EQ(sleepy.verdict, Verdict::time_limit) << sleepy.details.dump(2);
  auto in_cpp = grade(fence("cpp", "int main() {}"), f);
  EXPECT_EQ(in_cpp.verdict, Verdict::compile_error);  // scored, not infra_error
  auto early_exit = grade(fence("python", "import os\nos._exit(0)\n"), f);
  EXPECT_NE(early_exit.verdict, Verdict::correct);
  json floats = {{"fn_name", "half"}, {"tests", json::array({{{"input", "3"}, {"output", "1.5"}}, {{"input", "4"}, {"output", "2"}}})}};
  EXPECT_EQ(grade(fence("python", "class Solution:\n    def half(self, n):\n        return n / 2\n"), floats).verdict, Verdict::correct);
}

TEST(CodeGrader, HumanEvalStyle) {
  json f = {{"prompt", "from typing import List\n\ndef add(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n"},
            {"entry_point", "add"},
            {"test", "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n"}};
  EXPECT_EQ(grade("    return sum(xs)\n", f).verdict, Verdict::correct);
  auto full = grade(fence("python", "def add(xs: List[int]) -> int:\n    return sum(xs)"), f);
  EXPECT_EQ(full.verdict, Verdict::correct) << full.details.dump(2);
  EXPECT_EQ(full.details["completion_redefines_entry_point"], true);
  EXPECT_EQ(grade("    return 0\n", f).verdict, Verdict::wrong);
  EXPECT_EQ(grade("    return None\n", f).verdict, Verdict::wrong);
  EXPECT_EQ(grade("    return xs[5]\n", f).verdict, Verdict::runtime_error);
  EXPECT_EQ(grade("    return sum(xs\n", f).verdict, Verdict::compile_error);
  EXPECT_EQ(grade("    import sys; sys.exit(0)\n", f).verdict, Verdict::runtime_error);
  EXPECT_EQ(grade("    import os; os._exit(0)\n", f).verdict, Verdict::runtime_error);  // ended before answering
}

namespace {
class FakeSandbox : public reval::sandbox::Sandbox {
 public:
  reval::sandbox::Result run(const reval::sandbox::Request& r) override {
    ++calls;
    reval::sandbox::Result res;
    res.status = reval::sandbox::Status::internal_error;
    res.message = "fake failure";
    return res;
  }
  const reval::sandbox::Policy& policy() const override { return policy_; }
  int calls = 0;
  reval::sandbox::Policy policy_;
};
}  // namespace

TEST(CodeGrader, SandboxFailureIsInfraError) {
  auto fake = std::make_shared<FakeSandbox>();
  auto g = reval::code::make_code_grader(fake, {});
  GradeRequest r;
  r.response = fence("python", "print(3)");
  r.fields = {{"tests", sum_tests()}};
  auto res = g->grade(r);
  EXPECT_EQ(res.verdict, Verdict::infra_error);
  EXPECT_EQ(fake->calls, 1);
  // Call-based problems need linked runs; a sandbox that can't run them is an infrastructure failure too.
  r.fields = {{"prompt", "def f(x):\n    \"\"\"doc\"\"\"\n"}, {"entry_point", "f"}, {"test", "def check(c):\n    assert c(1) == 1\n"}};
  r.response = "    return x\n";
  EXPECT_EQ(g->grade(r).verdict, Verdict::infra_error);
  EXPECT_EQ(fake->calls, 1);  // not run(): run_linked()
  // Bad fields are the input's fault: an error naming the field, before the sandbox is asked anything.
  r.fields = {{"tests", sum_tests()}, {"checker", "bogus"}};
  EXPECT_THROW(g->grade(r), reval::Error);
  EXPECT_EQ(fake->calls, 1);
}

// Code-grader input errors are input errors: each bad field is a reval::Error naming the field, never a verdict.
TEST(CodeGrader, BadFieldsAreInputErrorsNamingTheField) {
  json tests = sum_tests();
  json he = {{"prompt", "def f(x):\n    \"\"\"doc\"\"\"\n"}, {"entry_point", "f"}, {"test", "def check(c):\n    assert c(1) == 1\n"}};
  struct Case {
    const char* field;
    json fields;
  };
  std::vector<Case> cases = {
      {"mode", {{"tests", tests}, {"mode", "interactive"}}},
      {"mode", {{"tests", tests}, {"mode", 3}}},
      {"language", {{"tests", tests}, {"language", "cobol"}}},
      {"checker", {{"tests", tests}, {"checker", "bogus"}}},
      {"checker", {{"tests", tests}, {"checker", {{"kind", "nope"}}}}},
      {"checker", {{"tests", tests}, {"checker", {{"kind", "custom"}}}}},
      {"checker.language", {{"tests", tests}, {"checker", {{"kind", "custom"}, {"language", "cobol"}, {"source", "x"}}}}},
      {"fn_name", {{"tests", tests}, {"fn_name", 7}}},
      {"fn_name", {{"tests", tests}, {"mode", "functional"}}},
      {"time_limit", {{"tests", tests}, {"time_limit", "2"}}},
      {"time_limit", {{"tests", tests}, {"time_limit", -1}}},
      {"memory_limit", {{"tests", tests}, {"memory_limit", 0}}},
      {"memory_limit", {{"tests", tests}, {"memory_limit", "512"}}},
      {"output_limit", {{"tests", tests}, {"output_limit", 0}}},
      {"stop_at_first_failure", {{"tests", tests}, {"stop_at_first_failure", "yes"}}},
      {"tests", json::object()},
      {"tests", {{"tests", json::array()}}},
      {"tests", {{"tests", "1 2"}}},
      {"tests[0]", {{"tests", json::array({"1 2"})}}},
      {"tests[0].output", {{"tests", json::array({{{"input", "1"}}})}}},
      {"tests[0].input", {{"fn_name", "f"}, {"tests", json::array({{{"input", "[1,"}, {"output", "1"}}})}}},
      {"tests[0].output", {{"fn_name", "f"}, {"tests", json::array({{{"input", "1"}, {"output", "{nope"}}})}}},
      {"entry_point", {{"prompt", he["prompt"]}, {"test", he["test"]}}},
      {"entry_point", {{"mode", "humaneval"}, {"test", he["test"]}, {"entry_point", ""}}},
      {"test", {{"mode", "humaneval"}, {"entry_point", "f"}}},
  };
  for (const auto& c : cases) {
    // The response has no code at all: the input is checked before anything is extracted or run.
    for (const char* response : {"no code here", "```python\nprint(3)\n```"}) {
      try {
        auto r = grade(response, c.fields);
        ADD_FAILURE() << c.fields.dump() << ": graded " << reval::to_string(r.verdict) << " instead of an input error";
      } catch (const reval::Error& e) {
        EXPECT_NE(std::string(e.what()).find("field '" + std::string(c.field) + "'"), std::string::npos)
            << c.fields.dump() << " -> " << e.what();
      }
    }
  }
  // Their positive twins grade normally.
  EXPECT_EQ(grade(fence("python", "a, b = map(int, input().split())\nprint(a + b)"),
                  {{"tests", tests}, {"time_limit", 2.5}, {"memory_limit", 512}, {"checker", "exact"}, {"mode", "stdio"},
                   {"language", "python"}, {"fn_name", ""}, {"stop_at_first_failure", false}}).verdict,
            Verdict::correct);
  EXPECT_EQ(grade("    return x\n", he).verdict, Verdict::correct);
}

// Through `reval grade`: a bad field is an error line naming the line and field, the other lines are graded, and
// the command exits 2.
TEST(CodeGraderCli, BadFieldsAreLineErrorsAndExit2) {
  if (!std::filesystem::exists(reval::test::reval_binary())) GTEST_SKIP() << "reval binary not built";
  reval::test::TempDir dir;
  {
    std::ofstream in(dir.file("in.jsonl"));
    json ok = {{"response", fence("python", "a, b = map(int, input().split())\nprint(a + b)")}, {"tests", sum_tests()}};
    json bad = ok;
    bad["memory_limit"] = 0;
    json bad2 = ok;
    bad2["fn_name"] = 3;
    in << ok.dump() << "\n" << bad.dump() << "\n" << bad2.dump() << "\n";
  }
  std::string cmd = reval::test::reval_binary() + " grade --grader code --threads 1 --input " + dir.file("in.jsonl") +
                    " --output " + dir.file("out.jsonl") + " 2> " + dir.file("err.txt");
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 2);
  std::ifstream out(dir.file("out.jsonl"));
  std::vector<json> lines;
  for (std::string l; std::getline(out, l);) lines.push_back(json::parse(l));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["verdict"], "correct");
  EXPECT_EQ(lines[1]["line"], 2);
  EXPECT_NE(lines[1]["error"].get<std::string>().find("in.jsonl:2: field 'memory_limit'"), std::string::npos) << lines[1];
  EXPECT_FALSE(lines[1].contains("verdict"));
  EXPECT_NE(lines[2]["error"].get<std::string>().find("field 'fn_name'"), std::string::npos) << lines[2];
}
