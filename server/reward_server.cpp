// See reward_server.hpp. The pieces: ConnectionQueue (httplib's TaskQueue with bounded waiting and a rejecting
// pool), admission of items (pending_ against max_pending_items), the three handlers, serve_rewards() with
// signal handling by sigwait on a thread where SIGTERM/SIGINT are blocked everywhere else.
#include "server/reward_server.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include <httplib.h>
#include <pthread.h>
#include <fmt/format.h>

#include "base/error.hpp"
#include "base/job_pool.hpp"
#include "base/jsonl.hpp"
#include "reval/version.hpp"

namespace reval::server {

using nlohmann::json;

namespace {

// Set on the threads of the rejecting pool: every request on their connections is answered 429.
thread_local bool t_rejecting = false;

// httplib's connection queue, bounded. A connection goes to a connection thread when one is idle or fewer than
// `max_waiting` wait; otherwise to the rejecting pool under the same rule; otherwise enqueue() (the accept loop)
// blocks until there is room. shutdown() lets both pools finish every queued connection, then joins them.
class ConnectionQueue final : public httplib::TaskQueue {
 public:
  ConnectionQueue(std::size_t threads, std::size_t max_waiting, std::size_t reject_threads,
                  std::size_t max_reject_waiting)
      : main_(threads, max_waiting, false), reject_(reject_threads, max_reject_waiting, true) {
    main_.start(*this);
    reject_.start(*this);
  }
  ~ConnectionQueue() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (main_.has_room()) return main_.push(std::move(fn));
      if (reject_.has_room()) return reject_.push(std::move(fn));
      if (closing_) return main_.push(std::move(fn));
      room_.wait(lock);
    }
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closing_ && main_.threads.empty()) return;
      closing_ = true;
    }
    main_.cv.notify_all();
    reject_.cv.notify_all();
    room_.notify_all();
    for (auto* pool : {&main_, &reject_}) {
      for (auto& t : pool->threads) t.join();
      pool->threads.clear();
    }
  }

 private:
  struct Pool {
    Pool(std::size_t n, std::size_t w, bool rejecting) : size(n), max_waiting(w), idle(n), rejecting(rejecting) {}
    std::size_t size, max_waiting, idle;
    bool rejecting;
    std::deque<std::function<void()>> jobs;
    std::condition_variable cv;
    std::vector<std::thread> threads;
    bool has_room() const { return jobs.size() < idle + max_waiting; }
    void push(std::function<void()> fn) {
      jobs.push_back(std::move(fn));
      cv.notify_one();
    }
    void start(ConnectionQueue& q) {
      for (std::size_t i = 0; i < size; ++i) threads.emplace_back([this, &q] { q.loop(*this); });
    }
  };

  void loop(Pool& pool) {
    t_rejecting = pool.rejecting;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      pool.cv.wait(lock, [&] { return !pool.jobs.empty() || closing_; });
      if (pool.jobs.empty()) return;  // closing and drained
      auto fn = std::move(pool.jobs.front());
      pool.jobs.pop_front();
      --pool.idle;
      lock.unlock();
      fn();
      lock.lock();
      ++pool.idle;
      room_.notify_one();
    }
  }

  std::mutex mu_;
  std::condition_variable room_;
  bool closing_ = false;
  Pool main_, reject_;
};

// The token's length is not the secret; its bytes are compared without an early exit.
bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

json RewardServerOptions::to_json() const {
  return {{"host", host},
          {"port", port},
          {"token", token.empty() ? "none" : "set"},
          {"workers", workers},
          {"http_threads", http_threads},
          {"max_waiting_connections", max_waiting_connections},
          {"max_pending_items", max_pending_items},
          {"max_body_bytes", max_body_bytes},
          {"request_timeout_s", request_timeout_s},
          {"read_timeout_s", read_timeout_s},
          {"retry_after_s", retry_after_s},
          {"source", source},
          {"reward", reward.to_json()},
          {"grader_options", grader_options}};
}

