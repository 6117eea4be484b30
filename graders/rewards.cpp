// See rewards.hpp: routing, ground truth -> items, the composite reward and the batch scorer on the job pool.
#include "graders/rewards.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/job_pool.hpp"

namespace reval::rewards {

// ---------------------------------------------------------------------------------------------------------------
// Routing.

namespace {

struct SourceEntry {
  const char* pattern;  // exact name, or a prefix followed by '*'
  const char* grader;
  const char* choices;  // choice: default letters (nullptr: the grader's default, ABCD)
};

// verl's data_source names (verl/utils/reward_score), the Hub ids the datasets go by, and reval's own task names.
constexpr SourceEntry kSources[] = {
    {"HuggingFaceH4/MATH-500", "math", nullptr},
    {"math500", "math", nullptr},
    {"lighteval/MATH", "math", nullptr},
    {"DigitalLearningGmbH/MATH-lighteval", "math", nullptr},
    {"math_dapo", "math", nullptr},
    {"BytedTsinghua-SIA/DAPO-Math-17k", "math", nullptr},
    {"aime*", "math", nullptr},
    {"amc*", "math", nullptr},
    {"numina_*", "math", nullptr},
    {"AI-MO/NuminaMath*", "math", nullptr},
    {"open-r1/OpenR1-Math*", "math", nullptr},
    {"agentica-org/DeepScaleR*", "math", nullptr},
    {"openai/gsm8k", "math", nullptr},
    {"gsm8k", "math", nullptr},
    {"gpqa*", "choice", nullptr},
    {"Idavidrein/gpqa", "choice", nullptr},
    {"mmlu_pro", "choice", "ABCDEFGHIJ"},
    {"TIGER-Lab/MMLU-Pro", "choice", "ABCDEFGHIJ"},
    {"mmlu*", "choice", nullptr},
    {"cais/mmlu", "choice", nullptr},
    {"livecodebench*", "code", nullptr},
    {"codeforces", "code", nullptr},
    {"open-r1/codeforces*", "code", nullptr},
    {"codecontests", "code", nullptr},
    {"deepmind/code_contests", "code", nullptr},
    {"apps", "code", nullptr},
    {"codeparrot/apps", "code", nullptr},
    {"taco", "code", nullptr},
    {"BAAI/TACO", "code", nullptr},
    {"humaneval", "code", nullptr},
    {"openai_humaneval", "code", nullptr},
    {"openai/openai_humaneval", "code", nullptr},
};

bool matches(std::string_view pattern, std::string_view name) {
  if (!pattern.empty() && pattern.back() == '*') {
    pattern.remove_suffix(1);
    return name.substr(0, pattern.size()) == pattern;
  }
  return name == pattern;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& source_table() {
  static const std::vector<std::pair<std::string, std::string>> table = [] {
    std::vector<std::pair<std::string, std::string>> t = {{"math", "math"}, {"choice", "choice"}, {"code", "code"}};
    for (const auto& e : kSources) t.emplace_back(e.pattern, e.grader);
    return t;
  }();
  return table;
}

Route route(std::string_view s) {
  if (s == "math" || s == "choice" || s == "code") return Route{std::string(s), nlohmann::json::object(), std::string(s)};
  for (const auto& e : kSources) {
    if (!matches(e.pattern, s)) continue;
    Route r{e.grader, nlohmann::json::object(), e.pattern};
    if (e.choices) r.fields["choices"] = e.choices;
    return r;
  }
  std::string known;
  for (const auto& [pattern, grader] : source_table()) known += (known.empty() ? "" : ", ") + pattern;
  throw Error(fmt::format("data source '{}': no reward is defined for it (known: {})", s, known));
}

// ---------------------------------------------------------------------------------------------------------------
// Options.

RewardOptions RewardOptions::from_json(const nlohmann::json& j) {
  RewardOptions o;
  if (j.is_null()) return o;
  if (!j.is_object()) fail_at("", 0, "reward options", std::string("expected an object, got ") + j.type_name());
  auto number = [](const std::string& key, const nlohmann::json& v) {
    if (!v.is_number()) fail_at("", 0, key, std::string("expected a number, got ") + v.type_name());
    return v.get<double>();
  };
  auto integer = [](const std::string& key, const nlohmann::json& v) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0)
      fail_at("", 0, key, "expected a non-negative integer, got " + v.dump());
    return v.get<std::int64_t>();
  };
  auto boolean = [](const std::string& key, const nlohmann::json& v) {
    if (!v.is_boolean()) fail_at("", 0, key, std::string("expected true or false, got ") + v.type_name());
    return v.get<bool>();
  };
  for (const auto& [key, v] : j.items()) {
    if (key == "accuracy_weight") o.weights.accuracy = number(key, v);
    else if (key == "format_weight") o.weights.format = number(key, v);
    else if (key == "language_weight") o.weights.language = number(key, v);
    else if (key == "length_weight") o.weights.length = number(key, v);
    else if (key == "weights") {
      if (!v.is_object()) fail_at("", 0, key, std::string("expected an object, got ") + v.type_name());
      for (const auto& [w, x] : v.items()) {
        if (w == "accuracy") o.weights.accuracy = number("weights." + w, x);
        else if (w == "format") o.weights.format = number("weights." + w, x);
        else if (w == "language") o.weights.language = number("weights." + w, x);
        else if (w == "length") o.weights.length = number("weights." + w, x);
        else fail_at("", 0, "weights." + w, "unknown component (known: accuracy, format, language, length)");
      }
    } else if (key == "require_think") o.format.require_think = boolean(key, v);
    else if (key == "max_length") o.length.max_length = integer(key, v);
    else if (key == "length_buffer") o.length.buffer = integer(key, v);
    else if (key == "language") {
      if (!v.is_string() && !v.is_null()) fail_at("", 0, key, std::string("expected a string, got ") + v.type_name());
      o.language = v.is_string() ? v.get<std::string>() : std::string();
      if (!o.language.empty()) target_scripts(o.language);  // unknown targets fail here, not per item
    } else if (key == "deadline_s") {
      o.deadline_s = number(key, v);
      if (o.deadline_s < 0) fail_at("", 0, key, "expected a number >= 0");
    } else if (key == "undecided_is_missing") o.undecided_is_missing = boolean(key, v);
    else
      fail_at("", 0, key,
              "unknown reward option (known: accuracy_weight, format_weight, language_weight, length_weight, "
              "weights, require_think, max_length, length_buffer, language, deadline_s, undecided_is_missing)");
  }
  return o;
}

nlohmann::json RewardOptions::to_json() const {
  return {{"weights",
           {{"accuracy", weights.accuracy}, {"format", weights.format}, {"language", weights.language},
            {"length", weights.length}}},
          {"require_think", format.require_think},
          {"max_length", length.max_length},
          {"length_buffer", length.buffer},
          {"language", language},
          {"deadline_s", deadline_s},
          {"undecided_is_missing", undecided_is_missing}};
}

// ---------------------------------------------------------------------------------------------------------------
// Ground truth -> item.

namespace {

// APPS/PRIME-style {"inputs", "outputs", "fn_name"} -> the code grader's tests. Call-based inputs that are lists
// of arguments become newline-separated JSON (LiveCodeBench's form); outputs that are all one-element lists (APPS
// wraps return values so) are unwrapped.
nlohmann::json apps_tests(const nlohmann::json& gt, bool functional) {
  const auto& in = gt.at("inputs");
  const auto& out = gt.at("outputs");
  if (!in.is_array() || !out.is_array())
    fail_at("", 0, "ground_truth.inputs", "inputs and outputs must be lists");
  if (in.size() != out.size())
    fail_at("", 0, "ground_truth.outputs",
            fmt::format("{} inputs but {} outputs", in.size(), out.size()));
  if (in.empty()) fail_at("", 0, "ground_truth.inputs", "no tests");
  bool wrapped = functional && std::all_of(out.begin(), out.end(), [](const auto& o) {
    return o.is_array() && o.size() == 1;
  });
  auto text = [](const nlohmann::json& v, bool json_args) -> std::string {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) {
      std::string s;
      for (std::size_t k = 0; k < v.size(); ++k) {
        if (k) s += '\n';
        s += json_args || !v[k].is_string() ? v[k].dump() : v[k].get<std::string>();
      }
      return s;
    }
    return v.dump();
  };
  nlohmann::json tests = nlohmann::json::array();
  for (std::size_t i = 0; i < in.size(); ++i) {
    nlohmann::json t;
    t["input"] = text(in[i], functional);
    if (functional) t["output"] = wrapped ? out[i][0].dump() : (out[i].is_string() ? out[i].get<std::string>() : out[i].dump());
    else t["output"] = text(out[i], false);
    tests.push_back(std::move(t));
  }
  return tests;
}

nlohmann::json code_fields(const nlohmann::json& given) {
  nlohmann::json gt = given;
  if (gt.is_string()) {
    gt = nlohmann::json::parse(given.get<std::string>(), nullptr, false);
    if (gt.is_discarded())
      fail_at("", 0, "ground_truth", "code ground truth must be a JSON object of tests (the string is not JSON)");
  }
  if (!gt.is_object())
    fail_at("", 0, "ground_truth", std::string("code ground truth must be a JSON object of tests, got ") + gt.type_name());
  if (gt.contains("inputs") || gt.contains("outputs")) {
    if (!gt.contains("inputs") || !gt.contains("outputs"))
      fail_at("", 0, "ground_truth", "APPS-style tests need both 'inputs' and 'outputs'");
    const bool functional = gt.contains("fn_name") && gt["fn_name"].is_string() && !gt["fn_name"].get<std::string>().empty();
    nlohmann::json fields = gt;
    fields.erase("inputs");
    fields.erase("outputs");
    if (!functional) fields.erase("fn_name");
    fields["tests"] = apps_tests(gt, functional);
    return fields;
  }
  if (!gt.contains("tests") && !(gt.contains("test") && gt.contains("entry_point")))
    fail_at("", 0, "ground_truth",
            "code ground truth needs 'tests', 'test' and 'entry_point' (HumanEval), or 'inputs' and 'outputs'");
  return gt;
}

}  // namespace

