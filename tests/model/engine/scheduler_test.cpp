// The scheduler against the single-sequence path (differential), on the tiny checkpoints: a mix of prompt lengths
// (crossing and hitting block boundaries), k from 1 to 16, greedy and seeded sampling, different max_new_tokens,
// stop tokens and a stop callback, all submitted at once — under the default options, with tiny blocks and a tiny
// step budget (queueing, chunked prefill), with a KV budget so small that sequences are preempted and recomputed,
// and without prompt sharing or prefix cache. Every sample must equal its single-sequence run token for token
// (the CPU determinism contract), and no block may leak. Also: prefix-cache reuse across requests, the memory
// bound of prompt sharing, a budget too small for one sequence (a clear error, no hang), cancellation, a failing
// callback and a failing device step (the request fails, its blocks come back, the engine goes on).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "base/error.hpp"
#include "model/engine/cpu_ops.hpp"
#include "model/engine/engine.hpp"
#include "model/engine/single_sequence.hpp"
#include "tests/model/engine/golden_util.hpp"

namespace reval::engine {
namespace {

std::vector<TokenId> make_prompt(int len, int salt) {
  std::vector<TokenId> p;
  for (int i = 0; i < len; ++i) p.push_back(static_cast<TokenId>((salt * 7919 + i * 104729 + 13) % 2000));
  return p;
}

// The reference: every sample of every request on the single-sequence path.
std::vector<std::vector<SampleResult>> reference(const std::shared_ptr<const Model>& m, const std::vector<Request>& rs) {
  CpuOps ops(2);
  std::vector<std::vector<SampleResult>> out;
  for (const auto& r : rs) {
    out.emplace_back();
    for (std::size_t i = 0; i < r.seeds.size(); ++i) out.back().push_back(generate_one(m, ops, r, i));
  }
  return out;
}

// Submits every request at once, waits for all; returns the results.
std::vector<std::vector<SampleResult>> run_all(Engine& e, const std::vector<Request>& rs) {
  std::vector<PendingRequest> pending;
  for (const auto& r : rs) pending.push_back(e.submit(r));
  std::vector<std::vector<SampleResult>> out;
  for (auto& p : pending) out.push_back(p.wait());
  return out;
}

void expect_same(const std::vector<std::vector<SampleResult>>& got, const std::vector<std::vector<SampleResult>>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t r = 0; r < want.size(); ++r) {
    ASSERT_EQ(got[r].size(), want[r].size()) << what;
    for (std::size_t i = 0; i < want[r].size(); ++i) {
      EXPECT_EQ(got[r][i].tokens, want[r][i].tokens) << what << ": request " << r << " sample " << i;
      EXPECT_EQ(got[r][i].finish, want[r][i].finish) << what << ": request " << r << " sample " << i;
      EXPECT_EQ(got[r][i].completion_tokens(), want[r][i].completion_tokens()) << what;
      EXPECT_TRUE(got[r][i].error.empty()) << got[r][i].error;
    }
  }
}

struct Spec {
  int len, k;
  double temperature;
  int max_new;
};

// light: fewer new tokens (for the 152k-vocabulary model, whose lm_head dominates the CPU time).
std::vector<Request> mixed_requests(std::int64_t vocab_limit, bool light) {
  const Spec specs[] = {{1, 1, 0.0, 6},   {5, 2, 1.0, 17},  {16, 3, 0.8, 1},  {17, 16, 1.0, 24}, {31, 4, 0.0, 12},
                        {40, 8, 0.7, 33}, {12, 5, 1.0, 9},  {33, 1, 1.0, 40}, {16, 16, 0.0, 5},  {9, 7, 1.0, 20}};
  std::vector<Request> rs;
  int i = 0;
  for (const Spec& s : specs) {
    Request r;
    r.prompt = make_prompt(s.len, i);
    for (int j = 0; j < s.k; ++j) r.seeds.push_back(1000 * static_cast<std::uint64_t>(i) + static_cast<std::uint64_t>(j));
    r.sampler.temperature = s.temperature;
    r.sampler.top_p = i % 3 == 0 ? 1.0 : 0.9;
    r.sampler.top_k = i % 4 == 1 ? 40 : 0;
    r.sampler.min_p = i % 5 == 2 ? 0.02 : 0.0;
    r.max_new_tokens = light ? std::max(1, s.max_new / 3) : s.max_new;
    r.vocab_limit = vocab_limit;
    rs.push_back(std::move(r));
    ++i;
  }
  // A prompt extending another one (prefix-cache hits across requests), and a sample set that stops on a token
  // callback (what stop strings use): any token divisible by 7 ends the sample.
  Request ext = rs[5];
  ext.prompt.insert(ext.prompt.end(), {3, 1, 4, 1, 5, 9, 2});
  ext.seeds = {77, 78, 79};
  rs.push_back(ext);
  Request cb = rs[3];
  cb.seeds = {5, 6, 7, 8, 9, 10};
  cb.on_token = [](std::size_t, TokenId t) { return t % 7 != 0; };
  rs.push_back(cb);
  return rs;
}

class SchedulerDiff : public ::testing::TestWithParam<std::string> {};

TEST_P(SchedulerDiff, EqualsTheSingleSequencePathUnderEveryConfiguration) {
  auto model = Model::load(test::models_dir() + "/" + GetParam());
  const std::int64_t vocab_limit = std::min<std::int64_t>(model->vocab_rows(), 151665);
  std::vector<Request> rs = mixed_requests(vocab_limit, model->vocab_rows() > 100000);
  auto want = reference(model, rs);
  // Stop tokens: make the most frequent token of request 3's samples a stop token of a copy of it.
  {
    std::map<TokenId, int> freq;
    for (const auto& s : want[3])
      for (TokenId t : s.tokens) ++freq[t];
    TokenId best = 0;
    for (const auto& [t, n] : freq)
      if (n > freq[best]) best = t;
    Request st = rs[3];
    st.stop_tokens = {best};
    rs.push_back(st);
    want.push_back(reference(model, {st})[0]);
    int eos = 0;
    for (const auto& s : want.back()) eos += s.finish == Finish::eos ? 1 : 0;
    EXPECT_GT(eos, 0) << "the stop token should end some samples";
  }
  int stopped_by_callback = 0;
  for (const auto& s : want[11]) stopped_by_callback += s.finish == Finish::stop ? 1 : 0;
  EXPECT_GT(stopped_by_callback, 0);

  struct Config {
    std::string name;
    EngineOptions o;
    bool preempts;
  };
  std::vector<Config> configs;
  EngineOptions a;
  a.threads = 2;
  a.kv_memory = 32 << 20;
  configs.push_back({"default", a, false});
  EngineOptions b = a;
  b.block_size = 4;
  b.max_running = 8;
  b.max_step_tokens = 8;
  configs.push_back({"4-token blocks, 8 samples and 8 tokens per step", b, false});
  EngineOptions c = a;
  c.block_size = 4;
  {
    std::int64_t max_blocks = 0;
    for (const auto& r : rs)
      max_blocks = std::max<std::int64_t>(
          max_blocks, (kv_positions_needed(model->config(), static_cast<std::int64_t>(r.prompt.size()), r.max_new_tokens) + 3) / 4);
    KvLayout l = KvLayout::fit(model->config(), 4, kernels::DType::f32, 1);
    c.kv_memory = static_cast<std::int64_t>(l.block_bytes()) * (max_blocks + 3);
  }
  configs.push_back({"tiny KV budget (preemption)", c, true});
  EngineOptions d = a;
  d.share_prompt = false;
  d.prefix_cache = false;
  configs.push_back({"no prompt sharing, no prefix cache", d, false});

  for (const auto& cfg : configs) {
    Engine e(model, cfg.o);
    auto got = run_all(e, rs);
    expect_same(got, want, GetParam() + ", " + cfg.name);
    e.check_idle();
    const EngineStats st = e.stats();
    EXPECT_EQ(st.used_blocks, 0) << cfg.name;
    if (cfg.preempts) {
      EXPECT_GT(st.scheduler.preemptions, 0) << cfg.name;
    }
    if (cfg.o.share_prompt) {
      EXPECT_GT(st.scheduler.block_copies, 0) << cfg.name << ": shared partial blocks copied";
    }
    if (cfg.name == "default") {
      // The same requests again: their prompts now come from the prefix cache, the outputs stay the same.
      const auto hits = st.scheduler.prefix_hit_tokens;
      expect_same(run_all(e, rs), want, GetParam() + ", second run");
      EXPECT_GT(e.stats().scheduler.prefix_hit_tokens, hits);
      e.check_idle();
      // One after the other on a fresh engine: request 10's prompt extends request 5's, whose two full blocks
      // (40 tokens = 2 x 16 + 8) it finds in the prefix cache.
      Engine seq(model, cfg.o);
      expect_same({seq.generate(rs[5])}, {want[5]}, GetParam() + ", request 5 alone");
      expect_same({seq.generate(rs[10])}, {want[10]}, GetParam() + ", request 10 after 5");
      EXPECT_EQ(seq.stats().scheduler.prefix_hit_tokens, 32);
      seq.check_idle();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, SchedulerDiff, ::testing::Values("tiny-random-qwen2", "tinystories-656k"));

class Scheduler : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = Model::load(test::models_dir() + "/tiny-random-qwen2"); }
  static void TearDownTestSuite() { model_.reset(); }
  static std::shared_ptr<const Model> model_;
};
std::shared_ptr<const Model> Scheduler::model_;

TEST(SchedulerKv, SharedPromptKvStaysWithinPromptPlusGeneratedBlocks) {
  auto model = Model::load(test::models_dir() + "/tinystories-656k");
  const int P = 40, G = 33, k = 64, bs = 16;
  Request r;
  r.prompt = make_prompt(P, 3);
  for (int j = 0; j < k; ++j) r.seeds.push_back(static_cast<std::uint64_t>(j));
  r.sampler.temperature = 1.0;
  r.max_new_tokens = G;
  EngineOptions o;
  o.threads = 2;
  o.kv_memory = 32 << 20;
  o.prefix_cache = false;
  std::int32_t shared_peak = 0, copied_peak = 0;
  std::vector<SampleResult> shared_out;
  for (bool share : {true, false}) {
    o.share_prompt = share;
    Engine e(model, o);
    auto out = e.generate(r);
    for (const auto& s : out) ASSERT_EQ(s.tokens.size(), static_cast<std::size_t>(G));
    (share ? shared_peak : copied_peak) = e.stats().peak_used_blocks;
    if (share) {
      shared_out = out;
    } else {
      for (int j = 0; j < k; ++j) EXPECT_EQ(out[static_cast<std::size_t>(j)].tokens, shared_out[static_cast<std::size_t>(j)].tokens);
    }
    e.check_idle();
  }
  // Shared: the prompt's full blocks once, then per sample its own blocks for the copied partial prompt block and
  // the generated positions (the last drawn token is never forwarded).
  const int own = (P % bs + G - 1 + bs - 1) / bs;
  EXPECT_LE(shared_peak, P / bs + k * own);
  EXPECT_GE(copied_peak, k * ((P + G - 1 + bs - 1) / bs)) << "without sharing every sample holds its prompt";
  EXPECT_LT(shared_peak, copied_peak);
  std::printf("[kv] k=%d prompt %d + %d new: %d blocks shared vs %d copied (bound %d)\n", k, P, G, shared_peak,
              copied_peak, P / bs + k * own);
}

TEST_F(Scheduler, BudgetTooSmallForOneSequenceIsAClearErrorNotAHang) {
  EngineOptions o;
  o.block_size = 16;
  o.kv_memory = static_cast<std::int64_t>(KvLayout::fit(model_->config(), 16, kernels::DType::f32, 1).block_bytes()) * 2;
  Engine e(model_, o);  // 2 blocks = 32 positions
  Request r;
  r.prompt = make_prompt(20, 1);
  r.seeds = {1, 2};
  r.max_new_tokens = 40;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    e.generate(r);
    FAIL() << "expected reval::Error";
  } catch (const Error& err) {
    const std::string m = err.what();
    EXPECT_NE(m.find("KV cache too small"), std::string::npos) << m;
    EXPECT_NE(m.find("--kv-memory"), std::string::npos) << m;
    EXPECT_NE(m.find("59"), std::string::npos) << m;  // prompt 20 + up to 40 new - 1 positions
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  // What fits works on the same engine: 12 + 20 - 1 = 31 positions.
  r.prompt = make_prompt(12, 1);
  r.max_new_tokens = 20;
  auto out = e.generate(r);
  EXPECT_EQ(out[0].tokens.size(), 20u);
  EXPECT_EQ(out[1].tokens.size(), 20u);
  e.check_idle();
  // A budget below one block cannot even start.
  o.kv_memory = 100;
  try {
    Engine tiny(model_, o);
    FAIL() << "expected reval::Error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("holds no block"), std::string::npos) << err.what();
  }
}

TEST_F(Scheduler, CancellationEndsUnfinishedSamplesAndReleasesTheirBlocks) {
  EngineOptions o;
  o.threads = 2;
  o.kv_memory = 16 << 20;
  Engine e(model_, o);
  std::atomic<bool> cancel{false};
  std::atomic<int> tokens{0};
  Request r;
  r.prompt = make_prompt(30, 2);
  r.seeds = {1, 2, 3, 4};
  r.sampler.temperature = 1.0;
  r.max_new_tokens = 100000;
  r.cancel = &cancel;
  r.on_token = [&](std::size_t, TokenId) {
    if (++tokens == 40) cancel = true;
    return true;
  };
  Request other;  // a request in flight at the same time, not cancelled
  other.prompt = make_prompt(10, 9);
  other.seeds = {3};
  other.max_new_tokens = 30;
  auto p_other = e.submit(other);
  auto out = e.generate(r);
  for (const auto& s : out) {
    EXPECT_EQ(s.finish, Finish::cancelled);
    EXPECT_GT(s.tokens.size(), 0u);
    EXPECT_LT(s.tokens.size(), 100u);
  }
  auto o2 = p_other.wait();
  CpuOps ops(1);
  EXPECT_EQ(o2[0].tokens, generate_one(model_, ops, other, 0).tokens);
  e.check_idle();
  EXPECT_EQ(e.stats().used_blocks, 0);
  // The engine still serves requests afterwards; a request whose flag is already set ends at once.
  auto again = e.generate(other);
  EXPECT_EQ(again[0].tokens, o2[0].tokens);
  auto instantly = e.generate(r);
  for (const auto& s : instantly) EXPECT_EQ(s.finish, Finish::cancelled);
  e.check_idle();
}

TEST_F(Scheduler, AFailingCallbackFailsOnlyItsRequest) {
  EngineOptions o;
  o.threads = 2;
  o.kv_memory = 16 << 20;
  Engine e(model_, o);
  Request bad;
  bad.prompt = make_prompt(25, 4);
  bad.seeds = {1, 2, 3};
  bad.max_new_tokens = 50;
  std::atomic<int> n{0};
  bad.on_token = [&](std::size_t, TokenId) -> bool {
    if (++n == 5) throw Error("decoder exploded");
    return true;
  };
  Request good;
  good.prompt = make_prompt(25, 5);
  good.seeds = {4, 5};
  good.sampler.temperature = 1.0;
  good.max_new_tokens = 30;
  auto pg = e.submit(good);
  auto out = e.generate(bad);
  for (const auto& s : out) {
    EXPECT_EQ(s.finish, Finish::error);
    EXPECT_NE(s.error.find("decoder exploded"), std::string::npos) << s.error;
  }
  CpuOps ops(1);
  auto g = pg.wait();
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i].tokens, generate_one(model_, ops, good, i).tokens);
  e.check_idle();
}

