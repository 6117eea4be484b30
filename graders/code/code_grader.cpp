// The `code` grader (see code_grader.hpp for the fields contract).
//
// Theory of operation
//  grade(): read fields -> pick the mode -> extract the code (no code: no_answer) -> pick the language (a known
//  fence tag, else the field, else python; functional/humaneval answers not in Python are compile_error) -> compile once (Runner caches by source hash; failure: compile_error with the compiler's
//  message) -> judge:
//   * stdio: one sandbox run per test with the problem's time/memory limits; the sandbox status maps to a verdict
//     (ok -> checker, runtime_error/denied -> runtime_error, time/memory/output limits, internal_error ->
//     infra_error); stop at the first failing test unless told otherwise.
//   * functional (LiveCodeBench LeetCode-style, Python): one run of a driver that imports the LCB prelude, execs the
//     candidate, instantiates Solution, calls fn_name on each test's JSON-decoded arguments under a per-call CPU
//     timer and prints each return value as JSON; values are compared here (tuples already lists; nlohmann
//     compares 1 == 1.0 like Python), so expected outputs never enter the sandbox.
//   * humaneval: prompt + completion (a completion that redefines the entry point is appended after the prompt, so
//     the prompt's imports and helpers stay), then the test code and check(entry_point) through a driver that tells
//     a failed assertion (wrong) from a crash in the candidate (runtime_error).
//  Results: score 1 for correct; details carry mode, language, extraction, per-test verdicts, passed/total.
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>

#include <fmt/format.h>

#include "graders/code/code_grader.hpp"
#include "graders/code/harness_scripts.hpp"
#include "base/error.hpp"
#include "base/jsonl.hpp"

