#include "cli/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace mf {

ProgressReporter::ProgressReporter(size_t total_jobs, uint64_t total_bytes, bool quiet)
    : total_jobs_(total_jobs),
      total_bytes_(total_bytes),
      quiet_(quiet),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

void ProgressReporter::update(size_t jobs_done, uint64_t bytes_done) {
  if (quiet_) return;
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double fraction = total_bytes_ ? double(bytes_done) / double(total_bytes_)
                                 : double(jobs_done) / double(std::max<size_t>(1, total_jobs_));
  if (tty_) {
    if (jobs_done != total_jobs_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    int width = 30;
    int filled = int(fraction * width);
    double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
    fmt::print(stderr, "\r[{}{}] {:3.0f}% {}/{} tensors  {:.1f}s elapsed  ETA {:.0f}s   ",
               std::string(size_t(filled), '#'), std::string(size_t(width - filled), '.'),
               fraction * 100, jobs_done, total_jobs_, elapsed, eta);
  } else {
    // One line per tenth, and the last one only when every tensor is done.
    int tenth = jobs_done == total_jobs_ ? 10 : std::min(9, int(fraction * 10));
    if (tenth == last_tenth_) return;
    last_tenth_ = tenth;
    fmt::print(stderr, "progress: {:3d}% ({}/{} tensors, {:.1f}s)\n", tenth * 10, jobs_done,
               total_jobs_, elapsed);
  }
}

void ProgressReporter::finish() {
  if (!quiet_ && tty_) fmt::print(stderr, "\n");
}

}  // namespace mf
