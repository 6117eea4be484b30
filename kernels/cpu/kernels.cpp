// CPU kernels: matmul, RMSNorm, RoPE, softmax, attention (contiguous and paged), paged KV stores, SiLU-gate,
// embedding (contract in kernels/cpu_kernels.hpp).
//
// Theory of operation: matmul walks the rows of the weight matrix (one output column each), widens a K-chunk of the
// row into a stack buffer once, and dots it against a tile of up to 64 input rows; per output element the
// accumulation order depends only on K, never on M or the thread split, which keeps batched and single-sequence
// decoding bitwise identical. The hot loops are written with 16 independent partial sums so the compiler can
// vectorise them without -ffast-math; matmul's row worker is compiled twice (AVX2 and baseline) and picked at load
// time by the dynamic loader (GCC target_clones). Attention is one task per (query, head): scores into the task's
// scratch row, a max-subtracted softmax, then the weighted sum of values; the paged variant runs the very same
// per-(query, head) code and only finds each key's row through the sequence's block table.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu_kernels.hpp"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define REVAL_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define REVAL_MULTIVERSION
#endif

namespace reval::kernels::cpu {
namespace {

constexpr std::int64_t kChunkK = 256;  // weights widened per step
constexpr std::int64_t kTileM = 64;    // input rows per weight-row pass

[[gnu::always_inline]] inline float dot(const float* a, const float* b, std::int64_t n) {
  float acc[16] = {};
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  for (int s = 8; s > 0; s >>= 1)
    for (int j = 0; j < s; ++j) acc[j] += acc[j + s];
  return acc[0] + tail;
}

[[gnu::always_inline]] inline void widen(const void* src, DType t, std::int64_t n, float* dst) {
  if (t == DType::bf16) {
    const std::uint16_t* s = static_cast<const std::uint16_t*>(src);
    for (std::int64_t i = 0; i < n; ++i) {
      std::uint32_t bits = static_cast<std::uint32_t>(s[i]) << 16;
      std::memcpy(dst + i, &bits, 4);
    }
  } else {
    convert_to_f32(src, t, static_cast<std::size_t>(n), dst);
  }
}

REVAL_MULTIVERSION
void matmul_cols(const float* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const void* w, DType wt,
                 std::int64_t j0, std::int64_t j1, const float* bias, float* y, std::int64_t ldy) {
  alignas(64) float wbuf[kChunkK];
  float acc[kTileM];
  const std::size_t esz = dtype_size(wt);
  for (std::int64_t j = j0; j < j1; ++j) {
    const char* wrow = static_cast<const char*>(w) + static_cast<std::size_t>(j * k) * esz;
    for (std::int64_t m0 = 0; m0 < m; m0 += kTileM) {
      const std::int64_t mt = std::min(kTileM, m - m0);
      for (std::int64_t i = 0; i < mt; ++i) acc[i] = 0.0f;
      for (std::int64_t k0 = 0; k0 < k; k0 += kChunkK) {
        const std::int64_t kl = std::min(kChunkK, k - k0);
        const float* wp;
        if (wt == DType::f32) {
          wp = reinterpret_cast<const float*>(wrow) + k0;
        } else {
          widen(wrow + static_cast<std::size_t>(k0) * esz, wt, kl, wbuf);
          wp = wbuf;
        }
        for (std::int64_t i = 0; i < mt; ++i) acc[i] += dot(x + (m0 + i) * ldx + k0, wp, kl);
      }
      const float b = bias ? bias[j] : 0.0f;
      for (std::int64_t i = 0; i < mt; ++i) y[(m0 + i) * ldy + j] = acc[i] + b;
    }
  }
}

}  // namespace

void matmul(const float* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const void* w, DType wt, std::int64_t n,
            const float* bias, float* y, std::int64_t ldy, ThreadPool* pool) {
  if (m <= 0 || n <= 0) return;
  if (!pool) {
    matmul_cols(x, m, k, ldx, w, wt, 0, n, bias, y, ldy);
    return;
  }
  // At least ~32k multiply-adds per chunk so tiny matrices are not split across threads.
  const std::int64_t min_chunk = std::max<std::int64_t>(1, 32768 / std::max<std::int64_t>(1, m * k));
  pool->parallel_for(
      n, [&](std::int64_t b, std::int64_t e, int) { matmul_cols(x, m, k, ldx, w, wt, b, e, bias, y, ldy); },
      min_chunk);
}

void rmsnorm(const float* x, std::int64_t rows, std::int64_t dim, std::int64_t ldx, const float* weight, float eps,
             float* y, std::int64_t ldy) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    float* yr = y + r * ldy;
    double ss = 0.0;
    for (std::int64_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float var = static_cast<float>(ss / static_cast<double>(dim));
    const float inv = 1.0f / std::sqrt(var + eps);
    for (std::int64_t i = 0; i < dim; ++i) yr[i] = weight[i] * (xr[i] * inv);
  }
}

