// OpenAI-compatible backend implementation (contract and behaviour in model/backends/openai_backend.hpp).
//
// Theory of operation: generate() splits the request into jobs (one job for all samples when request_n, else one
// per sample). One job runs inline in the caller's thread; several are shared between the caller and up to
// concurrency-1 helpers from a backend-wide pool of concurrency-1 threads (so the thread count stays bounded no
// matter how many callers there are). Each job does: build the JSON body -> send_with_retries() -> parse the choices -> hand each Completion to
// on_sample (serialised by a per-call mutex) and into its slot of the result vector. send_with_retries() owns the
// whole failure policy: it takes the global in-flight semaphore for exactly one HTTP attempt, classifies the
// outcome (success / retryable / fatal), sleeps with exponential backoff + jitter (or Retry-After) outside the
// semaphore, and finally returns either a parsed JSON body or an error string. A fresh httplib::Client is made per
// attempt: connection setup is negligible next to a generation, and it keeps attempts fully independent.
#include "model/backends/openai_backend.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <filesystem>
#include <mutex>
#include <memory>
#include <optional>
#include <random>
#include <thread>

#include <httplib.h>

#include "model/chat/chat_template.hpp"

#include "base/error.hpp"
#include "base/job_pool.hpp"
#include "base/jsonl.hpp"

namespace reval {

Url parse_base_url(const std::string& url) { return parse_url(url, "base_url"); }

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

class Semaphore {
 public:
  explicit Semaphore(int n) : free_(n) {}
  void acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return free_ > 0; });
    --free_;
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      ++free_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
};

struct SemaphoreGuard {
  explicit SemaphoreGuard(Semaphore& s) : s_(s) { s_.acquire(); }
  ~SemaphoreGuard() { s_.release(); }
  Semaphore& s_;
};

double jitter_factor() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.5, 1.0)(rng);
}

void set_timeout(httplib::Client& cli, double seconds, int which) {
  if (!(seconds > 0)) seconds = 1e6;
  auto sec = static_cast<time_t>(seconds);
  auto usec = static_cast<time_t>((seconds - static_cast<double>(sec)) * 1e6);
  if (which == 0) cli.set_connection_timeout(sec, usec);
  else if (which == 1) cli.set_read_timeout(sec, usec);
  else cli.set_write_timeout(sec, usec);
}

// The human-readable message a server put in an error body, else the (truncated) body itself.
std::string server_message(const std::string& body) {
  try {
    json j = json::parse(body);
    if (j.is_object()) {
      if (auto e = j.find("error"); e != j.end()) {
        if (e->is_string()) return e->get<std::string>();
        if (e->is_object()) {
          if (auto m = e->find("message"); m != e->end() && m->is_string()) return m->get<std::string>();
          return e->dump();
        }
      }
      for (const char* k : {"message", "detail"})
        if (auto m = j.find(k); m != j.end()) return m->is_string() ? m->get<std::string>() : m->dump();
    }
  } catch (const std::exception&) {
  }
  std::string s = sanitize_utf8(body.substr(0, 500));
  if (body.size() > 500) s += "...";
  return s;
}

// Retry-After in seconds (only the delta-seconds form); nullopt when absent or unparseable.
std::optional<double> retry_after(const httplib::Response& res) {
  if (!res.has_header("Retry-After")) return std::nullopt;
  const std::string v = res.get_header_value("Retry-After");
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || !std::isfinite(d) || d < 0) return std::nullopt;
  return d;
}

std::int64_t int_or(const json& obj, const char* key, std::int64_t dflt) {
  if (!obj.is_object()) return dflt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) return dflt;
  return it->get<std::int64_t>();
}

struct SendResult {
  bool ok = false;
  json body;          // parsed response when ok
  std::string error;  // why it failed when !ok
};

