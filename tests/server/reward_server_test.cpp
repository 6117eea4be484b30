// The reward server against a running instance (in-process, on a free loopback port): OpenRLHF's protocol,
// /grade, /health, bad requests (400/404/413), the bearer token (401), per-request deadlines, back-pressure (429
// with Retry-After: too many pending items, every connection thread taken), concurrent clients, a slow client cut
// off by the read timeout, and graceful stop with a request in flight.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "base/error.hpp"
#include "server/reward_server.hpp"

using nlohmann::json;
namespace rw = reval::rewards;
using reval::server::RewardServer;
using reval::server::RewardServerOptions;

namespace {

// "block" waits for release(); "throw" throws; otherwise correct when the response contains the gold.
class FakeGrader final : public reval::Grader {
 public:
  std::string_view name() const override { return "fake"; }
  std::string_view version() const override { return "0"; }
  reval::GradeResult grade(const reval::GradeRequest& req) const override {
    if (req.response.find("throw") != std::string::npos) throw std::runtime_error("sandbox down");
    if (req.response.find("block") != std::string::npos) {
      std::unique_lock<std::mutex> lock(mu);
      ++blocked;
      cv.notify_all();
      cv.wait(lock, [&] { return released; });
    }
    reval::GradeResult r;
    bool ok = !req.gold.empty() && req.response.find(req.gold[0]) != std::string::npos;
    r.verdict = ok ? reval::Verdict::correct : reval::Verdict::wrong;
    r.score = ok ? 1 : 0;
    return r;
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
  void wait_blocked(int n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return blocked >= n; });
  }
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  mutable int blocked = 0;
  bool released = false;
};

// Options for the tests: two grading threads.
RewardServerOptions test_options() {
  RewardServerOptions o;
  o.workers = 2;
  return o;
}

struct Server {
  Server() : Server(test_options()) {}
  explicit Server(const RewardServerOptions& o) {
    server = std::make_unique<RewardServer>(o);
    auto g = std::make_unique<FakeGrader>();
    fake = g.get();
    server->scorer().graders().add("fake", std::move(g));
    server->scorer().add_route("fake", rw::Route{"fake", json::object(), "fake"});
    port = server->start();
  }
  ~Server() {
    fake->release();
    server->stop();
    server->wait();
  }
  httplib::Client client(double timeout_s = 60) const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(std::chrono::milliseconds(static_cast<int>(timeout_s * 1000)));
    return c;
  }
  std::unique_ptr<RewardServer> server;
  FakeGrader* fake = nullptr;
  int port = 0;
};

json openrlhf_body(const std::vector<std::string>& responses, const std::vector<json>& labels,
                   const std::string& source = "") {
  json b = {{"query", json::array()}, {"prompts", json::array()}, {"labels", json::array()}};
  for (std::size_t i = 0; i < responses.size(); ++i) {
    std::string prompt = "<|user|>Question " + std::to_string(i) + "<|assistant|>";
    b["query"].push_back(prompt + responses[i]);
    b["prompts"].push_back(prompt);
    b["labels"].push_back(labels[i]);
  }
  if (!source.empty()) {
    b["metas"] = json::array();
    for (std::size_t i = 0; i < responses.size(); ++i) b["metas"].push_back({{"data_source", source}});
  }
  return b;
}

json parse(const httplib::Result& r) {
  EXPECT_TRUE(r) << "no response: " << httplib::to_string(r.error());
  if (!r) return json();
  auto j = json::parse(r->body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r->body;
  return j;
}

}  // namespace