void rope_tables(const float* inv_freq, int half, const std::int32_t* positions, std::int64_t n, float* cos_out,
                 float* sin_out) {
  for (std::int64_t t = 0; t < n; ++t) {
    const float p = static_cast<float>(positions[t]);
    for (int i = 0; i < half; ++i) {
      const float a = p * inv_freq[i];
      cos_out[t * half + i] = std::cos(a);
      sin_out[t * half + i] = std::sin(a);
    }
  }
}

void rope(float* x, std::int64_t n_tokens, int n_heads, int head_dim, std::int64_t ld, const float* cos,
          const float* sin) {
  const int half = head_dim / 2;
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    const float* c = cos + t * half;
    const float* s = sin + t * half;
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + t * ld + static_cast<std::int64_t>(h) * head_dim;
      for (int i = 0; i < half; ++i) {
        const float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * c[i] - x2 * s[i];
        v[i + half] = x2 * c[i] + x1 * s[i];
      }
    }
  }
}

void softmax(float* x, std::int64_t rows, std::int64_t n, std::int64_t ld) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* v = x + r * ld;
    float mx = -INFINITY;
    for (std::int64_t i = 0; i < n; ++i) mx = std::max(mx, v[i]);
    float sum = 0.0f;
    for (std::int64_t i = 0; i < n; ++i) {
      v[i] = std::exp(v[i] - mx);
      sum += v[i];
    }
    const float inv = 1.0f / sum;
    for (std::int64_t i = 0; i < n; ++i) v[i] *= inv;
  }
}

namespace {
// One (query row, head) of attention: scores over keys 0..lim-1 into s, max-subtracted softmax, weighted sum of
// values into o. key(j) / value(j) return the start of the KV head's slice of position j. Shared by the contiguous
// and the paged kernel so both compute identical bits.
template <class KeyAt, class ValueAt>
[[gnu::always_inline]] inline void attend_one(const float* qv, std::int64_t lim, int head_dim, float scale, float* s,
                                              float* o, KeyAt key, ValueAt value) {
  float mx = -INFINITY;
  for (std::int64_t j = 0; j < lim; ++j) {
    s[j] = dot(qv, key(j), head_dim) * scale;
    mx = std::max(mx, s[j]);
  }
  float sum = 0.0f;
  for (std::int64_t j = 0; j < lim; ++j) {
    s[j] = std::exp(s[j] - mx);
    sum += s[j];
  }
  const float inv = 1.0f / sum;
  for (int d = 0; d < head_dim; ++d) o[d] = 0.0f;
  for (std::int64_t j = 0; j < lim; ++j) {
    const float p = s[j] * inv;
    const float* vv = value(j);
    for (int d = 0; d < head_dim; ++d) o[d] += p * vv[d];
  }
}
}  // namespace

void attention(const float* q, std::int64_t n_q, std::int64_t ldq, int n_heads, int n_kv_heads, int head_dim,
               const float* k, const float* v, std::int64_t ldkv, std::int64_t n_kv, std::int64_t q_pos0, float scale,
               float* out, std::int64_t ldo, float* scratch, ThreadPool* pool) {
  const int group = n_heads / n_kv_heads;
  auto task = [&](std::int64_t b, std::int64_t e, int tid) {
    float* s = scratch + static_cast<std::int64_t>(tid) * n_kv;
    for (std::int64_t idx = b; idx < e; ++idx) {
      const std::int64_t t = idx / n_heads;
      const int h = static_cast<int>(idx % n_heads);
      const std::int64_t kvo = static_cast<std::int64_t>(h / group) * head_dim;
      const float* qv = q + t * ldq + static_cast<std::int64_t>(h) * head_dim;
      const std::int64_t lim = std::min(q_pos0 + t, n_kv - 1) + 1;
      float* o = out + t * ldo + static_cast<std::int64_t>(h) * head_dim;
      attend_one(qv, lim, head_dim, scale, s, o, [&](std::int64_t j) { return k + j * ldkv + kvo; },
                 [&](std::int64_t j) { return v + j * ldkv + kvo; });
    }
  };
  const std::int64_t tasks = n_q * n_heads;
  if (pool)
    pool->parallel_for(tasks, task);
  else
    task(0, tasks, 0);
}

