// A model held in memory: unit tests build inputs without files, and the Python API will hand
// arrays to the engine through it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sources/model_source.hpp"

namespace mf {

class MemorySource : public ModelSource {
 public:
  explicit MemorySource(std::string label, nlohmann::json config = nlohmann::json::object());

  // Adds (or replaces) a tensor stored as `bytes` of `dtype`; throws InvalidFile when the byte
  // count does not match the shape.
  void add_tensor(std::string name, DType dtype, std::vector<int64_t> shape,
                  std::vector<uint8_t> bytes);
  // The same from float values, stored as `dtype` (rounded as a checkpoint would store them).
  void add_tensor(std::string name, DType dtype, std::vector<int64_t> shape,
                  const std::vector<float>& values);
  void set_side_file(std::string name, std::string content);
  // Without stored bytes every read goes through read(): how a source of a format that is not
  // addressable (compressed, remote, quantized) looks to the engine.
  void hide_stored_bytes(bool hide) { hide_stored_ = hide; }

  const std::string& label() const override { return label_; }
  const std::string& directory() const override { return directory_; }
  const nlohmann::json& config() const override { return config_; }
  const std::vector<std::string>& tensor_names() const override { return names_; }
  const TensorInfo* find(std::string_view name) const override;
  std::span<const uint8_t> stored_bytes(const TensorInfo& tensor) const override;
  void read(const TensorInfo& tensor, uint64_t first, uint64_t count, float* out) const override;
  void read(const TensorInfo& tensor, uint64_t first, uint64_t count, double* out) const override;
  void read_stored(const TensorInfo& tensor, uint64_t offset,
                   std::span<uint8_t> out) const override;
  std::optional<std::string> side_file(std::string_view name) const override;
  std::string identity() const override;

 private:
  struct Tensor {
    TensorInfo info;
    std::vector<uint8_t> bytes;
  };
  const Tensor& tensor(const TensorInfo& info) const;
  template <class T>
  void decode(const TensorInfo& info, uint64_t first, uint64_t count, T* out) const;

  std::string label_;
  std::string directory_;  // none
  nlohmann::json config_;
  std::map<std::string, Tensor, std::less<>> tensors_;
  std::vector<std::string> names_;
  std::map<std::string, std::string, std::less<>> side_files_;
  bool hide_stored_ = false;
};

}  // namespace mf
