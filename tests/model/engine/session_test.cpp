// Session (text level) against the single-sequence path: many requests with stop strings and k samples, submitted
// from several threads at once, give for every sample the text, token count and finish reason that generating it
// alone (generate_one) and then cutting its decoded text at the first stop string gives; streamed text pieces add
// up to the final text and never include a stop string.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>

#include "model/engine/cpu_ops.hpp"
#include "model/engine/session.hpp"
#include "model/engine/single_sequence.hpp"
#include "tests/model/engine/golden_util.hpp"

namespace reval::engine {
namespace {

struct Expected {
  std::string text;
  std::int64_t completion_tokens = 0;
  Finish finish = Finish::length;
};

// The sample generated alone without stop strings, then cut where a stop string first appears in the text decoded
// so far (after the token that completes it), as the session does while streaming.
Expected expected(Session& s, const TextRequest& tr, std::size_t i) {
  CpuOps ops(1);
  Request r;
  r.prompt = tr.prompt;
  r.seeds = tr.seeds;
  r.sampler = tr.sampler;
  r.max_new_tokens = tr.max_new_tokens;
  r.stop_tokens = s.stop_tokens();
  r.vocab_limit = s.vocab_limit();
  const SampleResult one = generate_one(s.model(), ops, r, i);
  for (std::size_t n = 1; n <= one.tokens.size(); ++n) {
    const std::string text =
        s.tokenizer()->decode(std::span<const TokenId>(one.tokens.data(), n), /*skip_special_tokens=*/true);
    for (const auto& stop : tr.stop)
      if (auto pos = text.find(stop); pos != std::string::npos)
        return {text.substr(0, pos), static_cast<std::int64_t>(n), Finish::stop};
  }
  return {s.tokenizer()->decode(one.tokens, true), one.completion_tokens(), one.finish};
}

TEST(Session, StopStringsAndConcurrentRequestsEqualTheSingleSequencePath) {
  SessionOptions o;
  o.engine.threads = 2;
  o.engine.kv_memory = 32 << 20;
  o.engine.block_size = 8;
  Session s(test::models_dir() + "/tinystories-656k", o);
  const char* prompts[] = {"Once upon a time", "The little dog", "Tom and Sue went to the park", "One day"};
  const std::vector<std::vector<std::string>> stops = {{"."}, {" the", "!"}, {"Lily"}, {}};
  std::vector<TextRequest> reqs;
  for (int p = 0; p < 4; ++p) {
    TextRequest r;
    r.prompt = s.completion_prompt(prompts[p]);
    for (int j = 0; j < 1 + 3 * p; ++j) r.seeds.push_back(static_cast<std::uint64_t>(100 * p + j));
    r.sampler = {1.0, 0.95, 0, 0.0};
    r.max_new_tokens = 40 + 7 * p;
    r.stop = stops[static_cast<std::size_t>(p)];
    reqs.push_back(r);
  }
  std::mutex mu;
  std::map<std::pair<int, std::size_t>, std::string> streamed;
  std::vector<std::vector<TextResult>> got(reqs.size());
  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < reqs.size(); ++p) {
    reqs[p].on_text = [&, p](std::size_t i, std::string_view piece) {
      std::lock_guard lock(mu);
      streamed[std::make_pair(static_cast<int>(p), i)] += piece;
    };
    threads.emplace_back([&, p] { got[p] = s.generate(reqs[p]); });
  }
  for (auto& t : threads) t.join();
  int stopped = 0;
  for (std::size_t p = 0; p < reqs.size(); ++p) {
    ASSERT_EQ(got[p].size(), reqs[p].seeds.size());
    for (std::size_t i = 0; i < got[p].size(); ++i) {
      const Expected want = expected(s, reqs[p], i);
      const TextResult& r = got[p][i];
      EXPECT_EQ(r.text, want.text) << "request " << p << " sample " << i;
      EXPECT_EQ(r.completion_tokens, want.completion_tokens) << "request " << p << " sample " << i;
      EXPECT_EQ(r.finish, want.finish) << "request " << p << " sample " << i;
      const std::pair<int, std::size_t> key(static_cast<int>(p), i);
      EXPECT_EQ(streamed[key], r.text) << "streamed pieces add up to the text";
      for (const auto& stop : reqs[p].stop) EXPECT_EQ(r.text.find(stop), std::string::npos);
      stopped += r.finish == Finish::stop ? 1 : 0;
    }
  }
  EXPECT_GT(stopped, 3) << "the stop strings should end several samples";
  s.engine().check_idle();
}

}  // namespace
}  // namespace reval::engine
