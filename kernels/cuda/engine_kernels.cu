// The bf16 kernels of the native engine's CUDA path (contract in kernels/cuda_engine.hpp).
//
// Theory of operation. Row operations (RMSNorm variants) run one block per row with fp32 sums. GEMMs go to cuBLAS
// (bf16 x bf16, fp32 compute, tensor-core algorithms). Attention: grid (token, kv head, split); 4 warps per block,
// each warp walks every 4th key of the split, the lanes holding head_dim/32 elements of the group's query rows in
// registers, so each key/value row is loaded once for all query heads of its group (GQA); per (warp, head) an
// online softmax (running max, sum, output); the warps are merged in shared memory and either written (one split)
// or stored as partials that attention_merge combines. Sampling: one 1024-thread block per row, see sample_kernel.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "kernels/counter_rng.hpp"
#include "kernels/cuda_engine.hpp"

namespace reval::kernels::cuda {
namespace {

constexpr int kRowThreads = 256;

Status last_error() { return static_cast<Status>(cudaGetLastError()); }
Status cublas_status(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS ? 0 : 10000 + static_cast<int>(s); }
unsigned grid_for(std::int64_t n, int threads) {
  return static_cast<unsigned>(std::min<std::int64_t>((n + threads - 1) / threads, 65535 * 16));
}

__device__ inline float block_sum(float v) {
  using Reduce = cub::BlockReduce<float, kRowThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  __shared__ float result;
  const float s = Reduce(tmp).Sum(v);
  if (threadIdx.x == 0) result = s;
  __syncthreads();
  const float r = result;
  __syncthreads();
  return r;
}

__global__ void rmsnorm_to_bf16_kernel(const float* x, std::int64_t ldx, const std::int32_t* rows, std::int64_t dim,
                                       const float* w, float eps, bf16* y, std::int64_t ldy) {
  const std::int64_t src = rows ? rows[blockIdx.x] : static_cast<std::int64_t>(blockIdx.x);
  const float* xr = x + src * ldx;
  bf16* yr = y + static_cast<std::int64_t>(blockIdx.x) * ldy;
  float ss = 0.0f;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  ss = block_sum(ss);
  const float inv = rsqrtf(ss / static_cast<float>(dim) + eps);
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = __float2bfloat16(w[i] * (xr[i] * inv));
}

__global__ void rmsnorm_bf16_kernel(bf16* x, std::int64_t dim, std::int64_t ld, const float* w, float eps) {
  bf16* xr = x + static_cast<std::int64_t>(blockIdx.x) * ld;
  float ss = 0.0f;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = __bfloat162float(xr[i]);
    ss += v * v;
  }
  ss = block_sum(ss);
  const float inv = rsqrtf(ss / static_cast<float>(dim) + eps);
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x)
    xr[i] = __float2bfloat16(w[i] * (__bfloat162float(xr[i]) * inv));
}

// Each thread touches the same indices in both loops, so y may alias delta.
__global__ void add_rmsnorm_kernel(float* x, const bf16* delta, std::int64_t dim, const float* w, float eps, bf16* y) {
  float* xr = x + static_cast<std::int64_t>(blockIdx.x) * dim;
  const bf16* dr = delta + static_cast<std::int64_t>(blockIdx.x) * dim;
  float ss = 0.0f;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = xr[i] + __bfloat162float(dr[i]);
    xr[i] = v;
    ss += v * v;
  }
  if (!w) return;
  ss = block_sum(ss);
  const float inv = rsqrtf(ss / static_cast<float>(dim) + eps);
  bf16* yr = y + static_cast<std::int64_t>(blockIdx.x) * dim;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = __float2bfloat16(w[i] * (xr[i] * inv));
}

__global__ void add_kernel(float* x, const bf16* d, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    x[i] += __bfloat162float(d[i]);
}

__global__ void bias_bf16_kernel(bf16* y, std::int64_t m, std::int64_t n, std::int64_t ldy, const float* bias) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < m * n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    bf16* p = y + (i / n) * ldy + i % n;
    *p = __float2bfloat16(__bfloat162float(*p) + bias[i % n]);
  }
}

__global__ void rope_tables_kernel(const std::int32_t* positions, std::int64_t n, const float* inv_freq, int half,
                                   float* cos_out, float* sin_out) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n * half;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float a = static_cast<float>(positions[i / half]) * inv_freq[i % half];
    float s, c;
    sincosf(a, &s, &c);
    cos_out[i] = c;
    sin_out[i] = s;
  }
}

