#include <functional>
#include <vector>

#include "core/error.hpp"
#include "core/tensor_stream.hpp"
#include "methods/method.hpp"

namespace mf {

namespace {

// Chunks of tensors already in memory, one after another on the calling thread.
template <class T>
class MemoryStream : public TensorStream<T> {
 public:
  MemoryStream(const MergeArgs<T>& args, ChunkLayout layout) : args_(args), layout_(layout) {}

  size_t chunk_count() const override { return layout_.count(); }
  int workers() const override { return 1; }

  void for_each_chunk(const std::function<void(const Chunk<T>&)>& visit) override {
    for (size_t c = 0; c < layout_.count(); ++c) visit(chunk(c));
  }
  // The tensors are in memory already; scratch of their size is of the same order.
  size_t scratch_bytes() const override { return args_.scratch_bytes; }
  void write_each_chunk(const std::function<void(const Chunk<T>&, T* out)>& produce) override {
    for (size_t c = 0; c < layout_.count(); ++c) produce(chunk(c), args_.out + layout_.offset(c));
  }

 private:
  const Chunk<T>& chunk(size_t c) {
    pointers_.clear();
    for (T* input : args_.inputs) pointers_.push_back(input + layout_.offset(c));
    current_.index = c;
    current_.offset = layout_.offset(c);
    current_.count = layout_.size(c);
    current_.inputs = pointers_;
    return current_;
  }

  const MergeArgs<T>& args_;
  ChunkLayout layout_;
  std::vector<const T*> pointers_;
  Chunk<T> current_;
};

constexpr size_t kDefaultMemoryChunk = size_t(1) << 16;

}  // namespace

template <class T>
void merge_in_chunks(const MergeMethod& method, const MergeArgs<T>& args) {
  MF_CHECK(method.streams());
  const size_t target = args.chunk_elements ? args.chunk_elements : kDefaultMemoryChunk;
  MemoryStream<T> stream(args, ChunkLayout(args.numel(), method.chunk_granule(args.shape), target));
  method.merge_stream(args, stream);
}

template void merge_in_chunks<float>(const MergeMethod&, const MergeArgs<float>&);
template void merge_in_chunks<double>(const MergeMethod&, const MergeArgs<double>&);

void MergeMethod::merge_stream(const TensorArgs& args, TensorStream<float>&) const {
  fail(ErrorCode::Internal, "method `{}` has no streaming kernel", info().name);
}
void MergeMethod::merge_stream(const TensorArgs& args, TensorStream<double>&) const {
  fail(ErrorCode::Internal, "method `{}` has no streaming kernel", info().name);
}

}  // namespace mf
