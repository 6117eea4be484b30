// Tests for the OpenAI-compatible backend against a fake server.
//
// Theory of operation: FakeServer runs a cpp-httplib server on 127.0.0.1 with an ephemeral port in a background
// thread. It records every request (path, parsed JSON body, Authorization header), counts requests in flight and
// the maximum seen, and lets each test inject behaviour per request number through `fault` (return true after
// filling the response to override the default). The default handler answers like vLLM: n choices with text
// "sample-<i>", usage, finish_reason "stop". GET /v1/models (the backend's discovery before its first request) is
// answered apart: recorded in gets(), never counted in requests() nor given to `fault`, and answered with
// set_models() (default: one model "served-model" without max_model_len). No test touches any address but
// 127.0.0.1, every wait is bounded, and no assertion depends on timing except "did not hang" bounds far above the
// expected time.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <set>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "model/backends.hpp"
#include "model/backends/openai_backend.hpp"
#include "model/chat/chat_template.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "base/error.hpp"
#include "tests/test_util.hpp"

namespace reval {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

struct Seen {
  std::string method;
  std::string path;
  json body;
  std::string authorization;  // "" if absent
};

class FakeServer {
 public:
  // Return true if the response was filled (injected behaviour), false to use the default.
  using Fault = std::function<bool(int request_no, const httplib::Request&, httplib::Response&)>;

