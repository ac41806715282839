#include "io/model_metadata.hpp"

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "io/json_text.hpp"

namespace mf {

namespace {

namespace fs = std::filesystem;

// Shard names come from a file someone else wrote: keep them inside the model directory.
bool is_plain_relative(const fs::path& path) {
  if (path.empty() || path.is_absolute()) return false;
  return std::none_of(path.begin(), path.end(), [](const fs::path& part) { return part == ".."; });
}

}  // namespace

nlohmann::json parse_model_config(std::string_view text, std::string_view file_label) {
  nlohmann::json config = parse_json_text(text, file_label);
  if (!config.is_object()) {
    fail(ErrorCode::InvalidFile, "{}: not a JSON object (got {})", file_label, config.type_name());
  }
  return config;
}

std::map<std::string, std::vector<std::string>> parse_shard_index(std::string_view text,
                                                                  std::string_view file_label) {
  nlohmann::json index = parse_json_text(text, file_label);
  if (!index.is_object()) {
    fail(ErrorCode::InvalidFile, "{}: not a JSON object (got {})", file_label, index.type_name());
  }
  auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object()) {
    fail(ErrorCode::InvalidFile, "{}: no \"weight_map\" object", file_label);
  }
  std::map<std::string, std::vector<std::string>> shards;
  for (const auto& [tensor, shard] : map->items()) {
    if (!shard.is_string()) {
      fail(ErrorCode::InvalidFile,
           "{}: weight_map entry for tensor \"{}\" must be a file name, got {}", file_label, tensor,
           shard.dump());
    }
    const auto& file = shard.get_ref<const std::string&>();
    // A NUL byte would cut the path short when it reaches the file system.
    if (file.find('\0') != std::string::npos || !is_plain_relative(fs::path(file))) {
      fail(
          ErrorCode::InvalidFile,
          "{}: weight_map puts tensor \"{}\" in \"{}\", which is not a file in the model directory",
          file_label, tensor, escape_for_message(file));
    }
    shards[file].push_back(tensor);
  }
  return shards;
}

}  // namespace mf
