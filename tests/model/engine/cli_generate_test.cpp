// `reval generate` end to end: greedy tinystories continuation on stdout, the summary line on stderr, sampling
// flags accepted and seeded runs reproducible, and a clear error for a missing model folder.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "tests/model/engine/golden_util.hpp"

namespace reval {
namespace {

struct Run {
  int status = -1;
  std::string out;
};

Run run(const std::string& args) {
  const std::string cmd = test::reval_binary() + " " + args + " 2>/dev/null";
  Run r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  r.status = pclose(p);
  return r;
}

class CliGenerate : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(test::reval_binary())) GTEST_SKIP() << "reval binary not built: " << test::reval_binary();
  }
  std::string model() const { return test::models_dir() + "/tinystories-656k"; }
};

TEST_F(CliGenerate, GreedyStreamsTheReferenceContinuation) {
  auto r = run("generate --model " + model() + " --prompt 'Once upon a time' --max-new-tokens 12 --threads 2");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind(", a little girl named Lily lived in a small house", 0), 0u) << r.out;
}

TEST_F(CliGenerate, SeededSamplingIsReproducible) {
  const std::string args = "generate --model " + model() +
                           " --prompt 'Once upon a time' --chat --temperature 0.9 --top-p 0.95 --top-k 40 --min-p 0.01"
                           " --max-new-tokens 20 --seed ";
  auto a = run(args + "5"), b = run(args + "5");
  EXPECT_EQ(a.status, 0);
  EXPECT_FALSE(a.out.empty());
  EXPECT_EQ(a.out, b.out);
}

TEST_F(CliGenerate, MissingModelIsAnError) {
  auto r = run("generate --model /nonexistent-model-dir --prompt x");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(r.out.empty());
}

}  // namespace
}  // namespace reval
