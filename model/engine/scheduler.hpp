// The scheduler: which sequences run in the next step and with how many tokens (continuous batching over a paged
// KV cache). Host logic only — it plans steps (StepPlan) and consumes their drawn tokens; the engine runs them.
//
// Theory of operation.
// Sequences. A request's k samples start as one sequence standing for all of them: the prompt is prefilled once,
// then each sample draws its first token from the prompt's last logits with its own seed, and the sequence forks
// into k sequences that hold the prompt's blocks together (reference counts). The first sample to write into
// the shared, partially filled last prompt block copies it (copy-on-write); full prompt blocks are never copied.
// Every sequence is ordered by age = (request arrival, sample index): older sequences have priority.
//
// A step (schedule()):
//   1. Running sequences, oldest first. A decoding sequence (one pending token) gets 1 token; a sequence still
//      prefilling gets a chunk of its pending tokens from the step's prefill budget (max_step_tokens minus the
//      decode tokens, so decodes are never starved by prefills). Blocks for the chunk are allocated (and a shared
//      partial block copied); when the pool runs dry the NEWEST running sequence is preempted — it releases all
//      its blocks and goes back to the waiting queue to be recomputed later — until the allocation succeeds or the
//      sequence itself is the newest (then a prefill takes what fits, a decode preempts itself).
//   2. Admission, oldest waiting first, while prefill budget, sample slots (max_running counts samples, so a
//      request's fork always fits) and blocks remain: the waiting sequence's leading full blocks are looked up in
//      the prefix cache (chained hashes; a hit shares the cached block), and it is admitted only if the free blocks
//      cover the rest of its prefill. Admission is FIFO: the first sequence that does not fit stops it.
// Prefill and decode tokens are mixed in one step (chunked prefill): each step streams the weights once for all
// of them, decode latency stays steady while long prompts come in, and the CPU results are identical to separate
// steps (every row is computed independently). A recomputed (preempted) sample is simply a prefill of its prompt
// plus the tokens it had drawn; it then draws its next token exactly as it would have: the sampler's randomness
// is keyed by (seed, position), so preemption, batch mates and prefix-cache hits never change a sample's tokens.
//
// complete() consumes the drawn tokens: stop tokens, the caller's token callback (stop strings), max_new_tokens
// and the position limit end a sample; newly filled blocks are registered in the prefix cache; finished sequences
// release their blocks. Cancelled and failed requests release theirs too (tests check that nothing leaks).
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/engine/forward.hpp"
#include "model/engine/kv_cache.hpp"
#include "model/engine/request.hpp"

namespace reval::engine {

// One submitted request: owned jointly by the caller (who waits on it) and the scheduler.
struct RequestState {
  Request request;
  std::uint64_t id = 0;               // arrival order
  std::int64_t capacity = 0;          // sample_capacity()
  std::int32_t n_valid = 0;           // sampling vocabulary
  std::vector<SampleResult> results;
  std::vector<char> finished;         // per sample
  std::size_t remaining = 0;          // samples not finished
  bool failed = false;                // a callback threw: the request ends with `failure`
  std::string failure;
  std::chrono::steady_clock::time_point t0;
  // Completion signal (set by the engine thread after the request's blocks are released).
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
};

struct Sequence {
  std::uint64_t id = 0;
  RequestState* req = nullptr;
  std::vector<int> samples;           // sample indices it stands for (several only before the first token)
  std::vector<TokenId> tokens;        // prompt + generated
  std::int64_t computed = 0;          // positions whose K/V are in the cache
  std::vector<std::int32_t> blocks;   // block table
  std::int64_t hashed = 0;            // leading full blocks whose chain hash is known (registered or hit)
  std::uint64_t chain = 0;            // chain hash of block hashed - 1 (0 when hashed == 0)
  bool privatize = false;             // copy every shared block before the next write (prompt sharing off)
  bool running = false;
  std::int64_t chunk = 0;             // tokens scheduled in the current step
  std::vector<std::int32_t> copies;   // (src, dst) block copies scheduled for the current step
  std::int64_t pending() const { return static_cast<std::int64_t>(tokens.size()) - computed; }
  std::int64_t weight() const { return static_cast<std::int64_t>(samples.size()); }
};

struct SchedulerOptions {
  int max_running = 256;               // samples in the running batch
  std::int64_t max_step_tokens = 1024; // new tokens per step (>= max_running)
  bool share_prompt = true;            // false: every sample copies the prompt's blocks (the old memory use)
};

struct SchedulerStats {
  std::int64_t steps = 0;
  std::int64_t prefill_tokens = 0;     // tokens computed in prefill chunks (prompts and recomputation)
  std::int64_t decode_tokens = 0;      // tokens computed one per sequence
  std::int64_t sampled_tokens = 0;
  std::int64_t preemptions = 0;
  std::int64_t prefix_hit_tokens = 0;  // positions served from the prefix cache at admission
  std::int64_t block_copies = 0;       // copy-on-write copies
  std::int64_t running = 0, waiting = 0, requests = 0;
  std::int64_t max_batch_samples = 0;  // largest running weight seen
};

class Scheduler {
 public:
  Scheduler(BlockPool& pool, const SchedulerOptions& options);
  ~Scheduler();