__global__ void rope_bf16_kernel(bf16* x, std::int64_t n_tokens, int n_heads, int head_dim, std::int64_t ld,
                                 const float* cos, const float* sin) {
  const int half = head_dim / 2;
  const std::int64_t total = n_tokens * n_heads * half;
  for (std::int64_t idx = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(idx % half);
    const std::int64_t th = idx / half;
    const int h = static_cast<int>(th % n_heads);
    const std::int64_t t = th / n_heads;
    bf16* v = x + t * ld + static_cast<std::int64_t>(h) * head_dim;
    const float c = cos[t * half + i], s = sin[t * half + i];
    const float x1 = __bfloat162float(v[i]), x2 = __bfloat162float(v[i + half]);
    v[i] = __float2bfloat16(x1 * c - x2 * s);
    v[i + half] = __float2bfloat16(x2 * c + x1 * s);
  }
}

__global__ void store_kv_kernel(const bf16* k, const bf16* v, std::int64_t ld, std::int64_t n_tokens,
                                std::int64_t row_elems, const std::int32_t* slots, bf16* kc, bf16* vc,
                                std::int64_t block_stride, std::int64_t token_stride, int block_size) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n_tokens * row_elems;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t t = i / row_elems, e = i % row_elems;
    const std::int32_t slot = slots[t];
    if (slot < 0) continue;
    const std::int64_t off = (slot / block_size) * block_stride + (slot % block_size) * token_stride + e;
    kc[off] = k[t * ld + e];
    vc[off] = v[t * ld + e];
  }
}

__global__ void silu_mul_kernel(const bf16* gate, const bf16* up, std::int64_t n, bf16* out) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float g = __bfloat162float(gate[i]), u = __bfloat162float(up[i]);
    out[i] = __float2bfloat16(g / (1.0f + expf(-g)) * u);
  }
}

__global__ void copy_blocks_kernel(char* base, int planes, std::int64_t plane_bytes, std::int64_t block_bytes,
                                   const std::int32_t* pairs) {
  const std::int64_t pair = blockIdx.x;
  const int plane = static_cast<int>(blockIdx.y);
  if (plane >= planes) return;
  const char* src = base + plane * plane_bytes + pairs[2 * pair] * block_bytes;
  char* dst = base + plane * plane_bytes + pairs[2 * pair + 1] * block_bytes;
  for (std::int64_t i = threadIdx.x; i < block_bytes; i += blockDim.x) dst[i] = src[i];
}

__device__ inline float load_any(const void* p, DType t, std::int64_t i) {
  if (t == DType::f32) return static_cast<const float*>(p)[i];
  if (t == DType::bf16) return __bfloat162float(static_cast<const bf16*>(p)[i]);
  return __half2float(static_cast<const __half*>(p)[i]);
}

__global__ void convert_kernel(const void* src, DType t, std::int64_t n, bf16* dst) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16(load_any(src, t, i));
}

// ---------------------------------------------------------------------------------------------------------------
// Attention

constexpr int kAttnWarps = 4;

