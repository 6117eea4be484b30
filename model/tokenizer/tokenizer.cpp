// HfTokenizer: loads a Hugging Face tokenizer.json and runs the same pipeline as `tokenizers`.
//
// Theory of operation:
//  * Loading turns every JSON component into a small list of steps (normalizer steps, pre-tokenizer steps,
//    decoder steps, post-processor prefix/suffix ids) and builds the BPE model (bpe.cpp). Malformed input throws
//    reval::Error "FILE: field 'x': what" (fail_at).
//  * encode(): sanitize UTF-8 -> cut out added tokens that are matched on raw text (normalized=false) -> normalize
//    each remaining piece -> cut out added tokens matched on normalized text -> pre-tokenize -> BPE per word ->
//    post-processor ids when add_special_tokens. Added-token matching is leftmost-longest with HF's
//    single_word / lstrip / rstrip handling.
//  * decode(): ids -> token strings (added tokens by content) -> decoder steps. A decoder that is exactly
//    ByteLevel (Qwen, Llama 3) takes a fast path over precomputed raw bytes per id. For SentencePiece-style
//    decoders (no ByteLevel step) a special token that follows a non-special token gets a leading space, as
//    transformers' decode does (the TinyStories goldens show `<unk>` decoded as " <unk>").
// Everything is immutable after loading; the BPE word cache is internally synchronized.
#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include "model/tokenizer/internal.hpp"
#include "base/error.hpp"
#include "base/utf8.hpp"
#include "base/jsonl.hpp"

namespace reval {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

struct AddedToken {
  TokenId id = 0;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

// Leftmost-longest matcher over a set of strings (added tokens), with HF's flag handling.
class AddedMatcher {
 public:
  void add(std::string pattern, const AddedToken* tok) {
    if (pattern.empty()) return;
    auto& list = by_first_[static_cast<unsigned char>(pattern[0])];
    list.push_back({std::move(pattern), tok});
    std::stable_sort(list.begin(), list.end(),
                     [](const Entry& a, const Entry& b) { return a.pattern.size() > b.pattern.size(); });
    any_ = true;
  }
  bool empty() const { return !any_; }

  struct Split {
    std::string_view text;
    const AddedToken* token;  // null for plain text
  };
  void split(std::string_view s, std::vector<Split>& out) const {
    if (!any_) {
      out.push_back({s, nullptr});
      return;
    }
    std::size_t start_offset = 0, i = 0;
    while (i < s.size()) {
      const auto& list = by_first_[static_cast<unsigned char>(s[i])];
      const Entry* hit = nullptr;
      for (const Entry& e : list) {
        if (s.size() - i >= e.pattern.size() && s.compare(i, e.pattern.size(), e.pattern) == 0) {
          hit = &e;
          break;
        }
      }
      if (!hit) {
        ++i;
        continue;
      }
      std::size_t start = i, stop = i + hit->pattern.size();
      const AddedToken& t = *hit->token;
      i = stop;
      if (t.single_word) {
        bool start_space = start == 0 || !ends_with_word(s.substr(0, start));
        bool stop_space = stop == s.size() || !starts_with_word(s.substr(stop));
        if (!start_space || !stop_space) continue;
      }
      if (t.lstrip) {
        std::size_t ns = start;
        while (ns > 0) {
          std::size_t p = ns - 1;
          while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
          std::int32_t cp;
          utf8_decode(s, p, cp);
          if (!tok::is_unicode_whitespace(cp)) break;
          ns = p;
        }
        start = std::max(ns, start_offset);
      }
      if (t.rstrip) {
        while (stop < s.size()) {
          std::int32_t cp;
          std::size_t n = utf8_decode(s, stop, cp);
          if (!tok::is_unicode_whitespace(cp)) break;
          stop += n;
        }
        i = stop;
      }
      if (start_offset < start) out.push_back({s.substr(start_offset, start - start_offset), nullptr});
      out.push_back({s.substr(start, stop - start), &t});
      start_offset = stop;
    }
    if (start_offset < s.size() || out.empty()) out.push_back({s.substr(start_offset), nullptr});
  }

 private:
  static bool ends_with_word(std::string_view s) {
    if (s.empty()) return false;
    std::size_t p = s.size() - 1;
    while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
    std::int32_t cp;
    utf8_decode(s, p, cp);
    return tok::is_word_char(cp);
  }
  static bool starts_with_word(std::string_view s) {
    if (s.empty()) return false;
    std::int32_t cp;
    utf8_decode(s, 0, cp);
    return tok::is_word_char(cp);
  }
  struct Entry {
    std::string pattern;
    const AddedToken* token;
  };
  std::array<std::vector<Entry>, 256> by_first_;
  bool any_ = false;
};

// ---- normalizer ----
struct NormStep {
  enum Kind { kUnicode, kLowercase, kPrepend, kReplace, kReplaceRegex, kStrip } kind;
  std::string a, b;  // kUnicode: form; kPrepend: text; kReplace: pattern, content
  bool left = false, right = false;
  std::shared_ptr<re2::RE2> re;
};

// ---- pre-tokenizer ----
enum class Behavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };
enum class Prepend { kAlways, kFirst, kNever };
struct PreStep {
  enum Kind { kSplit, kByteLevel, kMetaspace, kWhitespaceSplit } kind;
  std::shared_ptr<tok::RegexSplitter> re;  // kSplit, kByteLevel with use_regex
  Behavior behavior = Behavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;
  std::string replacement;  // kMetaspace
  Prepend prepend = Prepend::kAlways;
  bool split = true;
};

// ---- decoder ----
struct DecStep {
  enum Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip, kMetaspace } kind;
  std::string a, b;  // kReplace: pattern, content; kStrip: content; kMetaspace: replacement
  int start = 0, stop = 0;
  Prepend prepend = Prepend::kAlways;
};

