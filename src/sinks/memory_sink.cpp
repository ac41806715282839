#include "sinks/memory_sink.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace mf {

MemorySink::MemorySink(const std::vector<uint64_t>& job_bytes)
    : written_(job_bytes.size(), 0), finished_(job_bytes.size(), false) {
  tensors_.reserve(job_bytes.size());
  for (uint64_t n : job_bytes) tensors_.emplace_back(n);
}

void MemorySink::write_piece(size_t job, uint64_t byte_offset, std::span<const uint8_t> bytes) {
  std::vector<uint8_t>& t = tensors_.at(job);
  if (byte_offset > t.size() || bytes.size() > t.size() - byte_offset)
    fail(ErrorCode::Internal, "job {}: {} bytes at offset {} overrun its {} bytes", job,
         bytes.size(), byte_offset, t.size());
  std::copy(bytes.begin(), bytes.end(), t.begin() + ptrdiff_t(byte_offset));
  std::lock_guard lock(mutex_);
  written_[job] += bytes.size();
}

void MemorySink::finish_tensor(size_t job) {
  std::lock_guard lock(mutex_);
  if (written_.at(job) != tensors_[job].size())
    fail(ErrorCode::Internal, "job {}: finished with {} of its {} bytes written", job,
         written_[job], tensors_[job].size());
  finished_[job] = true;
}

const std::vector<uint8_t>& MemorySink::tensor(size_t job) const {
  std::lock_guard lock(mutex_);
  if (!finished_.at(job)) fail(ErrorCode::Internal, "job {}: its tensor was not finished", job);
  return tensors_[job];
}

}  // namespace mf