  FakeServer() {
    auto handle = [this](const httplib::Request& req, httplib::Response& res) { serve(req, res); };
    svr_.Post("/v1/chat/completions", handle);
    svr_.Post("/v1/completions", handle);
    svr_.Get("/v1/models", handle);
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    for (int i = 0; i < 500 && !svr_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~FakeServer() {
    stopping_ = true;
    svr_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  void set_fault(Fault f) {
    std::lock_guard lock(mu_);
    fault_ = std::move(f);
  }
  void set_delay_ms(int ms) { delay_ms_ = ms; }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  std::vector<Seen> gets() const {
    std::lock_guard lock(mu_);
    return gets_;
  }
  void set_models(json models) {
    std::lock_guard lock(mu_);
    models_ = std::move(models);
  }
  int requests() const { return count_.load(); }
  int max_in_flight() const { return max_in_flight_.load(); }
  bool stopping() const { return stopping_.load(); }

  // Sleeps up to `ms` but wakes early when the server is being shut down.
  void nap(int ms) const {
    for (int i = 0; i < ms / 10 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  // vLLM-like default: `n` choices "sample-<i>" (or message.content for chat), usage with totals.
  static void default_response(const httplib::Request& req, httplib::Response& res) {
    json body = req.method == "POST" ? json::parse(req.body) : json::object();
    if (req.method == "GET") {
      res.set_content(json{{"object", "list"}, {"data", {{{"id", "served-model"}, {"object", "model"}}}}}.dump(),
                      "application/json");
      return;
    }
    int n = body.value("n", 1);
    bool chat = req.path.find("chat") != std::string::npos;
    json choices = json::array();
    for (int i = 0; i < n; ++i) {
      json ch = {{"index", i}, {"finish_reason", "stop"}};
      std::string text = "sample-" + std::to_string(i);
      if (chat) ch["message"] = {{"role", "assistant"}, {"content", text}};
      else ch["text"] = text;
      choices.push_back(ch);
    }
    res.set_content(json{{"id", "x"}, {"choices", choices},
                         {"usage", {{"prompt_tokens", 11}, {"completion_tokens", 5 * n}, {"total_tokens", 11 + 5 * n}}}}
                        .dump(),
                    "application/json");
  }

 private:
  void serve(const httplib::Request& req, httplib::Response& res) {
    if (req.method == "GET") {
      std::lock_guard lock(mu_);
      Seen s;
      s.method = req.method;
      s.path = req.path;
      gets_.push_back(std::move(s));
      if (models_.is_null()) default_response(req, res);
      else if (models_.is_number_integer()) res.status = models_.get<int>();
      else res.set_content(json{{"object", "list"}, {"data", models_}}.dump(), "application/json");
      return;
    }
    int now = ++in_flight_;
    for (int m = max_in_flight_.load(); now > m && !max_in_flight_.compare_exchange_weak(m, now);) {
    }
    int no = count_++;
    Fault fault;
    {
      std::lock_guard lock(mu_);
      Seen s;
      s.method = req.method;
      s.path = req.path;
      if (req.method == "POST") s.body = json::parse(req.body, nullptr, false);
      s.authorization = req.has_header("Authorization") ? req.get_header_value("Authorization") : "";
      seen_.push_back(std::move(s));
      fault = fault_;
    }
    if (delay_ms_ > 0) nap(delay_ms_);
    if (!fault || !fault(no, req, res)) default_response(req, res);
    --in_flight_;
  }

  httplib::Server svr_;
  std::thread thread_;
  int port_ = -1;
  mutable std::mutex mu_;
  Fault fault_;
  std::vector<Seen> seen_, gets_;
  json models_;  // null: default; an integer: that HTTP status; else the "data" array
  std::atomic<int> count_{0}, in_flight_{0}, max_in_flight_{0};
  std::atomic<int> delay_ms_{0};
  std::atomic<bool> stopping_{false};
};

BackendOptions options(const FakeServer& s) {
  BackendOptions o;
  o.model = "test-model";
  o.base_url = s.base_url();
  o.api_key_env = "REVAL_TEST_OPENAI_KEY_UNSET";
  o.timeout_s = 20;
  o.connect_timeout_s = 5;
  o.max_retries = 3;
  o.backoff_initial_s = 0.01;
  o.backoff_max_s = 0.05;
  return o;
}

GenerationRequest request(std::vector<int> idx) {
  GenerationRequest r;
  r.task = "aime";
  r.problem_id = "p1";
  r.messages = {{"system", "be brief"}, {"user", "What is 1+1?"}};
  r.sample_indices = std::move(idx);
  r.sampling.temperature = 0.7;
  r.sampling.top_p = 0.9;
  r.sampling.max_new_tokens = 123;
  r.sampling.seed = 42;
  r.sampling.stop = {"</answer>"};
  return r;
}

TEST(OpenAIBackend, ChatRequestBodyAndNSplitting) {
  FakeServer s;
  auto b = make_backend("openai", options(s));
  std::vector<int> emitted;
  auto out = b->generate(request({3, 4, 5}), [&](const Completion& c) { emitted.push_back(c.sample_index); });

  ASSERT_EQ(s.requests(), 1);
  const Seen seen = s.seen().at(0);
  EXPECT_EQ(seen.path, "/v1/chat/completions");
  const json& body = seen.body;
  EXPECT_EQ(body["model"], "test-model");
  EXPECT_EQ(body["messages"], json::parse(R"([{"role":"system","content":"be brief"},
                                                {"role":"user","content":"What is 1+1?"}])"));
  EXPECT_DOUBLE_EQ(body["temperature"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(body["top_p"].get<double>(), 0.9);
  EXPECT_EQ(body["max_tokens"], 123);
  EXPECT_EQ(body["seed"].get<std::uint64_t>(), sample_seed(42, "aime", "p1", 3));
  EXPECT_EQ(body["n"], 3);
  EXPECT_EQ(body["stop"], json::array({"</answer>"}));
  EXPECT_FALSE(body.contains("top_k"));
  EXPECT_FALSE(body.contains("min_p"));
  EXPECT_FALSE(body.contains("prompt"));
  EXPECT_EQ(seen.authorization, "");

  ASSERT_EQ(out.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(out[i].sample_index, 3 + i);
    EXPECT_EQ(out[i].text, "sample-" + std::to_string(i));
    EXPECT_TRUE(out[i].error.empty()) << out[i].error;
    EXPECT_EQ(out[i].finish, FinishReason::stop);
    EXPECT_EQ(out[i].prompt_tokens, 11);
    EXPECT_EQ(out[i].completion_tokens, -1);  // per-choice split unknown for n > 1
    EXPECT_EQ(out[i].seed, sample_seed(42, "aime", "p1", 3));
  }
  std::sort(emitted.begin(), emitted.end());
  EXPECT_EQ(emitted, (std::vector<int>{3, 4, 5}));
}

TEST(OpenAIBackend, CompletionsEndpointWithRendererAndExtraSamplingParams) {
  FakeServer s;
  auto o = options(s);
  o.endpoint = "completions";
  o.render = [](const std::vector<ChatMessage>& m) { return "<render>" + m.back().content + "<gen>"; };
  o.chat_template_id = "tmpl-123";
  auto b = make_backend("openai", o);
  EXPECT_EQ(b->info().chat_template_id, "tmpl-123");
  auto req = request({0});
  req.sampling.top_k = 20;
  req.sampling.min_p = 0.05;
  req.sampling.stop.clear();
  auto out = b->generate(req);

  ASSERT_EQ(s.requests(), 1);
  const Seen seen = s.seen().at(0);
  EXPECT_EQ(seen.path, "/v1/completions");
  EXPECT_EQ(seen.body["prompt"], "<render>What is 1+1?<gen>");
  EXPECT_FALSE(seen.body.contains("messages"));
  EXPECT_EQ(seen.body["top_k"], 20);
  EXPECT_DOUBLE_EQ(seen.body["min_p"].get<double>(), 0.05);
  EXPECT_FALSE(seen.body.contains("stop"));
  EXPECT_EQ(seen.body["n"], 1);
  EXPECT_EQ(seen.body["seed"].get<std::uint64_t>(), sample_seed(42, "aime", "p1", 0));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "sample-0");
  EXPECT_EQ(out[0].prompt_tokens, 11);
  EXPECT_EQ(out[0].completion_tokens, 5);  // n == 1: usage total is the sample's
}

TEST(OpenAIBackend, CompletionsEndpointWithoutRendererJoinsContents) {
  FakeServer s;
  auto o = options(s);
  o.endpoint = "completions";
  auto out = make_backend("openai", o)->generate(request({0}));
  EXPECT_EQ(s.seen().at(0).body["prompt"], "be brief\nWhat is 1+1?");
  EXPECT_TRUE(out[0].error.empty());
}

TEST(OpenAIBackend, CompletionsEndpointRendersWithTheModelDirsChatTemplate) {
  FakeServer s;
  test::TempDir dir;
  json cfg = {{"bos_token", "<s>"},
              {"eos_token", "</s>"},
              {"chat_template",
               "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
               "{% if add_generation_prompt %}[assistant]{% endif %}"}};
  std::ofstream(dir.file("tokenizer_config.json")) << cfg.dump();
  auto o = options(s);
  o.endpoint = "completions";
  o.model = dir.path();
  auto b = make_backend("openai", o);
  EXPECT_EQ(b->info().chat_template_id.size(), 64u);  // sha256 hex of the template
  auto out = b->generate(request({0}));
  const json body = s.seen().at(0).body;
  EXPECT_EQ(body["prompt"], "<s>[system]be brief[user]What is 1+1?[assistant]");
  EXPECT_EQ(body["model"], dir.path());
  EXPECT_TRUE(out[0].error.empty());

  // An override file wins over the directory's template and keeps the directory's bos token.
  std::ofstream(dir.file("override.jinja")) << "{{ bos_token }}{{ messages[-1]['content'] }}=>";
  o.chat_template = dir.file("override.jinja");
  make_backend("openai", o)->generate(request({0}));
  EXPECT_EQ(s.seen().at(1).body["prompt"], "<s>What is 1+1?=>");
  EXPECT_FALSE(s.seen().at(1).body.contains("chat_template"));  // rendered locally, not sent
}

TEST(OpenAIBackend, OneRequestPerSampleUsesEachSamplesSeed) {
  FakeServer s;
  auto o = options(s);
  o.request_n = false;
  auto out = make_backend("openai", o)->generate(request({0, 1, 2, 7}));
  ASSERT_EQ(s.requests(), 4);
  std::vector<std::uint64_t> seeds;
  for (const auto& seen : s.seen()) {
    EXPECT_EQ(seen.body["n"], 1);
    seeds.push_back(seen.body["seed"].get<std::uint64_t>());
  }
  std::vector<std::uint64_t> want;
  for (int i : {0, 1, 2, 7}) want.push_back(sample_seed(42, "aime", "p1", i));
  EXPECT_THAT(seeds, ::testing::UnorderedElementsAreArray(want));
  ASSERT_EQ(out.size(), 4u);
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(out[k].sample_index, std::vector<int>({0, 1, 2, 7})[k]);
    EXPECT_EQ(out[k].seed, want[k]);
    EXPECT_EQ(out[k].text, "sample-0");
    EXPECT_EQ(out[k].completion_tokens, 5);
  }
}

TEST(OpenAIBackend, ReasoningContentIsPrependedAsThinkBlock) {
  FakeServer s;
  s.set_fault([](int, const httplib::Request&, httplib::Response& res) {
    json r = {{"choices",
               {{{"index", 0},
                 {"finish_reason", "length"},
                 {"message", {{"role", "assistant"}, {"content", "The answer is 2."}, {"reasoning_content", "1+1=2"}}}},
                {{"index", 1},
                 {"finish_reason", "abort"},
                 {"message", {{"role", "assistant"}, {"content", nullptr}}}}}}};
    res.set_content(r.dump(), "application/json");
    return true;
  });
  auto out = make_backend("openai", options(s))->generate(request({0, 1}));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].text, "<think>\n1+1=2\n</think>\nThe answer is 2.");
  EXPECT_EQ(out[0].finish, FinishReason::length);
  EXPECT_EQ(out[0].prompt_tokens, -1);  // no usage sent
  EXPECT_EQ(out[1].finish, FinishReason::error);
  EXPECT_THAT(out[1].error, HasSubstr("abort"));
}

TEST(OpenAIBackend, NullContentIsAnInfraErrorWithTheServersFinishReason) {
  FakeServer s;
  s.set_fault([](int, const httplib::Request&, httplib::Response& res) {
    json r = {{"choices",
               {{{"index", 0}, {"finish_reason", "content_filter"}, {"message", {{"role", "assistant"}, {"content", nullptr}}}},
                {{"index", 1}, {"finish_reason", "stop"}, {"message", {{"role", "assistant"}, {"content", ""}}}},
                {{"index", 2}, {"finish_reason", "stop"},
                 {"message", {{"role", "assistant"}, {"content", nullptr}, {"reasoning_content", "thinking"}}}}}}};
    res.set_content(r.dump(), "application/json");
    return true;
  });
  auto out = make_backend("openai", options(s))->generate(request({0, 1, 2}));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].finish, FinishReason::error);
  EXPECT_THAT(out[0].error, HasSubstr("content is null"));
  EXPECT_THAT(out[0].error, HasSubstr("content_filter"));
  // Twins: an empty string is the model's (empty) answer, and reasoning without content is text.
  EXPECT_TRUE(out[1].error.empty()) << out[1].error;
  EXPECT_EQ(out[1].text, "");
  EXPECT_TRUE(out[2].error.empty()) << out[2].error;
  EXPECT_THAT(out[2].text, HasSubstr("thinking"));
}

TEST(OpenAIBackend, FewerChoicesThanRequestedGiveErrorSamples) {
  FakeServer s;
  s.set_fault([](int, const httplib::Request&, httplib::Response& res) {
    json r = {{"choices", {{{"index", 1}, {"finish_reason", "stop"}, {"message", {{"content", "only one"}}}}}}};
    res.set_content(r.dump(), "application/json");
    return true;
  });
  auto out = make_backend("openai", options(s))->generate(request({10, 11}));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_THAT(out[0].error, HasSubstr("no choice with index 0"));
  EXPECT_EQ(out[1].text, "only one");
  EXPECT_TRUE(out[1].error.empty());
}

// Injected failures for the first `failures` requests; later ones use the default response.
void expect_recovers(const std::string& name, FakeServer::Fault fault, int failures, double timeout_s = 20) {
  SCOPED_TRACE(name);
  FakeServer s;
  s.set_fault([&, failures](int no, const httplib::Request& req, httplib::Response& res) {
    return no < failures && fault(no, req, res);
  });
  auto o = options(s);
  o.timeout_s = timeout_s;
  auto t0 = std::chrono::steady_clock::now();
  auto out = make_backend("openai", o)->generate(request({0, 1}));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30)) << "did not hang";
  EXPECT_EQ(s.requests(), failures + 1);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& c : out) {
    EXPECT_TRUE(c.error.empty()) << c.error;
    EXPECT_EQ(c.text, "sample-" + std::to_string(c.sample_index));
  }
}

