// The `code` grader (see code_grader.hpp for the fields contract).
//
// Theory of operation
//  grade(): validate the fields (a bad field is an input error: reval::Error naming it, never a verdict) -> pick the
//  mode -> extract the code (no code: no_answer) -> pick the language (a known fence tag, else the field, else
//  python; functional/humaneval answers not in Python are compile_error) -> compile once (Runner caches by source
//  hash; failure: compile_error with the compiler's message) -> judge:
//   * stdio: one sandbox run per test with the problem's time/memory limits; the sandbox status maps to a verdict
//     (ok -> checker, runtime_error/denied -> runtime_error, time/memory/output limits, internal_error ->
//     infra_error); outputs are compared here, outside the sandbox; stop at the first failing test unless told
//     otherwise.
//   * functional (LiveCodeBench call-based) and humaneval: two linked sandbox runs (Sandbox::run_linked). The
//     candidate run holds only the solution and scripts/candidate.py, which answers calls (plain JSON-like values,
//     scripts/reval_rpc.py; never pickle). The judge run holds the tests and scripts/judge.py: HumanEval's check()
//     gets a proxy for the entry point; functional tests call fn_name and compare with Python's == as LiveCodeBench
//     does. Every answer is decoded into builtins (an always-true __eq__ can't arrive), expected values never enter
//     the candidate's run, and the verdict is the judge's report on its own stdout. A candidate that stops
//     answering is judged by what its run's sandbox record shows (time/memory/output limit from evidence, else
//     runtime_error); only the judge's run can make the result infra_error.
//  Results: score 1 for correct; details carry mode, language, extraction, per-test verdicts, passed/total, and how
//  the sandbox held the limits ("limits": cgroup-v2 | cgroup-v1 | rlimit).
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "graders/code/code_grader.hpp"
#include "graders/code/judge_scripts.hpp"
#include "base/error.hpp"
#include "base/hash.hpp"
#include "base/jsonl.hpp"

