// JSON Lines reading shared by every loader and batch command. Each line is validated as UTF-8 and parsed; a bad
// line is reported with its 1-based number instead of aborting the whole file, so callers decide whether a bad
// row fails the load (task loaders) or yields an error record (batch grading).
#pragma once
#include <cstdint>
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
  std::string error;                  // why the line could not be parsed (invalid UTF-8, JSON syntax, nesting
                                      // deeper than kMaxJsonDepth, a number out of range)
  std::string raw;                    // the line's text (without the newline)
};

// Deepest nesting of arrays/objects accepted in any JSON reval reads. Real files nest a handful of levels; a
// pathological line nested 70,000 deep would otherwise exhaust the stack of the recursive consumers (dump,
// comparisons, templates).
inline constexpr int kMaxJsonDepth = 512;

// Empty when `text` nests arrays and objects at most `max_depth` deep (a linear scan that skips strings), else a
// message saying so.
std::string json_depth_error(std::string_view text, int max_depth = kMaxJsonDepth);

// Parses JSON with the depth bound; any failure (syntax, depth, a number out of range such as 1e999999) throws
// reval::Error "SOURCE: invalid JSON: ...".
nlohmann::json parse_json(std::string_view text, std::string_view source);

// Calls `fn` for every non-blank line of `text`. Blank lines (only whitespace) are skipped.
void for_each_jsonl(std::string_view text, const std::function<void(JsonlLine&)>& fn);
// Reads a whole file (plain or .gz) and calls for_each_jsonl. Throws reval::Error if the file can't be read.
void for_each_jsonl_file(const std::string& path, const std::function<void(JsonlLine&)>& fn);

// Reads a whole file into memory; `.gz` files are decompressed and checked whole (CRC-32 and length of every
// member: a cut or damaged file is an error, never a shorter text). Throws reval::Error naming the path on failure.
std::string read_file(const std::string& path);

// Decompresses gzip data (one or more members), checking each member's trailer. Throws reval::Error naming
// `source` when the data is truncated, corrupt or would decompress to more than `max_bytes`.
std::string gunzip(std::string_view data, std::string_view source, std::uint64_t max_bytes = std::uint64_t{16} << 30);

}  // namespace reval
