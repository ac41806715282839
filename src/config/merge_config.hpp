// A merge recipe as written: the MergeKit YAML schema parsed into plain structs, every node keeping
// its position in the file so later errors (an unknown method, a layer range past the end) can name
// the line. Parsing checks the schema; what needs the models (layer counts, shapes) is checked by
// the planner.
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

// A parameter value as written (COMPAT.md, "Parameter value forms"): a scalar, a list of scalars (a
// gradient across layers), or a list of {filter, value} conditions whose value is itself a setting.
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

// Where one token's embedding row comes from (`tokenizer: {tokens: {<token>: {source, force}}}`).
struct TokenSourceSetting {
  enum class Kind {
    Auto,        // no `source`: the rules every other token follows
    Model,       // a model reference: that model's row for the same token
    ModelToken,  // {kind: model_token, model, token | token_id}: a given row of a given model
    Zero,        // {kind: zero}
  };
  Kind kind = Kind::Auto;
  std::optional<ModelRef> model;     // Model, ModelToken
  std::optional<std::string> token;  // ModelToken by token string
  std::optional<int64_t> token_id;   // ModelToken by row
  Mark mark;
};

struct TokenSetting {
  std::string token;  // the token's string, as in tokenizer.json
  TokenSourceSetting source;
  bool force = false;  // also replaces the row in inputs that have the token
  Mark mark;           // the token's key in the recipe
};

// `tokenizer_source: X` or the `tokenizer:` block: how the output vocabulary is built (COMPAT.md,
// "Tokenizer and vocabulary").
struct TokenizerSetting {
  enum class Source { Base, Union, Model };
  Source source = Source::Union;
  std::optional<ModelRef> model;  // Source::Model
  // In recipe order: tokens missing from the vocabulary are added in this order.
  std::vector<TokenSetting> tokens;
  int64_t pad_to_multiple_of = 0;  // 0: no padding
  bool from_block = false;         // written as the `tokenizer:` block (else `tokenizer_source:`)
  Mark mark;
};

struct MergeConfig {
  std::string file_label;   // the recipe's path, for messages
  std::string source_text;  // the recipe verbatim (written as mergekit_config.yml)

  std::string merge_method;
  Mark merge_method_mark;
  std::optional<ModelRef> base_model;
  // Exactly one of the two forms; `models:` is kept as written and turned into one slice by the
  // planner.
  std::vector<InputModel> models;
  std::vector<OutputSlice> slices;
  bool uses_slices = false;
  Mark inputs_mark;

  ParamSettings parameters;
  std::optional<DType> dtype;
  std::optional<DType> out_dtype;
  std::optional<TokenizerSetting> tokenizer;  // either form; absent: the vocabulary is not touched
  std::optional<std::string> chat_template;
  Mark chat_template_mark;

  // Keys the schema does not know: MergeKit ignores them and real recipes carry them.
  std::vector<std::pair<std::string, Mark>> unknown_keys;

  // "recipe.yml:12:5" for a mark, or just the file for an empty mark.
  std::string where(const Mark& mark) const;
};

// Parses a recipe. Throws Error(InvalidConfig) naming file:line:column for YAML syntax errors and
// schema violations (wrong types, both or neither of models/slices, a layer_range that is not
// [start, end) with 0 <= start <= end, tokenizer_source together with tokenizer, an unknown dtype,
// a token source that is not one of the documented forms, the same token twice in
// `tokenizer.tokens`, ...).
MergeConfig parse_recipe(const std::string& text, const std::string& file_label);
MergeConfig load_recipe(const std::string& path);

}  // namespace mf