namespace reval::code {
namespace {

using sandbox::Status;

constexpr std::int64_t kMaxReplyBytes = 16 << 20;  // one answer from the candidate
constexpr std::int64_t kMaxTotalBytes = 64 << 20;  // all of them

// A field of the request is wrong: the caller's input error, reported as reval::Error (never a verdict).
class FieldError : public GradeInputError {
 public:
  FieldError(std::string_view field, std::string_view what) : GradeInputError(fmt::format("field '{}': {}", field, what)) {}
};

Verdict verdict_of(Status s) {
  switch (s) {
    case Status::ok: return Verdict::correct;
    case Status::runtime_error: return Verdict::runtime_error;
    case Status::denied: return Verdict::runtime_error;
    case Status::time_limit: return Verdict::time_limit;
    case Status::memory_limit: return Verdict::memory_limit;
    case Status::output_limit: return Verdict::output_limit;
    case Status::internal_error: return Verdict::infra_error;
  }
  return Verdict::infra_error;
}

std::string clip(const std::string& s, size_t n = 2000) {
  std::string t = s.size() <= n ? s : s.substr(0, n) + "...";
  return sanitize_utf8(t);
}

// Python reports a script that doesn't parse without a "Traceback" header: nothing ran.
bool python_syntax_error(const sandbox::Result& r) {
  if (r.status != Status::runtime_error || r.signal != 0) return false;
  const std::string& e = r.stderr_data;
  if (e.find("Traceback (most recent call last)") != std::string::npos) return false;
  return e.find("SyntaxError:") != std::string::npos || e.find("IndentationError:") != std::string::npos ||
         e.find("TabError:") != std::string::npos;
}

struct Checker {
  enum Kind { exact, tokens, lcb, floating, custom } kind = tokens;
  double abs_tol = 1e-6, rel_tol = 1e-6;
  std::string language = "cpp";
  std::string source;
};

struct Test {
  std::string input, output;
};

// The request's fields, validated.
struct Fields {
  std::string mode;      // stdio | functional | humaneval
  std::string language;  // as given ("" = not given)
  std::vector<Test> tests;
  std::string fn_name, prompt, test, entry_point;
  double time_limit = 6.0;
  std::int64_t memory_limit = 1024;
  std::int64_t output_limit = 64 << 20;
  bool stop_first = true;
  Checker checker;
};

bool given(const nlohmann::json& f, const char* key) { return f.contains(key) && !f[key].is_null(); }

std::string string_field(const nlohmann::json& f, const char* key) {
  if (!given(f, key)) return {};
  if (!f[key].is_string()) throw FieldError(key, fmt::format("expected a string, got {}", f[key].type_name()));
  return f[key].get<std::string>();
}

double positive_number(const nlohmann::json& f, const char* key, double fallback, const char* unit) {
  if (!given(f, key)) return fallback;
  const auto& v = f[key];
  if (!v.is_number()) throw FieldError(key, fmt::format("expected a number of {}, got {}", unit, v.type_name()));
  double x = v.get<double>();
  if (!std::isfinite(x) || x <= 0) throw FieldError(key, fmt::format("must be a positive number of {} (got {})", unit, v.dump()));
  return x;
}

Checker parse_checker(const nlohmann::json& f) {
  Checker c;
  if (!given(f, "checker")) return c;
  const auto& j = f["checker"];
  std::string kind;
  if (j.is_string()) kind = j.get<std::string>();
  else if (j.is_object()) kind = j.value("kind", std::string("tokens"));
  else throw FieldError("checker", fmt::format("expected a string or an object, got {}", j.type_name()));
  if (kind == "exact") c.kind = Checker::exact;
  else if (kind == "tokens") c.kind = Checker::tokens;
  else if (kind == "lcb" || kind == "lines") c.kind = Checker::lcb;
  else if (kind == "float") c.kind = Checker::floating;
  else if (kind == "custom") c.kind = Checker::custom;
  else throw FieldError("checker", fmt::format("unknown checker '{}' (exact, tokens, lcb, float, custom)", kind));
  if (j.is_object()) {
    auto tol = [&](const char* key, double& out) {
      if (!j.contains(key)) return;
      if (!j[key].is_number() || j[key].get<double>() < 0)
        throw FieldError(std::string("checker.") + key, "expected a non-negative number");
      out = j[key].get<double>();
    };
    tol("abs", c.abs_tol);
    tol("rel", c.rel_tol);
    if (j.contains("eps")) {
      tol("eps", c.abs_tol);
      c.rel_tol = c.abs_tol;
    }
    if (j.contains("language")) {
      if (!j["language"].is_string()) throw FieldError("checker.language", "expected a string");
      c.language = j["language"].get<std::string>();
    }
    if (j.contains("source")) {
      if (!j["source"].is_string()) throw FieldError("checker.source", "expected a string");
      c.source = j["source"].get<std::string>();
    }
  }
  if (c.kind == Checker::custom && c.source.empty()) throw FieldError("checker", "a custom checker needs its source");
  return c;
}

Fields parse_fields(const nlohmann::json& f, const std::vector<sandbox::Language>& languages) {
  if (!f.is_object()) throw GradeInputError("expected the fields as an object");
  Fields out;
  out.mode = string_field(f, "mode");
  out.fn_name = string_field(f, "fn_name");
  out.language = string_field(f, "language");
  if (!out.language.empty() && !sandbox::find_language(languages, out.language)) {
    std::string known;
    for (const auto& l : languages) known += (known.empty() ? "" : ", ") + l.name;
    throw FieldError("language", fmt::format("unknown language '{}' ({})", out.language, known));
  }
  if (out.mode.empty()) {
    if (given(f, "test") || given(f, "entry_point")) out.mode = "humaneval";
    else if (!out.fn_name.empty()) out.mode = "functional";
    else out.mode = "stdio";
  } else if (out.mode != "stdio" && out.mode != "functional" && out.mode != "humaneval") {
    throw FieldError("mode", fmt::format("unknown mode '{}' (stdio, functional, humaneval)", out.mode));
  }
  out.time_limit = positive_number(f, "time_limit", out.time_limit, "seconds");
  out.memory_limit = static_cast<std::int64_t>(std::ceil(positive_number(f, "memory_limit", 1024, "MB")));
  out.output_limit = static_cast<std::int64_t>(positive_number(f, "output_limit", 64 << 20, "bytes"));
  if (given(f, "stop_at_first_failure")) {
    if (!f["stop_at_first_failure"].is_boolean()) throw FieldError("stop_at_first_failure", "expected true or false");
    out.stop_first = f["stop_at_first_failure"].get<bool>();
  }
  if (out.mode == "humaneval") {
    out.prompt = string_field(f, "prompt");
    out.test = string_field(f, "test");
    out.entry_point = string_field(f, "entry_point");
    if (!given(f, "test") || out.test.empty()) throw FieldError("test", "missing (humaneval mode needs the test code)");
    if (out.entry_point.empty()) throw FieldError("entry_point", "missing (humaneval mode needs the function's name)");
    return out;
  }
  if (out.mode == "functional" && out.fn_name.empty()) throw FieldError("fn_name", "missing (functional mode)");
  if (!given(f, "tests")) throw FieldError("tests", fmt::format("missing ({} mode needs tests)", out.mode));
  const auto& tests = f["tests"];
  if (!tests.is_array()) throw FieldError("tests", fmt::format("expected a list of {{\"input\", \"output\"}}, got {}", tests.type_name()));
  if (tests.empty()) throw FieldError("tests", "empty: at least one test is needed");
  for (size_t i = 0; i < tests.size(); ++i) {
    const auto& t = tests[i];
    std::string name = fmt::format("tests[{}]", i);
    if (!t.is_object()) throw FieldError(name, fmt::format("expected an object with input and output, got {}", t.type_name()));
    auto text = [&](const char* key) -> std::string {
      if (!t.contains(key)) return {};
      const auto& v = t.at(key);
      return v.is_string() ? v.get<std::string>() : v.dump();
    };
    if (!t.contains("output")) throw FieldError(name + ".output", "missing");
    out.tests.push_back({text("input"), text("output")});
    if (out.mode == "functional") {
      // The judge reads each input line and the output as JSON; a test it can't read is the data's fault.
      const std::string& in = out.tests.back().input;
      size_t pos = 0, line = 1;
      while (pos <= in.size()) {
        size_t nl = in.find('\n', pos);
        std::string_view l(in.data() + pos, (nl == std::string::npos ? in.size() : nl) - pos);
        if (l.find_first_not_of(" \t\r") != std::string_view::npos && !nlohmann::json::accept(l))
          throw FieldError(name + ".input", fmt::format("line {} is not JSON", line));
        if (nl == std::string::npos) break;
        pos = nl + 1;
        ++line;
      }
      if (!nlohmann::json::accept(out.tests.back().output)) throw FieldError(name + ".output", "not JSON");
    }
  }
  if (out.mode == "stdio") out.checker = parse_checker(f);
  return out;
}

// What a run's sandbox record says, for details.
nlohmann::json run_summary(const sandbox::Result& r) {
  nlohmann::json j = {{"status", to_string(r.status)}, {"cpu_s", r.cpu_s}, {"wall_s", r.wall_s}, {"limits", r.limits}};
  if (r.memory_peak_kb >= 0) j["memory_peak_kb"] = r.memory_peak_kb;
  if (!r.message.empty()) j["message"] = r.message;
  if (!r.stderr_data.empty()) j["stderr"] = clip(r.stderr_data, 1500);
  return j;
}

class CodeGrader final : public Grader {
 public:
  CodeGrader(std::shared_ptr<sandbox::Sandbox> sb, const nlohmann::json& opts) : sandbox_(std::move(sb)) {
    const nlohmann::json options = opts.is_object() ? opts : nlohmann::json::object();
    sandbox::LanguageOptions lo;
    lo.python = options.value("python", lo.python);
    lo.cxx = options.value("cxx", lo.cxx);
    languages_ = sandbox::default_languages(lo);
    runner_ = std::make_unique<sandbox::Runner>(*sandbox_, languages_, options.value("cache_dir", std::string()));
  }

