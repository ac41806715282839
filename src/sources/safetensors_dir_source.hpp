// A model directory as transformers saves it: config.json plus either one model.safetensors or
// shards named by model.safetensors.index.json. Opening reads headers only; tensor data is read
// through the files' mappings (HACKING.md, "Reading inputs").
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/mapped_file.hpp"
#include "io/safetensors.hpp"
#include "sources/model_source.hpp"

namespace mf {

class SafetensorsDirSource : public ModelSource {
 public:
  // Opens a model directory. Errors (InvalidFile) name the file: a missing directory or
  // config.json, config.json that is not a JSON object, no weights, an index that is not JSON or
  // names a shard that is missing, a tensor the index assigns to a shard that does not contain it,
  // a tensor in two shards.
  static std::unique_ptr<SafetensorsDirSource> open(const std::string& dir);

  const std::string& label() const override { return dir_; }
  const std::string& directory() const override { return dir_; }
  const nlohmann::json& config() const override { return config_; }
  const std::vector<std::string>& tensor_names() const override { return names_; }
  const TensorInfo* find(std::string_view name) const override;

  std::span<const uint8_t> stored_bytes(const TensorInfo& tensor) const override;
  void prefetch(const TensorInfo& tensor) const override;
  void release(const TensorInfo& tensor) const override;
  double resident_fraction(const TensorInfo& tensor) const override;

  std::optional<std::string> side_file(std::string_view name) const override;
  std::string identity() const override;
  void check_unchanged() const override;

 private:
  struct Tensor {
    TensorInfo info;
    const MappedFile* file = nullptr;
    uint64_t offset = 0;  // absolute offset of the tensor's first byte in `file`
  };
  const Tensor& tensor(const TensorInfo& info) const;

  std::string dir_;
  nlohmann::json config_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, Tensor, std::less<>> tensors_;
  std::vector<std::string> names_;
};

}  // namespace mf