struct RewardServer::Impl {
  explicit Impl(RewardServer& s) : owner(s) {}
  RewardServer& owner;
  httplib::Server http;
  std::atomic<bool> listening_done{false};
  std::atomic<bool> stopping{false};
  std::atomic<std::int64_t> requests{0}, items{0}, missing{0}, busy{0}, bad{0}, unauthorized{0};

  const RewardServerOptions& opt() const { return owner.options_; }

  void error(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(dump(json{{"error", message}}), "application/json");
    if (status == 400 || status == 413) ++bad;
  }

  void reject_busy(httplib::Response& res, const std::string& why, bool close) {
    ++busy;
    res.set_header("Retry-After", std::to_string(std::max(opt().retry_after_s, 0)));
    if (close) res.set_header("Connection", "close");
    error(res, 429, why);
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (opt().token.empty()) return true;
    if (constant_time_equal(req.get_header_value("Authorization"), "Bearer " + opt().token)) return true;
    ++unauthorized;
    res.set_header("WWW-Authenticate", "Bearer");
    error(res, 401, "a valid 'Authorization: Bearer <token>' header is required");
    return false;
  }

  // Admits n items against max_pending_items; false: answer 429.
  bool admit(std::size_t n) {
    std::size_t cur = owner.pending_.load();
    do {
      if (cur + n > opt().max_pending_items) return false;
    } while (!owner.pending_.compare_exchange_weak(cur, cur + n));
    return true;
  }

  // Common checks of a POST: rejecting pool, token. False: `res` holds the answer.
  bool accept(const httplib::Request& req, httplib::Response& res) {
    if (t_rejecting) {
      reject_busy(res, "the server is busy: every connection thread is taken; retry later", true);
      return false;
    }
    return authorized(req, res);
  }

  // Grades admitted items; the count is released whatever happens.
  std::vector<rewards::RewardResult> grade(std::vector<rewards::RewardItem> items, rewards::BatchStats& stats) {
    const std::size_t n = items.size();
    struct Release {
      std::atomic<std::size_t>& pending;
      std::size_t n;
      ~Release() { pending -= n; }
    } release{owner.pending_, n};
    rewards::RewardOptions ro = opt().reward;
    ro.deadline_s = opt().request_timeout_s;
    auto results = owner.scorer_->score_batch(std::move(items), ro, &stats);
    items_graded(stats);
    return results;
  }

  void items_graded(const rewards::BatchStats& stats) {
    items += stats.items;
    missing += stats.missing;
  }

