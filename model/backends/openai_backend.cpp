// OpenAI-compatible backend implementation (contract and behaviour in model/backends/openai_backend.hpp).
//
// Theory of operation: generate() first runs discovery once (served model name, context length), renders the
// completions prompt (minus a duplicate BOS) and decides max_tokens for the problem, takes a home server from the
// ServerPool, then splits the request into jobs (one job for all samples when request_n, else one per sample).
// One job runs inline in the caller's thread; several are shared between the caller and up to concurrency-1 helpers
// from a backend-wide pool of concurrency-1 threads (so the thread count stays bounded no matter how many callers
// there are). Each job does: build the JSON body -> send_with_retries() -> parse the choices -> hand each Completion
// to on_sample (serialised by a per-call mutex) and into its slot of the result vector. send_with_retries() owns the
// whole failure policy: per attempt it asks the pool for a server (the home one unless it is out of rotation or
// just failed), takes the global in-flight semaphore for exactly one HTTP attempt, classifies the outcome (success /
// retryable / fatal; server failures are reported to the pool's breaker), sleeps with exponential backoff + jitter
// (or Retry-After) outside the semaphore unless another server can take the retry, and finally returns either a
// parsed JSON body or an error string. A fresh httplib::Client is made per attempt: connection setup is negligible
// next to a generation, and it keeps attempts fully independent.
#include "model/backends/openai_backend.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
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

#include <fmt/format.h>

#include "model/backends/server_pool.hpp"
#include "model/chat/chat_template.hpp"
#include "model/tokenizer/tokenizer.hpp"

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
  json body;             // parsed response when ok
  std::string error;     // why it failed when !ok
  bool definitive = false;  // the server answered for good: a 2xx, or a status not worth retrying (4xx)
};

// The tokenizer folder of the served model: BackendOptions::tokenizer, else `model` when it is a folder holding
// tokenizer.json or tokenizer_config.json; "" when there is none.
std::string tokenizer_folder(const BackendOptions& o) {
  std::error_code ec;
  if (!o.tokenizer.empty()) {
    if (!std::filesystem::is_directory(o.tokenizer, ec))
      throw Error("openai backend: tokenizer '" + o.tokenizer + "' is not a folder (it should hold tokenizer.json)");
    return o.tokenizer;
  }
  if (!o.model.empty() && std::filesystem::is_directory(o.model, ec) &&
      (std::filesystem::exists(std::filesystem::path(o.model) / "tokenizer.json", ec) ||
       std::filesystem::exists(std::filesystem::path(o.model) / "tokenizer_config.json", ec)))
    return o.model;
  return {};
}

ServerPoolOptions pool_options(const BackendOptions& o, std::size_t servers) {
  ServerPoolOptions p;
  p.breaker = servers > 1;
  p.failures_to_trip = o.breaker_failures;
  p.open_initial_s = o.breaker_initial_s;
  p.open_max_s = o.breaker_max_s;
  p.log = o.log;
  return p;
}

std::vector<std::string> server_urls(const BackendOptions& o) {
  return o.base_urls.empty() ? std::vector<std::string>{o.base_url} : o.base_urls;
}

class OpenAIBackend final : public Backend {
 public:
  explicit OpenAIBackend(const BackendOptions& opts)
      : opts_(opts), servers_(server_urls(opts), pool_options(opts, server_urls(opts).size())),
        sem_(std::max(1, opts.concurrency)), pool_(std::max(1, opts.concurrency - 1)) {
    if (opts_.endpoint != "chat" && opts_.endpoint != "completions")
      throw Error("openai backend: endpoint must be \"chat\" or \"completions\", got \"" + opts_.endpoint + "\"");
    if (opts_.concurrency < 1) throw Error("openai backend: concurrency must be >= 1");
    if (opts_.max_retries < 0) throw Error("openai backend: max_retries must be >= 0");
    if (opts_.context_length < 0) throw Error("openai backend: context_length must be >= 0");
    if (!opts_.extra.is_null() && !opts_.extra.is_object())
      throw Error("openai backend: extra must be a JSON object");
    if (std::error_code ec; !opts_.ca_cert_file.empty() && !std::filesystem::is_regular_file(opts_.ca_cert_file, ec))
      throw Error("openai backend: ca_cert_file '" + opts_.ca_cert_file + "' is not a readable file");
    if (!opts_.chat_template.empty()) {
      chat_template_source_ = read_file(opts_.chat_template);
    }
    load_tokenizer();
    if (opts_.endpoint == "completions" && !opts_.render) install_default_renderer();
    decide_bos();
    suffix_ = opts_.endpoint == "chat" ? "/chat/completions" : "/completions";
    model_ = !opts_.served_model_name.empty() ? opts_.served_model_name : opts_.model;
    context_length_ = opts_.context_length;
  }

