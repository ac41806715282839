// A model the merge reads: its config.json, its tensors (name, stored dtype, shape) and the side
// files beside the weights (tokenizer files). The engine sees models only through this interface;
// where the bytes live (a directory of safetensors, memory, later the hub cache, .bin or GGUF
// files) and how they are encoded is the source's business. A ModelResolver (model_resolver.hpp)
// turns a recipe's reference into a source.
//
// Every method is const and safe to call from several threads at once.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.hpp"

namespace mf {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;  // as stored
  std::vector<int64_t> shape;
  // Elements per encoding block (1 for plain dtypes; block-quantized formats decode whole blocks).
  uint32_t block_elements = 1;

  uint64_t numel() const;
  uint64_t stored_bytes() const;  // numel * dtype size for plain dtypes
};

class ModelSource {
 public:
  virtual ~ModelSource() = default;

  // How the model is named in messages (its path, or its id).
  virtual const std::string& label() const = 0;
  // The local directory holding the model's files, where there is one (output-path safety
  // checks); empty for a model in memory.
  virtual const std::string& directory() const = 0;
  virtual const nlohmann::json& config() const = 0;
  // Tensor names in a stable (sorted) order.
  virtual const std::vector<std::string>& tensor_names() const = 0;
  // nullptr when the model has no tensor of that name. The pointer lives as long as the source.
  virtual const TensorInfo* find(std::string_view name) const = 0;
  bool has(std::string_view name) const { return find(name) != nullptr; }

  // The tensor's stored bytes without a copy, where the format keeps them addressable (a mapped
  // safetensors file); empty otherwise, and the engine reads through read().
  virtual std::span<const uint8_t> stored_bytes(const TensorInfo& tensor) const { return {}; }
  // Decodes elements [first, first + count) of `tensor` into `out`. The default decodes
  // stored_bytes(); a source without addressable bytes overrides both.
  virtual void read(const TensorInfo& tensor, uint64_t first, uint64_t count, float* out) const;
  virtual void read(const TensorInfo& tensor, uint64_t first, uint64_t count, double* out) const;
  // Copies stored bytes [offset, offset + out.size()) of `tensor` (tensors that are not floats
  // are copied as stored).
  virtual void read_stored(const TensorInfo& tensor, uint64_t offset, std::span<uint8_t> out) const;

  // Hints about the tensor's bytes, for sources backed by files. prefetch blocks until the bytes
  // are in memory (the executor calls it from its read-ahead thread); release says they are no
  // longer needed; resident_fraction estimates the share already in memory (1 for memory).
  virtual void prefetch(const TensorInfo& tensor) const {}
  virtual void release(const TensorInfo& tensor) const {}
  virtual double resident_fraction(const TensorInfo& tensor) const { return 1.0; }

  // A file beside the weights (tokenizer.json, tokenizer_config.json, ...): its content, or
  // nullopt when the model has none.
  virtual std::optional<std::string> side_file(std::string_view name) const = 0;
  // A text that changes whenever the model's files change (paths, sizes, mtimes): part of the
  // fingerprint a partial merge must match to be resumed.
  virtual std::string identity() const = 0;
  // Throws Error(InvalidFile) naming the file when one the source reads changed since it was
  // opened (replaced, resized, rewritten): checked before an output is published, since a merge
  // that read a file being rewritten may have mixed two versions of it.
  virtual void check_unchanged() const {}
};

}  // namespace mf
