// An input model directory: config.json plus either one model.safetensors or shards named by
// model.safetensors.index.json. Opening reads headers only; tensor data is reached through the
// mappings.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/mapped_file.hpp"
#include "io/safetensors.hpp"

namespace mf {

struct TensorLocation {
  const TensorEntry* entry = nullptr;
  const MappedFile* file = nullptr;
  uint64_t data_offset = 0;  // absolute offset of the tensor's first byte in `file`

  std::span<const uint8_t> bytes() const;
};

class ModelSource {
 public:
  // Opens a model directory. Errors (InvalidFile) name the file: a missing directory or
  // config.json, config.json that is not a JSON object, no weights, an index that is not JSON or
  // names a shard that is missing, a tensor the index assigns to a shard that does not contain it,
  // a tensor in two shards.
  static std::unique_ptr<ModelSource> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const nlohmann::json& config() const { return config_; }
  // Tensor names in a stable order (sorted).
  const std::vector<std::string>& tensor_names() const { return names_; }
  std::optional<TensorLocation> find(const std::string& name) const;
  bool has(const std::string& name) const { return find(name).has_value(); }
  // The files present in the directory besides weights (tokenizer files, ...) are read by the
  // writer directly from dir().

 private:
  std::string dir_;
  nlohmann::json config_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<SafetensorsHeader> headers_;                  // parallel to files_
  std::map<std::string, std::pair<size_t, size_t>> index_;  // name -> (file, tensor) indices
  std::vector<std::string> names_;
};

}  // namespace mf
