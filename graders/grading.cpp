// See grading.hpp.
#include "graders/grading.hpp"

#include <exception>
#include <functional>

#include <fmt/format.h>

#include "base/error.hpp"

namespace reval {

std::vector<std::string> gold_answers(const nlohmann::json& gold) {
  std::vector<std::string> out;
  if (gold.is_null()) return out;
  if (gold.is_string()) {
    out.push_back(gold.get<std::string>());
  } else if (gold.is_number()) {
    out.push_back(gold.dump());
  } else if (gold.is_array()) {
    for (size_t i = 0; i < gold.size(); ++i) {
      const auto& g = gold[i];
      if (g.is_string()) out.push_back(g.get<std::string>());
      else if (g.is_number()) out.push_back(g.dump());
      else
        throw GradeInputError(fmt::format("field 'gold[{}]': expected a string or a number, got {}", i, g.type_name()));
    }
  } else {
    throw GradeInputError(
        fmt::format("field 'gold': expected a string, a number or a list of them, got {}", gold.type_name()));
  }
  return out;
}

std::string request_from_line(const nlohmann::json& v, std::string_view grader, GradeRequest& out) {
  if (!v.is_object()) return "expected a JSON object";
  auto r = v.find("response");
  if (r == v.end()) return "field 'response': missing";
  if (!r->is_string()) return "field 'response': expected a string";
  out.response = r->get<std::string>();
  auto g = v.find("gold");
  if ((g == v.end() || g->is_null()) && grader != "code") return "field 'gold': missing";
  try {
    out.gold = g != v.end() ? gold_answers(*g) : std::vector<std::string>{};
  } catch (const Error& e) {
    return e.what();
  }
  out.fields = v;
  out.fields.erase("response");
  out.fields.erase("gold");
  out.finish = FinishReason::stop;
  if (auto f = out.fields.find("finish_reason"); f != out.fields.end()) {
    if (!f->is_string()) return "field 'finish_reason': expected a string (stop, length, ...)";
    out.finish = finish_reason_from_string(f->get<std::string>());
    out.fields.erase(f);
  }
  return "";
}

GradeResult infra_error_result(std::string_view stage, std::string_view message) {
  GradeResult r;
  r.verdict = Verdict::infra_error;
  r.details = {{"error", std::string(message)}, {"stage", std::string(stage)}};
  return r;
}

const Grader& GraderSet::get(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = graders_.find(name);
  if (it == graders_.end()) it = graders_.emplace(name, make_grader(name, options_)).first;
  return *it->second;
}

void GraderSet::add(const std::string& name, std::unique_ptr<Grader> grader) {
  std::lock_guard<std::mutex> lock(mu_);
  graders_[name] = std::move(grader);
}

namespace {
// The one place where an exception while grading becomes a verdict.
GradedSample guarded(GraderSet& set, const std::string& name,
                     const std::function<GradeResult(const Grader&)>& grade) {
  GradedSample out;
  out.grader = name;
  try {
    const Grader& g = set.get(name);
    out.grader = std::string(g.name());
    out.grader_version = std::string(g.version());
    out.result = grade(g);
  } catch (const GradeInputError& e) {  // the request is invalid (a field, the gold): not a failure of the grader
    out.result = infra_error_result("input", e.what());
    out.input_error = e.what();
  } catch (const std::exception& e) {
    out.result = infra_error_result("grading", e.what());
  } catch (...) {
    out.result = infra_error_result("grading", "unknown exception");
  }
  return out;
}
}  // namespace

GradedSample GraderSet::grade(const std::string& grader, const GradeRequest& request) {
  return guarded(*this, grader, [&](const Grader& g) { return g.grade(request); });
}

GradedSample GraderSet::grade(const std::string& grader, const SampleToGrade& s) {
  if (!s.generation_error.empty()) {
    GradedSample out = guarded(*this, grader, [&](const Grader&) {
      return infra_error_result("generation", s.generation_error);
    });
    if (out.result.details.value("stage", "") != "generation") out.result = infra_error_result("generation", s.generation_error);
    return out;
  }
  return guarded(*this, grader, [&](const Grader& g) {
    GradeRequest r;
    r.response = s.response;
    r.gold = gold_answers(s.gold);
    r.fields = s.fields.is_object() ? s.fields : nlohmann::json::object();
    r.finish = s.finish;
    return g.grade(r);
  });
}

}  // namespace reval