TEST(OpenAIBackend, RetriesServiceUnavailableThenSucceeds) {
  expect_recovers("503", [](int, const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content(R"({"error":{"message":"overloaded"}})", "application/json");
    return true;
  }, 2);
}

TEST(OpenAIBackend, Retries429HonouringRetryAfter) {
  expect_recovers("429", [](int, const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Retry-After", "0");
    res.set_content("slow down", "text/plain");
    return true;
  }, 3);
}

TEST(OpenAIBackend, RetryAfterReplacesTheComputedBackoff) {
  FakeServer s;
  s.set_fault([](int no, const httplib::Request&, httplib::Response& res) {
    if (no > 0) return false;
    res.status = 429;
    res.set_header("Retry-After", "0");
    return true;
  });
  auto o = options(s);
  o.backoff_initial_s = 40;  // without Retry-After the first retry would wait at least 20 s
  o.backoff_max_s = 60;
  auto t0 = std::chrono::steady_clock::now();
  auto out = make_backend("openai", o)->generate(request({0}));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
  EXPECT_EQ(s.requests(), 2);
  EXPECT_TRUE(out[0].error.empty()) << out[0].error;
}

TEST(OpenAIBackend, RetriesMalformedJson) {
  expect_recovers("malformed", [](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"choices": [{"index": 0, "text": )", "application/json");
    return true;
  }, 1);
}

TEST(OpenAIBackend, RetriesClosedConnection) {
  expect_recovers("closed", [](int, const httplib::Request&, httplib::Response& res) {
    // Promise 1000 bytes, send a few, then abort: the server drops the connection mid-body.
    res.set_content_provider(1000, "application/json", [](size_t, size_t, httplib::DataSink& sink) {
      sink.write("{\"cho", 5);
      return false;
    });
    return true;
  }, 2);
}

TEST(OpenAIBackend, RetriesAfterReadTimeout) {
  expect_recovers("timeout", [](int, const httplib::Request& req, httplib::Response& res) {
    for (int i = 0; i < 150; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));  // 1.5 s > 0.3 s
    FakeServer::default_response(req, res);
    return true;
  }, 1, /*timeout_s=*/0.3);
}

