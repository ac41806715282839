#include "exec/job_stream.hpp"

#include <type_traits>

#include "core/dtype_simd.hpp"
#include "core/error.hpp"

namespace mf {

template <class T>
JobStream<T>::JobStream(const MergePlan& plan, size_t job, TensorSink& writer, WorkerPool& pool,
                        std::vector<ChunkBuffers<T>>& buffers, ChunkLayout layout,
                        size_t scratch_bytes)
    : plan_(plan),
      job_(plan.jobs[job]),
      job_index_(job),
      writer_(writer),
      pool_(pool),
      buffers_(buffers),
      layout_(layout),
      scratch_bytes_(scratch_bytes) {
  if (int(buffers.size()) < pool.size() || job_.vocabulary)
    fail(ErrorCode::Internal, "tensor `{}`: streamed without a buffer per worker, or re-indexed",
         job_.output_name);
  for (const JobInput& in : job_.inputs) {
    const ModelSource& source = *plan.models[in.model].source;
    const TensorInfo* tensor = source.find(in.tensor);
    if (!tensor || tensor->numel() != job_.numel())
      fail(ErrorCode::Internal, "tensor `{}`: input `{}` of `{}` does not have its {} elements",
           job_.output_name, in.tensor, source.label(), job_.numel());
    inputs_.push_back({&source, tensor, source.stored_bytes(*tensor), tensor->dtype});
  }
  non_finite_ = std::make_unique<std::atomic<size_t>[]>(inputs_.size());
  const size_t n = inputs_.size();
  left_stored_.assign(n, false);
  for (ChunkBuffers<T>& b : buffers_) {
    b.inputs.resize(n * layout_.chunk);
    b.pointers.resize(n);
    b.stored.resize(n);
    b.out.resize(layout_.chunk);
    b.out_bytes.resize(layout_.chunk * dtype_size(job_.out_dtype));
  }
}

template <class T>
void JobStream<T>::allow_stored(size_t input) {
  const Input& in = inputs_.at(input);
  left_stored_[input] =
      std::is_same_v<T, float> && in.dtype == DType::BF16 && !rounded(in) && !in.stored.empty();
}

template <class T>
void JobStream<T>::round_chunk(const Input& in, T* values, size_t count) const {
  if (!rounded(in)) return;
  const DType d = *job_.round_inputs_to;
  for (size_t e = 0; e < count; ++e) values[e] = T(round_to(d, float(values[e])));
}

template <class T>
Chunk<T> JobStream<T>::load(size_t c, int w, bool tally_non_finite) {
  ChunkBuffers<T>& b = buffers_[w];
  Chunk<T> chunk;
  chunk.index = c;
  chunk.offset = layout_.offset(c);
  chunk.count = layout_.size(c);
  chunk.worker = w;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    T* dst = b.inputs.data() + i * layout_.chunk;
    const Input& in = inputs_[i];
    if (in.stored.empty()) {
      // A source without addressable bytes decodes the chunk itself.
      b.stored[i] = {nullptr, in.dtype};
      in.source->read(*in.tensor, chunk.offset, chunk.count, dst);
      if (tally_non_finite) {
        if (const size_t bad = count_non_finite(dst, chunk.count)) non_finite_[i].fetch_add(bad);
      }
      round_chunk(in, dst, chunk.count);
      b.pointers[i] = dst;
      continue;
    }
    const uint8_t* bytes = in.stored.data() + chunk.offset * dtype_size(in.dtype);
    b.stored[i] = {bytes, in.dtype};
    if (left_stored_[i]) {
      b.pointers[i] = nullptr;
      if (tally_non_finite) {
        if (const size_t bad = simd::count_non_finite_bf16(bytes, chunk.count))
          non_finite_[i].fetch_add(bad);
      }
      continue;
    }
    convert_to(in.dtype, bytes, dst, chunk.count);
    if (tally_non_finite) {
      if (const size_t bad = count_non_finite(dst, chunk.count)) non_finite_[i].fetch_add(bad);
    }
    round_chunk(in, dst, chunk.count);
    b.pointers[i] = dst;
  }
  chunk.inputs = b.pointers;
  chunk.stored = b.stored;
  return chunk;
}

template <class T>
void JobStream<T>::for_each_chunk(const std::function<void(const Chunk<T>&)>& visit) {
  pool_.parallel_for(layout_.count(), [&](size_t c, int w) { visit(load(c, w, false)); });
}

template <class T>
void JobStream<T>::write_each_chunk(const std::function<void(const Chunk<T>&, T* out)>& produce) {
  const size_t out_size = dtype_size(job_.out_dtype);
  pool_.parallel_for(layout_.count(), [&](size_t c, int w) {
    const Chunk<T> chunk = load(c, w, true);
    ChunkBuffers<T>& b = buffers_[w];
    produce(chunk, b.out.data());
    convert_from(b.out.data(), job_.out_dtype, b.out_bytes.data(), chunk.count);
    writer_.write_piece(job_index_, chunk.offset * out_size,
                        std::span<const uint8_t>(b.out_bytes.data(), chunk.count * out_size));
  });
}

template <class T>
std::vector<size_t> JobStream<T>::non_finite() const {
  std::vector<size_t> counts;
  for (size_t i = 0; i < inputs_.size(); ++i) counts.push_back(non_finite_[i].load());
  return counts;
}

template class JobStream<float>;
template class JobStream<double>;

}  // namespace mf
