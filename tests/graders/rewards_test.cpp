// The reward core (graders/rewards.hpp): routing, ground truth -> items, the components (format, language,
// length), the composite reward, missing rewards (never 0), batches (same as one by one, per-item deadlines,
// concurrent callers share the pool).
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "base/error.hpp"
#include "graders/rewards.hpp"

using nlohmann::json;
namespace rw = reval::rewards;

namespace {

// A grader whose verdict the test sets: "correct"/"wrong" by the response, throws on "throw", reports a math-style
// timeout on "timeout", and waits for the test's latch on "block".
class FakeGrader final : public reval::Grader {
 public:
  std::string_view name() const override { return "fake"; }
  std::string_view version() const override { return "0"; }
  reval::GradeResult grade(const reval::GradeRequest& req) const override {
    reval::GradeResult r;
    if (req.response == "throw") throw std::runtime_error("sandbox exploded");
    if (req.response == "block") {
      std::unique_lock<std::mutex> lock(mu);
      ++blocked;
      cv.notify_all();
      cv.wait(lock, [&] { return released; });
    }
    if (req.response == "rendezvous") {  // returns once two graders are inside at the same time
      std::unique_lock<std::mutex> lock(mu);
      ++inside;
      cv.notify_all();
      if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return inside >= 2; })) throw std::runtime_error("alone");
    }
    r.verdict = req.response == "timeout" ? reval::Verdict::wrong
                : (!req.gold.empty() && req.response.find(req.gold[0]) != std::string::npos) ? reval::Verdict::correct
                                                                                              : reval::Verdict::wrong;
    if (req.response == "timeout") r.details["timeout"] = true;
    r.score = r.verdict == reval::Verdict::correct ? 1.0 : 0.0;
    return r;
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
  void wait_blocked(int n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return blocked >= n; });
  }
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  mutable int blocked = 0, inside = 0;
  bool released = false;
};

// A scorer with the fake registered as data source "fake".
struct FakeSetup {
  explicit FakeSetup(int workers = 2) : scorer(json::object(), workers) {
    auto g = std::make_unique<FakeGrader>();
    fake = g.get();
    scorer.graders().add("fake", std::move(g));
    scorer.add_route("fake", rw::Route{"fake", json::object(), "fake"});
  }
  rw::RewardScorer scorer;
  FakeGrader* fake = nullptr;
};

rw::RewardItem item(std::string source, std::string response, json gold) {
  rw::RewardItem it;
  it.source = std::move(source);
  it.response = std::move(response);
  it.gold = std::move(gold);
  return it;
}

}  // namespace

// ---- routing ----------------------------------------------------------------------------------------------------

TEST(RewardRouting, KindsAndVerlDataSources) {
  EXPECT_EQ(rw::route("math").grader, "math");
  EXPECT_EQ(rw::route("choice").grader, "choice");
  EXPECT_EQ(rw::route("code").grader, "code");
  EXPECT_EQ(rw::route("HuggingFaceH4/MATH-500").grader, "math");
  EXPECT_EQ(rw::route("lighteval/MATH").grader, "math");
  EXPECT_EQ(rw::route("openai/gsm8k").grader, "math");
  EXPECT_EQ(rw::route("aime24").grader, "math");
  EXPECT_EQ(rw::route("aime24").matched, "aime*");
  EXPECT_EQ(rw::route("aime_2025").grader, "math");
  EXPECT_EQ(rw::route("numina_olympiads").grader, "math");
  EXPECT_EQ(rw::route("gpqa_diamond").grader, "choice");
  EXPECT_EQ(rw::route("Idavidrein/gpqa").grader, "choice");
  EXPECT_EQ(rw::route("livecodebench").grader, "code");
  EXPECT_EQ(rw::route("livecodebench/code_generation_lite").grader, "code");
  EXPECT_EQ(rw::route("codeforces").grader, "code");
  EXPECT_EQ(rw::route("humaneval").grader, "code");
  auto pro = rw::route("TIGER-Lab/MMLU-Pro");
  EXPECT_EQ(pro.grader, "choice");
  EXPECT_EQ(pro.fields.value("choices", ""), "ABCDEFGHIJ");
  EXPECT_FALSE(rw::route("cais/mmlu").fields.contains("choices"));
}

