#include "io/model_source.hpp"

#include <algorithm>
#include <filesystem>
#include <set>
#include <string_view>
#include <system_error>

#include "core/error.hpp"
#include "io/json_text.hpp"

namespace mf {

namespace fs = std::filesystem;

namespace {

bool is_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// Shard names come from a file someone else wrote: keep them inside the model directory.
bool is_plain_relative(const fs::path& path) {
  if (path.empty() || path.is_absolute()) return false;
  return std::none_of(path.begin(), path.end(), [](const fs::path& part) { return part == ".."; });
}

// Shard file (relative to the model directory) -> tensors the index assigns to it, from
// model.safetensors.index.json.
std::map<std::string, std::vector<std::string>> read_weight_map(const fs::path& index_path) {
  std::string label = index_path.string();
  nlohmann::json index = parse_json_text(read_text_file(label), label);
  if (!index.is_object()) {
    fail(ErrorCode::InvalidFile, "{}: not a JSON object (got {})", label, index.type_name());
  }
  auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object()) {
    fail(ErrorCode::InvalidFile, "{}: no \"weight_map\" object", label);
  }
  std::map<std::string, std::vector<std::string>> shards;
  for (const auto& [tensor, shard] : map->items()) {
    if (!shard.is_string()) {
      fail(ErrorCode::InvalidFile,
           "{}: weight_map entry for tensor \"{}\" must be a file name, got {}", label, tensor,
           shard.dump());
    }
    const auto& file = shard.get_ref<const std::string&>();
    if (!is_plain_relative(fs::path(file))) {
      fail(
          ErrorCode::InvalidFile,
          "{}: weight_map puts tensor \"{}\" in \"{}\", which is not a file in the model directory",
          label, tensor, file);
    }
    shards[file].push_back(tensor);
  }
  return shards;
}

std::vector<fs::path> find_safetensors_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".safetensors" && is_file(entry.path())) {
      files.push_back(entry.path());
    }
  }
  if (ec) fail(ErrorCode::InvalidFile, "{}: cannot list directory: {}", dir.string(), ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::span<const uint8_t> TensorLocation::bytes() const {
  return file->bytes().subspan(data_offset, entry->nbytes());
}

std::unique_ptr<ModelSource> ModelSource::open(const std::string& dir) {
  fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    if (fs::exists(root, ec)) fail(ErrorCode::InvalidFile, "{}: not a directory", dir);
    fail(ErrorCode::InvalidFile, "{}: no such model directory", dir);
  }

  auto source = std::unique_ptr<ModelSource>(new ModelSource());
  source->dir_ = dir;

  fs::path config_path = root / "config.json";
  if (!fs::exists(config_path, ec)) {
    fail(ErrorCode::InvalidFile, "{}: missing (a model directory needs config.json)",
         config_path.string());
  }
  source->config_ = parse_json_text(read_text_file(config_path.string()), config_path.string());
  if (!source->config_.is_object()) {
    fail(ErrorCode::InvalidFile, "{}: not a JSON object (got {})", config_path.string(),
         source->config_.type_name());
  }

  auto add_file = [&](const fs::path& path) {
    source->files_.push_back(std::make_unique<MappedFile>(path.string()));
    source->headers_.push_back(parse_safetensors(source->files_.back()->bytes(), path.string()));
  };

  fs::path index_path = root / "model.safetensors.index.json";
  if (fs::exists(index_path, ec)) {
    for (const auto& [shard, tensors] : read_weight_map(index_path)) {
      fs::path shard_path = root / shard;
      if (!is_file(shard_path)) {
        fail(ErrorCode::InvalidFile, "{}: shard \"{}\" (holding tensor \"{}\") is missing: {}",
             index_path.string(), shard, tensors.front(), shard_path.string());
      }
      add_file(shard_path);
      std::set<std::string_view> present;
      for (const TensorEntry& t : source->headers_.back().tensors) present.insert(t.name);
      for (const std::string& tensor : tensors) {
        if (!present.contains(tensor)) {
          fail(ErrorCode::InvalidFile,
               "{}: tensor \"{}\" is assigned to shard {}, which does not contain it",
               index_path.string(), tensor, shard_path.string());
        }
      }
    }
  } else if (is_file(root / "model.safetensors")) {
    add_file(root / "model.safetensors");
  } else {
    for (const fs::path& path : find_safetensors_files(root)) add_file(path);
  }

  if (source->files_.empty()) {
    for (const char* bin : {"pytorch_model.bin", "pytorch_model.bin.index.json"}) {
      if (fs::exists(root / bin, ec)) {
        fail(ErrorCode::Unsupported,
             "{}: no safetensors weights; found {}, but .bin checkpoints are not supported yet "
             "(convert the model to safetensors first)",
             dir, bin);
      }
    }
    fail(ErrorCode::InvalidFile,
         "{}: no safetensors weights (looked for model.safetensors.index.json, "
         "model.safetensors and *.safetensors)",
         dir);
  }

  for (size_t f = 0; f < source->files_.size(); ++f) {
    const auto& tensors = source->headers_[f].tensors;
    for (size_t t = 0; t < tensors.size(); ++t) {
      auto [it, inserted] = source->index_.emplace(tensors[t].name, std::pair{f, t});
      if (!inserted) {
        fail(ErrorCode::InvalidFile, "{}: tensor \"{}\" is in both {} and {}", dir, tensors[t].name,
             source->files_[it->second.first]->path(), source->files_[f]->path());
      }
    }
  }
  source->names_.reserve(source->index_.size());
  for (const auto& [name, where] : source->index_) source->names_.push_back(name);
  return source;
}

std::optional<TensorLocation> ModelSource::find(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  const auto [f, t] = it->second;
  const TensorEntry& entry = headers_[f].tensors[t];
  return TensorLocation{&entry, files_[f].get(), headers_[f].data_offset + entry.begin};
}

}  // namespace mf