__device__ inline float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// NI: head-dim elements per lane (head_dim <= 32 * NI); G: the largest group size handled.
template <int NI, int G>
__global__ void __launch_bounds__(kAttnWarps * 32)
    attention_kernel(AttentionShape s, const bf16* q, std::int64_t ldq, const bf16* kc, const bf16* vc,
                     const std::int32_t* tables, const std::int32_t* query_start, const std::int32_t* positions,
                     float scale, bf16* out, std::int64_t ldo, int splits, int chunk, float* part_ml, float* part_o) {
  const std::int64_t t = blockIdx.x;
  const int kvh = static_cast<int>(blockIdx.y), split = static_cast<int>(blockIdx.z);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int hd = s.head_dim, group = s.n_heads / s.n_kv_heads;
  // The token's sequence: the last seq with query_start[seq] <= t.
  int lo = 0, hi = s.n_seqs - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (query_start[mid] <= t) lo = mid; else hi = mid - 1;
  }
  const int seq = lo;
  const int kv_len = positions[t] + 1;
  const int begin = split * chunk, end = min(kv_len, begin + chunk);
  const std::int32_t* table = tables + static_cast<std::int64_t>(seq) * s.table_stride;

  float qr[G][NI], acc[G][NI], m[G], l[G];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      const int d = lane + 32 * i;
      const int h = kvh * group + g;
      qr[g][i] = (g < group && d < hd) ? __bfloat162float(q[t * ldq + static_cast<std::int64_t>(h) * hd + d]) * scale : 0.0f;
      acc[g][i] = 0.0f;
    }
  }
  for (int j = begin + warp; j < end; j += kAttnWarps) {
    const std::int64_t off = static_cast<std::int64_t>(table[j / s.block_size]) * s.block_stride +
                             static_cast<std::int64_t>(j % s.block_size) * s.token_stride +
                             static_cast<std::int64_t>(kvh) * hd;
    float kr[NI], vr[NI];
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      const int d = lane + 32 * i;
      kr[i] = d < hd ? __bfloat162float(kc[off + d]) : 0.0f;
      vr[i] = d < hd ? __bfloat162float(vc[off + d]) : 0.0f;
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
      if (g >= group) break;
      float dot = 0.0f;
#pragma unroll
      for (int i = 0; i < NI; ++i) dot += qr[g][i] * kr[i];
      dot = warp_sum(dot);
      const float mn = fmaxf(m[g], dot);
      const float corr = expf(m[g] - mn), p = expf(dot - mn);
      l[g] = l[g] * corr + p;
#pragma unroll
      for (int i = 0; i < NI; ++i) acc[g][i] = acc[g][i] * corr + p * vr[i];
      m[g] = mn;
    }
  }
  // Merge the warps.
  extern __shared__ float sm[];
  float* sm_ml = sm;                                   // [warps][G][2]
  float* sm_o = sm + kAttnWarps * G * 2;               // [warps][G][hd]
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (lane == 0) {
      sm_ml[(warp * G + g) * 2] = m[g];
      sm_ml[(warp * G + g) * 2 + 1] = l[g];
    }
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      const int d = lane + 32 * i;
      if (d < hd) sm_o[(warp * G + g) * hd + d] = acc[g][i];
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < group * hd; idx += blockDim.x) {
    const int g = idx / hd, d = idx % hd;
    float M = -INFINITY;
    for (int w = 0; w < kAttnWarps; ++w) M = fmaxf(M, sm_ml[(w * G + g) * 2]);
    float L = 0.0f, O = 0.0f;
    if (M != -INFINITY) {
      for (int w = 0; w < kAttnWarps; ++w) {
        const float e = expf(sm_ml[(w * G + g) * 2] - M);
        L += sm_ml[(w * G + g) * 2 + 1] * e;
        O += sm_o[(w * G + g) * hd + d] * e;
      }
    }
    const int h = kvh * group + g;
    if (splits == 1) {
      out[t * ldo + static_cast<std::int64_t>(h) * hd + d] = __float2bfloat16(L > 0.0f ? O / L : 0.0f);
    } else {
      const std::int64_t p = (t * s.n_heads + h) * splits + split;
      part_o[p * hd + d] = O;
      if (d == 0) {
        part_ml[2 * p] = M;
        part_ml[2 * p + 1] = L;
      }
    }
  }
}

__global__ void attention_merge_kernel(int n_heads, int hd, int splits, const float* part_ml, const float* part_o,
                                       bf16* out, std::int64_t ldo) {
  const std::int64_t t = blockIdx.x;
  const int h = static_cast<int>(blockIdx.y);
  const std::int64_t p0 = (t * n_heads + h) * splits;
  float M = -INFINITY;
  for (int sp = 0; sp < splits; ++sp) M = fmaxf(M, part_ml[2 * (p0 + sp)]);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float L = 0.0f, O = 0.0f;
    if (M != -INFINITY) {
      for (int sp = 0; sp < splits; ++sp) {
        const float e = expf(part_ml[2 * (p0 + sp)] - M);
        L += part_ml[2 * (p0 + sp) + 1] * e;
        O += part_o[(p0 + sp) * hd + d] * e;
      }
    }
    out[t * ldo + static_cast<std::int64_t>(h) * hd + d] = __float2bfloat16(L > 0.0f ? O / L : 0.0f);
  }
}

