// The one pool of worker threads for independent jobs (grading, queued requests, batch work).
//
// Theory of operation: a JobPool owns `threads` workers, started on the first submit(), that take jobs from one
// FIFO queue. wait() blocks until every job submitted so far has finished and then rethrows the first exception a
// job threw (later ones are dropped), so an error in a worker thread (a full disk under the store, say) reaches the
// caller instead of terminating the process. The destructor runs the jobs still queued, then joins.
// parallel_for() is the fork-join shape on top: the calling thread works too, and the indices are handed out one
// at a time, so uneven jobs balance. (The CPU kernels keep their own spin-free parallel_for pool in kernels/: it
// splits one matrix operation into ranges with a latency a general queue does not give.)
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace reval {

// std::thread::hardware_concurrency(), at least 1.
int hardware_threads();

class JobPool {
 public:
  explicit JobPool(int threads);  // threads <= 0: hardware_threads()
  ~JobPool();
  JobPool(const JobPool&) = delete;
  JobPool& operator=(const JobPool&) = delete;

  void submit(std::function<void()> job);  // thread-safe; may be called from a job
  void wait();                             // see above; rethrows the first exception of a job
  int size() const { return size_; }

 private:
  void loop();
  int size_;
  std::mutex mu_;
  std::condition_variable cv_, idle_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  std::size_t pending_ = 0;
  bool closing_ = false;
  std::exception_ptr failure_;
};

// Calls fn(i) for every i in [0, n) on up to `threads` threads (<= 0: hardware_threads()), the caller included.
// Returns when all calls have finished; rethrows the first exception one threw (the rest of the indices still run).
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn);

}  // namespace reval
