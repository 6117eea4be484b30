// The device-neutral operations of the forward pass: the seam between the engine and a device.
//
// Theory of operation: ForwardPass (forward.hpp) is written once against DeviceOps; an implementation runs each
// operation on one device over memory it allocated itself (CpuOps in cpu_ops.hpp now; a CUDA implementation fills
// the same interface with kernels from kernels/cuda). The contract, in the spirit of flashinfer's launchers:
//   - Every pointer an operation takes is device memory from this object's alloc(), or a weight/vector returned by
//     upload_weight()/upload_vector(). Sizes and strides are element counts; "ld" = elements between rows.
//   - Operations are enqueued in order on the device's one stream and may run asynchronously; download() waits for
//     all work enqueued before it. Operations allocate nothing and never synchronise, so a step can be captured
//     and replayed (CUDA graphs) once its buffers have fixed addresses, which ForwardPass guarantees.
//   - Element types: the residual stream and the logits are fp32 (float*); "activation" buffers (normalised hidden
//     states, q/k/v, attention output, MLP intermediates) are void* of activation_dtype(); KV blocks hold
//     kv_dtype(). The CPU device uses fp32 everywhere, which keeps it exact against the fp32 goldens.
//   - The batch's structure is plain int32 index arrays in device memory (BatchView), uploaded once per step from
//     the host-side StepPlan: which sequence each token row belongs to, its position, the KV slot it writes, and
//     each sequence's block table. The KV cache itself is one allocation of fixed-size blocks (KvLayerView).
//   - Sampling is an operation too: the drawn ids are the only data a step reads back to the host.
// Failures (e.g. a kernel launch error) are thrown as reval::Error; the engine fails the requests of that step.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu_kernels.hpp"
#include "model/engine/model.hpp"
#include "model/engine/sampler.hpp"

namespace reval::engine {

// One layer's paged keys and values: block b's row r (a position) starts at k + b * block_stride +
// r * token_stride and holds kv_heads * head_dim elements (head-major); v likewise.
struct KvLayerView {
  void* k = nullptr;
  void* v = nullptr;
  std::int64_t block_stride = 0;   // elements between consecutive blocks
  std::int64_t token_stride = 0;   // elements between consecutive positions within a block
  int block_size = 0;              // positions per block
};

// The whole KV pool, for block copies: `planes` arrays (2 per layer: K then V) of num_blocks blocks each.
struct KvPoolView {
  void* base = nullptr;
  int planes = 0;
  std::int64_t plane_stride = 0;   // elements between planes
  std::int64_t block_stride = 0;   // elements per block
};

// The batch of one step, as device index arrays.
struct BatchView {
  int n_seqs = 0;
  std::int64_t n_tokens = 0;
  const std::int32_t* token_ids = nullptr;     // [n_tokens] new tokens, grouped by sequence
  const std::int32_t* positions = nullptr;     // [n_tokens] absolute position of each new token
  const std::int32_t* slots = nullptr;         // [n_tokens] KV slot (block * block_size + row) it is written to
  const std::int32_t* query_start = nullptr;   // [n_seqs + 1] first token row of each sequence (prefix sums)
  const std::int32_t* context_lens = nullptr;  // [n_seqs] positions in the sequence's cache after this step
  const std::int32_t* block_tables = nullptr;  // [n_seqs, table_stride] block ids in position order
  std::int64_t table_stride = 0;
  std::int32_t max_context_len = 0;            // host-side maxima (launch shapes, scratch sizes)
  std::int32_t max_query_len = 0;
};

// One token to draw from one logits row. Plain data: uploaded to the device as is.
struct SampleRow {
  std::int32_t logits_row = 0;     // row of the step's logits
  std::int32_t n_valid = 0;        // candidates are ids < n_valid (padded vocabulary rows masked)
  SamplerConfig config;
  std::uint64_t seed = 0;          // the sample's seed
  std::int64_t position = 0;       // position of the drawn token; uniform = counter_uniform(seed, position)
};

class DeviceOps {
 public:
  virtual ~DeviceOps() = default;
  virtual std::string name() const = 0;                  // e.g. "cpu (4 threads)", for provenance
  virtual kernels::DType activation_dtype() const = 0;
  virtual kernels::DType kv_dtype() const = 0;