RewardItem item_from_ground_truth(std::string_view source, std::string response, const nlohmann::json& ground_truth,
                                  const nlohmann::json& extra_info) {
  return item_from_ground_truth(route(source), source, std::move(response), ground_truth, extra_info);
}

RewardItem item_from_ground_truth(const Route& r, std::string_view source, std::string response,
                                  const nlohmann::json& ground_truth, const nlohmann::json& extra_info) {
  RewardItem it;
  it.source = std::string(source);
  it.response = std::move(response);
  if (r.grader == "code") {
    it.fields = code_fields(ground_truth);
  } else {
    const nlohmann::json* gold = &ground_truth;
    if (ground_truth.is_object()) {
      if (ground_truth.contains("gold")) gold = &ground_truth["gold"];
      else if (ground_truth.contains("answer")) gold = &ground_truth["answer"];
      else fail_at("", 0, "ground_truth", "an object ground truth needs a 'gold' or 'answer' key");
    }
    gold_answers(*gold);  // validates: throws naming "gold"/"gold[i]"
    if (gold->is_null()) fail_at("", 0, "ground_truth", "missing (null)");
    it.gold = *gold;
  }
  if (extra_info.is_null()) return it;
  if (!extra_info.is_object())
    fail_at("", 0, "extra_info", std::string("expected an object, got ") + extra_info.type_name());
  if (auto f = extra_info.find("fields"); f != extra_info.end() && !f->is_null()) {
    if (!f->is_object()) fail_at("", 0, "extra_info.fields", "expected an object");
    it.fields.update(*f);
  }
  for (const char* key : {"choices", "options"})
    if (auto f = extra_info.find(key); f != extra_info.end() && !f->is_null() && r.grader == "choice")
      it.fields[key] = *f;
  if (auto f = extra_info.find("finish_reason"); f != extra_info.end() && !f->is_null()) {
    if (!f->is_string()) fail_at("", 0, "extra_info.finish_reason", "expected a string (stop, length, ...)");
    it.finish = finish_reason_from_string(f->get<std::string>());
  }
  if (auto f = extra_info.find("chat_prompt"); f != extra_info.end() && f->is_string()) it.prompt = f->get<std::string>();
  if (auto f = extra_info.find("length"); f != extra_info.end() && !f->is_null()) {
    if (!f->is_number_integer()) fail_at("", 0, "extra_info.length", "expected an integer (tokens)");
    it.length = f->get<std::int64_t>();
  }
  return it;
}

