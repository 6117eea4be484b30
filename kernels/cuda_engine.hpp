// CUDA kernels of the native engine's bf16 path (the DeviceOps of model/engine/cuda_ops.hpp launch these).
//
// Theory of operation: weights and activations are bf16 (__nv_bfloat16), every reduction and accumulation is fp32
// (norms, dot products, softmax, GEMM accumulation through cuBLAS' CUBLAS_COMPUTE_32F), the residual stream and the
// logits are fp32. Each function enqueues its kernels on `stream`, allocates nothing and never synchronises; the
// caller passes any scratch it needs. Contracts mirror the CPU kernels (kernels/cpu_kernels.hpp), which are the
// reference of the gpu tests: same shapes, strides (in elements), paged KV layout and sampling rules
// (model/engine/sampler.hpp). Errors come back as Status (0 = ok; see cuda_kernels.hpp). Only built with CUDA.
#pragma once
#include <cstddef>
#include <cstdint>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/cuda_kernels.hpp"

namespace reval::kernels::cuda {

using bf16 = __nv_bfloat16;

// y[r] = bf16(rmsnorm(x[rows ? rows[r] : r]) * w) for r < n: fp32 in, bf16 out.
Status rmsnorm_to_bf16(cudaStream_t stream, const float* x, std::int64_t ldx, const std::int32_t* rows, std::int64_t n,
                       std::int64_t dim, const float* w, float eps, bf16* y, std::int64_t ldy);
// In place over bf16 rows (per-head q/k norm), fp32 math.
Status rmsnorm_bf16_inplace(cudaStream_t stream, bf16* x, std::int64_t rows, std::int64_t dim, std::int64_t ld,
                            const float* w, float eps);
// x += delta (fp32 += bf16); then, if w, y = bf16(rmsnorm(x) * w) (dense [rows, dim]; y may alias delta).
Status add_rmsnorm(cudaStream_t stream, float* x, const bf16* delta, std::int64_t rows, std::int64_t dim,
                   const float* w, float eps, bf16* y);
// x += delta over n elements.
Status add_bf16(cudaStream_t stream, float* x, const bf16* delta, std::int64_t n);
// y[i, j] = sum_k x[i, k] * w[j, k] (+ bias[j]): bf16 operands, fp32 accumulation (tensor cores), bf16 out; the
// fp32 bias is added to the fp32-rounded product before the final bf16 rounding is applied again (one extra
// rounding, well inside bf16 tolerance).
Status linear_bf16(cublasHandle_t handle, cudaStream_t stream, const bf16* x, std::int64_t m, std::int64_t k,
                   std::int64_t ldx, const bf16* w, std::int64_t n, const float* bias, bf16* y, std::int64_t ldy);
// Same product with fp32 output (the lm_head).
Status linear_bf16_f32out(cublasHandle_t handle, cudaStream_t stream, const bf16* x, std::int64_t m, std::int64_t k,
                          std::int64_t ldx, const bf16* w, std::int64_t n, float* y, std::int64_t ldy);
// cos/sin [n, half] for the positions: angle = float(position) * inv_freq[i].
Status rope_tables(cudaStream_t stream, const std::int32_t* positions, std::int64_t n, const float* inv_freq, int half,
                   float* cos, float* sin);
// Hugging Face rotate_half RoPE in place on bf16 rows [n_tokens, n_heads * head_dim] (row stride ld).
Status rope_bf16(cudaStream_t stream, bf16* x, std::int64_t n_tokens, int n_heads, int head_dim, std::int64_t ld,
                 const float* cos, const float* sin);
// K/V rows into their slots of the paged cache (slot < 0 skipped).
Status store_kv_bf16(cudaStream_t stream, const bf16* k, const bf16* v, std::int64_t ld, std::int64_t n_tokens,
                     std::int64_t row_elems, const std::int32_t* slots, bf16* k_cache, bf16* v_cache,
                     std::int64_t block_stride, std::int64_t token_stride, int block_size);

// Paged causal GQA attention (prefill and decode): one thread block per (query token, KV head, split); its warps
// stream the keys of their split once for all query heads of the group, with an online softmax in fp32; with more
// than one split, partial (max, sum, output) go to scratch and a merge kernel combines them.
struct AttentionShape {
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;  // head_dim <= 256, n_heads / n_kv_heads <= 8
  std::int64_t block_stride = 0, token_stride = 0;
  int block_size = 0;
  std::int64_t table_stride = 0;
  int n_seqs = 0;
  std::int64_t n_tokens = 0;
  std::int32_t max_context_len = 0;
};
// Splits the launch will use (1 = no merge) for a scratch of `scratch_floats` and `sm_count` multiprocessors.
int attention_splits(const AttentionShape& s, int sm_count, std::size_t scratch_floats);
Status paged_attention_bf16(cudaStream_t stream, const AttentionShape& s, const bf16* q, std::int64_t ldq,
                            const bf16* k_cache, const bf16* v_cache, const std::int32_t* block_tables,
                            const std::int32_t* query_start, const std::int32_t* positions, float scale, bf16* out,
                            std::int64_t ldo, float* scratch, std::size_t scratch_floats, int sm_count);

Status silu_mul_bf16(cudaStream_t stream, const bf16* gate, const bf16* up, std::int64_t n, bf16* out);
// For each (src, dst) pair: block dst := block src in every plane (element size elem_bytes).
Status copy_blocks(cudaStream_t stream, void* base, int planes, std::int64_t plane_stride, std::int64_t block_stride,
                   int elem_bytes, const std::int32_t* pairs, std::int64_t n);
// fp32/f16/bf16 -> bf16 over n elements (weight upload of non-bf16 checkpoints).
Status convert_to_bf16(cudaStream_t stream, const void* src, DType t, std::int64_t n, bf16* dst);

// One draw, laid out exactly like reval::engine::SampleRow (static_asserts in model/engine/cuda_ops.cpp).
struct SampleSpec {
  std::int32_t logits_row;
  std::int32_t n_valid;
  double temperature;
  double top_p;
  int top_k;
  double min_p;
  std::uint64_t seed;
  std::int64_t position;
};
// ids[i] = a token drawn from logits row rows[i].logits_row by the reference sampler's rules (temperature, top-k,
// top-p, min-p; greedy when temperature <= 0 or top_k == 1, lowest id on ties), with the uniform
// counter_uniform(seed, position). One block of 1024 threads per row, thresholds found by radix selection (top-k
// over counts, top-p over probability mass), no sort; the draw walks the kept ids in increasing order.
Status sample(cudaStream_t stream, const float* logits, std::int64_t ld, const SampleSpec* rows, std::int64_t n,
              std::int32_t* ids);

}  // namespace reval::kernels::cuda