TEST(OpenAIBackend, FinalFailureGivesErrorSamplesNeverThrows) {
  FakeServer s;
  s.set_fault([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content(R"({"error":{"message":"engine dead"}})", "application/json");
    return true;
  });
  auto o = options(s);
  o.max_retries = 2;
  std::mutex log_mu;
  std::vector<std::string> log;
  o.log = [&](const std::string& line) {
    std::lock_guard lock(log_mu);
    if (line.find("openai: POST") == 0) log.push_back(line);  // the retries (not discovery's notes)
  };
  std::vector<Completion> emitted;
  std::vector<Completion> out;
  ASSERT_NO_THROW(out = make_backend("openai", o)->generate(request({0, 1, 2}),
                                                             [&](const Completion& c) { emitted.push_back(c); }));
  EXPECT_EQ(s.requests(), 3);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(emitted.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(out[i].sample_index, i);
    EXPECT_EQ(out[i].finish, FinishReason::error);
    EXPECT_THAT(out[i].error, HasSubstr("503"));
    EXPECT_THAT(out[i].error, HasSubstr("engine dead"));
    EXPECT_THAT(out[i].error, HasSubstr("3 attempts"));
  }
  ASSERT_EQ(log.size(), 2u);  // one line per retried attempt (the last failure is reported in the samples)
  EXPECT_THAT(log[0], HasSubstr("attempt 1/3 failed: HTTP 503"));
  EXPECT_THAT(log[1], HasSubstr("retrying in"));
}

