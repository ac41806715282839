#include "core/tensor_stream.hpp"

#include <algorithm>

namespace mf {

ChunkLayout::ChunkLayout(size_t numel, size_t granule, size_t target) : numel(numel) {
  granule = std::max<size_t>(1, granule);
  chunk = numel == 0 ? 0 : std::max<size_t>(1, target / granule) * granule;
}

size_t ChunkLayout::size(size_t index) const { return std::min(chunk, numel - offset(index)); }

}  // namespace mf
