// Writes small model directories (config.json + model.safetensors) for tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "io/safetensors.hpp"

namespace mf::testing {

struct FixtureTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;  // written as F32 unless write_model is given another dtype
};

inline std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("mergeforge-test-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The tensors are stored as `dtype` (a float dtype; values rounded to it).
inline void write_model(const std::filesystem::path& dir, const nlohmann::json& config,
                        const std::vector<FixtureTensor>& tensors, DType dtype = DType::F32) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << config.dump();
  std::vector<TensorDecl> decls;
  for (const auto& t : tensors) decls.push_back({t.name, dtype, t.shape});
  auto layout = layout_safetensors(decls, {{"format", "pt"}});
  std::string bytes = layout.header_bytes;
  for (const auto& t : tensors) {
    std::string stored(t.values.size() * dtype_size(dtype), '\0');
    convert_from(t.values.data(), dtype, stored.data(), t.values.size());
    bytes += stored;
  }
  std::ofstream(dir / "model.safetensors", std::ios::binary) << bytes;
}

// A Llama-shaped toy: embed [V, H], per layer q_proj [H, H] and norm [H], final norm, optional
// lm_head.
inline void write_toy_llama(const std::filesystem::path& dir, int layers, unsigned seed,
                            bool lm_head = true, int hidden = 4, int vocab = 6) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  auto make = [&](std::string name, std::vector<int64_t> shape) {
    size_t n = 1;
    for (auto d : shape) n *= size_t(d);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return FixtureTensor{std::move(name), std::move(shape), std::move(v)};
  };
  std::vector<FixtureTensor> t;
  t.push_back(make("model.embed_tokens.weight", {vocab, hidden}));
  for (int l = 0; l < layers; ++l) {
    t.push_back(
        make("model.layers." + std::to_string(l) + ".self_attn.q_proj.weight", {hidden, hidden}));
    t.push_back(make("model.layers." + std::to_string(l) + ".input_layernorm.weight", {hidden}));
  }
  t.push_back(make("model.norm.weight", {hidden}));
  if (lm_head) t.push_back(make("lm_head.weight", {vocab, hidden}));
  nlohmann::json config = {
      {"model_type", "llama"},
      {"num_hidden_layers", layers},
      {"hidden_size", hidden},
      {"vocab_size", vocab},
      {"tie_word_embeddings", !lm_head},
      {"torch_dtype", "float32"},
      {"layer_types", std::vector<std::string>(size_t(layers), "full_attention")}};
  for (int l = 0; l < layers; ++l) config["layer_types"][size_t(l)] = "kind" + std::to_string(l);
  write_model(dir, config, t);
}

}  // namespace mf::testing
