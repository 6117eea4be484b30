// CudaOps (see cuda_ops.hpp). Compiled in every build; the implementation exists only when REVAL_HAVE_CUDA is set.
#include "model/engine/cuda_ops.hpp"

#include "base/error.hpp"

#if defined(REVAL_HAVE_CUDA)
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <vector>

#include "kernels/cuda_engine.hpp"
#include "model/engine/forward.hpp"
#endif

namespace reval::engine {

#if !defined(REVAL_HAVE_CUDA)

int cuda_device_count() { return 0; }
std::string cuda_device_description(int) { return ""; }
std::unique_ptr<DeviceOps> make_cuda_ops(const CudaOptions&) {
  throw Error("--device cuda: this build of reval has no CUDA support (configure with nvcc available, REVAL_CUDA=ON)");
}

#else

namespace kcu = reval::kernels::cuda;
using kcu::bf16;

// SampleRow is uploaded as is and read by the sampling kernel as SampleSpec: the layouts must agree.
static_assert(sizeof(SampleRow) == sizeof(kcu::SampleSpec));
static_assert(offsetof(SampleRow, logits_row) == offsetof(kcu::SampleSpec, logits_row));
static_assert(offsetof(SampleRow, n_valid) == offsetof(kcu::SampleSpec, n_valid));
static_assert(offsetof(SampleRow, config) + offsetof(SamplerConfig, temperature) == offsetof(kcu::SampleSpec, temperature));
static_assert(offsetof(SampleRow, config) + offsetof(SamplerConfig, top_p) == offsetof(kcu::SampleSpec, top_p));
static_assert(offsetof(SampleRow, config) + offsetof(SamplerConfig, top_k) == offsetof(kcu::SampleSpec, top_k));
static_assert(offsetof(SampleRow, config) + offsetof(SamplerConfig, min_p) == offsetof(kcu::SampleSpec, min_p));
static_assert(offsetof(SampleRow, seed) == offsetof(kcu::SampleSpec, seed));
static_assert(offsetof(SampleRow, position) == offsetof(kcu::SampleSpec, position));

namespace {

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("cuda: ") + what + ": " + cudaGetErrorString(e));
}
void check(kcu::Status s, const char* what) {
  if (s != 0) throw Error(std::string("cuda: ") + what + ": " + kcu::status_string(s));
}
bf16* b(void* p) { return static_cast<bf16*>(p); }
const bf16* b(const void* p) { return static_cast<const bf16*>(p); }

std::string kernel_driver_version() {
  std::ifstream in("/proc/driver/nvidia/version");
  std::string line;
  if (!std::getline(in, line)) return "unknown";
  // "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Tue ..."
  const auto k = line.find("Kernel Module");
  if (k == std::string::npos) return "unknown";
  std::size_t p = line.find_first_not_of(' ', k + 13);
  const std::size_t e = line.find(' ', p);
  return p == std::string::npos ? "unknown" : line.substr(p, e == std::string::npos ? std::string::npos : e - p);
}

