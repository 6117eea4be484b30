// Unit tests for the tokenizer pieces: look-ahead emulation in the regex splitter, UTF-8 lossy decoding,
// incremental decoding (never half a character), skip_special_tokens, added-token flags, thread safety of the
// BPE cache, clear errors for malformed tokenizer.json, and the `reval tokenize` batch function.
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/tokenizer/internal.hpp"
#include "model/tokenizer/tokenize_jsonl.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "tests/test_util.hpp"

namespace {

using reval::TokenId;
using reval::Tokenizer;
using nlohmann::json;

std::shared_ptr<const Tokenizer> qwen() {
  static auto t = Tokenizer::from_file(reval::test::shared_path("models/qwen3-tokenizer/tokenizer.json"));
  return t;
}
std::shared_ptr<const Tokenizer> tiny() {
  static auto t = Tokenizer::from_file(reval::test::shared_path("models/tinystories-656k"));
  return t;
}

std::vector<std::string> split(const std::string& pattern, const std::string& text) {
  reval::tok::RegexSplitter re(pattern);
  std::vector<reval::tok::RegexSplitter::Piece> pieces;
  re.find_all(text, pieces);
  std::vector<std::string> out;
  for (const auto& p : pieces) out.emplace_back(p.text);
  return out;
}

const char* kQwenPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";

TEST(RegexSplitter, WhitespaceLookaheadGivesBackLastSpace) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split(kQwenPattern, "a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(split(kQwenPattern, "a b"), (V{"a", " b"}));
  EXPECT_EQ(split(kQwenPattern, "a   "), (V{"a", "   "}));     // run reaches the end: taken whole
  EXPECT_EQ(split(kQwenPattern, "x \n\n y"), (V{"x", " \n\n", " y"}));
  EXPECT_EQ(split(kQwenPattern, "I'M 12"), (V{"I", "'M", " ", "1", "2"}));
  EXPECT_EQ(split(kQwenPattern, "a\xC2\xA0\xC2\xA0" "b"), (V{"a", "\xC2\xA0", "\xC2\xA0" "b"}));  // NBSP is \s
}

TEST(RegexSplitter, RejectsOtherLookaround) {
  EXPECT_THROW(reval::tok::RegexSplitter("a(?=b)"), reval::Error);
  EXPECT_THROW(reval::tok::RegexSplitter("(\\s+(?!\\S)|\\s+)"), reval::Error);
}

TEST(Unicode, LossyMatchesRust) {
  const auto utf8_lossy = [](std::string_view s) { return reval::sanitize_utf8(s); };
  EXPECT_EQ(utf8_lossy("ok"), "ok");
  EXPECT_EQ(utf8_lossy("\xF0\x9F\x98"), "\xEF\xBF\xBD");                // truncated 4-byte: one U+FFFD
  EXPECT_EQ(utf8_lossy("\xE2\x82" "a"), "\xEF\xBF\xBD" "a");
  EXPECT_EQ(utf8_lossy("\xFF\xFE"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: 3 replacements
}

TEST(Tokenizer, SpecialTokensAndNames) {
  auto t = qwen();
  auto im_start = t->token_to_id("<|im_start|>");
  ASSERT_TRUE(im_start.has_value());
  EXPECT_EQ(*im_start, 151644);
  EXPECT_TRUE(t->is_special(*im_start));
  EXPECT_FALSE(t->is_special(*t->token_to_id("<think>")));
  EXPECT_EQ(t->id_to_token(9707), "Hello");
  EXPECT_EQ(t->id_to_token(-1), "");
  EXPECT_EQ(t->vocab_size(), 151669);
  EXPECT_FALSE(t->bos_id().has_value());
  EXPECT_EQ(t->eos_token(), "<|im_end|>");
  auto ids = t->encode("<|im_start|>user\nHi<|im_end|><think>x</think>");
  EXPECT_EQ(ids.front(), 151644);
  EXPECT_EQ(t->decode(ids, true), "user\nHi<think>x</think>");  // <think> is not special: kept
  EXPECT_EQ(t->decode(ids, false), "<|im_start|>user\nHi<|im_end|><think>x</think>");

  auto ts = tiny();
  EXPECT_EQ(ts->bos_id(), std::optional<TokenId>(1));
  EXPECT_EQ(ts->eos_id(), std::optional<TokenId>(2));
  EXPECT_EQ(ts->bos_token(), "<|start_story|>");
  EXPECT_EQ(ts->encode("Once upon a time", true), (std::vector<TokenId>{1, 80, 147, 201, 282, 57}));
}

TEST(Tokenizer, RoundTripAndInvalidInput) {
  auto t = qwen();
  std::string text = "Mixed: \xCE\xB1\xCE\xB2 \xF0\x9F\x98\x80 \t\n  end  ";
  EXPECT_EQ(t->decode(t->encode(text)), text);
  // Invalid UTF-8 input is replaced by U+FFFD before tokenizing, as a Rust &str would require.
  EXPECT_EQ(t->decode(t->encode("a\xFF" "b")), "a\xEF\xBF\xBD" "b");
  EXPECT_TRUE(t->encode("").empty());
}

TEST(IncrementalDecoder, NeverEmitsHalfACharacter) {
  for (auto t : {qwen(), tiny()}) {
    std::string text = "Emoji \xF0\x9F\x98\x80\xF0\x9F\xA4\x96 and \xE6\x95\xB0\xE5\xAD\xA6 end";
    if (t == tiny()) text = "Once upon a time, there was a little girl named Lily. She liked to play.";
    auto ids = t->encode(text);
    reval::IncrementalDecoder dec(t);
    std::string streamed;
    for (TokenId id : ids) {
      std::string piece = dec.push(id);
      EXPECT_TRUE(reval::is_valid_utf8(piece));
      EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos);
      streamed += piece;
    }
    streamed += dec.flush();
    EXPECT_EQ(streamed, t->decode(ids));
  }
  // A lone lead byte at the end is held back until flush, which turns it into U+FFFD.
  auto t = qwen();
  auto ids = t->encode("\xF0\xAA\x9B\x96");  // U+2A6D6, a rare CJK character
  ASSERT_GT(ids.size(), 1u);                   // split over several byte tokens
  reval::IncrementalDecoder dec(t);
  EXPECT_EQ(dec.push(ids[0]), "");
  EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");
}

TEST(Tokenizer, ThreadSafeEncode) {
  auto t = qwen();
  std::string text;
  for (int i = 0; i < 200; ++i) text += "The value of x_" + std::to_string(i) + " is " + std::to_string(i * 7) + ". ";
  auto want = t->encode(text);
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int k = 0; k < 8; ++k)
    threads.emplace_back([&, k] {
      bool all = true;
      for (int r = 0; r < 5; ++r) all = all && t->encode(text) == want;
      ok[static_cast<std::size_t>(k)] = all;
    });
  for (auto& th : threads) th.join();
  for (int v : ok) EXPECT_EQ(v, 1);
}

std::string write_tokenizer(const reval::test::TempDir& dir, const json& j) {
  std::string path = dir.file("tokenizer.json");
  std::ofstream(path) << j.dump();
  return path;
}

json minimal_bpe() {
  return json{{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a b"}}}}};
}

TEST(Tokenizer, MinimalAndMalformedFiles) {
  reval::test::TempDir dir;
  auto t = Tokenizer::from_file(write_tokenizer(dir, minimal_bpe()));
  EXPECT_EQ(t->encode("abab"), (std::vector<TokenId>{2, 2}));
  EXPECT_EQ(t->decode(std::vector<TokenId>{2, 0}), "ab a");  // no decoder: tokens joined by spaces

  auto expect_error = [&](json j, const std::string& needle) {
    std::string path = write_tokenizer(dir, j);
    try {
      Tokenizer::from_file(path);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const reval::Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
      EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
    }
  };
  json j = minimal_bpe();
  j["model"]["type"] = "Unigram";
  expect_error(j, "model.type");
  j = minimal_bpe();
  j["model"].erase("vocab");
  expect_error(j, "model.vocab");
  j = minimal_bpe();
  j["model"]["merges"] = {"a c"};
  expect_error(j, "model.merges");
  j = minimal_bpe();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a(?=b)"}}}, {"behavior", "Isolated"}};
  expect_error(j, "pre_tokenizer.pattern");
  j = minimal_bpe();
  j["decoder"] = {{"type", "Nope"}};
  expect_error(j, "decoder.type");
  // Every id read from the file is range-checked: 2^33 must not wrap to some other id.
  j = minimal_bpe();
  j["added_tokens"] = json::array({{{"id", 8589934592LL}, {"content", "<x>"}, {"special", true}}});
  expect_error(j, "added_tokens[0].id");
  j = minimal_bpe();
  j["added_tokens"] = json::array({{{"id", -1}, {"content", "<x>"}}});
  expect_error(j, "out of range");
  j = minimal_bpe();
  j["model"]["vocab"]["zz"] = 4294967296ULL;
  expect_error(j, "model.vocab['zz']");
  std::ofstream(dir.file("tokenizer.json")) << std::string(100000, '[') << std::string(100000, ']');
  try {
    Tokenizer::from_file(dir.path());
    ADD_FAILURE() << "a 100,000-deep file was accepted";
  } catch (const reval::Error& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper"), std::string::npos) << e.what();
  }
  std::ofstream(dir.file("tokenizer.json")) << "{ not json";
  EXPECT_THROW(Tokenizer::from_file(dir.path()), reval::Error);
  EXPECT_THROW(Tokenizer::from_file(dir.file("missing.json")), reval::Error);
}

TEST(Tokenizer, AddedTokenFlags) {
  reval::test::TempDir dir;
  json j = minimal_bpe();
  j["added_tokens"] = {
      {{"id", 3}, {"content", "<s>"}, {"special", true}, {"lstrip", true}, {"rstrip", true}, {"normalized", false},
       {"single_word", false}},
      {{"id", 4}, {"content", "ab"}, {"special", false}, {"single_word", true}, {"normalized", false}}};
  j["pre_tokenizer"] = {{"type", "WhitespaceSplit"}};
  auto t = Tokenizer::from_file(write_tokenizer(dir, j));
  EXPECT_EQ(t->encode("a  <s>  b"), (std::vector<TokenId>{0, 3, 1}));  // spaces stripped around <s>
  EXPECT_EQ(t->encode("ab b"), (std::vector<TokenId>{4, 1}));          // single word: matched
  EXPECT_EQ(t->encode("aab"), (std::vector<TokenId>{0, 2}));           // inside a word: not matched
  EXPECT_EQ(t->vocab_size(), 5);
  EXPECT_TRUE(t->is_special(3));
}

TEST(TokenizeJsonl, WritesIdsAndFlagsBadLines) {
  reval::test::TempDir dir;
  std::string in = dir.file("in.jsonl"), out = dir.file("out.jsonl");
  std::ofstream(in) << "{\"text\": \"Hello world\"}\n"
                    << "not json\n"
                    << "{\"text\": \"Hello world\", \"add_special_tokens\": true, \"id\": 7}\n"
                    << "{\"notext\": 1}\n";
  auto stats = reval::tokenize_jsonl(reval::test::shared_path("models/reconstructed/deepseek-r1-distill-qwen"), in, out);
  EXPECT_EQ(stats.lines, 4);
  EXPECT_EQ(stats.errors, 2);
  std::ifstream f(out);
  std::vector<json> rows;
  std::string line;
  while (std::getline(f, line)) rows.push_back(json::parse(line));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0]["ids"], json({9707, 1879}));
  EXPECT_EQ(rows[0]["decoded"], "Hello world");
  EXPECT_TRUE(rows[1].contains("error"));
  EXPECT_EQ(rows[1]["line"], 2);
  EXPECT_NE(rows[1]["error"].get<std::string>().find("in.jsonl:2"), std::string::npos);
  EXPECT_EQ(rows[2]["ids"], json({151646, 9707, 1879}));
  EXPECT_EQ(rows[2]["id"], 7);
  EXPECT_NE(rows[3]["error"].get<std::string>().find("text"), std::string::npos);
}

}  // namespace

