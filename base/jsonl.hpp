// JSON Lines reading shared by every loader and batch command. Each line is validated as UTF-8 and parsed; a bad
// line is reported with its 1-based number instead of aborting the whole file, so callers decide whether a bad
// row fails the load (task loaders) or yields an error record (batch grading).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/utf8.hpp"  // is_valid_utf8, sanitize_utf8

namespace reval {

struct JsonlLine {
  std::int64_t line = 0;              // 1-based line number in the file
  std::optional<nlohmann::json> value;  // parsed value; empty when `error` is set
  std::string error;                  // why the line could not be parsed (invalid UTF-8, JSON syntax)
  std::string raw;                    // the line's text (without the newline)
};

// Calls `fn` for every non-blank line of `text`. Blank lines (only whitespace) are skipped.
void for_each_jsonl(std::string_view text, const std::function<void(JsonlLine&)>& fn);
// Reads a whole file (plain or .gz) and calls for_each_jsonl. Throws reval::Error if the file can't be read.
void for_each_jsonl_file(const std::string& path, const std::function<void(JsonlLine&)>& fn);

// Reads a whole file into memory; `.gz` files are decompressed. Throws reval::Error naming the path on failure.
std::string read_file(const std::string& path);

}  // namespace reval
