// Replay backend implementation (contract in model/backends/replay_backend.hpp).
//
// Theory of operation: construction streams the file through for_each_jsonl_file, validates each line into an
// Entry and files it under key task + '\0' + problem_id -> sample_index. Auto indices use a per-key counter of
// the lines that had no explicit sample_index. The maps are never modified after the constructor, so generate()
// only reads them.
#include "model/backends/replay_backend.hpp"

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>

#include "base/error.hpp"
#include "base/jsonl.hpp"

namespace reval {
namespace {

using nlohmann::json;

struct Entry {
  std::string text;
  FinishReason finish = FinishReason::stop;
  std::int64_t prompt_tokens = -1;
  std::int64_t completion_tokens = -1;
  bool has_seed = false;
  std::uint64_t seed = 0;
  double latency_s = 0.0;
  std::string error;
  std::int64_t line = 0;
};

std::string key_of(const std::string& task, const std::string& problem_id) { return task + '\0' + problem_id; }

class ReplayBackend final : public Backend {
 public:
  explicit ReplayBackend(const BackendOptions& opts) : file_(opts.replay_file), model_(opts.model) {
    if (file_.empty()) throw Error("replay backend: no replay file given");
    if (model_.empty()) model_ = "replay:" + file_;
    std::unordered_map<std::string, int> next_auto;
    for_each_jsonl_file(file_, [&](JsonlLine& l) { load_line(l, next_auto); });
  }

  BackendInfo info() const override {
    BackendInfo i;
    i.backend = "replay";
    i.model = model_;
    i.engine_version = "replay";
    i.device = "none";
    return i;
  }

  int max_concurrency() const override { return 256; }

  std::vector<Completion> generate(const GenerationRequest& req,
                                   const std::function<void(const Completion&)>& on_sample) override {
    std::vector<Completion> out;
    out.reserve(req.sample_indices.size());
    const auto it = entries_.find(key_of(req.task, req.problem_id));
    for (int idx : req.sample_indices) {
      Completion c;
      c.sample_index = idx;
      const Entry* e = nullptr;
      if (it != entries_.end()) {
        if (auto jt = it->second.find(idx); jt != it->second.end()) e = &jt->second;
      }
      if (e) {
        c.text = e->text;
        c.finish = e->finish;
        c.prompt_tokens = e->prompt_tokens;
        c.completion_tokens = e->completion_tokens;
        c.latency_s = e->latency_s;
        c.seed = e->has_seed ? e->seed : sample_seed(req.sampling.seed, req.task, req.problem_id, idx);
        c.error = e->error;
        if (!c.error.empty()) c.finish = FinishReason::error;
      } else {
        c.finish = FinishReason::error;
        c.seed = sample_seed(req.sampling.seed, req.task, req.problem_id, idx);
        c.error = "replay: no completion for " + req.task + "/" + req.problem_id + "/" + std::to_string(idx);
      }
      if (on_sample) on_sample(c);
      out.push_back(std::move(c));
    }
    return out;
  }

 private:
  [[noreturn]] void fail(std::int64_t line, std::string_view field, std::string_view msg) const {
    fail_at(file_, line, field, msg);
  }

  // Names the first string field of a line that is not valid UTF-8 (best effort, for the error message).
  std::string utf8_culprit(const std::string& raw) const {
    try {
      json v = json::parse(sanitize_utf8(raw));
      if (v.is_object())
        for (auto& [k, val] : v.items())
          if ((val.is_string() && val.get_ref<const std::string&>().find("\xEF\xBF\xBD") != std::string::npos) ||
              k.find("\xEF\xBF\xBD") != std::string::npos)
            return k;
    } catch (const std::exception&) {
    }
    return {};
  }

  const std::string& req_string(const json& obj, const char* field, std::int64_t line) const {
    auto it = obj.find(field);
    if (it == obj.end()) fail(line, field, "missing required field");
    if (!it->is_string()) fail(line, field, std::string("expected a string, got ") + it->type_name());
    return it->get_ref<const std::string&>();
  }

