// Small self-contained codecs the loaders need, exposed for tests: an RFC-4180 CSV parser (shared by GPQA and
// MMLU), base64, zlib inflate, a decoder for a pickled Python str (LiveCodeBench private tests), and seeded
// shuffles driven by base/hash.hpp's splitmix64 (identical on every platform, unlike std:: distributions).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/hash.hpp"

namespace reval::formats {

struct CsvRecord {
  std::int64_t line = 0;               // 1-based line on which the record starts
  std::vector<std::string> fields;
};
// Parses RFC-4180 CSV: fields separated by commas, records by LF or CRLF; quoted fields may hold commas, newlines
// and doubled quotes (""). A final newline is optional; blank lines between records are skipped. `source` names
// the file in errors (unterminated quote, text after a closing quote).
std::vector<CsvRecord> parse_csv(std::string_view text, std::string_view source);

// Standard base64 (RFC 4648, '=' padding, whitespace ignored). Throws reval::Error on any other character.
std::string base64_decode(std::string_view text);
// Decompresses a zlib stream (RFC 1950). Throws reval::Error if the stream is corrupt or truncated.
std::string zlib_inflate(std::string_view data);
// Decodes a pickle (protocols 2-5) whose whole value is one str: PROTO, FRAME, SHORT_BINUNICODE, BINUNICODE,
// BINUNICODE8, MEMOIZE, STOP. Any other opcode throws reval::Error naming it and its offset.
std::string unpickle_str(std::string_view data);

// Reads one member of a (possibly encrypted) zip archive. The directory's size claim is never trusted for an
// allocation: members above 256 MB are refused, and the data must end exactly at the claimed size. Throws
// reval::Error naming the archive and member.
std::string read_zip_member(const std::string& zip_path, const char* member, const std::string& password);

using reval::SplitMix64;  // base/hash.hpp
using reval::fnv1a64;
// A permutation of 0..n-1 by Fisher-Yates driven by `rng`.
std::vector<int> shuffled_indices(int n, SplitMix64& rng);

}  // namespace reval::formats
