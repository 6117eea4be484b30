// CUDA kernels of the native engine (contract in kernels/cuda_kernels.hpp).
//
// Theory of operation: straightforward reference-quality kernels. Row-wise operations (RMSNorm, softmax) use one
// block per row and a shared-memory tree reduction; attention uses one block per (query, head): threads score
// keys into a global scratch row, the block reduces max and sum, then each thread owns some output dimensions.
// matmul is cuBLAS SGEMM in fp32 (TF32 stays off: default math mode), with non-f32 weights widened tile by tile
// into the caller's workspace first. Row-major y = x * w^T maps to column-major y^T = w^T(op T) * x^T.
#include <algorithm>
#include <cstdint>

#include "kernels/cuda_kernels.hpp"

namespace reval::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__device__ inline float load_weight(const void* p, DType t, std::int64_t i) {
  if (t == DType::f32) return static_cast<const float*>(p)[i];
  const unsigned short bits = static_cast<const unsigned short*>(p)[i];
  if (t == DType::bf16) return __uint_as_float(static_cast<unsigned int>(bits) << 16);
  // f16
  const unsigned int sign = (bits & 0x8000u) << 16, exp = (bits >> 10) & 0x1fu, mant = bits & 0x3ffu;
  if (exp == 0) {
    float f = static_cast<float>(mant) * 5.9604644775390625e-08f;
    return sign ? -f : f;
  }
  if (exp == 31) return __uint_as_float(sign | 0x7f800000u | (mant << 13));
  return __uint_as_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

// Reduces `v` over the block (sum or max); every thread gets the result.
template <bool IsMax>
__device__ float block_reduce(float v) {
  __shared__ float buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] = IsMax ? fmaxf(buf[threadIdx.x], buf[threadIdx.x + s])
                                                  : buf[threadIdx.x] + buf[threadIdx.x + s];
    __syncthreads();
  }
  float r = buf[0];
  __syncthreads();
  return r;
}

__global__ void widen_kernel(const void* src, DType t, std::int64_t n, float* dst) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    dst[i] = load_weight(src, t, i);
}

__global__ void bias_kernel(float* y, std::int64_t m, std::int64_t n, std::int64_t ldy, const float* bias) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < m * n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    y[(i / n) * ldy + i % n] += bias[i % n];
}

__global__ void rmsnorm_kernel(const float* x, std::int64_t dim, std::int64_t ldx, const float* w, float eps, float* y,
                               std::int64_t ldy) {
  const float* xr = x + blockIdx.x * ldx;
  float* yr = y + blockIdx.x * ldy;
  float ss = 0.0f;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  ss = block_reduce<false>(ss);
  const float inv = 1.0f / sqrtf(ss / static_cast<float>(dim) + eps);
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = w[i] * (xr[i] * inv);
}

__global__ void rope_kernel(float* x, std::int64_t n_tokens, int n_heads, int head_dim, std::int64_t ld,
                            const float* cos, const float* sin) {
  const int half = head_dim / 2;
  const std::int64_t total = n_tokens * n_heads * half;
  for (std::int64_t idx = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(idx % half);
    const std::int64_t th = idx / half;
    const int h = static_cast<int>(th % n_heads);
    const std::int64_t t = th / n_heads;
    float* v = x + t * ld + static_cast<std::int64_t>(h) * head_dim;
    const float c = cos[t * half + i], s = sin[t * half + i];
    const float x1 = v[i], x2 = v[i + half];
    v[i] = x1 * c - x2 * s;
    v[i + half] = x2 * c + x1 * s;
  }
}

__global__ void softmax_kernel(float* x, std::int64_t n, std::int64_t ld) {
  float* v = x + blockIdx.x * ld;
  float mx = -INFINITY;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) mx = fmaxf(mx, v[i]);
  mx = block_reduce<true>(mx);
  float sum = 0.0f;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float e = expf(v[i] - mx);
    v[i] = e;
    sum += e;
  }
  sum = block_reduce<false>(sum);
  const float inv = 1.0f / sum;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) v[i] *= inv;
}

