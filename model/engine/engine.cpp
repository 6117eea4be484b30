// Engine (see engine.hpp) and the small helpers of request.hpp.
#include "model/engine/engine.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "base/error.hpp"
#include "model/engine/cpu_ops.hpp"

namespace reval::engine {

const char* to_string(Finish f) {
  switch (f) {
    case Finish::eos: return "eos";
    case Finish::stop: return "stop";
    case Finish::length: return "length";
    case Finish::cancelled: return "cancelled";
    case Finish::error: return "error";
  }
  return "error";
}

std::int64_t sample_capacity(const ModelConfig& c, std::int64_t prompt, std::int64_t max_new) {
  std::int64_t cap = prompt + std::max<std::int64_t>(1, max_new);
  if (c.max_position_embeddings > prompt) cap = std::min(cap, c.max_position_embeddings);
  return cap;
}

std::int64_t kv_positions_needed(const ModelConfig& c, std::int64_t prompt, std::int64_t max_new) {
  return std::max(prompt, std::min(prompt + std::max<std::int64_t>(1, max_new) - 1, sample_capacity(c, prompt, max_new)));
}

std::int64_t parse_memory_size(const std::string& text) {
  auto bad = [&]() {
    return Error("invalid memory size '" + text + "' (expected e.g. 4GiB, 512MiB, 2GB or a number of bytes)");
  };
  const char* s = text.c_str();
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || !std::isfinite(v) || v <= 0) throw bad();
  std::string unit;
  for (const char* p = end; *p; ++p)
    if (!std::isspace(static_cast<unsigned char>(*p))) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(*p)));
  double mult = 1;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kib") mult = 1024.0;
  else if (unit == "kb") mult = 1e3;
  else if (unit == "m" || unit == "mib") mult = 1024.0 * 1024;
  else if (unit == "mb") mult = 1e6;
  else if (unit == "g" || unit == "gib") mult = 1024.0 * 1024 * 1024;
  else if (unit == "gb") mult = 1e9;
  else if (unit == "t" || unit == "tib") mult = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "tb") mult = 1e12;
  else throw bad();
  const double bytes = v * mult;
  if (bytes < 1 || bytes > 9.0e18) throw bad();
  return static_cast<std::int64_t>(bytes);
}

std::string format_bytes(double b) {
  if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return fmt::format("{:.2f} MiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return fmt::format("{:.1f} KiB", b / 1024.0);
  return fmt::format("{:.0f} B", b);
}

std::int64_t default_kv_memory() {
  constexpr std::int64_t kCap = 4LL << 30;
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return 1LL << 30;
  return std::min<std::int64_t>(kCap, static_cast<std::int64_t>(pages) * page / 4);
}

// ---------------------------------------------------------------------------------------------------------------

std::vector<SampleResult> PendingRequest::wait() {
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->done; });
  return state_->results;
}

bool PendingRequest::done() const {
  std::lock_guard lock(state_->mu);
  return state_->done;
}

Engine::Engine(std::shared_ptr<const Model> model, const EngineOptions& options)
    : Engine(std::move(model), options, nullptr) {}

Engine::Engine(std::shared_ptr<const Model> model, const EngineOptions& options, std::unique_ptr<DeviceOps> ops)
    : model_(std::move(model)), options_(options), ops_(std::move(ops)) {
  if (!model_) throw Error("native engine: no model");
  if (options_.block_size <= 0) throw Error("native engine: block_size must be positive");
  if (options_.max_running <= 0) throw Error("native engine: max_running must be positive");
  options_.max_step_tokens = std::max<std::int64_t>(options_.max_step_tokens, options_.max_running);
  if (!ops_) ops_ = std::make_unique<CpuOps>(options_.threads);
  device_name_ = ops_->name();
  const ModelConfig& c = model_->config();
  if (options_.kv_memory <= 0) {  // the default: a share of memory, but no more than 2^20 positions
    const auto per_position = KvLayout::fit(c, 1, ops_->kv_dtype(), 0).block_bytes();
    options_.kv_memory = std::min<std::int64_t>(default_kv_memory(), static_cast<std::int64_t>(per_position) << 20);
  }
  layout_ = KvLayout::fit(c, options_.block_size, ops_->kv_dtype(), static_cast<std::size_t>(options_.kv_memory));
  if (layout_.num_blocks <= 0)
    throw Error("native engine: a KV cache budget of " + format_bytes(static_cast<double>(options_.kv_memory)) +
                " holds no block (one block of " + std::to_string(options_.block_size) + " positions takes " +
                format_bytes(static_cast<double>(layout_.block_bytes())) + "); raise --kv-memory");
  kv_ = std::make_unique<KvCache>(*ops_, layout_);
  pool_ = std::make_unique<BlockPool>(layout_.num_blocks, layout_.block_size, options_.prefix_cache);
  ForwardLimits limits;
  limits.max_tokens = options_.max_step_tokens;
  limits.max_seqs = options_.max_running;
  const std::int64_t bs = layout_.block_size;
  // Block table width: enough for the model's positions (a longer sequence widens it at its first step).
  const std::int64_t typical = std::max<std::int64_t>(c.max_position_embeddings, 4096);
  limits.max_blocks_per_seq = std::min<std::int64_t>(layout_.num_blocks, (typical + bs - 1) / bs);
  limits.max_logits_rows = options_.max_running;
  limits.max_sample_rows = options_.max_running;
  limits.max_block_copies = layout_.num_blocks;  // a step copies each destination block at most once
  forward_ = std::make_unique<ForwardPass>(model_, *ops_, *kv_, limits);
  SchedulerOptions so;
  so.max_running = options_.max_running;
  so.max_step_tokens = options_.max_step_tokens;
  so.share_prompt = options_.share_prompt;
  scheduler_ = std::make_unique<Scheduler>(*pool_, so);
  stats_.total_blocks = layout_.num_blocks;
  stats_.block_size = layout_.block_size;
  stats_.block_bytes = layout_.block_bytes();
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Whatever is still queued or running ends as cancelled; its waiters wake up.
  for (auto& r : inbox_) scheduler_->add(r);
  inbox_.clear();
  scheduler_->cancel_requests(true);
  publish();
}

