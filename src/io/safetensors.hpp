// The safetensors format: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the data. The parser is a pure function over bytes with checked
// arithmetic, so it can be fuzzed directly; the layout function plans a file whose header is known
// before any data exists.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.hpp"
#include "io/byte_reader.hpp"

namespace mf {

struct TensorEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offset relative to the start of the data section
  uint64_t end = 0;

  uint64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

struct SafetensorsHeader {
  std::vector<TensorEntry> tensors;  // in file order of their data (sorted by begin)
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // absolute offset of the data section in the file (8 + header length)
};

inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Parses and validates a whole safetensors file given as bytes (typically an mmap). Checks: header
// length within the file and <= kMaxHeaderBytes; valid UTF-8 JSON object; known dtypes;
// non-negative dims whose product does not overflow; end - begin == numel * dtype size; ranges
// contiguous from 0 with no holes or overlap; the data section ends exactly at the file end; no
// duplicate names. Errors are Error(ErrorCode::InvalidFile) whose message starts with `file_label`.
SafetensorsHeader parse_safetensors(std::span<const uint8_t> file, std::string_view file_label);

// Same checks, given only the first bytes of the file (at least 8 + header length) and the total
// size.
SafetensorsHeader parse_safetensors_header(std::span<const uint8_t> prefix, uint64_t file_size,
                                           std::string_view file_label);

// Same checks, reading only the 8-byte length and the header through `reader` (a mapping, memory,
// a range request): never the tensor data.
SafetensorsHeader read_safetensors_header(const ByteReader& reader);

// A planned output file: tensors in the given order, data offsets contiguous in that order, the
// header ("__metadata__" first, left out when empty) serialised and padded with spaces to a
// multiple of 8 bytes so the data section starts 8-byte aligned. A tensor's data is then aligned
// when the tensors before it have sizes that are multiples of 8: the caller's order decides (the
// reference writer sorts by alignment). A repeated or reserved name or a negative dimension is
// Error(ErrorCode::Internal).
struct SafetensorsLayout {
  std::string header_bytes;          // the 8-byte length prefix followed by the JSON header
  std::vector<TensorEntry> tensors;  // with begin / end filled in
  uint64_t file_size = 0;

  uint64_t data_offset() const { return header_bytes.size(); }
};

struct TensorDecl {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
};

SafetensorsLayout layout_safetensors(std::span<const TensorDecl> tensors,
                                     const std::map<std::string, std::string>& metadata);

}  // namespace mf
