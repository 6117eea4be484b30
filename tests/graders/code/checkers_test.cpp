// Code extraction and the output checkers (pure functions).
#include <gtest/gtest.h>

#include "graders/code/code_grader.hpp"

using namespace reval::code;

TEST(Extract, LastFenceAfterThink) {
  std::string r = "<think>```python\nprint('reasoning')\n```</think>Here:\n```python\nprint(1)\n```\nand\n```python\nprint(2)\n```\n";
  auto c = extract_code(r);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->code, "print(2)\n");
  EXPECT_EQ(c->language_tag, "python");
  EXPECT_EQ(c->source, "fence");
  EXPECT_EQ(c->fence_count, 2);
}

TEST(Extract, LanguageTagPreferred) {
  std::string r = "```cpp\nint main(){}\n```\n```text\nsample output\n```\n";
  auto c = extract_code(r, "cpp");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->code, "int main(){}\n");
  auto any = extract_code(r);
  EXPECT_EQ(any->code, "sample output\n");
  auto py = extract_code("```py\nx=1\n```", "python");
  EXPECT_EQ(py->code, "x=1\n");
}

TEST(Extract, BareUnterminatedAndMissing) {
  auto bare = extract_code("\n    return a + b\n");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->code, "    return a + b\n");
  EXPECT_EQ(bare->source, "bare");
  auto open = extract_code("text\n```python\nprint(3)\n");
  ASSERT_TRUE(open);
  EXPECT_EQ(open->code, "print(3)\n");
  EXPECT_EQ(open->source, "fence_unterminated");
  std::string why;
  EXPECT_FALSE(extract_code("<think>still thinking ```python\nx\n```", {}, &why));
  EXPECT_EQ(why, "unterminated_think");
  // Cut off by the length limit before any </think> (a prefilled <think>): still reasoning, no program; the same
  // text that ended normally is a program.
  const std::string cut = "drafting\n```python\nprint(1)\n```\n";
  EXPECT_FALSE(extract_code(cut, {}, &why, reval::FinishReason::length));
  EXPECT_EQ(why, "truncated_in_think");
  ASSERT_TRUE(extract_code(cut, {}, &why, reval::FinishReason::stop));
  EXPECT_TRUE(extract_code("x</think>\n```python\nprint(1)\n", {}, &why, reval::FinishReason::length));
  EXPECT_FALSE(extract_code("<think>a</think>   \n", {}, &why));
  EXPECT_EQ(why, "no_code");
  EXPECT_FALSE(extract_code("```python\n\n```", {}, &why));
  EXPECT_EQ(why, "empty_code_block");
}

TEST(Extract, LongerFencesNest) {
  auto c = extract_code("````markdown\n```python\nx\n```\n````\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->code, "```python\nx\n```\n");
}

TEST(Checkers, Exact) {
  EXPECT_TRUE(check_exact("1 2\n3\n", "1 2\n3"));
  EXPECT_TRUE(check_exact("1 2  \n3\n\n", "1 2\n3\n"));
  std::string msg;
  EXPECT_FALSE(check_exact("1  2\n3\n", "1 2\n3\n", &msg));
  EXPECT_NE(msg.find("line 1"), std::string::npos);
  EXPECT_FALSE(check_exact("1 2\n", "1 2\n3\n"));
}

TEST(Checkers, Tokens) {
  EXPECT_TRUE(check_tokens("1\n2 3", "1 2\n3\n"));
  EXPECT_TRUE(check_tokens("YES 1.0", "YES 1"));  // numeric tokens equal as decimals
  EXPECT_FALSE(check_tokens("yes", "YES"));
  EXPECT_FALSE(check_tokens("1 2", "1 2 3"));
  EXPECT_FALSE(check_tokens("1.0000001", "1"));
  EXPECT_TRUE(check_tokens("", "  \n"));
}

TEST(Checkers, Float) {
  EXPECT_TRUE(check_float("0.3333333", "0.333333333", 1e-6, 1e-6));
  EXPECT_FALSE(check_float("0.334", "0.333333333", 1e-6, 1e-6));
  EXPECT_TRUE(check_float("1000000.5", "1000000.0", 1e-9, 1e-6));  // relative
  EXPECT_TRUE(check_float("abc 1.0", "abc 1.0000000001", 1e-6, 1e-6));
  EXPECT_FALSE(check_float("abd 1.0", "abc 1.0", 1e-6, 1e-6));
  EXPECT_FALSE(check_float("nan", "1.0", 1e-6, 1e-6));
  EXPECT_FALSE(check_float("1.0", "1.0 2.0", 1e-6, 1e-6));
}

TEST(Checkers, LiveCodeBenchLines) {
  EXPECT_TRUE(check_lcb("  3\n1 2 \n\n", "3\n1 2"));
  EXPECT_TRUE(check_lcb("1.0 2.50\n", "1 2.5\n"));
  EXPECT_FALSE(check_lcb("1 2\n", "1\n2\n"));     // line structure matters (unlike tokens)
  EXPECT_FALSE(check_lcb("1.5\n", "1.50001\n"));  // Decimal equality, no tolerance
  EXPECT_FALSE(check_lcb("Yes\n", "YES\n"));
  EXPECT_TRUE(check_lcb("a  b\n", "a  b"));
}

TEST(Checkers, DecimalEquality) {
  EXPECT_TRUE(decimal_equal("1e2", "100"));
  EXPECT_TRUE(decimal_equal("-0", "0.000"));
  EXPECT_TRUE(decimal_equal("+12.50", "12.5"));
  EXPECT_TRUE(decimal_equal("1_000", "1000"));
  EXPECT_FALSE(decimal_equal("1.1", "1.10000000000000001"));
  EXPECT_FALSE(decimal_equal("abc", "abc"));
  EXPECT_FALSE(decimal_equal("-1", "1"));
  EXPECT_TRUE(decimal_equal("Infinity", "inf"));
}
