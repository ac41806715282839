#include "exec/read_ahead.hpp"

#include <algorithm>

namespace mf {

ReadAhead::ReadAhead(std::vector<uint64_t> bytes, uint64_t window, std::function<void(size_t)> read)
    : window_(window), read_(std::move(read)) {
  before_.assign(bytes.size() + 1, 0);
  for (size_t t = 0; t < bytes.size(); ++t) before_[t + 1] = before_[t] + bytes[t];
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void ReadAhead::computing(size_t t) {
  {
    std::lock_guard lock(mutex_);
    computing_ = std::max(computing_, t);
  }
  moved_.notify_one();
}

void ReadAhead::run(std::stop_token stop) {
  const size_t jobs = before_.size() - 1;
  for (size_t t = 1; t < jobs; ++t) {
    {
      std::unique_lock lock(mutex_);
      // Job t may start once it is the next one, or the jobs read between it and the one
      // computing fit the window.
      const bool moved = moved_.wait(lock, stop, [&] {
        return t <= computing_ + 1 || before_[t] - before_[computing_ + 1] < window_;
      });
      if (!moved) return;             // stopped
      if (t <= computing_) continue;  // the workers got there first and read it themselves
    }
    read_(t);
  }
}

}  // namespace mf
