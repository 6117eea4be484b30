// reval's one error type. Library code throws reval::Error for bad input, I/O and configuration problems; the CLI
// catches it at the boundary and prints what(). Grading outcomes are never errors: they are typed Verdicts.
// Messages name where the problem is: "FILE:LINE: field 'x': what went wrong".
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace reval {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Builds "file:line: field 'f': message" leaving out the parts that are empty/zero.
std::string where(std::string_view file, std::int64_t line = 0, std::string_view field = {});
[[noreturn]] void fail_at(std::string_view file, std::int64_t line, std::string_view field, std::string_view message);

}  // namespace reval