namespace {

// Property: byte-level BPE is lossless up to NFC, for any valid UTF-8 (random mixes of ASCII, whitespace kinds,
// accents, CJK, emoji and added-token spellings). Llama 3 has no normalizer, so it must round-trip exactly.
TEST(Tokenizer, RandomRoundTrip) {
  auto llama = Tokenizer::from_file(reval::test::shared_path("models/llama3-tokenizer"));
  const std::vector<std::string> atoms = {"a", "Z", "7", " ", "  ", "\n", "\r\n", "\t", "\xC2\xA0", "\xE3\x80\x80",
                                          "'s", "'LL", "\xC3\xA9", "e\xCC\x81", "\xE6\x95\xB0", "\xF0\x9F\x98\x80",
                                          "<|im_start|>", "<|begin_of_text|>", "<think>", "\\frac{", "123456", "..."};
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>(state >> 33);
  };
  for (int round = 0; round < 300; ++round) {
    std::string text;
    std::size_t len = next() % 40;
    for (std::size_t k = 0; k < len; ++k) text += atoms[next() % atoms.size()];
    EXPECT_EQ(llama->decode(llama->encode(text)), text) << text;
    EXPECT_EQ(qwen()->decode(qwen()->encode(text)), reval::tok::unicode_normalize(text, "NFC")) << text;
  }
}

