// base/: URLs, stable hashes and seeded randomness, the job pool, finish reasons.
#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/reasoning.hpp"

#include "base/error.hpp"
#include "base/finish_reason.hpp"
#include "base/hash.hpp"
#include "base/job_pool.hpp"
#include "base/jsonl.hpp"
#include "base/url.hpp"

#include <zlib.h>

using namespace reval;

TEST(Url, ParsesWhatServersAndHubsUse) {
  Url u = parse_url("http://127.0.0.1:8000/v1");
  EXPECT_EQ(u.scheme, "http");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8000);
  EXPECT_EQ(u.path, "/v1");
  EXPECT_EQ(u.origin(), "http://127.0.0.1:8000");
  u = parse_url("HTTPS://huggingface.co/");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.path, "");
  EXPECT_EQ(u.origin(), "https://huggingface.co");
  u = parse_url("http://[::1]:9000/a/b/?q=1#f");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.path, "/a/b");
  EXPECT_EQ(u.origin(), "http://[::1]:9000");
  for (const char* bad : {"ftp://x", "127.0.0.1:8000/v1", "http://:80/v1", "http://h:99999", "http://h:80x",
                          "http://user:pw@h/", "http://[::1", "http://h:/v1"}) {
    try {
      parse_url(bad, "base_url");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("base_url '"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(1536), "1.5 kB");
  EXPECT_EQ(human_bytes(5u << 20), "5.0 MB");
}

TEST(Hash, ReferenceValues) {
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a64("hello"), 0xa430d84680aabd0bULL);
  // splitmix64 reference sequence for seed 1234567 (Vigna's splitmix64.c).
  SplitMix64 r(1234567);
  EXPECT_EQ(r.next(), 6457827717110365317ULL);
  EXPECT_EQ(r.next(), 3203168211198807973ULL);
  EXPECT_EQ(r.next(), 9817491932198370423ULL);
  SplitMix64 a(7), b(7);
  for (int i = 0; i < 100; ++i) {
    std::uint64_t v = a.below(10);
    EXPECT_LT(v, 10u);
    EXPECT_EQ(v, b.below(10));
  }
}

TEST(JobPool, RunsEverythingAndRethrowsTheFirstFailure) {
  JobPool pool(3);
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) pool.submit([&] { ++ran; });
  pool.wait();
  EXPECT_EQ(ran.load(), 100);
  pool.submit([] { throw std::runtime_error("disk full"); });
  for (int i = 0; i < 10; ++i) pool.submit([&] { ++ran; });
  try {
    pool.wait();
    FAIL() << "the job's exception was swallowed";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "disk full");
  }
  EXPECT_EQ(ran.load(), 110);  // the other jobs still ran
  pool.wait();                 // the failure was reported once
  // Jobs may submit jobs.
  pool.submit([&] { pool.submit([&] { ++ran; }); });
  pool.wait();
  EXPECT_EQ(ran.load(), 111);
}