std::string item_from_line(const nlohmann::json& line, const std::string& grader, RewardItem& out) {
  GradeRequest req;
  std::string error = request_from_line(line, grader, req);
  if (!error.empty()) return error;
  out.source = grader;
  out.response = std::move(req.response);
  out.gold = nlohmann::json::array();
  for (auto& g : req.gold) out.gold.push_back(std::move(g));
  out.fields = std::move(req.fields);
  out.finish = req.finish;
  if (auto p = out.fields.find("prompt"); p != out.fields.end() && p->is_string() && grader != "code")
    out.prompt = p->get<std::string>();
  return "";
}

// ---------------------------------------------------------------------------------------------------------------
// Results.

nlohmann::json RewardResult::to_json() const {
  nlohmann::json components = {{"accuracy", accuracy}};
  if (format) components["format"] = *format;
  if (language) components["language"] = *language;
  if (length) components["length"] = *length;
  return {{"reward", reward ? nlohmann::json(*reward) : nlohmann::json(nullptr)},
          {"verdict", std::string(to_string(verdict))},
          {"accuracy", accuracy},
          {"components", std::move(components)},
          {"extracted", extracted ? nlohmann::json(*extracted) : nlohmann::json(nullptr)},
          {"source", source},
          {"grader", grader},
          {"grader_version", grader_version},
          {"missing", missing.empty() ? nlohmann::json(nullptr) : nlohmann::json(missing)},
          {"details", details}};
}

