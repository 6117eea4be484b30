// See progress.hpp. Redraws at most 10 times a second on a TTY and every 10 s (or each 10 % of the work)
// otherwise.
#include "harness/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace reval {

Progress::Progress(std::string label, std::int64_t total, bool enabled, std::FILE* out)
    : label_(std::move(label)), total_(total), enabled_(enabled), tty_(isatty(fileno(out)) != 0), out_(out),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::track_grading() { grading_ = true; }

void Progress::set_initial(std::int64_t done, std::int64_t graded) {
  initial_done_ = done;
  initial_graded_ = graded;
  done_ = done;
  graded_ = graded;
}

std::string Progress::format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  auto t = static_cast<long long>(std::llround(s));
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

std::string Progress::status_line() const {
  return status_line_at(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
}

std::string Progress::status_line_at(double elapsed) const {
  const std::int64_t done = done_.load(), graded = graded_.load();
  const std::int64_t session_done = done - initial_done_, session_graded = graded - initial_graded_;
  auto percent = [&](std::int64_t n) {
    return total_ > 0 ? fmt::format(" {:.0f}%", 100.0 * static_cast<double>(n) / static_cast<double>(total_))
                      : std::string();
  };
  std::string line = grading_ ? fmt::format("generated {}/{}{} | graded {}/{}", done, total_, percent(done), graded,
                                            total_)
                              : fmt::format("{}/{}{}", done, total_, percent(done));
  if (elapsed > 0.05 && (session_done > 0 || session_graded > 0)) {
    if (session_done > 0) line += fmt::format(" | {:.2f} samples/s", static_cast<double>(session_done) / elapsed);
    if (std::int64_t tok = tokens_.load(); tok > 0)
      line += fmt::format(" | {:.0f} tok/s", static_cast<double>(tok) / elapsed);
    // Seconds left for one counter at its session rate; NaN when it has no rate yet but work left.
    auto left = [&](std::int64_t n, std::int64_t session) {
      if (n >= total_) return 0.0;
      if (session <= 0) return std::nan("");
      return elapsed / static_cast<double>(session) * static_cast<double>(total_ - n);
    };
    double eta = left(done, session_done);
    if (grading_) {
      double g = left(graded, session_graded);
      // Grading cannot finish before generation; with no grading rate yet, generation's estimate stands.
      eta = std::isnan(g) ? eta : std::isnan(eta) ? g : std::max(eta, g);
    }
    bool finished = done >= total_ && (!grading_ || graded >= total_);
    if (!finished) line += " | ETA " + format_duration(eta);
  }
  line += " | " + format_duration(elapsed) + " elapsed";
  return line;
}

void Progress::add(std::int64_t done, std::int64_t tokens) {
  done_ += done;
  if (tokens > 0) tokens_ += tokens;
  draw(false);
}

void Progress::add_graded(std::int64_t graded) {
  graded_ += graded;
  draw(false);
}

void Progress::draw(bool force) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  // Units of work: samples generated, plus samples graded when grading is tracked.
  const std::int64_t units = done_.load() + (grading_ ? graded_.load() : 0);
  const std::int64_t all = total_ * (grading_ ? 2 : 1);
  if (tty_) {
    if (!force && since < 0.1 && units < all) return;
    int width = 24;
    int fill = all > 0 ? static_cast<int>(width * std::min(units, all) / all) : 0;
    std::string bar(static_cast<size_t>(fill), '=');
    if (fill < width) bar += '>' + std::string(static_cast<size_t>(width - fill - 1), ' ');
    std::fprintf(out_, "\r\033[K%s [%s] %s", label_.c_str(), bar.c_str(), status_line().c_str());
  } else {
    bool decile = all > 0 && units > 0 && (units * 10 / all) != ((units - 1) * 10 / all);
    if (!force && since < 10.0 && !decile) return;
    if (units == last_drawn_units_) return;
    std::fprintf(out_, "%s %s\n", label_.c_str(), status_line().c_str());
  }
  std::fflush(out_);
  last_draw_ = now;
  last_drawn_units_ = units;
}

void Progress::finish() {
  if (!enabled_) return;
  draw(true);
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (tty_) std::fputc('\n', out_);
  std::fflush(out_);
}

}  // namespace reval