// A device that fails one attention call when armed (a CUDA launch error, say), otherwise the CPU.
class FlakyOps final : public DeviceOps {
 public:
  explicit FlakyOps(std::atomic<int>* fail_in) : cpu_(2), fail_in_(fail_in) {}
  std::string name() const override { return "flaky " + cpu_.name(); }
  kernels::DType activation_dtype() const override { return cpu_.activation_dtype(); }
  kernels::DType kv_dtype() const override { return cpu_.kv_dtype(); }
  void* alloc(std::size_t b) override { return cpu_.alloc(b); }
  void free(void* p) override { cpu_.free(p); }
  void upload(void* d, const void* s, std::size_t b) override { cpu_.upload(d, s, b); }
  void download(void* d, const void* s, std::size_t b) override { cpu_.download(d, s, b); }
  Weight upload_weight(const Weight& w) override { return cpu_.upload_weight(w); }
  const float* upload_vector(const std::vector<float>& v) override { return cpu_.upload_vector(v); }
  void embedding(const Weight& t, const std::int32_t* ids, std::int64_t n, float* x) override { cpu_.embedding(t, ids, n, x); }
  void rmsnorm(const float* x, std::int64_t r, std::int64_t d, std::int64_t ldx, const float* w, float eps, void* y,
               std::int64_t ldy) override {
    cpu_.rmsnorm(x, r, d, ldx, w, eps, y, ldy);
  }
  void rmsnorm_inplace(void* x, std::int64_t r, std::int64_t d, std::int64_t ld, const float* w, float eps) override {
    cpu_.rmsnorm_inplace(x, r, d, ld, w, eps);
  }
  void add_rmsnorm(float* x, const void* delta, std::int64_t r, std::int64_t d, const float* w, float eps,
                   void* y) override {
    cpu_.add_rmsnorm(x, delta, r, d, w, eps, y);
  }
  void add(float* x, const void* delta, std::int64_t n) override { cpu_.add(x, delta, n); }
  void rmsnorm_rows(const float* x, std::int64_t ldx, const std::int32_t* rows, std::int64_t n, std::int64_t d,
                    const float* w, float eps, void* y, std::int64_t ldy) override {
    cpu_.rmsnorm_rows(x, ldx, rows, n, d, w, eps, y, ldy);
  }
  void linear(const void* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const Weight& w, const float* b,
              void* y, std::int64_t ldy) override {
    cpu_.linear(x, m, k, ldx, w, b, y, ldy);
  }
  void logits(const void* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const Weight& w, float* y,
              std::int64_t ldy) override {
    cpu_.logits(x, m, k, ldx, w, y, ldy);
  }
  void rope_tables(const std::int32_t* p, std::int64_t n, const float* f, int half, float* c, float* s) override {
    cpu_.rope_tables(p, n, f, half, c, s);
  }
  void rope(void* x, std::int64_t n, int h, int hd, std::int64_t ld, const float* c, const float* s) override {
    cpu_.rope(x, n, h, hd, ld, c, s);
  }
  void store_kv(const void* k, const void* v, std::int64_t ld, std::int64_t n, std::int64_t row,
                const std::int32_t* slots, const KvLayerView& c) override {
    cpu_.store_kv(k, v, ld, n, row, slots, c);
  }
  void attention(const void* q, std::int64_t ldq, int h, int kvh, int hd, const KvLayerView& c, const BatchView& b,
                 float scale, void* out, std::int64_t ldo) override {
    if (fail_in_->load() > 0 && --*fail_in_ == 0) throw Error("injected device fault");
    cpu_.attention(q, ldq, h, kvh, hd, c, b, scale, out, ldo);
  }
  void silu_mul(const void* g, const void* u, std::int64_t n, void* out) override { cpu_.silu_mul(g, u, n, out); }
  void copy_blocks(const KvPoolView& p, const std::int32_t* pairs, std::int64_t n) override {
    cpu_.copy_blocks(p, pairs, n);
  }
  void sample(const float* l, std::int64_t ld, const SampleRow* rows, std::int64_t n, std::int32_t* ids) override {
    cpu_.sample(l, ld, rows, n, ids);
  }

