// CpuOps (see cpu_ops.hpp): each operation forwards to its CPU kernel.
#include "model/engine/cpu_ops.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "base/error.hpp"
#include "kernels/counter_rng.hpp"

namespace reval::engine {

namespace kc = reval::kernels::cpu;

namespace {
float* f(void* p) { return static_cast<float*>(p); }
const float* f(const void* p) { return static_cast<const float*>(p); }
}  // namespace

CpuOps::CpuOps(int threads) : pool_(threads), sampler_scratch_(static_cast<std::size_t>(pool_.size())) {}

CpuOps::~CpuOps() = default;

std::string CpuOps::name() const { return "cpu (" + std::to_string(pool_.size()) + " threads)"; }

void* CpuOps::alloc(std::size_t bytes) {
  void* p = std::calloc(1, bytes == 0 ? 1 : bytes);
  if (!p) throw Error("cpu device: cannot allocate " + std::to_string(bytes) + " bytes");
  return p;
}

void CpuOps::free(void* p) { std::free(p); }

void CpuOps::upload(void* dst, const void* src, std::size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}

void CpuOps::download(void* dst, const void* src, std::size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}

void CpuOps::embedding(const Weight& table, const std::int32_t* ids, std::int64_t n, float* x) {
  kc::embedding(table.data, table.dtype, table.cols, ids, n, x);
}

void CpuOps::rmsnorm(const float* x, std::int64_t rows, std::int64_t dim, std::int64_t ldx, const float* w, float eps,
                     void* y, std::int64_t ldy) {
  kc::rmsnorm(x, rows, dim, ldx, w, eps, f(y), ldy);
}

void CpuOps::rmsnorm_inplace(void* x, std::int64_t rows, std::int64_t dim, std::int64_t ld, const float* w,
                             float eps) {
  kc::rmsnorm(f(x), rows, dim, ld, w, eps, f(x), ld);
}

void CpuOps::add_rmsnorm(float* x, const void* delta, std::int64_t rows, std::int64_t dim, const float* w, float eps,
                         void* y) {
  kc::add_inplace(x, f(delta), rows * dim);
  kc::rmsnorm(x, rows, dim, dim, w, eps, f(y), dim);
}

void CpuOps::add(float* x, const void* delta, std::int64_t n) { kc::add_inplace(x, f(delta), n); }

void CpuOps::rmsnorm_rows(const float* x, std::int64_t ldx, const std::int32_t* rows, std::int64_t n,
                          std::int64_t dim, const float* w, float eps, void* y, std::int64_t ldy) {
  for (std::int64_t i = 0; i < n; ++i) kc::rmsnorm(x + rows[i] * ldx, 1, dim, dim, w, eps, f(y) + i * ldy, ldy);
}

void CpuOps::linear(const void* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const Weight& w,
                    const float* bias, void* y, std::int64_t ldy) {
  kc::matmul(f(x), m, k, ldx, w.data, w.dtype, w.rows, bias, f(y), ldy, &pool_);
}

void CpuOps::logits(const void* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const Weight& w, float* y,
                    std::int64_t ldy) {
  kc::matmul(f(x), m, k, ldx, w.data, w.dtype, w.rows, nullptr, y, ldy, &pool_);
}

void CpuOps::rope_tables(const std::int32_t* positions, std::int64_t n, const float* inv_freq, int half, float* cos,
                         float* sin) {
  kc::rope_tables(inv_freq, half, positions, n, cos, sin);
}

void CpuOps::rope(void* x, std::int64_t n_tokens, int n_heads, int head_dim, std::int64_t ld, const float* cos,
                  const float* sin) {
  kc::rope(f(x), n_tokens, n_heads, head_dim, ld, cos, sin);
}

void CpuOps::store_kv(const void* k, const void* v, std::int64_t ld, std::int64_t n_tokens, std::int64_t row_elems,
                      const std::int32_t* slots, const KvLayerView& c) {
  kc::store_kv(f(k), f(v), ld, n_tokens, row_elems, slots, f(c.k), f(c.v), c.block_stride, c.token_stride,
               c.block_size);
}

void CpuOps::attention(const void* q, std::int64_t ldq, int n_heads, int n_kv_heads, int head_dim,
                       const KvLayerView& c, const BatchView& b, float scale, void* out, std::int64_t ldo) {
  const std::int64_t stride = std::max<std::int64_t>(1, b.max_context_len);
  const std::size_t need = static_cast<std::size_t>(stride) * static_cast<std::size_t>(pool_.size());
  if (attention_scratch_.size() < need) attention_scratch_.resize(need);
  kc::paged_attention(f(q), ldq, n_heads, n_kv_heads, head_dim, f(c.k), f(c.v), c.block_stride, c.token_stride,
                      c.block_size, b.block_tables, b.table_stride, b.query_start, b.context_lens, b.positions,
                      b.n_seqs, scale, f(out), ldo, attention_scratch_.data(), stride, &pool_);
}

void CpuOps::silu_mul(const void* gate, const void* up, std::int64_t n, void* out) {
  kc::silu_mul(f(gate), f(up), n, f(out));
}

void CpuOps::copy_blocks(const KvPoolView& p, const std::int32_t* pairs, std::int64_t n) {
  const std::size_t bytes = static_cast<std::size_t>(p.block_stride) * sizeof(float);
  for (int plane = 0; plane < p.planes; ++plane) {
    float* base = f(p.base) + plane * p.plane_stride;
    for (std::int64_t i = 0; i < n; ++i)
      std::memcpy(base + pairs[2 * i + 1] * p.block_stride, base + pairs[2 * i] * p.block_stride, bytes);
  }
}

void CpuOps::sample(const float* logits, std::int64_t ld, const SampleRow* rows, std::int64_t n, std::int32_t* ids) {
  pool_.parallel_for(n, [&](std::int64_t b, std::int64_t e, int tid) {
    SamplerScratch& scratch = sampler_scratch_[static_cast<std::size_t>(tid)];
    for (std::int64_t i = b; i < e; ++i) {
      const SampleRow& r = rows[i];
      const double u = kernels::counter_uniform(r.seed, static_cast<std::uint64_t>(r.position));
      ids[i] = sample_token(logits + r.logits_row * ld, r.n_valid, r.config, u, scratch);
    }
  });
}

}  // namespace reval::engine
