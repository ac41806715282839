// Parsers read through a ByteReader: a safetensors header is read from its first bytes alone (what
// a range request will fetch for a remote model), with the same result and the same errors as
// parsing the whole file.
#include <gtest/gtest.h>

#include <atomic>

#include "core/error.hpp"
#include "io/byte_reader.hpp"
#include "io/safetensors.hpp"

namespace mf {
namespace {

// Serves bytes through read_at only (no mapping), counting the furthest byte read.
class CountingReader : public ByteReader {
 public:
  explicit CountingReader(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  const std::string& label() const override { return label_; }
  uint64_t size() const override { return bytes_.size(); }
  void read_at(uint64_t offset, std::span<uint8_t> out) const override {
    if (offset > size() || out.size() > size() - offset)
      fail(ErrorCode::InvalidFile, "{}: past the end", label_);
    std::copy_n(bytes_.data() + offset, out.size(), out.data());
    furthest = std::max<uint64_t>(furthest, offset + out.size());
  }
  mutable uint64_t furthest = 0;

 private:
  std::string label_ = "remote.safetensors";
  std::vector<uint8_t> bytes_;
};

std::vector<uint8_t> file_of(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> f(8);
  for (int i = 0; i < 8; ++i) f[size_t(i)] = uint8_t(uint64_t(header.size()) >> (8 * i));
  f.insert(f.end(), header.begin(), header.end());
  f.resize(f.size() + data_bytes, 0x5a);
  return f;
}

TEST(ByteReader, ASafetensorsHeaderIsReadWithoutItsData) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})";
  const std::vector<uint8_t> bytes = file_of(header, 32);
  CountingReader reader(bytes);
  const SafetensorsHeader remote = read_safetensors_header(reader);
  EXPECT_EQ(reader.furthest, 8 + header.size());
  const SafetensorsHeader whole = parse_safetensors(bytes, "whole");
  ASSERT_EQ(remote.tensors.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(remote.tensors[i].name, whole.tensors[i].name);
    EXPECT_EQ(remote.tensors[i].shape, whole.tensors[i].shape);
    EXPECT_EQ(remote.tensors[i].begin, whole.tensors[i].begin);
    EXPECT_EQ(remote.tensors[i].end, whole.tensors[i].end);
  }
  EXPECT_EQ(remote.data_offset, whole.data_offset);
  // Through a mapping (MemoryBytes) the same.
  MemoryBytes memory("memory", bytes);
  EXPECT_EQ(read_safetensors_header(memory).tensors.size(), 2u);
}

TEST(ByteReader, BrokenFilesAreRefusedNamingTheReader) {
  auto refused = [](std::vector<uint8_t> bytes, const char* part) {
    CountingReader reader(std::move(bytes));
    try {
      read_safetensors_header(reader);
      ADD_FAILURE() << "accepted; expected " << part;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidFile) << e.what();
      const std::string what = e.what();
      EXPECT_NE(what.find("remote.safetensors"), std::string::npos) << what;
      EXPECT_NE(what.find(part), std::string::npos) << what;
    }
    // Never more than the length and the header it states.
    EXPECT_LE(reader.furthest, reader.size());
  };
  refused({1, 2, 3}, "too short");
  std::vector<uint8_t> huge = file_of("{}", 0);
  huge[7] = 0x7f;  // a header length of about 2^63
  refused(huge, "exceeds the limit");
  std::vector<uint8_t> past = file_of("{}", 0);
  past[0] = 200;  // 200 bytes of header in a 10-byte file
  refused(past, "runs past the end");
  // The data section must end at the file's end: checked from the size, without reading it.
  refused(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12), "");
}

TEST(ByteReader, ReadAtRefusesARangePastTheEnd) {
  const std::vector<uint8_t> bytes = {1, 2, 3, 4};
  MemoryBytes m("m", bytes);
  std::vector<uint8_t> out(3);
  m.read_at(1, out);
  EXPECT_EQ(out, (std::vector<uint8_t>{2, 3, 4}));
  EXPECT_THROW(m.read_at(2, out), Error);
  std::vector<uint8_t> buffer;
  EXPECT_EQ(m.view(1, 2, buffer).data(), bytes.data() + 1);  // a view of the mapping, no copy
  EXPECT_TRUE(buffer.empty());
}

}  // namespace
}  // namespace mf
