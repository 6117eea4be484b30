// CudaOps: the DeviceOps implementation on one NVIDIA GPU — bf16 weights and activations, fp32 residual stream,
// norms, softmax and accumulation, kernels from kernels/cuda_engine.hpp, GEMMs through cuBLAS.
//
// Theory of operation: one device, one non-blocking stream, one cuBLAS handle. Weights are uploaded once in bf16
// (bf16 checkpoints as stored; f16/f32 ones converted on the device), norm/bias vectors in fp32. Where fp32 is
// kept: the residual stream x (every residual add is fp32 += bf16), every RMSNorm's sum of squares and scaling,
// GEMM accumulation (CUBLAS_COMPUTE_32F), attention scores/softmax/output accumulation, RoPE angles (cos/sin
// tables), the logits and the whole sampler. Activations between operations (normalised states, q/k/v, attention
// output, MLP intermediates) and the KV cache are bf16. upload() is an async copy from pageable memory (the
// source may be reused as soon as it returns), download() synchronises the stream: the drawn ids are the only
// per-step device-to-host transfer. The attention scratch (split-KV partials) is allocated once at construction.
// Everything here is declared without CUDA headers, so the engine compiles the same with or without CUDA; without
// it make_cuda_ops() throws and cuda_device_count() is 0.
#pragma once
#include <memory>
#include <string>

#include "model/engine/ops.hpp"

namespace reval::engine {

struct CudaOptions {
  int device = 0;             // CUDA device ordinal
  double gpu_memory = 0.9;    // share of the device's total memory the engine may use (weights + buffers + KV)
};

// Visible CUDA devices (0 without a driver, a device, or a CUDA build).
int cuda_device_count();
// "NVIDIA H200, driver 580.159.04, CUDA runtime 13.0, driver API 13.0, 132 SMs, 139.8 GiB" (empty without a device).
std::string cuda_device_description(int device = 0);
// Throws reval::Error when the build has no CUDA, there is no such device, or its setup fails.
std::unique_ptr<DeviceOps> make_cuda_ops(const CudaOptions& options = {});

}  // namespace reval::engine