  // ---- OpenRLHF ------------------------------------------------------------------------------------------------
  void openrlhf(const httplib::Request& req, httplib::Response& res) {
    if (!accept(req, res)) return;
    json body;
    try {
      body = json::parse(req.body);
    } catch (const json::exception& e) {
      return error(res, 400, std::string("the body is not valid JSON: ") + e.what());
    }
    if (!body.is_object())
      return error(res, 400, "expected a JSON object {\"query\": [...], \"prompts\": [...], \"labels\": [...]}");
    auto q = body.find("query");
    if (q == body.end() || !q->is_array()) return error(res, 400, "field 'query': expected a list of strings");
    const std::size_t n = q->size();
    for (std::size_t i = 0; i < n; ++i)
      if (!(*q)[i].is_string()) return error(res, 400, fmt::format("field 'query[{}]': expected a string", i));
    if (n > opt().max_pending_items)
      return error(res, 413, fmt::format("{} items in one request; the limit is {} (max_pending_items)", n,
                                         opt().max_pending_items));
    auto list_field = [&](const char* name, bool required) -> const json* {
      auto it = body.find(name);
      if (it == body.end() || it->is_null()) {
        if (required) error(res, 400, fmt::format("field '{}': missing (one per query)", name));
        return nullptr;
      }
      if (!it->is_array() || it->size() != n) {
        error(res, 400, fmt::format("field '{}': expected a list of {} (one per query)", name, n));
        return nullptr;
      }
      return &*it;
    };
    const json* prompts = list_field("prompts", false);
    if (res.status == 400) return;
    const json* labels = list_field("labels", true);
    if (!labels) return;
    const json* metas = list_field("metas", false);
    if (res.status == 400) return;
    if (prompts)
      for (std::size_t i = 0; i < n; ++i)
        if (!(*prompts)[i].is_string() && !(*prompts)[i].is_null())
          return error(res, 400, fmt::format("field 'prompts[{}]': expected a string", i));
    if (metas)
      for (std::size_t i = 0; i < n; ++i)
        if (!(*metas)[i].is_object() && !(*metas)[i].is_null())
          return error(res, 400, fmt::format("field 'metas[{}]': expected an object", i));

    // Items; a label or meta the core cannot read makes that item's reward missing, not the request fail.
    std::vector<rewards::RewardItem> items;
    std::vector<std::size_t> index;  // items[k] is query index[k]
    std::vector<std::pair<std::size_t, std::string>> item_errors;
    std::vector<char> prompt_found(n, 0);
    items.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::string& query = (*q)[i].get_ref<const std::string&>();
      std::string prompt = prompts && (*prompts)[i].is_string() ? (*prompts)[i].get<std::string>() : std::string();
      std::string response = query;
      if (!prompt.empty()) {
        if (query.compare(0, prompt.size(), prompt) == 0) {
          response = query.substr(prompt.size());
          prompt_found[i] = 1;
        } else if (auto at = query.find(prompt); at != std::string::npos) {
          response = query.substr(at + prompt.size());
          prompt_found[i] = 1;
        }
      }
      const json meta = metas ? (*metas)[i] : json();
      std::string source = opt().source;
      if (meta.is_object())
        if (auto ds = meta.find("data_source"); ds != meta.end() && ds->is_string()) source = ds->get<std::string>();
      try {
        rewards::RewardItem item = rewards::item_from_ground_truth(owner.scorer_->route(source), source,
                                                                   std::move(response), (*labels)[i], meta);
        if (item.prompt.empty()) item.prompt = std::move(prompt);
        items.push_back(std::move(item));
        index.push_back(i);
      } catch (const std::exception& e) {
        item_errors.emplace_back(i, fmt::format("labels[{}]: {}", i, e.what()));
      }
    }
    if (!admit(items.size()))
      return reject_busy(res, fmt::format("the server is busy: {} items are waiting to be graded (limit {})",
                                          owner.pending_.load(), opt().max_pending_items), false);
    rewards::BatchStats stats;
    auto graded = grade(std::move(items), stats);
    std::vector<const rewards::RewardResult*> by_query(n, nullptr);
    for (std::size_t k = 0; k < graded.size(); ++k) by_query[index[k]] = &graded[k];

