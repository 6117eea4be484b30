// CPU kernels against naive double-precision references on odd sizes, strides and thread counts; dtype
// conversions (exhaustive round trips); ThreadPool coverage; batched-vs-single bitwise equality of matmul; the paged
// KV store and paged attention against the contiguous kernel (bitwise) for a batch of sequences with scattered
// block tables.
#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "kernels/cpu_kernels.hpp"
#include "tests/kernels/kernel_test_util.hpp"

namespace reval::kernels {
namespace {

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::abs(want[i]))) << what << " at " << i;
}

TEST(Convert, Bf16RoundsToNearestEvenAndRoundTrips) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie -> even
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);  // above tie -> up
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_f32(static_cast<std::uint16_t>(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16(f), b);
  }
}

TEST(Convert, F16ExactWideningAndRoundTrip) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // rounds to infinity
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even (zero)
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -26)), 0x0001);
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie -> even
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const float f = f16_to_f32(static_cast<std::uint16_t>(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), b) << b;
  }
  std::vector<std::uint16_t> h = {0x3c00, 0xbc00, 0x7bff, 0x0001};
  std::vector<float> out(4);
  convert_to_f32(h.data(), DType::f16, 4, out.data());
  EXPECT_EQ(out[1], -1.0f);
  EXPECT_EQ(out[2], 65504.0f);
}