class OpenAIBackend final : public Backend {
 public:
  explicit OpenAIBackend(const BackendOptions& opts)
      : opts_(opts), url_(parse_base_url(opts.base_url)), sem_(std::max(1, opts.concurrency)),
        pool_(std::max(1, opts.concurrency - 1)) {
    if (opts_.endpoint != "chat" && opts_.endpoint != "completions")
      throw Error("openai backend: endpoint must be \"chat\" or \"completions\", got \"" + opts_.endpoint + "\"");
    if (opts_.concurrency < 1) throw Error("openai backend: concurrency must be >= 1");
    if (opts_.max_retries < 0) throw Error("openai backend: max_retries must be >= 0");
    if (!opts_.extra.is_null() && !opts_.extra.is_object())
      throw Error("openai backend: extra must be a JSON object");
    if (std::error_code ec; !opts_.ca_cert_file.empty() && !std::filesystem::is_regular_file(opts_.ca_cert_file, ec))
      throw Error("openai backend: ca_cert_file '" + opts_.ca_cert_file + "' is not a readable file");
    if (!opts_.chat_template.empty()) {
      chat_template_source_ = read_file(opts_.chat_template);
    }
    if (opts_.endpoint == "completions" && !opts_.render) install_default_renderer();
    path_ = url_.path + (opts_.endpoint == "chat" ? "/chat/completions" : "/completions");
    host_url_ = url_.scheme + "://" + (url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host) +
                ":" + std::to_string(url_.port);
    model_ = opts_.model;
  }

  BackendInfo info() const override {
    BackendInfo i;
    i.backend = "openai";
    {
      std::lock_guard lock(model_mu_);
      i.model = model_;
    }
    i.engine_version = "openai-compatible " + opts_.endpoint;
    i.device = opts_.base_url;
    if (opts_.endpoint == "completions") i.chat_template_id = opts_.render ? opts_.chat_template_id : "join-contents";
    else if (!opts_.chat_template.empty()) i.chat_template_id = "override:" + opts_.chat_template;
    return i;
  }

  int max_concurrency() const override { return opts_.concurrency; }

  std::vector<Completion> generate(const GenerationRequest& req,
                                   const std::function<void(const Completion&)>& on_sample) override {
    const size_t n = req.sample_indices.size();
    std::vector<Completion> out(n);
    if (n == 0) return out;
    std::mutex cb_mu;
    auto emit = [&](size_t pos, Completion c) {
      if (on_sample) {
        std::lock_guard lock(cb_mu);
        on_sample(c);
      }
      out[pos] = std::move(c);
    };

    std::string model;
    std::string model_error = resolve_model(model);
    if (!model_error.empty()) {
      for (size_t i = 0; i < n; ++i) emit(i, error_completion(req, req.sample_indices[i], model_error, 0.0));
      return out;
    }

    // Jobs: ranges [begin, end) of positions in sample_indices.
    std::vector<std::pair<size_t, size_t>> jobs;
    if (opts_.request_n) jobs.emplace_back(0, n);
    else
      for (size_t i = 0; i < n; ++i) jobs.emplace_back(i, i + 1);

    std::string prompt;
    if (opts_.endpoint == "completions") {
      if (opts_.render) {
        prompt = opts_.render(req.messages);  // misconfiguration here may throw: that is allowed
      } else {
        for (size_t i = 0; i < req.messages.size(); ++i) prompt += (i ? "\n" : "") + req.messages[i].content;
      }
    }

    if (jobs.size() == 1) {
      run_job(req, model, prompt, jobs[0].first, jobs[0].second, emit);
      return out;
    }

    // Several jobs: the caller and up to concurrency-1 pool helpers pull jobs from a shared counter. Helpers hold
    // the state by shared_ptr, so one that starts after every job was taken (or after the caller returned) just
    // finds nothing to do; the caller waits only until every job has finished, so references to the caller's
    // stack (req, emit) are never used after generate() returns.
    struct CallState {
      std::vector<std::pair<size_t, size_t>> jobs;
      std::atomic<size_t> next{0};
      std::mutex mu;
      std::condition_variable cv;
      size_t done = 0;
      std::exception_ptr failure;
      std::function<void(size_t)> run;  // valid while done < jobs.size()
    };
    auto state = std::make_shared<CallState>();
    state->jobs = std::move(jobs);
    state->run = [&, st = state.get()](size_t j) {
      run_job(req, model, prompt, st->jobs[j].first, st->jobs[j].second, emit);
    };
    auto drain = [](const std::shared_ptr<CallState>& st) {
      for (size_t j; (j = st->next.fetch_add(1)) < st->jobs.size();) {
        std::exception_ptr err;
        try {
          st->run(j);
        } catch (...) {
          err = std::current_exception();
        }
        std::lock_guard lock(st->mu);
        if (err && !st->failure) st->failure = err;
        if (++st->done == st->jobs.size()) st->cv.notify_all();
      }
    };
    const size_t helpers = std::min(state->jobs.size(), static_cast<size_t>(opts_.concurrency)) - 1;
    for (size_t h = 0; h < helpers; ++h) pool_.submit([state, drain] { drain(state); });
    drain(state);
    std::unique_lock lock(state->mu);
    state->cv.wait(lock, [&] { return state->done == state->jobs.size(); });
    if (state->failure) std::rethrow_exception(state->failure);
    return out;
  }