std::string version_string(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

constexpr std::size_t kAttentionScratchFloats = std::size_t{1} << 24;  // 64 MiB of split-KV partials
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

class CudaOps final : public DeviceOps {
 public:
  explicit CudaOps(const CudaOptions& o) : options_(o) {
    if (!(o.gpu_memory > 0.0 && o.gpu_memory <= 1.0)) throw Error("--gpu-memory must be in (0, 1]");
    const int count = cuda_device_count();
    if (count == 0) throw Error("--device cuda: no CUDA device is visible");
    if (o.device < 0 || o.device >= count)
      throw Error("--device cuda: device " + std::to_string(o.device) + " does not exist (" + std::to_string(count) +
                  " visible)");
    check_cuda(cudaSetDevice(o.device), "cudaSetDevice");
    check_cuda(cudaGetDeviceProperties(&props_, o.device), "cudaGetDeviceProperties");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    if (cublasCreate(&cublas_) != CUBLAS_STATUS_SUCCESS) throw Error("cuda: cublasCreate failed");
    check(cublasSetStream(cublas_, stream_) == CUBLAS_STATUS_SUCCESS ? 0 : 10000, "cublasSetStream");
    description_ = cuda_device_description(o.device);
    scratch_ = static_cast<float*>(alloc(kAttentionScratchFloats * sizeof(float)));
  }

  ~CudaOps() override {
    cudaSetDevice(options_.device);
    if (stream_) cudaStreamSynchronize(stream_);
    for (void* p : owned_) cudaFree(p);
    if (scratch_) cudaFree(scratch_);
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "cuda:" + std::to_string(options_.device) + " " + description_; }
  kernels::DType activation_dtype() const override { return kernels::DType::bf16; }
  kernels::DType kv_dtype() const override { return kernels::DType::bf16; }

  std::int64_t plan_kv_memory(const Model& model, const ForwardLimits& limits) override {
    const ModelConfig& c = model.config();
    std::size_t free_b = 0, total_b = 0;
    check_cuda(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    // Weights in bf16 and fp32 vectors.
    auto mat = [](const Weight& w) { return static_cast<double>(w.rows) * static_cast<double>(w.cols) * 2.0; };
    double weights = mat(model.embedding()) + static_cast<double>(model.final_norm().size()) * 4.0;
    if (model.lm_head().data != model.embedding().data) weights += mat(model.lm_head());
    for (const LayerWeights& L : model.layers()) {
      weights += mat(L.q) + mat(L.k) + mat(L.v) + mat(L.o) + mat(L.gate) + mat(L.up) + mat(L.down);
      weights += 4.0 * static_cast<double>(L.attn_norm.size() + L.mlp_norm.size() + L.q_bias.size() +
                                           L.k_bias.size() + L.v_bias.size() + L.q_norm.size() + L.k_norm.size());
    }
    // The forward pass' buffers (forward.cpp), plus the block tables for the longest sequences.
    const double T = static_cast<double>(limits.max_tokens), H = static_cast<double>(c.hidden_size);
    const double hd = static_cast<double>(c.head_dim), nq = static_cast<double>(c.num_heads) * hd;
    const double nkv = static_cast<double>(c.num_kv_heads) * hd, I = static_cast<double>(c.intermediate_size);
    const double buffers = T * (H * 4 + hd * 4 + (H + 2 * nq + 2 * nkv + 2 * I) * 2 + 12) +
                           static_cast<double>(limits.max_logits_rows) * (static_cast<double>(c.vocab_size) * 4 + H * 2) +
                           static_cast<double>(limits.max_seqs) * std::max<double>(4096.0, static_cast<double>(limits.max_blocks_per_seq)) * 4 * 2;
    const double slack = 512.0 * 1024 * 1024;  // cuBLAS workspace, CUDA context growth, allocator rounding
    const double share = options_.gpu_memory * static_cast<double>(total_b);
    const double used_by_others = static_cast<double>(total_b - free_b);
    const double kv = share - used_by_others - weights - buffers - slack;
    std::fprintf(stderr,
                 "reval: cuda memory plan on %s: %.2f GiB total x %.2f = %.2f GiB; in use %.2f GiB; weights %.2f GiB; "
                 "buffers %.2f GiB (+%.2f GiB slack); KV cache %.2f GiB\n",
                 description_.c_str(), static_cast<double>(total_b) / kGiB, options_.gpu_memory, share / kGiB,
                 used_by_others / kGiB, weights / kGiB, buffers / kGiB, slack / kGiB, std::max(kv, 0.0) / kGiB);
    if (kv <= 0)
      throw Error("cuda: not enough GPU memory: weights " + std::to_string(weights / kGiB) + " GiB + buffers " +
                  std::to_string((buffers + slack) / kGiB) + " GiB exceed --gpu-memory " +
                  std::to_string(options_.gpu_memory) + " of " + std::to_string(static_cast<double>(total_b) / kGiB) +
                  " GiB (" + std::to_string(used_by_others / kGiB) + " GiB already in use); lower --max-running or "
                  "--max-step-tokens, or raise --gpu-memory");
    return static_cast<std::int64_t>(kv);
  }

  void* alloc(std::size_t bytes) override {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      throw Error("cuda: cannot allocate " + std::to_string(static_cast<double>(bytes) / kGiB) + " GiB of device memory: " +
                  cudaGetErrorString(e));
    }
    check_cuda(cudaMemsetAsync(p, 0, bytes == 0 ? 1 : bytes, stream_), "cudaMemset");
    return p;
  }
  void free(void* p) override {
    if (!p) return;
    cudaStreamSynchronize(stream_);
    cudaFree(p);
  }
  void upload(void* dst, const void* src, std::size_t bytes) override {
    if (bytes) check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "upload");
  }
  void download(void* dst, const void* src, std::size_t bytes) override {
    if (bytes) check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "download");
    check_cuda(cudaStreamSynchronize(stream_), "a step's kernels");
  }

  // Every upload is a new device copy owned until this object dies (no cache by host address: a freed and
  // reallocated host buffer could alias a stale copy). One ForwardPass per model and device is the normal case.
  Weight upload_weight(const Weight& host) override {
    Weight d = host;
    const std::int64_t n = host.rows * host.cols;
    if (n == 0 || !host.data) return d;
    void* p = alloc(static_cast<std::size_t>(n) * 2);
    owned_.push_back(p);
    if (host.dtype == kernels::DType::bf16) {
      upload(p, host.data, static_cast<std::size_t>(n) * 2);
    } else {
      const std::size_t bytes = static_cast<std::size_t>(n) * kernels::dtype_size(host.dtype);
      void* tmp = alloc(bytes);
      upload(tmp, host.data, bytes);
      check(kcu::convert_to_bf16(stream_, tmp, host.dtype, n, b(p)), "convert weights to bf16");
      free(tmp);
    }
    d.data = p;
    d.dtype = kernels::DType::bf16;
    return d;
  }
  const float* upload_vector(const std::vector<float>& host) override {
    if (host.empty()) return nullptr;
    void* p = alloc(host.size() * sizeof(float));
    owned_.push_back(p);
    upload(p, host.data(), host.size() * sizeof(float));
    return static_cast<const float*>(p);
  }

  void embedding(const Weight& table, const std::int32_t* ids, std::int64_t n, float* x) override {
    check(kcu::embedding(stream_, table.data, table.dtype, table.cols, ids, n, x), "embedding");
  }
  void rmsnorm(const float* x, std::int64_t rows, std::int64_t dim, std::int64_t ldx, const float* w, float eps,
               void* y, std::int64_t ldy) override {
    check(kcu::rmsnorm_to_bf16(stream_, x, ldx, nullptr, rows, dim, w, eps, b(y), ldy), "rmsnorm");
  }
  void rmsnorm_inplace(void* x, std::int64_t rows, std::int64_t dim, std::int64_t ld, const float* w,
                       float eps) override {
    check(kcu::rmsnorm_bf16_inplace(stream_, b(x), rows, dim, ld, w, eps), "q/k rmsnorm");
  }
  void add_rmsnorm(float* x, const void* delta, std::int64_t rows, std::int64_t dim, const float* w, float eps,
                   void* y) override {
    check(kcu::add_rmsnorm(stream_, x, b(delta), rows, dim, w, eps, b(y)), "add_rmsnorm");
  }
  void add(float* x, const void* delta, std::int64_t n) override {
    check(kcu::add_bf16(stream_, x, b(delta), n), "add");
  }
  void rmsnorm_rows(const float* x, std::int64_t ldx, const std::int32_t* rows, std::int64_t n, std::int64_t dim,
                    const float* w, float eps, void* y, std::int64_t ldy) override {
    check(kcu::rmsnorm_to_bf16(stream_, x, ldx, rows, n, dim, w, eps, b(y), ldy), "final rmsnorm");
  }
  void linear(const void* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const Weight& w, const float* bias,
              void* y, std::int64_t ldy) override {
    need_bf16(w);
    check(kcu::linear_bf16(cublas_, stream_, b(x), m, k, ldx, b(w.data), w.rows, bias, b(y), ldy), "linear");
  }
  void logits(const void* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const Weight& w, float* y,
              std::int64_t ldy) override {
    need_bf16(w);
    check(kcu::linear_bf16_f32out(cublas_, stream_, b(x), m, k, ldx, b(w.data), w.rows, y, ldy), "lm_head");
  }
  void rope_tables(const std::int32_t* positions, std::int64_t n, const float* inv_freq, int half, float* cos,
                   float* sin) override {
    check(kcu::rope_tables(stream_, positions, n, inv_freq, half, cos, sin), "rope tables");
  }
  void rope(void* x, std::int64_t n_tokens, int n_heads, int head_dim, std::int64_t ld, const float* cos,
            const float* sin) override {
    check(kcu::rope_bf16(stream_, b(x), n_tokens, n_heads, head_dim, ld, cos, sin), "rope");
  }
  void store_kv(const void* k, const void* v, std::int64_t ld, std::int64_t n_tokens, std::int64_t row_elems,
                const std::int32_t* slots, const KvLayerView& c) override {
    check(kcu::store_kv_bf16(stream_, b(k), b(v), ld, n_tokens, row_elems, slots, b(c.k), b(c.v), c.block_stride,
                             c.token_stride, c.block_size),
          "store_kv");
  }
  void attention(const void* q, std::int64_t ldq, int n_heads, int n_kv_heads, int head_dim, const KvLayerView& c,
                 const BatchView& batch, float scale, void* out, std::int64_t ldo) override {
    kcu::AttentionShape s;
    s.n_heads = n_heads;
    s.n_kv_heads = n_kv_heads;
    s.head_dim = head_dim;
    s.block_stride = c.block_stride;
    s.token_stride = c.token_stride;
    s.block_size = c.block_size;
    s.table_stride = batch.table_stride;
    s.n_seqs = batch.n_seqs;
    s.n_tokens = batch.n_tokens;
    s.max_context_len = batch.max_context_len;
    check(kcu::paged_attention_bf16(stream_, s, b(q), ldq, b(c.k), b(c.v), batch.block_tables, batch.query_start,
                                    batch.positions, scale, b(out), ldo, scratch_, kAttentionScratchFloats,
                                    props_.multiProcessorCount),
          "attention");
  }
  void silu_mul(const void* gate, const void* up, std::int64_t n, void* out) override {
    check(kcu::silu_mul_bf16(stream_, b(gate), b(up), n, b(out)), "silu_mul");
  }
  void copy_blocks(const KvPoolView& p, const std::int32_t* pairs, std::int64_t n) override {
    check(kcu::copy_blocks(stream_, p.base, p.planes, p.plane_stride, p.block_stride, 2, pairs, n), "copy_blocks");
  }
  void sample(const float* logits, std::int64_t ld, const SampleRow* rows, std::int64_t n,
              std::int32_t* ids) override {
    check(kcu::sample(stream_, logits, ld, reinterpret_cast<const kcu::SampleSpec*>(rows), n, ids), "sample");
  }

 private:
  static void need_bf16(const Weight& w) {
    if (w.dtype != kernels::DType::bf16) throw Error("cuda: weight not uploaded through upload_weight (not bf16)");
  }

  CudaOptions options_;
  cudaDeviceProp props_{};
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::string description_;
  float* scratch_ = nullptr;
  std::vector<void*> owned_;  // uploaded weights and vectors
};

}  // namespace

int cuda_device_count() { return kcu::device_count(); }

std::string cuda_device_description(int device) {
  if (device < 0 || device >= cuda_device_count()) return "";
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
    cudaGetLastError();
    return "";
  }
  int rt = 0, drv = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.1f GiB", static_cast<double>(p.totalGlobalMem) / kGiB);
  return std::string(p.name) + ", driver " + kernel_driver_version() + ", CUDA runtime " + version_string(rt) +
         ", driver API " + version_string(drv) + ", sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
         std::to_string(p.multiProcessorCount) + " SMs, " + mem;
}

std::unique_ptr<DeviceOps> make_cuda_ops(const CudaOptions& options) { return std::make_unique<CudaOps>(options); }

#endif

}  // namespace reval::engine