TEST(RewardServer, OpenRlhfProtocol) {
  Server s;
  auto c = s.client();
  auto body = openrlhf_body({"<think>ok</think> \\boxed{\\frac12}", "<think>hmm</think> \\boxed{3}", "no answer"},
                            {"0.5", json::array({"4", "four"}), "1"});
  auto r = c.Post("/", body.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  json j = parse(r);
  EXPECT_EQ(j["rewards"], json::array({1.0, 0.0, 0.0}));
  EXPECT_EQ(j["scores"], json::array({1.0, 0.0, 0.0}));
  EXPECT_EQ(j["verdicts"], json::array({"correct", "wrong", "no_answer"}));
  EXPECT_EQ(j["extra_logs"]["accuracy"].size(), 3u);
  EXPECT_EQ(j["extra_logs"]["format"], json::array({1.0, 1.0, 0.0}));
  EXPECT_EQ(j["extra_logs"]["missing"], json::array({0.0, 0.0, 0.0}));
  EXPECT_EQ(j["missing"], 0);
  EXPECT_FALSE(j.contains("prompt_not_found"));
  // /get_reward (OpenRLHF's example path) is the same endpoint; details on request.
  body["return_details"] = true;
  json k = parse(c.Post("/get_reward", body.dump(), "application/json"));
  EXPECT_EQ(k["rewards"], j["rewards"]);
  EXPECT_EQ(k["details"][0]["extracted"], "1/2");
  EXPECT_EQ(k["details"][0]["grader"], "math");
  // Routing by metas (verl-style data_source): a choice item.
  json m = parse(c.Post("/", openrlhf_body({"<think>x</think>\nAnswer: B"}, {"B"}, "gpqa_diamond").dump(),
                        "application/json"));
  EXPECT_EQ(m["rewards"], json::array({1.0}));
  // Without prompts the whole query is graded.
  json q = parse(c.Post("/", json{{"query", {"\\boxed{7}"}}, {"labels", {"7"}}}.dump(), "application/json"));
  EXPECT_EQ(q["rewards"], json::array({1.0}));
}

TEST(RewardServer, InfraErrorIsNullNeverZero) {
  Server s;
  auto c = s.client();
  json j = parse(c.Post("/", openrlhf_body({"throw", "x"}, {"x", "x"}, "fake").dump(), "application/json"));
  EXPECT_EQ(j["rewards"][0], nullptr);
  EXPECT_EQ(j["scores"][0], nullptr);
  EXPECT_EQ(j["rewards"][1], 1.0);  // the positive twin in the same request
  EXPECT_EQ(j["verdicts"][0], "infra_error");
  EXPECT_EQ(j["missing"], 1);
  EXPECT_EQ(j["infra_errors"], 1);
  EXPECT_EQ(j["extra_logs"]["missing"], json::array({1.0, 0.0}));
  // A label the core cannot read: that item is missing, the others are graded.
  json b = openrlhf_body({"\\boxed{1}", "\\boxed{2}"}, {json::object(), "2"});
  json e = parse(c.Post("/", b.dump(), "application/json"));
  EXPECT_EQ(e["rewards"], json::array({nullptr, 1.0}));
  ASSERT_EQ(e["errors"].size(), 1u);
  EXPECT_EQ(e["errors"][0]["index"], 0);
  EXPECT_NE(e["errors"][0]["error"].get<std::string>().find("labels[0]"), std::string::npos);
  // An unknown data source in metas is the same kind of item error.
  json u = parse(c.Post("/", openrlhf_body({"\\boxed{1}"}, {"1"}, "no/such-source").dump(), "application/json"));
  EXPECT_EQ(u["rewards"], json::array({nullptr}));
  EXPECT_NE(u["errors"][0]["error"].get<std::string>().find("no/such-source"), std::string::npos);
}

TEST(RewardServer, MalformedRequestsGet400WithAMessage) {
  Server s;
  auto c = s.client();
  auto expect_400 = [&](const std::string& body, const std::string& words) {
    auto r = c.Post("/", body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r->body;
    EXPECT_NE(j.value("error", "").find(words), std::string::npos) << body << " -> " << r->body;
  };
  expect_400("{\"query\": [", "not valid JSON");
  expect_400("[1, 2]", "expected a JSON object");
  expect_400("{\"labels\": []}", "query");
  expect_400("{\"query\": \"text\", \"labels\": [\"1\"]}", "query");
  expect_400("{\"query\": [1], \"labels\": [\"1\"]}", "query[0]");
  expect_400("{\"query\": [\"a\"]}", "labels");
  expect_400("{\"query\": [\"a\", \"b\"], \"labels\": [\"1\"]}", "labels");
  expect_400("{\"query\": [\"a\"], \"labels\": [\"1\"], \"prompts\": [\"p\", \"q\"]}", "prompts");
  expect_400("{\"query\": [\"a\"], \"labels\": [\"1\"], \"prompts\": [3]}", "prompts[0]");
  expect_400("{\"query\": [\"a\"], \"labels\": [\"1\"], \"metas\": [\"x\"]}", "metas[0]");
  auto nf = c.Get("/nowhere");
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->status, 404);
  EXPECT_NE(nf->body.find("/grade"), std::string::npos) << nf->body;  // says what exists
  // The server keeps serving after all that.
  json ok = parse(c.Post("/", openrlhf_body({"\\boxed{1}"}, {"1"}).dump(), "application/json"));
  EXPECT_EQ(ok["rewards"], json::array({1.0}));
  EXPECT_GE(s.server->counters().bad_requests, 10);
}

TEST(RewardServer, OversizeBodyGets413) {
  RewardServerOptions o = test_options();
  o.max_body_bytes = 2000;
  Server s(o);
  auto c = s.client();
  std::string big = openrlhf_body({std::string(3000, 'x')}, {"1"}).dump();
  auto r = c.Post("/", big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("2000 bytes"), std::string::npos) << r->body;
  // Just under the limit is fine.
  auto small = c.Post("/", openrlhf_body({std::string(1000, 'x') + "\\boxed{1}"}, {"1"}).dump(), "application/json");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->status, 200) << small->body;
}

