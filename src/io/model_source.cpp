#include "io/model_source.hpp"

#include <algorithm>
#include <filesystem>
#include <set>
#include <string_view>
#include <system_error>

#include "core/error.hpp"
#include "io/json_text.hpp"
#include "io/model_metadata.hpp"

namespace mf {

namespace fs = std::filesystem;

namespace {

bool is_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
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
  source->config_ = parse_model_config(read_text_file(config_path.string()), config_path.string());

  auto add_file = [&](const fs::path& path) {
    source->files_.push_back(std::make_unique<MappedFile>(path.string()));
    source->headers_.push_back(parse_safetensors(source->files_.back()->bytes(), path.string()));
  };

  fs::path index_path = root / "model.safetensors.index.json";
  if (fs::exists(index_path, ec)) {
    std::string index_label = index_path.string();
    for (const auto& [shard, tensors] :
         parse_shard_index(read_text_file(index_label), index_label)) {
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