  std::string_view name() const override { return "code"; }
  std::string_view version() const override { return "2"; }

  GradeResult grade(const GradeRequest& request) const override {
    Fields fields = parse_fields(request.fields, languages_);  // throws reval::Error: an input error
    GradeResult out;
    grade_impl(request, fields, out);  // a failure propagates to GraderSet::grade, which records infra_error
    return out;
  }

 private:
  void grade_impl(const GradeRequest& req, const Fields& f, GradeResult& out) const {
    auto& d = out.details;
    d["mode"] = f.mode;
    std::string why;
    auto code = extract_code(req.response, f.language, &why, req.finish);
    if (!code) {
      out.verdict = Verdict::no_answer;
      d["reason"] = why;
      return;
    }
    d["code_source"] = code->source;
    d["fence_tag"] = code->language_tag;
    d["fences"] = code->fence_count;
    out.extracted = code->code;
    // The code's own fence tag wins when it names a known language (a Codeforces answer in Python is judged as
    // Python); fields.language picks among fenced blocks and covers untagged code; python is the default.
    const sandbox::Language* lang = nullptr;
    std::string language_source;
    if (!code->language_tag.empty() && (lang = runner_->language(code->language_tag))) language_source = "fence";
    if (!lang && !f.language.empty()) {
      lang = runner_->language(f.language);
      language_source = "field";
    }
    if (!lang) {
      lang = runner_->language("python");
      language_source = "default";
    }
    d["language_source"] = language_source;
    d["language"] = lang->name;

    sandbox::Policy policy = sandbox_->policy();
    policy.time_limit_s = f.time_limit;
    policy.wall_time_limit_s = 0;
    policy.memory_limit_mb = f.memory_limit;
    policy.output_limit_bytes = f.output_limit;

    if ((f.mode == "humaneval" || f.mode == "functional") && lang->name != "python") {
      // The model answered in a language these problems can't run: its fault, so scored (not infra_error).
      out.verdict = Verdict::compile_error;
      d["compile_message"] = fmt::format("{} problems are judged in Python; the answer is {}", f.mode, lang->name);
      return;
    }
    if (f.mode == "stdio") return stdio(f, *code, *lang, policy, out);
    return call_based(f, *code, *lang, policy, out);
  }

