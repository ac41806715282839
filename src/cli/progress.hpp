// Progress reporting: a redrawn bar with ETA on a terminal, plain lines at each tenth otherwise
// (logs).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace mf {

class ProgressReporter {
 public:
  ProgressReporter(size_t total_jobs, uint64_t total_bytes, bool quiet);
  void update(size_t jobs_done, uint64_t bytes_done);
  void finish();

 private:
  size_t total_jobs_;
  uint64_t total_bytes_;
  bool quiet_;
  bool tty_;
  int last_tenth_ = -1;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
  std::mutex mutex_;
};

}  // namespace mf
