#include "sources/memory_source.hpp"

#include <algorithm>

#include "core/checksum.hpp"
#include "core/error.hpp"

namespace mf {

MemorySource::MemorySource(std::string label, nlohmann::json config)
    : label_(std::move(label)), config_(std::move(config)) {}

void MemorySource::add_tensor(std::string name, DType dtype, std::vector<int64_t> shape,
                              std::vector<uint8_t> bytes) {
  Tensor t;
  t.info.name = name;
  t.info.dtype = dtype;
  t.info.shape = std::move(shape);
  if (t.info.stored_bytes() != bytes.size())
    fail(ErrorCode::InvalidFile, "{}: tensor `{}`: {} bytes for {} elements of {}", label_, name,
         bytes.size(), t.info.numel(), dtype_name(dtype));
  t.bytes = std::move(bytes);
  if (!tensors_.contains(name)) {
    names_.insert(std::upper_bound(names_.begin(), names_.end(), name), name);
  }
  tensors_.insert_or_assign(std::move(name), std::move(t));
}

void MemorySource::add_tensor(std::string name, DType dtype, std::vector<int64_t> shape,
                              const std::vector<float>& values) {
  std::vector<uint8_t> bytes(values.size() * dtype_size(dtype));
  convert_from(values.data(), dtype, bytes.data(), values.size());
  add_tensor(std::move(name), dtype, std::move(shape), std::move(bytes));
}

void MemorySource::set_side_file(std::string name, std::string content) {
  side_files_.insert_or_assign(std::move(name), std::move(content));
}

const TensorInfo* MemorySource::find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second.info;
}

const MemorySource::Tensor& MemorySource::tensor(const TensorInfo& info) const {
  auto it = tensors_.find(info.name);
  if (it == tensors_.end() || &it->second.info != &info)
    fail(ErrorCode::Internal, "{}: tensor `{}` is not one of this model's", label_, info.name);
  return it->second;
}

std::span<const uint8_t> MemorySource::stored_bytes(const TensorInfo& info) const {
  if (hide_stored_) return {};
  return tensor(info).bytes;
}

template <class T>
void MemorySource::decode(const TensorInfo& info, uint64_t first, uint64_t count, T* out) const {
  const Tensor& t = tensor(info);
  if (first > info.numel() || count > info.numel() - first)
    fail(ErrorCode::Internal, "{}: tensor `{}`: elements [{}, +{}) past its {} elements", label_,
         info.name, first, count, info.numel());
  convert_to(info.dtype, t.bytes.data() + first * dtype_size(info.dtype), out, count);
}

void MemorySource::read(const TensorInfo& info, uint64_t first, uint64_t count, float* out) const {
  decode(info, first, count, out);
}

void MemorySource::read(const TensorInfo& info, uint64_t first, uint64_t count, double* out) const {
  decode(info, first, count, out);
}

void MemorySource::read_stored(const TensorInfo& info, uint64_t offset,
                               std::span<uint8_t> out) const {
  const Tensor& t = tensor(info);
  if (offset > t.bytes.size() || out.size() > t.bytes.size() - offset)
    fail(ErrorCode::Internal, "{}: tensor `{}`: bytes [{}, +{}) past its {} stored bytes", label_,
         info.name, offset, out.size(), t.bytes.size());
  std::copy_n(t.bytes.data() + offset, out.size(), out.data());
}

std::optional<std::string> MemorySource::side_file(std::string_view name) const {
  auto it = side_files_.find(name);
  if (it == side_files_.end()) return std::nullopt;
  return it->second;
}

std::string MemorySource::identity() const {
  // The content itself: a test that changes a tensor gets a different fingerprint.
  std::string text = "memory " + label_ + "\n" + config_.dump() + "\n";
  for (const auto& [name, t] : tensors_)
    text +=
        fmt::format("{} {} {:016x}\n", name, dtype_name(t.info.dtype), tensor_checksum(t.bytes));
  for (const auto& [name, content] : side_files_) text += name + " " + content + "\n";
  return text;
}

}  // namespace mf
