// base/: URLs, stable hashes and seeded randomness, the job pool, finish reasons.
#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.hpp"
#include "base/finish_reason.hpp"
#include "base/hash.hpp"
#include "base/job_pool.hpp"
#include "base/url.hpp"

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
