// libFuzzer target for the LaTeX answer parser and everything behind it (cleaning, structure parsing, canonical
// strings, extraction, the equivalence ladder with a short budget, choice extraction). Build with clang:
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -I. fuzz/latex_fuzz.cpp graders/answer/*.cpp
//     $(pkg-config --cflags --libs ginac re2) -o latex_fuzz && ./latex_fuzz fuzz/corpus
// or with g++ and the standalone random-mutation driver (fuzz/standalone_driver.cpp), as the `slow` ctest does.
// Invariants checked: nothing throws out of the public API; an answer always equals itself unless the budget ran
// out or it was refused; canonical_answer() is deterministic; a comparison with a 50 ms budget returns within 2 s
// (every step of the ladder is bounded, issue 17); a gold goes through the same extraction as a response.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <string_view>

#include "graders/answer/choice.hpp"
#include "graders/answer/latex.hpp"
#include "graders/answer/math.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 8192) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  namespace ra = reval::answer;
  try {
    ra::Value v = ra::parse_value(in);
    (void)v;
    std::string err;
    (void)ra::parse_expr(in, &err);
    std::string c1 = ra::canonical_answer(in);
    std::string c2 = ra::canonical_answer(in);
    if (c1 != c2) {
      std::fprintf(stderr, "canonical_answer is not deterministic\n");
      std::abort();
    }
    ra::MathOptions o;
    o.timeout_s = 0.05;
    auto ex = ra::extract_answer(in, o);
    auto t0 = std::chrono::steady_clock::now();
    auto self = ra::math_equal(in, in, o);
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(2)) {
      std::fprintf(stderr, "math_equal with a 50 ms budget took over 2 s\n");
      std::abort();
    }
    (void)ra::gold_answer(in, o);
    if (!self.equal && !self.timeout && !self.refused && !ra::normalize_answer(in).empty()) {
      std::fprintf(stderr, "an answer is not equal to itself: step=%s\n", self.step.c_str());
      std::abort();
    }
    if (ex.answer) (void)ra::math_equal(*ex.answer, "\\frac{1}{2}", o);
    (void)ra::math_equal(in, "x^2+1", o);
    (void)ra::extract_choice(in, "ABCDEFGHIJ", {"one", "two"});
  } catch (...) {
    std::fprintf(stderr, "exception escaped the answer API\n");
    std::abort();
  }
  return 0;
}