namespace reval::code {
namespace {

using sandbox::Status;

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

std::string make_nonce() {
  static std::atomic<std::uint64_t> counter{0};
  std::random_device rd;
  return fmt::format("REVAL-{:08x}{:08x}-{}", rd(), rd(), counter++);
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

Checker parse_checker(const nlohmann::json& j) {
  Checker c;
  if (j.is_null()) return c;
  std::string kind;
  if (j.is_string()) kind = j.get<std::string>();
  else if (j.is_object()) kind = j.value("kind", std::string("tokens"));
  else throw Error("field 'checker': expected a string or an object");
  if (kind == "exact") c.kind = Checker::exact;
  else if (kind == "tokens") c.kind = Checker::tokens;
  else if (kind == "lcb" || kind == "lines") c.kind = Checker::lcb;
  else if (kind == "float") c.kind = Checker::floating;
  else if (kind == "custom") c.kind = Checker::custom;
  else throw Error(fmt::format("field 'checker': unknown kind '{}' (exact, tokens, lcb, float, custom)", kind));
  if (j.is_object()) {
    c.abs_tol = j.value("abs", c.abs_tol);
    c.rel_tol = j.value("rel", c.rel_tol);
    if (j.contains("eps")) c.abs_tol = c.rel_tol = j["eps"].get<double>();
    c.language = j.value("language", c.language);
    c.source = j.value("source", std::string());
    if (c.kind == Checker::custom && c.source.empty()) throw Error("field 'checker': custom checker without source");
  }
  return c;
}

struct Test {
  std::string input, output;
};

class CodeGrader final : public Grader {
 public:
  CodeGrader(std::shared_ptr<sandbox::Sandbox> sb, const nlohmann::json& opts) : sandbox_(std::move(sb)) {
    const nlohmann::json options = opts.is_object() ? opts : nlohmann::json::object();
    sandbox::LanguageOptions lo;
    lo.python = options.value("python", lo.python);
    lo.cxx = options.value("cxx", lo.cxx);
    runner_ = std::make_unique<sandbox::Runner>(*sandbox_, sandbox::default_languages(lo),
                                                options.value("cache_dir", std::string()));
  }

  std::string_view name() const override { return "code"; }
  std::string_view version() const override { return "1"; }

  GradeResult grade(const GradeRequest& request) const override {
    GradeResult out;
    try {
      grade_impl(request, out);
    } catch (const std::exception& e) {
      out.verdict = Verdict::infra_error;
      out.score = 0;
      out.details["error"] = e.what();
    }
    return out;
  }

 private:
  void grade_impl(const GradeRequest& req, GradeResult& out) const {
    const nlohmann::json& f = req.fields;
    auto& d = out.details;
    std::string mode = f.value("mode", std::string());
    if (mode.empty()) {
      if (f.contains("test") && f.contains("entry_point")) mode = "humaneval";
      else if (f.contains("fn_name") && !f["fn_name"].is_null() && !f["fn_name"].get<std::string>().empty())
        mode = "functional";
      else mode = "stdio";
    }
    if (mode != "stdio" && mode != "functional" && mode != "humaneval")
      throw Error(fmt::format("field 'mode': unknown mode '{}'", mode));
    d["mode"] = mode;
    std::string want_lang = f.value("language", std::string());
    std::string why;
    auto code = extract_code(req.response, want_lang, &why);
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
    if (!lang && !want_lang.empty()) {
      lang = runner_->language(want_lang);
      if (!lang) throw Error(fmt::format("field 'language': unknown language '{}'", want_lang));
      language_source = "field";
    }
    if (!lang) {
      lang = runner_->language("python");
      language_source = "default";
    }
    d["language_source"] = language_source;
    d["language"] = lang->name;

    sandbox::Policy policy = sandbox_->policy();
    policy.time_limit_s = f.value("time_limit", 6.0);
    policy.wall_time_limit_s = 0;
    policy.memory_limit_mb = f.value("memory_limit", std::int64_t{1024});
    policy.output_limit_bytes = std::max<std::int64_t>(f.value("output_limit", std::int64_t{64 << 20}), 1);
    const bool stop_first = f.value("stop_at_first_failure", true);

    std::vector<Test> tests;
    if (f.contains("tests")) {
      for (const auto& t : f.at("tests")) {
        auto field = [&](const char* k) -> std::string {
          if (!t.contains(k)) return {};
          const auto& v = t.at(k);
          return v.is_string() ? v.get<std::string>() : v.dump();
        };
        tests.push_back({field("input"), field("output")});
      }
    }

    if ((mode == "humaneval" || mode == "functional") && lang->name != "python") {
      // The model answered in a language these problems can't run: its fault, so scored (not infra_error).
      out.verdict = Verdict::compile_error;
      d["compile_message"] = fmt::format("{} problems are judged in Python; the answer is {}", mode, lang->name);
      return;
    }
    if (mode == "humaneval") return humaneval(req, *code, *lang, policy, out);
    if (mode == "functional") return functional(req, *code, *lang, policy, tests, stop_first, out);
    return stdio(req, *code, *lang, policy, tests, stop_first, out);
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

  // ---- stdio ----------------------------------------------------------------------------------------------------

  void stdio(const GradeRequest& req, const ExtractedCode& code, const sandbox::Language& lang,
             const sandbox::Policy& policy, const std::vector<Test>& tests, bool stop_first, GradeResult& out) const {
    if (tests.empty()) throw Error("field 'tests': stdio mode needs at least one test");
    Checker checker = parse_checker(req.fields.contains("checker") ? req.fields["checker"] : nlohmann::json());
    // A custom checker is compiled first: its failure is the harness's problem, not the candidate's.
    const sandbox::Language* checker_lang = nullptr;
    sandbox::CompileResult checker_bin;
    if (checker.kind == Checker::custom) {
      checker_lang = runner_->language(checker.language);
      if (!checker_lang) throw Error(fmt::format("checker language '{}' unknown", checker.language));
      checker_bin = runner_->compile(*checker_lang, checker.source);
      if (!checker_bin.ok) throw Error("custom checker does not compile: " + clip(checker_bin.message, 2000));
    }
    sandbox::CompileResult compiled;
    if (!compile(lang, code.code, compiled, out)) return;
    nlohmann::json per_test = nlohmann::json::array();
    for (size_t i = 0; i < tests.size(); ++i) {
      const Test& t = tests[i];
      sandbox::Result r = runner_->run(lang, code.code, compiled, t.input, policy);
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
          return;
        }
      }
      rec["verdict"] = to_string(v);
      if (!message.empty()) rec["message"] = clip(message, 500);
      per_test.push_back(std::move(rec));
      if (v != Verdict::correct && (stop_first || v == Verdict::infra_error)) break;
    }
    finish(out, per_test, tests.size());
    if (stop_first && out.verdict != Verdict::correct && out.verdict != Verdict::infra_error) {
      // Stopped early on purpose: the remaining tests were not run, which is not an infrastructure problem.
      out.details["stopped_early"] = per_test.size() < tests.size();
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

  // ---- functional (LiveCodeBench call-based) ------------------------------------------------------------------

  void functional(const GradeRequest& req, const ExtractedCode& code, const sandbox::Language& lang,
                  const sandbox::Policy& policy, const std::vector<Test>& tests, bool stop_first,
                  GradeResult& out) const {
    if (tests.empty()) throw Error("field 'tests': functional mode needs at least one test");
    std::string fn_name = req.fields.at("fn_name").get<std::string>();
    nlohmann::json inputs = nlohmann::json::array();
    for (const auto& t : tests) inputs.push_back(t.input);
    nlohmann::json calls = {{"fn_name", fn_name},
                            {"time_limit", policy.time_limit_s},
                            {"stop_at_first_failure", stop_first},
                            {"inputs", inputs}};
    std::string nonce = make_nonce();
    sandbox::Policy p = policy;
    p.time_limit_s = policy.time_limit_s * static_cast<double>(tests.size() + 1) + 1;
    sandbox::Request rq;
    rq.argv = {lang.run.front(), "driver.py"};
    rq.files = {{"driver.py", scripts::kFunctionalDriver, false},
                {"solution.py", std::string(scripts::kLcbPrelude) + "\n" + code.code, false},
                {"calls.json", calls.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), false}};
    rq.stdin_data = nonce + "\n";
    rq.policy = p;
    sandbox::Result r = sandbox_->run(rq);
    if (r.status == Status::internal_error) {
      out.verdict = Verdict::infra_error;
      out.details["error"] = r.message;
      return;
    }
    // Parse the driver's lines.
    std::map<int, nlohmann::json> results;
    bool done = false;
    std::optional<nlohmann::json> setup;
    size_t pos = 0;
    const std::string prefix = nonce + " ";
    while (pos < r.stdout_data.size()) {
      size_t nl = r.stdout_data.find('\n', pos);
      if (nl == std::string::npos) nl = r.stdout_data.size();
      std::string_view line(r.stdout_data.data() + pos, nl - pos);
      pos = nl + 1;
      if (line.substr(0, prefix.size()) != prefix) continue;
      nlohmann::json j = nlohmann::json::parse(line.substr(prefix.size()), nullptr, false);
      if (j.is_discarded()) continue;
      int i = j.value("i", -3);
      if (i == -2) done = true;
      else if (i == -1) setup = j;
      else if (i >= 0) results[i] = j;
    }
    if (setup) {
      std::string st = setup->value("status", std::string("runtime_error"));
      out.verdict = st == "compile_error" ? Verdict::compile_error
                    : st == "time_limit"  ? Verdict::time_limit
                    : st == "memory_limit" ? Verdict::memory_limit
                                           : Verdict::runtime_error;
      out.details[st == "compile_error" ? "compile_message" : "error"] = setup->value("error", std::string());
      return;
    }
    nlohmann::json per_test = nlohmann::json::array();
    for (size_t i = 0; i < tests.size(); ++i) {
      auto it = results.find(static_cast<int>(i));
      nlohmann::json rec = {{"i", i}};
      if (it == results.end()) {
        // The driver never reported this call: the process died (limits) or the candidate cut it short.
        Verdict v = r.status == Status::ok ? Verdict::runtime_error : verdict_of(r.status);
        if (v == Verdict::correct) v = Verdict::runtime_error;
        if (done && stop_first) break;  // stopped after an earlier failure
        rec["verdict"] = to_string(v);
        rec["message"] = r.status == Status::ok ? std::string("program ended before this call returned") : r.message;
        if (!r.stderr_data.empty()) rec["stderr"] = clip(r.stderr_data, 1000);
        per_test.push_back(rec);
        break;
      }
      const nlohmann::json& res = it->second;
      std::string st = res.value("status", std::string());
      if (res.contains("time")) rec["cpu_s"] = res["time"];
      Verdict v;
      if (st == "bad_test") throw Error(fmt::format("test {}: input is not newline-separated JSON", i));
      if (st == "ok") {
        nlohmann::json expected = nlohmann::json::parse(tests[i].output, nullptr, false);
        if (expected.is_discarded()) throw Error(fmt::format("test {}: output is not JSON", i));
        if (res.contains("value")) {
          v = res["value"] == expected ? Verdict::correct : Verdict::wrong;
          if (v == Verdict::wrong) rec["message"] = clip(fmt::format("got {}, expected {}", res["value"].dump(), expected.dump()), 500);
        } else {
          v = Verdict::wrong;
          rec["message"] = clip("got non-JSON value " + res.value("repr", std::string()), 500);
        }
      } else {
        v = st == "time_limit" ? Verdict::time_limit : st == "memory_limit" ? Verdict::memory_limit : Verdict::runtime_error;
        rec["message"] = res.value("error", std::string());
      }
      rec["verdict"] = to_string(v);
      per_test.push_back(rec);
      if (v != Verdict::correct && stop_first) break;
    }
    finish(out, per_test, tests.size());
  }

  // ---- humaneval ----------------------------------------------------------------------------------------------

  void humaneval(const GradeRequest& req, const ExtractedCode& code, const sandbox::Language& lang,
                 const sandbox::Policy& policy, GradeResult& out) const {
    const std::string prompt = req.fields.value("prompt", std::string());
    const std::string test = req.fields.at("test").get<std::string>();
    const std::string entry = req.fields.at("entry_point").get<std::string>();
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
    std::string solution = redefines ? prompt + "\n\n" + code.code : prompt + code.code;
    out.details["completion_redefines_entry_point"] = redefines;
    std::string nonce = make_nonce();
    sandbox::Request rq;
    rq.argv = {lang.run.front(), "driver.py", entry};
    rq.files = {{"driver.py", scripts::kHumanEvalDriver, false},
                {"solution.py", solution, false},
                {"test.py", test, false}};
    rq.stdin_data = nonce + "\n";
    rq.policy = policy;
    sandbox::Result r = sandbox_->run(rq);
    nlohmann::json rec = {{"i", 0}, {"cpu_s", r.cpu_s}, {"wall_s", r.wall_s}};
    Verdict v = verdict_of(r.status);
    if (r.status == Status::ok) {
      v = r.stdout_data.find(nonce + " passed") != std::string::npos ? Verdict::correct : Verdict::wrong;
      if (v == Verdict::wrong) rec["message"] = "the program ended before the tests finished";
    } else if (r.status == Status::runtime_error && r.signal == 0) {
      if (r.exit_code == 3) v = Verdict::compile_error;
      else if (r.exit_code == 5) v = Verdict::wrong;
      else v = Verdict::runtime_error;
    }
    if (v == Verdict::compile_error) out.details["compile_message"] = clip(r.stderr_data, 4000);
    if (v != Verdict::correct) {
      if (!r.message.empty()) rec["message"] = r.message;
      if (!r.stderr_data.empty()) rec["stderr"] = clip(r.stderr_data, 1500);
    }
    rec["verdict"] = to_string(v);
    nlohmann::json per_test = nlohmann::json::array({rec});
    finish(out, per_test, 1);
  }

  std::shared_ptr<sandbox::Sandbox> sandbox_;
  std::unique_ptr<sandbox::Runner> runner_;
};

std::shared_ptr<sandbox::Sandbox> shared_default_sandbox(const nlohmann::json& opts) {
  const nlohmann::json options = opts.is_object() ? opts : nlohmann::json::object();
  // One pool per process for graders built from options alone (graders are cheap; workers are not).
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<sandbox::Sandbox>> pools;
  sandbox::Policy policy = options.contains("policy") ? sandbox::Policy::from_json(options["policy"]) : sandbox::Policy{};
  if (options.contains("workers")) policy.workers = options["workers"].get<int>();
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
