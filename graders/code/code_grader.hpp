// The `code` grader: extracts a program from a model response and judges it in the sandbox (LiveCodeBench stdin and
// functional problems, HumanEval, Codeforces-style checkers).
//
// GradeRequest.fields contract (see also make_code_grader in graders/grader.hpp):
//   mode: "stdio" | "functional" | "humaneval"   (default: humaneval if test/entry_point, functional if fn_name,
//                                                  else stdio)
//   language: "python" | "cpp"  picks among fenced blocks and covers untagged code; a block whose tag names a
//                               known language runs as that language (default python)
//   tests: [{"input": str, "output": str}] (stdio, functional: a non-empty list), fn_name (functional: a string),
//   starter_code, time_limit (s, > 0, default 6), memory_limit (MB, > 0, default 1024), output_limit (bytes)
//   checker: "exact" | "tokens" (default) | "lcb" | "float" | {"kind":"float","abs":1e-6,"rel":1e-6}
//            | {"kind":"custom","language":"cpp"|"python","source":"..."}   (testlib-style: argv[1..3] = input,
//              contestant output, answer files; exit 0 accepted, 3 checker failure, anything else wrong)
//   stop_at_first_failure: true (default); prompt/test/entry_point for humaneval (test and entry_point required).
// A field that is missing, of the wrong type or out of range (an unknown mode, language or checker, an integer
// fn_name, a string time_limit, empty or non-list tests, memory_limit 0, a custom checker that does not compile, a
// missing entry_point, a functional test that isn't JSON) makes grade() throw reval::Error naming the field: the
// input is wrong, which is neither a verdict nor an infrastructure failure (`reval grade` reports the line, exit 2).
// Verdicts: correct, wrong, no_answer (no code), compile_error, runtime_error, time_limit, memory_limit,
// output_limit; a sandbox or judge failure is infra_error (only the judge's side can cause one). details: mode,
// language, code_source, per-test verdicts, passed/total, compiler message, and "limits" (cgroup-v2 | cgroup-v1 |
// rlimit: how the sandbox held the limits). Call-based problems (functional, humaneval) run the candidate and a
// judge in two linked sandbox runs: see code_grader.cpp and docs/sandbox.md.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/reasoning.hpp"
#include "graders/grader.hpp"
#include "sandbox/sandbox.hpp"

namespace reval::code {

struct ExtractedCode {
  std::string code;
  std::string language_tag;  // the fence's tag (lower-case), empty for bare code or an untagged fence
  std::string source;        // "fence" | "fence_unterminated" | "bare"
  int fence_count = 0;
};

// The program in `response`: the answer part by strip_reasoning() (base/reasoning.hpp: text after the last
// </think>; an unclosed <think>, or an output cut off by the length limit before any </think>, has no answer), then
// the last fenced block whose tag names `language` (when given and any tag matches), else the last fenced block,
// else the bare text. Empty/whitespace-only code -> nullopt; `why` gets the reason.
std::optional<ExtractedCode> extract_code(std::string_view response, std::string_view language = {},
                                          std::string* why = nullptr, FinishReason finish = FinishReason::stop);

// Output checkers (pure functions, no sandbox). Each returns true when `output` is accepted for `answer`;
// `message` says where they first differ.
bool check_exact(std::string_view output, std::string_view answer, std::string* message = nullptr);
bool check_tokens(std::string_view output, std::string_view answer, std::string* message = nullptr);
bool check_float(std::string_view output, std::string_view answer, double abs_tol, double rel_tol,
                 std::string* message = nullptr);
bool check_lcb(std::string_view output, std::string_view answer, std::string* message = nullptr);
// Decimal equality as Python's Decimal compares ("1.0" == "1", "1e2" == "100"); false if either isn't a number.
bool decimal_equal(std::string_view a, std::string_view b);

// The factory with an injected sandbox (tests use a fake). `options`: python, cxx, cache_dir, and sandbox policy
// keys under "policy" (ignored when a sandbox is given).
std::unique_ptr<Grader> make_code_grader(std::shared_ptr<sandbox::Sandbox> sandbox, const nlohmann::json& options);

}  // namespace reval::code