TEST(ThreadPool, CoversEveryIndexOnce) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.size(), 3);
  for (std::int64_t n : {1, 2, 7, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
    pool.parallel_for(n, [&](std::int64_t b, std::int64_t e, int tid) {
      EXPECT_GE(tid, 0);
      EXPECT_LT(tid, 3);
      for (auto i = b; i < e; ++i) hits[static_cast<std::size_t>(i)]++;
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
}

struct MatmulCase {
  DType wt;
  bool bias;
  int threads;
};

class Matmul : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(Matmul, MatchesNaiveReferenceOnOddSizes) {
  const auto c = GetParam();
  const std::int64_t m = 7, k = 301, n = 37, ldx = k + 3, ldy = n + 5;
  auto x = randn(static_cast<std::size_t>(m * ldx), 1);
  auto wf = randn(static_cast<std::size_t>(n * k), 2, 0.1f);
  auto b = randn(static_cast<std::size_t>(n), 3);
  std::vector<std::uint16_t> w16(wf.size());
  const void* w = wf.data();
  if (c.wt != DType::f32) {
    for (std::size_t i = 0; i < wf.size(); ++i) {
      w16[i] = c.wt == DType::bf16 ? f32_to_bf16(wf[i]) : f32_to_f16(wf[i]);
      wf[i] = c.wt == DType::bf16 ? bf16_to_f32(w16[i]) : f16_to_f32(w16[i]);  // the values the kernel sees
    }
    w = w16.data();
  }
  std::vector<float> y(static_cast<std::size_t>(m * ldy), -7.0f);
  std::unique_ptr<ThreadPool> pool = c.threads > 1 ? std::make_unique<ThreadPool>(c.threads) : nullptr;
  cpu::matmul(x.data(), m, k, ldx, w, c.wt, n, c.bias ? b.data() : nullptr, y.data(), ldy, pool.get());
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double ref = c.bias ? b[j] : 0.0;
      for (std::int64_t p = 0; p < k; ++p) ref += static_cast<double>(x[i * ldx + p]) * wf[j * k + p];
      ASSERT_NEAR(y[i * ldy + j], ref, 1e-5 + 1e-5 * std::abs(ref)) << i << "," << j;
    }
    for (std::int64_t j = n; j < ldy; ++j) ASSERT_EQ(y[i * ldy + j], -7.0f) << "wrote past n";
  }
  // Serial and threaded splits of the output columns agree bitwise.
  std::vector<float> serial(y.size(), -7.0f);
  cpu::matmul(x.data(), m, k, ldx, w, c.wt, n, c.bias ? b.data() : nullptr, serial.data(), ldy, nullptr);
  ASSERT_EQ(serial, y);
  // Each row alone gives bitwise the same result as in the batch.
  for (std::int64_t i = 0; i < m; ++i) {
    std::vector<float> row(static_cast<std::size_t>(n));
    cpu::matmul(x.data() + i * ldx, 1, k, ldx, w, c.wt, n, c.bias ? b.data() : nullptr, row.data(), n, nullptr);
    for (std::int64_t j = 0; j < n; ++j) ASSERT_EQ(row[j], y[i * ldy + j]);
  }
}

INSTANTIATE_TEST_SUITE_P(Types, Matmul,
                         ::testing::Values(MatmulCase{DType::f32, false, 1}, MatmulCase{DType::f32, true, 3},
                                           MatmulCase{DType::bf16, true, 1}, MatmulCase{DType::bf16, false, 4},
                                           MatmulCase{DType::f16, true, 2}));

TEST(Kernels, RmsNorm) {
  const std::int64_t rows = 5, dim = 37, ld = 41;
  auto x = randn(static_cast<std::size_t>(rows * ld), 4);
  auto w = randn(static_cast<std::size_t>(dim), 5);
  std::vector<float> y(static_cast<std::size_t>(rows * dim));
  cpu::rmsnorm(x.data(), rows, dim, ld, w.data(), 1e-5f, y.data(), dim);
  std::vector<double> ref;
  for (std::int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (std::int64_t i = 0; i < dim; ++i) ss += double(x[r * ld + i]) * x[r * ld + i];
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
    for (std::int64_t i = 0; i < dim; ++i) ref.push_back(w[i] * x[r * ld + i] * inv);
  }
  expect_close(y, ref, 1e-5, "rmsnorm");
}

TEST(Kernels, RopeRotateHalf) {
  const int n_tok = 3, heads = 3, hd = 10, half = 5;
  const std::int64_t ld = heads * hd + 2;
  auto x = randn(static_cast<std::size_t>(n_tok * ld), 6);
  const auto x0 = x;
  std::vector<float> inv(half);
  for (int i = 0; i < half; ++i) inv[i] = 1.0f / std::pow(10000.0f, 2.0f * i / hd);
  std::vector<std::int32_t> pos = {0, 5, 1234};
  std::vector<float> cs(n_tok * half), sn(n_tok * half);
  cpu::rope_tables(inv.data(), half, pos.data(), n_tok, cs.data(), sn.data());
  cpu::rope(x.data(), n_tok, heads, hd, ld, cs.data(), sn.data());
  for (int t = 0; t < n_tok; ++t)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < half; ++i) {
        const double a = double(float(pos[t]) * inv[i]);
        const double x1 = x0[t * ld + h * hd + i], x2 = x0[t * ld + h * hd + i + half];
        EXPECT_NEAR(x[t * ld + h * hd + i], x1 * std::cos(a) - x2 * std::sin(a), 1e-4);
        EXPECT_NEAR(x[t * ld + h * hd + i + half], x2 * std::cos(a) + x1 * std::sin(a), 1e-4);
      }
  for (int t = 0; t < n_tok; ++t) EXPECT_EQ(x[t * ld + heads * hd], x0[t * ld + heads * hd]) << "padding touched";
}

TEST(Kernels, SoftmaxSiluEmbeddingAdd) {
  auto x = randn(3 * 19, 7, 5.0f);
  auto s = x;
  cpu::softmax(s.data(), 3, 17, 19);
  for (int r = 0; r < 3; ++r) {
    double mx = -1e30, sum = 0;
    for (int i = 0; i < 17; ++i) mx = std::max<double>(mx, x[r * 19 + i]);
    for (int i = 0; i < 17; ++i) sum += std::exp(x[r * 19 + i] - mx);
    for (int i = 0; i < 17; ++i) EXPECT_NEAR(s[r * 19 + i], std::exp(x[r * 19 + i] - mx) / sum, 1e-6);
    EXPECT_EQ(s[r * 19 + 17], x[r * 19 + 17]);
  }
  auto g = randn(33, 8, 3.0f), u = randn(33, 9);
  std::vector<float> o(33);
  cpu::silu_mul(g.data(), u.data(), 33, o.data());
  for (int i = 0; i < 33; ++i) EXPECT_NEAR(o[i], g[i] / (1.0 + std::exp(-double(g[i]))) * u[i], 1e-5 * (1 + std::abs(o[i])));
  std::vector<std::uint16_t> table(5 * 3);
  for (int i = 0; i < 15; ++i) table[i] = f32_to_bf16(float(i) + 0.5f);
  std::vector<std::int32_t> ids = {4, 0, 4};
  std::vector<float> e(9);
  cpu::embedding(table.data(), DType::bf16, 3, ids.data(), 3, e.data());
  EXPECT_EQ(e[0], 12.5f);
  EXPECT_EQ(e[3], 0.5f);
  EXPECT_EQ(e[8], 14.5f);
  std::vector<float> a = {1, 2}, b = {3, 4};
  cpu::add_inplace(a.data(), b.data(), 2);
  EXPECT_EQ(a[1], 6.0f);
}

