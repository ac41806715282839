// YAML -> MergeConfig. Only the schema is checked here; everything that needs the models is the
// planner's.
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "config/merge_config.hpp"
#include "core/error.hpp"

namespace mf {

std::string MergeConfig::where(const Mark& mark) const {
  if (mark.line == 0) return file_label;
  return fmt::format("{}:{}:{}", file_label, mark.line, mark.column);
}

namespace {

Mark mark_of(const YAML::Node& node) {
  YAML::Mark m = node.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

class RecipeParser {
 public:
  explicit RecipeParser(MergeConfig& config) : config_(config) {}

  [[noreturn]] void error(const YAML::Node& node, const std::string& message) {
    fail(ErrorCode::InvalidConfig, "{}: {}", config_.where(mark_of(node)), message);
  }

  // Valid MergeKit input this version cannot handle yet (exit status 6, not a recipe error).
  [[noreturn]] void unsupported(const YAML::Node& node, const std::string& message) {
    fail(ErrorCode::Unsupported, "{}: {}", config_.where(mark_of(node)), message);
  }

  void expect_map(const YAML::Node& node, std::string_view what) {
    if (!node.IsMap()) error(node, fmt::format("{} must be a mapping", what));
  }

  std::string scalar(const YAML::Node& node, std::string_view what) {
    if (!node.IsScalar()) error(node, fmt::format("{} must be a single value", what));
    return node.Scalar();
  }

  void note_unknown(const YAML::Node& map, std::initializer_list<std::string_view> known,
                    std::string_view context) {
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
      bool found = false;
      for (auto k : known) found = found || key == k;
      if (!found) config_.unknown_keys.push_back({std::string(context) + key, mark_of(kv.first)});
    }
  }

  // "path[@revision][+lora[@revision]]" or {model: ..., lora: ..., override_architecture: ...}.
  ModelRef model_ref(const YAML::Node& node) {
    ModelRef ref;
    ref.mark = mark_of(node);
    std::string text;
    if (node.IsMap()) {
      if (!node["model"]) error(node, "a model reference mapping needs a `model` key");
      if (node["lora"] && !node["lora"].IsNull())
        unsupported(node["lora"],
                    "LoRA inputs (`lora:`) are not supported yet; merge the adapter first");
      YAML::Node model = node["model"];
      if (model.IsMap()) {
        if (!model["path"]) error(model, "a model path mapping needs a `path` key");
        text = scalar(model["path"], "model path");
      } else {
        text = scalar(model, "model");
      }
    } else {
      text = scalar(node, "model");
    }
    ref.text = text;
    if (text.find('+') != std::string::npos)
      unsupported(node,
                  fmt::format("`{}`: LoRA inputs (`model+lora`) are not supported yet; merge the "
                              "adapter first",
                              text));
    std::string path = text;
    if (auto at = path.find('@'); at != std::string::npos) {
      if (path.find('@', at + 1) != std::string::npos)
        error(node, fmt::format("invalid model reference `{}`: more than one @", text));
      path = path.substr(0, at);  // a revision means nothing for a local directory
    }
    if (path.empty()) error(node, "empty model path");
    ref.path = path;
    return ref;
  }

  ParamSetting setting(const YAML::Node& node) {
    ParamSetting s;
    s.mark = mark_of(node);
    if (node.IsScalar()) {
      s.kind = ParamSetting::Kind::Scalar;
      s.scalars.push_back(node.Scalar());
      return s;
    }
    if (node.IsMap()) {  // a single {filter, value} condition
      s.kind = ParamSetting::Kind::Conditions;
      s.conditions.push_back(condition(node));
      return s;
    }
    if (!node.IsSequence()) error(node, "a parameter value must be a number, a list or a mapping");
    bool all_scalars = true;
    for (const auto& e : node) all_scalars = all_scalars && e.IsScalar();
    if (all_scalars && node.size() > 0) {
      s.kind = ParamSetting::Kind::Gradient;
      for (const auto& e : node) s.scalars.push_back(e.Scalar());
      return s;
    }
    s.kind =
        ParamSetting::Kind::Conditions;  // an empty list is an empty condition list: falls through
    for (const auto& e : node) {
      if (!e.IsMap())
        error(e,
              "a parameter list must hold either only values (a gradient) or only {filter, value}");
      s.conditions.push_back(condition(e));
    }
    return s;
  }

  ParamSetting::Condition condition(const YAML::Node& node) {
    if (!node["value"]) error(node, "a conditional parameter needs a `value`");
    note_unknown(node, {"filter", "value"}, "parameter condition key ");
    ParamSetting::Condition c;
    if (node["filter"] && !node["filter"].IsNull()) c.filter = scalar(node["filter"], "filter");
    c.value = std::make_shared<ParamSetting>(setting(node["value"]));
    return c;
  }

  ParamSettings parameters(const YAML::Node& node) {
    ParamSettings out;
    if (!node || node.IsNull()) return out;
    expect_map(node, "parameters");
    for (const auto& kv : node) out[kv.first.Scalar()] = setting(kv.second);
    return out;
  }

  int64_t integer(const YAML::Node& node, std::string_view what) {
    std::string text = scalar(node, what);
    try {
      size_t used = 0;
      long long v = std::stoll(text, &used);
      if (used == text.size()) return v;
    } catch (const std::exception&) {
    }
    error(node, fmt::format("{} must be an integer, got `{}`", what, text));
  }

  SliceSource slice_source(const YAML::Node& node) {
    expect_map(node, "a slice source");
    note_unknown(node, {"model", "layer_range", "parameters"}, "slice source key ");
    SliceSource src;
    if (!node["model"]) error(node, "a slice source needs a `model`");
    src.model = model_ref(node["model"]);
    YAML::Node range = node["layer_range"];
    if (!range) error(node, "a slice source needs a `layer_range: [start, end]`");
    if (!range.IsSequence() || range.size() != 2)
      error(range, "layer_range must be a list of two integers [start, end)");
    src.range_mark = mark_of(range);
    src.layer_start = integer(range[0], "layer_range start");
    src.layer_end = integer(range[1], "layer_range end");
    if (src.layer_start < 0 || src.layer_end < src.layer_start)
      error(range, fmt::format("layer_range [{}, {}] is reversed or negative: it is half-open "
                               "[start, end) with 0 <= start <= end",
                               src.layer_start, src.layer_end));
    src.parameters = parameters(node["parameters"]);
    return src;
  }

  OutputSlice output_slice(const YAML::Node& node) {
    expect_map(node, "a slice");
    note_unknown(node, {"sources", "base_model", "parameters", "residual_weight"}, "slice key ");
    OutputSlice slice;
    slice.mark = mark_of(node);
    YAML::Node sources = node["sources"];
    if (!sources || !sources.IsSequence() || sources.size() == 0)
      error(node, "a slice needs a non-empty `sources` list");
    for (const auto& s : sources) slice.sources.push_back(slice_source(s));
    if (node["base_model"] && !node["base_model"].IsNull())
      slice.base_model = model_ref(node["base_model"]);
    slice.parameters = parameters(node["parameters"]);
    return slice;
  }

  InputModel input_model(const YAML::Node& node) {
    InputModel m;
    if (node.IsScalar()) {  // a bare reference
      m.model = model_ref(node);
      return m;
    }
    expect_map(node, "a model entry");
    note_unknown(node, {"model", "parameters"}, "model entry key ");
    if (!node["model"]) error(node, "a model entry needs a `model`");
    m.model = model_ref(node["model"]);
    m.parameters = parameters(node["parameters"]);
    return m;
  }

  DType dtype(const YAML::Node& node, std::string_view key) {
    std::string text = scalar(node, key);
    auto t = dtype_from_recipe(text);
    if (!t)
      error(node, fmt::format("unknown {} `{}` (expected bfloat16, float16, float32 or float64)",
                              key, text));
    return *t;
  }

  void parse(const YAML::Node& root) {
    if (!root.IsMap()) error(root, "a recipe must be a YAML mapping");
    note_unknown(root,
                 {"merge_method", "models", "slices", "modules", "base_model", "parameters",
                  "dtype", "out_dtype", "tokenizer_source", "tokenizer", "chat_template", "name"},
                 "");
    if (!root["merge_method"]) error(root, "the recipe needs a `merge_method`");
    config_.merge_method = scalar(root["merge_method"], "merge_method");
    config_.merge_method_mark = mark_of(root["merge_method"]);

    int forms = 0;
    for (const char* key : {"models", "slices", "modules"})
      if (root[key] && !root[key].IsNull()) ++forms;
    if (forms != 1) error(root, "exactly one of `models`, `slices` or `modules` must be present");
    if (root["modules"] && !root["modules"].IsNull())
      fail(ErrorCode::Unsupported,
           "{}: `modules:` recipes (multi-module models) are not supported yet",
           config_.where(mark_of(root["modules"])));

    if (YAML::Node models = root["models"]; models && !models.IsNull()) {
      if (!models.IsSequence() || models.size() == 0)
        error(models, "`models` must be a non-empty list");
      config_.inputs_mark = mark_of(models);
      for (const auto& m : models) config_.models.push_back(input_model(m));
    } else {
      YAML::Node slices = root["slices"];
      if (!slices.IsSequence() || slices.size() == 0)
        error(slices, "`slices` must be a non-empty list");
      config_.uses_slices = true;
      config_.inputs_mark = mark_of(slices);
      for (const auto& s : slices) config_.slices.push_back(output_slice(s));
    }
    if (root["base_model"] && !root["base_model"].IsNull())
      config_.base_model = model_ref(root["base_model"]);
    config_.parameters = parameters(root["parameters"]);
    if (root["dtype"] && !root["dtype"].IsNull()) config_.dtype = dtype(root["dtype"], "dtype");
    if (root["out_dtype"] && !root["out_dtype"].IsNull())
      config_.out_dtype = dtype(root["out_dtype"], "out_dtype");

    bool has_source = root["tokenizer_source"] && !root["tokenizer_source"].IsNull();
    bool has_section = root["tokenizer"] && !root["tokenizer"].IsNull();
    if (has_source && has_section)
      error(root["tokenizer"], "use either `tokenizer_source` or `tokenizer`, not both");
    if (has_source) {
      TokenizerSetting t;
      t.mark = mark_of(root["tokenizer_source"]);
      tokenizer_source(root["tokenizer_source"], t);
      config_.tokenizer = std::move(t);
    }
    if (has_section) config_.tokenizer = tokenizer_block(root["tokenizer"]);
    if (root["chat_template"] && !root["chat_template"].IsNull()) {
      config_.chat_template = scalar(root["chat_template"], "chat_template");
      config_.chat_template_mark = mark_of(root["chat_template"]);
    }
  }

  // `base`, `union` or a model reference.
  void tokenizer_source(const YAML::Node& node, TokenizerSetting& t) {
    if (node.IsScalar() && (node.Scalar() == "base" || node.Scalar() == "union")) {
      t.source = node.Scalar() == "base" ? TokenizerSetting::Source::Base
                                         : TokenizerSetting::Source::Union;
      return;
    }
    if (!node.IsScalar() && !node.IsMap())
      error(node, "a tokenizer source must be `base`, `union` or a model");
    t.source = TokenizerSetting::Source::Model;
    t.model = model_ref(node);
  }

  TokenizerSetting tokenizer_block(const YAML::Node& node) {
    expect_map(node, "tokenizer");
    note_unknown(node, {"source", "tokens", "pad_to_multiple_of"}, "tokenizer key ");
    TokenizerSetting t;
    t.from_block = true;
    t.mark = mark_of(node);
    if (node["source"] && !node["source"].IsNull()) tokenizer_source(node["source"], t);
    if (YAML::Node pad = node["pad_to_multiple_of"]; pad && !pad.IsNull()) {
      t.pad_to_multiple_of = integer(pad, "pad_to_multiple_of");
      if (t.pad_to_multiple_of < 0 || t.pad_to_multiple_of > (int64_t(1) << 20))
        error(pad, fmt::format("pad_to_multiple_of must be between 0 (no padding) and {}, got {}",
                               int64_t(1) << 20, t.pad_to_multiple_of));
    }
    if (YAML::Node tokens = node["tokens"]; tokens && !tokens.IsNull()) {
      expect_map(tokens, "tokenizer.tokens");
      std::map<std::string, Mark> seen;
      for (const auto& kv : tokens) {
        TokenSetting ts;
        ts.token = scalar(kv.first, "a token");
        ts.mark = mark_of(kv.first);
        if (ts.token.empty()) error(kv.first, "a token in tokenizer.tokens must not be empty");
        if (auto [at, fresh] = seen.emplace(ts.token, ts.mark); !fresh)
          error(kv.first,
                fmt::format("token `{}` is configured twice (first at {}); give each token one "
                            "entry",
                            ts.token, config_.where(at->second)));
        token_setting(kv.second, ts);
        t.tokens.push_back(std::move(ts));
      }
    }
    return t;
  }

  void token_setting(const YAML::Node& node, TokenSetting& ts) {
    if (node.IsNull()) return;
    expect_map(node, fmt::format("the setting of token `{}`", ts.token));
    note_unknown(node, {"source", "force"}, "token setting key ");
    if (YAML::Node force = node["force"]; force && !force.IsNull()) {
      bool value = false;
      if (!force.IsScalar() || !YAML::convert<bool>::decode(force, value))
        error(force, fmt::format("`force` of token `{}` must be true or false", ts.token));
      ts.force = value;
    }
    YAML::Node source = node["source"];
    if (!source || source.IsNull()) return;
    TokenSourceSetting& src = ts.source;
    src.mark = mark_of(source);
    if (!source.IsMap() || !source["kind"]) {  // a model reference, plain or as {model: ...}
      src.kind = TokenSourceSetting::Kind::Model;
      src.model = model_ref(source);
      return;
    }
    std::string kind = scalar(source["kind"], "kind");
    if (kind == "zero") {
      note_unknown(source, {"kind"}, "token source key ");
      src.kind = TokenSourceSetting::Kind::Zero;
      return;
    }
    if (kind != "model_token")
      error(source["kind"],
            fmt::format("unknown token source kind `{}` (expected model_token or zero)", kind));
    note_unknown(source, {"kind", "model", "token", "token_id"}, "token source key ");
    src.kind = TokenSourceSetting::Kind::ModelToken;
    if (!source["model"] || source["model"].IsNull())
      error(source, fmt::format("the model_token source of token `{}` needs a `model`", ts.token));
    src.model = model_ref(source["model"]);
    bool by_token = source["token"] && !source["token"].IsNull();
    bool by_id = source["token_id"] && !source["token_id"].IsNull();
    if (by_token == by_id)
      error(source,
            fmt::format("the model_token source of token `{}` needs exactly one of `token` and "
                        "`token_id`",
                        ts.token));
    if (by_token) src.token = scalar(source["token"], "token");
    if (by_id) {
      src.token_id = integer(source["token_id"], "token_id");
      if (*src.token_id < 0)
        error(source["token_id"],
              fmt::format("token_id must not be negative, got {}", *src.token_id));
    }
  }

 private:
  MergeConfig& config_;
};

// yaml-cpp loads an alias as the node its anchor names, so the document is a graph: nine aliases of
// a list of nine, nested ten deep (a "billion laughs"), are 9^10 nodes to a walk that follows them,
// and an alias inside its own anchor (`&a [*a]`) is a cycle. Before the parser walks it, the
// document is walked once with the aliases followed, without recursion, and refused past this many
// nodes: a real recipe has a few thousand.
constexpr size_t kMaxRecipeNodes = size_t(1) << 20;

void check_expanded_size(const YAML::Node& root, const MergeConfig& config) {
  std::vector<YAML::Node> pending{root};
  size_t nodes = 1;
  while (!pending.empty()) {
    YAML::Node node = std::move(pending.back());
    pending.pop_back();
    if (!node.IsSequence() && !node.IsMap()) continue;
    nodes += node.IsMap() ? 2 * node.size() : node.size();
    if (nodes > kMaxRecipeNodes)
      fail(ErrorCode::InvalidConfig,
           "{}: the recipe's YAML aliases expand to more than {} nodes (an alias repeated in "
           "nested anchors, or inside its own anchor); refusing it",
           config.where(mark_of(node)), kMaxRecipeNodes);
    if (node.IsSequence()) {
      for (const auto& e : node) pending.push_back(e);
    } else {
      for (const auto& kv : node) {
        pending.push_back(kv.first);
        pending.push_back(kv.second);
      }
    }
  }
}

}  // namespace

MergeConfig parse_recipe(const std::string& text, const std::string& file_label) {
  MergeConfig config;
  config.file_label = file_label;
  config.source_text = text;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(ErrorCode::InvalidConfig, "{}:{}:{}: YAML syntax error: {}", file_label, e.mark.line + 1,
         e.mark.column + 1, e.msg);
  }
  check_expanded_size(root, config);
  RecipeParser(config).parse(root);
  return config;
}

MergeConfig load_recipe(const std::string& path) {
  // A directory opens as a stream that reads nothing: it would pass for an empty recipe.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(ErrorCode::InvalidConfig, "{}: is a directory, not a recipe file", path);
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(ErrorCode::InvalidConfig, "{}: cannot read the recipe file: {}", path,
         errno ? std::strerror(errno) : "cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) fail(ErrorCode::InvalidConfig, "{}: cannot read the recipe file", path);
  return parse_recipe(buffer.str(), path);
}

}  // namespace mf
