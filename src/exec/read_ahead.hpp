// Reads the inputs of the jobs to come on a thread of its own while the workers compute the current
// one. Jobs alternate between small (a norm vector) and large (an MLP matrix), so reading only the
// next job would leave the disk idle during a large job and the workers waiting after a small one:
// the reader runs up to a window of bytes ahead instead, always at least one job.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mf {

class ReadAhead {
 public:
  // Jobs are numbered in the order the workers run them; bytes[t] is the size of job t's inputs and
  // read(t) brings them into memory. Job 0 is not read ahead: the workers start on it at once.
  ReadAhead(std::vector<uint64_t> bytes, uint64_t window, std::function<void(size_t)> read);
  // Stops after the read in progress, if any.
  ~ReadAhead() = default;
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // The workers have moved on to job t.
  void computing(size_t t);

 private:
  void run(std::stop_token stop);

  std::vector<uint64_t> before_;  // before_[t]: the input bytes of jobs 0 .. t-1
  uint64_t window_;
  std::function<void(size_t)> read_;
  std::mutex mutex_;
  std::condition_variable_any moved_;
  size_t computing_ = 0;
  std::jthread thread_;  // last: it starts once the members it reads exist
};

}  // namespace mf
