// Fuzz target for JSON Lines reading (base/jsonl): every line either parses or carries an error; nothing throws,
// crashes or recurses without bound (the nesting limit), and parse_json agrees with for_each_jsonl on each line.
// Build and run like fuzz/latex_fuzz.cpp (libFuzzer with clang, or the standalone driver in the `slow` suite).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "base/error.hpp"
#include "base/jsonl.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > (1 << 20)) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    reval::for_each_jsonl(text, [](reval::JsonlLine& l) {
      if (l.value.has_value() == !l.error.empty()) {
        std::fprintf(stderr, "line %lld: value and error disagree\n", static_cast<long long>(l.line));
        std::abort();
      }
      if (l.value) {
        // A parsed line dumps and re-parses to the same value.
        std::string again = l.value->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        (void)reval::parse_json(again, "roundtrip");
      }
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "for_each_jsonl threw: %s\n", e.what());
    std::abort();
  }
  try {
    (void)reval::parse_json(text, "fuzz");
  } catch (const reval::Error&) {
  }
  return 0;
}
