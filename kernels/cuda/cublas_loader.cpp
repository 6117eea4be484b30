// cuBLAS loaded on first use: the few cuBLAS entry points reval calls, defined here and forwarded to the real
// library opened with dlopen the first time one is called.
//
// Theory of operation: linking libcublas directly makes every program that contains the engine (the reval CLI, the
// tests) load libcublas + libcublasLt (over 500 MB, ~200 MB resident after relocation) at start, GPU or not. These
// definitions take the linker's place: reval_kernels_cuda does not link CUDA::cublas, so the calls in the kernels
// resolve here, and the library is opened only when a CUDA device is actually used. If it cannot be opened, the
// call returns CUBLAS_STATUS_NOT_INITIALIZED and the caller reports it like any cuBLAS failure.
#include <dlfcn.h>

#include <mutex>

#include <cublas_v2.h>

namespace {

void* cublas_library() {
  static void* handle = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) {
      handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (handle) break;
    }
  });
  return handle;
}

template <class F>
F symbol(const char* name) {
  void* lib = cublas_library();
  return lib ? reinterpret_cast<F>(dlsym(lib, name)) : nullptr;
}

}  // namespace

extern "C" {

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle) {
  using F = cublasStatus_t (*)(cublasHandle_t*);
  static F f = symbol<F>("cublasCreate_v2");
  return f ? f(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle) {
  using F = cublasStatus_t (*)(cublasHandle_t);
  static F f = symbol<F>("cublasDestroy_v2");
  return f ? f(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  using F = cublasStatus_t (*)(cublasHandle_t, cudaStream_t);
  static F f = symbol<F>("cublasSetStream_v2");
  return f ? f(handle, stream) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m,
                                           int n, int k, const float* alpha, const float* a, int lda, const float* b,
                                           int ldb, const float* beta, float* c, int ldc) {
  using F = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float*,
                               const float*, int, const float*, int, const float*, float*, int);
  static F f = symbol<F>("cublasSgemm_v2");
  return f ? f(handle, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasGemmEx(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m,
                                         int n, int k, const void* alpha, const void* a, cudaDataType at, int lda,
                                         const void* b, cudaDataType bt, int ldb, const void* beta, void* c,
                                         cudaDataType ct, int ldc, cublasComputeType_t compute, cublasGemmAlgo_t algo) {
  using F = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                               const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                               cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  static F f = symbol<F>("cublasGemmEx");
  return f ? f(handle, ta, tb, m, n, k, alpha, a, at, lda, b, bt, ldb, beta, c, ct, ldc, compute, algo)
           : CUBLAS_STATUS_NOT_INITIALIZED;
}

}  // extern "C"