  // Compiles `source`; false (with the verdict set) when it doesn't compile.
  bool compile(const sandbox::Language& lang, const std::string& source, sandbox::CompileResult& compiled,
               GradeResult& out) const {
    compiled = runner_->compile(lang, source);
    if (compiled.ok) return true;
    if (compiled.result.status == Status::internal_error) {
      out.verdict = Verdict::infra_error;
      out.details["error"] = "compiler could not run: " + compiled.message;
    } else {
      out.verdict = Verdict::compile_error;
      out.details["compile_message"] = clip(compiled.message, 4000);
    }
    return false;
  }

  void finish(GradeResult& out, nlohmann::json& per_test, size_t total) const {
    size_t passed = 0;
    Verdict first_bad = Verdict::correct;
    for (const auto& t : per_test) {
      auto v = verdict_from_string(t.at("verdict").get<std::string>()).value_or(Verdict::infra_error);
      if (v == Verdict::correct) ++passed;
      else if (first_bad == Verdict::correct) first_bad = v;
    }
    if (first_bad == Verdict::correct && per_test.size() < total) first_bad = Verdict::infra_error;
    out.verdict = first_bad;
    out.score = out.verdict == Verdict::correct ? 1.0 : 0.0;
    out.details["tests"] = per_test;
    out.details["passed"] = passed;
    out.details["total"] = total;
  }