// End to end through the `reval` binary when it has been built (it links every area, so it may not be).
TEST(TokenizeCli, ExitStatusAndRows) {
  if (!std::filesystem::exists(reval::test::reval_binary())) GTEST_SKIP() << "reval binary not built";
  reval::test::TempDir dir;
  std::ofstream(dir.file("in.jsonl")) << "{\"text\": \"Hello world\", \"add_special_tokens\": true}\n{bad\n";
  std::string cmd = reval::test::reval_binary() + " tokenize --model " +
                    reval::test::shared_path("models/tinystories-656k") + " --input " + dir.file("in.jsonl") +
                    " --output " + dir.file("out.jsonl") + " 2>/dev/null";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 2);
  std::ifstream f(dir.file("out.jsonl"));
  std::string l1, l2;
  std::getline(f, l1);
  std::getline(f, l2);
  EXPECT_EQ(json::parse(l1)["ids"], json({1, 80, 1288, 139, 410, 555}));
  EXPECT_EQ(json::parse(l1)["decoded"], "<|start_story|> Hello world");
  EXPECT_EQ(json::parse(l2)["line"], 2);
}

}  // namespace

namespace {

TEST(Tokenizer, MetaspacePreTokenizerAndDecoder) {
  reval::test::TempDir dir;
  const std::string m = "\xE2\x96\x81";  // ▁
  json j = {{"model",
             {{"type", "BPE"},
              {"vocab", {{m + "a", 0}, {m, 1}, {"a", 2}, {"b", 3}, {m + "b", 4}}},
              {"merges", {m + " a", m + " b"}}}},
            {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "always"}, {"split", true}}},
            {"decoder", {{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "always"}, {"split", true}}}};
  auto t = Tokenizer::from_file(write_tokenizer(dir, j));
  EXPECT_EQ(t->encode("a b"), (std::vector<TokenId>{0, 4}));
  EXPECT_EQ(t->encode("a  b"), (std::vector<TokenId>{0, 1, 4}));
  EXPECT_EQ(t->decode(std::vector<TokenId>{0, 1, 4}), "a  b");
}

