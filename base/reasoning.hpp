// Where the answer of an R1-style completion begins: the one rule every grader and reward uses.
// A reasoning model writes `<think> ... </think>` and then its answer; chat templates often prefill `<think>\n`, so
// the completion may hold only the closing tag. The answer is the text after the LAST `</think>`. Without one:
//  - a `<think>` that never closes means the model never answered ("unterminated_think");
//  - an output cut off by the length limit is taken to be still reasoning ("truncated_in_think"), since with a
//    prefilled `<think>` there is no opening tag to see;
//  - otherwise (a model that does not reason in tags) the whole completion is the answer.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "base/finish_reason.hpp"

namespace reval {

// The answer part of `response`, or nothing (with `reason` set) when the reasoning never ended.
std::optional<std::string_view> strip_reasoning(std::string_view response, FinishReason finish,
                                                std::string* reason = nullptr);

}  // namespace reval
