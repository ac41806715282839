// A merge recipe as written: the MergeKit YAML schema parsed into plain structs, every node keeping its
// position in the file so later errors (an unknown method, a layer range past the end) can name the line.
// Parsing checks the schema; what needs the models (layer counts, shapes) is checked by the planner.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.hpp"

namespace mf {

// A position in the recipe file, 1-based; line 0 means "no position".
struct Mark {
  int line = 0;
  int column = 0;
};

// A parameter value as written (COMPAT.md, "Parameter value forms"): a scalar, a list of scalars (a gradient
// across layers), or a list of {filter, value} conditions whose value is itself a setting.
struct ParamSetting {
  enum class Kind { Scalar, Gradient, Conditions };
  struct Condition {
    std::optional<std::string> filter;  // absent or "*": matches every tensor
    std::shared_ptr<const ParamSetting> value;
  };

  Kind kind = Kind::Scalar;
  std::vector<std::string> scalars;  // Scalar: one entry; Gradient: the list (raw YAML scalar text)
  std::vector<Condition> conditions;
  Mark mark;
};

using ParamSettings = std::map<std::string, ParamSetting>;

struct ModelRef {
  std::string path;  // local directory
  std::string text;  // as written in the recipe (used for identity and messages)
  Mark mark;
  bool operator==(const ModelRef& other) const { return path == other.path; }
};

struct InputModel {
  ModelRef model;
  ParamSettings parameters;
};

struct SliceSource {
  ModelRef model;
  int64_t layer_start = 0;  // half-open [start, end)
  int64_t layer_end = 0;
  Mark range_mark;
  ParamSettings parameters;
};

struct OutputSlice {
  std::vector<SliceSource> sources;
  std::optional<ModelRef> base_model;
  ParamSettings parameters;
  Mark mark;
};

struct MergeConfig {
  std::string file_label;   // the recipe's path, for messages
  std::string source_text;  // the recipe verbatim (written as mergekit_config.yml)

  std::string merge_method;
  Mark merge_method_mark;
  std::optional<ModelRef> base_model;
  // Exactly one of the two forms; `models:` is kept as written and turned into one slice by the planner.
  std::vector<InputModel> models;
  std::vector<OutputSlice> slices;
  bool uses_slices = false;
  Mark inputs_mark;

  ParamSettings parameters;
  std::optional<DType> dtype;
  std::optional<DType> out_dtype;
  std::optional<std::string> tokenizer_source;
  bool has_tokenizer_section = false;
  std::optional<std::string> chat_template;

  // Keys the schema does not know: MergeKit ignores them and real recipes carry them.
  std::vector<std::pair<std::string, Mark>> unknown_keys;

  // "recipe.yml:12:5" for a mark, or just the file for an empty mark.
  std::string where(const Mark& mark) const;
};

// Parses a recipe. Throws Error(InvalidConfig) naming file:line:column for YAML syntax errors and schema
// violations (wrong types, both or neither of models/slices, a layer_range that is not [start, end) with
// 0 <= start <= end, tokenizer_source together with tokenizer, an unknown dtype, ...).
MergeConfig parse_recipe(const std::string& text, const std::string& file_label);
MergeConfig load_recipe(const std::string& path);

}  // namespace mf