PendingRequest Engine::submit(const Request& request) {
  const ModelConfig& c = model_->config();
  const std::int64_t V = model_->vocab_rows();
  const std::int64_t P = static_cast<std::int64_t>(request.prompt.size());
  if (P == 0) throw Error("native engine: empty prompt");
  for (TokenId t : request.prompt)
    if (t < 0 || t >= V)
      throw Error("native engine: prompt token id " + std::to_string(t) + " out of range [0, " + std::to_string(V) + ")");
  validate(request.sampler);
  const std::int64_t max_new = std::max<std::int64_t>(0, request.max_new_tokens);
  const std::int64_t need = kv_positions_needed(c, P, max_new);
  const std::int64_t bs = layout_.block_size;
  if ((need + bs - 1) / bs > layout_.num_blocks)
    throw Error(fmt::format(
        "native engine: KV cache too small: it holds {} positions ({} x {}-position blocks in --kv-memory {}) but "
        "one sample of this request needs up to {} (prompt {} + up to {} new tokens); raise --kv-memory or lower "
        "--max-new-tokens",
        kv_capacity_tokens(), layout_.num_blocks, bs, format_bytes(static_cast<double>(options_.kv_memory)), need, P,
        max_new));

  auto st = std::make_shared<RequestState>();
  st->request = request;
  st->request.max_new_tokens = max_new;
  st->capacity = sample_capacity(c, P, max_new);
  st->n_valid = static_cast<std::int32_t>(request.vocab_limit > 0 ? std::min(request.vocab_limit, V) : V);
  st->t0 = std::chrono::steady_clock::now();
  const std::size_t k = request.seeds.size();
  st->results.resize(k);
  for (auto& r : st->results) r.prompt_tokens = P;
  st->finished.assign(k, 0);
  st->remaining = k;
  if (k == 0 || max_new == 0) {  // nothing to generate
    for (std::size_t i = 0; i < k; ++i) {
      st->finished[i] = 1;
      st->results[i].finish = Finish::length;
      if (request.on_finish) request.on_finish(i, st->results[i]);
    }
    st->remaining = 0;
    st->done = true;
    return PendingRequest(st);
  }
  {
    std::lock_guard lock(mu_);
    if (stop_) throw Error("native engine: shutting down");
    inbox_.push_back(st);
  }
  cv_.notify_all();
  return PendingRequest(st);
}

void Engine::loop() {
  for (;;) {
    std::vector<std::shared_ptr<RequestState>> incoming;
    {
      std::unique_lock lock(mu_);
      if (!scheduler_->has_work() && inbox_.empty()) {
        idle_ = true;
        idle_cv_.notify_all();
      }
      cv_.wait(lock, [&] { return stop_ || !inbox_.empty() || scheduler_->has_work(); });
      if (stop_) return;
      idle_ = false;
      incoming.swap(inbox_);
      if (reset_peak_) {
        pool_->reset_peak();
        reset_peak_ = false;
      }
    }
    for (auto& r : incoming) scheduler_->add(std::move(r));
    scheduler_->cancel_requests(false);
    scheduler_->schedule(plan_);
    if (!plan_.empty()) {
      bool ran = false;
      try {
        forward_->run(plan_, sampled_);
        ran = true;
      } catch (const std::exception& e) {
        scheduler_->fail_step(e.what());
      }
      if (ran) {
        try {
          scheduler_->complete(sampled_);
        } catch (const std::exception& e) {  // an internal inconsistency: end everything rather than go on
          scheduler_->fail_step(e.what());
          scheduler_->cancel_requests(true);
        }
      }
    }
    publish();
  }
}

void Engine::publish() {
  auto done = scheduler_->take_finished();
  {
    std::lock_guard lock(mu_);
    stats_.scheduler = scheduler_->stats();
    stats_.used_blocks = pool_->used();
    stats_.peak_used_blocks = pool_->peak_used();
    stats_.cached_blocks = pool_->cached();
    stats_.evictable_blocks = pool_->evictable();
    stats_.evictions = pool_->evictions();
  }
  for (auto& r : done) {
    std::lock_guard lock(r->mu);
    r->done = true;
    r->cv.notify_all();
  }
}

EngineStats Engine::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Engine::reset_peak() {
  std::lock_guard lock(mu_);
  if (idle_ && inbox_.empty()) {  // the scheduler thread is parked: the pool may be touched from here
    pool_->reset_peak();
    stats_.peak_used_blocks = pool_->peak_used();
  } else {
    reset_peak_ = true;
  }
}

void Engine::check_idle() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return idle_ && inbox_.empty(); });
  // Parked scheduler thread (it needs mu_ to resume): safe to inspect its state.
  scheduler_->check();
  if (pool_->used() != 0)
    throw Error("native engine: " + std::to_string(pool_->used()) + " KV blocks still held with nothing running");
}

}  // namespace reval::engine