template <int NI, int G>
Status launch_attention(cudaStream_t stream, const AttentionShape& s, const bf16* q, std::int64_t ldq, const bf16* kc,
                        const bf16* vc, const std::int32_t* tables, const std::int32_t* qs, const std::int32_t* pos,
                        float scale, bf16* out, std::int64_t ldo, int splits, int chunk, float* ml, float* o) {
  const std::size_t smem = static_cast<std::size_t>(kAttnWarps) * G * (2 + s.head_dim) * sizeof(float);
  if (smem > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(attention_kernel<NI, G>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(smem));
    if (e != cudaSuccess) return static_cast<Status>(e);
  }
  const dim3 grid(static_cast<unsigned>(s.n_tokens), static_cast<unsigned>(s.n_kv_heads), static_cast<unsigned>(splits));
  attention_kernel<NI, G><<<grid, kAttnWarps * 32, smem, stream>>>(s, q, ldq, kc, vc, tables, qs, pos, scale, out, ldo,
                                                                   splits, chunk, ml, o);
  return last_error();
}

template <int NI>
Status dispatch_group(cudaStream_t stream, const AttentionShape& s, const bf16* q, std::int64_t ldq, const bf16* kc,
                      const bf16* vc, const std::int32_t* tables, const std::int32_t* qs, const std::int32_t* pos,
                      float scale, bf16* out, std::int64_t ldo, int splits, int chunk, float* ml, float* o) {
  const int group = s.n_heads / s.n_kv_heads;
  if (group <= 2) return launch_attention<NI, 2>(stream, s, q, ldq, kc, vc, tables, qs, pos, scale, out, ldo, splits, chunk, ml, o);
  if (group <= 4) return launch_attention<NI, 4>(stream, s, q, ldq, kc, vc, tables, qs, pos, scale, out, ldo, splits, chunk, ml, o);
  return launch_attention<NI, 8>(stream, s, q, ldq, kc, vc, tables, qs, pos, scale, out, ldo, splits, chunk, ml, o);
}

// ---------------------------------------------------------------------------------------------------------------
// Sampling

constexpr int kSampleThreads = 1024;
struct MaxOp {
  template <class T>
  __device__ T operator()(const T& a, const T& b) const { return a < b ? b : a; }
};
struct MinOp {
  template <class T>
  __device__ T operator()(const T& a, const T& b) const { return b < a ? b : a; }
};
using SReduceF = cub::BlockReduce<float, kSampleThreads>;
using SReduceD = cub::BlockReduce<double, kSampleThreads>;
using SReduceI = cub::BlockReduce<int, kSampleThreads>;
using SScanD = cub::BlockScan<double, kSampleThreads>;

struct SampleShared {
  union {
    typename SReduceF::TempStorage rf;
    typename SReduceD::TempStorage rd;
    typename SReduceI::TempStorage ri;
    typename SScanD::TempStorage sd;
  } cub;
  unsigned count_hist[256];
  double mass_hist[256];
  float f;
  double d;
  int i;
  unsigned u;
};

__device__ inline unsigned order_key(float v) {
  const unsigned b = __float_as_uint(v);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
__device__ inline float key_value(unsigned k) { return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k); }

__device__ inline float scaled(const float* lg, std::int64_t i, float inv_t) {
  const float v = lg[i] * inv_t;
  return isnan(v) ? -INFINITY : v;
}

// The first id i in [0, n) (ids in contiguous per-thread chunks, increasing) where the running sum of f reaches
// `target` (strict: exceeds it); -1 if it never does.
template <class F>
__device__ int block_find(std::int64_t n, double target, bool strict, F f, SampleShared& sh) {
  const std::int64_t per = (n + kSampleThreads - 1) / kSampleThreads;
  const std::int64_t b = threadIdx.x * per, e = min(n, b + per);
  double mine = 0.0;
  for (std::int64_t i = b; i < e; ++i) mine += f(i);
  double before = 0.0;
  SScanD(sh.cub.sd).ExclusiveSum(mine, before);
  if (threadIdx.x == 0) sh.i = -1;
  __syncthreads();
  const bool in = strict ? (before <= target && target < before + mine) : (before < target && target <= before + mine);
  if (in && mine > 0.0) {
    double acc = before;
    int found = static_cast<int>(e - 1);
    for (std::int64_t i = b; i < e; ++i) {
      acc += f(i);
      if (strict ? target < acc : target <= acc) {
        found = static_cast<int>(i);
        break;
      }
    }
    atomicMin(reinterpret_cast<unsigned*>(&sh.i), static_cast<unsigned>(found));  // -1 is UINT_MAX: min wins
  }
  __syncthreads();
  const int r = sh.i;
  __syncthreads();
  return r;
}