TEST(OpenAIBackend, ClientErrorIsNotRetried) {
  FakeServer s;
  s.set_fault([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 400;
    res.set_content(R"({"object":"error","message":"max_tokens is too large","type":"BadRequestError"})",
                    "application/json");
    return true;
  });
  auto out = make_backend("openai", options(s))->generate(request({0, 1}));
  EXPECT_EQ(s.requests(), 1);
  for (const auto& c : out) {
    EXPECT_EQ(c.finish, FinishReason::error);
    EXPECT_THAT(c.error, HasSubstr("HTTP 400"));
    EXPECT_THAT(c.error, HasSubstr("max_tokens is too large"));
    EXPECT_THAT(c.error, HasSubstr("not retried"));
  }
}

TEST(OpenAIBackend, ConnectionRefusedGivesErrorSamples) {
  // Grab a free port with a plain socket that never listens, then close it: nothing accepts there.
  int port = 0;
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port = ntohs(addr.sin_port);
    ::close(fd);
  }
  BackendOptions o;
  o.model = "m";
  o.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  o.max_retries = 1;
  o.backoff_initial_s = 0.01;
  o.connect_timeout_s = 2;
  o.timeout_s = 5;  // bounds the test even if something did accept
  auto out = make_backend("openai", o)->generate(request({0}));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].finish, FinishReason::error);
  EXPECT_THAT(out[0].error, HasSubstr("2 attempts"));
  EXPECT_THAT(out[0].error, HasSubstr("onnection"));
}

TEST(OpenAIBackend, ApiKeyFromEnvironmentIsSentButNeverInErrors) {
  FakeServer s;
  ::setenv("REVAL_TEST_OPENAI_KEY", "sk-secret-123\n", 1);  // trailing newline is trimmed
  s.set_fault([](int no, const httplib::Request&, httplib::Response& res) {
    if (no == 0) return false;
    res.status = 401;
    res.set_content(R"({"error":{"message":"invalid key"}})", "application/json");
    return true;
  });
  auto o = options(s);
  o.api_key_env = "REVAL_TEST_OPENAI_KEY";
  auto b = make_backend("openai", o);
  auto ok = b->generate(request({0}));
  auto bad = b->generate(request({1}));
  ::unsetenv("REVAL_TEST_OPENAI_KEY");
  ASSERT_EQ(s.requests(), 2);
  EXPECT_EQ(s.seen()[0].authorization, "Bearer sk-secret-123");
  EXPECT_TRUE(ok[0].error.empty());
  EXPECT_THAT(bad[0].error, HasSubstr("invalid key"));
  EXPECT_THAT(bad[0].error, Not(HasSubstr("sk-secret-123")));
}

TEST(OpenAIBackend, ConcurrencyLimitHoldsAcrossCallerThreads) {
  FakeServer s;
  s.set_delay_ms(100);
  auto o = options(s);
  o.concurrency = 2;
  o.request_n = false;
  auto b = make_backend("openai", o);
  EXPECT_EQ(b->max_concurrency(), 2);
  std::atomic<int> errors{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&] {
      auto out = b->generate(request({0, 1, 2}));
      for (const auto& c : out) errors += !c.error.empty();
    });
  for (auto& c : callers) c.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(s.requests(), 12);
  EXPECT_LE(s.max_in_flight(), 2);
  EXPECT_GE(s.max_in_flight(), 1);
}

TEST(OpenAIBackend, ManySamplesOnOneCallerShareThePool) {
  FakeServer s;
  s.set_delay_ms(20);
  auto o = options(s);
  o.concurrency = 3;
  o.request_n = false;
  std::vector<int> idx;
  for (int i = 0; i < 10; ++i) idx.push_back(i);
  std::mutex mu;
  std::vector<int> emitted;
  std::vector<Completion> out;
  {
    auto b = make_backend("openai", o);
    out = b->generate(request(idx), [&](const Completion& c) {
      std::lock_guard lock(mu);
      emitted.push_back(c.sample_index);
    });
  }  // backend (and its pool) destroyed right away
  EXPECT_EQ(s.requests(), 10);
  EXPECT_LE(s.max_in_flight(), 3);
  ASSERT_EQ(out.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(out[i].sample_index, i);
    EXPECT_TRUE(out[i].error.empty()) << out[i].error;
    EXPECT_EQ(out[i].seed, sample_seed(42, "aime", "p1", i));
  }
  std::sort(emitted.begin(), emitted.end());
  EXPECT_EQ(emitted, idx);
}

TEST(OpenAIBackend, ExtraIsAMergePatchAndChatTemplateOverrideIsSent) {
  FakeServer s;
  test::TempDir dir;
  std::string tmpl = dir.file("t.jinja");
  std::ofstream(tmpl) << "{{ messages }}";
  auto o = options(s);
  o.extra = {{"seed", nullptr}, {"repetition_penalty", 1.1}, {"skip_special_tokens", false}};
  o.chat_template = tmpl;
  auto out = make_backend("openai", o)->generate(request({0}));
  const json body = s.seen().at(0).body;
  EXPECT_FALSE(body.contains("seed"));
  EXPECT_DOUBLE_EQ(body["repetition_penalty"].get<double>(), 1.1);
  EXPECT_EQ(body["skip_special_tokens"], false);
  EXPECT_EQ(body["chat_template"], "{{ messages }}");
  EXPECT_TRUE(out[0].error.empty());
}

