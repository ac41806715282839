// ReadAhead (exec/read_ahead.hpp): the reader stays within its window of bytes ahead of the job
// computing, always reads the next job however large, skips jobs the workers reached first, and
// stops when destroyed.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "exec/read_ahead.hpp"

namespace mf {
namespace {

using namespace std::chrono_literals;

// The jobs read, in order; lets a test wait for a count and hold the reader inside a read.
class Reads {
 public:
  void read(size_t t) {
    std::unique_lock lock(mutex_);
    done_.push_back(t);
    changed_.notify_all();
    changed_.wait(lock, [&] { return !hold_; });
  }
  // The reads once there are `count` of them and no more came within a moment (the reader has
  // stopped at its window); what there is after 5 s otherwise.
  std::vector<size_t> settled(size_t count) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 5s, [&] { return done_.size() >= count; });
    lock.unlock();
    std::this_thread::sleep_for(100ms);
    lock.lock();
    return done_;
  }
  void hold(bool on) {
    std::lock_guard lock(mutex_);
    hold_ = on;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<size_t> done_;
  bool hold_ = false;
};

TEST(ReadAhead, StaysWithinTheWindowAheadOfTheJobComputing) {
  Reads reads;
  ReadAhead ahead({100, 100, 100, 100, 100, 100}, 250, [&](size_t t) { reads.read(t); });
  // Computing job 0: jobs 1-3 have 0, 100 and 200 bytes read between them and job 0; job 4 would
  // have 300.
  EXPECT_EQ(reads.settled(3), (std::vector<size_t>{1, 2, 3}));
  ahead.computing(1);
  EXPECT_EQ(reads.settled(4), (std::vector<size_t>{1, 2, 3, 4}));
  ahead.computing(3);
  EXPECT_EQ(reads.settled(5), (std::vector<size_t>{1, 2, 3, 4, 5}));
}

TEST(ReadAhead, ReadsTheNextJobHoweverLarge) {
  Reads reads;
  ReadAhead ahead({10, 10, 1000, 10}, 50, [&](size_t t) { reads.read(t); });
  EXPECT_EQ(reads.settled(2), (std::vector<size_t>{1, 2}));
  ahead.computing(1);  // job 2's 1000 bytes still lie between job 1 and job 3
  EXPECT_EQ(reads.settled(2), (std::vector<size_t>{1, 2}));
  ahead.computing(2);
  EXPECT_EQ(reads.settled(3), (std::vector<size_t>{1, 2, 3}));
}

TEST(ReadAhead, AWindowOfZeroReadsOneJobAhead) {
  Reads reads;
  ReadAhead ahead({1, 1, 1}, 0, [&](size_t t) { reads.read(t); });
  EXPECT_EQ(reads.settled(1), (std::vector<size_t>{1}));
  ahead.computing(1);
  EXPECT_EQ(reads.settled(2), (std::vector<size_t>{1, 2}));
}

TEST(ReadAhead, SkipsTheJobsTheWorkersReachedFirst) {
  Reads reads;
  reads.hold(true);
  ReadAhead ahead({100, 100, 100, 100, 100, 100}, 150, [&](size_t t) { reads.read(t); });
  EXPECT_EQ(reads.settled(1), (std::vector<size_t>{1}));  // held inside job 1's read
  ahead.computing(3);  // the workers finished jobs 1 and 2 reading them themselves
  reads.hold(false);
  EXPECT_EQ(reads.settled(3), (std::vector<size_t>{1, 4, 5}));
}

TEST(ReadAhead, StopsWhenDestroyedWhileWaitingOnItsWindow) {
  Reads reads;
  {
    ReadAhead ahead({100, 100, 100, 100}, 0, [&](size_t t) { reads.read(t); });
    EXPECT_EQ(reads.settled(1), (std::vector<size_t>{1}));
  }  // joins; a reader that ignored the stop request would hang here
  EXPECT_EQ(reads.settled(1), (std::vector<size_t>{1}));
}

}  // namespace
}  // namespace mf
