// Where the executor puts the merged tensors. The executor knows jobs (one per output tensor, in
// plan order) and the bytes of their results, already in the job's output dtype; a sink decides
// where they go: safetensors shards on disk (SafetensorsSink under an OutputTransaction), memory
// (the Python API, evolutionary search), later GGUF. Every method may be called from any worker
// thread, for different jobs at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace mf {

class TensorSink {
 public:
  virtual ~TensorSink() = default;

  // True when the sink already holds job `job`'s tensor intact (a resumed merge): the executor
  // skips it.
  virtual bool holds(size_t job) const = 0;
  // A piece of job `job`'s tensor, `byte_offset` bytes into it. Pieces of one tensor arrive from
  // any thread in any order and never overlap; together they cover the tensor exactly once.
  virtual void write_piece(size_t job, uint64_t byte_offset, std::span<const uint8_t> bytes) = 0;
  // Every byte of job `job`'s tensor has been written.
  virtual void finish_tensor(size_t job) = 0;

  // A whole tensor at once.
  void write_tensor(size_t job, std::span<const uint8_t> bytes) {
    write_piece(job, 0, bytes);
    finish_tensor(job);
  }
};

}  // namespace mf
