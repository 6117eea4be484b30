// CUDA twins of the CPU kernels (kernels/cpu_kernels.hpp), for the GPU path of the native engine.
//
// Theory of operation: same contract as the CPU kernels (raw device pointers, sizes, row strides, fp32 math over
// f32/f16/bf16 weights, nothing allocated) plus the stream to launch on and, where scratch is needed, a
// caller-provided device workspace. matmul widens a tile of weight rows to fp32 in the workspace and runs cuBLAS
// SGEMM on it, so results match the CPU path to fp32 rounding. All functions return a cudaError_t /
// cublasStatus_t-derived code through `Status` (0 = ok) rather than throwing: they are called from the engine's
// inner loop, which decides how to report failures. Only available when REVAL_HAVE_CUDA is defined.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/cpu_kernels.hpp"

namespace reval::kernels::cuda {

// 0 on success, otherwise a cudaError_t value or 10000 + a cublasStatus_t value.
using Status = int;
std::string status_string(Status s);

// Number of visible CUDA devices (0 when there is no driver or device).
int device_count();

// Workspace bytes matmul needs for weights of type wt and inner size k (f32 weights need none). Any non-zero
// workspace of at least k*4 bytes works; bigger workspaces convert more weight rows per SGEMM call.
std::size_t matmul_workspace_hint(DType wt, std::int64_t n, std::int64_t k);

// y[i, j] = sum_k x[i, k] * w[j, k] (+ bias[j]); shapes and strides as cpu::matmul. All pointers are device memory.
Status matmul(cublasHandle_t handle, cudaStream_t stream, const float* x, std::int64_t m, std::int64_t k,
              std::int64_t ldx, const void* w, DType wt, std::int64_t n, const float* bias, float* y, std::int64_t ldy,
              void* workspace, std::size_t workspace_bytes);

Status rmsnorm(cudaStream_t stream, const float* x, std::int64_t rows, std::int64_t dim, std::int64_t ldx,
               const float* weight, float eps, float* y, std::int64_t ldy);

// cos/sin are [n_tokens, head_dim/2] tables (as built by cpu::rope_tables, copied to the device).
Status rope(cudaStream_t stream, float* x, std::int64_t n_tokens, int n_heads, int head_dim, std::int64_t ld,
            const float* cos, const float* sin);

Status softmax(cudaStream_t stream, float* x, std::int64_t rows, std::int64_t n, std::int64_t ld);

// scratch: at least n_q * n_heads * n_kv floats of device memory.
Status attention(cudaStream_t stream, const float* q, std::int64_t n_q, std::int64_t ldq, int n_heads, int n_kv_heads,
                 int head_dim, const float* k, const float* v, std::int64_t ldkv, std::int64_t n_kv,
                 std::int64_t q_pos0, float scale, float* out, std::int64_t ldo, float* scratch);

// Paged KV cache (layout as in kernels/cpu_kernels.hpp). All index arrays are device memory.
Status store_kv(cudaStream_t stream, const float* k, const float* v, std::int64_t ld, std::int64_t n_tokens,
                std::int64_t row_elems, const std::int32_t* slots, float* k_cache, float* v_cache,
                std::int64_t block_stride, std::int64_t token_stride, int block_size);
// As cpu::paged_attention, plus n_tokens (= query_start[n_seqs], known on the host) for the launch shape.
// scratch: n_tokens * n_heads rows of scratch_stride floats (>= the largest context length) of device memory.
Status paged_attention(cudaStream_t stream, const float* q, std::int64_t ldq, int n_heads, int n_kv_heads, int head_dim,
                       const float* k_cache, const float* v_cache, std::int64_t block_stride, std::int64_t token_stride,
                       int block_size, const std::int32_t* block_tables, std::int64_t table_stride,
                       const std::int32_t* query_start, const std::int32_t* context_lens, const std::int32_t* positions,
                       int n_seqs, std::int64_t n_tokens, float scale, float* out, std::int64_t ldo, float* scratch,
                       std::int64_t scratch_stride);

Status silu_mul(cudaStream_t stream, const float* gate, const float* up, std::int64_t n, float* out);

Status embedding(cudaStream_t stream, const void* table, DType t, std::int64_t dim, const std::int32_t* ids,
                 std::int64_t n, float* out);

}  // namespace reval::kernels::cuda