const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open tokenizer file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  std::size_t pos = 0;
  while (true) {
    std::size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  if (pos == 0) return;
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

class HfTokenizer final : public Tokenizer {
 public:
  HfTokenizer(const std::string& path, const json& j, const json* config) : path_(path) {
    load_added(j);
    load_model(j);
    if (j.contains("normalizer") && !j["normalizer"].is_null()) load_normalizer(j["normalizer"], "normalizer");
    if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null())
      load_pre_tokenizer(j["pre_tokenizer"], "pre_tokenizer");
    if (j.contains("decoder") && !j["decoder"].is_null()) {
      load_decoder(j["decoder"], "decoder");
      has_decoder_ = true;
    }
    if (j.contains("post_processor") && !j["post_processor"].is_null())
      load_post_processor(j["post_processor"], "post_processor");
    finish(config);
  }

  std::vector<TokenId> encode(std::string_view text, bool add_special_tokens) const override {
    std::string sanitized;
    if (!is_valid_utf8(text)) {
      sanitized = sanitize_utf8(text);
      text = sanitized;
    }
    std::vector<TokenId> ids;
    ids.reserve(text.size() / 3 + 4);
    if (add_special_tokens) ids.insert(ids.end(), prefix_ids_.begin(), prefix_ids_.end());
    std::vector<AddedMatcher::Split> outer;
    raw_matcher_.split(text, outer);
    std::vector<AddedMatcher::Split> inner;
    std::vector<std::string_view> words;
    std::deque<std::string> storage;
    for (const auto& piece : outer) {
      if (piece.token) {
        ids.push_back(piece.token->id);
        continue;
      }
      if (piece.text.empty()) continue;
      const bool first = piece.text.data() == text.data();
      std::string normalized;
      std::string_view norm_view = piece.text;
      if (!norm_steps_.empty()) {
        normalized = normalize(piece.text);
        norm_view = normalized;
      }
      inner.clear();
      norm_matcher_.split(norm_view, inner);
      for (const auto& sub : inner) {
        if (sub.token) {
          ids.push_back(sub.token->id);
          continue;
        }
        if (sub.text.empty()) continue;
        words.clear();
        storage.clear();
        words.push_back(sub.text);
        pre_tokenize(words, storage, first && sub.text.data() == norm_view.data());
        for (std::string_view w : words) bpe_->encode_word(w, ids);
      }
    }
    if (add_special_tokens) ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
    return ids;
  }

  std::string decode(std::span<const TokenId> ids, bool skip_special_tokens) const override {
    if (byte_level_decode_) {
      std::string bytes;
      for (TokenId id : ids) {
        if (id < 0 || static_cast<std::size_t>(id) >= decode_bytes_.size()) continue;
        if (skip_special_tokens && is_special(id)) continue;
        bytes += decode_bytes_[static_cast<std::size_t>(id)];
      }
      return sanitize_utf8(bytes);
    }
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    bool prev_special = false;
    for (TokenId id : ids) {
      if (id < 0 || static_cast<std::size_t>(id) >= id_to_token_.size()) continue;
      const bool special = is_special(id);
      if (skip_special_tokens && special) continue;
      const std::string& t = id_to_token_[static_cast<std::size_t>(id)];
      if (special && space_before_special_ && !tokens.empty() && !prev_special) tokens.push_back(" " + t);
      else tokens.push_back(t);
      prev_special = special;
    }
    if (!has_decoder_) {
      std::string out;
      for (std::size_t k = 0; k < tokens.size(); ++k) {
        if (k) out += ' ';
        out += tokens[k];
      }
      return out;
    }
    for (const DecStep& step : dec_steps_) apply_decoder(step, tokens);
    std::string out;
    for (const auto& t : tokens) out += t;
    return out;
  }

  int vocab_size() const override { return static_cast<int>(id_to_token_.size()); }
  std::optional<TokenId> token_to_id(std::string_view token) const override {
    auto it = token_to_id_.find(token);
    if (it == token_to_id_.end()) return std::nullopt;
    return it->second;
  }
  std::string id_to_token(TokenId id) const override {
    if (id < 0 || static_cast<std::size_t>(id) >= id_to_token_.size()) return {};
    return id_to_token_[static_cast<std::size_t>(id)];
  }
  bool is_special(TokenId id) const override {
    return id >= 0 && static_cast<std::size_t>(id) < special_.size() && special_[static_cast<std::size_t>(id)];
  }
  std::optional<TokenId> bos_id() const override { return bos_id_; }
  std::optional<TokenId> eos_id() const override { return eos_id_; }
  std::string bos_token() const override { return bos_id_ ? id_to_token(*bos_id_) : std::string(); }
  std::string eos_token() const override { return eos_id_ ? id_to_token(*eos_id_) : std::string(); }

 private:
  [[noreturn]] void fail(std::string_view field, std::string_view msg) const { fail_at(path_, 0, field, msg); }

  // Every token id read from the file: an integer in [0, kMaxTokenId] (ids index dense tables, so a stray 2^33 must
  // be an error, not a wrap-around to some other id or a huge allocation).
  static constexpr std::int64_t kMaxTokenId = (std::int64_t{1} << 24) - 1;
  TokenId token_id(const json& v, const std::string& field) const {
    if (!v.is_number_integer()) fail(field, "expected an integer token id");
    if (v.is_number_unsigned() ? v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxTokenId)
                               : (v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > kMaxTokenId))
      fail(field, "token id " + v.dump() + " out of range [0, " + std::to_string(kMaxTokenId) + "]");
    return static_cast<TokenId>(v.get<std::int64_t>());
  }

  static std::string get_string(const json& j, const char* key, const std::string& dflt = {}) {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return dflt;
    return j[key].is_string() ? j[key].get<std::string>() : dflt;
  }
  static bool get_bool(const json& j, const char* key, bool dflt) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_boolean()) return dflt;
    return j[key].get<bool>();
  }
  std::string type_of(const json& j, const std::string& field) const {
    if (!j.is_object()) fail(field, "expected an object");
    if (!j.contains("type") || !j["type"].is_string()) fail(field + ".type", "missing or not a string");
    return j["type"].get<std::string>();
  }

  void load_added(const json& j) {
    if (!j.contains("added_tokens")) return;
    const json& arr = j["added_tokens"];
    if (!arr.is_array()) fail("added_tokens", "expected an array");
    for (std::size_t k = 0; k < arr.size(); ++k) {
      const json& e = arr[k];
      std::string field = "added_tokens[" + std::to_string(k) + "]";
      if (!e.is_object() || !e.contains("id") || !e["id"].is_number_integer() || !e.contains("content") ||
          !e["content"].is_string())
        fail(field, "expected an object with integer 'id' and string 'content'");
      AddedToken t;
      t.id = token_id(e["id"], field + ".id");
      t.content = e["content"].get<std::string>();
      t.single_word = get_bool(e, "single_word", false);
      t.lstrip = get_bool(e, "lstrip", false);
      t.rstrip = get_bool(e, "rstrip", false);
      t.normalized = get_bool(e, "normalized", !get_bool(e, "special", false));
      t.special = get_bool(e, "special", false);
      added_.push_back(std::move(t));
    }
  }

  void load_model(const json& j) {
    if (!j.contains("model") || !j["model"].is_object()) fail("model", "missing or not an object");
    const json& m = j["model"];
    std::string type = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>()
                                                                    : (m.contains("merges") ? "BPE" : "");
    if (type != "BPE")
      fail("model.type", "unsupported tokenizer model type '" + type + "' (only BPE is implemented)");
    if (!m.contains("vocab") || !m["vocab"].is_object()) fail("model.vocab", "missing or not an object");
    if (!m.contains("merges") || !m["merges"].is_array()) fail("model.merges", "missing or not an array");
    if (m.contains("dropout") && m["dropout"].is_number() && m["dropout"].get<double>() > 0.0)
      fail("model.dropout", "BPE dropout is not supported");

    // Is the vocabulary in the GPT-2 byte-level alphabet? Decided by the pre-tokenizer containing ByteLevel.
    byte_level_ = j.contains("pre_tokenizer") && j["pre_tokenizer"].dump().find("\"ByteLevel\"") != std::string::npos;
    const auto& table = tok::ByteLevelTable::get();
    auto internal = [&](const std::string& s) -> std::string {
      if (!byte_level_) return s;
      auto b = table.to_bytes(s);
      return b ? *b : s;
    };

    tok::StrIdMap bpe_vocab;
    const json& jv = m["vocab"];
    bpe_vocab.reserve(jv.size());
    token_to_id_.reserve(jv.size() + added_.size());
    TokenId max_id = -1;
    for (auto it = jv.begin(); it != jv.end(); ++it) {
      TokenId id = token_id(it.value(), "model.vocab['" + it.key() + "']");
      max_id = std::max(max_id, id);
    }
    for (const auto& t : added_) max_id = std::max(max_id, t.id);
    id_to_token_.assign(static_cast<std::size_t>(max_id + 1), std::string());
    special_.assign(static_cast<std::size_t>(max_id + 1), false);
    if (byte_level_) decode_bytes_.assign(static_cast<std::size_t>(max_id + 1), std::string());
    for (auto it = jv.begin(); it != jv.end(); ++it) {
      auto id = it.value().get<TokenId>();
      const auto uid = static_cast<std::size_t>(id);
      id_to_token_[uid] = it.key();
      token_to_id_.emplace(it.key(), id);
      if (byte_level_) {
        decode_bytes_[uid] = internal(it.key());
        bpe_vocab.emplace(decode_bytes_[uid], id);
      } else {
        bpe_vocab.emplace(it.key(), id);
      }
    }

    // Merges are resolved to ids through the original-form vocab (no alphabet conversion needed).
    std::vector<tok::BpeModel::MergeRule> merges;
    const json& jm = m["merges"];
    merges.reserve(jm.size());
    std::string joined;
    for (std::size_t k = 0; k < jm.size(); ++k) {
      const json& e = jm[k];
      std::string_view a, b;
      if (e.is_string()) {
        const std::string& s = e.get_ref<const std::string&>();
        std::size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          fail("model.merges[" + std::to_string(k) + "]", "expected \"left right\" with exactly one space, got '" + s + "'");
        a = std::string_view(s).substr(0, sp);
        b = std::string_view(s).substr(sp + 1);
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        a = e[0].get_ref<const std::string&>();
        b = e[1].get_ref<const std::string&>();
      } else {
        fail("model.merges[" + std::to_string(k) + "]", "expected a string \"a b\" or a pair [\"a\", \"b\"]");
      }
      joined.assign(a);
      joined.append(b);
      auto ia = token_to_id_.find(a), ib = token_to_id_.find(b), ij = token_to_id_.find(std::string_view(joined));
      if (ia == token_to_id_.end() || ib == token_to_id_.end())
        fail("model.merges[" + std::to_string(k) + "]",
             "token '" + std::string(ia == token_to_id_.end() ? a : b) + "' is not in the vocab");
      if (ij == token_to_id_.end())
        fail("model.merges[" + std::to_string(k) + "]", "merged token '" + joined + "' is not in the vocab");
      merges.push_back({ia->second, ib->second, ij->second});
    }

    tok::BpeOptions opt;
    opt.byte_level = byte_level_;
    opt.byte_fallback = get_bool(m, "byte_fallback", false);
    opt.fuse_unk = get_bool(m, "fuse_unk", false);
    opt.ignore_merges = get_bool(m, "ignore_merges", false);
    opt.continuing_subword_prefix = get_string(m, "continuing_subword_prefix");
    opt.end_of_word_suffix = get_string(m, "end_of_word_suffix");
    std::string unk = get_string(m, "unk_token");
    if (!unk.empty()) {
      auto it = bpe_vocab.find(internal(unk));
      if (it == bpe_vocab.end()) fail("model.unk_token", "'" + unk + "' is not in the vocab");
      opt.unk_id = it->second;
    }
    bpe_ = std::make_unique<tok::BpeModel>(std::move(bpe_vocab), merges, opt);
  }

  void load_normalizer(const json& n, const std::string& field) {
    std::string type = type_of(n, field);
    if (type == "Sequence") {
      if (!n.contains("normalizers") || !n["normalizers"].is_array()) fail(field + ".normalizers", "missing");
      for (std::size_t k = 0; k < n["normalizers"].size(); ++k)
        load_normalizer(n["normalizers"][k], field + ".normalizers[" + std::to_string(k) + "]");
    } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
      norm_steps_.push_back({NormStep::kUnicode, type, {}, false, false, nullptr});
    } else if (type == "Lowercase") {
      norm_steps_.push_back({NormStep::kLowercase, {}, {}, false, false, nullptr});
    } else if (type == "Prepend") {
      norm_steps_.push_back({NormStep::kPrepend, get_string(n, "prepend"), {}, false, false, nullptr});
    } else if (type == "Strip") {
      norm_steps_.push_back(
          {NormStep::kStrip, {}, {}, get_bool(n, "strip_left", true), get_bool(n, "strip_right", true), nullptr});
    } else if (type == "Replace") {
      if (!n.contains("pattern") || !n["pattern"].is_object()) fail(field + ".pattern", "missing");
      std::string content = get_string(n, "content");
      if (n["pattern"].contains("String")) {
        norm_steps_.push_back({NormStep::kReplace, get_string(n["pattern"], "String"), content, false, false, nullptr});
      } else if (n["pattern"].contains("Regex")) {
        std::string pat = get_string(n["pattern"], "Regex");
        RE2::Options o;
        o.set_log_errors(false);
        auto re = std::make_shared<re2::RE2>(tok::translate_regex(pat), o);
        if (!re->ok()) fail(field + ".pattern.Regex", "invalid regex: " + re->error());
        std::string rewrite;
        for (char c : content) {
          if (c == '\\') rewrite += '\\';
          rewrite += c;
        }
        norm_steps_.push_back({NormStep::kReplaceRegex, pat, rewrite, false, false, re});
      } else {
        fail(field + ".pattern", "expected String or Regex");
      }
    } else {
      fail(field + ".type", "unsupported normalizer '" + type + "'");
    }
  }

  static Prepend parse_prepend(const json& j) {
    std::string s = get_string(j, "prepend_scheme");
    if (s == "first") return Prepend::kFirst;
    if (s == "never") return Prepend::kNever;
    if (s == "always") return Prepend::kAlways;
    return get_bool(j, "add_prefix_space", true) ? Prepend::kAlways : Prepend::kNever;
  }

  static std::string replacement_of(const json& j) { return get_string(j, "replacement", "\xE2\x96\x81"); }

  void load_pre_tokenizer(const json& p, const std::string& field) {
    std::string type = type_of(p, field);
    if (type == "Sequence") {
      if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array()) fail(field + ".pretokenizers", "missing");
      for (std::size_t k = 0; k < p["pretokenizers"].size(); ++k)
        load_pre_tokenizer(p["pretokenizers"][k], field + ".pretokenizers[" + std::to_string(k) + "]");
    } else if (type == "Split") {
      PreStep s{PreStep::kSplit, nullptr};
      if (!p.contains("pattern") || !p["pattern"].is_object()) fail(field + ".pattern", "missing");
      std::string pat;
      if (p["pattern"].contains("Regex")) pat = get_string(p["pattern"], "Regex");
      else if (p["pattern"].contains("String")) pat = RE2::QuoteMeta(get_string(p["pattern"], "String"));
      else fail(field + ".pattern", "expected Regex or String");
      try {
        s.re = std::make_shared<tok::RegexSplitter>(pat);
      } catch (const Error& e) {
        fail(field + ".pattern", e.what());
      }
      std::string b = get_string(p, "behavior", "Isolated");
      if (b == "Isolated") s.behavior = Behavior::kIsolated;
      else if (b == "Removed") s.behavior = Behavior::kRemoved;
      else if (b == "MergedWithPrevious") s.behavior = Behavior::kMergedWithPrevious;
      else if (b == "MergedWithNext") s.behavior = Behavior::kMergedWithNext;
      else if (b == "Contiguous") s.behavior = Behavior::kContiguous;
      else fail(field + ".behavior", "unknown behavior '" + b + "'");
      s.invert = get_bool(p, "invert", false);
      pre_steps_.push_back(std::move(s));
    } else if (type == "ByteLevel") {
      PreStep s{PreStep::kByteLevel, nullptr};
      s.add_prefix_space = get_bool(p, "add_prefix_space", true);
      if (get_bool(p, "use_regex", true)) s.re = std::make_shared<tok::RegexSplitter>(kGpt2Pattern);
      pre_steps_.push_back(std::move(s));
    } else if (type == "Metaspace") {
      PreStep s{PreStep::kMetaspace, nullptr};
      s.replacement = replacement_of(p);
      s.prepend = parse_prepend(p);
      s.split = get_bool(p, "split", true);
      pre_steps_.push_back(std::move(s));
    } else if (type == "WhitespaceSplit") {
      pre_steps_.push_back(PreStep{PreStep::kWhitespaceSplit, nullptr});
    } else if (type == "Whitespace") {
      PreStep s{PreStep::kSplit, std::make_shared<tok::RegexSplitter>("\\w+|[^\\w\\s]+")};
      s.behavior = Behavior::kRemoved;
      s.invert = true;
      pre_steps_.push_back(std::move(s));
    } else if (type == "Digits") {
      PreStep s{PreStep::kSplit,
                std::make_shared<tok::RegexSplitter>(get_bool(p, "individual_digits", false) ? "\\p{N}" : "\\p{N}+")};
      pre_steps_.push_back(std::move(s));
    } else {
      fail(field + ".type", "unsupported pre_tokenizer '" + type + "'");
    }
  }

  void load_decoder(const json& d, const std::string& field) {
    std::string type = type_of(d, field);
    if (type == "Sequence") {
      if (!d.contains("decoders") || !d["decoders"].is_array()) fail(field + ".decoders", "missing");
      for (std::size_t k = 0; k < d["decoders"].size(); ++k)
        load_decoder(d["decoders"][k], field + ".decoders[" + std::to_string(k) + "]");
    } else if (type == "ByteLevel") {
      dec_steps_.push_back({DecStep::kByteLevel});
    } else if (type == "Replace") {
      if (!d.contains("pattern") || !d["pattern"].is_object() || !d["pattern"].contains("String"))
        fail(field + ".pattern", "only String patterns are supported in the Replace decoder");
      dec_steps_.push_back({DecStep::kReplace, get_string(d["pattern"], "String"), get_string(d, "content")});
    } else if (type == "ByteFallback") {
      dec_steps_.push_back({DecStep::kByteFallback});
    } else if (type == "Fuse") {
      dec_steps_.push_back({DecStep::kFuse});
    } else if (type == "Strip") {
      DecStep s{DecStep::kStrip, get_string(d, "content", " ")};
      s.start = d.contains("start") && d["start"].is_number_integer() ? d["start"].get<int>() : 0;
      s.stop = d.contains("stop") && d["stop"].is_number_integer() ? d["stop"].get<int>() : 0;
      dec_steps_.push_back(std::move(s));
    } else if (type == "Metaspace") {
      DecStep s{DecStep::kMetaspace, replacement_of(d)};
      s.prepend = parse_prepend(d);
      dec_steps_.push_back(std::move(s));
    } else {
      fail(field + ".type", "unsupported decoder '" + type + "'");
    }
  }

  void load_post_processor(const json& p, const std::string& field) {
    std::string type = type_of(p, field);
    std::vector<TokenId> pre, suf;
    if (type == "Sequence") {
      if (!p.contains("processors") || !p["processors"].is_array()) fail(field + ".processors", "missing");
      for (std::size_t k = 0; k < p["processors"].size(); ++k)
        load_post_processor(p["processors"][k], field + ".processors[" + std::to_string(k) + "]");
      return;
    } else if (type == "ByteLevel") {
      return;  // only adjusts offsets
    } else if (type == "TemplateProcessing") {
      if (!p.contains("single") || !p["single"].is_array()) fail(field + ".single", "missing");
      const json& specials = p.contains("special_tokens") ? p["special_tokens"] : json::object();
      bool seen_seq = false;
      for (std::size_t k = 0; k < p["single"].size(); ++k) {
        const json& item = p["single"][k];
        std::string f = field + ".single[" + std::to_string(k) + "]";
        if (item.contains("Sequence")) {
          seen_seq = true;
        } else if (item.contains("SpecialToken")) {
          std::string name = get_string(item["SpecialToken"], "id");
          std::vector<TokenId> ids;
          if (specials.contains(name) && specials[name].contains("ids") && specials[name]["ids"].is_array()) {
            for (const auto& x : specials[name]["ids"]) ids.push_back(token_id(x, f + ".ids"));
          } else if (auto id = token_to_id(name)) {
            ids.push_back(*id);
          } else {
            fail(f, "special token '" + name + "' is not defined");
          }
          auto& dst = seen_seq ? suf : pre;
          dst.insert(dst.end(), ids.begin(), ids.end());
          if (!seen_seq && !template_bos_) template_bos_ = ids.front();
        } else {
          fail(f, "expected Sequence or SpecialToken");
        }
      }
    } else if (type == "RobertaProcessing" || type == "BertProcessing") {
      auto pair_id = [&](const char* key) -> TokenId {
        if (!p.contains(key) || !p[key].is_array() || p[key].size() != 2 || !p[key][1].is_number_integer())
          fail(field + "." + key, "expected [token, id]");
        return token_id(p[key][1], field + "." + key);
      };
      pre.push_back(pair_id("cls"));
      suf.push_back(pair_id("sep"));
      if (!template_bos_) template_bos_ = pre.front();
    } else {
      fail(field + ".type", "unsupported post_processor '" + type + "'");
    }
    // A later processor wraps the result of the earlier ones.
    prefix_ids_.insert(prefix_ids_.begin(), pre.begin(), pre.end());
    suffix_ids_.insert(suffix_ids_.end(), suf.begin(), suf.end());
  }

  std::optional<TokenId> config_token(const json* config, const char* key) const {
    if (!config || !config->contains(key)) return std::nullopt;
    const json& v = (*config)[key];
    std::string name;
    if (v.is_string()) name = v.get<std::string>();
    else if (v.is_object() && v.contains("content") && v["content"].is_string()) name = v["content"].get<std::string>();
    else return std::nullopt;
    return token_to_id(name);
  }

  void finish(const json* config) {
    for (auto& t : added_) {
      auto id = static_cast<std::size_t>(t.id);
      id_to_token_[id] = t.content;
      special_[id] = t.special;
      token_to_id_[t.content] = t.id;
      if (byte_level_) {
        auto b = tok::ByteLevelTable::get().to_bytes(t.content);
        decode_bytes_[id] = b ? *b : t.content;
      }
    }
    // Matchers point into added_, which no longer changes.
    for (const auto& t : added_) {
      if (!t.normalized) {
        raw_matcher_.add(t.content, &t);
      } else {
        norm_matcher_.add(norm_steps_.empty() ? t.content : normalize(t.content), &t);
      }
    }
    bool decoder_is_byte_level = false;
    for (const auto& s : dec_steps_) decoder_is_byte_level |= s.kind == DecStep::kByteLevel;
    byte_level_decode_ = byte_level_ && has_decoder_ && dec_steps_.size() == 1 && decoder_is_byte_level;
    space_before_special_ = has_decoder_ && !decoder_is_byte_level;
    bos_id_ = template_bos_ ? template_bos_ : config_token(config, "bos_token");
    eos_id_ = config_token(config, "eos_token");
    if (prefix_ids_.empty() && suffix_ids_.empty() && config) {
      // No post-processor adds anything: honour tokenizer_config's add_bos_token / add_eos_token.
      if (config->value("add_bos_token", false) && bos_id_) prefix_ids_.push_back(*bos_id_);
      if (config->value("add_eos_token", false) && eos_id_) suffix_ids_.push_back(*eos_id_);
    }
  }

  std::string normalize(std::string_view in) const {
    std::string s(in);
    for (const NormStep& n : norm_steps_) {
      switch (n.kind) {
        case NormStep::kUnicode: s = tok::unicode_normalize(s, n.a); break;
        case NormStep::kLowercase: s = tok::unicode_lowercase(s); break;
        case NormStep::kPrepend:
          if (!s.empty()) s.insert(0, n.a);
          break;
        case NormStep::kReplace: replace_all(s, n.a, n.b); break;
        case NormStep::kReplaceRegex: RE2::GlobalReplace(&s, *n.re, n.b); break;
        case NormStep::kStrip: {
          std::size_t b = 0, e = s.size();
          std::int32_t cp;
          if (n.left) {
            while (b < e) {
              std::size_t l = utf8_decode(s, b, cp);
              if (!tok::is_unicode_whitespace(cp)) break;
              b += l;
            }
          }
          if (n.right) {
            while (e > b) {
              std::size_t p = e - 1;
              while (p > b && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
              utf8_decode(s, p, cp);
              if (!tok::is_unicode_whitespace(cp)) break;
              e = p;
            }
          }
          s = s.substr(b, e - b);
          break;
        }
      }
    }
    return s;
  }

  // Applies the pre-tokenizer steps to `words` in place. New strings (prepended spaces, replacements) live in
  // `storage`. `first` is true when the piece starts at the beginning of the input (Metaspace prepend_scheme=first).
  void pre_tokenize(std::vector<std::string_view>& words, std::deque<std::string>& storage, bool first) const {
    thread_local std::vector<tok::RegexSplitter::Piece> pieces;
    std::vector<std::string_view> next;
    for (const PreStep& step : pre_steps_) {
      next.clear();
      for (std::size_t wi = 0; wi < words.size(); ++wi) {
        std::string_view w = words[wi];
        switch (step.kind) {
          case PreStep::kByteLevel: {
            if (step.add_prefix_space && !starts_with(w, " ")) {
              std::string& spaced = storage.emplace_back();
              spaced.reserve(w.size() + 1);
              spaced.push_back(' ');
              spaced.append(w.data(), w.size());
              w = spaced;
            }
            if (!step.re) {
              next.push_back(w);
              break;
            }
            pieces.clear();
            step.re->find_all(w, pieces);
            for (const auto& pc : pieces) next.push_back(pc.text);
            break;
          }
          case PreStep::kSplit: {
            pieces.clear();
            step.re->find_all(w, pieces);
            if (step.invert)
              for (auto& pc : pieces) pc.is_match = !pc.is_match;
            apply_behavior(step.behavior, pieces, next);
            break;
          }
          case PreStep::kMetaspace: {
            std::string s(w);
            replace_all(s, " ", step.replacement);
            bool prepend = step.prepend == Prepend::kAlways || (step.prepend == Prepend::kFirst && first && wi == 0);
            if (prepend && !starts_with(s, step.replacement)) s.insert(0, step.replacement);
            storage.push_back(std::move(s));
            std::string_view sv = storage.back();
            if (!step.split) {
              next.push_back(sv);
              break;
            }
            // Split before every replacement char (MergedWithNext).
            std::size_t start = 0;
            for (std::size_t pos = sv.find(step.replacement, 1); pos != std::string_view::npos;
                 pos = sv.find(step.replacement, pos + step.replacement.size())) {
              if (pos > start) next.push_back(sv.substr(start, pos - start));
              start = pos;
            }
            if (start < sv.size()) next.push_back(sv.substr(start));
            break;
          }
          case PreStep::kWhitespaceSplit: {
            std::size_t i = 0, start = std::string_view::npos;
            while (i < w.size()) {
              std::int32_t cp;
              std::size_t l = utf8_decode(w, i, cp);
              if (tok::is_unicode_whitespace(cp)) {
                if (start != std::string_view::npos) next.push_back(w.substr(start, i - start));
                start = std::string_view::npos;
              } else if (start == std::string_view::npos) {
                start = i;
              }
              i += l;
            }
            if (start != std::string_view::npos) next.push_back(w.substr(start));
            break;
          }
        }
      }
      words.swap(next);
    }
  }

  static void apply_behavior(Behavior b, const std::vector<tok::RegexSplitter::Piece>& pieces,
                             std::vector<std::string_view>& out) {
    auto extend_back = [](std::string_view& a, std::string_view b2) {
      a = std::string_view(a.data(), static_cast<std::size_t>(b2.data() + b2.size() - a.data()));
    };
    switch (b) {
      case Behavior::kIsolated:
        for (const auto& p : pieces) out.push_back(p.text);
        break;
      case Behavior::kRemoved:
        for (const auto& p : pieces)
          if (!p.is_match) out.push_back(p.text);
        break;
      case Behavior::kMergedWithPrevious: {
        std::size_t base = out.size();
        bool prev_match = false;
        for (const auto& p : pieces) {
          if (p.is_match && !prev_match && out.size() > base) extend_back(out.back(), p.text);
          else out.push_back(p.text);
          prev_match = p.is_match;
        }
        break;
      }
      case Behavior::kMergedWithNext: {
        std::vector<std::string_view> rev;
        bool prev_match = false;
        for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
          if (it->is_match && !prev_match && !rev.empty()) {
            std::string_view& last = rev.back();
            last = std::string_view(it->text.data(), static_cast<std::size_t>(last.data() + last.size() - it->text.data()));
          } else {
            rev.push_back(it->text);
          }
          prev_match = it->is_match;
        }
        out.insert(out.end(), rev.rbegin(), rev.rend());
        break;
      }
      case Behavior::kContiguous: {
        std::size_t base = out.size();
        bool prev_match = false;
        for (const auto& p : pieces) {
          if (p.is_match && prev_match && out.size() > base) extend_back(out.back(), p.text);
          else out.push_back(p.text);
          prev_match = p.is_match;
        }
        break;
      }
    }
  }

  static void apply_decoder(const DecStep& step, std::vector<std::string>& tokens) {
    switch (step.kind) {
      case DecStep::kByteLevel: {
        const auto& table = tok::ByteLevelTable::get();
        std::string bytes;
        for (const auto& t : tokens) {
          auto b = table.to_bytes(t);
          bytes += b ? *b : t;
        }
        tokens.assign(1, sanitize_utf8(bytes));
        break;
      }
      case DecStep::kReplace:
        for (auto& t : tokens) replace_all(t, step.a, step.b);
        break;
      case DecStep::kByteFallback: {
        std::vector<std::string> out;
        std::string pending;
        std::size_t pending_count = 0;
        auto flush = [&] {
          if (!pending_count) return;
          if (is_valid_utf8(pending)) {
            out.push_back(pending);
          } else {
            for (std::size_t k = 0; k < pending_count; ++k) out.emplace_back("\xEF\xBF\xBD");
          }
          pending.clear();
          pending_count = 0;
        };
        for (auto& t : tokens) {
          unsigned v = 0;
          bool is_byte = t.size() == 6 && starts_with(t, "<0x") && t[5] == '>' &&
                         std::sscanf(t.c_str() + 3, "%2x", &v) == 1 && std::isxdigit(static_cast<unsigned char>(t[3])) &&
                         std::isxdigit(static_cast<unsigned char>(t[4]));
          if (is_byte) {
            pending += static_cast<char>(v);
            ++pending_count;
          } else {
            flush();
            out.push_back(std::move(t));
          }
        }
        flush();
        tokens = std::move(out);
        break;
      }
      case DecStep::kFuse: {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens.assign(1, std::move(all));
        break;
      }
      case DecStep::kStrip: {
        const std::string& c = step.a;
        for (auto& t : tokens) {
          if (c.empty()) break;
          std::size_t b = 0, e = t.size();
          for (int k = 0; k < step.start && e - b >= c.size() && t.compare(b, c.size(), c) == 0; ++k) b += c.size();
          for (int k = 0; k < step.stop && e - b >= c.size() && t.compare(e - c.size(), c.size(), c) == 0; ++k)
            e -= c.size();
          t = t.substr(b, e - b);
        }
        break;
      }
      case DecStep::kMetaspace: {
        for (std::size_t i = 0; i < tokens.size(); ++i) {
          std::string& t = tokens[i];
          // As HF: in the first token every replacement char is dropped (not only the leading one).
          replace_all(t, step.a, i == 0 && step.prepend != Prepend::kNever ? "" : " ");
        }
        break;
      }
    }
  }

  std::string path_;
  std::vector<AddedToken> added_;
  AddedMatcher raw_matcher_, norm_matcher_;
  std::unique_ptr<tok::BpeModel> bpe_;
  bool byte_level_ = false;
  bool has_decoder_ = false;
  bool byte_level_decode_ = false;
  bool space_before_special_ = false;
  std::vector<NormStep> norm_steps_;
  std::vector<PreStep> pre_steps_;
  std::vector<DecStep> dec_steps_;
  std::vector<TokenId> prefix_ids_, suffix_ids_;
  std::optional<TokenId> template_bos_;
  std::optional<TokenId> bos_id_, eos_id_;
  std::vector<std::string> id_to_token_;
  std::vector<std::string> decode_bytes_;  // byte-level: raw bytes each id decodes to
  std::vector<bool> special_;
  tok::StrIdMap token_to_id_;
};

}  // namespace

std::shared_ptr<const Tokenizer> Tokenizer::from_file(const std::string& tokenizer_json_path) {
  std::string path = tokenizer_json_path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) path = (fs::path(path) / "tokenizer.json").string();
  if (!fs::exists(path, ec)) throw Error(path + ": tokenizer.json not found");
  json j;
  try {
    j = parse_json(read_text_file(path), path);
  } catch (const json::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(path + ": expected a JSON object at the top level");
  json config;
  bool have_config = false;
  fs::path cfg = fs::path(path).parent_path() / "tokenizer_config.json";
  if (fs::exists(cfg, ec)) {
    try {
      config = parse_json(read_text_file(cfg.string()), cfg.string());
      have_config = config.is_object();
    } catch (const json::exception& e) {
      throw Error(cfg.string() + ": invalid JSON: " + e.what());
    }
  }
  try {
    return std::make_shared<HfTokenizer>(path, j, have_config ? &config : nullptr);
  } catch (const json::exception& e) {
    throw Error(path + ": unexpected JSON structure: " + e.what());
  }
}

}  // namespace reval