 private:
  // Completions endpoint without a caller-supplied renderer: use the chat template of the model directory when
  // `model` names one (vLLM serves a local checkpoint under its path by default), with the chat_template file as
  // override; else the chat_template file alone (no bos/eos tokens known); else leave render empty (join).
  void install_default_renderer() {
    std::shared_ptr<const ChatTemplate> tmpl;
    std::error_code ec;
    if (!opts_.model.empty() && std::filesystem::is_directory(opts_.model, ec))
      tmpl = ChatTemplate::from_model_dir(opts_.model, opts_.chat_template);
    else if (!opts_.chat_template.empty())
      tmpl = ChatTemplate::parse(chat_template_source_, opts_.chat_template);
    if (!tmpl) return;
    opts_.render = [tmpl](const std::vector<ChatMessage>& messages) {
      nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
      for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
      return tmpl->render_ordered(msgs, /*add_generation_prompt=*/true);
    };
    if (opts_.chat_template_id.empty()) opts_.chat_template_id = tmpl->source_hash();
  }

  Completion error_completion(const GenerationRequest& req, int index, const std::string& why, double latency,
                              std::optional<std::uint64_t> seed = std::nullopt) const {
    Completion c;
    c.sample_index = index;
    c.finish = FinishReason::error;
    c.error = why;
    c.latency_s = latency;
    c.seed = seed ? *seed : sample_seed(req.sampling.seed, req.task, req.problem_id, index);
    return c;
  }

  // Fills `model` with the served model name, resolving it from GET /models once. Returns "" or an error.
  std::string resolve_model(std::string& model) {
    {
      std::lock_guard lock(model_mu_);
      if (!model_.empty()) {
        model = model_;
        return {};
      }
    }
    std::lock_guard resolve_lock(resolve_mu_);  // one resolver at a time; the others then see the result
    {
      std::lock_guard lock(model_mu_);
      if (!model_.empty()) {
        model = model_;
        return {};
      }
    }
    SendResult r = send_with_retries(url_.path + "/models", nullptr);
    if (!r.ok) return "openai: could not determine the served model (set the model name): " + r.error;
    const json& data = r.body.is_object() && r.body.contains("data") ? r.body["data"] : json();
    if (!data.is_array() || data.empty() || !data[0].is_object() || !data[0].contains("id") ||
        !data[0]["id"].is_string())
      return "openai: GET " + url_.path + "/models returned no model id (set the model name)";
    std::lock_guard lock(model_mu_);
    model_ = data[0]["id"].get<std::string>();
    model = model_;
    return {};
  }

