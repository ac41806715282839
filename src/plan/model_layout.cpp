#include "plan/model_layout.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "core/error.hpp"
#include "plan/config_path.hpp"

namespace mf {

namespace {

// Splits "a.b.12.c.d" at its first all-digit component: ("a.b", 12, "c.d").
struct LayerName {
  std::string prefix;
  int64_t index;
  std::string suffix;
};

std::optional<LayerName> split_layer_name(const std::string& name) {
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) break;
    size_t next = name.find('.', dot + 1);
    if (next == std::string::npos) break;
    std::string_view part(name.data() + dot + 1, next - dot - 1);
    if (!part.empty() && part.size() < 10 &&
        std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return LayerName{name.substr(0, dot), std::stoll(std::string(part)), name.substr(next + 1)};
    start = dot + 1;
  }
  // A name starting with the number ("0.weight" is not a layer of anything we know): not a layer.
  return std::nullopt;
}

constexpr const char* kLayerKeys[] = {"num_hidden_layers", "n_layer", "num_layers", "n_layers"};

}  // namespace

bool is_lm_head_name(const std::string& name) {
  return name.find("lm_head") != std::string::npos || name == "embed_out.weight" ||
         name == "output.weight";
}

bool is_embedding_name(const std::string& name) {
  for (const char* key : {"embed_tokens", "wte.", "word_embeddings", "tok_embeddings", "embed_in",
                          "wpe.", "embeddings", "embed_positions"})
    if (name.find(key) != std::string::npos) return true;
  return false;
}

std::string ModelLayout::layer_tensor(int64_t layer, const std::string& suffix) const {
  return layer_prefix + "." + std::to_string(layer) + "." + suffix;
}

ModelLayout infer_layout(const ModelSource& model) {
  ModelLayout layout;
  // The layer count from config.json, top level first, then a nested text config.
  std::optional<int64_t> config_layers;
  for (std::string scope : kConfigScopes) {
    for (const char* key : kLayerKeys) {
      const nlohmann::json* v = find_config_value(model.config(), scope + key);
      if (v && v->is_number_integer()) {
        config_layers = v->get<int64_t>();
        layout.num_layers_key = scope + key;
        break;
      }
    }
    if (config_layers) break;
  }

  // Candidate block prefixes and their layer indices.
  std::map<std::string, std::set<int64_t>> prefixes;
  for (const auto& name : model.tensor_names())
    if (auto ln = split_layer_name(name)) prefixes[ln->prefix].insert(ln->index);

  // The block prefix: the one whose index count matches config.json, else the one with most
  // indices.
  std::string best;
  size_t best_count = 0;
  for (const auto& [prefix, indices] : prefixes) {
    bool matches = config_layers && int64_t(indices.size()) == *config_layers;
    bool best_matches = config_layers && int64_t(best_count) == *config_layers && !best.empty();
    if (best.empty() || (matches && !best_matches) ||
        (matches == best_matches && indices.size() > best_count)) {
      best = prefix;
      best_count = indices.size();
    }
  }
  layout.layer_prefix = best;
  if (!best.empty()) {
    const auto& indices = prefixes[best];
    int64_t counted = *indices.rbegin() + 1;
    if (int64_t(indices.size()) != counted)
      fail(ErrorCode::InvalidFile, "{}: layers of `{}` are not numbered 0..{} without gaps",
           model.label(), best, counted - 1);
    if (config_layers && *config_layers != counted)
      fail(ErrorCode::InvalidFile,
           "{}/config.json: `{}` is {} but the weights hold {} layers under `{}`", model.label(),
           layout.num_layers_key, *config_layers, counted, best);
    layout.num_layers = counted;
    layout.layer_suffixes.resize(size_t(counted));
  } else if (config_layers) {
    layout.num_layers =
        0;  // e.g. config says layers but weights have none: only non-layer tensors merge
  }

  for (const auto& name : model.tensor_names()) {
    auto ln = split_layer_name(name);
    if (ln && ln->prefix == best) {
      layout.layer_suffixes[size_t(ln->index)].push_back(ln->suffix);
      continue;
    }
    if (is_lm_head_name(name)) {
      layout.post_weights.push_back(name);
      if (layout.lm_head.empty()) layout.lm_head = name;
    } else if (is_embedding_name(name)) {
      layout.pre_weights.push_back(name);
      bool positional =
          name.find("wpe.") != std::string::npos || name.find("position") != std::string::npos;
      if (layout.embed_tokens.empty() && !positional) layout.embed_tokens = name;
    } else {
      layout.post_weights.push_back(name);
    }
  }
  return layout;
}

}  // namespace mf