__global__ void __launch_bounds__(kSampleThreads) sample_kernel(const float* logits, std::int64_t ld,
                                                                const SampleSpec* rows, std::int32_t* ids) {
  __shared__ SampleShared sh;
  const SampleSpec r = rows[blockIdx.x];
  const float* lg = logits + static_cast<std::int64_t>(r.logits_row) * ld;
  const std::int64_t n = r.n_valid;
  const int tid = threadIdx.x;

  if (r.temperature <= 0.0 || r.top_k == 1) {  // greedy: argmax, lowest id on ties
    float best = -INFINITY;
    int best_id = 0x7fffffff;
    for (std::int64_t i = tid; i < n; i += kSampleThreads) {
      const float v = isnan(lg[i]) ? -INFINITY : lg[i];
      if (v > best) {
        best = v;
        best_id = static_cast<int>(i);
      }
    }
    const float mx = SReduceF(sh.cub.rf).Reduce(best, MaxOp());
    if (tid == 0) sh.f = mx;
    __syncthreads();
    const int cand = (best == sh.f && best_id != 0x7fffffff) ? best_id : 0x7fffffff;
    __syncthreads();
    const int id = SReduceI(sh.cub.ri).Reduce(cand, MinOp());
    if (tid == 0) ids[blockIdx.x] = id == 0x7fffffff ? 0 : id;
    return;
  }

  const float inv_t = static_cast<float>(1.0 / r.temperature);
  float lmax = -INFINITY;
  int lcount = 0;
  for (std::int64_t i = tid; i < n; i += kSampleThreads) {
    const float v = scaled(lg, i, inv_t);
    if (v != -INFINITY) {
      lmax = fmaxf(lmax, v);
      ++lcount;
    }
  }
  float mx = SReduceF(sh.cub.rf).Reduce(lmax, MaxOp());
  if (tid == 0) sh.f = mx;
  __syncthreads();
  mx = sh.f;
  __syncthreads();
  int nfin = SReduceI(sh.cub.ri).Sum(lcount);
  if (tid == 0) sh.i = nfin;
  __syncthreads();
  nfin = sh.i;
  __syncthreads();
  if (nfin == 0) {
    if (tid == 0) ids[blockIdx.x] = 0;
    return;
  }
  const double u01 = counter_uniform(r.seed, static_cast<std::uint64_t>(r.position));
  if (mx == INFINITY) {  // +inf logits share all the mass equally
    auto f = [&](std::int64_t i) { return scaled(lg, i, inv_t) == INFINITY ? 1.0 : 0.0; };
    int cnt = 0;
    for (std::int64_t i = tid; i < n; i += kSampleThreads) cnt += scaled(lg, i, inv_t) == INFINITY;
    cnt = SReduceI(sh.cub.ri).Sum(cnt);
    if (tid == 0) sh.i = cnt;
    __syncthreads();
    const double total = sh.i;
    __syncthreads();
    const int id = block_find(n, u01 * total, true, f, sh);
    if (tid == 0) ids[blockIdx.x] = id < 0 ? 0 : id;
    return;
  }

  // top-k: radix-select the k-th largest finite value (ties with it stay).
  const bool top_k = r.top_k > 0 && r.top_k < nfin;
  float kth = -INFINITY;
  if (top_k) {
    unsigned prefix = 0, mask = 0;
    int remaining = r.top_k;
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int b = tid; b < 256; b += kSampleThreads) sh.count_hist[b] = 0;
      __syncthreads();
      for (std::int64_t i = tid; i < n; i += kSampleThreads) {
        const float v = scaled(lg, i, inv_t);
        if (v == -INFINITY) continue;
        const unsigned key = order_key(v);
        if ((key & mask) == prefix) atomicAdd(&sh.count_hist[(key >> shift) & 255u], 1u);
      }
      __syncthreads();
      if (tid == 0) {
        int cum = 0, pick = 0;
        for (int b = 255; b >= 0; --b) {
          const int c = static_cast<int>(sh.count_hist[b]);
          if (cum + c >= remaining) {
            pick = b;
            break;
          }
          cum += c;
        }
        sh.i = remaining - cum;
        sh.u = static_cast<unsigned>(pick);
      }
      __syncthreads();
      remaining = sh.i;
      prefix |= sh.u << shift;
      mask |= 255u << shift;
      __syncthreads();
    }
    kth = key_value(prefix);
  }
  auto weight = [&](std::int64_t i) -> float {
    const float v = scaled(lg, i, inv_t);
    return (top_k && !(v >= kth)) ? 0.0f : expf(v - mx);
  };
  double lsum = 0.0;
  for (std::int64_t i = tid; i < n; i += kSampleThreads) lsum += weight(i);
  double total = SReduceD(sh.cub.rd).Sum(lsum);
  if (tid == 0) sh.d = total;
  __syncthreads();
  total = sh.d;
  __syncthreads();

  // top-p: radix-select, by probability mass from the most likely down, the value where the mass reaches top_p.
  float lo_logit = -INFINITY;
  int lo_id = 0x7fffffff;
  if (r.top_p < 1.0) {
    const double target = r.top_p * total;
    double acc = 0.0;  // mass of the tokens strictly above the selected prefix
    unsigned prefix = 0, mask = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int b = tid; b < 256; b += kSampleThreads) sh.mass_hist[b] = 0.0;
      __syncthreads();
      for (std::int64_t i = tid; i < n; i += kSampleThreads) {
        const float w = weight(i);
        if (w <= 0.0f) continue;
        const unsigned key = order_key(scaled(lg, i, inv_t));
        if ((key & mask) == prefix) atomicAdd(&sh.mass_hist[(key >> shift) & 255u], static_cast<double>(w));
      }
      __syncthreads();
      if (tid == 0) {
        int pick = -1, last = 0;
        double a = acc;
        for (int b = 255; b >= 0; --b) {
          const double mb = sh.mass_hist[b];
          if (mb <= 0.0) continue;
          last = b;
          if (a + mb >= target) {
            pick = b;
            break;
          }
          a += mb;
        }
        if (pick < 0) {  // rounding: the target is never reached; take the least likely bucket
          pick = last;
          a -= sh.mass_hist[last];
        }
        sh.d = a;
        sh.u = static_cast<unsigned>(pick);
      }
      __syncthreads();
      acc = sh.d;
      prefix |= sh.u << shift;
      mask |= 255u << shift;
      __syncthreads();
    }
    lo_logit = key_value(prefix);
    // Ties at the threshold value: lower ids first, until the mass reaches the target.
    auto tie = [&](std::int64_t i) -> double {
      const float w = weight(i);
      return (w > 0.0f && scaled(lg, i, inv_t) == lo_logit) ? static_cast<double>(w) : 0.0;
    };
    int id = block_find(n, target - acc, false, tie, sh);
    if (id < 0) {  // never reached: every tie stays
      int last = -1;
      for (std::int64_t i = tid; i < n; i += kSampleThreads)
        if (tie(i) > 0.0) last = max(last, static_cast<int>(i));
      last = SReduceI(sh.cub.ri).Reduce(last, MaxOp());
      if (tid == 0) sh.i = last;
      __syncthreads();
      id = sh.i;
      __syncthreads();
    }
    lo_id = id < 0 ? 0x7fffffff : id;
  }
  const float floor = r.min_p > 0.0 ? mx + static_cast<float>(log(r.min_p)) : -INFINITY;
  auto kept = [&](std::int64_t i) -> double {
    const float w = weight(i);
    if (w <= 0.0f) return 0.0;
    const float v = scaled(lg, i, inv_t);
    if (v < lo_logit || (v == lo_logit && i > lo_id)) return 0.0;
    if (v < floor && v != mx) return 0.0;
    return static_cast<double>(w);
  };
  double ksum = 0.0;
  int klast = -1;
  for (std::int64_t i = tid; i < n; i += kSampleThreads) {
    const double w = kept(i);
    ksum += w;
    if (w > 0.0) klast = static_cast<int>(i);
  }
  double sum = SReduceD(sh.cub.rd).Sum(ksum);
  if (tid == 0) sh.d = sum;
  __syncthreads();
  sum = sh.d;
  __syncthreads();
  klast = SReduceI(sh.cub.ri).Reduce(klast, MaxOp());
  if (tid == 0) sh.i = klast;
  __syncthreads();
  klast = sh.i;
  __syncthreads();
  int id = block_find(n, u01 * sum, true, kept, sh);
  if (tid == 0) ids[blockIdx.x] = id >= 0 ? id : (klast >= 0 ? klast : 0);
}

}  // namespace