  json build_body(const GenerationRequest& req, const std::string& model, const std::string& prompt, size_t count,
                  std::uint64_t seed) const {
    const SamplingParams& s = req.sampling;
    json body = json::object();
    body["model"] = model;
    if (opts_.endpoint == "chat") {
      json msgs = json::array();
      for (const auto& m : req.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
      body["messages"] = std::move(msgs);
      if (!chat_template_source_.empty()) body["chat_template"] = chat_template_source_;
    } else {
      body["prompt"] = prompt;
    }
    body["temperature"] = s.temperature;
    body["top_p"] = s.top_p;
    body["max_tokens"] = s.max_new_tokens;
    body["seed"] = seed;
    body["n"] = count;
    if (!s.stop.empty()) body["stop"] = s.stop;
    if (s.top_k > 0) body["top_k"] = s.top_k;
    if (s.min_p > 0) body["min_p"] = s.min_p;
    if (opts_.extra.is_object() && !opts_.extra.empty()) body.merge_patch(opts_.extra);
    return body;
  }

  template <class Emit>
  void run_job(const GenerationRequest& req, const std::string& model, const std::string& prompt, size_t begin,
               size_t end, Emit& emit) {
    const size_t count = end - begin;
    const std::uint64_t seed = sample_seed(req.sampling.seed, req.task, req.problem_id, req.sample_indices[begin]);
    const json body = build_body(req, model, prompt, count, seed);
    const auto t0 = Clock::now();
    SendResult r = send_with_retries(path_, &body);
    const double latency = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!r.ok) {
      for (size_t p = begin; p < end; ++p) emit(p, error_completion(req, req.sample_indices[p], r.error, latency, seed));
      return;
    }
    std::vector<std::optional<Completion>> got(count);
    const json& choices = r.body["choices"];
    const json usage = r.body.contains("usage") && r.body["usage"].is_object() ? r.body["usage"] : json::object();
    const std::int64_t prompt_tokens = int_or(usage, "prompt_tokens", -1);
    const std::int64_t total_completion = int_or(usage, "completion_tokens", -1);
    for (size_t ci = 0; ci < choices.size(); ++ci) {
      const json& ch = choices[ci];
      std::int64_t idx = int_or(ch, "index", static_cast<std::int64_t>(ci));
      if (idx < 0 || static_cast<size_t>(idx) >= count || got[idx]) continue;  // stray or duplicate choice
      Completion c;
      c.sample_index = req.sample_indices[begin + idx];
      c.seed = seed;
      c.latency_s = latency;
      c.prompt_tokens = prompt_tokens;
      std::int64_t own = int_or(ch, "completion_tokens", -1);
      if (own < 0 && ch.contains("usage")) own = int_or(ch["usage"], "completion_tokens", -1);
      c.completion_tokens = own >= 0 ? own : (count == 1 ? total_completion : -1);
      c.text = choice_text(ch);
      std::string fr = ch.contains("finish_reason") && ch["finish_reason"].is_string()
                           ? ch["finish_reason"].get<std::string>() : std::string();
      if (no_text(ch)) {
        // `"content": null` and no reasoning: the server produced nothing we could grade (a refusal by a content
        // filter, a tool call, a server bug). That is not the model's empty answer: infra_error, with the reason.
        c.finish = FinishReason::error;
        c.error = "openai: the choice has no text (content is null" +
                  std::string(fr.empty() ? ", no finish_reason)" : ", finish_reason \"" + fr + "\")");
      } else if (fr == "length" || fr == "max_tokens") {
        c.finish = FinishReason::length;
      } else if (fr == "abort" || fr == "error") {
        c.finish = FinishReason::error;
        c.error = "openai: server finished the choice with finish_reason \"" + fr + "\"";
      } else {
        c.finish = FinishReason::stop;
      }
      got[idx] = std::move(c);
    }
    for (size_t k = 0; k < count; ++k) {
      const size_t p = begin + k;
      if (got[k]) emit(p, std::move(*got[k]));
      else
        emit(p, error_completion(req, req.sample_indices[p],
                                 "openai: response had no choice with index " + std::to_string(k) + " (asked for n=" +
                                     std::to_string(count) + ")",
                                 latency, seed));
    }
  }

  static std::string str_field(const json& obj, const char* key) {
    if (!obj.is_object()) return {};
    auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
  }

  // True when the choice carries no text field at all (null or missing content and no reasoning). An empty
  // string is a real (empty) answer.
  bool no_text(const json& ch) const {
    auto is_text = [](const json& obj, const char* key) {
      return obj.is_object() && obj.contains(key) && obj[key].is_string();
    };
    if (opts_.endpoint == "completions" || !ch.contains("message")) return !is_text(ch, "text");
    const json& msg = ch["message"];
    return !is_text(msg, "content") && !is_text(msg, "reasoning_content") && !is_text(msg, "reasoning");
  }

  std::string choice_text(const json& ch) const {
    if (opts_.endpoint == "completions" || !ch.contains("message")) return str_field(ch, "text");
    const json& msg = ch["message"];
    std::string content = str_field(msg, "content");
    std::string reasoning = str_field(msg, "reasoning_content");
    if (reasoning.empty()) reasoning = str_field(msg, "reasoning");
    if (!reasoning.empty()) return "<think>\n" + reasoning + "\n</think>\n" + content;
    return content;
  }

  // Checks that a 2xx body is a usable response. Returns "" if fine.
  std::string validate(const json& body, bool is_post) const {
    if (!body.is_object()) return "response is not a JSON object";
    if (!is_post) return {};
    auto it = body.find("choices");
    if (it == body.end() || !it->is_array()) {
      if (body.contains("error")) return "server error: " + server_message(body.dump());
      return "response has no 'choices' array";
    }
    for (const auto& ch : *it)
      if (!ch.is_object()) return "a choice is not a JSON object";
    return {};
  }

