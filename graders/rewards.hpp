// RL rewards on top of the evaluation graders: the same rule that scores an evaluation scores a rollout.
//
// Theory of operation
// -------------------
// * Routing: a reward item names either a task kind ("math", "choice", "code") or a data source as RL frameworks
//   name them (verl's `data_source`: "HuggingFaceH4/MATH-500", "aime24", "gpqa_diamond", "livecodebench", ...).
//   route() maps it to one grader of GraderSet and to default grader fields; an unknown name is a reval::Error
//   listing the known ones. There is no second grader: accuracy is GraderSet::grade()'s score.
// * Ground truth as trainers hold it (a string, a number, a list, a JSON object or JSON-encoded object of tests)
//   becomes a GradeRequest through item_from_ground_truth() (gold answers for math/choice; for code the tests,
//   HumanEval test/entry_point, or APPS/PRIME-style {"inputs","outputs","fn_name"}).
// * Composite reward = w_accuracy*accuracy + w_format*format + w_language*language + w_length*length_penalty, each
//   component reported separately (rewards.md / README have the exact definitions):
//     format    1 when the reasoning is closed by exactly one `</think>` (also when the chat template prefilled
//               `<think>\n` so the completion holds only the closing tag) and the answer is marked (`\boxed{}` or
//               `Answer: X`; a fenced block for code), else 0;
//     language  the share of the reasoning's words in the target language's scripts (0 when it has no words);
//     length    DAPO's overlong penalty in [-1, 0] (off unless max_length > 0).
// * A reward is MISSING (unset; None/NaN in Python, null over HTTP), never 0, when grading failed (verdict
//   infra_error), when the math grader ran out of time before deciding ("undecided", verdict stays wrong), or when
//   a batch item was not graded by its deadline. Batches count them (BatchStats) so a trainer can drop or retry.
// * RewardScorer owns a GraderSet and a JobPool. score() grades on the calling thread; score_batch() splits the
//   items into chunks on the pool and waits up to the per-item deadline; items still queued then are skipped,
//   items already running finish in the background (every grader bounds its own time) and their results are
//   dropped. Thread-safe: many threads may call score_batch() at once and share the pool.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/finish_reason.hpp"
#include "base/verdict.hpp"
#include "graders/grading.hpp"

namespace reval {
class JobPool;
}

namespace reval::rewards {

// ---------------------------------------------------------------------------------------------------------------
// Routing.
struct Route {
  std::string grader;                               // a GraderSet name: math | choice | code
  nlohmann::json fields = nlohmann::json::object(); // default grader fields (e.g. {"choices": "ABCDEFGHIJ"})
  std::string matched;                              // the table entry that matched ("aime*", "math", ...)
};

// Task kinds map to themselves; data sources go through the table below (case-sensitive names, `*` = any suffix).
// Throws reval::Error naming the source and listing the known names.
Route route(std::string_view kind_or_source);
// The table, for error messages and documentation: {pattern, grader}.
const std::vector<std::pair<std::string, std::string>>& source_table();

// ---------------------------------------------------------------------------------------------------------------
// Options (plain structs; every field can be set from JSON with the same name, see RewardOptions::from_json).
struct RewardWeights {
  double accuracy = 1.0;
  double format = 0.0;
  double language = 0.0;
  double length = 1.0;  // applies only when LengthPenalty::max_length > 0
};

struct FormatOptions {
  bool require_think = true;  // the reasoning must be closed by `</think>` (false: only the answer mark counts)
};

// DAPO's overlong reward shaping: 0 up to max_length - buffer, then linear down to -1 at max_length, -1 beyond.
struct LengthPenalty {
  std::int64_t max_length = 0;  // 0: no length component
  std::int64_t buffer = 0;      // the soft zone; 0: a step from 0 to -1 past max_length
};

struct RewardOptions {
  RewardWeights weights;
  FormatOptions format;
  LengthPenalty length;
  // Target of the language component: a language code ("en", "zh", "ja", "ru", ...) or a script name ("Latin",
  // "Han", "Cyrillic", ...). Empty: no language component.
  std::string language;
  // Every item of a batch must be graded within deadline_s of the call, or its reward is missing ("deadline").
  // 0: no deadline (each grader still bounds its own time).
  double deadline_s = 0;
  // A math comparison that ran out of time (details.timeout) gives a missing reward ("undecided") instead of 0.
  bool undecided_is_missing = true;

