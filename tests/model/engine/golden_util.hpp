// Helpers for the engine tests: reading the reference goldens_<model>.safetensors files.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "model/engine/safetensors.hpp"
#include "tests/test_util.hpp"

namespace reval::test {

inline std::string models_dir() { return shared_path("models"); }

inline std::vector<std::int64_t> read_i64(const engine::SafetensorsFile& f, const std::string& name) {
  const engine::TensorView* v = f.find(name);
  if (!v || v->dtype != "I64") return {};
  std::vector<std::int64_t> out(static_cast<std::size_t>(v->numel()));
  std::memcpy(out.data(), v->data, v->nbytes);
  return out;
}

inline std::vector<float> read_f32(const engine::SafetensorsFile& f, const std::string& name) {
  const engine::TensorView* v = f.find(name);
  if (!v || v->dtype != "F32") return {};
  std::vector<float> out(static_cast<std::size_t>(v->numel()));
  std::memcpy(out.data(), v->data, v->nbytes);
  return out;
}

}  // namespace reval::test
