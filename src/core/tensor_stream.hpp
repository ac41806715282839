// How a streaming kernel sees one tensor: as a sequence of chunks, never whole. A kernel is plain
// sequential code that runs passes over the chunks (statistics passes that fill per-chunk or
// per-worker partials, then exactly one output pass); the stream runs each pass's chunks on
// several threads and, in the executor, converts every chunk's inputs from the file's dtype as it
// goes and writes every output chunk to its place in the output. Memory is a few chunks per
// thread whatever the tensor's size.
//
// Chunk boundaries depend only on the tensor's shape, the kernel's granule and the chunk size,
// never on the number of threads, so a kernel that combines per-chunk partials in chunk order
// gives the same bits with any -j.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "core/dtype.hpp"

namespace mf {

// A chunk of an input as its file stores it, for a kernel that fuses the conversion into its own
// loop instead of reading the converted copy (TensorStream::allow_stored).
struct StoredInput {
  const void* data = nullptr;
  DType dtype = DType::F32;
};

template <class T>
struct Chunk {
  size_t index = 0;   // 0-based, in element order
  size_t offset = 0;  // flat index of the chunk's first element
  size_t count = 0;   // elements in the chunk
  int worker = 0;     // the thread running it, in [0, TensorStream::workers())
  // One pointer per input, `count` elements each, already in the compute type; null for an input
  // the stream left as stored (allow_stored). Read-only and valid during the call only.
  std::span<const T* const> inputs;
  // Per input, its elements as stored, where the stream has them (empty for tensors already in
  // memory); always set for an input whose `inputs` pointer is null.
  std::span<const StoredInput> stored;
};

template <class T>
class TensorStream {
 public:
  virtual ~TensorStream() = default;
  virtual size_t chunk_count() const = 0;
  // Threads that may run chunks at once (the bound of Chunk::worker).
  virtual int workers() const = 0;
  // A statistics pass: visit(chunk) for every chunk, concurrently; returns when all are done.
  virtual void for_each_chunk(const std::function<void(const Chunk<T>&)>& visit) = 0;
  // Bytes a kernel may hold across passes besides the chunks (per-chunk partials, masks kept for
  // the output pass): the share of --max-memory the chunk buffers leave. A kernel that would need
  // more takes a way that needs less (computing again).
  virtual size_t scratch_bytes() const = 0;
  // Tells the stream that the kernel can read input `input` as stored bf16 (a float merge only):
  // where the stream reads a bf16 file and need not round, it then skips converting that input and
  // Chunk::inputs[input] is null. Saves writing and reading back a float copy of the chunk. Call
  // before the first pass.
  virtual void allow_stored(size_t input) { (void)input; }
  // The output pass: produce(chunk, out) writes the chunk's `count` output elements to `out`.
  // Called once per kernel run, last.
  virtual void write_each_chunk(const std::function<void(const Chunk<T>&, T* out)>& produce) = 0;
  // An output pass that passes input `input` through unchanged.
  void write_input(size_t input) {
    write_each_chunk([input](const Chunk<T>& c, T* out) {
      std::copy(c.inputs[input], c.inputs[input] + c.count, out);
    });
  }
};

// Chunk boundaries: whole granules (a kernel that needs whole rows in a chunk sets the row length)
// of about `target` elements.
struct ChunkLayout {
  size_t numel = 0;
  size_t chunk = 0;  // elements per chunk (the last one may be shorter); a multiple of the granule

  ChunkLayout(size_t numel, size_t granule, size_t target);
  size_t count() const { return chunk == 0 ? 0 : (numel + chunk - 1) / chunk; }
  size_t offset(size_t index) const { return index * chunk; }
  size_t size(size_t index) const;
};

}  // namespace mf