  // Keys: accuracy_weight, format_weight, language_weight, length_weight (or "weights": {accuracy, format, ...}),
  // require_think, max_length, length_buffer, language, deadline_s, undecided_is_missing. Unknown keys and bad
  // types throw reval::Error naming the key.
  static RewardOptions from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

// ---------------------------------------------------------------------------------------------------------------
// Components (pure functions, thread-safe).
struct FormatCheck {
  bool think_closed = false;   // exactly one `</think>`, opened by `<think>` or by the prompt's prefill
  bool answer_marked = false;  // \boxed{...} or "Answer: X" (code: a fenced block) after the reasoning
  std::string reason;          // why not, for the first failed check
  double score(const FormatOptions& o) const { return ((think_closed || !o.require_think) && answer_marked) ? 1 : 0; }
};
// `grader` picks the answer mark (math/choice: box or Answer:, code: fence). `prompt`: when given, says whether
// the chat template prefilled `<think>` (then the completion must not open it again); empty: either form passes.
// The answer is looked for where the graders look (strip_reasoning() in base/reasoning.hpp, which needs `finish`).
FormatCheck check_format(std::string_view response, std::string_view grader, std::string_view prompt = {},
                         FinishReason finish = FinishReason::stop);

struct LanguageCheck {
  double share = 0;          // target words / counted words (0 when there are none)
  std::size_t words = 0;     // counted words (runs of letters of one script; one per Han/kana/Thai character)
  std::size_t target_words = 0;
  std::string top_script;    // the script with the most words
};
// The scripts a target names ("zh" -> Han; "ja" -> Han, Hiragana, Katakana; "Latin" -> Latin). Throws reval::Error
// for an unknown target, listing the known ones.
std::vector<std::string> target_scripts(std::string_view target);
// Share of the reasoning (the text before the last `</think>`, or all of it when there is none) written in the
// target's scripts. Math spans ($..$, \(..\), \[..\]), LaTeX commands, code (fenced and inline), the think tags and single letters
// of alphabetic scripts (variables) are not counted.
LanguageCheck check_language(std::string_view response, std::string_view target);
// The Unicode script of a code point as this component groups them: "Latin", "Greek", "Cyrillic", "Armenian",
// "Hebrew", "Arabic", "Devanagari", "Bengali", "Thai", "Georgian", "Hangul", "Hiragana", "Katakana", "Han", or
// "Other".
std::string_view script_of(char32_t cp);

// In [-1, 0]; `length` in whatever unit max_length uses (tokens when the caller has them, else code points).
double length_penalty(std::int64_t length, const LengthPenalty& p);

// ---------------------------------------------------------------------------------------------------------------
// Items and results.
struct RewardItem {
  std::string source = "math";  // task kind or data source (see route())
  std::string response;         // the completion (for OpenRLHF: the query with the prompt cut off)
  nlohmann::json gold;          // gold answers as gold_answers() reads them (code: null, the tests are in fields)
  nlohmann::json fields = nlohmann::json::object();  // grader fields, merged over the route's defaults
  FinishReason finish = FinishReason::stop;
  std::string prompt;                  // optional: lets the format check see a prefilled `<think>`
  std::optional<std::int64_t> length;  // optional response length in tokens for the length penalty
};

// Turns ground truth as trainers keep it into an item. Math/choice: the ground truth is the gold (string, number
// or list); a JSON object with "gold"/"answer" also works. Code: a JSON object or a JSON-encoded string holding
// reval's grader fields ("tests", "test"+"entry_point", "fn_name", "checker", ...) or APPS/PRIME-style
// {"inputs": [...], "outputs": [...], "fn_name"?}. extra_info (optional object): "fields" (merged into the
// grader fields), "choices"/"options" (choice), "finish_reason", "chat_prompt", "length". Throws reval::Error naming the
// field for ground truth it cannot read, and for an unknown source. ("chat_prompt" is the prompt exactly as the
// model continued it, chat template included: the format check reads a prefilled `<think>` from it.)
RewardItem item_from_ground_truth(std::string_view source, std::string response, const nlohmann::json& ground_truth,
                                  const nlohmann::json& extra_info = nullptr);
// The same with the route already resolved (RewardScorer::route() knows custom routes too).
RewardItem item_from_ground_truth(const Route& route, std::string_view source, std::string response,
                                  const nlohmann::json& ground_truth, const nlohmann::json& extra_info = nullptr);

// A `reval grade` input line (see request_from_line() in grading.hpp) as an item graded by `grader`: exactly the
// request `reval grade --grader GRADER` builds from it. Returns "" or a message naming the field.
std::string item_from_line(const nlohmann::json& line, const std::string& grader, RewardItem& out);

struct RewardResult {
  std::optional<double> reward;  // the weighted sum; unset = missing (see `missing`)
  Verdict verdict = Verdict::infra_error;
  double accuracy = 0;           // the grader's score in [0, 1] (0 when missing)
  std::optional<double> format, language, length;  // components that were computed
  std::optional<std::string> extracted;
  std::string source, grader, grader_version;
  std::string missing;           // "", "infra_error", "undecided", "deadline"
  nlohmann::json details = nlohmann::json::object();  // the grader's details (+ "format", "language" checks)