  // ---- memory ----
  virtual void* alloc(std::size_t bytes) = 0;            // zero-filled; throws reval::Error when it cannot
  virtual void free(void* p) = 0;
  virtual void upload(void* dst, const void* src, std::size_t bytes) = 0;
  virtual void download(void* dst, const void* src, std::size_t bytes) = 0;  // waits for earlier work
  // A device view of a host weight matrix / fp32 vector (the device keeps any copy it makes until destroyed;
  // the CPU returns the host memory itself). An empty vector gives nullptr.
  virtual Weight upload_weight(const Weight& host) = 0;
  virtual const float* upload_vector(const std::vector<float>& host) = 0;

  // ---- operations ----
  // x[t, :] = table[ids[t], :] (fp32 residual rows of width table.cols).
  virtual void embedding(const Weight& table, const std::int32_t* ids, std::int64_t n, float* x) = 0;
  // y = rmsnorm(x) * w, row-wise: residual (fp32) in, activation out.
  virtual void rmsnorm(const float* x, std::int64_t rows, std::int64_t dim, std::int64_t ldx, const float* w,
                       float eps, void* y, std::int64_t ldy) = 0;
  // In place on activation rows (per-head q/k norm).
  virtual void rmsnorm_inplace(void* x, std::int64_t rows, std::int64_t dim, std::int64_t ld, const float* w,
                               float eps) = 0;
  // x += delta; y = rmsnorm(x) * w (dense [rows, dim]; y may alias delta): residual add fused with the next norm.
  virtual void add_rmsnorm(float* x, const void* delta, std::int64_t rows, std::int64_t dim, const float* w,
                           float eps, void* y) = 0;
  // x += delta over n elements.
  virtual void add(float* x, const void* delta, std::int64_t n) = 0;
  // y = rmsnorm(x[rows[i], :]) * w for i < n: the final norm of the rows that need logits.
  virtual void rmsnorm_rows(const float* x, std::int64_t ldx, const std::int32_t* rows, std::int64_t n,
                            std::int64_t dim, const float* w, float eps, void* y, std::int64_t ldy) = 0;
  // y[i, j] = sum_k x[i, k] * w[j, k] (+ bias[j]) — activation in and out; w is [n, k] (PyTorch Linear layout).
  virtual void linear(const void* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const Weight& w,
                      const float* bias, void* y, std::int64_t ldy) = 0;
  // The lm_head: like linear, fp32 logits out.
  virtual void logits(const void* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const Weight& w, float* y,
                      std::int64_t ldy) = 0;
  // cos/sin tables [n, half] for the positions (angle = float(position) * inv_freq[i], fp32).
  virtual void rope_tables(const std::int32_t* positions, std::int64_t n, const float* inv_freq, int half,
                           float* cos, float* sin) = 0;
  // Rotary embedding in place, Hugging Face rotate_half layout, on [n_tokens, n_heads * head_dim] rows.
  virtual void rope(void* x, std::int64_t n_tokens, int n_heads, int head_dim, std::int64_t ld, const float* cos,
                    const float* sin) = 0;
  // Writes each token's K and V row (row_elems values) into its slot of the layer's blocks (slot < 0: skipped).
  virtual void store_kv(const void* k, const void* v, std::int64_t ld, std::int64_t n_tokens, std::int64_t row_elems,
                        const std::int32_t* slots, const KvLayerView& cache) = 0;
  // Causal GQA attention of the batch's query rows over their sequences' cached keys/values (read through the
  // block tables; the step's own K/V are stored first). q/out: [n_tokens, n_heads * head_dim].
  virtual void attention(const void* q, std::int64_t ldq, int n_heads, int n_kv_heads, int head_dim,
                         const KvLayerView& cache, const BatchView& batch, float scale, void* out,
                         std::int64_t ldo) = 0;
  // out = silu(gate) * up over n elements (out may alias gate or up).
  virtual void silu_mul(const void* gate, const void* up, std::int64_t n, void* out) = 0;
  // For each (src, dst) pair in pairs[2 * n]: block dst := block src, in every plane (copy-on-write).
  virtual void copy_blocks(const KvPoolView& pool, const std::int32_t* pairs, std::int64_t n) = 0;
  // ids[i] = a token drawn from logits row rows[i].logits_row (see sampler.hpp for the rules).
  virtual void sample(const float* logits, std::int64_t ld, const SampleRow* rows, std::int64_t n,
                      std::int32_t* ids) = 0;
};

}  // namespace reval::engine
