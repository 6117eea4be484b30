// The codecs behind the loaders: RFC-4180 CSV edge cases, base64, zlib, the pickled-str decoder (every supported
// opcode, and clear errors for the rest), SHA-256 test vectors and the splitmix64 reference sequence.
#include <gtest/gtest.h>

#include <set>

#include "base/error.hpp"
#include "tasks/formats.hpp"
#include "tasks/task.hpp"

using namespace reval;
using namespace reval::formats;

TEST(Csv, QuotedNewlinesCrlfAndEscapedQuotes) {
  std::string text = "q,a\r\n\"line1\nline2\",\"say \"\"hi\"\"\"\r\n\r\nplain,\"x,y\"\n\"\",last";
  auto recs = parse_csv(text, "t.csv");
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].fields, (std::vector<std::string>{"q", "a"}));
  EXPECT_EQ(recs[1].fields, (std::vector<std::string>{"line1\nline2", "say \"hi\""}));
  EXPECT_EQ(recs[1].line, 2);
  EXPECT_EQ(recs[2].fields, (std::vector<std::string>{"plain", "x,y"}));
  EXPECT_EQ(recs[2].line, 5);  // after the quoted newline and the blank line
  EXPECT_EQ(recs[3].fields, (std::vector<std::string>{"", "last"}));
}

TEST(Csv, EmptyFieldsAndTrailingComma) {
  auto recs = parse_csv("a,,c,\n", "t.csv");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].fields, (std::vector<std::string>{"a", "", "c", ""}));
}

TEST(Csv, ErrorsNameFileAndLine) {
  try {
    parse_csv("a,b\n\"never closed,\nx\n", "bad.csv");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("unterminated"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_csv("\"a\"b,c\n", "bad.csv"), Error);
}

TEST(Base64, DecodesAndRejects) {
  EXPECT_EQ(base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(base64_decode("aGVs\nbG8h"), "hello!");
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_THROW(base64_decode("aGV*"), Error);
  EXPECT_THROW(base64_decode("a"), Error);
}

TEST(Zlib, InflatesAndRejectsCorruption) {
  // zlib.compress(b"hello hello hello") from Python.
  std::string z = base64_decode("eJzLSM3JyVfIQJAAOi4GfQ==");
  EXPECT_EQ(zlib_inflate(z), "hello hello hello");
  EXPECT_THROW(zlib_inflate(z.substr(0, z.size() - 3)), Error);
  EXPECT_THROW(zlib_inflate("not zlib at all"), Error);
}

TEST(Pickle, ProtocolsAndOpcodes) {
  // pickle.dumps("hi", protocol=4): PROTO 4, FRAME, SHORT_BINUNICODE, MEMOIZE, STOP.
  EXPECT_EQ(unpickle_str(std::string("\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00\x8c\x02hi\x94.", 17)), "hi");
  // protocol 3: BINUNICODE + BINPUT.
  EXPECT_EQ(unpickle_str(std::string("\x80\x03X\x03\x00\x00\x00" "abcq\x00.", 13)), "abc");
  // BINUNICODE8 (written by Python only for > 4 GiB strings), UTF-8 payload kept as is.
  std::string b8 = std::string("\x80\x05\x8d\x04\x00\x00\x00\x00\x00\x00\x00", 11) + "\xC3\xA9t\xC3" + "\x94.";
  EXPECT_THROW(unpickle_str(b8), Error);  // 4 bytes cut the second character: invalid UTF-8
  std::string ok8 = std::string("\x80\x05\x8d\x05\x00\x00\x00\x00\x00\x00\x00", 11) + "\xC3\xA9t\xC3\xA9" + "\x94.";
  EXPECT_EQ(unpickle_str(ok8), "\xC3\xA9t\xC3\xA9");
}

TEST(Pickle, RejectsOtherValuesClearly) {
  // pickle.dumps([1], protocol=4) starts with EMPTY_LIST after the frame.
  std::string list("\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94K\x01\x61.", 17);
  try {
    unpickle_str(list);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("EMPTY_LIST"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("offset 11"), std::string::npos) << e.what();
  }
  EXPECT_THROW(unpickle_str(std::string("\x80\x04\x8c\x05hi", 5)), Error);  // truncated string
  EXPECT_THROW(unpickle_str(std::string("\x80\x04\x8c\x02hi", 5)), Error);  // no STOP
  EXPECT_THROW(unpickle_str(std::string("\x80\x06\x8c\x02hi.", 6)), Error); // unknown protocol
  EXPECT_THROW(unpickle_str(std::string("\x80\x04.", 3)), Error);           // STOP without a value
}

TEST(SplitMix64, ReferenceSequenceAndShuffle) {
  SplitMix64 r(1234567);
  // Reference values of splitmix64 seeded with 1234567.
  EXPECT_EQ(r.next(), 6457827717110365317ULL);
  EXPECT_EQ(r.next(), 3203168211198807973ULL);
  EXPECT_EQ(r.next(), 9817491932198370423ULL);
  SplitMix64 a(42), b(42), c(43);
  auto pa = shuffled_indices(10, a), pb = shuffled_indices(10, b), pc = shuffled_indices(10, c);
  EXPECT_EQ(pa, pb);
  EXPECT_NE(pa, pc);
  EXPECT_EQ(std::set<int>(pa.begin(), pa.end()).size(), 10u);
  SplitMix64 u(7);
  for (int i = 0; i < 1000; ++i) ASSERT_LT(u.below(3), 3u);
}

TEST(Template, KnownPlaceholdersOnly) {
  nlohmann::json vars = {{"problem", "x {A} y"}, {"A", "alpha"}};
  EXPECT_EQ(render_prompt_template("{problem} | {A} | \\boxed{} | {B} | {not closed", vars),
            "x {A} y | alpha | \\boxed{} | {B} | {not closed");
}

// Random and truncated inputs: every decoder either succeeds or throws reval::Error, never crashes or reads out of
// bounds (run under REVAL_SANITIZE=ON to check the latter).
TEST(Formats, RobustToGarbage) {
  SplitMix64 rng(2024);
  const std::string pickled("\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00\x8c\x02hi\x94.", 17);
  const std::string alphabet = "\x80\x04\x95\x8c\x8d\x94X.q,\"\n\r ab=+/Aa0";
  int ok = 0, errors = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s;
    size_t len = rng.below(40);
    for (size_t k = 0; k < len; ++k) s += alphabet[rng.below(alphabet.size())];
    for (auto fn : {+[](const std::string& x) { (void)unpickle_str(x); },
                    +[](const std::string& x) { (void)parse_csv(x, "r.csv"); },
                    +[](const std::string& x) { (void)base64_decode(x); },
                    +[](const std::string& x) { (void)zlib_inflate(x); }}) {
      try {
        fn(s);
        ++ok;
      } catch (const Error&) {
        ++errors;
      }
    }
  }
  for (size_t cut = 0; cut < pickled.size(); ++cut) EXPECT_THROW(unpickle_str(pickled.substr(0, cut)), Error) << cut;
  EXPECT_GT(ok, 0);
  EXPECT_GT(errors, 0);
}
