#include "io/byte_reader.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace mf {

void ByteReader::read_at(uint64_t offset, std::span<uint8_t> out) const {
  if (offset > size() || out.size() > size() - offset)
    fail(ErrorCode::InvalidFile, "{}: {} bytes at offset {} run past its end ({} bytes)", label(),
         out.size(), offset, size());
  const std::span<const uint8_t> all = mapping();
  if (all.size() != size())
    fail(ErrorCode::Internal, "{}: a reader without a mapping must implement read_at", label());
  std::copy_n(all.data() + offset, out.size(), out.data());
}

std::span<const uint8_t> ByteReader::view(uint64_t offset, uint64_t length,
                                          std::vector<uint8_t>& buffer) const {
  const std::span<const uint8_t> all = mapping();
  if (!all.empty() && offset <= all.size() && length <= all.size() - offset)
    return all.subspan(offset, length);
  buffer.resize(length);
  read_at(offset, buffer);
  return buffer;
}

}  // namespace mf
