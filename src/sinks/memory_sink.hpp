// Keeps the merged tensors in memory, one byte vector per job: for callers that use the result
// directly (the Python API, evolutionary search scoring a candidate) and for tests.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "sinks/tensor_sink.hpp"

namespace mf {

class MemorySink : public TensorSink {
 public:
  // One tensor per job, of job_bytes[j] bytes.
  explicit MemorySink(const std::vector<uint64_t>& job_bytes);

  bool holds(size_t job) const override { return false; }
  void write_piece(size_t job, uint64_t byte_offset, std::span<const uint8_t> bytes) override;
  void finish_tensor(size_t job) override;

  // Job `job`'s tensor; throws Internal when it was not finished or not every byte was written.
  const std::vector<uint8_t>& tensor(size_t job) const;

 private:
  std::vector<std::vector<uint8_t>> tensors_;
  std::vector<uint64_t> written_;  // bytes per job
  std::vector<bool> finished_;
  mutable std::mutex mutex_;  // guards written_ and finished_ (the pieces never overlap)
};

}  // namespace mf