__global__ void attention_kernel(const float* q, std::int64_t ldq, int n_heads, int group, int head_dim,
                                 const float* k, const float* v, std::int64_t ldkv, std::int64_t n_kv,
                                 std::int64_t q_pos0, float scale, float* out, std::int64_t ldo, float* scratch) {
  const std::int64_t t = blockIdx.x / n_heads;
  const int h = static_cast<int>(blockIdx.x % n_heads);
  const std::int64_t kvo = static_cast<std::int64_t>(h / group) * head_dim;
  const float* qv = q + t * ldq + static_cast<std::int64_t>(h) * head_dim;
  float* s = scratch + static_cast<std::int64_t>(blockIdx.x) * n_kv;
  const std::int64_t lim = min(q_pos0 + t, n_kv - 1) + 1;
  float mx = -INFINITY;
  for (std::int64_t j = threadIdx.x; j < lim; j += blockDim.x) {
    const float* kv = k + j * ldkv + kvo;
    float acc = 0.0f;
    for (int d = 0; d < head_dim; ++d) acc += qv[d] * kv[d];
    acc *= scale;
    s[j] = acc;
    mx = fmaxf(mx, acc);
  }
  mx = block_reduce<true>(mx);
  float sum = 0.0f;
  for (std::int64_t j = threadIdx.x; j < lim; j += blockDim.x) {
    const float e = expf(s[j] - mx);
    s[j] = e;
    sum += e;
  }
  sum = block_reduce<false>(sum);  // also orders the writes to s before the reads below
  const float inv = 1.0f / sum;
  float* o = out + t * ldo + static_cast<std::int64_t>(h) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float acc = 0.0f;
    for (std::int64_t j = 0; j < lim; ++j) acc += s[j] * inv * v[j * ldkv + kvo + d];
    o[d] = acc;
  }
}

__global__ void store_kv_kernel(const float* k, const float* v, std::int64_t ld, std::int64_t n_tokens,
                                std::int64_t row_elems, const std::int32_t* slots, float* k_cache, float* v_cache,
                                std::int64_t block_stride, std::int64_t token_stride, int block_size) {
  for (std::int64_t idx = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; idx < n_tokens * row_elems;
       idx += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t t = idx / row_elems, e = idx % row_elems;
    const std::int32_t slot = slots[t];
    if (slot < 0) continue;
    const std::int64_t off = (slot / block_size) * block_stride + (slot % block_size) * token_stride + e;
    k_cache[off] = k[t * ld + e];
    v_cache[off] = v[t * ld + e];
  }
}

// One block per (query row, head): the row's sequence by binary search over query_start, scores through the block
// table into the scratch row, block-wide max and sum, then each thread owns some output dimensions.
__global__ void paged_attention_kernel(const float* q, std::int64_t ldq, int n_heads, int group, int head_dim,
                                       const float* k_cache, const float* v_cache, std::int64_t block_stride,
                                       std::int64_t token_stride, int block_size, const std::int32_t* block_tables,
                                       std::int64_t table_stride, const std::int32_t* query_start,
                                       const std::int32_t* context_lens, const std::int32_t* positions, int n_seqs,
                                       float scale, float* out, std::int64_t ldo, float* scratch,
                                       std::int64_t scratch_stride) {
  const std::int64_t t = blockIdx.x / n_heads;
  const int h = static_cast<int>(blockIdx.x % n_heads);
  int lo = 0, hi = n_seqs;  // the sequence s with query_start[s] <= t < query_start[s + 1]
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (query_start[mid] <= t) lo = mid;
    else hi = mid;
  }
  const int seq = lo;
  const std::int32_t* table = block_tables + seq * table_stride;
  const std::int64_t kvo = static_cast<std::int64_t>(h / group) * head_dim;
  const float* qv = q + t * ldq + static_cast<std::int64_t>(h) * head_dim;
  float* s = scratch + static_cast<std::int64_t>(blockIdx.x) * scratch_stride;
  const std::int64_t lim = min(static_cast<std::int64_t>(positions[t]), static_cast<std::int64_t>(context_lens[seq]) - 1) + 1;
  auto row = [&](std::int64_t j) { return table[j / block_size] * block_stride + (j % block_size) * token_stride + kvo; };
  float mx = -INFINITY;
  for (std::int64_t j = threadIdx.x; j < lim; j += blockDim.x) {
    const float* kv = k_cache + row(j);
    float acc = 0.0f;
    for (int d = 0; d < head_dim; ++d) acc += qv[d] * kv[d];
    acc *= scale;
    s[j] = acc;
    mx = fmaxf(mx, acc);
  }
  mx = block_reduce<true>(mx);
  float sum = 0.0f;
  for (std::int64_t j = threadIdx.x; j < lim; j += blockDim.x) {
    const float e = expf(s[j] - mx);
    s[j] = e;
    sum += e;
  }
  sum = block_reduce<false>(sum);  // also orders the writes to s before the reads below
  const float inv = 1.0f / sum;
  float* o = out + t * ldo + static_cast<std::int64_t>(h) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float acc = 0.0f;
    for (std::int64_t j = 0; j < lim; ++j) acc += s[j] * inv * v_cache[row(j) + d];
    o[d] = acc;
  }
}