    const bool language = !opt().reward.language.empty(), length = opt().reward.length.max_length > 0;
    json rewards_out = json::array(), scores = json::array(), verdicts = json::array(), extracted = json::array();
    json acc = json::array(), fmt_log = json::array(), lang_log = json::array(), len_log = json::array(),
         missing_log = json::array();
    std::int64_t infra = stats.infra_errors, missing_n = stats.missing;
    for (std::size_t i = 0; i < n; ++i) {
      const rewards::RewardResult* r = by_query[i];
      if (!r) {
        ++infra;
        ++missing_n;
        rewards_out.push_back(nullptr);
        scores.push_back(nullptr);
        verdicts.push_back("infra_error");
        extracted.push_back(nullptr);
        acc.push_back(0.0);
        fmt_log.push_back(0.0);
        if (language) lang_log.push_back(0.0);
        if (length) len_log.push_back(0.0);
        missing_log.push_back(1.0);
        continue;
      }
      rewards_out.push_back(r->reward ? json(*r->reward) : json(nullptr));
      scores.push_back(r->reward ? json(r->accuracy) : json(nullptr));
      verdicts.push_back(std::string(to_string(r->verdict)));
      extracted.push_back(r->extracted ? json(*r->extracted) : json(nullptr));
      acc.push_back(r->accuracy);
      fmt_log.push_back(r->format.value_or(0.0));
      if (language) lang_log.push_back(r->language.value_or(0.0));
      if (length) len_log.push_back(r->length.value_or(0.0));
      missing_log.push_back(r->reward ? 0.0 : 1.0);
    }
    json extra_logs = {{"accuracy", std::move(acc)}, {"format", std::move(fmt_log)}, {"missing", std::move(missing_log)}};
    if (language) extra_logs["language"] = std::move(lang_log);
    if (length) extra_logs["length_penalty"] = std::move(len_log);
    json out = {{"rewards", std::move(rewards_out)}, {"scores", std::move(scores)},
                {"extra_logs", std::move(extra_logs)}, {"verdicts", std::move(verdicts)},
                {"extracted", std::move(extracted)}, {"missing", missing_n},
                {"infra_errors", infra}, {"stats", stats.to_json()}};
    if (!item_errors.empty()) {
      json errs = json::array();
      for (auto& [i, msg] : item_errors) errs.push_back({{"index", i}, {"error", msg}});
      out["errors"] = std::move(errs);
      out["stats"]["input_errors"] = item_errors.size();
    }
    if (prompts) {
      std::size_t not_found = static_cast<std::size_t>(std::count(prompt_found.begin(), prompt_found.end(), 0));
      if (not_found) out["prompt_not_found"] = not_found;  // graded the whole query for these
    }
    if (auto d = body.find("return_details"); d != body.end() && d->is_boolean() && d->get<bool>()) {
      json details = json::array();
      for (std::size_t i = 0; i < n; ++i) details.push_back(by_query[i] ? by_query[i]->to_json() : json(nullptr));
      out["details"] = std::move(details);
    }
    ++requests;
    res.set_content(dump(out), "application/json");
  }

  // ---- /grade --------------------------------------------------------------------------------------------------
  void grade_lines(const httplib::Request& req, httplib::Response& res) {
    if (!accept(req, res)) return;
    std::string grader = req.get_param_value("grader");
    std::vector<json> lines;
    std::vector<std::string> line_errors;  // parse errors, by line
    bool jsonl = false;
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_discarded() && body.is_object() && body.contains("items")) {
      if (auto g = body.find("grader"); g != body.end()) {
        if (!g->is_string()) return error(res, 400, "field 'grader': expected a string (math, choice, code)");
        grader = g->get<std::string>();
      }
      if (!body["items"].is_array()) return error(res, 400, "field 'items': expected a list of objects");
      for (auto& v : body["items"]) lines.push_back(std::move(v));
    } else if (!body.is_discarded() && body.is_array()) {
      for (auto& v : body) lines.push_back(std::move(v));
    } else {
      jsonl = true;
      for_each_jsonl(req.body, [&](JsonlLine& line) {
        lines.push_back(line.value ? std::move(*line.value) : json());
        line_errors.resize(lines.size());
        if (!line.error.empty()) line_errors.back() = line.error;
      });
      if (lines.empty()) return error(res, 400, "no lines: send {\"grader\": G, \"items\": [...]}, a list or JSONL");
    }
    line_errors.resize(lines.size());
    if (grader.empty()) return error(res, 400, "grader: missing (?grader=math|choice|code, or \"grader\" in the body)");
    try {
      owner.scorer_->graders().get(grader);
    } catch (const std::exception& e) {
      return error(res, 400, std::string("grader: ") + e.what());
    }
    std::vector<rewards::RewardItem> items;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (!line_errors[i].empty()) continue;
      rewards::RewardItem item;
      std::string err = rewards::item_from_line(lines[i], grader, item);
      if (!err.empty()) {
        line_errors[i] = err;
        continue;
      }
      items.push_back(std::move(item));
      index.push_back(i);
    }
    if (lines.size() > opt().max_pending_items)
      return error(res, 413, fmt::format("{} items in one request; the limit is {} (max_pending_items)",
                                         lines.size(), opt().max_pending_items));
    if (!admit(items.size()))
      return reject_busy(res, fmt::format("the server is busy: {} items are waiting to be graded (limit {})",
                                          owner.pending_.load(), opt().max_pending_items), false);
    rewards::BatchStats stats;
    auto graded = grade(std::move(items), stats);
    std::vector<json> out(lines.size());
    for (std::size_t k = 0; k < graded.size(); ++k) {
      const auto& r = graded[k];
      // The grader found the request itself invalid (a field named in the message): a malformed line, reported
      // in place as `reval grade` does, not a missing reward.
      if (r.verdict == Verdict::infra_error && r.details.is_object() && r.details.value("stage", std::string()) == "input") {
        line_errors[index[k]] = r.details.value("error", std::string("invalid request"));
        continue;
      }
      json o = std::move(lines[index[k]]);
      o["verdict"] = std::string(to_string(r.verdict));
      o["score"] = r.accuracy;
      o["extracted"] = r.extracted ? json(*r.extracted) : json(nullptr);
      o["details"] = r.details;
      o["reward"] = r.reward ? json(*r.reward) : json(nullptr);
      o["missing"] = r.missing.empty() ? json(nullptr) : json(r.missing);
      out[index[k]] = std::move(o);
    }
    std::int64_t malformed = 0;
    for (std::size_t i = 0; i < lines.size(); ++i)
      if (!line_errors[i].empty()) {
        ++malformed;
        out[i] = {{"line", i + 1}, {"error", where("request", static_cast<std::int64_t>(i + 1)) + ": " + line_errors[i]}};
      }
    ++requests;
    json st = stats.to_json();
    st["malformed"] = malformed;
    if (jsonl) {
      std::string text;
      for (const auto& o : out) text += dump(o) + "\n";
      res.set_header("X-Reval-Stats", dump(st));
      res.set_content(text, "application/x-ndjson");
    } else {
      json results = json::array();
      for (auto& o : out) results.push_back(std::move(o));
      res.set_content(dump(json{{"results", std::move(results)}, {"stats", std::move(st)}}), "application/json");
    }
  }

  void health(const httplib::Request&, httplib::Response& res) {
    json h = {{"status", stopping ? "stopping" : "ok"},
              {"version", kVersion},
              {"workers", owner.scorer_->workers()},
              {"pending_items", owner.pending_.load()},
              {"max_pending_items", opt().max_pending_items},
              {"requests", requests.load()},
              {"items", items.load()},
              {"missing", missing.load()},
              {"busy", busy.load()},
              {"token", !opt().token.empty()}};
    res.set_content(dump(h), "application/json");
  }
};