TEST(OpenAIBackend, EmptyModelIsResolvedFromModelsEndpoint) {
  FakeServer s;
  auto o = options(s);
  o.model = "";
  auto b = make_backend("openai", o);
  auto out = b->generate(request({0}));
  b->generate(request({1}));
  auto gets = s.gets();
  ASSERT_EQ(gets.size(), 1u);  // one GET /models (discovery), then two completions
  EXPECT_EQ(gets[0].path, "/v1/models");
  auto seen = s.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].body["model"], "served-model");
  EXPECT_EQ(seen[1].body["model"], "served-model");
  EXPECT_EQ(b->info().model, "served-model");
  EXPECT_TRUE(out[0].error.empty());
}

TEST(OpenAIBackend, AModelNameTheServerCouldNotGiveYetIsAskedForAgain) {
  FakeServer s;
  s.set_models(503);
  auto o = options(s);
  o.model = "";
  o.max_retries = 0;
  auto b = make_backend("openai", o);
  auto failed = b->generate(request({0}));
  EXPECT_EQ(failed[0].finish, FinishReason::error);
  EXPECT_THAT(failed[0].error, HasSubstr("could not determine the served model"));
  EXPECT_EQ(s.requests(), 0);
  s.set_models(nullptr);  // the server is ready now
  auto ok = b->generate(request({0}));
  EXPECT_TRUE(ok[0].error.empty()) << ok[0].error;
  EXPECT_EQ(s.seen().at(0).body["model"], "served-model");
  EXPECT_EQ(s.gets().size(), 2u);
}

TEST(OpenAIBackend, BaseUrlParsing) {
  auto p = parse_base_url("http://127.0.0.1:8000/v1");
  EXPECT_EQ(p.scheme, "http");
  EXPECT_EQ(p.host, "127.0.0.1");
  EXPECT_EQ(p.port, 8000);
  EXPECT_EQ(p.path, "/v1");
  p = parse_base_url("HTTPS://api.example.com/openai/v1/");
  EXPECT_EQ(p.scheme, "https");
  EXPECT_EQ(p.port, 443);
  EXPECT_EQ(p.path, "/openai/v1");
  p = parse_base_url("http://localhost");
  EXPECT_EQ(p.port, 80);
  EXPECT_EQ(p.path, "");
  p = parse_base_url("http://[::1]:9000/v1");
  EXPECT_EQ(p.host, "::1");
  EXPECT_EQ(p.port, 9000);
  EXPECT_THROW(parse_base_url("ftp://x/v1"), Error);
  EXPECT_THROW(parse_base_url("127.0.0.1:8000/v1"), Error);
  EXPECT_THROW(parse_base_url("http://:80/v1"), Error);
  EXPECT_THROW(parse_base_url("http://host:99999/v1"), Error);
  EXPECT_THROW(parse_base_url("http://host:80x/v1"), Error);
}


// ---- run options: context length, tokenizer, BOS, served name, completion tokens ----

