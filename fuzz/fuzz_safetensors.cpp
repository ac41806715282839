// libFuzzer target: mf::parse_safetensors over arbitrary bytes, as if they were a model file
// someone published. Besides not crashing, whatever the parser accepts must be safe to use the way
// the engine uses it: every tensor's byte range lies inside the file and converts to float without
// reading past it, and laying the same tensors out again yields a header the parser accepts with
// identical entries.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "core/error.hpp"
#include "io/safetensors.hpp"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

void use_like_the_engine(std::span<const uint8_t> file, const mf::SafetensorsHeader& header) {
  require(header.data_offset >= 8 && header.data_offset <= file.size());
  uint64_t data_size = file.size() - header.data_offset;
  std::vector<float> converted;
  for (const mf::TensorEntry& t : header.tensors) {
    require(t.begin <= t.end && t.end <= data_size);
    require(t.nbytes() == t.numel() * mf::dtype_size(t.dtype));
    std::span<const uint8_t> bytes = file.subspan(header.data_offset + t.begin, t.nbytes());
    if (!mf::is_float(t.dtype)) continue;
    converted.resize(t.numel());
    mf::convert_to(t.dtype, bytes.data(), converted.data(), converted.size());
  }
}

void check_layout_round_trip(uint64_t file_size, const mf::SafetensorsHeader& header) {
  std::vector<mf::TensorDecl> decls;
  for (const mf::TensorEntry& t : header.tensors) decls.push_back({t.name, t.dtype, t.shape});
  mf::SafetensorsLayout layout = mf::layout_safetensors(decls, header.metadata);
  require(layout.data_offset() % 8 == 0);
  require(layout.file_size - layout.data_offset() == file_size - header.data_offset);
  auto prefix = std::span(reinterpret_cast<const uint8_t*>(layout.header_bytes.data()),
                          layout.header_bytes.size());
  mf::SafetensorsHeader again = mf::parse_safetensors_header(prefix, layout.file_size, "layout");
  require(again.metadata == header.metadata);
  require(again.tensors.size() == header.tensors.size());
  std::map<std::string, const mf::TensorEntry*> by_name;
  for (const mf::TensorEntry& t : header.tensors) by_name[t.name] = &t;
  for (const mf::TensorEntry& t : again.tensors) {
    auto it = by_name.find(t.name);
    require(it != by_name.end());
    const mf::TensorEntry& original = *it->second;
    require(t.dtype == original.dtype && t.shape == original.shape && t.begin == original.begin &&
            t.end == original.end);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> file(data, size);
  mf::SafetensorsHeader header;
  try {
    header = mf::parse_safetensors(file, "fuzz.safetensors");
  } catch (const mf::Error& e) {
    // Hostile bytes are an invalid file, never an internal error.
    require(e.code() == mf::ErrorCode::InvalidFile);
    return 0;
  }
  use_like_the_engine(file, header);
  check_layout_round_trip(size, header);
  return 0;
}