  // A custom checker must build (compiled languages) or parse (Python) before it judges anything: when it does not,
  // the problem's data is wrong (FieldError); when the sandbox can't tell, that is an infrastructure failure.
  sandbox::CompileResult prepare_checker(const Checker& checker, const sandbox::Language& lang) const {
    sandbox::CompileResult bin = runner_->compile(lang, checker.source);
    if (!bin.ok) {
      if (bin.result.status == Status::internal_error) throw std::runtime_error("checker compiler could not run: " + bin.message);
      throw FieldError("checker", "the custom checker does not compile: " + clip(bin.message, 2000));
    }
    if (!lang.compile.empty() || lang.name != "python") return bin;
    static std::mutex mu;
    static std::map<std::uint64_t, std::string> checked;  // source hash -> "" (parses) or the error
    const std::uint64_t key = fnv1a64(checker.source);
    std::string error;
    {
      std::lock_guard lock(mu);
      auto it = checked.find(key);
      if (it != checked.end()) error = it->second;
      else error = "?";
    }
    if (error == "?") {
      sandbox::Request rq;
      rq.argv = {lang.run.front(), "-c", "import sys; compile(open('checker.py', 'rb').read(), 'checker.py', 'exec')"};
      rq.files = {{"checker.py", checker.source, false}};
      sandbox::Policy p = sandbox_->policy();
      p.time_limit_s = 10;
      p.wall_time_limit_s = 0;
      rq.policy = p;
      sandbox::Result r = sandbox_->run(rq);
      if (r.status == Status::internal_error) throw std::runtime_error("cannot check the custom checker: " + r.message);
      error = r.status == Status::ok ? "" : clip(r.stderr_data.empty() ? r.message : r.stderr_data, 2000);
      std::lock_guard lock(mu);
      if (checked.size() > 4096) checked.clear();
      checked[key] = error;
    }
    if (!error.empty()) throw FieldError("checker", "the custom checker does not compile: " + error);
    return bin;
  }

  // ---- stdio ----------------------------------------------------------------------------------------------------

  void stdio(const Fields& f, const ExtractedCode& code, const sandbox::Language& lang, const sandbox::Policy& policy,
             GradeResult& out) const {
    const Checker& checker = f.checker;
    const sandbox::Language* checker_lang = nullptr;
    sandbox::CompileResult checker_bin;
    if (checker.kind == Checker::custom) {
      checker_lang = runner_->language(checker.language);
      if (!checker_lang) throw FieldError("checker.language", fmt::format("unknown language '{}'", checker.language));
      checker_bin = prepare_checker(checker, *checker_lang);
    }
    sandbox::CompileResult compiled;
    if (!compile(lang, code.code, compiled, out)) return;
    nlohmann::json per_test = nlohmann::json::array();
    std::string limits;
    for (size_t i = 0; i < f.tests.size(); ++i) {
      const Test& t = f.tests[i];
      sandbox::Result r = runner_->run(lang, code.code, compiled, t.input, policy);
      if (limits.empty()) limits = r.limits;
      nlohmann::json rec = {{"i", i}, {"cpu_s", r.cpu_s}, {"wall_s", r.wall_s}};
      Verdict v = verdict_of(r.status);
      std::string message;
      if (r.status == Status::ok) {
        bool ok = false;
        switch (checker.kind) {
          case Checker::exact: ok = check_exact(r.stdout_data, t.output, &message); break;
          case Checker::tokens: ok = check_tokens(r.stdout_data, t.output, &message); break;
          case Checker::lcb: ok = check_lcb(r.stdout_data, t.output, &message); break;
          case Checker::floating: ok = check_float(r.stdout_data, t.output, checker.abs_tol, checker.rel_tol, &message); break;
          case Checker::custom: v = run_checker(*checker_lang, checker, checker_bin, t, r.stdout_data, message); ok = v == Verdict::correct; break;
        }
        if (checker.kind != Checker::custom) v = ok ? Verdict::correct : Verdict::wrong;
      } else {
        message = r.message;
        if (!r.stderr_data.empty()) rec["stderr"] = clip(r.stderr_data, 1000);
        if (lang.compile.empty() && python_syntax_error(r)) {
          // An interpreted program that never started (SyntaxError before any code ran) didn't compile.
          out.verdict = Verdict::compile_error;
          out.details["compile_message"] = clip(r.stderr_data, 4000);
          out.details["limits"] = r.limits;
          return;
        }
      }
      rec["verdict"] = to_string(v);
      if (!message.empty()) rec["message"] = clip(message, 500);
      per_test.push_back(std::move(rec));
      if (v != Verdict::correct && (f.stop_first || v == Verdict::infra_error)) break;
    }
    finish(out, per_test, f.tests.size());
    out.details["limits"] = limits;
    if (f.stop_first && out.verdict != Verdict::correct && out.verdict != Verdict::infra_error) {
      // Stopped early on purpose: the remaining tests were not run, which is not an infrastructure problem.
      out.details["stopped_early"] = per_test.size() < f.tests.size();
    }
  }