struct Log {
  std::mutex mu;
  std::vector<std::string> lines;
  void attach(BackendOptions& o) {
    o.log = [this](const std::string& line) {
      std::lock_guard lock(mu);
      lines.push_back(line);
    };
  }
  std::string all() {
    std::lock_guard lock(mu);
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
};

TEST(OpenAIBackend, MaxTokensIsCappedToTheServersContextLength) {
  FakeServer s;
  s.set_models(json::array({{{"id", "test-model"}, {"object", "model"}, {"max_model_len", 1000}}}));
  auto o = options(s);
  Log log;
  log.attach(o);
  auto b = make_backend("openai", o);
  auto req = request({0, 1});
  req.sampling.max_new_tokens = 5000;
  auto out = b->generate(req);
  ASSERT_EQ(s.seen().size(), 1u);
  // No tokenizer: the prompt is estimated from UTF-8 bytes ("be brief" 8 + "What is 1+1?" 12) plus 16 per message
  // and 128 for the chat template: 180 tokens, so 820 are left.
  EXPECT_EQ(s.seen()[0].body["max_tokens"], 820);
  EXPECT_TRUE(out[0].error.empty()) << out[0].error;
  EXPECT_THAT(log.all(), HasSubstr("context length 1000 tokens (max_model_len from GET /models of 1 of 1 servers)"));
  EXPECT_THAT(log.all(), HasSubstr("max_tokens 5000 -> 820 for aime/p1"));
  EXPECT_THAT(log.all(), HasSubstr("estimated from UTF-8 bytes"));
  // A request that fits is sent as asked; discovery ran once.
  b->generate(request({2}));
  EXPECT_EQ(s.seen()[1].body["max_tokens"], 123);
  EXPECT_EQ(s.gets().size(), 1u);
  // A prompt that leaves no room is not sent at all.
  auto big = request({3});
  big.messages = {{"user", std::string(2000, 'x')}};
  auto none = b->generate(big);
  EXPECT_EQ(s.seen().size(), 2u);
  EXPECT_EQ(none[0].finish, FinishReason::error);
  EXPECT_THAT(none[0].error, HasSubstr("leaves no room in the server's context length of 1000 tokens"));
  // --context-length overrides what the server says; a server without max_model_len leaves max_tokens alone.
  o.context_length = 500;
  make_backend("openai", o)->generate(req);
  EXPECT_EQ(s.seen().back().body["max_tokens"], 320);
  FakeServer plain;
  auto p = make_backend("openai", options(plain));
  p->generate(req);
  EXPECT_EQ(plain.seen().at(0).body["max_tokens"], 5000);
}

TEST(OpenAIBackend, CompletionsWithATokenizerCountExactlyAndSendOneBos) {
  const std::string dir = test::shared_path("models/llama3-tokenizer");
  auto tok = Tokenizer::from_file(dir + "/tokenizer.json");
  auto tmpl = ChatTemplate::from_model_dir(dir);
  FakeServer s;
  s.set_models(json::array({{{"id", "llama"}, {"max_model_len", 4096}}}));
  auto o = options(s);
  o.endpoint = "completions";
  o.tokenizer = dir;
  o.served_model_name = "llama";
  Log log;
  log.attach(o);
  auto b = make_backend("openai", o);
  auto req = request({0, 1, 2});
  req.sampling.max_new_tokens = 100000;
  auto out = b->generate(req);
  const json body = s.seen().at(0).body;
  EXPECT_EQ(body["model"], "llama");
  nlohmann::ordered_json msgs = {{{"role", "system"}, {"content", "be brief"}}, {{"role", "user"}, {"content", "What is 1+1?"}}};
  const std::string rendered = tmpl->render_ordered(msgs, true);
  ASSERT_EQ(rendered.rfind("<|begin_of_text|>", 0), 0u) << "the Llama 3 template renders the BOS";
  // The server's tokenizer adds the BOS, so the prompt goes without it: the model sees exactly one.
  EXPECT_EQ(body["prompt"], rendered.substr(std::string("<|begin_of_text|>").size()));
  EXPECT_THAT(log.all(), HasSubstr("the prompt is sent without it"));
  // max_tokens: the context minus the prompt as the server counts it (BOS included).
  const auto prompt_ids = tok->encode(body["prompt"].get<std::string>(), true);
  ASSERT_EQ(prompt_ids.front(), *tok->bos_id());
  EXPECT_EQ(body["max_tokens"], 4096 - static_cast<int>(prompt_ids.size()));
  EXPECT_THAT(log.all(), HasSubstr("counted with the tokenizer"));
  // n = 3 with usage totals only: each choice's completion tokens are counted with the tokenizer.
  for (const auto& c : out) {
    ASSERT_TRUE(c.error.empty()) << c.error;
    EXPECT_EQ(c.completion_tokens, static_cast<std::int64_t>(tok->encode(c.text, false).size()));
    EXPECT_EQ(c.prompt_tokens, 11);  // usage.prompt_tokens, as the server reported it
  }
  auto info = b->info();
  EXPECT_EQ(info.details["bos"]["server_adds_bos"], true);
  EXPECT_EQ(info.details["tokenizer"], dir);
  EXPECT_EQ(info.details["served_model_name"], "llama");
}

TEST(OpenAIBackend, BosIsKeptWhenTheServerAddsNone) {
  FakeServer s;
  test::TempDir dir;
  json cfg = {{"bos_token", "<s>"},
              {"add_bos_token", false},
              {"chat_template", "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"}};
  std::ofstream(dir.file("tokenizer_config.json")) << cfg.dump();
  auto o = options(s);
  o.endpoint = "completions";
  o.model = dir.path();
  Log log;
  log.attach(o);
  make_backend("openai", o)->generate(request({0}));
  EXPECT_EQ(s.seen().at(0).body["prompt"], "<s>be briefWhat is 1+1?");
  EXPECT_THAT(log.all(), HasSubstr("adds none: sent as rendered"));
  // The twin: add_bos_token true, so the server adds it and reval leaves it out.
  cfg["add_bos_token"] = true;
  std::ofstream(dir.file("tokenizer_config.json")) << cfg.dump();
  make_backend("openai", o)->generate(request({0}));
  EXPECT_EQ(s.seen().at(1).body["prompt"], "be briefWhat is 1+1?");
}

TEST(OpenAIBackend, CompletionTokensPerChoiceWhenNIsAboveOne) {
  FakeServer s;
  // Choice 0 reports its own usage; the others do not.
  s.set_fault([](int, const httplib::Request& req, httplib::Response& res) {
    FakeServer::default_response(req, res);
    json body = json::parse(res.body);
    body["choices"][0]["usage"] = {{"completion_tokens", 42}};
    res.set_content(body.dump(), "application/json");
    return true;
  });
  auto out = make_backend("openai", options(s))->generate(request({0, 1}));
  EXPECT_EQ(out[0].completion_tokens, 42);
  EXPECT_EQ(out[1].completion_tokens, -1) << "no tokenizer, no per-choice usage: unknown";
  // With a tokenizer the unknown one is counted.
  auto o = options(s);
  o.tokenizer = test::shared_path("models/qwen3-tokenizer");
  auto counted = make_backend("openai", o)->generate(request({0, 1}));
  auto tok = Tokenizer::from_file(test::shared_path("models/qwen3-tokenizer/tokenizer.json"));
  EXPECT_EQ(counted[0].completion_tokens, 42);
  EXPECT_EQ(counted[1].completion_tokens, static_cast<std::int64_t>(tok->encode("sample-1", false).size()));
  EXPECT_GT(counted[1].completion_tokens, 0);
  o.tokenizer = test::shared_path("models");  // a folder without tokenizer.json
  EXPECT_THROW(make_backend("openai", o), Error);
}

// ---- several servers ----

TEST(OpenAIBackend, ProblemsSpreadOverServersAndStayOnOne) {
  constexpr int kServers = 3, kProblems = 6;
  std::vector<std::unique_ptr<FakeServer>> servers;
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> started;  // problems whose first request arrived somewhere
  for (int i = 0; i < kServers; ++i) servers.push_back(std::make_unique<FakeServer>());
  for (auto& sv : servers)
    sv->set_fault([&](int, const httplib::Request& req, httplib::Response& res) {
      // Hold every request until all problems have been homed, so the spread does not depend on timing.
      std::string problem = json::parse(req.body)["messages"].back()["content"];
      std::unique_lock lock(mu);
      started.insert(problem);
      cv.notify_all();
      cv.wait_for(lock, std::chrono::seconds(20), [&] { return started.size() == kProblems; });
      lock.unlock();
      FakeServer::default_response(req, res);
      return true;
    });
  BackendOptions o = options(*servers[0]);
  o.base_urls.clear();
  for (auto& sv : servers) o.base_urls.push_back(sv->base_url());
  o.request_n = false;  // k requests per problem: they must all reach one server
  o.concurrency = 32;
  auto b = make_backend("openai", o);
  std::vector<std::thread> callers;
  std::atomic<int> errors{0};
  for (int p = 0; p < kProblems; ++p)
    callers.emplace_back([&, p] {
      auto req = request({0, 1, 2});
      req.problem_id = fmt::format("p{}", p);
      req.messages = {{"user", fmt::format("problem {}", p)}};
      for (const auto& c : b->generate(req)) errors += !c.error.empty();
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(errors.load(), 0);
  std::map<std::string, std::set<int>> where;
  for (int i = 0; i < kServers; ++i) {
    std::set<std::string> mine;
    for (const auto& seen : servers[i]->seen()) {
      std::string problem = seen.body["messages"].back()["content"];
      where[problem].insert(i);
      mine.insert(problem);
    }
    EXPECT_EQ(mine.size(), 2u) << "server " << i << ": the least loaded server takes each new problem";
    EXPECT_EQ(servers[i]->requests(), 6);
    EXPECT_EQ(servers[i]->gets().size(), 1u) << "every server is asked for its models once";
  }
  ASSERT_EQ(where.size(), static_cast<size_t>(kProblems));
  for (const auto& [problem, on] : where) EXPECT_EQ(on.size(), 1u) << problem << " went to several servers";
  EXPECT_THAT(b->info().device, HasSubstr("3 servers"));
  EXPECT_EQ(b->info().details["servers"].size(), 3u);
}

TEST(OpenAIBackend, AFailingServerIsTakenOutOfRotation) {
  FakeServer bad, good;
  bad.set_fault([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 502;
    res.set_content("bad gateway", "text/plain");
    return true;
  });
  BackendOptions o = options(good);
  o.base_urls = {bad.base_url(), good.base_url()};
  o.breaker_failures = 2;
  o.breaker_initial_s = 600;  // out for the rest of the test
  o.backoff_initial_s = 30;   // a retry that waited would make the test slow: retries go to the good server at once
  Log log;
  log.attach(o);
  auto b = make_backend("openai", o);
  auto t0 = std::chrono::steady_clock::now();
  for (int p = 0; p < 10; ++p) {
    auto req = request({0, 1});
    req.problem_id = fmt::format("p{}", p);
    for (const auto& c : b->generate(req)) EXPECT_TRUE(c.error.empty()) << c.error;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(25)) << "retries did not wait";
  EXPECT_EQ(bad.requests(), 2) << "two failures in a row, then out of rotation";
  EXPECT_EQ(good.requests(), 10);
  EXPECT_THAT(log.all(), HasSubstr("taken out of rotation after 2 failures in a row"));
  EXPECT_THAT(log.all(), HasSubstr("retrying on another server"));
}

TEST(OpenAIBackend, AServerThatRecoversComesBackIntoRotation) {
  FakeServer flaky, good;
  flaky.set_fault([](int no, const httplib::Request&, httplib::Response& res) {
    if (no >= 2) return false;  // the first two requests fail, then it works
    res.status = 503;
    return true;
  });
  BackendOptions o = options(good);
  o.base_urls = {flaky.base_url(), good.base_url()};
  o.breaker_failures = 2;
  o.breaker_initial_s = 0.2;
  Log log;
  log.attach(o);
  auto b = make_backend("openai", o);
  for (int p = 0; p < 4; ++p) b->generate(request({0}));
  EXPECT_EQ(flaky.requests(), 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  for (int p = 0; p < 6; ++p)
    for (const auto& c : b->generate(request({0}))) EXPECT_TRUE(c.error.empty()) << c.error;
  EXPECT_GT(flaky.requests(), 2) << "probed after its time out and used again";
  EXPECT_THAT(log.all(), HasSubstr("back in rotation"));
}
}  // namespace
}  // namespace reval
