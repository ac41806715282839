// Inputs the fuzzers (fuzz/) found or target: each must be a user error with the parser's own code,
// never another exception. Also the contracts of the pure JSON parsers of a model directory
// (model_metadata.hpp).
#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "io/json_text.hpp"
#include "io/model_metadata.hpp"
#include "io/safetensors.hpp"
#include "plan/parameter_resolver.hpp"

namespace mf {
namespace {

// The error code and message of `f()`, which must throw mf::Error.
template <class F>
std::pair<ErrorCode, std::string> error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  ADD_FAILURE() << "no mf::Error thrown";
  return {ErrorCode::Internal, ""};
}

std::string safetensors_with_header(std::string header) {
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[size_t(i)] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  return file + header;
}

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Found by fuzz_safetensors and fuzz_index_config: nlohmann reports a number too large for a double
// as out_of_range, not parse_error; it escaped the parsers and the command reported an internal
// error.
TEST(HostileInputs, NumberOverflowIsInvalidJsonNotAnInternalError) {
  auto [code, msg] = error_of([] { parse_json_text(R"({"rope_theta": 1e400})", "m/config.json"); });
  EXPECT_EQ(code, ErrorCode::InvalidFile);
  EXPECT_NE(msg.find("m/config.json: not valid JSON"), std::string::npos) << msg;

  std::string file = safetensors_with_header(R"({"__metadata__":{"format":1e309}})");
  std::tie(code, msg) = error_of([&] { parse_safetensors(bytes(file), "m/model.safetensors"); });
  EXPECT_EQ(code, ErrorCode::InvalidFile);
  EXPECT_NE(msg.find("header is not valid JSON"), std::string::npos) << msg;

  std::tie(code, msg) =
      error_of([] { parse_shard_index(R"({"weight_map": {}, "x": -1e999})", "i.json"); });
  EXPECT_EQ(code, ErrorCode::InvalidFile);
}

TEST(HostileInputs, ModelConfigMustBeAnObject) {
  EXPECT_TRUE(parse_model_config(R"({"model_type": "llama"})", "c.json").is_object());
  for (std::string_view text : {"[]", "3", "\"llama\"", "", "{", "{\"a\": \"\xff\"}"}) {
    auto [code, msg] = error_of([&] { parse_model_config(text, "c.json"); });
    EXPECT_EQ(code, ErrorCode::InvalidFile) << text;
    EXPECT_TRUE(msg.starts_with("c.json: ")) << msg;
  }
}

TEST(HostileInputs, ShardIndexGroupsTensorsByShard) {
  auto shards = parse_shard_index(
      R"({"metadata": {"total_size": 10}, "weight_map": {"b": "s2.safetensors", "a": "s1.safetensors",
          "c": "s1.safetensors"}})",
      "i.json");
  ASSERT_EQ(shards.size(), 2u);
  EXPECT_EQ(shards["s1.safetensors"], (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(shards["s2.safetensors"], (std::vector<std::string>{"b"}));
}

TEST(HostileInputs, ShardIndexKeepsShardsInsideTheModelDirectory) {
  for (std::string_view shard :
       {"../x.safetensors", "/etc/passwd", "", "sub/../../x", "a\\u0000b"}) {
    std::string text = fmt::format(R"({{"weight_map": {{"lm_head.weight": "{}"}}}})", shard);
    auto [code, msg] = error_of([&] { parse_shard_index(text, "i.json"); });
    EXPECT_EQ(code, ErrorCode::InvalidFile) << shard;
    EXPECT_NE(msg.find("lm_head.weight"), std::string::npos) << msg;
  }
  EXPECT_EQ(parse_shard_index(R"({"weight_map": {"t": "sub/dir/s.safetensors"}})", "i.json").size(),
            1u);
}

TEST(HostileInputs, ShardIndexShapeErrorsNameTheFile) {
  for (std::string_view text :
       {"[]", "{}", R"({"weight_map": []})", R"({"weight_map": {"t": 3}})"}) {
    auto [code, msg] = error_of([&] { parse_shard_index(text, "i.json"); });
    EXPECT_EQ(code, ErrorCode::InvalidFile) << text;
    EXPECT_TRUE(msg.starts_with("i.json: ")) << msg;
  }
}

// strtod reads "nan" and "inf" and overflows "1e999" to inf: none of them may become a weight.
TEST(HostileInputs, NonFiniteParametersDoNotParse) {
  for (ParamType type : {ParamType::Float, ParamType::Int}) {
    for (std::string_view text : {"nan", "NaN", "inf", "-inf", "infinity", "1e999", "-1e400"})
      EXPECT_FALSE(parse_param_scalar(text, type).has_value()) << text;
  }
  // Kernels cast integer parameters to int.
  EXPECT_FALSE(parse_param_scalar("1e12", ParamType::Int).has_value());
  EXPECT_FALSE(parse_param_scalar("-2147483648", ParamType::Int).has_value());
  EXPECT_EQ(parse_param_scalar("2147483647", ParamType::Int), 2147483647.0);
  EXPECT_EQ(parse_param_scalar("1e300", ParamType::Float), 1e300);
  EXPECT_EQ(parse_param_scalar("-0.5", ParamType::Float), -0.5);
}

}  // namespace
}  // namespace mf