TEST(Tokenizer, SentencePieceByteFallback) {
  reval::test::TempDir dir;
  const std::string m = "\xE2\x96\x81";
  json j = {{"normalizer",
             {{"type", "Sequence"},
              {"normalizers",
               {{{"type", "Prepend"}, {"prepend", m}},
                {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", m}}}}}},
            {"model",
             {{"type", "BPE"},
              {"unk_token", "<unk>"},
              {"byte_fallback", true},
              {"fuse_unk", true},
              {"vocab", {{"<unk>", 0}, {"<0xC3>", 1}, {"<0xA9>", 2}, {m, 3}, {"a", 4}}},
              {"merges", json::array()}}},
            {"decoder",
             {{"type", "Sequence"},
              {"decoders",
               {{{"type", "Replace"}, {"pattern", {{"String", m}}}, {"content", " "}},
                {{"type", "ByteFallback"}},
                {{"type", "Fuse"}},
                {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}}};
  auto t = Tokenizer::from_file(write_tokenizer(dir, j));
  EXPECT_EQ(t->encode("a\xC3\xA9"), (std::vector<TokenId>{3, 4, 1, 2}));  // é -> <0xC3><0xA9>
  EXPECT_EQ(t->encode("a\xE2\x82\xAC\xE2\x82\xAC" "a"), (std::vector<TokenId>{3, 4, 0, 4}));  // €€ -> one fused unk
  EXPECT_EQ(t->decode(std::vector<TokenId>{3, 4, 1, 2}), "a\xC3\xA9");
  EXPECT_EQ(t->decode(std::vector<TokenId>{4, 1}), "a\xEF\xBF\xBD");  // a lone byte is U+FFFD
  reval::IncrementalDecoder dec(t);
  EXPECT_EQ(dec.push(3), "");
  EXPECT_EQ(dec.push(4), "a");
  EXPECT_EQ(dec.push(1), "");  // half of é held back
  EXPECT_EQ(dec.push(2), "\xC3\xA9");
  EXPECT_EQ(dec.flush(), "");
}

}  // namespace

namespace {

// Arbitrary bytes (mostly invalid UTF-8) never crash encode, and decode always returns valid UTF-8 that equals
// the U+FFFD-sanitized (and, for Qwen, NFC-normalized) input.
TEST(Tokenizer, RandomBytesFuzz) {
  std::uint64_t state = 987654321;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<unsigned>(state >> 33);
  };
  for (auto t : {qwen(), tiny()}) {
    for (int round = 0; round < 200; ++round) {
      std::string bytes(next() % 64, '\0');
      for (char& c : bytes) c = static_cast<char>(next() % 4 == 0 ? next() % 256 : 0x20 + next() % 0x60);
      auto ids = t->encode(bytes);
      std::string back = t->decode(ids);
      EXPECT_TRUE(reval::is_valid_utf8(back));
      if (t == qwen()) {
        EXPECT_EQ(back, reval::tok::unicode_normalize(reval::sanitize_utf8(bytes), "NFC"));
      }
      for (TokenId id : ids) EXPECT_TRUE(id >= 0 && id < t->vocab_size());
    }
  }
}

}  // namespace
