// See job_pool.hpp.
#include "base/job_pool.hpp"

#include <algorithm>
#include <atomic>

namespace reval {

int hardware_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

JobPool::JobPool(int threads) : size_(threads > 0 ? threads : hardware_threads()) {}

JobPool::~JobPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void JobPool::submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (workers_.empty())
      for (int i = 0; i < size_; ++i) workers_.emplace_back([this] { loop(); });
    jobs_.push_back(std::move(job));
    ++pending_;
  }
  cv_.notify_one();
}

void JobPool::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return pending_ == 0; });
  if (failure_) {
    std::exception_ptr e = failure_;
    failure_ = nullptr;
    std::rethrow_exception(e);
  }
}

void JobPool::loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return closing_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // closing and drained
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    std::exception_ptr err;
    try {
      job();
    } catch (...) {
      err = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (err && !failure_) failure_ = err;
    if (--pending_ == 0) idle_.notify_all();
  }
}

void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  int t = threads > 0 ? threads : hardware_threads();
  t = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(t), n));
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::exception_ptr failure;
  auto work = [&] {
    for (std::size_t i; (i = next++) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failure) failure = std::current_exception();
      }
    }
  };
  std::vector<std::thread> helpers;
  for (int k = 1; k < t; ++k) helpers.emplace_back(work);
  work();
  for (auto& h : helpers) h.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace reval
