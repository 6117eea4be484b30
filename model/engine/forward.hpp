// The forward pass over a batch of sequences: one step = new tokens of many sequences, K/V into the paged cache,
// logits for the rows that need them, and the drawn tokens.
//
// Theory of operation. A step is planned on the host (StepPlan: plain arrays, built by the scheduler or by the
// single-sequence path) separately from running it (ForwardPass::run). run() uploads the plan into device buffers
// allocated once at construction with the capacities of ForwardLimits (fixed addresses, so a device may capture a
// step and replay it), performs the plan's copy-on-write block copies, then runs the model through DeviceOps:
// embedding, per layer RMSNorm -> q/k/v projections (+bias, Qwen3 q/k norm) -> RoPE -> K/V stored into the
// sequences' blocks -> paged attention -> output projection -> residual add fused with the MLP norm -> SiLU-gated
// MLP -> residual add (fused with the next layer's norm). The final norm and the lm_head run only on the plan's
// logits rows, and the sample operation draws the plan's sample rows from them. The drawn ids are the only data
// read back (logits only when a caller asks, e.g. the golden tests). All tokens of the step form one
// [tokens, hidden] activation matrix, so the weights are streamed once per step for the whole batch.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/engine/kv_cache.hpp"
#include "model/engine/model.hpp"
#include "model/engine/ops.hpp"

namespace reval::engine {

// Host-side description of one step.
struct StepPlan {
  std::vector<std::int32_t> token_ids;     // [T] new tokens, grouped by sequence
  std::vector<std::int32_t> positions;     // [T]
  std::vector<std::int32_t> slots;         // [T] KV slot of each token (block * block_size + row)
  std::vector<std::int32_t> query_start;   // [S + 1]
  std::vector<std::int32_t> context_lens;  // [S]
  std::vector<std::int32_t> block_tables;  // [S * table_stride]
  std::int64_t table_stride = 0;
  std::vector<std::int32_t> logits_rows;   // [R] token rows whose logits are computed
  std::vector<SampleRow> samples;          // [N] tokens to draw (SampleRow::logits_row indexes logits_rows)
  std::vector<std::int32_t> block_copies;  // [2 * C] (src, dst) block pairs copied before the step

  int n_seqs() const { return static_cast<int>(context_lens.size()); }
  std::int64_t n_tokens() const { return static_cast<std::int64_t>(token_ids.size()); }
  bool empty() const { return token_ids.empty(); }
  void clear();
  // Appends one sequence: `tokens` at positions first_position.. (its cache then holds first_position +
  // tokens.size() positions), its block table (covering those positions), and whether the logits of its last
  // token are needed (the row index in logits_rows is returned, or -1). The table stride grows as needed.
  int add_sequence(std::span<const std::int32_t> tokens, std::int64_t first_position,
                   std::span<const std::int32_t> block_table, int block_size, bool last_logits);
  // Logits for every token of the sequence just added (rows appended in order); returns the first row index.
  int add_all_logits_of_last_sequence();
};

// Capacities of the device buffers (a plan beyond them is rejected with reval::Error).
struct ForwardLimits {
  std::int64_t max_tokens = 512;          // new tokens per step
  int max_seqs = 256;                     // sequences per step
  std::int64_t max_blocks_per_seq = 0;    // block table width (0: the pool's blocks; widened on demand)
  std::int64_t max_logits_rows = 256;
  std::int64_t max_sample_rows = 256;
  std::int64_t max_block_copies = 256;
};

class ForwardPass {
 public:
  // ops and kv must outlive the ForwardPass; the model is kept alive by it.
  ForwardPass(std::shared_ptr<const Model> model, DeviceOps& ops, KvCache& kv, const ForwardLimits& limits);
  ~ForwardPass();
  ForwardPass(const ForwardPass&) = delete;
  ForwardPass& operator=(const ForwardPass&) = delete;

  const Model& model() const { return *model_; }
  const ForwardLimits& limits() const { return limits_; }
  DeviceOps& ops() { return ops_; }

  // Runs one step; `sampled` receives one id per plan.samples row. If `logits` is given, it receives the
  // [R, vocab] logits rows. Throws reval::Error for a plan beyond the limits or a token id out of range (before
  // anything runs) and passes on device errors.
  void run(const StepPlan& plan, std::vector<TokenId>& sampled, std::vector<float>* logits = nullptr);

 private:
  struct Layer {
    const float *attn_norm, *mlp_norm, *q_bias, *k_bias, *v_bias, *q_norm, *k_norm;
    Weight q, k, v, o, gate, up, down;
  };
  void* buffer(std::size_t bytes);

  std::shared_ptr<const Model> model_;
  DeviceOps& ops_;
  KvCache& kv_;
  ForwardLimits limits_;
  std::vector<Layer> layers_;
  Weight embed_, lm_head_;
  const float* final_norm_ = nullptr;
  const float* inv_freq_ = nullptr;
  std::vector<void*> buffers_;  // every device allocation, freed in the destructor
  // Step inputs (device).
  std::int32_t *d_ids_, *d_pos_, *d_slots_, *d_qstart_, *d_ctx_, *d_tables_, *d_lrows_, *d_copies_, *d_sampled_;
  SampleRow* d_samples_;
  // Activations (device). x: residual [T, H] fp32; the others in the device's activation dtype.
  float *x_, *cos_, *sin_, *logits_;
  void *h_, *q_, *k_, *v_, *att_, *gate_, *up_, *normed_;
};

}  // namespace reval::engine