  // {"reward", "verdict", "accuracy", "components": {...}, "extracted", "source", "grader", "grader_version",
  //  "missing", "details"}; a missing reward is null.
  nlohmann::json to_json() const;
};

struct BatchStats {
  std::int64_t items = 0;
  std::int64_t missing = 0;       // infra_errors + undecided + deadline
  std::int64_t infra_errors = 0;
  std::int64_t undecided = 0;
  std::int64_t deadline = 0;
  std::map<std::string, std::int64_t> verdicts;
  nlohmann::json to_json() const;
  void add(const RewardResult& r);
};

class RewardScorer {
 public:
  // `grader_options` go to every grader made (e.g. {"timeout_s": 2}); `workers` <= 0: hardware_threads().
  explicit RewardScorer(nlohmann::json grader_options = nlohmann::json::object(), int workers = 0);
  ~RewardScorer();  // waits for jobs still running (items abandoned at a deadline)
  RewardScorer(const RewardScorer&) = delete;
  RewardScorer& operator=(const RewardScorer&) = delete;

  // Grades on the calling thread. Never throws for a bad response; a bad item (unknown source, unreadable fields)
  // is a missing reward with verdict infra_error and details {"stage": "input", "error": ...}.
  RewardResult score(const RewardItem& item, const RewardOptions& options = {});
  // Grades on the pool (see the theory of operation); results in item order. `stats` (optional) gets the counts.
  std::vector<RewardResult> score_batch(std::vector<RewardItem> items, const RewardOptions& options = {},
                                        BatchStats* stats = nullptr);

  GraderSet& graders() { return graders_; }  // e.g. to add a custom grader (tests add fakes)
  // Registers a data source (or kind) name for a grader, ahead of the built-in table.
  void add_route(const std::string& source, Route route);
  // The route of a source: the registered ones first, then rewards::route() (which throws for unknown names).
  Route route(const std::string& source) const;
  int workers() const;
  // How many score_batch() calls were running at once, at most, since construction (concurrency evidence).
  int max_concurrent_batches() const { return max_batches_.load(); }

 private:
  RewardResult grade_one(const RewardItem& item, const RewardOptions& options);
  GraderSet graders_;
  std::unique_ptr<JobPool> pool_;
  std::map<std::string, Route> custom_routes_;
  std::atomic<int> batches_{0}, max_batches_{0};
};

// Combines a graded sample with the components: the composite reward, missing rules, details. Exposed so other
// front ends that already hold a GradedSample produce exactly the same result.
RewardResult make_result(const RewardItem& item, const Route& route, const GradedSample& graded,
                         const RewardOptions& options);

}  // namespace reval::rewards
