// See reasoning.hpp.
#include "base/reasoning.hpp"

namespace reval {

std::optional<std::string_view> strip_reasoning(std::string_view response, FinishReason finish, std::string* reason) {
  constexpr std::string_view kClose = "</think>";
  if (std::size_t close = response.rfind(kClose); close != std::string_view::npos)
    return response.substr(close + kClose.size());
  if (response.find("<think>") != std::string_view::npos) {
    if (reason) *reason = "unterminated_think";
    return std::nullopt;
  }
  if (finish == FinishReason::length) {
    if (reason) *reason = "truncated_in_think";
    return std::nullopt;
  }
  return response;
}

}  // namespace reval
