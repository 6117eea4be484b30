// Per-sample inspection and export: what `reval samples` prints and `reval export` writes. Every stored sample of
// the selected runs, filtered by task, problem, verdict and truncation (SampleQuery), with the prompt the model saw,
// the completion, the extracted answer, the gold answers, the verdict, the grader's details, token counts and the
// finish reason.
//
// Formats:
// - text  : for reading in a terminal; each problem's prompt, gold and metadata once, then its samples.
// - jsonl : one JSON object per sample (the columns below; gold, metadata and grade_details as JSON values).
// - csv   : RFC 4180, one row per sample with the same columns (JSON values as JSON text, booleans true/false,
//           missing numbers empty).
// Rows are streamed from the store (SampleStore::for_each_sample) and written one at a time, so memory stays
// bounded whatever the size of the run; nothing is parsed on the way (stored JSON is copied as it is, and text that
// is not valid UTF-8 is repaired with the one U+FFFD policy of base/utf8.hpp).
//
// Columns: run, run_id, model, task, problem_id, sample_index, verdict (sample_status: a verdict, "infra_error" for
// a failed generation, "ungraded"), correct, score, extracted, gold, finish_reason, truncated, prompt_tokens,
// completion_tokens, completion_chars, latency_s, seed, error, grader, grader_version, grade_details, metadata,
// prompt, completion, created_at, graded_at.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "results/store.hpp"

namespace reval {

enum class SampleFormat { text, jsonl, csv };
// "text" | "jsonl" | "csv"; throws reval::Error listing them otherwise.
SampleFormat sample_format_from_string(std::string_view s);

struct SampleExportOptions {
  std::vector<std::string> runs;   // names or ids (resolve_run); at least one
  SampleQuery query;               // task, problem, verdicts, truncated; head/tail are set from max_chars
  SampleFormat format = SampleFormat::jsonl;
  bool prompts = true;             // include the prompt (text: once per problem)
  // Completions longer than this many characters are cut to their first quarter and last three quarters (where the
  // final answer is) with a note of how much was left out; 0 = whole completions (the default; exports are whole).
  std::int64_t max_chars = 0;
};

struct SampleExportStats {
  std::int64_t rows = 0;           // samples written
  std::int64_t bytes = 0;          // bytes written
};

// Writes the selected samples of every run in `options.runs` to `out`, in run order, then task, problem, index.
// Throws reval::Error for an unknown run, format or verdict name, or when writing fails.
SampleExportStats export_samples(SampleStore& store, const SampleExportOptions& options, std::ostream& out);

// The export columns, in order (the CSV header).
const std::vector<std::string>& sample_export_columns();

// Appends `s` as a JSON string literal (quotes included); invalid UTF-8 becomes U+FFFD. With html_safe, '<', '>'
// and '&' are written as \u escapes too, so the JSON can sit inside an HTML <script> element.
void append_json_string(std::string& out, std::string_view s, bool html_safe = false);

}  // namespace reval