void store_kv(const float* k, const float* v, std::int64_t ld, std::int64_t n_tokens, std::int64_t row_elems,
              const std::int32_t* slots, float* k_cache, float* v_cache, std::int64_t block_stride,
              std::int64_t token_stride, int block_size) {
  const std::size_t bytes = static_cast<std::size_t>(row_elems) * sizeof(float);
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    const std::int32_t slot = slots[t];
    if (slot < 0) continue;
    const std::int64_t off = (slot / block_size) * block_stride + (slot % block_size) * token_stride;
    std::memcpy(k_cache + off, k + t * ld, bytes);
    std::memcpy(v_cache + off, v + t * ld, bytes);
  }
}

void paged_attention(const float* q, std::int64_t ldq, int n_heads, int n_kv_heads, int head_dim,
                     const float* k_cache, const float* v_cache, std::int64_t block_stride, std::int64_t token_stride,
                     int block_size, const std::int32_t* block_tables, std::int64_t table_stride,
                     const std::int32_t* query_start, const std::int32_t* context_lens, const std::int32_t* positions,
                     int n_seqs, float scale, float* out, std::int64_t ldo, float* scratch,
                     std::int64_t scratch_stride, ThreadPool* pool) {
  if (n_seqs <= 0) return;
  const int group = n_heads / n_kv_heads;
  const std::int64_t n_tokens = query_start[n_seqs];
  auto task = [&](std::int64_t b, std::int64_t e, int tid) {
    float* s = scratch + static_cast<std::int64_t>(tid) * scratch_stride;
    int seq = 0;
    for (std::int64_t idx = b; idx < e; ++idx) {
      const std::int64_t t = idx / n_heads;
      const int h = static_cast<int>(idx % n_heads);
      // The sequence owning row t: tasks run in increasing t, so advance from the previous one (or search).
      if (t < query_start[seq] || t >= query_start[seq + 1])
        seq = static_cast<int>(std::upper_bound(query_start, query_start + n_seqs + 1, static_cast<std::int32_t>(t)) -
                               query_start) - 1;
      const std::int32_t* table = block_tables + seq * table_stride;
      const std::int64_t kvo = static_cast<std::int64_t>(h / group) * head_dim;
      const float* qv = q + t * ldq + static_cast<std::int64_t>(h) * head_dim;
      const std::int64_t lim = std::min<std::int64_t>(positions[t], context_lens[seq] - 1) + 1;
      float* o = out + t * ldo + static_cast<std::int64_t>(h) * head_dim;
      auto at = [&](const float* cache, std::int64_t j) {
        return cache + table[j / block_size] * block_stride + (j % block_size) * token_stride + kvo;
      };
      attend_one(qv, lim, head_dim, scale, s, o, [&](std::int64_t j) { return at(k_cache, j); },
                 [&](std::int64_t j) { return at(v_cache, j); });
    }
  };
  const std::int64_t tasks = n_tokens * n_heads;
  if (pool)
    pool->parallel_for(tasks, task);
  else
    task(0, tasks, 0);
}

void silu_mul(const float* gate, const float* up, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void add_inplace(float* y, const float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void embedding(const void* table, DType t, std::int64_t dim, const std::int32_t* ids, std::int64_t n, float* out) {
  const std::size_t esz = dtype_size(t);
  for (std::int64_t i = 0; i < n; ++i)
    convert_to_f32(static_cast<const char*>(table) + static_cast<std::size_t>(ids[i]) * dim * esz, t,
                   static_cast<std::size_t>(dim), out + i * dim);
}

}  // namespace reval::kernels::cpu