void BatchStats::add(const RewardResult& r) {
  ++items;
  ++verdicts[std::string(to_string(r.verdict))];
  if (r.missing.empty()) return;
  ++missing;
  if (r.missing == "undecided") ++undecided;
  else if (r.missing == "deadline") ++deadline;
  else ++infra_errors;
}

nlohmann::json BatchStats::to_json() const {
  return {{"items", items},         {"missing", missing},   {"infra_errors", infra_errors},
          {"undecided", undecided}, {"deadline", deadline}, {"verdicts", verdicts}};
}

namespace {
std::int64_t code_points(std::string_view s) {
  std::int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}
}  // namespace

RewardResult make_result(const RewardItem& item, const Route& route, const GradedSample& graded,
                         const RewardOptions& options) {
  RewardResult r;
  r.source = item.source;
  r.grader = graded.grader;
  r.grader_version = graded.grader_version;
  r.verdict = graded.result.verdict;
  r.extracted = graded.result.extracted;
  r.details = graded.result.details.is_object() ? graded.result.details : nlohmann::json::object();
  r.accuracy = r.verdict == Verdict::infra_error ? 0.0 : std::clamp(graded.result.score, 0.0, 1.0);

  FormatCheck fc = check_format(item.response, route.grader, item.prompt, item.finish);
  r.format = fc.score(options.format);
  nlohmann::json fd = {{"think_closed", fc.think_closed}, {"answer_marked", fc.answer_marked}};
  if (!fc.reason.empty()) fd["reason"] = fc.reason;
  r.details["format"] = std::move(fd);
  if (!options.language.empty()) {
    LanguageCheck lc = check_language(item.response, options.language);
    r.language = lc.share;
    r.details["language"] = {{"target", options.language}, {"words", lc.words}, {"target_words", lc.target_words},
                             {"top_script", lc.top_script}};
  }
  if (options.length.max_length > 0) {
    const std::int64_t len = item.length ? *item.length : code_points(item.response);
    r.length = length_penalty(len, options.length);
    r.details["length"] = {{"value", len}, {"unit", item.length ? "tokens" : "code_points"}};
  }

  if (r.verdict == Verdict::infra_error) r.missing = "infra_error";
  else if (options.undecided_is_missing && r.verdict != Verdict::correct && r.details.value("timeout", false))
    r.missing = "undecided";
  if (r.missing.empty()) {
    const auto& w = options.weights;
    double total = w.accuracy * r.accuracy + w.format * *r.format;
    if (r.language) total += w.language * *r.language;
    if (r.length) total += w.length * *r.length;
    r.reward = total;
  } else {
    r.accuracy = 0.0;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// The scorer.

RewardScorer::RewardScorer(nlohmann::json grader_options, int workers)
    : graders_(std::move(grader_options)), pool_(std::make_unique<JobPool>(workers)) {}

RewardScorer::~RewardScorer() { pool_.reset(); }

int RewardScorer::workers() const { return pool_->size(); }

void RewardScorer::add_route(const std::string& source, Route r) { custom_routes_[source] = std::move(r); }

Route RewardScorer::route(const std::string& source) const {
  if (auto it = custom_routes_.find(source); it != custom_routes_.end()) return it->second;
  return rewards::route(source);
}

namespace {
RewardResult missing_result(const RewardItem& item, std::string_view stage, std::string message) {
  RewardResult r;
  r.source = item.source;
  r.verdict = Verdict::infra_error;
  r.missing = stage == "deadline" ? "deadline" : "infra_error";
  r.details = {{"stage", std::string(stage)}, {"error", std::move(message)}};
  return r;
}
}  // namespace

RewardResult RewardScorer::grade_one(const RewardItem& item, const RewardOptions& options) {
  Route rt;
  try {
    rt = route(item.source);
  } catch (const std::exception& e) {
    return missing_result(item, "input", e.what());
  }
  SampleToGrade sample;
  sample.response = item.response;
  sample.gold = item.gold;
  if (rt.fields.empty()) {
    sample.fields = item.fields.is_object() ? item.fields : nlohmann::json::object();
  } else {
    sample.fields = rt.fields;
    if (item.fields.is_object()) sample.fields.update(item.fields);
  }
  sample.finish = item.finish;
  if (item.finish == FinishReason::error) sample.generation_error = "generation failed (finish_reason error)";
  GradedSample graded = graders_.grade(rt.grader, sample);
  try {
    return make_result(item, rt, graded, options);
  } catch (const std::exception& e) {  // e.g. an unknown language target set past from_json()
    return missing_result(item, "input", e.what());
  }
}

RewardResult RewardScorer::score(const RewardItem& item, const RewardOptions& options) {
  return grade_one(item, options);
}

namespace {
struct BatchState {
  std::vector<RewardItem> items;
  RewardOptions options;
  std::vector<RewardResult> results;
  std::unique_ptr<std::atomic<bool>[]> done;
  std::atomic<bool> abandoned{false};
  std::mutex mu;
  std::condition_variable cv;
  std::size_t chunks_left = 0;
};
}  // namespace

std::vector<RewardResult> RewardScorer::score_batch(std::vector<RewardItem> items, const RewardOptions& options,
                                                    BatchStats* stats) {
  const int now_running = ++batches_;
  for (int seen = max_batches_.load(); now_running > seen && !max_batches_.compare_exchange_weak(seen, now_running);) {
  }
  struct Leave {
    std::atomic<int>& n;
    ~Leave() { --n; }
  } leave{batches_};

  const auto start = std::chrono::steady_clock::now();
  auto state = std::make_shared<BatchState>();
  const std::size_t n = items.size();
  state->items = std::move(items);
  state->options = options;
  state->results.resize(n);
  state->done = std::make_unique<std::atomic<bool>[]>(n);
  const std::size_t per_chunk =
      std::clamp<std::size_t>(n / (static_cast<std::size_t>(pool_->size()) * 8), 1, 256);
  const std::size_t chunks = n ? (n + per_chunk - 1) / per_chunk : 0;
  state->chunks_left = chunks;
  for (std::size_t c = 0; c < chunks; ++c) {
    pool_->submit([this, state, c, per_chunk, n] {
      const std::size_t end = std::min(n, (c + 1) * per_chunk);
      for (std::size_t i = c * per_chunk; i < end && !state->abandoned.load(std::memory_order_relaxed); ++i) {
        RewardResult r = grade_one(state->items[i], state->options);
        state->results[i] = std::move(r);
        state->done[i].store(true, std::memory_order_release);
      }
      std::lock_guard<std::mutex> lock(state->mu);
      if (--state->chunks_left == 0) state->cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(state->mu);
    if (options.deadline_s > 0) {
      const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                        std::chrono::duration<double>(options.deadline_s));
      state->cv.wait_until(lock, deadline, [&] { return state->chunks_left == 0; });
    } else {
      state->cv.wait(lock, [&] { return state->chunks_left == 0; });
    }
    if (state->chunks_left != 0) state->abandoned.store(true);
  }
  std::vector<RewardResult> out(n);
  const std::string late = fmt::format("not graded within the deadline of {} s", options.deadline_s);
  for (std::size_t i = 0; i < n; ++i) {
    if (state->done[i].load(std::memory_order_acquire)) out[i] = std::move(state->results[i]);
    else out[i] = missing_result(state->items[i], "deadline", late);
    if (stats) stats->add(out[i]);
  }
  return out;
}

}  // namespace reval::rewards
