// Fuzz target for the compressed-file readers: gunzip (base/jsonl, every benchmark .gz) and zip members
// (tasks/formats, the GPQA archive). Invariants: only reval::Error escapes; decompression never exceeds its cap;
// a zip directory's size claim never drives an allocation (members above the cap are refused).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "tasks/formats.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > (1 << 20)) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    std::string out = reval::gunzip(bytes, "fuzz.gz", 64 << 20);
    if (out.size() > (64u << 20)) std::abort();
  } catch (const reval::Error&) {
  }
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/reval-archive-fuzz-" + std::to_string(getpid()) + ".zip";
  }();
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  try {
    std::string m = reval::formats::read_zip_member(path, "dataset/gpqa_diamond.csv", "deserted-untie-orchid");
    if (m.size() > (256u << 20)) std::abort();
  } catch (const reval::Error&) {
  }
  return 0;
}