  // The API key from the configured environment variable, surrounding whitespace (a trailing newline from
  // `export KEY=$(cat file)`) trimmed; "" when unset.
  std::string api_key() const {
    if (opts_.api_key_env.empty()) return {};
    const char* raw = std::getenv(opts_.api_key_env.c_str());
    if (!raw) return {};
    std::string key = raw;
    const char* ws = " \t\r\n";
    key.erase(0, key.find_first_not_of(ws));
    key.erase(key.find_last_not_of(ws) + 1);
    return key;
  }

  // One logical request with the retry policy. body == nullptr: GET, else POST of *body.
  SendResult send_with_retries(const std::string& path, const json* body) {
    const std::string payload = body ? body->dump(-1, ' ', false, json::error_handler_t::replace) : std::string();
    const std::string what = std::string(body ? "POST " : "GET ") + opts_.base_url + path.substr(url_.path.size());
    httplib::Headers headers;
    if (std::string key = api_key(); !key.empty()) headers.emplace("Authorization", "Bearer " + key);
    headers.emplace("Accept", "application/json");

    std::string last_error;
    const int attempts = 1 + std::max(0, opts_.max_retries);
    for (int attempt = 0; attempt < attempts; ++attempt) {
      std::optional<double> wait_hint;
      bool retryable = true;
      {
        SemaphoreGuard guard(sem_);
        httplib::Client cli(host_url_);
        set_timeout(cli, opts_.connect_timeout_s, 0);
        set_timeout(cli, opts_.timeout_s, 1);
        set_timeout(cli, opts_.timeout_s, 2);
        cli.set_keep_alive(false);
        if (url_.scheme == "https") {
          cli.enable_server_certificate_verification(true);
          if (!opts_.ca_cert_file.empty()) cli.set_ca_cert_path(opts_.ca_cert_file);
        }
        httplib::Result res = body ? cli.Post(path, headers, payload, "application/json") : cli.Get(path, headers);
        if (!res) {
          last_error = "connection error: " + httplib::to_string(res.error());
        } else if (res->status >= 200 && res->status < 300) {
          try {
            json parsed = json::parse(res->body);
            std::string bad = validate(parsed, body != nullptr);
            if (bad.empty()) return SendResult{true, std::move(parsed), {}};
            last_error = "HTTP " + std::to_string(res->status) + " but " + bad;
          } catch (const json::exception& e) {
            last_error = "HTTP " + std::to_string(res->status) + " with a malformed JSON body (" +
                         std::string(e.what()).substr(0, 200) + ")";
          }
        } else {
          last_error = "HTTP " + std::to_string(res->status) + ": " + server_message(res->body);
          const int st = res->status;
          retryable = st == 429 || st == 408 || st >= 500;
          if (retryable) wait_hint = retry_after(res.value());
        }
      }
      if (!retryable)
        return SendResult{false, {}, "openai: " + what + " failed (not retried): " + last_error};
      if (attempt + 1 < attempts) {
        double delay = wait_hint ? std::min(*wait_hint, opts_.backoff_max_s)
                                 : std::min(opts_.backoff_max_s, opts_.backoff_initial_s * std::pow(2.0, attempt)) *
                                       jitter_factor();
        if (opts_.log) {
          char secs[32];
          std::snprintf(secs, sizeof secs, "%.2f", delay);
          opts_.log("openai: " + what + " attempt " + std::to_string(attempt + 1) + "/" + std::to_string(attempts) +
                    " failed: " + last_error + "; retrying in " + secs + " s");
        }
        if (delay > 0) std::this_thread::sleep_for(std::chrono::duration<double>(delay));
      }
    }
    return SendResult{false, {}, "openai: " + what + " failed after " + std::to_string(attempts) +
                                     (attempts == 1 ? " attempt: " : " attempts: ") + last_error};
  }

  BackendOptions opts_;
  Url url_;
  std::string path_;
  std::string host_url_;
  std::string chat_template_source_;
  Semaphore sem_;
  mutable std::mutex model_mu_;
  std::mutex resolve_mu_;
  std::string model_;
  JobPool pool_;  // helpers draining a request's jobs; last member: joined before anything its jobs touch
};

}  // namespace

std::unique_ptr<Backend> make_openai_backend(const BackendOptions& opts) { return std::make_unique<OpenAIBackend>(opts); }

}  // namespace reval
