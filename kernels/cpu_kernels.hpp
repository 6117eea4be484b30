// CPU compute kernels for the native engine.
//
// Theory of operation: every kernel is a plain function over raw pointers, sizes and row strides ("ld" = elements
// between consecutive rows). Kernels allocate nothing; where they need scratch memory the caller passes it in.
// Math is fp32 throughout; weights may be stored as f32, f16 or bf16 and are widened on the fly inside matmul and
// embedding lookup (no converted copy of the model is needed). Row-parallel kernels take an optional ThreadPool
// (nullptr = run on the calling thread). Every output element is computed by the same sequence of operations no
// matter how many rows are processed together or how the work is split across threads, so batched and unbatched
// forward passes give bitwise-identical results. The CUDA twins (kernels/cuda_kernels.hpp) follow the same
// contract plus a stream and a caller-provided workspace.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace reval::kernels {

// Storage type of a weight tensor.
enum class DType : std::uint8_t { f32, f16, bf16 };
std::size_t dtype_size(DType t);
const char* dtype_name(DType t);

// Scalar conversions (round-to-nearest-even when narrowing; NaN stays NaN).
float bf16_to_f32(std::uint16_t v);
std::uint16_t f32_to_bf16(float v);
float f16_to_f32(std::uint16_t v);
std::uint16_t f32_to_f16(float v);
// dst[i] = float(src[i]) for n elements of type t.
void convert_to_f32(const void* src, DType t, std::size_t n, float* dst);

// A fixed pool of worker threads. parallel_for(n, fn) splits [0, n) into contiguous chunks and calls
// fn(begin, end, thread_index) on the workers and the calling thread; thread_index < size() identifies a slot of
// per-thread scratch. Calls from different threads are serialised; fn must not call parallel_for itself.
class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads <= 0: std::thread::hardware_concurrency()
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  int size() const { return static_cast<int>(workers_.size()) + 1; }
  void parallel_for(std::int64_t n, const std::function<void(std::int64_t, std::int64_t, int)>& fn,
                    std::int64_t min_chunk = 1);

 private:
  void worker_loop(int index);
  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // serialises parallel_for callers
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(std::int64_t, std::int64_t, int)>* job_ = nullptr;
  std::int64_t n_ = 0, chunk_ = 1, next_ = 0;
  int generation_ = 0, busy_ = 0;
  bool stop_ = false;
};

