// Maps grader names to their factories.
#include <fmt/format.h>

#include "graders/grader.hpp"
#include "base/error.hpp"

namespace reval {

std::vector<std::string> grader_names() { return {"math", "choice", "code"}; }

std::unique_ptr<Grader> make_grader(std::string_view name, const nlohmann::json& options) {
  if (name == "math") return make_math_grader(options);
  if (name == "choice") return make_choice_grader(options);
  if (name == "code") return make_code_grader(options);
  throw Error(fmt::format("unknown grader '{}' (known: math, choice, code)", name));
}

}  // namespace reval