  Verdict run_checker(const sandbox::Language& lang, const Checker& checker, const sandbox::CompileResult& bin,
                      const Test& t, const std::string& output, std::string& message) const {
    sandbox::Policy p = sandbox_->policy();
    p.time_limit_s = 10;
    p.wall_time_limit_s = 0;
    p.memory_limit_mb = 1024;
    std::vector<sandbox::File> files = {{"input.txt", t.input, false}, {"output.txt", output, false},
                                        {"answer.txt", t.output, false}};
    sandbox::Result r = runner_->run(lang, checker.source, bin, {}, p, files, {"input.txt", "output.txt", "answer.txt"});
    message = clip(r.stderr_data.empty() ? r.stdout_data : r.stderr_data, 500);
    if (r.status == Status::ok) return Verdict::correct;
    if (r.status == Status::runtime_error && r.signal == 0 && r.exit_code != 3) return Verdict::wrong;
    message = "checker failed: " + r.message + (message.empty() ? "" : ": " + message);
    return Verdict::infra_error;
  }

  // ---- functional and humaneval: a judge run calls the candidate run --------------------------------------------

  void call_based(const Fields& f, const ExtractedCode& code, const sandbox::Language& lang,
                  const sandbox::Policy& policy, GradeResult& out) const {
    auto& d = out.details;
    const bool he = f.mode == "humaneval";
    const std::string entry = he ? f.entry_point : f.fn_name;
    std::string solution;
    if (he) {
      // A completion that redefines the entry point at top level replaces the prompt's stub (kept for its imports
      // and helper functions); otherwise it continues the prompt.
      bool redefines = false;
      for (size_t pos = 0; pos < code.code.size();) {
        size_t nl = code.code.find('\n', pos);
        std::string_view line(code.code.data() + pos, (nl == std::string::npos ? code.code.size() : nl) - pos);
        std::string_view rest = line;
        if (rest.substr(0, 6) == "async ") rest.remove_prefix(6);
        if (rest.substr(0, 4) == "def ") {
          rest.remove_prefix(4);
          while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
          if (rest.substr(0, entry.size()) == entry && rest.size() > entry.size() &&
              (rest[entry.size()] == '(' || rest[entry.size()] == ' '))
            redefines = true;
        }
        if (nl == std::string::npos) break;
        pos = nl + 1;
      }
      solution = redefines ? f.prompt + "\n\n" + code.code : f.prompt + code.code;
      d["completion_redefines_entry_point"] = redefines;
    } else {
      solution = std::string(scripts::kLcbPrelude) + "\n" + code.code;
    }
    const std::string python = lang.run.front();

    // The candidate: its limits are the problem's (functional: the calls' budgets together, as before).
    sandbox::Policy cand_policy = policy;
    if (!he) cand_policy.time_limit_s = policy.time_limit_s * static_cast<double>(f.tests.size() + 1) + 1;
    nlohmann::json cand_spec = {{"entry", entry}, {"class", !he}, {"call_time_limit", he ? 0.0 : policy.time_limit_s}};
    sandbox::Request cand;
    cand.argv = {python, "candidate.py"};
    cand.files = {{"candidate.py", scripts::kCandidate, false},
                  {"reval_rpc.py", scripts::kRpc, false},
                  {"solution.py", solution, false},
                  {"candidate.json", cand_spec.dump(), false}};
    cand.policy = cand_policy;

    // The judge: generous limits of its own, and it outlives the candidate (it must see the candidate's end).
    sandbox::Policy judge_policy = sandbox_->policy();
    judge_policy.time_limit_s = 10 + 2 * cand_policy.time_limit_s;
    judge_policy.wall_time_limit_s = cand_policy.effective_wall_s() + 10;
    judge_policy.memory_limit_mb = std::max<std::int64_t>(2048, cand_policy.memory_limit_mb);
    judge_policy.output_limit_bytes = 64 << 20;
    nlohmann::json judge_spec = {{"mode", f.mode},
                                 {"entry", entry},
                                 {"stop_at_first_failure", f.stop_first},
                                 {"call_wall_s", he ? 0.0 : 2 * policy.time_limit_s + 1},
                                 {"max_reply_bytes", kMaxReplyBytes},
                                 {"max_total_bytes", kMaxTotalBytes}};
    if (!he) {
      nlohmann::json tests = nlohmann::json::array();
      for (const auto& t : f.tests) tests.push_back({{"input", t.input}, {"output", t.output}});
      judge_spec["tests"] = std::move(tests);
    }
    sandbox::Request judge;
    judge.argv = {python, "judge.py"};
    judge.files = {{"judge.py", scripts::kJudge, false},
                   {"reval_rpc.py", scripts::kRpc, false},
                   {"judge.json", judge_spec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), false}};
    if (he) {
      judge.files.push_back({"prompt.py", f.prompt, false});
      judge.files.push_back({"test.py", f.test, false});
    }
    judge.policy = judge_policy;