 private:
  CpuOps cpu_;
  std::atomic<int>* fail_in_;
};

TEST_F(Scheduler, AFailedDeviceStepFailsItsRequestsAndTheEngineGoesOn) {
  std::atomic<int> fail_in{0};
  EngineOptions o;
  o.kv_memory = 16 << 20;
  Engine e(model_, o, std::make_unique<FlakyOps>(&fail_in));
  EXPECT_NE(e.device().find("flaky"), std::string::npos);
  Request r;
  r.prompt = make_prompt(21, 6);
  r.seeds = {1, 2, 3};
  r.sampler.temperature = 1.0;
  r.max_new_tokens = 25;
  fail_in = 2 * 10;  // two layers per step: fails in the 10th step, mid-decode
  auto out = e.generate(r);
  for (const auto& s : out) {
    EXPECT_EQ(s.finish, Finish::error);
    EXPECT_NE(s.error.find("injected device fault"), std::string::npos) << s.error;
  }
  e.check_idle();
  EXPECT_EQ(e.stats().used_blocks, 0);
  auto ok = e.generate(r);
  CpuOps ops(1);
  for (std::size_t i = 0; i < ok.size(); ++i) EXPECT_EQ(ok[i].tokens, generate_one(model_, ops, r, i).tokens);
  e.check_idle();
}

