// libFuzzer target: the JSON files of a model directory, config.json (mf::parse_model_config) and
// the shard index (mf::parse_shard_index), over arbitrary text. Both are tried on every input.
// Whatever the index parser accepts must name shard files that stay inside the model directory.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "core/error.hpp"
#include "io/json_text.hpp"
#include "io/model_metadata.hpp"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

bool stays_inside(const std::string& shard) {
  std::filesystem::path path(shard);
  if (shard.empty() || shard.find('\0') != std::string::npos || path.is_absolute()) return false;
  for (const auto& part : path)
    if (part == "..") return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  try {
    nlohmann::json config = mf::parse_model_config(text, "config.json");
    require(config.is_object());
    (void)config.dump();  // the planner copies it into the output's config.json
  } catch (const mf::Error& e) {
    require(e.code() == mf::ErrorCode::InvalidFile);
    require(std::string_view(e.what()).starts_with("config.json: "));
  }

  try {
    auto shards = mf::parse_shard_index(text, "model.safetensors.index.json");
    for (const auto& [shard, tensors] : shards) {
      require(stays_inside(shard));
      require(!tensors.empty());
    }
  } catch (const mf::Error& e) {
    require(e.code() == mf::ErrorCode::InvalidFile);
    require(std::string_view(e.what()).starts_with("model.safetensors.index.json: "));
  }

  // Messages quote parts of these files: the escaping must produce valid UTF-8 whatever the input.
  require(!mf::find_invalid_utf8(mf::escape_for_message(text)).has_value());
  return 0;
}