TEST(RewardRouting, UnknownSourceIsAClearError) {
  try {
    rw::route("my/unknown-dataset");
    FAIL() << "expected an error";
  } catch (const reval::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("my/unknown-dataset"), std::string::npos) << m;
    EXPECT_NE(m.find("HuggingFaceH4/MATH-500"), std::string::npos) << m;  // lists the known names
    EXPECT_NE(m.find("aime*"), std::string::npos) << m;
  }
  EXPECT_THROW(rw::route("MATH"), reval::Error);    // names are exact (case-sensitive)
  EXPECT_THROW(rw::route("xaime24"), reval::Error); // a prefix pattern matches at the start only
}

// ---- ground truth -----------------------------------------------------------------------------------------------

TEST(RewardGroundTruth, MathAndChoiceGold) {
  auto a = rw::item_from_ground_truth("aime24", "r", "204");
  EXPECT_EQ(a.gold, "204");
  auto b = rw::item_from_ground_truth("math", "r", 42);
  EXPECT_EQ(b.gold, 42);
  auto c = rw::item_from_ground_truth("math", "r", json::array({"1/2", "0.5"}));
  EXPECT_EQ(c.gold.size(), 2u);
  auto d = rw::item_from_ground_truth("math", "r", json{{"answer", "7"}});
  EXPECT_EQ(d.gold, "7");
  auto e = rw::item_from_ground_truth("gpqa_diamond", "r", "C", json{{"choices", "ABCDE"}, {"finish_reason", "length"}});
  EXPECT_EQ(e.fields.value("choices", ""), "ABCDE");
  EXPECT_EQ(e.finish, reval::FinishReason::length);
  auto f = rw::item_from_ground_truth("math", "r", "1", json{{"chat_prompt", "x<think>\n"}, {"length", 99}});
  EXPECT_EQ(f.prompt, "x<think>\n");
  EXPECT_EQ(f.length.value_or(0), 99);
  EXPECT_THROW(rw::item_from_ground_truth("math", "r", nullptr), reval::Error);
  EXPECT_THROW(rw::item_from_ground_truth("math", "r", json{{"x", 1}}), reval::Error);
  EXPECT_THROW(rw::item_from_ground_truth("math", "r", json::array({json::object()})), reval::Error);
  EXPECT_THROW(rw::item_from_ground_truth("math", "r", "1", json::array()), reval::Error);  // extra_info
  EXPECT_THROW(rw::item_from_ground_truth("nope", "r", "1"), reval::Error);
}