  // Optional integer token count: absent/null -> -1; must be an integer >= -1.
  std::int64_t opt_count(const json& obj, const char* field, std::int64_t line) const {
    auto it = obj.find(field);
    if (it == obj.end() || it->is_null()) return -1;
    if (!it->is_number_integer()) fail(line, field, std::string("expected an integer, got ") + it->type_name());
    if (it->is_number_unsigned()) {
      auto u = it->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) fail(line, field, "out of range");
      return static_cast<std::int64_t>(u);
    }
    auto v = it->get<std::int64_t>();
    if (v < -1) fail(line, field, "must be >= -1");
    return v;
  }

  void load_line(JsonlLine& l, std::unordered_map<std::string, int>& next_auto) {
    if (!l.error.empty()) {
      std::string field = l.error == "invalid UTF-8" ? utf8_culprit(l.raw) : std::string();
      fail(l.line, field, l.error);
    }
    const json& obj = *l.value;
    if (!obj.is_object()) fail(l.line, "", std::string("expected a JSON object, got ") + obj.type_name());

    const std::string& task = req_string(obj, "task", l.line);
    const std::string& problem_id = req_string(obj, "problem_id", l.line);
    Entry e;
    e.line = l.line;
    e.text = req_string(obj, "completion", l.line);

    const std::string key = key_of(task, problem_id);
    int index = 0;
    if (auto it = obj.find("sample_index"); it != obj.end() && !it->is_null()) {
      if (!it->is_number_integer())
        fail(l.line, "sample_index", std::string("expected an integer, got ") + it->type_name());
      if (it->is_number_unsigned() ? it->get<std::uint64_t>() > static_cast<std::uint64_t>(
                                                                   std::numeric_limits<int>::max())
                                   : (it->get<std::int64_t>() < 0 ||
                                      it->get<std::int64_t>() > std::numeric_limits<int>::max()))
        fail(l.line, "sample_index", "must be an integer in [0, 2^31)");
      index = static_cast<int>(it->get<std::int64_t>());
    } else {
      index = next_auto[key]++;
    }

    if (auto it = obj.find("finish_reason"); it != obj.end() && !it->is_null()) {
      if (!it->is_string()) fail(l.line, "finish_reason", std::string("expected a string, got ") + it->type_name());
      const auto& f = it->get_ref<const std::string&>();
      if (f == "stop") e.finish = FinishReason::stop;
      else if (f == "length") e.finish = FinishReason::length;
      else if (f == "error") e.finish = FinishReason::error;
      else fail(l.line, "finish_reason", "expected \"stop\", \"length\" or \"error\", got \"" + f + "\"");
    }
    e.prompt_tokens = opt_count(obj, "prompt_tokens", l.line);
    e.completion_tokens = opt_count(obj, "completion_tokens", l.line);
    if (auto it = obj.find("seed"); it != obj.end() && !it->is_null()) {
      if (!it->is_number_integer() || (!it->is_number_unsigned() && it->get<std::int64_t>() < 0))
        fail(l.line, "seed", "expected an unsigned integer");
      e.has_seed = true;
      e.seed = it->get<std::uint64_t>();
    }
    if (auto it = obj.find("latency_s"); it != obj.end() && !it->is_null()) {
      if (!it->is_number()) fail(l.line, "latency_s", std::string("expected a number, got ") + it->type_name());
      e.latency_s = it->get<double>();
      if (!(e.latency_s >= 0)) fail(l.line, "latency_s", "must be >= 0");
    }
    if (auto it = obj.find("error"); it != obj.end() && !it->is_null()) {
      if (!it->is_string()) fail(l.line, "error", std::string("expected a string, got ") + it->type_name());
      e.error = it->get<std::string>();
    }
    if (e.finish == FinishReason::error && e.error.empty()) e.error = "replay: recorded sample has finish_reason error";

    auto& slot = entries_[key];
    if (auto dup = slot.find(index); dup != slot.end())
      fail(l.line, "sample_index",
           "duplicate sample " + task + "/" + problem_id + "/" + std::to_string(index) + " (first at line " +
               std::to_string(dup->second.line) + ")");
    slot.emplace(index, std::move(e));
  }

  std::string file_;
  std::string model_;
  std::unordered_map<std::string, std::map<int, Entry>> entries_;
};

}  // namespace

std::unique_ptr<Backend> make_replay_backend(const BackendOptions& opts) { return std::make_unique<ReplayBackend>(opts); }

}  // namespace reval
