// The safetensors parser against one hand-made file per defect it must reject, plus layout round
// trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "io/safetensors.hpp"

namespace mf {
namespace {

constexpr std::string_view kLabel = "/models/m/model.safetensors";

std::vector<uint8_t> le64(uint64_t v) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(v >> (8 * i)));
  return out;
}

// A file: the length prefix, `header` verbatim, then `data_bytes` bytes of data.
std::vector<uint8_t> make_file(std::string_view header, size_t data_bytes) {
  std::vector<uint8_t> file = le64(header.size());
  file.insert(file.end(), header.begin(), header.end());
  file.resize(file.size() + data_bytes, 0xab);
  return file;
}

// The error parsing `file` throws; fails the test when it does not throw one.
Error parse_error(const std::vector<uint8_t>& file) {
  try {
    parse_safetensors(file, kLabel);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "parse_safetensors accepted the file";
  return Error(ErrorCode::Internal, "");
}

// Parsing fails with InvalidFile, and the message starts with the label and contains each of
// `parts`.
void expect_invalid(const std::vector<uint8_t>& file, std::vector<std::string_view> parts) {
  Error e = parse_error(file);
  EXPECT_EQ(e.code(), ErrorCode::InvalidFile) << e.what();
  std::string_view message = e.what();
  EXPECT_TRUE(message.starts_with(kLabel)) << message;
  for (std::string_view part : parts) {
    EXPECT_NE(message.find(part), std::string_view::npos)
        << "\"" << part << "\" not in: " << message;
  }
}

std::vector<uint8_t> build(const SafetensorsLayout& layout) {
  std::vector<uint8_t> file(layout.header_bytes.begin(), layout.header_bytes.end());
  file.resize(layout.file_size);
  for (size_t i = layout.data_offset(); i < file.size(); ++i) file[i] = uint8_t(i * 7);
  return file;
}

TEST(Safetensors, LayoutParseRoundTrip) {
  const std::vector<TensorDecl> decls = {
      {"model.layers.0.weight", DType::BF16, {2, 3}},
      {"a.bias", DType::F32, {5}},
      {"scalar", DType::I64, {}},
      {"empty", DType::U8, {0, 4}},
      {"scale", DType::F8_E4M3, {3}},
      {"mask", DType::Bool, {7}},
      {"héllo \"quoted\" \\ name", DType::F64, {1, 1}},
  };
  std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "a \"b\""}};
  SafetensorsLayout layout = layout_safetensors(decls, metadata);

  EXPECT_EQ(layout.data_offset() % 8, 0u);
  std::string_view json_text = std::string_view(layout.header_bytes).substr(8);
  EXPECT_TRUE(json_text.starts_with(R"({"__metadata__":)")) << json_text;
  EXPECT_EQ(layout.tensors.size(), decls.size());
  uint64_t offset = 0;
  for (size_t i = 0; i < decls.size(); ++i) {
    EXPECT_EQ(layout.tensors[i].name, decls[i].name);
    EXPECT_EQ(layout.tensors[i].begin, offset);
    offset = layout.tensors[i].end;
  }
  EXPECT_EQ(layout.file_size, layout.data_offset() + offset);
  // The header keeps the given order, not nlohmann's sorted one.
  EXPECT_LT(json_text.find("model.layers.0.weight"), json_text.find("a.bias"));

  std::vector<uint8_t> file = build(layout);
  SafetensorsHeader parsed = parse_safetensors(file, kLabel);
  EXPECT_EQ(parsed.metadata, metadata);
  EXPECT_EQ(parsed.data_offset, layout.data_offset());
  ASSERT_EQ(parsed.tensors.size(), decls.size());
  // Zero-byte tensors sort ahead of the tensor that starts where they sit; compare by name.
  for (const TensorEntry& p : parsed.tensors) {
    auto it = std::find_if(layout.tensors.begin(), layout.tensors.end(),
                           [&](const TensorEntry& t) { return t.name == p.name; });
    ASSERT_NE(it, layout.tensors.end()) << p.name;
    EXPECT_EQ(p.dtype, it->dtype);
    EXPECT_EQ(p.shape, it->shape);
    EXPECT_EQ(p.begin, it->begin);
    EXPECT_EQ(p.end, it->end);
    EXPECT_EQ(p.nbytes(), p.numel() * dtype_size(p.dtype));
  }
  EXPECT_EQ(parsed.tensors[0].name, "model.layers.0.weight");

  // Parsing from the header bytes alone gives the same result.
  SafetensorsHeader from_prefix =
      parse_safetensors_header(std::span(file).first(layout.data_offset()), file.size(), kLabel);
  EXPECT_EQ(from_prefix.tensors.size(), parsed.tensors.size());
}

TEST(Safetensors, LayoutWithoutMetadataOrTensors) {
  SafetensorsLayout layout = layout_safetensors({}, {});
  EXPECT_EQ(layout.header_bytes.size() % 8, 0u);
  EXPECT_EQ(layout.file_size, layout.header_bytes.size());
  EXPECT_EQ(nlohmann::json::parse(layout.header_bytes.substr(8)), nlohmann::json::object());
  SafetensorsHeader parsed = parse_safetensors(build(layout), kLabel);
  EXPECT_TRUE(parsed.tensors.empty());
  EXPECT_TRUE(parsed.metadata.empty());
}

