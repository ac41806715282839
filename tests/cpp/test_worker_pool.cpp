// WorkerPool (exec/worker_pool.hpp): every item of a parallel loop runs exactly once on a worker
// in range, an exception is rethrown to the caller and leaves the pool usable, and many loops in a
// row neither deadlock nor lose items.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "exec/worker_pool.hpp"

namespace mf {
namespace {

// Aborts the test program when a scope takes longer than `seconds` (a deadlocked pool would
// otherwise hang the suite with no report).
class Watchdog {
 public:
  Watchdog(const char* what, int seconds)
      : thread_([this, what, seconds] {
          std::unique_lock lock(mutex_);
          if (!done_cv_.wait_for(lock, std::chrono::seconds(seconds), [&] { return done_; })) {
            std::fprintf(stderr, "watchdog: %s did not finish in %d s (deadlock?)\n", what,
                         seconds);
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;
};

TEST(WorkerPool, SizeCountsTheCallingThread) {
  for (int threads : {1, 2, 4}) {
    WorkerPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
  }
}

TEST(WorkerPool, EveryItemRunsExactlyOnceOnAWorkerInRange) {
  Watchdog watchdog("EveryItemRunsExactlyOnce", 120);
  for (int threads : {1, 2, 4}) {
    WorkerPool pool(threads);
    for (size_t items : {size_t(0), size_t(1), size_t(2), size_t(1000)}) {
      for (int repeat = 0; repeat < 3; ++repeat) {
        std::unique_ptr<std::atomic<int>[]> runs(new std::atomic<int>[items + 1]);
        for (size_t i = 0; i <= items; ++i) runs[i] = 0;
        std::atomic<int> bad_worker{0};
        std::mutex mutex;
        std::set<int> workers_seen;
        pool.parallel_for(items, [&](size_t item, int worker) {
          if (item >= items)
            runs[items].fetch_add(1);  // out of range
          else
            runs[item].fetch_add(1);
          if (worker < 0 || worker >= threads) bad_worker.fetch_add(1);
          if (items == 1000 && item % 50 == 0)  // give other workers a chance to join
            std::this_thread::sleep_for(std::chrono::microseconds(200));
          std::lock_guard lock(mutex);
          workers_seen.insert(worker);
        });
        // parallel_for returned: every item is done (not merely started).
        for (size_t i = 0; i < items; ++i)
          ASSERT_EQ(runs[i].load(), 1)
              << "item " << i << " of " << items << ", " << threads << " threads";
        EXPECT_EQ(runs[items].load(), 0) << "items past the end ran";
        EXPECT_EQ(bad_worker.load(), 0);
        if (items == 0) {
          EXPECT_TRUE(workers_seen.empty());
        } else if (threads == 1) {
          EXPECT_EQ(workers_seen, std::set<int>{0});
        }
      }
    }
  }
}

TEST(WorkerPool, ItemsRunConcurrentlyOnSeveralThreads) {
  // Two items that each wait for the other can only finish if they run at once.
  Watchdog watchdog("ItemsRunConcurrently", 60);
  WorkerPool pool(2);
  std::atomic<int> arrived{0};
  std::set<std::thread::id> ids;
  std::mutex mutex;
  pool.parallel_for(2, [&](size_t, int) {
    {
      std::lock_guard lock(mutex);
      ids.insert(std::this_thread::get_id());
    }
    arrived.fetch_add(1);
    while (arrived.load() < 2) std::this_thread::yield();
  });
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_TRUE(ids.count(std::this_thread::get_id())) << "the caller works as worker 0";
}

TEST(WorkerPool, AnExceptionIsRethrownAndThePoolStaysUsable) {
  Watchdog watchdog("AnExceptionIsRethrown", 120);
  for (int threads : {1, 2, 4}) {
    WorkerPool pool(threads);
    for (size_t failing : {size_t(0), size_t(1), size_t(500), size_t(999)}) {
      std::atomic<int> ran_failing{0};
      try {
        pool.parallel_for(1000, [&](size_t item, int) {
          if (item == failing) {
            ran_failing.fetch_add(1);
            throw std::runtime_error("item " + std::to_string(item) + " failed");
          }
        });
        FAIL() << "the exception of item " << failing << " was swallowed (" << threads
               << " threads)";
      } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()), "item " + std::to_string(failing) + " failed");
      }
      EXPECT_EQ(ran_failing.load(), 1);

      // The next loop runs every item once and throws nothing.
      std::vector<std::atomic<int>> runs(300);
      pool.parallel_for(runs.size(), [&](size_t item, int) { runs[item].fetch_add(1); });
      for (size_t i = 0; i < runs.size(); ++i) ASSERT_EQ(runs[i].load(), 1) << "item " << i;
    }
    // Every item throws: one exception comes out, and the pool still works.
    EXPECT_THROW(
        pool.parallel_for(100, [](size_t, int) { throw std::logic_error("everyone fails"); }),
        std::logic_error);
    std::atomic<size_t> sum{0};
    pool.parallel_for(100, [&](size_t item, int) { sum.fetch_add(item); });
    EXPECT_EQ(sum.load(), 4950u);
  }
}

TEST(WorkerPool, ManySmallLoopsInARow) {
  Watchdog watchdog("ManySmallLoopsInARow", 240);
  for (int threads : {2, 4}) {
    WorkerPool pool(threads);
    std::atomic<uint64_t> total{0};
    uint64_t expected = 0;
    for (int loop = 0; loop < 10000; ++loop) {
      const size_t items = size_t(loop % 4);  // 0, 1, 2, 3 items
      std::atomic<uint64_t> local{0};
      pool.parallel_for(items, [&](size_t item, int worker) {
        local.fetch_add(item + 1);
        if (worker < 0 || worker >= threads) local.fetch_add(1'000'000);
      });
      // Everything of this loop is done before the next starts.
      ASSERT_EQ(local.load(), items * (items + 1) / 2) << "loop " << loop;
      total += local.load();
      expected += items * (items + 1) / 2;
    }
    EXPECT_EQ(total.load(), expected);
  }
}

TEST(WorkerPool, DestroyedRightAfterCreationOrAfterLoops) {
  Watchdog watchdog("Destroyed", 60);
  for (int round = 0; round < 200; ++round) {
    WorkerPool idle(4);
  }
  for (int round = 0; round < 200; ++round) {
    WorkerPool pool(3);
    std::atomic<int> n{0};
    pool.parallel_for(5, [&](size_t, int) { n.fetch_add(1); });
    EXPECT_EQ(n.load(), 5);
  }
}

}  // namespace
}  // namespace mf