Status rmsnorm_to_bf16(cudaStream_t stream, const float* x, std::int64_t ldx, const std::int32_t* rows, std::int64_t n,
                       std::int64_t dim, const float* w, float eps, bf16* y, std::int64_t ldy) {
  if (n <= 0) return 0;
  rmsnorm_to_bf16_kernel<<<static_cast<unsigned>(n), kRowThreads, 0, stream>>>(x, ldx, rows, dim, w, eps, y, ldy);
  return last_error();
}

Status rmsnorm_bf16_inplace(cudaStream_t stream, bf16* x, std::int64_t rows, std::int64_t dim, std::int64_t ld,
                            const float* w, float eps) {
  if (rows <= 0) return 0;
  rmsnorm_bf16_kernel<<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(x, dim, ld, w, eps);
  return last_error();
}

Status add_rmsnorm(cudaStream_t stream, float* x, const bf16* delta, std::int64_t rows, std::int64_t dim,
                   const float* w, float eps, bf16* y) {
  if (rows <= 0) return 0;
  add_rmsnorm_kernel<<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(x, delta, dim, w, eps, y);
  return last_error();
}

Status add_bf16(cudaStream_t stream, float* x, const bf16* delta, std::int64_t n) {
  if (n <= 0) return 0;
  add_kernel<<<grid_for(n, 256), 256, 0, stream>>>(x, delta, n);
  return last_error();
}