TEST(RewardGroundTruth, CodeTestsInEveryForm) {
  // APPS/PRIME-style stdio, as a JSON string (how verl parquet files hold it).
  auto s = rw::item_from_ground_truth("codecontests", "r",
                                      R"({"inputs": ["1 2\n", ["3", "4"]], "outputs": ["3\n", "7"]})");
  ASSERT_EQ(s.fields["tests"].size(), 2u);
  EXPECT_EQ(s.fields["tests"][0]["input"], "1 2\n");
  EXPECT_EQ(s.fields["tests"][1]["input"], "3\n4");
  EXPECT_FALSE(s.fields.contains("fn_name"));
  // Call-based: argument lists become newline-separated JSON; all-wrapped outputs are unwrapped.
  auto f = rw::item_from_ground_truth(
      "apps", "r", json{{"fn_name", "add"}, {"inputs", {{1, 2}, {"a", "b"}}}, {"outputs", {{3}, {"ab"}}}});
  EXPECT_EQ(f.fields["fn_name"], "add");
  EXPECT_EQ(f.fields["tests"][0]["input"], "1\n2");
  EXPECT_EQ(f.fields["tests"][1]["input"], "\"a\"\n\"b\"");
  EXPECT_EQ(f.fields["tests"][0]["output"], "3");
  EXPECT_EQ(f.fields["tests"][1]["output"], "\"ab\"");
  // reval's own fields and HumanEval pass through.
  auto h = rw::item_from_ground_truth("humaneval", "r", json{{"test", "def check(c): pass"}, {"entry_point", "f"}});
  EXPECT_EQ(h.fields["entry_point"], "f");
  auto extra = rw::item_from_ground_truth("livecodebench", "r", json{{"tests", json::array()}},
                                          json{{"fields", {{"time_limit", 2}}}});
  EXPECT_EQ(extra.fields["time_limit"], 2);
  // Bad ground truth names what is wrong.
  auto message = [](const json& gt) {
    try {
      rw::item_from_ground_truth("livecodebench", "r", gt);
    } catch (const reval::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("not json {").find("ground_truth"), std::string::npos);
  EXPECT_NE(message(json{{"inputs", {"1"}}}).find("outputs"), std::string::npos);
  EXPECT_NE(message(json{{"inputs", {"1", "2"}}, {"outputs", {"1"}}}).find("2 inputs but 1 outputs"),
            std::string::npos);
  EXPECT_NE(message(json{{"something", 1}}).find("tests"), std::string::npos);
  EXPECT_NE(message(5).find("JSON object"), std::string::npos);
}

// ---- components -------------------------------------------------------------------------------------------------

TEST(RewardFormat, ReasoningClosedAndAnswerMarked) {
  struct Case {
    const char* response;
    const char* grader;
    const char* prompt;
    bool think, answer;
  };
  const Case cases[] = {
      {"<think>\nlet me see\n</think>\nSo \\boxed{4}.", "math", "", true, true},
      {"  <think>x</think>The answer is \\boxed{ 4 }", "math", "", true, true},
      // The chat template prefilled "<think>\n": the completion holds only the closing tag.
      {"let me see\n</think>\n\\boxed{4}", "math", "<|user|>2+2?<|assistant|><think>\n", true, true},
      {"let me see\n</think>\n\\boxed{4}", "math", "", true, true},  // prompt unknown: either form passes
      {"<think>again</think>\\boxed{4}", "math", "<|assistant|><think>\n", false, true},  // opened twice
      {"no opening</think>\\boxed{4}", "math", "<|assistant|>", false, true},  // nothing opened it
      {"<think>a</think><think>b</think>\\boxed{4}", "math", "", false, true},
      {"<think>a</think>b</think>\\boxed{4}", "math", "", false, true},
      {"<think>never closed \\boxed{4}", "math", "", false, false},  // an unclosed think has no answer
      {"\\boxed{4}", "math", "", false, true},
      {"hello <think>x</think>\\boxed{4}", "math", "", false, true},
      {"<think>x</think>\\boxed{}", "math", "", true, false},       // an empty box is no answer
      {"<think>x</think>it is 4", "math", "", true, false},
      {"<think>\\boxed{4}</think>it is 4", "math", "", true, false}, // a box inside the reasoning does not count
      {"<think>x</think>\nAnswer: C", "choice", "", true, true},
      {"<think>x</think>\n**Answer:** C", "choice", "", true, true},
      {"<think>x</think>\nAnswer:   ", "choice", "", true, false},
      {"<think>x</think>\n```python\nprint(1)\n```", "code", "", true, true},
      {"<think>x</think>\nprint(1)", "code", "", true, false},
      {"<think>```python\nprint(1)\n```</think>done", "code", "", true, false},
  };
  for (const auto& c : cases) {
    rw::FormatCheck f = rw::check_format(c.response, c.grader, c.prompt);
    EXPECT_EQ(f.think_closed, c.think) << c.response << " (" << f.reason << ")";
    EXPECT_EQ(f.answer_marked, c.answer) << c.response << " (" << f.reason << ")";
    EXPECT_EQ(f.score(rw::FormatOptions{}), c.think && c.answer ? 1.0 : 0.0) << c.response;
    if (!(c.think && c.answer)) {
      EXPECT_FALSE(f.reason.empty()) << c.response;
    }
  }
  rw::FormatOptions loose;
  loose.require_think = false;
  EXPECT_EQ(rw::check_format("\\boxed{4}", "math").score(loose), 1.0);
  EXPECT_EQ(rw::check_format("4", "math").score(loose), 0.0);
  // The answer is where the graders look for it (base/reasoning.hpp): an output cut off by the length limit with no
  // </think> is still reasoning, so its box is not an answer; after a </think> it is.
  EXPECT_EQ(rw::check_format("\\boxed{4}", "math", "", reval::FinishReason::length).score(loose), 0.0);
  EXPECT_EQ(rw::check_format("x</think>\\boxed{4}", "math", "", reval::FinishReason::length).score(loose), 1.0);
}

TEST(RewardLanguage, ShareOfTheReasoningInTheTargetScript) {
  auto en = rw::check_language("<think>First we add the two numbers, then divide by $x^2$.</think>\\boxed{3}", "en");
  EXPECT_DOUBLE_EQ(en.share, 1.0);
  EXPECT_GT(en.words, 8u);
  EXPECT_EQ(en.top_script, "Latin");
  // Chinese reasoning with LaTeX, a variable and math spans: all of it counts as Chinese.
  const std::string zh = "<think>首先，设 x 为未知数。我们有 $\\frac{a}{b} = 2$，所以 \\alpha 等于二。</think>答案是 \\boxed{2}";
  auto z = rw::check_language(zh, "zh");
  EXPECT_DOUBLE_EQ(z.share, 1.0) << z.words << " words, " << z.target_words << " Chinese";
  EXPECT_EQ(z.top_script, "Han");
  EXPECT_DOUBLE_EQ(rw::check_language(zh, "en").share, 0.0);
  // Mixed: half the words.
  auto mixed = rw::check_language("<think>我们 consider 这个 problem</think>", "zh");
  EXPECT_EQ(mixed.words, 6u);  // 我 们 这 个 (one word per Han character) + consider + problem
  EXPECT_EQ(mixed.target_words, 4u);
  // Only the reasoning counts: an English answer after Chinese reasoning is fine.
  EXPECT_DOUBLE_EQ(rw::check_language("<think>计算结果</think>The answer is 5.", "zh").share, 1.0);
  // Japanese: kanji and kana; Russian: Cyrillic; code blocks are not counted.
  EXPECT_DOUBLE_EQ(rw::check_language("これは漢字とカタカナです</think>", "ja").share, 1.0);
  EXPECT_DOUBLE_EQ(rw::check_language("Это простая задача</think>", "ru").share, 1.0);
  EXPECT_DOUBLE_EQ(rw::check_language("Решим.\n```python\nprint('hello world')\n```\nГотово</think>", "ru").share, 1.0);
  // No words at all: no evidence of the target language.
  auto empty = rw::check_language("<think>$1+1=2$</think>", "en");
  EXPECT_EQ(empty.words, 0u);
  EXPECT_DOUBLE_EQ(empty.share, 0.0);
  // Targets: codes with regions, script names; unknown ones are errors.
  EXPECT_EQ(rw::target_scripts("zh-CN"), std::vector<std::string>{"Han"});
  EXPECT_EQ(rw::target_scripts("cyrillic"), std::vector<std::string>{"Cyrillic"});
  EXPECT_THROW(rw::target_scripts("klingon"), reval::Error);
  EXPECT_EQ(rw::script_of(U'a'), "Latin");
  EXPECT_EQ(rw::script_of(U'é'), "Latin");
  EXPECT_EQ(rw::script_of(U'π'), "Greek");
  EXPECT_EQ(rw::script_of(U'ж'), "Cyrillic");
  EXPECT_EQ(rw::script_of(U'中'), "Han");
  EXPECT_EQ(rw::script_of(U'か'), "Hiragana");
  EXPECT_EQ(rw::script_of(U'한'), "Hangul");
  EXPECT_EQ(rw::script_of(U'1'), "Other");
  EXPECT_EQ(rw::script_of(U'\U00020000'), "Han");
}

TEST(RewardLength, DapoOverlongPenalty) {
  rw::LengthPenalty p{100, 20};
  EXPECT_EQ(rw::length_penalty(50, p), 0.0);
  EXPECT_EQ(rw::length_penalty(80, p), 0.0);
  EXPECT_DOUBLE_EQ(rw::length_penalty(90, p), -0.5);
  EXPECT_DOUBLE_EQ(rw::length_penalty(100, p), -1.0);
  EXPECT_EQ(rw::length_penalty(101, p), -1.0);
  EXPECT_EQ(rw::length_penalty(101, rw::LengthPenalty{100, 0}), -1.0);
  EXPECT_EQ(rw::length_penalty(100, rw::LengthPenalty{100, 0}), 0.0);
  EXPECT_EQ(rw::length_penalty(1000000, rw::LengthPenalty{}), 0.0);  // off
}

TEST(RewardOptions, FromJsonNamesBadKeys) {
  auto o = rw::RewardOptions::from_json(json{{"format_weight", 0.5}, {"language", "zh"}, {"max_length", 100},
                                             {"length_buffer", 10}, {"deadline_s", 3}, {"require_think", false}});
  EXPECT_EQ(o.weights.format, 0.5);
  EXPECT_EQ(o.weights.accuracy, 1.0);
  EXPECT_EQ(o.language, "zh");
  EXPECT_EQ(o.length.max_length, 100);
  EXPECT_EQ(o.deadline_s, 3.0);
  EXPECT_FALSE(o.format.require_think);
  auto w = rw::RewardOptions::from_json(json{{"weights", {{"accuracy", 2}, {"language", 0.1}}}});
  EXPECT_EQ(w.weights.accuracy, 2.0);
  EXPECT_EQ(w.weights.language, 0.1);
  auto error = [](const json& j) {
    try {
      rw::RewardOptions::from_json(j);
    } catch (const reval::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error(json{{"format_wieght", 1}}).find("format_wieght"), std::string::npos);
  EXPECT_NE(error(json{{"format_weight", "high"}}).find("format_weight"), std::string::npos);
  EXPECT_NE(error(json{{"max_length", -5}}).find("max_length"), std::string::npos);
  EXPECT_NE(error(json{{"language", "klingon"}}).find("klingon"), std::string::npos);
  EXPECT_NE(error(json{{"weights", {{"speed", 1}}}}).find("weights.speed"), std::string::npos);
  EXPECT_NE(error(json::array()).find("expected an object"), std::string::npos);
  EXPECT_EQ(rw::RewardOptions::from_json(o.to_json()).to_json(), o.to_json());
}

// ---- scoring ----------------------------------------------------------------------------------------------------

TEST(RewardScorer, MathAccuracyIsTheGradersVerdict) {
  rw::RewardScorer scorer(json::object(), 2);
  auto right = scorer.score(item("HuggingFaceH4/MATH-500", "<think>...</think> \\boxed{\\frac{1}{2}}", "0.5"));
  EXPECT_EQ(right.verdict, reval::Verdict::correct);
  ASSERT_TRUE(right.reward.has_value());
  EXPECT_EQ(*right.reward, 1.0);
  EXPECT_EQ(right.grader, "math");
  EXPECT_FALSE(right.grader_version.empty());
  EXPECT_EQ(right.extracted.value_or(""), "1/2");
  auto wrong = scorer.score(item("aime24", "<think>...</think> \\boxed{3}", "204"));
  EXPECT_EQ(wrong.verdict, reval::Verdict::wrong);
  ASSERT_TRUE(wrong.reward.has_value());
  EXPECT_EQ(*wrong.reward, 0.0);
  EXPECT_TRUE(wrong.missing.empty());
  auto cut = scorer.score([] {
    auto it = item("math", "<think>still thinking \\boxed{204}", "204");
    it.finish = reval::FinishReason::length;
    return it;
  }());
  EXPECT_EQ(cut.verdict, reval::Verdict::no_answer);
  EXPECT_EQ(cut.reward.value_or(-1), 0.0);
  auto letter = scorer.score(item("gpqa_diamond", "<think>hmm</think>\nAnswer: C", "C"));
  EXPECT_EQ(letter.verdict, reval::Verdict::correct);
  EXPECT_EQ(letter.grader, "choice");
}

TEST(RewardScorer, CompositeRewardReportsEachComponent) {
  rw::RewardScorer scorer(json::object(), 2);
  rw::RewardOptions o;
  o.weights = {1.0, 0.5, 0.25, 1.0};
  o.language = "en";
  o.length = {60, 20};
  // Correct, well formed, English, 50 code points long (halfway into the soft zone: -0.5).
  const std::string text = "<think>add them up</think> \\boxed{204}\n12345678901";
  ASSERT_EQ(text.size(), 50u);
  auto r = scorer.score(item("math", text, "204"), o);
  EXPECT_EQ(r.accuracy, 1.0);
  EXPECT_EQ(r.format.value_or(-1), 1.0);
  EXPECT_EQ(r.language.value_or(-1), 1.0);
  EXPECT_DOUBLE_EQ(r.length.value_or(-9), -0.5);
  EXPECT_DOUBLE_EQ(r.reward.value_or(-9), 1.0 + 0.5 + 0.25 - 0.5);
  EXPECT_EQ(r.details["format"]["think_closed"], true);
  EXPECT_EQ(r.details["length"]["unit"], "code_points");
  // The same answer without the think block: format 0, the rest the same. Token length beats code points.
  auto it = item("math", "\\boxed{204}", "204");
  it.length = 100;
  auto r2 = scorer.score(it, o);
  EXPECT_EQ(r2.format.value_or(-1), 0.0);
  EXPECT_EQ(r2.length.value_or(-9), -1.0);
  EXPECT_EQ(r2.details["length"]["unit"], "tokens");
  EXPECT_DOUBLE_EQ(r2.reward.value_or(-9), 1.0 + 0.0 + 0.0 - 1.0);  // no words: language 0
  // Defaults: accuracy only; the format is still reported.
  auto r3 = scorer.score(item("math", "\\boxed{204}", "204"));
  EXPECT_EQ(r3.reward.value_or(-9), 1.0);
  EXPECT_EQ(r3.format.value_or(-1), 0.0);
  EXPECT_FALSE(r3.language.has_value());
  EXPECT_FALSE(r3.length.has_value());
  auto j = r.to_json();
  EXPECT_EQ(j["components"]["format"], 1.0);
  EXPECT_EQ(j["missing"], nullptr);
}

TEST(RewardScorer, InfraErrorIsAMissingRewardNeverZero) {
  FakeSetup s;
  auto broken = s.scorer.score(item("fake", "throw", "x"));
  EXPECT_EQ(broken.verdict, reval::Verdict::infra_error);
  EXPECT_FALSE(broken.reward.has_value());
  EXPECT_EQ(broken.missing, "infra_error");
  EXPECT_EQ(broken.details.value("stage", ""), "grading");
  EXPECT_NE(broken.details.value("error", "").find("sandbox exploded"), std::string::npos);
  EXPECT_EQ(broken.to_json()["reward"], nullptr);
  // Positive twin: the same fake grading normally gives a number.
  auto fine = s.scorer.score(item("fake", "has x", "x"));
  EXPECT_EQ(fine.reward.value_or(-1), 1.0);
  // A failed generation and an unknown source are missing too, not wrong.
  auto gen = item("math", "\\boxed{1}", "1");
  gen.finish = reval::FinishReason::error;
  EXPECT_EQ(s.scorer.score(gen).missing, "infra_error");
  auto unknown = s.scorer.score(item("no-such-source", "\\boxed{1}", "1"));
  EXPECT_EQ(unknown.missing, "infra_error");
  EXPECT_EQ(unknown.details.value("stage", ""), "input");
  // A grader's own infra_error (the choice grader's bad fields) likewise.
  auto bad_fields = item("choice", "Answer: A", "A");
  bad_fields.fields = {{"choices", "ab"}};
  EXPECT_FALSE(s.scorer.score(bad_fields).reward.has_value());
  // A batch counts them.
  rw::BatchStats stats;
  auto out = s.scorer.score_batch({item("fake", "throw", "x"), item("fake", "x", "x"), item("fake", "y", "x")}, {},
                                  &stats);
  EXPECT_EQ(stats.items, 3);
  EXPECT_EQ(stats.missing, 1);
  EXPECT_EQ(stats.infra_errors, 1);
  EXPECT_EQ(stats.verdicts["correct"], 1);
  EXPECT_EQ(stats.verdicts["wrong"], 1);
  EXPECT_FALSE(out[0].reward.has_value());
  EXPECT_EQ(out[1].reward.value_or(-1), 1.0);
  EXPECT_EQ(out[2].reward.value_or(-1), 0.0);
}

TEST(RewardScorer, UndecidedComparisonIsMissingUnlessAskedOtherwise) {
  FakeSetup s;
  auto r = s.scorer.score(item("fake", "timeout", "x"));
  EXPECT_EQ(r.verdict, reval::Verdict::wrong);  // the verdict stays what the grader said
  EXPECT_FALSE(r.reward.has_value());
  EXPECT_EQ(r.missing, "undecided");
  rw::RewardOptions o;
  o.undecided_is_missing = false;
  EXPECT_EQ(s.scorer.score(item("fake", "timeout", "x"), o).reward.value_or(-1), 0.0);
}

TEST(RewardScorer, BatchEqualsOneByOne) {
  rw::RewardScorer scorer(json::object(), 3);
  std::vector<rw::RewardItem> items;
  const char* golds[] = {"12", "\\frac{3}{4}", "x^2+1", "\\sqrt{2}", "-7"};
  const char* answers[] = {"12", "0.75", "1+x^2", "1.41", "7", "\\frac{6}{8}", "(x+1)^2-2x"};
  for (int i = 0; i < 210; ++i) {
    std::string resp = std::string("<think>work</think> \\boxed{") + answers[i % 7] + "}";
    if (i % 11 == 0) resp = "no answer here";
    items.push_back(item(i % 13 == 0 ? "gpqa" : "math", i % 13 == 0 ? "Answer: B" : resp,
                         i % 13 == 0 ? json("B") : json(golds[i % 5])));
  }
  rw::BatchStats stats;
  auto batch = scorer.score_batch(items, {}, &stats);
  ASSERT_EQ(batch.size(), items.size());
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto one = scorer.score(items[i]);
    EXPECT_EQ(batch[i].verdict, one.verdict) << i << ": " << items[i].response;
    EXPECT_EQ(batch[i].reward, one.reward) << i;
    EXPECT_EQ(batch[i].extracted, one.extracted) << i;
    correct += one.verdict == reval::Verdict::correct;
  }
  EXPECT_EQ(stats.items, 210);
  EXPECT_EQ(stats.verdicts["correct"], correct);
  EXPECT_GT(correct, 20);
  EXPECT_LT(correct, 210);
  EXPECT_TRUE(scorer.score_batch({}).empty());
}

TEST(RewardScorer, ItemsNotGradedByTheDeadlineAreMissing) {
  FakeSetup s(2);
  rw::RewardOptions o;
  o.deadline_s = 1.0;
  std::vector<rw::RewardItem> items = {item("fake", "x", "x"), item("fake", "y", "x"), item("fake", "block", "x"),
                                       item("fake", "x", "x")};
  rw::BatchStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  auto out = s.scorer.score_batch(items, o, &stats);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.fake->release();  // the abandoned item finishes in the background; its result is dropped
  EXPECT_GE(waited, 0.9);
  EXPECT_EQ(out[2].missing, "deadline");
  EXPECT_FALSE(out[2].reward.has_value());
  EXPECT_EQ(out[2].verdict, reval::Verdict::infra_error);
  EXPECT_EQ(out[0].reward.value_or(-1), 1.0);  // graded in time: kept
  EXPECT_EQ(out[1].reward.value_or(-1), 0.0);
  EXPECT_EQ(out[3].reward.value_or(-1), 1.0);
  EXPECT_EQ(stats.deadline, 1);
  EXPECT_EQ(stats.missing, 1);
  // Without a deadline the same batch waits for every item.
  FakeSetup t(2);
  std::thread releaser([&] {
    t.fake->wait_blocked(1);
    t.fake->release();
  });
  auto all = t.scorer.score_batch(items, {});
  releaser.join();
  EXPECT_EQ(all[2].reward.value_or(-1), 0.0);
  EXPECT_TRUE(all[2].missing.empty());
}

TEST(RewardScorer, ConcurrentCallersShareThePoolAtOnce) {
  // Two threads each score a batch whose item returns only once two graders run at the same time: the test can
  // only finish if the two batches are graded concurrently (a lock around score_batch would make "alone" fail).
  FakeSetup s(2);
  std::vector<rw::RewardResult> a, b;
  std::thread t1([&] { a = s.scorer.score_batch({item("fake", "rendezvous", "r")}); });
  std::thread t2([&] { b = s.scorer.score_batch({item("fake", "rendezvous", "r")}); });
  t1.join();
  t2.join();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].reward.value_or(-1), 1.0) << a[0].details.dump();
  EXPECT_EQ(b[0].reward.value_or(-1), 1.0) << b[0].details.dump();
  EXPECT_EQ(s.scorer.max_concurrent_batches(), 2);
}

TEST(RewardScorer, ItemFromALineIsWhatRevalGradeReads) {
  rw::RewardItem it;
  EXPECT_EQ(rw::item_from_line(json{{"response", "\\boxed{2}"}, {"gold", {"2", "two"}}, {"finish_reason", "length"},
                                    {"extra", 1}},
                               "math", it),
            "");
  EXPECT_EQ(it.source, "math");
  EXPECT_EQ(it.gold, json::array({"2", "two"}));
  EXPECT_EQ(it.finish, reval::FinishReason::length);
  EXPECT_EQ(it.fields, json({{"extra", 1}}));
  EXPECT_NE(rw::item_from_line(json{{"gold", "1"}}, "math", it).find("response"), std::string::npos);
  EXPECT_NE(rw::item_from_line(json{{"response", "x"}}, "math", it).find("gold"), std::string::npos);
  EXPECT_EQ(rw::item_from_line(json{{"response", "x"}, {"tests", json::array()}}, "code", it), "");
  EXPECT_NE(rw::item_from_line(json::array(), "math", it).find("object"), std::string::npos);
}