TEST_F(Scheduler, ManyThreadsSubmittingAtOnceShareOneScheduler) {
  EngineOptions o;
  o.threads = 2;
  o.kv_memory = 16 << 20;
  Engine e(model_, o);
  std::vector<Request> rs;
  for (int i = 0; i < 12; ++i) {
    Request r;
    r.prompt = make_prompt(3 + 5 * i, 50 + i);
    r.seeds = {static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(i + 100)};
    r.sampler.temperature = 0.9;
    r.max_new_tokens = 8 + i;
    rs.push_back(r);
  }
  auto want = reference(model_, rs);
  std::vector<std::vector<SampleResult>> got(rs.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < rs.size(); ++i) threads.emplace_back([&, i] { got[i] = e.generate(rs[i]); });
  for (auto& t : threads) t.join();
  expect_same(got, want, "threads");
  EXPECT_GT(e.stats().scheduler.max_batch_samples, 2) << "requests from different threads were batched together";
  e.check_idle();
}

TEST(EngineOptionsTest, MemorySizes) {
  EXPECT_EQ(parse_memory_size("4GiB"), 4LL << 30);
  EXPECT_EQ(parse_memory_size("512 MiB"), 512LL << 20);
  EXPECT_EQ(parse_memory_size("2GB"), 2000000000LL);
  EXPECT_EQ(parse_memory_size("1.5g"), 3LL << 29);
  EXPECT_EQ(parse_memory_size("1048576"), 1048576);
  EXPECT_EQ(parse_memory_size("64k"), 65536);
  for (const char* bad : {"", "abc", "-1GiB", "0", "12 parsecs", "1e30"}) {
    try {
      parse_memory_size(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("invalid memory size"), std::string::npos);
    }
  }
  EXPECT_GT(default_kv_memory(), 0);
  EXPECT_LE(default_kv_memory(), 4LL << 30);
}

}  // namespace
}  // namespace reval::engine
