// Internal pieces of the tokenizer, shared by the .cpp files of model/tokenizer/ and by its tests (not part of the
// public API; the engine uses tokenizer.hpp only).
//
// Theory of operation (encode):
//   text --(sanitize UTF-8)--> split on non-normalized added tokens (leftmost-longest)
//        --> each remaining piece: normalizer (NFC / Prepend+Replace / ...) --> split on normalized added tokens
//        --> each remaining piece: pre-tokenizer steps (Split regex, ByteLevel, Metaspace, ...) --> words
//        --> each word: BPE model (byte-level or character-level with byte fallback / unk) --> ids
//        --> post-processor (TemplateProcessing etc.) when add_special_tokens.
// Byte-level BPE works on raw bytes internally: the vocabulary is converted from the GPT-2 byte<->unicode alphabet
// to raw bytes once at load time, so no per-call remapping is needed.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tokenizer/tokenizer.hpp"
#include "base/utf8.hpp"

namespace re2 {
class RE2;
}

namespace reval::tok {

// Hash maps keyed by std::string that can be probed with a string_view (no temporary strings).
struct StrHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using StrIdMap = std::unordered_map<std::string, TokenId, StrHash, std::equal_to<>>;

// ---- UTF-8 and Unicode helpers (unicode.cpp) ----
// Decodes one code point at s[i]; returns its byte length (1 for an invalid byte, with cp = -1).
bool is_unicode_whitespace(std::int32_t cp);  // Unicode White_Space (Rust char::is_whitespace, Oniguruma \s)
bool is_word_char(std::int32_t cp);           // alphanumeric or '_' (for single_word added tokens)
// Unicode normalization forms through utf8proc. `form` is "NFC", "NFD", "NFKC" or "NFKD".
std::string unicode_normalize(std::string_view s, std::string_view form);
std::string unicode_lowercase(std::string_view s);

// GPT-2 byte-level alphabet: every byte has a printable code point; the table and its inverse.
struct ByteLevelTable {
  std::array<std::string, 256> byte_to_utf8;          // byte -> UTF-8 of its code point
  std::array<std::int16_t, 324> cp_to_byte{};         // code point -> byte, -1 if not in the alphabet
  static const ByteLevelTable& get();
  // Maps a byte-level token string back to raw bytes. Returns nullopt if a char is outside the alphabet.
  std::optional<std::string> to_bytes(std::string_view token) const;
  std::string from_bytes(std::string_view bytes) const;
};

// ---- Regex split (pretokenizer.cpp) ----
// A Hugging Face `Split`/ByteLevel regex run with RE2. Oniguruma's Unicode \s, \S, \d, \w are rewritten to explicit
// classes; the one look-ahead these tokenizers use, a trailing `\s+(?!\S)|\s+` (or `\s+(?!\S)`), is emulated:
// the whitespace run is matched by hand and gives back its last character when a non-space follows, as the
// backtracking engine does. Any other look-around is rejected with an error.
class RegexSplitter {
 public:
  explicit RegexSplitter(const std::string& pattern);  // throws reval::Error (message without location)
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;
  // Appends to `out` the matches (is_match=true) and the gaps between them (is_match=false), in order, covering `s`.
  struct Piece {
    std::string_view text;
    bool is_match;
  };
  void find_all(std::string_view s, std::vector<Piece>& out) const;

 private:
  std::unique_ptr<re2::RE2> head_;  // the pattern without the emulated whitespace tail (may be null if empty)
  bool tail_lookahead_ = false;     // the pattern ended with \s+(?!\S)
  bool tail_plain_ = false;         // ... followed by |\s+
};
// Rewrites an Oniguruma/Rust-regex pattern into RE2 syntax (exposed for tests).
std::string translate_regex(std::string_view pattern);

// ---- BPE model (bpe.cpp) ----
struct BpeOptions {
  bool byte_level = false;      // words are raw bytes, initial symbols are single bytes
  bool byte_fallback = false;   // unknown chars -> <0xXX> tokens when all exist
  bool fuse_unk = false;
  bool ignore_merges = false;   // a word present in the vocab is one token
  std::optional<TokenId> unk_id;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
};

class BpeModel {
 public:
  struct MergeRule {
    TokenId left, right, result;
  };
  // vocab: token (in internal form: raw bytes for byte-level) -> id. merges: id triples in rank order (the caller
  // resolved the strings and reports missing ones).
  BpeModel(StrIdMap vocab, const std::vector<MergeRule>& merges, BpeOptions options);
  // Appends the ids of one pre-tokenized word.
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;
  const StrIdMap& vocab() const { return vocab_; }

 private:
  struct Symbol {
    TokenId id;
    std::int32_t prev, next;
    std::uint32_t len;  // bytes covered
  };
  void initial_symbols(std::string_view word, std::vector<Symbol>& syms) const;
  void merge_all(std::vector<Symbol>& syms) const;
  std::optional<TokenId> lookup(std::string_view s) const;

  StrIdMap vocab_;
  struct MergeInfo {
    std::int32_t rank;
    TokenId result;
  };
  std::unordered_map<std::uint64_t, MergeInfo> merges_;
  BpeOptions opt_;
  std::array<TokenId, 256> byte_ids_{};                // byte-level: id of each single byte (-1 if absent)
  std::array<TokenId, 256> fallback_ids_{};            // byte_fallback: id of <0xXX> (-1 if absent)

  // Thread-safe word cache: sharded, each shard a mutex-protected map, cleared when it grows past a bound.
  static constexpr int kShards = 64;
  static constexpr std::size_t kShardCapacity = 4096;
  static constexpr std::size_t kMaxCachedWordBytes = 256;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<TokenId>, StrHash, std::equal_to<>> map;
  };
  std::unique_ptr<Shard[]> cache_;
};

}  // namespace reval::tok
