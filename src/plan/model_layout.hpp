// Where a model's tensors sit, inferred from tensor names and config.json alone, so any decoder
// architecture merges without a per-architecture template: the repeated block prefix
// ("model.layers", "transformer.h", ...), the layer count and its config key, and the tensors
// outside the layers, split into those before the layers (embeddings) and after (final norm,
// lm_head).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sources/model_source.hpp"

namespace mf {

struct ModelLayout {
  std::string layer_prefix;  // "model.layers"; empty when the model has no numbered blocks
  int64_t num_layers = 0;
  std::string
      num_layers_key;  // dotted config.json path ("num_hidden_layers", "text_config.num_layers")
  // Tensor-name suffixes of each layer ("self_attn.q_proj.weight"), per layer index.
  std::vector<std::vector<std::string>> layer_suffixes;
  std::vector<std::string> pre_weights;   // embeddings: taken from the first slice
  std::vector<std::string> post_weights;  // final norm, lm_head, ...: taken from the last slice
  std::string
      embed_tokens;     // the input embedding, stands in for a missing lm_head (tied); may be empty
  std::string lm_head;  // the output head if the model stores one; may be empty

  std::string layer_tensor(int64_t layer, const std::string& suffix) const;
};

// Throws Error(InvalidFile) naming the model directory when config.json's layer count disagrees
// with the tensors.
ModelLayout infer_layout(const ModelSource& model);

// True for names of an output head (lm_head.weight and the like); used to tie it to the embeddings.
bool is_lm_head_name(const std::string& name);
bool is_embedding_name(const std::string& name);

}  // namespace mf
