#include "sources/model_source.hpp"

#include "core/error.hpp"

namespace mf {

uint64_t TensorInfo::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= uint64_t(d);
  return n;
}

uint64_t TensorInfo::stored_bytes() const { return numel() * dtype_size(dtype); }

namespace {

// The stored bytes of elements [first, first + count), checked against the tensor's bounds: a
// read past them would decode another tensor's bytes into this one.
std::span<const uint8_t> element_bytes(const ModelSource& source, const TensorInfo& tensor,
                                       uint64_t first, uint64_t count) {
  const std::span<const uint8_t> all = source.stored_bytes(tensor);
  if (all.empty() && tensor.numel() != 0)
    fail(ErrorCode::Internal, "{}: tensor `{}` has no stored bytes and no reader", source.label(),
         tensor.name);
  if (first > tensor.numel() || count > tensor.numel() - first)
    fail(ErrorCode::Internal, "{}: tensor `{}`: elements [{}, +{}) past its {} elements",
         source.label(), tensor.name, first, count, tensor.numel());
  const size_t size = dtype_size(tensor.dtype);
  return all.subspan(first * size, count * size);
}

}  // namespace

void ModelSource::read(const TensorInfo& tensor, uint64_t first, uint64_t count, float* out) const {
  convert_to(tensor.dtype, element_bytes(*this, tensor, first, count).data(), out, count);
}

void ModelSource::read(const TensorInfo& tensor, uint64_t first, uint64_t count,
                       double* out) const {
  convert_to(tensor.dtype, element_bytes(*this, tensor, first, count).data(), out, count);
}

void ModelSource::read_stored(const TensorInfo& tensor, uint64_t offset,
                              std::span<uint8_t> out) const {
  const std::span<const uint8_t> all = stored_bytes(tensor);
  if (offset > all.size() || out.size() > all.size() - offset)
    fail(ErrorCode::Internal, "{}: tensor `{}`: bytes [{}, +{}) past its {} stored bytes", label(),
         tensor.name, offset, out.size(), all.size());
  std::copy_n(all.data() + offset, out.size(), out.data());
}

}  // namespace mf
