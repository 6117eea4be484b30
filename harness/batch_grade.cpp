// See batch_grade.hpp. Lines are parsed up front, graded by a pool of threads into slots, then written in order.
#include "harness/batch_grade.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "graders/grader.hpp"
#include "base/error.hpp"
#include "base/jsonl.hpp"

namespace reval {

namespace {
struct Slot {
  std::int64_t line = 0;
  nlohmann::json input;
  std::string error;  // malformed line
  GradeRequest request;
  std::string response;  // owns the text request.response points into
  nlohmann::json output;
};

// Validates one parsed line into a request; returns an error message naming the field, or "".
std::string to_request(const nlohmann::json& v, const std::string& grader, Slot& slot) {
  if (!v.is_object()) return "expected a JSON object";
  auto r = v.find("response");
  if (r == v.end()) return "field 'response': missing";
  if (!r->is_string()) return "field 'response': expected a string";
  slot.response = r->get<std::string>();
  auto g = v.find("gold");
  if (g == v.end() || g->is_null()) {
    if (grader != "code") return "field 'gold': missing";
  } else if (g->is_string()) {
    slot.request.gold.push_back(g->get<std::string>());
  } else if (g->is_array()) {
    for (size_t i = 0; i < g->size(); ++i) {
      if (!(*g)[i].is_string()) return fmt::format("field 'gold[{}]': expected a string", i);
      slot.request.gold.push_back((*g)[i].get<std::string>());
    }
  } else if (g->is_number()) {
    slot.request.gold.push_back(g->dump());
  } else {
    return "field 'gold': expected a string or a list of strings";
  }
  slot.request.fields = v;
  slot.request.fields.erase("response");
  slot.request.fields.erase("gold");
  return "";
}
}  // namespace

BatchGradeStats grade_jsonl(const std::string& input_text, std::ostream& out, const BatchGradeOptions& options) {
  auto grader = make_grader(options.grader, options.grader_options);  // throws for an unknown grader
  std::vector<Slot> slots;
  for_each_jsonl(input_text, [&](JsonlLine& line) {
    Slot s;
    s.line = line.line;
    if (!line.error.empty()) {
      s.error = line.error;
    } else {
      s.input = std::move(*line.value);
      s.error = to_request(s.input, options.grader, s);
    }
    slots.push_back(std::move(s));
  });

  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < slots.size();) {
      Slot& s = slots[i];
      if (!s.error.empty()) {
        s.output = {{"line", s.line}, {"error", where(options.input_name, s.line) + ": " + s.error}};
        continue;
      }
      s.request.response = s.response;
      GradeResult res;
      try {
        res = grader->grade(s.request);
      } catch (const Error& e) {
        // The line's fields are wrong (a grader's input error, naming the field): reported like a malformed line.
        s.error = e.what();
        s.output = {{"line", s.line}, {"error", where(options.input_name, s.line) + ": " + s.error}};
        continue;
      } catch (const std::exception& e) {
        res.verdict = Verdict::infra_error;
        res.details = {{"error", e.what()}};
      }
      s.output = s.input;
      s.output["verdict"] = to_string(res.verdict);
      s.output["score"] = res.score;
      s.output["extracted"] = res.extracted ? nlohmann::json(*res.extracted) : nlohmann::json(nullptr);
      s.output["details"] = res.details;
    }
  };
  int n = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n = std::max(1, std::min<int>(n, static_cast<int>(slots.size())));
  std::vector<std::thread> pool;
  for (int i = 1; i < n; ++i) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();

  BatchGradeStats stats;
  for (const auto& s : slots) {
    ++stats.lines;
    if (!s.error.empty()) ++stats.malformed;
    else if (s.output["verdict"] == "correct") ++stats.correct;
    else if (s.output["verdict"] == "infra_error") ++stats.infra_errors;
    out << s.output.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }
  out.flush();
  return stats;
}

}  // namespace reval
