// Shared vocabulary: verdict names, UTF-8 checks, JSONL line reporting, error locations, per-sample seeds.
#include <gtest/gtest.h>

#include "model/backend.hpp"
#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "base/sha256.hpp"
#include "base/verdict.hpp"

using namespace reval;

TEST(Verdict, NamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(Verdict::infra_error); ++i) {
    auto v = static_cast<Verdict>(i);
    EXPECT_EQ(verdict_from_string(to_string(v)), v);
  }
  EXPECT_FALSE(verdict_from_string("Correct").has_value());
  EXPECT_FALSE(is_scored(Verdict::infra_error));
  EXPECT_TRUE(is_scored(Verdict::wrong));
}

TEST(Utf8, ValidatesAndSanitizes) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("\xE2\x88\x9A x \xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC3"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));  // surrogate
  EXPECT_EQ(sanitize_utf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  // One policy for ill-formed input: one U+FFFD per maximal invalid subpart (as Python's errors="replace").
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\x98" "x"), "\xEF\xBF\xBD" "x");               // truncated 4-byte sequence
  EXPECT_EQ(sanitize_utf8("\xE2\x82"), "\xEF\xBF\xBD");                             // cut at the end
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: 3
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                 // overlong: 2
  EXPECT_EQ(sanitize_utf8("\xC3\xA9t\xC3\xA9"), "\xC3\xA9t\xC3\xA9");                 // valid text untouched
  std::int32_t cp = 0;
  EXPECT_EQ(utf8_decode("\xF0\x9F\x98" "x", 0, cp), 3u);
  EXPECT_EQ(cp, -1);
  EXPECT_EQ(utf8_decode("\xF0\x9F\x98\x80", 0, cp), 4u);
  EXPECT_EQ(cp, 0x1F600);
}

TEST(Jsonl, ReportsBadLinesWithNumbers) {
  std::string text = "{\"a\":1}\n\n{bad}\r\n\"\xFF\"\n[2]";
  std::vector<JsonlLine> lines;
  for_each_jsonl(text, [&](JsonlLine& l) { lines.push_back(l); });
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].line, 1);
  EXPECT_EQ((*lines[0].value)["a"], 1);
  EXPECT_EQ(lines[1].line, 3);
  EXPECT_NE(lines[1].error.find("invalid JSON"), std::string::npos);
  EXPECT_EQ(lines[2].line, 4);
  EXPECT_EQ(lines[2].error, "invalid UTF-8");
  EXPECT_EQ(lines[3].line, 5);
  EXPECT_EQ(*lines[3].value, nlohmann::json::array({2}));
}

TEST(Error, NamesFileLineField) {
  try {
    fail_at("data/x.jsonl", 7, "answer", "missing");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "data/x.jsonl:7: field 'answer': missing");
  }
  EXPECT_THROW(read_file("/nonexistent/file"), Error);
}

TEST(SampleSeed, StableAndDistinct) {
  auto a = sample_seed(1, "math500", "p1", 0);
  EXPECT_EQ(a, sample_seed(1, "math500", "p1", 0));
  EXPECT_NE(a, sample_seed(1, "math500", "p1", 1));
  EXPECT_NE(a, sample_seed(2, "math500", "p1", 0));
  EXPECT_NE(sample_seed(1, "ab", "c", 0), sample_seed(1, "a", "bc", 0));
  // Pinned values (computed independently in Python from the definition): a change here would make resumed runs
  // of older databases sample different tokens than the samples already stored.
  EXPECT_EQ(sample_seed(0, "math500", "test/precalculus/807.json", 3), 0xbbaee4edddc628a3ULL);
  EXPECT_EQ(sample_seed(12345, "aime24", "2024-I-1", 63), 0xb9208d6d975ceef3ULL);
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex(std::string(1000, 'a')).substr(0, 16), "41edece42d63e8d9");
}

TEST(Sha256, IncrementalAcrossBlocks) {
  Sha256 h;
  std::string million(1000000, 'a');
  for (size_t i = 0; i < million.size(); i += 999) h.update(std::string_view(million).substr(i, 999));
  EXPECT_EQ(h.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