RewardServer::RewardServer(RewardServerOptions options) : options_(std::move(options)) {
  if (options_.max_pending_items == 0) throw Error("max_pending_items: must be at least 1");
  if (options_.request_timeout_s < 0) throw Error("request_timeout_s: must be >= 0");
  if (options_.read_timeout_s <= 0) throw Error("read_timeout_s: must be > 0");
  rewards::route(options_.source);  // an unknown --source fails here, listing the known ones
  if (!options_.reward.language.empty()) rewards::target_scripts(options_.reward.language);
  scorer_ = std::make_unique<rewards::RewardScorer>(options_.grader_options, options_.workers);
  impl_ = std::make_unique<Impl>(*this);
}

RewardServer::~RewardServer() {
  stop();
  wait();
}

int RewardServer::start() {
  if (listener_.joinable()) throw Error("the reward server is already started");
  auto& http = impl_->http;
  const int workers = scorer_->workers();
  const std::size_t threads =
      options_.http_threads > 0 ? static_cast<std::size_t>(options_.http_threads)
                                : static_cast<std::size_t>(std::max(8, 2 * workers + 4));
  const std::size_t waiting = options_.max_waiting_connections;
  http.new_task_queue = [threads, waiting] { return new ConnectionQueue(threads, waiting, 2, 16); };
  http.set_payload_max_length(options_.max_body_bytes);
  const auto io_timeout = std::chrono::duration<double>(options_.read_timeout_s);
  http.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(io_timeout));
  http.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(io_timeout));
  // An idle keep-alive connection holds a connection thread: at most 5 s (less with a short read timeout).
  http.set_keep_alive_timeout(static_cast<time_t>(std::clamp(options_.read_timeout_s, 1.0, 5.0)));
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second server share the port.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  Impl* impl = impl_.get();
  for (const char* path : {"/", "/get_reward", "/reward"})
    http.Post(path, [impl](const httplib::Request& req, httplib::Response& res) { impl->openrlhf(req, res); });
  http.Post("/grade", [impl](const httplib::Request& req, httplib::Response& res) { impl->grade_lines(req, res); });
  http.Get("/health", [impl](const httplib::Request& req, httplib::Response& res) { impl->health(req, res); });
  http.set_error_handler([impl](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message;
    if (res.status == 413) {
      message = fmt::format("the request body is over the limit of {} bytes (max_body_bytes)",
                            impl->opt().max_body_bytes);
      ++impl->bad;
    } else if (res.status == 404) {
      message = fmt::format("no endpoint {} {} (POST /, /get_reward, /reward, /grade; GET /health)", req.method,
                            req.path);
    } else if (res.status == 400) {
      message = "malformed HTTP request";
      ++impl->bad;
    } else {
      message = fmt::format("HTTP {}", res.status);
    }
    res.set_content(dump(json{{"error", message}}), "application/json");
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string message = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      message = std::string("internal error: ") + e.what();
    } catch (...) {
    }
    res.status = 500;
    res.set_content(dump(json{{"error", message}}), "application/json");
  });

  if (options_.port == 0) {
    port_ = http.bind_to_any_port(options_.host);
    if (port_ < 0) throw Error(fmt::format("cannot listen on {} (any port)", options_.host));
  } else {
    if (options_.port < 0 || options_.port > 65535) throw Error(fmt::format("--port {}: out of range", options_.port));
    if (!http.bind_to_port(options_.host, options_.port))
      throw Error(fmt::format("cannot listen on {}:{} ({})", options_.host, options_.port, std::strerror(errno)));
    port_ = options_.port;
  }
  listener_ = std::thread([impl] {
    impl->http.listen_after_bind();
    impl->listening_done = true;
  });
  return port_;
}

