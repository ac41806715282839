// The TensorStream of one job in the executor: each chunk's inputs are converted from the mapped
// safetensors files into per-worker buffers as the chunk is visited, and each output chunk is
// rounded to the output dtype and written to its place in the output shard at once. Nothing of the
// tensor is held beyond the chunks in flight (the mapped input pages are file cache, released
// after the job).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor_stream.hpp"
#include "exec/worker_pool.hpp"
#include "plan/merge_plan.hpp"
#include "sinks/tensor_sink.hpp"

namespace mf {

// Buffers of one worker, kept from job to job so their pages are touched once.
template <class T>
struct ChunkBuffers {
  std::vector<T> inputs;  // one chunk per input, back to back
  std::vector<const T*> pointers;
  std::vector<StoredInput> stored;
  std::vector<T> out;
  std::vector<uint8_t> out_bytes;
};

template <class T>
class JobStream : public TensorStream<T> {
 public:
  // `buffers` has one entry per pool worker.
  JobStream(const MergePlan& plan, size_t job, TensorSink& writer, WorkerPool& pool,
            std::vector<ChunkBuffers<T>>& buffers, ChunkLayout layout, size_t scratch_bytes);

  size_t chunk_count() const override { return layout_.count(); }
  int workers() const override { return pool_.size(); }
  void for_each_chunk(const std::function<void(const Chunk<T>&)>& visit) override;
  size_t scratch_bytes() const override { return scratch_bytes_; }
  void allow_stored(size_t input) override;
  void write_each_chunk(const std::function<void(const Chunk<T>&, T* out)>& produce) override;

  // Per input: NaN or infinite values read (counted on the output pass, which every method makes
  // once over every element; earlier passes may read only a sample).
  std::vector<size_t> non_finite() const;

 private:
  // Converts chunk c's inputs into worker w's buffers.
  Chunk<T> load(size_t c, int w, bool tally_non_finite);

  struct Input {
    const ModelSource* source;
    const TensorInfo* tensor;
    // The tensor's stored bytes where the source has them addressable (read without a copy);
    // empty: decoded through the source's read().
    std::span<const uint8_t> stored;
    DType dtype;
  };
  // Rounds a converted chunk of `in` to the recipe's half dtype where it is rounded.
  void round_chunk(const Input& in, T* values, size_t count) const;
  // Whether `in` is rounded to the recipe's half dtype on load: rounding to the dtype it is stored
  // in changes nothing.
  bool rounded(const Input& in) const {
    return job_.round_inputs_to && *job_.round_inputs_to != in.dtype;
  }
  const MergePlan& plan_;
  const MergeJob& job_;
  size_t job_index_;
  TensorSink& writer_;
  WorkerPool& pool_;
  std::vector<ChunkBuffers<T>>& buffers_;
  ChunkLayout layout_;
  size_t scratch_bytes_;
  std::vector<Input> inputs_;
  std::vector<bool> left_stored_;  // per input: not converted (allow_stored)
  std::unique_ptr<std::atomic<size_t>[]> non_finite_;
};

}  // namespace mf
