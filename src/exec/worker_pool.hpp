// A fixed set of threads that run parallel loops: the executor splits one tensor's chunks across
// them, or a list of whole-tensor jobs. The calling thread is worker 0 and works too, so a pool of
// one thread runs everything inline.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mf {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int size() const { return int(threads_.size()) + 1; }
  // Calls body(item, worker) for every item in [0, items), items taken in increasing order by
  // whichever worker is free; worker is in [0, size()). Returns when all are done. The first
  // exception thrown stops the loop (items not started are skipped) and is rethrown here.
  void parallel_for(size_t items, const std::function<void(size_t item, int worker)>& body);

 private:
  void run_items(int worker);
  void thread_main(int worker);

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  // The loop in progress.
  const std::function<void(size_t, int)>* body_ = nullptr;
  size_t items_ = 0;
  size_t next_ = 0;
  size_t generation_ = 0;  // bumped per loop, so a thread joins each loop once
  int busy_ = 0;           // pool threads still inside the current loop
  std::exception_ptr error_;
  bool stopping_ = false;
};

}  // namespace mf