    auto [jr, cr] = sandbox_->run_linked(judge, cand);
    d["candidate"] = run_summary(cr);
    d["judge"] = run_summary(jr);
    d["limits"] = cr.limits;
    if (jr.status == Status::internal_error) {
      out.verdict = Verdict::infra_error;
      d["error"] = "the judge's run failed: " + jr.message;
      return;
    }
    if (cr.status == Status::internal_error) {
      out.verdict = Verdict::infra_error;
      d["error"] = "the candidate's run failed: " + cr.message;
      return;
    }
    // The judge's report: the last line of its stdout, which only the judge can write.
    nlohmann::json report;
    {
      std::string_view s = jr.stdout_data;
      while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
      size_t nl = s.rfind('\n');
      report = nlohmann::json::parse(nl == std::string_view::npos ? s : s.substr(nl + 1), nullptr, false);
    }
    if (!report.is_object() || !report.contains("tests") || !report["tests"].is_array()) {
      out.verdict = Verdict::infra_error;
      d["error"] = fmt::format("the judge ended without a report ({}{}{})", to_string(jr.status),
                               jr.message.empty() ? "" : ": ", jr.message);
      return;
    }
    if (report.contains("judge_error") && report["judge_error"].is_string()) {
      out.verdict = Verdict::infra_error;
      d["error"] = "the judge failed: " + clip(report["judge_error"].get<std::string>(), 3000);
      return;
    }
    // A candidate that stopped answering is judged by its run's record (evidence), never by what it printed.
    auto from_candidate = [&]() -> Verdict {
      switch (cr.status) {
        case Status::time_limit: return Verdict::time_limit;
        case Status::memory_limit: return Verdict::memory_limit;
        case Status::output_limit: return Verdict::output_limit;
        default: return Verdict::runtime_error;
      }
    };
    auto verdict_for = [&](const std::string& outcome) -> Verdict {
      if (outcome == "passed") return Verdict::correct;
      if (outcome == "failed") return Verdict::wrong;
      if (outcome == "timeout" || outcome == "time_limit") return Verdict::time_limit;
      if (outcome == "too_large") return Verdict::output_limit;
      if (outcome == "compile_error") return Verdict::compile_error;
      if (outcome == "gone") return from_candidate();
      return Verdict::runtime_error;  // raised, bad_reply, runtime_error, anything else
    };
    if (report.contains("setup") && report["setup"].is_object()) {
      const auto& s = report["setup"];
      std::string outcome = s.value("outcome", std::string());
      std::string message = s.value("message", std::string());
      out.verdict = verdict_for(outcome);
      out.score = 0;
      if (out.verdict == Verdict::compile_error) d["compile_message"] = clip(message, 4000);
      else d["error"] = clip(message, 2000);
      if (outcome == "gone" && cr.status != Status::ok) d["error"] = clip(cr.message, 2000);
      return;
    }
    nlohmann::json per_test = nlohmann::json::array();
    for (const auto& t : report["tests"]) {
      if (!t.is_object()) continue;
      std::string outcome = t.value("outcome", std::string());
      Verdict v = verdict_for(outcome);
      nlohmann::json rec = {{"i", t.value("i", 0)}, {"verdict", to_string(v)}};
      if (t.contains("cpu_s") && t["cpu_s"].is_number()) rec["cpu_s"] = t["cpu_s"];
      if (t.contains("wall_s") && t["wall_s"].is_number()) rec["wall_s"] = t["wall_s"];
      std::string message = t.value("message", std::string());
      if (outcome == "gone" && cr.status != Status::ok && cr.status != Status::runtime_error) message = cr.message;
      if (!message.empty()) rec["message"] = clip(message, 500);
      per_test.push_back(std::move(rec));
    }
    const size_t total = he ? 1 : f.tests.size();
    finish(out, per_test, total);
    if (out.verdict == Verdict::correct && cr.status != Status::ok) {
      // Every answer was right, but the candidate's run still broke a limit or failed on the way out.
      out.verdict = from_candidate();
      out.score = 0;
      d["error"] = "the candidate's run ended " + std::string(to_string(cr.status)) + ": " + cr.message;
    }
    if (f.stop_first && out.verdict != Verdict::correct && out.verdict != Verdict::infra_error)
      d["stopped_early"] = per_test.size() < total;
  }