  void add(std::shared_ptr<RequestState> request);
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }
  // Ends every request whose cancel flag is set (all requests when `all`): blocks released, unfinished samples
  // finish as cancelled.
  void cancel_requests(bool all);
  // Plans the next step into `plan` (cleared first). An empty plan means there is nothing to run; if work remains
  // anyway, the oldest request is failed rather than spinning.
  void schedule(StepPlan& plan);
  // Consumes the drawn tokens of the step planned last (sampled[i] belongs to plan.samples[i]).
  void complete(std::span<const TokenId> sampled);
  // The step planned last could not run: every request with a sequence in it fails with `message`.
  void fail_step(const std::string& message);
  // Requests that finished since the last call.
  std::vector<std::shared_ptr<RequestState>> take_finished();

  SchedulerStats stats() const;
  const BlockPool& pool() const { return pool_; }
  // Throws reval::Error when the block references held by sequences disagree with the pool's counts.
  void check() const;

 private:
  struct Older {
    bool operator()(const Sequence* a, const Sequence* b) const;
  };
  Sequence* make_sequence(RequestState* req);
  void destroy(Sequence* s);                       // releases blocks, leaves running/waiting, deletes
  void release_blocks(Sequence& s);
  void preempt(Sequence* s);
  void insert_running(Sequence* s);
  void remove_running(Sequence* s);
  // Makes positions [computed, computed + n) of s writable; returns how many of them are (n on success).
  std::int64_t allocate_for(Sequence& s, std::int64_t n);
  bool admit(Sequence* s, std::int64_t& prefill_budget, std::int64_t slots);
  void select(Sequence* s, std::int64_t chunk);
  void register_full_blocks(Sequence& s);
  // Accepts token t for sample j of req; false when the sample is finished.
  bool accept(RequestState& req, int j, TokenId t);
  void finish_sample(RequestState& req, int j, Finish why);
  void end_request(RequestState& req, Finish why, const std::string& error);  // all sequences and samples
  void finish_request_if_done(RequestState& req);

  BlockPool& pool_;
  SchedulerOptions options_;
  std::uint64_t next_request_id_ = 0, next_seq_id_ = 0;
  std::vector<std::shared_ptr<RequestState>> active_;
  std::vector<std::shared_ptr<RequestState>> finished_;
  std::unordered_map<Sequence*, std::unique_ptr<Sequence>> seqs_;
  std::vector<Sequence*> running_;                 // by age, oldest first
  std::set<Sequence*, Older> waiting_;             // by age, oldest first
  std::int64_t running_weight_ = 0;
  std::vector<Sequence*> step_;                    // sequences of the planned step, in plan order
  SchedulerStats stats_;
};

}  // namespace reval::engine
