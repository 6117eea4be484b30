// Fuzz target for the model-file parsers that read untrusted downloads: the safetensors header (model/engine)
// and tokenizer.json (model/tokenizer). The input's first byte picks the parser; the rest is the file. Invariants:
// only reval::Error escapes; a tokenizer that loads encodes and decodes a short text without failing.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "model/engine/safetensors.hpp"
#include "model/tokenizer/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > (1 << 20)) return 0;
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string d = std::string(t && *t ? t : "/tmp") + "/reval-model-fuzz-" + std::to_string(getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  const bool safetensors = data[0] % 2 == 0;
  const std::string path = dir + (safetensors ? "/model.safetensors" : "/tokenizer.json");
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  try {
    if (safetensors) {
      auto file = reval::engine::SafetensorsFile::open(path);
      (void)file;
    } else {
      auto tok = reval::Tokenizer::from_file(path);
      auto ids = tok->encode("Hello, world! 123", true);
      (void)tok->decode(ids);
    }
  } catch (const reval::Error&) {
  }
  return 0;
}