__global__ void silu_mul_kernel(const float* g, const float* u, std::int64_t n, float* out) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float x = g[i];
    out[i] = x / (1.0f + expf(-x)) * u[i];
  }
}

__global__ void embedding_kernel(const void* table, DType t, std::int64_t dim, const std::int32_t* ids,
                                 std::int64_t n, float* out) {
  for (std::int64_t idx = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; idx < n * dim;
       idx += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t row = idx / dim, col = idx % dim;
    out[idx] = load_weight(table, t, static_cast<std::int64_t>(ids[row]) * dim + col);
  }
}

unsigned grid_for(std::int64_t n) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((n + kThreads - 1) / kThreads, 1, 65535));
}

Status last_status() { return static_cast<Status>(cudaGetLastError()); }

}  // namespace

std::string status_string(Status s) {
  if (s == 0) return "ok";
  if (s >= 10000) return "cuBLAS status " + std::to_string(s - 10000);
  return cudaGetErrorString(static_cast<cudaError_t>(s));
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

std::size_t matmul_workspace_hint(DType wt, std::int64_t n, std::int64_t k) {
  if (wt == DType::f32) return 0;
  return static_cast<std::size_t>(std::min<std::int64_t>(n, 4096) * k) * sizeof(float);
}

Status matmul(cublasHandle_t handle, cudaStream_t stream, const float* x, std::int64_t m, std::int64_t k,
              std::int64_t ldx, const void* w, DType wt, std::int64_t n, const float* bias, float* y, std::int64_t ldy,
              void* workspace, std::size_t workspace_bytes) {
  if (m <= 0 || n <= 0) return 0;
  if (cublasStatus_t st = cublasSetStream(handle, stream); st != CUBLAS_STATUS_SUCCESS) return 10000 + st;
  const float one = 1.0f, zero = 0.0f;
  auto gemm = [&](const float* wf, std::int64_t j0, std::int64_t nt) -> Status {
    cublasStatus_t st = cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(nt), static_cast<int>(m),
                                    static_cast<int>(k), &one, wf, static_cast<int>(k), x, static_cast<int>(ldx),
                                    &zero, y + j0, static_cast<int>(ldy));
    return st == CUBLAS_STATUS_SUCCESS ? 0 : 10000 + st;
  };
  if (wt == DType::f32) {
    if (Status s = gemm(static_cast<const float*>(w), 0, n)) return s;
  } else {
    const std::int64_t rows = static_cast<std::int64_t>(workspace_bytes / (sizeof(float) * k));
    if (rows <= 0) return static_cast<Status>(cudaErrorInvalidValue);
    float* wf = static_cast<float*>(workspace);
    for (std::int64_t j0 = 0; j0 < n; j0 += rows) {
      const std::int64_t nt = std::min(rows, n - j0);
      const void* src = static_cast<const char*>(w) + static_cast<std::size_t>(j0 * k) * (wt == DType::f32 ? 4 : 2);
      widen_kernel<<<grid_for(nt * k), kThreads, 0, stream>>>(src, wt, nt * k, wf);
      if (Status s = last_status()) return s;
      if (Status s = gemm(wf, j0, nt)) return s;
    }
  }
  if (bias) {
    bias_kernel<<<grid_for(m * n), kThreads, 0, stream>>>(y, m, n, ldy, bias);
    return last_status();
  }
  return 0;
}