// Naive causal GQA attention in double.
std::vector<double> naive_attention(const std::vector<float>& q, int n_q, int heads, int kvh, int hd,
                                    const std::vector<float>& k, const std::vector<float>& v, int n_kv, int pos0,
                                    float scale) {
  std::vector<double> out(static_cast<std::size_t>(n_q * heads * hd));
  for (int t = 0; t < n_q; ++t)
    for (int h = 0; h < heads; ++h) {
      const int g = h / (heads / kvh);
      const int lim = std::min(pos0 + t, n_kv - 1) + 1;
      std::vector<double> s(lim);
      double mx = -1e300;
      for (int j = 0; j < lim; ++j) {
        double d = 0;
        for (int i = 0; i < hd; ++i) d += double(q[(t * heads + h) * hd + i]) * k[(j * kvh + g) * hd + i];
        s[j] = d * scale;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (auto& z : s) sum += (z = std::exp(z - mx));
      for (int i = 0; i < hd; ++i) {
        double acc = 0;
        for (int j = 0; j < lim; ++j) acc += s[j] / sum * v[(j * kvh + g) * hd + i];
        out[(t * heads + h) * hd + i] = acc;
      }
    }
  return out;
}

TEST(Kernels, AttentionGqaCausalWithCache) {
  const int heads = 6, kvh = 2, hd = 10, n_q = 5, n_kv = 13, pos0 = 8;
  auto q = randn(n_q * heads * hd, 10), k = randn(n_kv * kvh * hd, 11), v = randn(n_kv * kvh * hd, 12);
  const float scale = 1.0f / std::sqrt(float(hd));
  auto ref = naive_attention(q, n_q, heads, kvh, hd, k, v, n_kv, pos0, scale);
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    std::vector<float> scratch(threads * n_kv), out(n_q * heads * hd);
    cpu::attention(q.data(), n_q, heads * hd, heads, kvh, hd, k.data(), v.data(), kvh * hd, n_kv, pos0, scale,
                   out.data(), heads * hd, scratch.data(), threads > 1 ? &pool : nullptr);
    expect_close(out, ref, 1e-5, "attention");
  }
  // Prefill from position 0: the first query sees only key 0, so its output is v[0] of its group.
  std::vector<float> scratch(n_kv), out(n_q * heads * hd);
  cpu::attention(q.data(), n_q, heads * hd, heads, kvh, hd, k.data(), v.data(), kvh * hd, n_q, 0, scale, out.data(),
                 heads * hd, scratch.data(), nullptr);
  for (int i = 0; i < hd; ++i) EXPECT_NEAR(out[5 * hd + i], v[1 * hd + i], 1e-6);  // head 5 -> kv group 1
}