TEST(RewardServer, BearerToken) {
  RewardServerOptions o = test_options();
  o.token = "s3cret";
  Server s(o);
  auto c = s.client();
  const std::string body = openrlhf_body({"\\boxed{1}"}, {"1"}).dump();
  auto none = c.Post("/", body, "application/json");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  auto wrong = c.Post("/", httplib::Headers{{"Authorization", "Bearer s3cre7"}}, body, "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto longer = c.Post("/grade?grader=math", httplib::Headers{{"Authorization", "Bearer s3cret0"}}, "[]",
                       "application/json");
  ASSERT_TRUE(longer);
  EXPECT_EQ(longer->status, 401);
  auto right = c.Post("/", httplib::Headers{{"Authorization", "Bearer s3cret"}}, body, "application/json");
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200) << right->body;
  auto health = c.Get("/health");  // no token needed
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body)["token"], true);
  EXPECT_EQ(s.server->counters().unauthorized, 3);
}

TEST(RewardServer, PerRequestTimeoutGivesMissingRewards) {
  RewardServerOptions o = test_options();
  o.request_timeout_s = 0.5;
  Server s(o);
  auto c = s.client();
  const auto t0 = std::chrono::steady_clock::now();
  json j = parse(c.Post("/", openrlhf_body({"block", "x"}, {"x", "x"}, "fake").dump(), "application/json"));
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(took, 30.0);  // answered at the deadline, not when the blocked item finishes (never, here)
  EXPECT_EQ(j["rewards"][0], nullptr);
  EXPECT_EQ(j["rewards"][1], 1.0);
  EXPECT_EQ(j["stats"]["deadline"], 1);
  EXPECT_EQ(j["missing"], 1);
  s.fake->release();
  // The server is not stuck: the next request is graded.
  json k = parse(c.Post("/", openrlhf_body({"x"}, {"x"}, "fake").dump(), "application/json"));
  EXPECT_EQ(k["rewards"], json::array({1.0}));
}