  std::shared_ptr<sandbox::Sandbox> sandbox_;
  std::vector<sandbox::Language> languages_;
  std::unique_ptr<sandbox::Runner> runner_;
};

std::shared_ptr<sandbox::Sandbox> shared_default_sandbox(const nlohmann::json& opts) {
  const nlohmann::json options = opts.is_object() ? opts : nlohmann::json::object();
  // One pool per process for graders built from options alone (graders are cheap; workers are not).
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<sandbox::Sandbox>> pools;
  sandbox::Policy policy = options.contains("policy") ? sandbox::Policy::from_json(options["policy"]) : sandbox::Policy{};
  if (options.contains("workers")) policy.workers = options["workers"].get<int>();
  // Call-based problems take two workers per grade (the judge mostly waits): twice the cores by default.
  if (policy.workers <= 0) policy.workers = 2 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string key = policy.to_json().dump();
  std::lock_guard lock(mu);
  if (auto existing = pools[key].lock()) return existing;
  std::shared_ptr<sandbox::Sandbox> sb = sandbox::make_sandbox(policy);
  pools[key] = sb;
  return sb;
}

}  // namespace

std::unique_ptr<Grader> make_code_grader(std::shared_ptr<sandbox::Sandbox> sb, const nlohmann::json& options) {
  return std::make_unique<CodeGrader>(std::move(sb), options);
}

}  // namespace reval::code

namespace reval {
std::unique_ptr<Grader> make_code_grader(const nlohmann::json& options) {
  return code::make_code_grader(code::shared_default_sandbox(options), options);
}
}  // namespace reval
