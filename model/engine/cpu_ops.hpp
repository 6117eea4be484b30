// CpuOps: the DeviceOps implementation over the CPU kernels (kernels/cpu_kernels.hpp), fp32 throughout.
//
// Theory of operation: "device memory" is host memory from calloc (large blocks come from the kernel zero-filled
// and lazily, so a big KV budget costs only the pages actually used); upload/download are memcpy; weights are used
// in place (bf16/f16 widened inside matmul). Operations run synchronously on the calling thread plus the object's
// ThreadPool: matmuls split output columns, attention splits (token, head) pairs, sampling splits rows. Every
// output element is computed by the same sequence of operations whatever the batch and the thread split, which
// is the engine's determinism contract on the CPU. Not thread-safe: one engine thread drives it.
#pragma once
#include <memory>
#include <vector>

#include "model/engine/ops.hpp"

namespace reval::engine {

class CpuOps final : public DeviceOps {
 public:
  explicit CpuOps(int threads);  // threads <= 0: all hardware threads
  ~CpuOps() override;
  int threads() const { return pool_.size(); }
  kernels::ThreadPool& pool() { return pool_; }

  std::string name() const override;
  kernels::DType activation_dtype() const override { return kernels::DType::f32; }
  kernels::DType kv_dtype() const override { return kernels::DType::f32; }

  void* alloc(std::size_t bytes) override;
  void free(void* p) override;
  void upload(void* dst, const void* src, std::size_t bytes) override;
  void download(void* dst, const void* src, std::size_t bytes) override;
  Weight upload_weight(const Weight& host) override { return host; }
  const float* upload_vector(const std::vector<float>& host) override { return host.empty() ? nullptr : host.data(); }

  void embedding(const Weight& table, const std::int32_t* ids, std::int64_t n, float* x) override;
  void rmsnorm(const float* x, std::int64_t rows, std::int64_t dim, std::int64_t ldx, const float* w, float eps,
               void* y, std::int64_t ldy) override;
  void rmsnorm_inplace(void* x, std::int64_t rows, std::int64_t dim, std::int64_t ld, const float* w,
                       float eps) override;
  void add_rmsnorm(float* x, const void* delta, std::int64_t rows, std::int64_t dim, const float* w, float eps,
                   void* y) override;
  void add(float* x, const void* delta, std::int64_t n) override;
  void rmsnorm_rows(const float* x, std::int64_t ldx, const std::int32_t* rows, std::int64_t n, std::int64_t dim,
                    const float* w, float eps, void* y, std::int64_t ldy) override;
  void linear(const void* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const Weight& w, const float* bias,
              void* y, std::int64_t ldy) override;
  void logits(const void* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const Weight& w, float* y,
              std::int64_t ldy) override;
  void rope_tables(const std::int32_t* positions, std::int64_t n, const float* inv_freq, int half, float* cos,
                   float* sin) override;
  void rope(void* x, std::int64_t n_tokens, int n_heads, int head_dim, std::int64_t ld, const float* cos,
            const float* sin) override;
  void store_kv(const void* k, const void* v, std::int64_t ld, std::int64_t n_tokens, std::int64_t row_elems,
                const std::int32_t* slots, const KvLayerView& cache) override;
  void attention(const void* q, std::int64_t ldq, int n_heads, int n_kv_heads, int head_dim, const KvLayerView& cache,
                 const BatchView& batch, float scale, void* out, std::int64_t ldo) override;
  void silu_mul(const void* gate, const void* up, std::int64_t n, void* out) override;
  void copy_blocks(const KvPoolView& pool, const std::int32_t* pairs, std::int64_t n) override;
  void sample(const float* logits, std::int64_t ld, const SampleRow* rows, std::int64_t n,
              std::int32_t* ids) override;

 private:
  kernels::ThreadPool pool_;
  std::vector<float> attention_scratch_;          // [threads, max context]
  std::vector<SamplerScratch> sampler_scratch_;   // one per thread
};

}  // namespace reval::engine