TEST(Kernels, PagedAttentionEqualsContiguousForABatchOfSequences) {
  const int heads = 6, kvh = 2, hd = 10, bs = 4, row = kvh * hd;
  // Three sequences: a prefill chunk continuing a cached prefix, a fresh prefill, and a single decode token.
  struct Seq {
    int past, n;
  };
  const std::vector<Seq> seqs = {{5, 4}, {0, 7}, {11, 1}};
  const int num_blocks = 16;
  std::vector<float> kc(static_cast<std::size_t>(num_blocks * bs * row), 0.0f), vc(kc.size(), 0.0f);
  std::vector<std::int32_t> qstart = {0}, ctx, positions, slots, tables;
  const int stride = 4;  // table columns
  std::vector<std::vector<float>> k_full, v_full;
  const int scattered[] = {13, 2, 9, 6, 0, 15, 4, 11, 7, 1};  // block ids handed out in this order
  int next_block = 0;
  int tokens = 0;
  for (std::size_t s = 0; s < seqs.size(); ++s) {
    const int len = seqs[s].past + seqs[s].n;
    std::vector<std::int32_t> table;
    for (int b = 0; b < (len + bs - 1) / bs; ++b) table.push_back(scattered[next_block++]);
    table.resize(stride, 0);
    tables.insert(tables.end(), table.begin(), table.end());
    k_full.push_back(randn(static_cast<std::size_t>(len * row), 20 + static_cast<unsigned>(s)));
    v_full.push_back(randn(static_cast<std::size_t>(len * row), 30 + static_cast<unsigned>(s)));
    // The cached prefix is stored first; the step's own rows are stored by store_kv below.
    for (int p = 0; p < len; ++p) {
      const int slot = table[static_cast<std::size_t>(p / bs)] * bs + p % bs;
      if (p < seqs[s].past) {
        std::copy_n(k_full[s].begin() + p * row, row, kc.begin() + slot * row);
        std::copy_n(v_full[s].begin() + p * row, row, vc.begin() + slot * row);
      } else {
        positions.push_back(p);
        slots.push_back(slot);
      }
    }
    tokens += seqs[s].n;
    qstart.push_back(tokens);
    ctx.push_back(len);
  }
  // New K/V rows of the step, packed [tokens, row] with a wider stride, plus one skipped slot.
  const int ld = row + 3;
  std::vector<float> knew(static_cast<std::size_t>(tokens * ld)), vnew(knew.size());
  int t = 0;
  for (std::size_t s = 0; s < seqs.size(); ++s)
    for (int p = seqs[s].past; p < seqs[s].past + seqs[s].n; ++p, ++t) {
      std::copy_n(k_full[s].begin() + p * row, row, knew.begin() + t * ld);
      std::copy_n(v_full[s].begin() + p * row, row, vnew.begin() + t * ld);
    }
  cpu::store_kv(knew.data(), vnew.data(), ld, tokens, row, slots.data(), kc.data(), vc.data(), bs * row, row, bs);
  const std::int32_t skipped = -1;
  cpu::store_kv(knew.data(), vnew.data(), ld, 1, row, &skipped, kc.data(), vc.data(), bs * row, row, bs);
  auto q = randn(static_cast<std::size_t>(tokens * heads * hd), 40);
  const float scale = 1.0f / std::sqrt(float(hd));
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    const int max_ctx = 12;
    std::vector<float> scratch(static_cast<std::size_t>(threads * max_ctx)), out(q.size(), -1.0f);
    cpu::paged_attention(q.data(), heads * hd, heads, kvh, hd, kc.data(), vc.data(), bs * row, row, bs, tables.data(),
                         stride, qstart.data(), ctx.data(), positions.data(), static_cast<int>(seqs.size()), scale,
                         out.data(), heads * hd, scratch.data(), max_ctx, threads > 1 ? &pool : nullptr);
    // Each sequence against the contiguous kernel on its own cache: bitwise equal.
    for (std::size_t s = 0; s < seqs.size(); ++s) {
      const int len = seqs[s].past + seqs[s].n;
      std::vector<float> sc(static_cast<std::size_t>(len)), want(static_cast<std::size_t>(seqs[s].n * heads * hd));
      cpu::attention(q.data() + qstart[s] * heads * hd, seqs[s].n, heads * hd, heads, kvh, hd, k_full[s].data(),
                     v_full[s].data(), row, len, seqs[s].past, scale, want.data(), heads * hd, sc.data(), nullptr);
      const std::vector<float> got(out.begin() + qstart[s] * heads * hd, out.begin() + qstart[s + 1] * heads * hd);
      EXPECT_EQ(got, want) << "sequence " << s << ", " << threads << " threads";
      auto ref = naive_attention(std::vector<float>(q.begin() + qstart[s] * heads * hd, q.begin() + qstart[s + 1] * heads * hd),
                                 seqs[s].n, heads, kvh, hd, k_full[s], v_full[s], len, seqs[s].past, scale);
      expect_close(got, ref, 1e-5, "paged attention");
    }
  }
}

}  // namespace
}  // namespace reval::kernels