namespace cpu {

// y[i, j] = sum_k x[i, k] * w[j, k] (+ bias[j]) for i < m, j < n: x is [m, k] with row stride ldx, w is a dense
// row-major [n, k] matrix of type wt (the PyTorch Linear layout), bias (may be null) is [n], y is [m, n] with row
// stride ldy. Parallel over output columns (rows of w).
void matmul(const float* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const void* w, DType wt, std::int64_t n,
            const float* bias, float* y, std::int64_t ldy, ThreadPool* pool);

// y[i, :] = x[i, :] / sqrt(mean(x[i, :]^2) + eps) * weight (weight [dim]); y may alias x.
void rmsnorm(const float* x, std::int64_t rows, std::int64_t dim, std::int64_t ldx, const float* weight, float eps,
             float* y, std::int64_t ldy);

// cos/sin tables for rotary embeddings: angle[t, i] = float(positions[t]) * inv_freq[i] for i < half;
// cos_out/sin_out are [n, half].
void rope_tables(const float* inv_freq, int half, const std::int32_t* positions, std::int64_t n, float* cos_out,
                 float* sin_out);
// Applies rotary embeddings in place in the Hugging Face rotate_half layout: each head of dim d = 2*half is split
// into x1 = x[:half], x2 = x[half:], and becomes (x1*cos - x2*sin, x2*cos + x1*sin). x is [n_tokens, n_heads*d]
// with row stride ld; cos/sin are [n_tokens, half].
void rope(float* x, std::int64_t n_tokens, int n_heads, int head_dim, std::int64_t ld, const float* cos,
          const float* sin);

// Row-wise softmax in place over n columns of `rows` rows (stride ld).
void softmax(float* x, std::int64_t rows, std::int64_t n, std::int64_t ld);

// Causal grouped-query attention of n_q new queries against a KV cache of n_kv positions.
// q: [n_q, n_heads*head_dim] (row stride ldq); k, v: [n_kv, n_kv_heads*head_dim] (row stride ldkv);
// query t sits at absolute position q_pos0 + t and attends keys 0..min(q_pos0 + t, n_kv - 1).
// Query head h reads KV head h / (n_heads / n_kv_heads). out: [n_q, n_heads*head_dim] (row stride ldo).
// scratch: at least (pool ? pool->size() : 1) * n_kv floats.
void attention(const float* q, std::int64_t n_q, std::int64_t ldq, int n_heads, int n_kv_heads, int head_dim,
               const float* k, const float* v, std::int64_t ldkv, std::int64_t n_kv, std::int64_t q_pos0, float scale,
               float* out, std::int64_t ldo, float* scratch, ThreadPool* pool);

// ---- Paged KV cache ------------------------------------------------------------------------------------------
// One layer's keys (and, separately, values) live in an array of fixed-size blocks. Block b holds block_size
// consecutive positions of one sequence; the row of position p sits in block table[p / block_size] at row
// p % block_size, i.e. at cache + table[p / block_size] * block_stride + (p % block_size) * token_stride, and holds
// n_kv_heads * head_dim values (head-major). A "slot" names a row: slot = block * block_size + row.

// Copies n_tokens K and V rows (row_elems values each; k and v have row stride ld) into their slots (slots[t] < 0:
// row t is skipped).
void store_kv(const float* k, const float* v, std::int64_t ld, std::int64_t n_tokens, std::int64_t row_elems,
              const std::int32_t* slots, float* k_cache, float* v_cache, std::int64_t block_stride,
              std::int64_t token_stride, int block_size);

// Causal grouped-query attention for a batch of sequences over the paged cache (keys/values already stored).
// Sequence s owns query rows [query_start[s], query_start[s + 1]) of q ([n_tokens, n_heads*head_dim], row stride
// ldq); query row t sits at position positions[t] and attends keys 0..min(positions[t], context_lens[s] - 1) of its
// sequence, read through block_tables + s * table_stride. Query head h reads KV head h / (n_heads / n_kv_heads).
// out: [n_tokens, n_heads*head_dim] (row stride ldo). scratch: (pool ? pool->size() : 1) rows of scratch_stride
// floats, scratch_stride >= the largest context length. Every (row, head) is computed by the same sequence of
// operations as cpu::attention over a contiguous cache, so paged and contiguous results are bitwise equal.
void paged_attention(const float* q, std::int64_t ldq, int n_heads, int n_kv_heads, int head_dim,
                     const float* k_cache, const float* v_cache, std::int64_t block_stride, std::int64_t token_stride,
                     int block_size, const std::int32_t* block_tables, std::int64_t table_stride,
                     const std::int32_t* query_start, const std::int32_t* context_lens, const std::int32_t* positions,
                     int n_seqs, float scale, float* out, std::int64_t ldo, float* scratch,
                     std::int64_t scratch_stride, ThreadPool* pool);

// out[i] = silu(gate[i]) * up[i] for n elements (out may alias gate or up).
void silu_mul(const float* gate, const float* up, std::int64_t n, float* out);

// y[i] += x[i] for n elements.
void add_inplace(float* y, const float* x, std::int64_t n);

// out[t, :] = float(table[ids[t], :]) for the [rows, dim] embedding table of type t.
void embedding(const void* table, DType t, std::int64_t dim, const std::int32_t* ids, std::int64_t n, float* out);

}  // namespace cpu
}  // namespace reval::kernels