TEST(JobPool, DestructorRunsQueuedJobs) {
  std::atomic<int> ran{0};
  {
    JobPool pool(1);
    for (int i = 0; i < 20; ++i) pool.submit([&] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 20);
}

TEST(ParallelFor, EveryIndexOnceOnSeveralThreads) {
  std::vector<std::atomic<int>> hits(1000);
  std::mutex mu;
  std::set<std::thread::id> threads;
  parallel_for(hits.size(), 4, [&](std::size_t i) {
    ++hits[i];
    std::lock_guard<std::mutex> lock(mu);
    threads.insert(std::this_thread::get_id());
  });
  for (const auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_THROW(parallel_for(10, 2, [](std::size_t i) { if (i == 7) throw Error("x"); }), Error);
  parallel_for(0, 2, [](std::size_t) { FAIL(); });
}

TEST(FinishReason, Names) {
  for (auto r : {FinishReason::stop, FinishReason::length, FinishReason::error})
    EXPECT_EQ(finish_reason_from_string(to_string(r)), r);
  EXPECT_EQ(finish_reason_from_string("eos"), FinishReason::stop);
  EXPECT_EQ(finish_reason_from_string("content_filter"), FinishReason::stop);
}

TEST(Jsonl, HostileLinesAreLineErrorsNotCrashes) {
  std::string deep(70000, '[');
  deep += std::string(70000, ']');
  std::string text = "{\"a\":1}\n" + deep + "\n{\"x\": 1e999999}\n[\"[[[[\", {\"b\": \"}}}\"}]\n";
  std::vector<JsonlLine> lines;
  for_each_jsonl(text, [&](JsonlLine& l) { lines.push_back(l); });
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(lines[0].value.has_value());
  EXPECT_FALSE(lines[1].value.has_value());
  EXPECT_NE(lines[1].error.find("nested deeper than 512"), std::string::npos) << lines[1].error;
  EXPECT_FALSE(lines[2].value.has_value());
  EXPECT_NE(lines[2].error.find("invalid JSON"), std::string::npos) << lines[2].error;
  EXPECT_NE(lines[2].error.find("1e999999"), std::string::npos) << lines[2].error;
  ASSERT_TRUE(lines[3].value.has_value()) << lines[3].error;  // brackets inside strings do not count
  // The bound itself: 512 levels parse, 513 do not.
  std::string ok = std::string(512, '[') + std::string(512, ']');
  EXPECT_TRUE(json_depth_error(ok).empty());
  EXPECT_NO_THROW(parse_json(ok, "x"));
  EXPECT_THROW(parse_json("[" + ok + "]", "x"), Error);
  EXPECT_THROW(parse_json("{\"a\": 1e999999}", "x"), Error);
}

namespace {
std::string gzip_of(const std::string& s) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, s.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  z.avail_in = static_cast<uInt>(s.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
}  // namespace

TEST(Gzip, WholeStreamsOnlyWithTheirTrailers) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "{\"task_id\": \"HumanEval/" + std::to_string(i) + "\"}\n";
  std::string gz = gzip_of(text);
  EXPECT_EQ(gunzip(gz, "ok.gz"), text);
  EXPECT_EQ(gunzip(gz + gzip_of("tail\n"), "two.gz"), text + "tail\n");  // concatenated members
  // Cut anywhere (also exactly before the 8-byte trailer): an error naming the file, never a shorter text.
  for (std::size_t cut : {gz.size() - 8, gz.size() - 1, gz.size() / 2, std::size_t{20}}) {
    try {
      gunzip(std::string_view(gz).substr(0, cut), "cut.gz");
      ADD_FAILURE() << "accepted a stream cut at " << cut;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.gz: gzip: truncated"), std::string::npos) << e.what();
    }
  }
  std::string flipped = gz;
  flipped[flipped.size() - 6] ^= 0x55;  // damage the CRC-32
  EXPECT_THROW(gunzip(flipped, "crc.gz"), Error);
  EXPECT_THROW(gunzip(gz, "big.gz", 1000), Error);  // more than the cap
}

// One rule for where an answer begins, shared by the math, choice and code graders and the rewards.
TEST(Reasoning, AnswerAfterTheLastClosingTag) {
  std::string reason;
  EXPECT_EQ(*reval::strip_reasoning("a</think>b</think>c", reval::FinishReason::stop), "c");
  EXPECT_EQ(*reval::strip_reasoning("</think>x", reval::FinishReason::length), "x");  // closed, then cut: an answer
  EXPECT_EQ(*reval::strip_reasoning("plain", reval::FinishReason::stop), "plain");
  EXPECT_FALSE(reval::strip_reasoning("<think>a", reval::FinishReason::stop, &reason).has_value());
  EXPECT_EQ(reason, "unterminated_think");
  EXPECT_FALSE(reval::strip_reasoning("cut here", reval::FinishReason::length, &reason).has_value());
  EXPECT_EQ(reason, "truncated_in_think");
}