Status linear_bf16(cublasHandle_t handle, cudaStream_t stream, const bf16* x, std::int64_t m, std::int64_t k,
                   std::int64_t ldx, const bf16* w, std::int64_t n, const float* bias, bf16* y, std::int64_t ldy) {
  if (m <= 0) return 0;
  const float one = 1.0f, zero = 0.0f;
  if (auto st = cublas_status(cublasSetStream(handle, stream))) return st;
  // Row-major y[m, n] = x[m, k] w[n, k]^T  <=>  column-major y^T[n, m] = (w as k x n)^T * (x as k x m).
  if (auto st = cublas_status(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                                           static_cast<int>(k), &one, w, CUDA_R_16BF, static_cast<int>(k), x,
                                           CUDA_R_16BF, static_cast<int>(ldx), &zero, y, CUDA_R_16BF,
                                           static_cast<int>(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT)))
    return st;
  if (bias) {
    bias_bf16_kernel<<<grid_for(m * n, 256), 256, 0, stream>>>(y, m, n, ldy, bias);
    return last_error();
  }
  return 0;
}

Status linear_bf16_f32out(cublasHandle_t handle, cudaStream_t stream, const bf16* x, std::int64_t m, std::int64_t k,
                          std::int64_t ldx, const bf16* w, std::int64_t n, float* y, std::int64_t ldy) {
  if (m <= 0) return 0;
  const float one = 1.0f, zero = 0.0f;
  if (auto st = cublas_status(cublasSetStream(handle, stream))) return st;
  return cublas_status(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                                    static_cast<int>(k), &one, w, CUDA_R_16BF, static_cast<int>(k), x, CUDA_R_16BF,
                                    static_cast<int>(ldx), &zero, y, CUDA_R_32F, static_cast<int>(ldy),
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

Status rope_tables(cudaStream_t stream, const std::int32_t* positions, std::int64_t n, const float* inv_freq, int half,
                   float* cos, float* sin) {
  if (n <= 0) return 0;
  rope_tables_kernel<<<grid_for(n * half, 256), 256, 0, stream>>>(positions, n, inv_freq, half, cos, sin);
  return last_error();
}

Status rope_bf16(cudaStream_t stream, bf16* x, std::int64_t n_tokens, int n_heads, int head_dim, std::int64_t ld,
                 const float* cos, const float* sin) {
  if (n_tokens <= 0) return 0;
  rope_bf16_kernel<<<grid_for(n_tokens * n_heads * (head_dim / 2), 256), 256, 0, stream>>>(x, n_tokens, n_heads,
                                                                                           head_dim, ld, cos, sin);
  return last_error();
}

Status store_kv_bf16(cudaStream_t stream, const bf16* k, const bf16* v, std::int64_t ld, std::int64_t n_tokens,
                     std::int64_t row_elems, const std::int32_t* slots, bf16* k_cache, bf16* v_cache,
                     std::int64_t block_stride, std::int64_t token_stride, int block_size) {
  if (n_tokens <= 0) return 0;
  store_kv_kernel<<<grid_for(n_tokens * row_elems, 256), 256, 0, stream>>>(k, v, ld, n_tokens, row_elems, slots,
                                                                           k_cache, v_cache, block_stride,
                                                                           token_stride, block_size);
  return last_error();
}

int attention_splits(const AttentionShape& s, int sm_count, std::size_t scratch_floats) {
  const std::int64_t blocks = s.n_tokens * s.n_kv_heads;
  if (blocks <= 0 || s.max_context_len <= 0) return 1;
  std::int64_t splits = (2 * static_cast<std::int64_t>(std::max(sm_count, 1)) + blocks - 1) / blocks;
  splits = std::min<std::int64_t>(splits, (s.max_context_len + 127) / 128);  // at least 128 keys per split
  splits = std::min<std::int64_t>(splits, 64);
  const std::int64_t per_split = s.n_tokens * s.n_heads * (s.head_dim + 2);
  if (per_split > 0) splits = std::min<std::int64_t>(splits, static_cast<std::int64_t>(scratch_floats) / per_split);
  return static_cast<int>(std::max<std::int64_t>(splits, 1));
}

Status paged_attention_bf16(cudaStream_t stream, const AttentionShape& s, const bf16* q, std::int64_t ldq,
                            const bf16* k_cache, const bf16* v_cache, const std::int32_t* block_tables,
                            const std::int32_t* query_start, const std::int32_t* positions, float scale, bf16* out,
                            std::int64_t ldo, float* scratch, std::size_t scratch_floats, int sm_count) {
  if (s.n_tokens <= 0) return 0;
  if (s.head_dim > 256 || s.head_dim <= 0 || s.n_kv_heads <= 0 || s.n_heads % s.n_kv_heads != 0 ||
      s.n_heads / s.n_kv_heads > 8)
    return static_cast<Status>(cudaErrorInvalidValue);
  const int splits = attention_splits(s, sm_count, scratch_floats);
  const int chunk = static_cast<int>((s.max_context_len + splits - 1) / splits);
  float* ml = scratch;
  float* o = scratch + 2 * s.n_tokens * s.n_heads * splits;
  Status st;
  if (s.head_dim <= 32) st = dispatch_group<1>(stream, s, q, ldq, k_cache, v_cache, block_tables, query_start, positions, scale, out, ldo, splits, chunk, ml, o);
  else if (s.head_dim <= 64) st = dispatch_group<2>(stream, s, q, ldq, k_cache, v_cache, block_tables, query_start, positions, scale, out, ldo, splits, chunk, ml, o);
  else if (s.head_dim <= 128) st = dispatch_group<4>(stream, s, q, ldq, k_cache, v_cache, block_tables, query_start, positions, scale, out, ldo, splits, chunk, ml, o);
  else st = dispatch_group<8>(stream, s, q, ldq, k_cache, v_cache, block_tables, query_start, positions, scale, out, ldo, splits, chunk, ml, o);
  if (st || splits == 1) return st;
  const dim3 grid(static_cast<unsigned>(s.n_tokens), static_cast<unsigned>(s.n_heads));
  attention_merge_kernel<<<grid, std::min(256, std::max(32, s.head_dim)), 0, stream>>>(s.n_heads, s.head_dim, splits,
                                                                                       ml, o, out, ldo);
  return last_error();
}

Status silu_mul_bf16(cudaStream_t stream, const bf16* gate, const bf16* up, std::int64_t n, bf16* out) {
  if (n <= 0) return 0;
  silu_mul_kernel<<<grid_for(n, 256), 256, 0, stream>>>(gate, up, n, out);
  return last_error();
}

Status copy_blocks(cudaStream_t stream, void* base, int planes, std::int64_t plane_stride, std::int64_t block_stride,
                   int elem_bytes, const std::int32_t* pairs, std::int64_t n) {
  if (n <= 0 || planes <= 0) return 0;
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>(planes));
  copy_blocks_kernel<<<grid, 256, 0, stream>>>(static_cast<char*>(base), planes, plane_stride * elem_bytes,
                                               block_stride * elem_bytes, pairs);
  return last_error();
}

Status convert_to_bf16(cudaStream_t stream, const void* src, DType t, std::int64_t n, bf16* dst) {
  if (n <= 0) return 0;
  convert_kernel<<<grid_for(n, 256), 256, 0, stream>>>(src, t, n, dst);
  return last_error();
}

Status sample(cudaStream_t stream, const float* logits, std::int64_t ld, const SampleSpec* rows, std::int64_t n,
              std::int32_t* ids) {
  if (n <= 0) return 0;
  sample_kernel<<<static_cast<unsigned>(n), kSampleThreads, 0, stream>>>(logits, ld, rows, ids);
  return last_error();
}

}  // namespace reval::kernels::cuda