void RewardServer::stop() {
  if (!listener_.joinable()) return;
  impl_->stopping = true;
  // The listener may not have entered its accept loop yet; httplib's stop() only acts on a running server.
  while (!impl_->http.is_running() && !impl_->listening_done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl_->http.stop();
}

void RewardServer::wait() {
  if (listener_.joinable()) listener_.join();
}

ServerCounters RewardServer::counters() const {
  ServerCounters c;
  c.requests = impl_->requests;
  c.items = impl_->items;
  c.missing = impl_->missing;
  c.busy = impl_->busy;
  c.bad_requests = impl_->bad;
  c.unauthorized = impl_->unauthorized;
  return c;
}

int serve_rewards(const RewardServerOptions& options, std::ostream& log) {
  // Block SIGTERM/SIGINT on this thread before any other starts, so every thread inherits the mask and the
  // signals are taken only by sigwait() below: no handler runs inside a worker.
  sigset_t signals, old;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, &old);
  struct Restore {
    sigset_t mask;
    ~Restore() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{old};

  RewardServer server(options);
  const int port = server.start();
  log << "reval: serving rewards on http://" << options.host << ":" << port << " (workers "
      << server.scorer().workers() << ", token " << (options.token.empty() ? "off" : "on") << ")\n"
      << "reval: configuration " << dump(options.to_json()) << "\n";
  log.flush();
  int sig = 0;
  sigwait(&signals, &sig);
  log << "reval: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
      << ": shutting down; requests in flight are answered (" << server.pending_items() << " items pending)\n";
  log.flush();
  server.stop();
  server.wait();
  const ServerCounters c = server.counters();
  log << "reval: stopped after " << c.requests << " requests, " << c.items << " items (" << c.missing
      << " missing rewards, " << c.busy << " busy answers)\n";
  log.flush();
  return 0;
}

}  // namespace reval::server