Status rmsnorm(cudaStream_t stream, const float* x, std::int64_t rows, std::int64_t dim, std::int64_t ldx,
               const float* weight, float eps, float* y, std::int64_t ldy) {
  if (rows <= 0) return 0;
  rmsnorm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, dim, ldx, weight, eps, y, ldy);
  return last_status();
}

Status rope(cudaStream_t stream, float* x, std::int64_t n_tokens, int n_heads, int head_dim, std::int64_t ld,
            const float* cos, const float* sin) {
  const std::int64_t total = n_tokens * n_heads * (head_dim / 2);
  if (total <= 0) return 0;
  rope_kernel<<<grid_for(total), kThreads, 0, stream>>>(x, n_tokens, n_heads, head_dim, ld, cos, sin);
  return last_status();
}

Status softmax(cudaStream_t stream, float* x, std::int64_t rows, std::int64_t n, std::int64_t ld) {
  if (rows <= 0) return 0;
  softmax_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, n, ld);
  return last_status();
}

Status attention(cudaStream_t stream, const float* q, std::int64_t n_q, std::int64_t ldq, int n_heads, int n_kv_heads,
                 int head_dim, const float* k, const float* v, std::int64_t ldkv, std::int64_t n_kv,
                 std::int64_t q_pos0, float scale, float* out, std::int64_t ldo, float* scratch) {
  if (n_q <= 0) return 0;
  attention_kernel<<<static_cast<unsigned>(n_q * n_heads), kThreads, 0, stream>>>(
      q, ldq, n_heads, n_heads / n_kv_heads, head_dim, k, v, ldkv, n_kv, q_pos0, scale, out, ldo, scratch);
  return last_status();
}

Status store_kv(cudaStream_t stream, const float* k, const float* v, std::int64_t ld, std::int64_t n_tokens,
                std::int64_t row_elems, const std::int32_t* slots, float* k_cache, float* v_cache,
                std::int64_t block_stride, std::int64_t token_stride, int block_size) {
  if (n_tokens <= 0) return 0;
  store_kv_kernel<<<grid_for(n_tokens * row_elems), kThreads, 0, stream>>>(k, v, ld, n_tokens, row_elems, slots, k_cache,
                                                                           v_cache, block_stride, token_stride, block_size);
  return last_status();
}

Status paged_attention(cudaStream_t stream, const float* q, std::int64_t ldq, int n_heads, int n_kv_heads, int head_dim,
                       const float* k_cache, const float* v_cache, std::int64_t block_stride, std::int64_t token_stride,
                       int block_size, const std::int32_t* block_tables, std::int64_t table_stride,
                       const std::int32_t* query_start, const std::int32_t* context_lens, const std::int32_t* positions,
                       int n_seqs, std::int64_t n_tokens, float scale, float* out, std::int64_t ldo, float* scratch,
                       std::int64_t scratch_stride) {
  if (n_tokens <= 0 || n_seqs <= 0) return 0;
  paged_attention_kernel<<<static_cast<unsigned>(n_tokens * n_heads), kThreads, 0, stream>>>(
      q, ldq, n_heads, n_heads / n_kv_heads, head_dim, k_cache, v_cache, block_stride, token_stride, block_size,
      block_tables, table_stride, query_start, context_lens, positions, n_seqs, scale, out, ldo, scratch,
      scratch_stride);
  return last_status();
}

Status silu_mul(cudaStream_t stream, const float* gate, const float* up, std::int64_t n, float* out) {
  if (n <= 0) return 0;
  silu_mul_kernel<<<grid_for(n), kThreads, 0, stream>>>(gate, up, n, out);
  return last_status();
}

Status embedding(cudaStream_t stream, const void* table, DType t, std::int64_t dim, const std::int32_t* ids,
                 std::int64_t n, float* out) {
  if (n <= 0) return 0;
  embedding_kernel<<<grid_for(n * dim), kThreads, 0, stream>>>(table, t, dim, ids, n, out);
  return last_status();
}

}  // namespace reval::kernels::cuda