TEST(RewardServer, TooManyPendingItemsGet429WithRetryAfter) {
  RewardServerOptions o = test_options();
  o.max_pending_items = 2;
  o.retry_after_s = 3;
  Server s(o);
  json first;
  std::thread busy([&] {
    auto c = s.client();
    first = parse(c.Post("/", openrlhf_body({"block", "block"}, {"x", "x"}, "fake").dump(), "application/json"));
  });
  s.fake->wait_blocked(2);
  EXPECT_EQ(s.server->pending_items(), 2u);
  auto c = s.client();
  auto r = c.Post("/", openrlhf_body({"x"}, {"x"}, "fake").dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429) << r->body;
  EXPECT_EQ(r->get_header_value("Retry-After"), "3");
  EXPECT_NE(r->body.find("busy"), std::string::npos);
  // More items in one request than the server ever admits: 413, not a 429 to retry forever.
  auto huge = c.Post("/", openrlhf_body({"x", "x", "x"}, {"x", "x", "x"}, "fake").dump(), "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413) << huge->body;
  auto health = json::parse(c.Get("/health")->body);
  EXPECT_EQ(health["pending_items"], 2);
  s.fake->release();
  busy.join();
  EXPECT_EQ(first["rewards"], json::array({0.0, 0.0}));
  EXPECT_EQ(s.server->pending_items(), 0u);
  auto again = c.Post("/", openrlhf_body({"x"}, {"x"}, "fake").dump(), "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_GE(s.server->counters().busy, 1);
}

TEST(RewardServer, EveryConnectionThreadTakenGets429NotAQueue) {
  RewardServerOptions o = test_options();
  o.http_threads = 1;
  o.max_waiting_connections = 0;
  Server s(o);
  std::thread busy([&] {
    auto c = s.client();
    auto r = c.Post("/", openrlhf_body({"block"}, {"x"}, "fake").dump(), "application/json");
    EXPECT_TRUE(r && r->status == 200);
  });
  s.fake->wait_blocked(1);
  auto c = s.client();
  auto r = c.Post("/", openrlhf_body({"x"}, {"x"}, "fake").dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429) << r->body;
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_EQ(r->get_header_value("Connection"), "close");
  s.fake->release();
  busy.join();
  // The one thread is free again.
  auto again = s.client().Post("/", openrlhf_body({"x"}, {"x"}, "fake").dump(), "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
}

TEST(RewardServer, ConcurrentClients) {
  RewardServerOptions o = test_options();
  o.http_threads = 8;
  Server s(o);
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      auto c = s.client();
      for (int i = 0; i < 15; ++i) {
        const int v = t * 100 + i + 1;  // never 0: the second answer, boxed 0, is wrong
        auto body = openrlhf_body({"\\boxed{" + std::to_string(v) + "}", "\\boxed{0}"},
                                  {std::to_string(v), std::to_string(v)});
        auto r = c.Post("/", body.dump(), "application/json");
        json j = r ? json::parse(r->body, nullptr, false) : json();
        if (r && r->status == 200 && j["rewards"] == json::array({1.0, 0.0})) {
          ++ok;
        } else {
          ++bad;
          ADD_FAILURE() << "client " << t << " request " << i << ": "
                        << (r ? std::to_string(r->status) + " " + r->body : httplib::to_string(r.error()));
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 120);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(s.server->counters().requests, 120);
  EXPECT_EQ(s.server->counters().items, 240);
}

TEST(RewardServer, SlowClientIsCutOffByTheReadTimeout) {
  RewardServerOptions o = test_options();
  o.read_timeout_s = 0.5;
  o.http_threads = 2;
  Server s(o);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(s.port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"qu";
  ASSERT_EQ(send(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
  // Never send the rest: the server must give up on us and close the connection.
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[4096];
  ssize_t n = 0, total = 0;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) total += n;
  EXPECT_EQ(n, 0) << "the connection was not closed by the server (errno " << errno << ")";
  close(fd);
  // Meanwhile and after, others are served.
  auto h = s.client().Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST(RewardServer, GradeEndpointTakesRevalLines) {
  Server s;
  auto c = s.client();
  // {"grader", "items"}.
  json body = {{"grader", "math"},
               {"items", {{{"response", "\\boxed{2}"}, {"gold", "2"}, {"id", "a"}},
                          {{"response", "\\boxed{3}"}, {"gold", "2"}, {"id", "b"}},
                          {{"gold", "2"}, {"id", "c"}}}}};
  json j = parse(c.Post("/grade", body.dump(), "application/json"));
  ASSERT_EQ(j["results"].size(), 3u);
  EXPECT_EQ(j["results"][0]["verdict"], "correct");
  EXPECT_EQ(j["results"][0]["id"], "a");  // input fields are kept, as `reval grade` does
  EXPECT_EQ(j["results"][0]["reward"], 1.0);
  EXPECT_EQ(j["results"][0]["score"], 1.0);
  EXPECT_EQ(j["results"][1]["verdict"], "wrong");
  EXPECT_EQ(j["results"][2]["line"], 3);
  EXPECT_NE(j["results"][2]["error"].get<std::string>().find("response"), std::string::npos);
  EXPECT_EQ(j["stats"]["malformed"], 1);
  // A list with ?grader=.
  json l = parse(c.Post("/grade?grader=choice", json::array({{{"response", "Answer: D"}, {"gold", "D"}}}).dump(),
                        "application/json"));
  EXPECT_EQ(l["results"][0]["verdict"], "correct");
  // JSONL in, JSONL out, with a broken line reported in place.
  auto r = c.Post("/grade?grader=math", "{\"response\": \"\\\\boxed{5}\", \"gold\": \"5\"}\n{oops\n", "application/x-ndjson");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  auto nl = r->body.find('\n');
  ASSERT_NE(nl, std::string::npos);
  EXPECT_EQ(json::parse(r->body.substr(0, nl))["verdict"], "correct");
  EXPECT_EQ(json::parse(r->body.substr(nl + 1))["line"], 2);
  // A code item whose fields the grader rejects is a malformed line naming the field (as in `reval grade`), not a
  // missing reward; the same item with valid tests is graded.
  json code = json::array({{{"response", "```python\nprint(1)\n```"}, {"mode", "stdio"}, {"tests", "oops"}},
                           {{"response", "```python\nprint(1)\n```"}, {"mode", "stdio"},
                            {"tests", {{{"input", ""}, {"output", "1\n"}}}}}});
  json cj = parse(c.Post("/grade?grader=code", code.dump(), "application/json"));
  ASSERT_EQ(cj["results"].size(), 2u) << cj.dump();
  EXPECT_EQ(cj["results"][0]["line"], 1) << cj.dump();
  EXPECT_NE(cj["results"][0].value("error", std::string()).find("tests"), std::string::npos) << cj.dump();
  EXPECT_EQ(cj["results"][1]["verdict"], "correct") << cj.dump();
  EXPECT_EQ(cj["stats"]["malformed"], 1) << cj.dump();
  // Errors in the request itself.
  auto no_grader = c.Post("/grade", "[]", "application/json");
  ASSERT_TRUE(no_grader);
  EXPECT_EQ(no_grader->status, 400);
  EXPECT_NE(no_grader->body.find("grader"), std::string::npos);
  auto unknown = c.Post("/grade?grader=poetry", "[]", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
  EXPECT_NE(unknown->body.find("poetry"), std::string::npos);
}

TEST(RewardServer, StopAnswersTheRequestInFlight) {
  auto s = std::make_unique<Server>();
  json answer;
  std::thread in_flight([&] {
    auto c = s->client();
    answer = parse(c.Post("/", openrlhf_body({"block x"}, {"x"}, "fake").dump(), "application/json"));
  });
  s->fake->wait_blocked(1);
  s->server->stop();  // stops accepting; the request in flight is still answered
  auto refused = httplib::Client("127.0.0.1", s->port).Get("/health");
  EXPECT_FALSE(refused && refused->status == 200) << "a stopped server accepted a new connection";
  std::thread waiter([&] { s->server->wait(); });
  s->fake->release();
  in_flight.join();
  waiter.join();
  EXPECT_EQ(answer["rewards"], json::array({1.0}));
}

TEST(RewardServer, HealthAndBadOptions) {
  Server s;
  json h = parse(s.client().Get("/health"));
  EXPECT_EQ(h["status"], "ok");
  EXPECT_EQ(h["workers"], 2);
  EXPECT_FALSE(h["version"].get<std::string>().empty());
  RewardServerOptions bad;
  bad.source = "not-a-dataset";
  EXPECT_THROW(RewardServer{bad}, reval::Error);
  RewardServerOptions taken;
  taken.port = s.port;  // already in use
  RewardServer second(taken);
  EXPECT_THROW(second.start(), reval::Error);
}
