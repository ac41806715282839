// Where a parser's bytes come from: a file mapped whole, bytes in memory, later the first bytes of
// a remote file fetched by an HTTP range request. Parsers ask for what they need at an offset (a
// safetensors header: 8 bytes, then the header, never the tensor data), so one parser serves every
// place a model can be read from, as ggml's gguf reader reads through a callback.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mf {

class ByteReader {
 public:
  virtual ~ByteReader() = default;
  // How messages name the bytes (a path, a URL).
  virtual const std::string& label() const = 0;
  virtual uint64_t size() const = 0;
  // Copies bytes [offset, offset + out.size()). Throws Error(InvalidFile) naming label() when the
  // range runs past size().
  virtual void read_at(uint64_t offset, std::span<uint8_t> out) const;
  // The whole content, where it is addressable (a mapping, memory); empty otherwise. read_at's
  // default copies from it.
  virtual std::span<const uint8_t> mapping() const { return {}; }

  // Bytes [offset, offset + length): a view of the mapping where there is one, else read into
  // `buffer`.
  std::span<const uint8_t> view(uint64_t offset, uint64_t length,
                                std::vector<uint8_t>& buffer) const;
};

// Bytes in memory (tests, fuzzers, a downloaded header).
class MemoryBytes : public ByteReader {
 public:
  MemoryBytes(std::string label, std::span<const uint8_t> bytes)
      : label_(std::move(label)), bytes_(bytes) {}
  const std::string& label() const override { return label_; }
  uint64_t size() const override { return bytes_.size(); }
  std::span<const uint8_t> mapping() const override { return bytes_; }

 private:
  std::string label_;
  std::span<const uint8_t> bytes_;
};

}  // namespace mf
