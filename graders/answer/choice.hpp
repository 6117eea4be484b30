// Multiple-choice letter extraction (the `choice` grader). Order of evidence, after the </think> rule of
// strip_reasoning(): the last "Answer: X" (the simple-evals pattern, with a word boundary so "Answer: Because"
// is not B; also quoted "C", markdown, a full-width colon and other languages: "Réponse : B", "答案：C"), the last
// \boxed{X} (also \boxed{\text{(X)}}), "the answer is (X)" with up to three words between ("the answer is for sure
// D", "la réponse est B", "答案是 C"; never after a negation: "the answer is not A"), a last line that is a lone
// letter ("(C)", "**C**", "C.", "C。"), a short last line stating one letter once the letters it rules out are
// dropped ("B, surely not C or D" -> B, "A. Because B is not valid" -> A), and, when option texts are given, a boxed/answer-phrase/last-line text
// equal to one option. Letters come from `choices` (default "ABCD", up to "ABCDEFGHIJ"). Thread-safe (RE2 objects
// are const).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reval::answer {

struct ChoiceExtraction {
  std::optional<char> letter;
  std::string method;  // "answer_colon", "boxed", "answer_is", "last_line", "stated_letter", "option_text"
  std::string reason;  // for no letter
};

ChoiceExtraction extract_choice(std::string_view response, std::string_view choices = "ABCD",
                                const std::vector<std::string>& options = {}, std::string_view finish_reason = {});

// A gold entry as a letter: "C", "(C)", "c"; or an option text when options are given.
std::optional<char> gold_letter(std::string_view gold, std::string_view choices,
                                const std::vector<std::string>& options = {});

}  // namespace reval::answer
