// The engine: one scheduler thread serving every request of a process over one paged KV cache.
//
// Theory of operation. An Engine owns a device (DeviceOps; the CPU by default), the KV block pool sized from a
// memory budget, the forward pass and the scheduler. Any number of threads call generate()/submit() at once: a
// request is validated on the caller's thread (a prompt or a length that can never fit the pool is a clear
// reval::Error there, never a hang), queued, and picked up by the scheduler thread, which runs steps for as long
// as there is work: admit / preempt / plan (Scheduler), run (ForwardPass), hand the drawn tokens back
// (Scheduler::complete, which calls the request's callbacks). A request's samples finish independently and are
// reported through on_finish as soon as each ends; generate() returns when all have. A request's cancel flag is
// polled every step; destroying the Engine cancels whatever is still queued or running.
// Determinism contract (CPU, fp32): a sample's tokens depend only on the model, its prompt, its seed and its
// sampling parameters — not on batch mates, preemption, prefix-cache hits, block size or thread count.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/engine/forward.hpp"
#include "model/engine/kv_cache.hpp"
#include "model/engine/model.hpp"
#include "model/engine/ops.hpp"
#include "model/engine/request.hpp"
#include "model/engine/scheduler.hpp"

namespace reval::engine {

struct EngineOptions {
  int threads = 0;                       // CPU device threads (0: all hardware threads)
  std::int64_t kv_memory = 0;            // KV cache budget in bytes (0: default_kv_memory(), at most 2^20 positions)
  int block_size = 16;                   // positions per KV block (see kv_cache.hpp for the choice)
  int max_running = 256;                 // samples decoded together in one step
  std::int64_t max_step_tokens = 1024;   // new tokens per step, decode + prefill chunks (raised to max_running)
  bool prefix_cache = true;              // reuse cached full prompt blocks across requests
  bool share_prompt = true;              // the samples of a request share the prompt's blocks
};

// "4GiB", "512 MiB", "1.5GB", "2e9", "1048576" -> bytes (K/M/G/T with or without B are powers of 1000 when
// written KB/MB/GB/TB, of 1024 when KiB/MiB/GiB/TiB or a bare K/M/G/T). Throws reval::Error naming the text.
std::int64_t parse_memory_size(const std::string& text);
std::string format_bytes(double bytes);  // "1.50 GiB"
// min(4 GiB, a quarter of physical memory).
std::int64_t default_kv_memory();

struct EngineStats {
  SchedulerStats scheduler;
  std::int32_t total_blocks = 0, used_blocks = 0, peak_used_blocks = 0, cached_blocks = 0, evictable_blocks = 0;
  std::int64_t evictions = 0;
  int block_size = 0;
  std::size_t block_bytes = 0;           // one block over all layers, K and V
  std::size_t peak_kv_bytes() const { return static_cast<std::size_t>(peak_used_blocks) * block_bytes; }
  std::size_t used_kv_bytes() const { return static_cast<std::size_t>(used_blocks) * block_bytes; }
};

// A submitted request; wait() returns its results once every sample has finished.
class PendingRequest {
 public:
  explicit PendingRequest(std::shared_ptr<RequestState> state) : state_(std::move(state)) {}
  std::vector<SampleResult> wait();
  bool done() const;

 private:
  std::shared_ptr<RequestState> state_;
};

class Engine {
 public:
  explicit Engine(std::shared_ptr<const Model> model, const EngineOptions& options = {});
  // With a given device (tests inject faulty devices through this).
  Engine(std::shared_ptr<const Model> model, const EngineOptions& options, std::unique_ptr<DeviceOps> ops);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const Model& model() const { return *model_; }
  std::shared_ptr<const Model> model_ptr() const { return model_; }
  const EngineOptions& options() const { return options_; }  // effective values (budget resolved)
  std::string device() const { return device_name_; }
  const KvLayout& kv_layout() const { return layout_; }
  // Positions the whole pool holds (what one sample may use at most).
  std::int64_t kv_capacity_tokens() const { return static_cast<std::int64_t>(layout_.num_blocks) * layout_.block_size; }

  // Thread-safe. Throws reval::Error for an invalid request: empty prompt, token id out of range, bad sampling
  // parameters, or a sample that could not fit the KV pool even alone.
  PendingRequest submit(const Request& request);
  std::vector<SampleResult> generate(const Request& request) { return submit(request).wait(); }

  EngineStats stats() const;  // as of the end of the last step
  void reset_peak();          // peak_used_blocks := used_blocks (takes effect at the next step)
  // Blocks until no request is queued or running, then checks the block accounting (reval::Error on a leak or
  // an inconsistency); for tests.
  void check_idle();

 private:
  void loop();
  void publish();

  std::shared_ptr<const Model> model_;
  EngineOptions options_;
  std::unique_ptr<DeviceOps> ops_;
  std::string device_name_;
  KvLayout layout_;
  std::unique_ptr<KvCache> kv_;
  std::unique_ptr<BlockPool> pool_;
  std::unique_ptr<ForwardPass> forward_;
  std::unique_ptr<Scheduler> scheduler_;
  StepPlan plan_;
  std::vector<TokenId> sampled_;

  mutable std::mutex mu_;                 // inbox, stop flag, stats snapshot, idle state
  std::condition_variable cv_;            // wakes the scheduler thread
  std::condition_variable idle_cv_;       // signals idleness to check_idle()
  std::vector<std::shared_ptr<RequestState>> inbox_;
  bool stop_ = false, idle_ = true, reset_peak_ = false;
  EngineStats stats_;
  std::thread thread_;
};

}  // namespace reval::engine
