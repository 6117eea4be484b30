// Progress on stderr for long runs: a single redrawn line on a terminal (generated/total, percent, graded/total
// when grading is tracked, samples/s, tokens/s when known, ETA), or a plain line every few seconds when stderr is
// not a TTY (CI logs, files). Thread-safe: workers call add()/add_graded() from any thread.
//
// Rates and the ETA count only this session's work: what a resumed run found already done (set_initial) is shown
// in the counts but does not make the rates look faster. With grading tracked the ETA is the later of the two
// estimates (generation left / generation rate, grading left / grading rate), so after the last sample is
// generated the line keeps counting down while the graders catch up.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace reval {

class Progress {
 public:
  // `total` units of work; `label` prefixes every line. `enabled=false` prints nothing.
  Progress(std::string label, std::int64_t total, bool enabled = true, std::FILE* out = stderr);
  ~Progress();
  void track_grading();                                  // show "graded G/total" too (call before any add)
  void set_initial(std::int64_t done, std::int64_t graded = 0);  // already done before this session
  void add(std::int64_t done, std::int64_t tokens = 0);  // tokens < 0 or 0: unknown
  void add_graded(std::int64_t graded);
  void finish();                                         // final line (idempotent)
  std::int64_t done() const { return done_.load(); }
  std::int64_t graded() const { return graded_.load(); }
  // Formats seconds as "1h02m", "3m05s", "12s".
  static std::string format_duration(double seconds);
  // The status text without decoration, e.g. "12/40 30% | 2.10 samples/s | 350 tok/s | ETA 13s | 6s elapsed", or
  // with grading tracked "generated 12/40 30% | graded 10/40 | 2.10 samples/s | ... ".
  std::string status_line() const;
  // status_line() as if `elapsed_s` seconds had passed (tests).
  std::string status_line_at(double elapsed_s) const;

 private:
  void draw(bool force);
  std::string label_;
  std::int64_t total_;
  bool enabled_;
  bool tty_;
  std::FILE* out_;
  bool grading_ = false;
  std::int64_t initial_done_ = 0, initial_graded_ = 0;
  std::atomic<std::int64_t> done_{0};
  std::atomic<std::int64_t> graded_{0};
  std::atomic<std::int64_t> tokens_{0};
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::mutex mu_;
  bool finished_ = false;
  std::int64_t last_drawn_units_ = -1;
};

}  // namespace reval