  BackendInfo info() const override {
    BackendInfo i;
    i.backend = "openai";
    {
      std::lock_guard lock(model_mu_);
      i.model = model_;
    }
    i.engine_version = "openai-compatible " + opts_.endpoint;
    if (servers_.size() == 1) {
      i.device = servers_.base_url(0);
    } else {
      i.device = std::to_string(servers_.size()) + " servers:";
      for (std::size_t k = 0; k < servers_.size(); ++k) i.device += (k ? ", " : " ") + servers_.base_url(k);
    }
    if (opts_.endpoint == "completions") i.chat_template_id = opts_.render ? opts_.chat_template_id : "join-contents";
    else if (!opts_.chat_template.empty()) i.chat_template_id = "override:" + opts_.chat_template;
    json servers = json::array();
    for (std::size_t k = 0; k < servers_.size(); ++k) servers.push_back(servers_.base_url(k));
    i.details = {{"servers", servers}, {"tokenizer", tokenizer_dir_}};
    if (!opts_.served_model_name.empty()) i.details["served_model_name"] = opts_.served_model_name;
    i.details["completion_tokens"] =
        tokenizer_ ? "usage (n = 1) or the choice's own usage; else counted by re-tokenizing the text"
                   : "usage (n = 1) or the choice's own usage; else unknown (give --tokenizer DIR to count them)";
    i.details["prompt_tokens_for_max_tokens_cap"] =
        tokenizer_ ? "counted with the tokenizer" : "estimated from UTF-8 bytes (an upper bound)";
    if (opts_.context_length > 0) i.details["context_length"] = opts_.context_length;
    if (!bos_note_.is_null()) i.details["bos"] = bos_note_;
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
    auto fail_all = [&](const std::string& why) {
      for (size_t i = 0; i < n; ++i) emit(i, error_completion(req, req.sample_indices[i], why, 0.0));
      return out;
    };

    std::string model;
    if (std::string error = discover(model); !error.empty()) return fail_all(error);

    std::string prompt;
    if (opts_.endpoint == "completions") {
      if (opts_.render) {
        prompt = opts_.render(req.messages);  // misconfiguration here may throw: that is allowed
      } else {
        for (size_t i = 0; i < req.messages.size(); ++i) prompt += (i ? "\n" : "") + req.messages[i].content;
      }
      prompt = without_duplicate_bos(prompt);
    }
    // max_tokens: at most what the server's context leaves after the prompt.
    Plan plan;
    plan.max_tokens = req.sampling.max_new_tokens;
    std::string context_source;
    const std::int64_t context = context_length(&context_source);
    if (context > 0 || tokenizer_) {
      plan.prompt_tokens = prompt_tokens(req, prompt, &plan.prompt_tokens_exact);
      if (context > 0) {
        const std::int64_t room = context - plan.prompt_tokens;
        if (room < 1)
          return fail_all(fmt::format("openai: the prompt ({} tokens{}) leaves no room in the server's context "
                                      "length of {} tokens; nothing was sent",
                                      plan.prompt_tokens, plan.prompt_tokens_exact ? "" : ", estimated", context));
        if (room < plan.max_tokens) {
          note_cap(req, plan, context, context_source, room);
          plan.max_tokens = static_cast<int>(room);
        }
      }
    }

    // Jobs: ranges [begin, end) of positions in sample_indices.
    std::vector<std::pair<size_t, size_t>> jobs;
    if (opts_.request_n) jobs.emplace_back(0, n);
    else
      for (size_t i = 0; i < n; ++i) jobs.emplace_back(i, i + 1);

    // Every request of this problem goes to one home server (its prefix cache holds the prompt).
    struct Home {
      ServerPool& pool;
      size_t index;
      ~Home() { pool.release_home(index); }
    } home{servers_, servers_.take_home()};
    plan.home = home.index;

    if (jobs.size() == 1) {
      run_job(req, model, prompt, plan, jobs[0].first, jobs[0].second, emit);
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
      run_job(req, model, prompt, plan, st->jobs[j].first, st->jobs[j].second, emit);
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
  // What generate() decided for one problem's requests.
  struct Plan {
    int max_tokens = 0;
    std::int64_t prompt_tokens = -1;
    bool prompt_tokens_exact = false;
    size_t home = 0;
  };

  // The tokenizer of the served model, when a folder gives one (see BackendOptions::tokenizer).
  void load_tokenizer() {
    tokenizer_dir_ = tokenizer_folder(opts_);
    if (tokenizer_dir_.empty()) return;
    std::error_code ec;
    const auto file = std::filesystem::path(tokenizer_dir_) / "tokenizer.json";
    if (std::filesystem::exists(file, ec)) tokenizer_ = Tokenizer::from_file(file.string());
    else if (!opts_.tokenizer.empty())
      throw Error("openai backend: tokenizer folder '" + opts_.tokenizer + "' has no tokenizer.json");
    // A chat template of the folder (for counting chat prompts and rendering completions prompts), if it has one.
    try {
      template_ = ChatTemplate::from_model_dir(tokenizer_dir_, opts_.chat_template);
    } catch (const Error&) {
      template_.reset();  // a tokenizer without a chat template: prompts are then counted without the template
    }
  }

  // Completions endpoint without a caller-supplied renderer: the chat template of the tokenizer folder (with the
  // chat_template file as override); else the chat_template file alone (no bos/eos tokens known); else leave
  // render empty (join).
  void install_default_renderer() {
    std::shared_ptr<const ChatTemplate> tmpl = template_;
    if (!tmpl && !opts_.chat_template.empty()) tmpl = ChatTemplate::parse(chat_template_source_, opts_.chat_template);
    if (!tmpl) return;
    template_ = tmpl;
    opts_.render = [tmpl](const std::vector<ChatMessage>& messages) {
      nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
      for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
      return tmpl->render_ordered(msgs, /*add_generation_prompt=*/true);
    };
    if (opts_.chat_template_id.empty()) opts_.chat_template_id = tmpl->source_hash();
  }

  // Completions endpoint: servers tokenize the prompt with special tokens added (vLLM's default), so a tokenizer
  // that prepends a BOS gets one from the server. A chat template that renders the BOS text too would give the
  // model two. Decide once whether the server adds one: from the tokenizer (does encoding with special tokens
  // prepend the BOS id?), else from tokenizer_config.json's add_bos_token, else unknown (the prompt is sent as
  // rendered).
  void decide_bos() {
    if (opts_.endpoint != "completions") return;
    bos_text_ = template_ ? template_->bos_token() : std::string();
    if (bos_text_.empty() && tokenizer_) bos_text_ = tokenizer_->bos_token();
    if (bos_text_.empty()) return;
    std::string source;
    if (tokenizer_) {
      auto with = tokenizer_->encode("a", true), without = tokenizer_->encode("a", false);
      server_adds_bos_ = with.size() > without.size() && tokenizer_->bos_id() && with.front() == *tokenizer_->bos_id();
      source = "tokenizer.json (encoding with special tokens " +
               std::string(*server_adds_bos_ ? "prepends" : "does not prepend") + " the BOS)";
    } else {
      std::error_code ec;
      const auto cfg = std::filesystem::path(tokenizer_dir_) / "tokenizer_config.json";
      if (!tokenizer_dir_.empty() && std::filesystem::exists(cfg, ec)) {
        try {
          json j = json::parse(read_file(cfg.string()));
          if (j.is_object() && j.contains("add_bos_token") && j["add_bos_token"].is_boolean()) {
            server_adds_bos_ = j["add_bos_token"].get<bool>();
            source = "tokenizer_config.json add_bos_token";
          }
        } catch (const std::exception&) {
        }
      }
    }
    bos_note_ = {{"bos_token", bos_text_},
                 {"server_adds_bos", server_adds_bos_ ? json(*server_adds_bos_) : json()},
                 {"decided_from", source.empty() ? json() : json(source)}};
  }

  // The prompt without a leading BOS text when the server adds the BOS itself; logs once what is sent.
  std::string without_duplicate_bos(const std::string& prompt) {
    if (bos_text_.empty()) return prompt;
    const bool renders = prompt.compare(0, bos_text_.size(), bos_text_) == 0;
    const bool strip = renders && server_adds_bos_.value_or(false);
    std::call_once(bos_logged_, [&] {
      std::string what;
      if (!renders) what = "the rendered prompt does not start with the BOS " + bos_text_ + "; sent as rendered";
      else if (strip)
        what = "the chat template renders the BOS " + bos_text_ +
               " and the server's tokenizer adds one: the prompt is sent without it, so the model sees one BOS";
      else if (server_adds_bos_)
        what = "the chat template renders the BOS " + bos_text_ + " and the server's tokenizer adds none: sent as rendered";
      else
        what = "the chat template renders the BOS " + bos_text_ +
               " and whether the server adds another is unknown (no tokenizer.json or add_bos_token; give --tokenizer "
               "DIR): sent as rendered";
      if (opts_.log) opts_.log("openai: completions prompt: " + what);
    });
    return strip ? prompt.substr(bos_text_.size()) : prompt;
  }

  // Tokens of the prompt as the server will count them: exact with a tokenizer (and, for chat, the chat
  // template), else an upper bound (UTF-8 bytes, as every token of a byte-level BPE holds at least one byte, plus
  // an allowance for the chat template's markers and default system text).
  std::int64_t prompt_tokens(const GenerationRequest& req, const std::string& prompt, bool* exact) const {
    *exact = false;
    if (opts_.endpoint == "completions") {
      if (tokenizer_) {
        *exact = true;
        return static_cast<std::int64_t>(tokenizer_->encode(prompt, server_adds_bos_.value_or(false)).size());
      }
      return static_cast<std::int64_t>(prompt.size()) + 8;
    }
    if (tokenizer_ && template_) {
      try {
        nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
        for (const auto& m : req.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
        *exact = true;
        return static_cast<std::int64_t>(tokenizer_->encode(template_->render_ordered(msgs, true), false).size());
      } catch (const std::exception&) {
        *exact = false;
      }
    }
    std::int64_t total = 128;
    for (const auto& m : req.messages)
      total += 16 + (tokenizer_ ? static_cast<std::int64_t>(tokenizer_->encode(m.content, false).size())
                                : static_cast<std::int64_t>(m.content.size()));
    return total;
  }

  void note_cap(const GenerationRequest& req, const Plan& plan, std::int64_t context, const std::string& source,
                std::int64_t room) {
    const long long n = ++caps_;
    if (!opts_.log) return;
    if (n <= 3)
      opts_.log(fmt::format("openai: max_tokens {} -> {} for {}/{}: context length {} ({}) minus {} prompt tokens ({})",
                            req.sampling.max_new_tokens, room, req.task, req.problem_id, context, source,
                            plan.prompt_tokens,
                            plan.prompt_tokens_exact ? "counted with the tokenizer in " + tokenizer_dir_
                                                     : "estimated from UTF-8 bytes, an upper bound; give --tokenizer "
                                                       "DIR for exact counts"));
    else if (n == 10 || n == 100 || n == 1000 || n == 10000 || n % 100000 == 0)
      opts_.log(fmt::format("openai: max_tokens capped to the context length for {} requests so far", n));
  }

  // The context length in use (0: unknown) and, in *source, where it came from; read together under the lock since
  // a later discovery may change both.
  std::int64_t context_length(std::string* source) const {
    std::lock_guard lock(model_mu_);
    *source = context_source_;
    return context_length_;
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

  // Before the first request: GET {prefix}/models of every server for the served model name (when none was given:
  // the first id) and its context length (max_model_len, vLLM). A server that could not be reached (or answered
  // 5xx: still starting) is asked again on a later request, at most every 30 s, so one that starts late still
  // reports its model and context length. Fills `model`; returns "" or the error that makes this request's
  // samples fail (no model name could be found yet).
  std::string discover(std::string& model) {
    auto settled = [&] {
      return !model_.empty() && (unanswered_ == 0 || Clock::now() < next_discovery_);
    };
    {
      std::lock_guard lock(model_mu_);
      if (settled()) {
        model = model_;
        return {};
      }
    }
    std::lock_guard discover_lock(discover_mu_);  // one discoverer; the others then see the result
    std::string name;
    {
      std::lock_guard lock(model_mu_);
      if (settled()) {
        model = model_;
        return {};
      }
      name = model_;
      if (answered_.empty()) answered_.assign(servers_.size(), false);
    }
    std::string first_error;
    std::vector<std::string> listed;
    std::int64_t offered = 0;
    size_t offering = 0, answered = 0;
    for (size_t k = 0; k < servers_.size(); ++k) {
      if (answered_[k]) {
        ++answered;
        continue;
      }
      // Only a missing model name is worth retrying for; the context length is optional information.
      SendResult r = send_to_with_retries(k, "/models", nullptr, name.empty() ? 1 + opts_.max_retries : 1);
      if (r.definitive) {
        answered_[k] = true;
        ++answered;
      }
      if (!r.ok) {
        if (first_error.empty()) first_error = r.error;
        continue;
      }
      const json& data = r.body.contains("data") ? r.body["data"] : json();
      if (!data.is_array()) continue;
      const json* entry = nullptr;
      for (const auto& d : data) {
        if (!d.is_object() || !d.contains("id") || !d["id"].is_string()) continue;
        listed.push_back(d["id"].get<std::string>());
        if (!entry && (name.empty() || d["id"] == name)) entry = &d;
      }
      if (!entry) continue;
      if (name.empty()) name = (*entry)["id"].get<std::string>();
      if (entry->contains("max_model_len") && (*entry)["max_model_len"].is_number_integer()) {
        std::int64_t len = (*entry)["max_model_len"].get<std::int64_t>();
        if (len > 0) {
          offered = offering == 0 ? len : std::min(offered, len);
          ++offering;
        }
      }
    }
    std::lock_guard lock(model_mu_);
    unanswered_ = servers_.size() - answered;
    next_discovery_ = Clock::now() + std::chrono::seconds(30);
    if (name.empty()) {
      return first_error.empty()
                 ? "openai: GET /models returned no model id (set the model name)"
                 : "openai: could not determine the served model (set the model name): " + first_error;
    }
    model_ = name;
    model = name;
    if (!listed.empty() && std::find(listed.begin(), listed.end(), name) == listed.end() && opts_.log) {
      std::string ids;
      for (const auto& id : listed) ids += (ids.empty() ? "" : ", ") + id;
      opts_.log("openai: warning: the servers list the models [" + ids + "], not '" + name +
                "': requests will probably be refused (set --served-model-name)");
    }
    if (opts_.context_length > 0) {
      context_source_ = "given";
    } else if (offering > 0 && (context_length_ == 0 || offered < context_length_)) {
      offering_ += offering;
      context_length_ = offered;
      context_source_ = fmt::format("max_model_len from GET /models of {} of {} servers", offering_, servers_.size());
    } else {
      return {};
    }
    if (!context_logged_ && context_length_ > 0 && opts_.log) {
      context_logged_ = true;
      opts_.log(fmt::format("openai: context length {} tokens ({}); max_tokens is capped to it minus the prompt "
                            "(prompt tokens {})",
                            context_length_, context_source_,
                            tokenizer_ ? "counted with the tokenizer in " + tokenizer_dir_
                                       : std::string("estimated from UTF-8 bytes, an upper bound; give --tokenizer "
                                                     "DIR for exact counts")));
    }
    return {};
  }

  json build_body(const GenerationRequest& req, const std::string& model, const std::string& prompt,
                  const Plan& plan, size_t count, std::uint64_t seed) const {
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
    body["max_tokens"] = plan.max_tokens;
    body["seed"] = seed;
    body["n"] = count;
    if (!s.stop.empty()) body["stop"] = s.stop;
    if (s.top_k > 0) body["top_k"] = s.top_k;
    if (s.min_p > 0) body["min_p"] = s.min_p;
    if (opts_.extra.is_object() && !opts_.extra.empty()) body.merge_patch(opts_.extra);
    return body;
  }

  template <class Emit>
  void run_job(const GenerationRequest& req, const std::string& model, const std::string& prompt, const Plan& plan,
               size_t begin, size_t end, Emit& emit) {
    const size_t count = end - begin;
    const std::uint64_t seed = sample_seed(req.sampling.seed, req.task, req.problem_id, req.sample_indices[begin]);
    const json body = build_body(req, model, prompt, plan, count, seed);
    const auto t0 = Clock::now();
    SendResult r = send_with_retries(suffix_, &body, plan.home);
    const double latency = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!r.ok) {
      for (size_t p = begin; p < end; ++p) emit(p, error_completion(req, req.sample_indices[p], r.error, latency, seed));
      return;
    }
    std::vector<std::optional<Completion>> got(count);
    const json& choices = r.body["choices"];
    const json usage = r.body.contains("usage") && r.body["usage"].is_object() ? r.body["usage"] : json::object();
    std::int64_t prompt_tokens = int_or(usage, "prompt_tokens", -1);
    if (prompt_tokens < 0 && plan.prompt_tokens_exact) prompt_tokens = plan.prompt_tokens;
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
      c.text = choice_text(ch);
      // Completion tokens: the choice's own count (some servers give one), usage when the request had one choice,
      // else the text re-tokenized (the EOS a stopped sample ended with is not in the text, so not counted).
      std::int64_t own = int_or(ch, "completion_tokens", -1);
      if (own < 0 && ch.contains("usage")) own = int_or(ch["usage"], "completion_tokens", -1);
      if (own < 0 && count == 1) own = total_completion;
      if (own < 0 && tokenizer_ && !no_text(ch))
        own = static_cast<std::int64_t>(tokenizer_->encode(c.text, false).size());
      c.completion_tokens = own;
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

  // One HTTP attempt against server `k`, holding the in-flight semaphore for exactly its duration.
  struct Attempt {
    bool ok = false;
    json body;
    std::string error;
    bool retryable = true;
    bool server_failed = false;  // evidence the server is down (for the breaker): not a 4xx or a 429
    std::optional<double> wait_hint;
  };
  Attempt attempt_once(size_t k, const std::string& suffix, const std::string* payload) {
    Attempt a;
    const Url& url = servers_.url(k);
    const std::string path = url.path + suffix;
    httplib::Headers headers;
    if (std::string key = api_key(); !key.empty()) headers.emplace("Authorization", "Bearer " + key);
    headers.emplace("Accept", "application/json");
    SemaphoreGuard guard(sem_);
    httplib::Client cli(url.scheme + "://" + (url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host) +
                        ":" + std::to_string(url.port));
    set_timeout(cli, opts_.connect_timeout_s, 0);
    set_timeout(cli, opts_.timeout_s, 1);
    set_timeout(cli, opts_.timeout_s, 2);
    cli.set_keep_alive(false);
    if (url.scheme == "https") {
      cli.enable_server_certificate_verification(true);
      if (!opts_.ca_cert_file.empty()) cli.set_ca_cert_path(opts_.ca_cert_file);
    }
    httplib::Result res = payload ? cli.Post(path, headers, *payload, "application/json") : cli.Get(path, headers);
    if (!res) {
      a.error = "connection error: " + httplib::to_string(res.error());
      a.server_failed = true;
    } else if (res->status >= 200 && res->status < 300) {
      try {
        json parsed = json::parse(res->body);
        std::string bad = validate(parsed, payload != nullptr);
        if (bad.empty()) {
          a.ok = true;
          a.body = std::move(parsed);
          return a;
        }
        a.error = "HTTP " + std::to_string(res->status) + " but " + bad;
      } catch (const json::exception& e) {
        a.error = "HTTP " + std::to_string(res->status) + " with a malformed JSON body (" +
                  std::string(e.what()).substr(0, 200) + ")";
      }
      a.server_failed = true;
    } else {
      a.error = "HTTP " + std::to_string(res->status) + ": " + server_message(res->body);
      const int st = res->status;
      a.retryable = st == 429 || st == 408 || st >= 500;
      a.server_failed = st == 408 || st >= 500;
      if (a.retryable) a.wait_hint = retry_after(res.value());
    }
    return a;
  }

  void sleep_before_retry(const std::string& what, int attempt, int attempts, const Attempt& a, bool elsewhere) {
    double delay = elsewhere ? 0.0
                   : a.wait_hint ? std::min(*a.wait_hint, opts_.backoff_max_s)
                                 : std::min(opts_.backoff_max_s, opts_.backoff_initial_s * std::pow(2.0, attempt)) *
                                       jitter_factor();
    if (opts_.log) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.2f", delay);
      opts_.log("openai: " + what + " attempt " + std::to_string(attempt + 1) + "/" + std::to_string(attempts) +
                " failed: " + a.error + (elsewhere ? std::string("; retrying on another server")
                                                   : "; retrying in " + std::string(secs) + " s"));
    }
    if (delay > 0) std::this_thread::sleep_for(std::chrono::duration<double>(delay));
  }

  // One logical request with the retry policy, on the pool: the home server first, another server after a
  // failure when one is in rotation (then without waiting), the breaker told of every outcome.
  SendResult send_with_retries(const std::string& suffix, const json* body, size_t home) {
    const std::string payload = body ? body->dump(-1, ' ', false, json::error_handler_t::replace) : std::string();
    std::string last_error, what;
    const int attempts = 1 + std::max(0, opts_.max_retries);
    size_t failed_on = SIZE_MAX;
    for (int attempt = 0; attempt < attempts; ++attempt) {
      const size_t k = servers_.acquire(home, failed_on);
      what = std::string(body ? "POST " : "GET ") + servers_.base_url(k) + suffix;
      Attempt a = attempt_once(k, suffix, body ? &payload : nullptr);
      servers_.report(k, !a.server_failed, a.error);
      if (a.ok) return SendResult{true, std::move(a.body), {}, true};
      last_error = a.error;
      if (!a.retryable) return SendResult{false, {}, "openai: " + what + " failed (not retried): " + last_error, true};
      failed_on = k;
      if (attempt + 1 < attempts) {
        const bool elsewhere = servers_.size() > 1 && servers_.in_rotation_count() > (servers_.in_rotation(k) ? 1 : 0);
        sleep_before_retry(what, attempt, attempts, a, elsewhere);
      }
    }
    return SendResult{false, {}, "openai: " + what + " failed after " + std::to_string(attempts) +
                                     (attempts == 1 ? " attempt: " : " attempts: ") + last_error};
  }

  // Requests to one given server (discovery), with `attempts` tries and the usual backoff.
  SendResult send_to_with_retries(size_t k, const std::string& suffix, const json* body, int attempts) {
    const std::string payload = body ? body->dump() : std::string();
    const std::string what = std::string(body ? "POST " : "GET ") + servers_.base_url(k) + suffix;
    std::string last_error;
    for (int attempt = 0; attempt < attempts; ++attempt) {
      Attempt a = attempt_once(k, suffix, body ? &payload : nullptr);
      if (a.ok) return SendResult{true, std::move(a.body), {}, true};
      last_error = a.error;
      if (!a.retryable)
        return SendResult{false, {}, "openai: " + what + " failed (not retried): " + last_error, true};
      if (attempt + 1 < attempts) sleep_before_retry(what, attempt, attempts, a, false);
    }
    return SendResult{false, {}, "openai: " + what + " failed after " + std::to_string(attempts) +
                                     (attempts == 1 ? " attempt: " : " attempts: ") + last_error};
  }

  BackendOptions opts_;
  ServerPool servers_;
  std::string suffix_;  // "/chat/completions" | "/completions"
  std::string chat_template_source_;
  std::string tokenizer_dir_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::shared_ptr<const ChatTemplate> template_;
  std::string bos_text_;
  std::optional<bool> server_adds_bos_;
  json bos_note_;
  std::once_flag bos_logged_;
  std::atomic<long long> caps_{0};
  Semaphore sem_;
  mutable std::mutex model_mu_;  // guards model_, context_length_, context_source_ and the discovery state below
  std::mutex discover_mu_;       // one discovery at a time (answered_ is only touched under it)
  std::string model_;
  std::int64_t context_length_ = 0;
  std::string context_source_;
  std::vector<bool> answered_;        // the server answered GET /models for good (SendResult::definitive)
  size_t unanswered_ = SIZE_MAX;      // servers still to ask (all, before the first discovery)
  size_t offering_ = 0;               // servers whose max_model_len was used
  Clock::time_point next_discovery_{};
  bool context_logged_ = false;
  JobPool pool_;  // helpers draining a request's jobs; last member: joined before anything its jobs touch
};

}  // namespace

std::unique_ptr<Backend> make_openai_backend(const BackendOptions& opts) { return std::make_unique<OpenAIBackend>(opts); }

}  // namespace reval