TEST(Safetensors, LayoutRejectsRepeatedNames) {
  const std::vector<TensorDecl> decls = {{"w", DType::F32, {1}}, {"w", DType::F32, {1}}};
  EXPECT_THROW(layout_safetensors(decls, {}), Error);
  const std::vector<TensorDecl> reserved = {{"__metadata__", DType::F32, {1}}};
  EXPECT_THROW(layout_safetensors(reserved, {}), Error);
}

TEST(Safetensors, TensorsAreReturnedInDataOrder) {
  auto file = make_file(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("a":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}})",
                        8);
  SafetensorsHeader h = parse_safetensors(file, kLabel);
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "b");
  EXPECT_EQ(h.tensors[1].name, "a");
  EXPECT_EQ(h.tensors[1].dtype, DType::F16);
  EXPECT_EQ(h.data_offset, file.size() - 8);
}

TEST(Safetensors, AcceptsPaddingAndExtraFields) {
  auto file =
      make_file(R"({"w":{"dtype":"U16","shape":[2],"data_offsets":[0,4],"extra":1}}       )", 4);
  SafetensorsHeader h = parse_safetensors(file, kLabel);
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.tensors[0].shape, std::vector<int64_t>{2});
}

TEST(Safetensors, TruncatedFile) {
  expect_invalid({1, 2, 3, 4, 5}, {"5 bytes", "too short"});
  expect_invalid({}, {"0 bytes"});
}

TEST(Safetensors, HeaderLengthPastTheEnd) {
  std::vector<uint8_t> file = le64(1000);
  file.resize(50, ' ');
  expect_invalid(file, {"header length 1000", "past the end", "50-byte"});
}

TEST(Safetensors, HeaderLengthOverLimit) {
  std::vector<uint8_t> file = le64(kMaxHeaderBytes + 1);
  file.resize(64, ' ');
  expect_invalid(file, {"100000001", "exceeds the limit"});
  expect_invalid(le64(~uint64_t{0}), {"exceeds the limit"});
}

TEST(Safetensors, HeaderNotJson) {
  expect_invalid(make_file("{not json}", 0), {"not valid JSON"});
  expect_invalid(make_file("", 0), {"not valid JSON"});
  expect_invalid(make_file("{\"w\":{\"dtype\":\"F32\"\x01}", 0), {"not valid JSON"});
}

TEST(Safetensors, HeaderNotAnObject) {
  expect_invalid(make_file("[1, 2]", 0), {"not a JSON object", "array"});
  expect_invalid(make_file("42", 0), {"not a JSON object"});
  expect_invalid(make_file("  {}", 0), {"does not start with '{'"});
}

TEST(Safetensors, EntryNotAnObjectOrMissingFields) {
  expect_invalid(make_file(R"({"w":[1]})", 0), {"\"w\"", "must be an object"});
  expect_invalid(make_file(R"({"w":{"shape":[],"data_offsets":[0,4]}})", 4),
                 {"\"w\"", "\"dtype\""});
  expect_invalid(make_file(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4),
                 {"\"w\"", "\"shape\""});
  expect_invalid(make_file(R"({"w":{"dtype":"F32","shape":[]}})", 4),
                 {"\"w\"", "\"data_offsets\""});
  expect_invalid(make_file(R"({"w":{"dtype":3,"shape":[],"data_offsets":[0,4]}})", 4),
                 {"\"w\"", "must be a string"});
}

TEST(Safetensors, UnknownDtype) {
  expect_invalid(make_file(R"({"layer.w":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}})", 4),
                 {"\"layer.w\"", "unknown dtype \"F12\""});
  // Spellings are case sensitive, as in the format.
  expect_invalid(make_file(R"({"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4),
                 {"\"w\"", "\"f32\""});
}

TEST(Safetensors, NegativeDimension) {
  expect_invalid(make_file(R"({"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,4]}})", 4),
                 {"\"w\"", "negative", "-1"});
}

TEST(Safetensors, NonIntegerDimension) {
  expect_invalid(make_file(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,4]}})", 4),
                 {"\"w\"", "not a non-negative integer", "2.5"});
  expect_invalid(make_file(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,4]}})", 4),
                 {"\"w\"", "must be an array"});
}

TEST(Safetensors, ShapeProductOverflow) {
  expect_invalid(make_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,2],)"
                           R"("data_offsets":[0,0]}})",
                           0),
                 {"\"w\"", "too many elements"});
  // The element count fits in 64 bits but the byte count does not.
  expect_invalid(make_file(R"({"w":{"dtype":"F64","shape":[4611686018427387904],)"
                           R"("data_offsets":[0,0]}})",
                           0),
                 {"\"w\"", "too many elements"});
  expect_invalid(make_file(R"({"w":{"dtype":"U8","shape":[18446744073709551615],)"
                           R"("data_offsets":[0,0]}})",
                           0),
                 {"\"w\"", "too many elements"});
}

