#include "sources/safetensors_dir_source.hpp"

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

std::unique_ptr<SafetensorsDirSource> SafetensorsDirSource::open(const std::string& dir) {
  fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    if (fs::exists(root, ec)) fail(ErrorCode::InvalidFile, "{}: not a directory", dir);
    fail(ErrorCode::InvalidFile, "{}: no such model directory", dir);
  }

  auto source = std::unique_ptr<SafetensorsDirSource>(new SafetensorsDirSource());
  std::vector<SafetensorsHeader> headers;  // parallel to files_
  source->dir_ = dir;

  fs::path config_path = root / "config.json";
  if (!fs::exists(config_path, ec)) {
    fail(ErrorCode::InvalidFile, "{}: missing (a model directory needs config.json)",
         config_path.string());
  }
  source->config_ = parse_model_config(read_text_file(config_path.string()), config_path.string());

  auto add_file = [&](const fs::path& path) {
    source->files_.push_back(std::make_unique<MappedFile>(path.string()));
    headers.push_back(read_safetensors_header(*source->files_.back()));
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
      for (const TensorEntry& t : headers.back().tensors) present.insert(t.name);
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
    const MappedFile* file = source->files_[f].get();
    for (TensorEntry& entry : headers[f].tensors) {
      Tensor t;
      t.info.name = entry.name;
      t.info.dtype = entry.dtype;
      t.info.shape = std::move(entry.shape);
      t.file = file;
      t.offset = headers[f].data_offset + entry.begin;
      auto [it, inserted] = source->tensors_.emplace(entry.name, std::move(t));
      if (!inserted) {
        fail(ErrorCode::InvalidFile, "{}: tensor \"{}\" is in both {} and {}", dir, entry.name,
             it->second.file->path(), file->path());
      }
    }
  }
  source->names_.reserve(source->tensors_.size());
  for (const auto& [name, t] : source->tensors_) source->names_.push_back(name);
  return source;
}

const TensorInfo* SafetensorsDirSource::find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second.info;
}

const SafetensorsDirSource::Tensor& SafetensorsDirSource::tensor(const TensorInfo& info) const {
  auto it = tensors_.find(info.name);
  if (it == tensors_.end() || &it->second.info != &info)
    fail(ErrorCode::Internal, "{}: tensor `{}` is not one of this model's", dir_, info.name);
  return it->second;
}

std::span<const uint8_t> SafetensorsDirSource::stored_bytes(const TensorInfo& info) const {
  const Tensor& t = tensor(info);
  return t.file->bytes().subspan(t.offset, info.stored_bytes());
}

void SafetensorsDirSource::prefetch(const TensorInfo& info) const {
  const Tensor& t = tensor(info);
  t.file->prefetch(t.offset, info.stored_bytes());
}

void SafetensorsDirSource::release(const TensorInfo& info) const {
  const Tensor& t = tensor(info);
  t.file->release(t.offset, info.stored_bytes());
}

double SafetensorsDirSource::resident_fraction(const TensorInfo& info) const {
  const Tensor& t = tensor(info);
  return t.file->resident_fraction(t.offset, info.stored_bytes());
}

std::optional<std::string> SafetensorsDirSource::side_file(std::string_view name) const {
  // Side files are named by the engine (tokenizer files), never by the model's own files.
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..")
    fail(ErrorCode::Internal, "side file `{}`: not a plain file name", name);
  const fs::path path = fs::path(dir_) / std::string(name);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  return read_text_file(path.string());
}

void SafetensorsDirSource::check_unchanged() const {
  for (const auto& file : files_) file->check_unchanged();
}

std::string SafetensorsDirSource::identity() const {
  // The files a merge reads: weights, config and tokenizer files, each with its size and mtime.
  std::string text;
  std::error_code ec;
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const auto name = entry.path().filename();
    if (entry.path().extension() == ".safetensors" || name == "config.json" ||
        name == "tokenizer.json" || name == "tokenizer_config.json")
      paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  for (const fs::path& p : paths) {
    const auto mtime = fs::last_write_time(p, ec).time_since_epoch().count();
    text += fmt::format("{} {} {}\n", p.string(), fs::file_size(p, ec), mtime);
  }
  return text;
}

}  // namespace mf
