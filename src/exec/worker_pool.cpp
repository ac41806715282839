#include "exec/worker_pool.hpp"

#include <utility>

namespace mf {

WorkerPool::WorkerPool(int threads) {
  for (int w = 1; w < threads; ++w) threads_.emplace_back([this, w] { thread_main(w); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::run_items(int worker) {
  while (true) {
    size_t item;
    {
      std::lock_guard lock(mutex_);
      if (next_ >= items_ || error_) return;
      item = next_++;
    }
    try {
      (*body_)(item, worker);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
      return;
    }
  }
}

void WorkerPool::thread_main(int worker) {
  size_t seen = 0;
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_) return;
    seen = generation_;
    ++busy_;
    lock.unlock();
    run_items(worker);
    lock.lock();
    if (--busy_ == 0) idle_.notify_all();
  }
}

void WorkerPool::parallel_for(size_t items, const std::function<void(size_t, int)>& body) {
  {
    std::lock_guard lock(mutex_);
    body_ = &body;
    items_ = items;
    next_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  if (!threads_.empty() && items > 1) wake_.notify_all();
  run_items(0);
  std::unique_lock lock(mutex_);
  // Items are all taken; wait for the pool threads still finishing theirs. A thread that wakes
  // late finds no item left and leaves at once.
  idle_.wait(lock, [&] { return busy_ == 0; });
  body_ = nullptr;
  items_ = 0;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace mf