TEST(Safetensors, OffsetsSizeMismatch) {
  expect_invalid(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
                 {"\"w\"", "span 4 bytes", "needs 8 bytes"});
  expect_invalid(make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
                 {"\"w\"", "end before"});
  expect_invalid(make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
                 {"\"w\"", "[begin, end]"});
  expect_invalid(make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4),
                 {"\"w\"", "negative"});
}

TEST(Safetensors, HoleBetweenTensors) {
  expect_invalid(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                           12),
                 {"\"b\"", "hole of 4 bytes", "\"a\""});
  expect_invalid(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
                 {"\"a\"", "hole of 4 bytes", "start of the data"});
}

TEST(Safetensors, OverlappingTensors) {
  expect_invalid(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                           8),
                 {"\"b\"", "overlaps", "\"a\""});
  // Two tensors sharing the same bytes.
  expect_invalid(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})",
                           4),
                 {"overlaps"});
}

TEST(Safetensors, DataShorterThanDeclared) {
  expect_invalid(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
                 {"takes 8 bytes", "has 4 bytes", "truncated"});
}

TEST(Safetensors, DataLongerThanDeclared) {
  expect_invalid(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12),
                 {"takes 8 bytes", "has 12 bytes", "trailing"});
  expect_invalid(make_file("{}", 1), {"takes 0 bytes", "has 1 bytes"});
}

TEST(Safetensors, DuplicateTensorNames) {
  expect_invalid(make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                           8),
                 {"\"w\"", "more than once"});
  expect_invalid(
      make_file(R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", 4),
      {"\"w\"", "\"dtype\"", "more than once"});
}

TEST(Safetensors, InvalidUtf8Name) {
  std::string header = "{\"layer\xff.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  Error e = parse_error(make_file(header, 4));
  EXPECT_EQ(e.code(), ErrorCode::InvalidFile);
  std::string_view message = e.what();
  EXPECT_TRUE(message.starts_with(kLabel));
  EXPECT_NE(message.find("not valid UTF-8"), std::string_view::npos) << message;
  EXPECT_NE(message.find("\"layer"), std::string_view::npos)
      << message;  // the name up to the bad byte
  // The message itself is clean UTF-8: the bad byte is escaped.
  EXPECT_EQ(message.find('\xff'), std::string_view::npos);
  // Overlong encodings and UTF-16 surrogates are not UTF-8 either.
  expect_invalid(make_file("{\"\xc0\xaf\":1}", 0), {"not valid UTF-8"});
  expect_invalid(make_file("{\"\xed\xa0\x80\":1}", 0), {"not valid UTF-8"});
}

TEST(Safetensors, AcceptsUtf8Names) {
  auto file = make_file(
      "{\"gewicht.\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80\":{\"dtype\":\"I8\","
      "\"shape\":[3],\"data_offsets\":[0,3]}}",
      3);
  EXPECT_EQ(parse_safetensors(file, kLabel).tensors.at(0).name,
            "gewicht.\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST(Safetensors, BadMetadata) {
  expect_invalid(make_file(R"({"__metadata__":{"format":1}})", 0),
                 {"__metadata__", "\"format\"", "must be a string"});
  expect_invalid(make_file(R"({"__metadata__":"pt"})", 0), {"__metadata__", "object"});
  expect_invalid(make_file(R"({"__metadata__":{"a":"x","a":"y"}})", 0),
                 {"\"a\"", "more than once"});
}

TEST(Safetensors, HeaderPrefixMustCoverTheHeader) {
  auto file = make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  try {
    parse_safetensors_header(std::span(file).first(10), file.size(), kLabel);
    ADD_FAILURE() << "accepted a prefix shorter than the header";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Internal);
  }
}

// Any corruption of a valid file is either accepted or rejected with an mf::Error: never a crash,
// never another exception type. A poor man's fuzzer, run under the sanitizer build too.
TEST(Safetensors, CorruptedFilesFailCleanly) {
  const std::vector<TensorDecl> decls = {
      {"a", DType::F32, {2, 2}}, {"b", DType::BF16, {3}}, {"c", DType::I64, {}}};
  std::vector<uint8_t> valid = build(layout_safetensors(decls, {{"format", "pt"}}));
  auto parse_or_error = [](const std::vector<uint8_t>& file) {
    try {
      parse_safetensors(file, kLabel);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidFile) << e.what();
    }
  };
  for (size_t n = 0; n < valid.size(); ++n) {
    parse_or_error(std::vector<uint8_t>(valid.begin(), valid.begin() + n));
  }
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> file = valid;
    int flips = 1 + int(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      // Mostly in the header, where the parser looks.
      size_t at = rng() % (valid.size() < 120 ? valid.size() : 120);
      file[at] = uint8_t(rng());
    }
    parse_or_error(file);
  }
}

}  // namespace
}  // namespace mf
