// CUDA kernels against the CPU kernels on odd sizes (label `gpu`): every test skips visibly when no CUDA device
// is present. Tolerance: |gpu - cpu| <= abs + rel * |cpu|.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu_kernels.hpp"
#include "tests/kernels/kernel_test_util.hpp"
#include "kernels/cuda_kernels.hpp"

namespace reval::kernels {
namespace {

// Device buffer holding a copy of a host vector.
template <class T>
struct Dev {
  T* p = nullptr;
  std::size_t n = 0;
  explicit Dev(const std::vector<T>& h) : n(h.size()) {
    EXPECT_EQ(cudaMalloc(&p, std::max<std::size_t>(1, n) * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  explicit Dev(std::size_t count) : n(count) {
    EXPECT_EQ(cudaMalloc(&p, std::max<std::size_t>(1, n) * sizeof(T)), cudaSuccess);
    cudaMemset(p, 0, n * sizeof(T));
  }
  ~Dev() { cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    EXPECT_EQ(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }
};

void expect_close(const std::vector<float>& gpu, const std::vector<float>& cpu, double abs_tol, double rel_tol,
                  const char* what) {
  ASSERT_EQ(gpu.size(), cpu.size());
  for (std::size_t i = 0; i < gpu.size(); ++i)
    ASSERT_NEAR(gpu[i], cpu[i], abs_tol + rel_tol * std::abs(cpu[i])) << what << " at " << i;
}

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: CUDA kernel comparison skipped";
  }
};

TEST_F(Cuda, MatmulAllWeightTypes) {
  cublasHandle_t handle;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  const std::int64_t m = 7, k = 301, n = 1037, ldx = k + 3, ldy = n + 5;
  auto x = randn(static_cast<std::size_t>(m * ldx), 1);
  auto wf = randn(static_cast<std::size_t>(n * k), 2, 0.1f);
  auto b = randn(static_cast<std::size_t>(n), 3);
  for (DType wt : {DType::f32, DType::bf16, DType::f16}) {
    std::vector<std::uint16_t> w16(wf.size());
    for (std::size_t i = 0; i < wf.size(); ++i) w16[i] = wt == DType::bf16 ? f32_to_bf16(wf[i]) : f32_to_f16(wf[i]);
    const void* hw = wt == DType::f32 ? static_cast<const void*>(wf.data()) : w16.data();
    std::vector<float> ref(static_cast<std::size_t>(m * ldy), 0.0f);
    cpu::matmul(x.data(), m, k, ldx, hw, wt, n, b.data(), ref.data(), ldy, nullptr);
    Dev<float> dx(x), db(b), dy(ref.size());
    Dev<float> dwf(wf);
    Dev<std::uint16_t> dw16(w16);
    const void* dw = wt == DType::f32 ? static_cast<const void*>(dwf.p) : dw16.p;
    Dev<char> ws(static_cast<std::size_t>(100 * k * 4));  // forces several tiles for n = 1037
    ASSERT_EQ(cuda::matmul(handle, nullptr, dx.p, m, k, ldx, dw, wt, n, db.p, dy.p, ldy, ws.p, ws.n), 0);
    auto got = dy.get();
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j)
        ASSERT_NEAR(got[i * ldy + j], ref[i * ldy + j], 1e-4 + 1e-4 * std::abs(ref[i * ldy + j]))
            << dtype_name(wt) << " " << i << "," << j;
  }
  cublasDestroy(handle);
}

TEST_F(Cuda, RmsNormRopeSoftmaxSilu) {
  const std::int64_t rows = 5, dim = 301, ld = 305;
  auto x = randn(static_cast<std::size_t>(rows * ld), 4);
  auto w = randn(static_cast<std::size_t>(dim), 5);
  std::vector<float> ref(static_cast<std::size_t>(rows * dim));
  cpu::rmsnorm(x.data(), rows, dim, ld, w.data(), 1e-6f, ref.data(), dim);
  Dev<float> dx(x), dw(w), dy(ref.size());
  ASSERT_EQ(cuda::rmsnorm(nullptr, dx.p, rows, dim, ld, dw.p, 1e-6f, dy.p, dim), 0);
  expect_close(dy.get(), ref, 1e-5, 1e-4, "rmsnorm");

  const int n_tok = 7, heads = 3, hd = 18, half = 9;
  const std::int64_t rld = heads * hd + 1;
  auto r = randn(static_cast<std::size_t>(n_tok * rld), 6);
  std::vector<float> inv(half);
  for (int i = 0; i < half; ++i) inv[i] = 1.0f / std::pow(10000.0f, 2.0f * i / hd);
  std::vector<std::int32_t> pos = {0, 1, 2, 50, 51, 300, 4000};
  std::vector<float> cs(n_tok * half), sn(n_tok * half);
  cpu::rope_tables(inv.data(), half, pos.data(), n_tok, cs.data(), sn.data());
  Dev<float> dr(r), dc(cs), ds(sn);
  cpu::rope(r.data(), n_tok, heads, hd, rld, cs.data(), sn.data());
  ASSERT_EQ(cuda::rope(nullptr, dr.p, n_tok, heads, hd, rld, dc.p, ds.p), 0);
  expect_close(dr.get(), r, 1e-6, 1e-5, "rope");

  auto s = randn(3 * 1001, 7, 4.0f);
  Dev<float> dsm(s);
  cpu::softmax(s.data(), 3, 999, 1001);
  ASSERT_EQ(cuda::softmax(nullptr, dsm.p, 3, 999, 1001), 0);
  expect_close(dsm.get(), s, 1e-7, 1e-4, "softmax");

  auto g = randn(1003, 8, 3.0f), u = randn(1003, 9);
  std::vector<float> o(1003);
  cpu::silu_mul(g.data(), u.data(), 1003, o.data());
  Dev<float> dg(g), du(u), dout(o.size());
  ASSERT_EQ(cuda::silu_mul(nullptr, dg.p, du.p, 1003, dout.p), 0);
  expect_close(dout.get(), o, 1e-6, 1e-5, "silu_mul");
}

TEST_F(Cuda, AttentionAndEmbedding) {
  const int heads = 6, kvh = 2, hd = 18, n_q = 5, n_kv = 37, pos0 = 32;
  auto q = randn(n_q * heads * hd, 10), k = randn(n_kv * kvh * hd, 11), v = randn(n_kv * kvh * hd, 12);
  const float scale = 1.0f / std::sqrt(float(hd));
  std::vector<float> ref(n_q * heads * hd), scratch(n_kv);
  cpu::attention(q.data(), n_q, heads * hd, heads, kvh, hd, k.data(), v.data(), kvh * hd, n_kv, pos0, scale, ref.data(),
                 heads * hd, scratch.data(), nullptr);
  Dev<float> dq(q), dk(k), dv(v), dout(ref.size()), dscr(static_cast<std::size_t>(n_q * heads * n_kv));
  ASSERT_EQ(cuda::attention(nullptr, dq.p, n_q, heads * hd, heads, kvh, hd, dk.p, dv.p, kvh * hd, n_kv, pos0, scale,
                            dout.p, heads * hd, dscr.p),
            0);
  expect_close(dout.get(), ref, 1e-5, 1e-4, "attention");

  std::vector<std::uint16_t> table(11 * 7);
  for (std::size_t i = 0; i < table.size(); ++i) table[i] = f32_to_bf16(float(i) * 0.25f - 3.0f);
  std::vector<std::int32_t> ids = {10, 0, 3};
  std::vector<float> e(3 * 7);
  cpu::embedding(table.data(), DType::bf16, 7, ids.data(), 3, e.data());
  Dev<std::uint16_t> dt(table);
  Dev<std::int32_t> di(ids);
  Dev<float> de(e.size());
  ASSERT_EQ(cuda::embedding(nullptr, dt.p, DType::bf16, 7, di.p, 3, de.p), 0);
  expect_close(de.get(), e, 0, 0, "embedding");
}

TEST_F(Cuda, PagedStoreAndAttentionMatchTheCpu) {
  // Two sequences over a scattered block table: a prefill chunk after a cached prefix and a single decode token.
  const int heads = 6, kvh = 2, hd = 18, bs = 4, row = kvh * hd, num_blocks = 12, stride = 5;
  const std::vector<std::int32_t> qstart = {0, 5, 6}, ctx = {13, 19}, positions = {8, 9, 10, 11, 12, 18};
  const std::vector<std::int32_t> tables = {9, 2, 7, 0, 0, /**/ 11, 4, 1, 6, 3};
  std::vector<std::int32_t> slots;
  for (int t = 0; t < 6; ++t) {
    const int s = t < 5 ? 0 : 1, p = positions[t];
    slots.push_back(tables[s * stride + p / bs] * bs + p % bs);
  }
  auto kc = randn(static_cast<std::size_t>(num_blocks * bs * row), 50), vc = randn(kc.size(), 51);
  auto knew = randn(static_cast<std::size_t>(6 * row), 52), vnew = randn(knew.size(), 53);
  auto q = randn(static_cast<std::size_t>(6 * heads * hd), 54);
  const float scale = 1.0f / std::sqrt(float(hd));
  Dev<float> dkc(kc), dvc(vc), dkn(knew), dvn(vnew), dq(q), dout(q.size());
  Dev<std::int32_t> dslots(slots), dtab(tables), dqs(qstart), dctx(ctx), dpos(positions);
  cpu::store_kv(knew.data(), vnew.data(), row, 6, row, slots.data(), kc.data(), vc.data(), bs * row, row, bs);
  ASSERT_EQ(cuda::store_kv(nullptr, dkn.p, dvn.p, row, 6, row, dslots.p, dkc.p, dvc.p, bs * row, row, bs), 0);
  expect_close(dkc.get(), kc, 0, 0, "store_kv keys");
  expect_close(dvc.get(), vc, 0, 0, "store_kv values");
  std::vector<float> ref(q.size()), scratch(19);
  cpu::paged_attention(q.data(), heads * hd, heads, kvh, hd, kc.data(), vc.data(), bs * row, row, bs, tables.data(),
                       stride, qstart.data(), ctx.data(), positions.data(), 2, scale, ref.data(), heads * hd,
                       scratch.data(), 19, nullptr);
  Dev<float> dscr(static_cast<std::size_t>(6 * heads * 19));
  ASSERT_EQ(cuda::paged_attention(nullptr, dq.p, heads * hd, heads, kvh, hd, dkc.p, dvc.p, bs * row, row, bs, dtab.p,
                                  stride, dqs.p, dctx.p, dpos.p, 2, 6, scale, dout.p, heads * hd, dscr.p, 19),
            0);
  expect_close(dout.get(), ref, 1e-5, 1e-4, "paged attention");
}

}  // namespace
}  // namespace reval::kernels
