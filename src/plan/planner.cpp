// Recipe + model headers -> MergePlan. Mirrors MergeKit's planning order: the recipe is normalised
// to slices, embeddings come from the first slice, layers from each slice in turn, final norm and
// lm_head from the last slice.
#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "plan/config_path.hpp"
#include "plan/merge_plan.hpp"
#include "plan/model_layout.hpp"
#include "plan/parameter_resolver.hpp"
#include "plan/vocabulary_planner.hpp"

namespace mf {

uint64_t MergeJob::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= uint64_t(d);
  return n;
}

uint64_t MergeJob::working_bytes() const {
  uint64_t per = compute_double ? 8 : 4;
  if (kind == JobKind::Copy) return output_bytes();
  // Re-indexing a vocabulary holds the inputs as stored beside their re-indexed copies.
  uint64_t stored = vocabulary ? vocabulary->input_elements * per : 0;
  return numel() * per * (inputs.size() + 1) + stored + output_bytes() + method_scratch_bytes;
}

uint64_t MergePlan::input_bytes() const {
  uint64_t total = 0;
  for (const auto& job : jobs)
    for (const auto& in : job.inputs)
      total += models[in.model].source->find(in.tensor)->stored_bytes();
  return total;
}

uint64_t MergePlan::output_bytes() const {
  uint64_t total = 0;
  for (const auto& job : jobs) total += job.output_bytes();
  return total;
}

namespace {

// One output slice after normalisation: sources with their layer offsets and parameter levels.
struct NormalSlice {
  struct Source {
    size_t model;
    int64_t start;
    const ParamSettings* params;
    Mark mark;
  };
  std::vector<Source> sources;
  std::optional<size_t> base;
  const ParamSettings* params = nullptr;
  int64_t length = 0;
  Mark mark;
};

DType promote(DType a, DType b) {
  if (a == b) return a;
  auto rank = [](DType t) {
    switch (t) {
      case DType::F64:
        return 4;
      case DType::F32:
        return 3;
      case DType::BF16:
      case DType::F16:
        return 2;
      default:
        return 1;  // f8
    }
  };
  if (rank(a) != rank(b)) return rank(a) > rank(b) ? a : b;
  return DType::F32;  // bf16 + f16, or two f8 kinds
}

std::string shape_str(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

class Planner {
 public:
  Planner(MergePlan& plan, const MethodRegistry& registry, const PlanOptions& options)
      : plan_(plan),
        config_(plan.config),
        options_(options),
        resolver_(resolver_for(options)),
        vocabulary_(plan, layouts_, options) {
    plan_.method = registry.find(config_.merge_method);
    if (!plan_.method) {
      std::vector<std::string> names;
      for (const auto& m : registry.all()) names.push_back(m->info().name);
      fail(ErrorCode::InvalidConfig, "{}: unknown merge_method `{}` (known: {})",
           config_.where(config_.merge_method_mark), config_.merge_method, fmt::join(names, ", "));
    }
    info_ = &plan_.method->info();
  }

  void run() {
    report_unknown_keys();
    normalise();
    choose_donor();
    check_architectures();
    for (size_t i = 0; i < slices_.size(); ++i) validate_slice(slices_[i], i);
    vocabulary_.prepare();
    plan_non_layer(slices_.front(), /*pre=*/true);
    int64_t out_layer = 0;
    for (const auto& slice : slices_) {
      for (int64_t offset = 0; offset < slice.length; ++offset) {
        double t = slice.length > 1 ? double(offset) / double(slice.length - 1) : 1.0;
        plan_layer(slice, offset, out_layer++, t);
      }
    }
    plan_non_layer(slices_.back(), /*pre=*/false);
    if (plan_.jobs.empty())
      fail(ErrorCode::InvalidConfig, "{}: the recipe selects no tensors", config_.file_label);
    build_output_config(out_layer);
    vocabulary_.finish(plan_.output_config);
    account_inputs();
  }

 private:
  // Lists the input tensors no job reads; --strict refuses a plan that leaves any.
  void account_inputs() {
    std::vector<std::set<std::string_view>> used(plan_.models.size());
    for (const MergeJob& job : plan_.jobs)
      for (const JobInput& in : job.inputs) used[in.model].insert(in.tensor);
    for (size_t m = 0; m < plan_.models.size(); ++m)
      for (const std::string& name : plan_.models[m].source->tensor_names())
        if (!used[m].contains(name)) plan_.unused_inputs.push_back({m, name});
    if (options_.strict && !plan_.unused_inputs.empty()) {
      const auto& first = plan_.unused_inputs.front();
      fail(ErrorCode::InvalidConfig,
           "{}: {} input tensor(s) are not used by the output, first `{}` of `{}` (--strict; "
           "`mergeforge plan -v` lists them)",
           config_.file_label, plan_.unused_inputs.size(), first.tensor,
           plan_.models[first.model].ref.text);
    }
  }

  void warn_or_fail(const std::string& message) {
    if (options_.strict) fail(ErrorCode::InvalidConfig, "{} (--strict)", message);
    plan_.warnings.push_back(message);
  }

  void report_unknown_keys() {
    for (const auto& [key, mark] : config_.unknown_keys)
      warn_or_fail(fmt::format("{}: unknown key `{}` is ignored", config_.where(mark), key));
    // Parameters the method does not declare.
    auto check = [&](const ParamSettings& settings) {
      for (const auto& [name, setting] : settings)
        if (!info_->find_param(name))
          warn_or_fail(fmt::format("{}: `{}` does not take a parameter `{}`; it is ignored",
                                   config_.where(setting.mark), info_->name, name));
    };
    check(config_.parameters);
    for (const auto& m : config_.models) check(m.parameters);
    for (const auto& s : config_.slices) {
      check(s.parameters);
      for (const auto& src : s.sources) check(src.parameters);
    }
  }

  size_t open_model(const ModelRef& ref) {
    std::string key = resolver_.key(ref);
    for (size_t i = 0; i < plan_.models.size(); ++i)
      if (plan_.models[i].key == key) return i;
    PlannedModel m;
    m.ref = ref;
    m.key = key;
    m.source = resolver_.open(ref, config_.where(ref.mark));
    layouts_.push_back(infer_layout(*m.source));
    plan_.models.push_back(std::move(m));
    return plan_.models.size() - 1;
  }

  void normalise() {
    std::optional<size_t> top_base;
    if (config_.base_model) top_base = open_model(*config_.base_model);
    if (!config_.uses_slices) {
      NormalSlice slice;
      slice.mark = config_.inputs_mark;
      slice.base = top_base;
      slice.params = nullptr;
      bool base_listed = false;
      for (const auto& m : config_.models) {
        size_t idx = open_model(m.model);
        base_listed = base_listed || (top_base && *top_base == idx);
        slice.sources.push_back({idx, 0, &m.parameters, m.model.mark});
      }
      if (top_base && !base_listed)
        slice.sources.push_back({*top_base, 0, nullptr, config_.base_model->mark});
      int64_t layers = layouts_[slice.sources.front().model].num_layers;
      for (const auto& src : slice.sources) {
        int64_t n = layouts_[src.model].num_layers;
        if (n != layers)
          fail(ErrorCode::InvalidConfig,
               "{}: `{}` has {} layers but `{}` has {}; `models:` merges need equal layer counts "
               "(use `slices:` to pick layer ranges)",
               config_.where(src.mark), plan_.models[src.model].ref.text, n,
               plan_.models[slice.sources.front().model].ref.text, layers);
      }
      slice.length = layers;
      slices_.push_back(std::move(slice));
      return;
    }
    for (const auto& s : config_.slices) {
      NormalSlice slice;
      slice.mark = s.mark;
      slice.params = &s.parameters;
      slice.base = s.base_model ? std::optional<size_t>(open_model(*s.base_model)) : top_base;
      slice.length = -1;
      for (const auto& src : s.sources) {
        size_t idx = open_model(src.model);
        int64_t n = layouts_[idx].num_layers;
        if (src.layer_end > n)
          fail(ErrorCode::InvalidConfig,
               "{}: layer_range [{}, {}] is past the end of `{}`, which has {} layers",
               config_.where(src.range_mark), src.layer_start, src.layer_end, src.model.text, n);
        int64_t len = src.layer_end - src.layer_start;
        if (slice.length >= 0 && len != slice.length)
          fail(
              ErrorCode::InvalidConfig,
              "{}: every source of a slice must span the same number of layers ({} here, {} in the "
              "first source)",
              config_.where(src.range_mark), len, slice.length);
        slice.length = len;
        slice.sources.push_back({idx, src.layer_start, &src.parameters, src.model.mark});
      }
      slices_.push_back(std::move(slice));
    }
  }

  void choose_donor() {
    plan_.donor = config_.base_model ? open_model(*config_.base_model)
                                     : slices_.front().sources.front().model;
  }

  // Models of different architectures (config.json `architectures`) merge only with --allow-crimes.
  void check_architectures() {
    if (options_.allow_crimes) return;
    auto arch = [](const nlohmann::json& cfg) {
      return cfg.contains("architectures") ? cfg["architectures"].dump() : std::string("unknown");
    };
    const std::string donor_arch = arch(plan_.models[plan_.donor].source->config());
    for (const auto& m : plan_.models) {
      std::string a = arch(m.source->config());
      if (a != donor_arch)
        fail(ErrorCode::InvalidConfig,
             "{}: `{}` is a {} but `{}` is a {}; mixing architectures needs --allow-crimes",
             config_.where(m.ref.mark), m.ref.text, a, plan_.models[plan_.donor].ref.text,
             donor_arch);
    }
  }

  void validate_slice(const NormalSlice& slice, size_t index) {
    std::string where = config_.where(slice.mark);
    std::set<size_t> seen;
    for (const auto& src : slice.sources)
      if (!seen.insert(src.model).second)
        fail(ErrorCode::InvalidConfig, "{}: model `{}` appears twice in one {}",
             config_.where(src.mark), plan_.models[src.model].ref.text,
             config_.uses_slices ? "slice" : "`models` list");
    bool base_in_sources = slice.base && seen.count(*slice.base);
    int others = int(slice.sources.size());
    if (info_->base != BaseRole::Input && base_in_sources) --others;
    if (info_->base == BaseRole::Required) {
      if (!slice.base)
        fail(ErrorCode::InvalidConfig, "{}: `{}` needs a base_model", where, info_->name);
      if (!base_in_sources)
        fail(ErrorCode::InvalidConfig,
             "{}: `{}` needs the base model `{}` among this slice's sources (slices do not add it)",
             where, info_->name, plan_.models[*slice.base].ref.text);
    }
    if (others < info_->min_models || (info_->max_models >= 0 && others > info_->max_models)) {
      std::string expected =
          info_->max_models == info_->min_models ? fmt::format("exactly {}", info_->min_models)
          : info_->max_models < 0                ? fmt::format("at least {}", info_->min_models)
                                  : fmt::format("{} to {}", info_->min_models, info_->max_models);
      fail(ErrorCode::InvalidConfig, "{}: `{}` takes {} model(s){} per {}, got {}", where,
           info_->name, expected, info_->base == BaseRole::Input ? "" : " besides the base",
           config_.uses_slices ? fmt::format("slice (slice {})", index) : std::string("merge"),
           others);
    }
  }

  // Where an input's copy of a tensor lives: its own name, or for a missing lm_head its embeddings.
  std::optional<std::string> input_tensor(size_t model, const std::string& name) {
    const auto& src = *plan_.models[model].source;
    if (src.has(name)) return name;
    if (is_lm_head_name(name) && !layouts_[model].embed_tokens.empty())
      return layouts_[model].embed_tokens;
    return std::nullopt;
  }

  void plan_non_layer(const NormalSlice& slice, bool pre) {
    // The union of the sources' non-layer tensors of this kind, in first-seen order.
    std::vector<std::string> names;
    std::set<std::string> seen;
    for (const auto& src : slice.sources) {
      const auto& list = pre ? layouts_[src.model].pre_weights : layouts_[src.model].post_weights;
      for (const auto& n : list)
        if (seen.insert(n).second) names.push_back(n);
    }
    for (const auto& name : names) {
      std::vector<std::string> per_source(slice.sources.size(), name);
      plan_tensor(name, per_source, slice, 0.0);
    }
  }

  void plan_layer(const NormalSlice& slice, int64_t offset, int64_t out_layer, double t) {
    std::vector<std::string> suffixes;
    std::set<std::string> seen;
    for (const auto& src : slice.sources)
      for (const auto& s : layouts_[src.model].layer_suffixes[size_t(src.start + offset)])
        if (seen.insert(s).second) suffixes.push_back(s);
    const ModelLayout& out = layouts_[plan_.donor].layer_prefix.empty()
                                 ? layouts_[slice.sources.front().model]
                                 : layouts_[plan_.donor];
    for (const auto& suffix : suffixes) {
      std::vector<std::string> per_source;
      for (const auto& src : slice.sources)
        per_source.push_back(layouts_[src.model].layer_tensor(src.start + offset, suffix));
      plan_tensor(out.layer_tensor(out_layer, suffix), per_source, slice, t);
    }
  }

  void plan_tensor(const std::string& out_name, const std::vector<std::string>& per_source,
                   const NormalSlice& slice, double t) {
    MergeJob job;
    job.output_name = out_name;
    std::vector<size_t> present_sources;
    for (size_t k = 0; k < slice.sources.size(); ++k) {
      auto name = input_tensor(slice.sources[k].model, per_source[k]);
      if (!name) continue;
      JobInput in;
      in.model = slice.sources[k].model;
      in.tensor = *name;
      job.inputs.push_back(std::move(in));
      present_sources.push_back(k);
    }
    if (job.inputs.empty()) return;  // absent from every input: omitted

    bool uses_base = info_->base != BaseRole::Input && slice.base;
    if (uses_base)
      for (size_t i = 0; i < job.inputs.size(); ++i)
        if (job.inputs[i].model == *slice.base) job.base = int(i);

    // Tensors only some inputs have (COMPAT.md).
    bool partial = job.inputs.size() < slice.sources.size();
    if (partial) {
      std::string missing;
      for (size_t k = 0; k < slice.sources.size(); ++k)
        if (std::find(present_sources.begin(), present_sources.end(), k) == present_sources.end())
          missing += (missing.empty() ? "" : ", ") + plan_.models[slice.sources[k].model].ref.text;
      switch (info_->partial) {
        case PartialInputs::MergePresent:
          if (uses_base && job.base < 0)
            fail(ErrorCode::InvalidFile, "tensor `{}` is missing from the base model `{}`",
                 out_name, plan_.models[*slice.base].ref.text);
          break;
        case PartialInputs::PassSingle:
          if (job.inputs.size() != 1)
            fail(ErrorCode::InvalidFile,
                 "tensor `{}` is missing from {} and `{}` cannot merge a subset", out_name, missing,
                 info_->name);
          job.kind = JobKind::Pass;
          break;
        case PartialInputs::PassBaseOnly:
          if (job.inputs.size() != 1 || job.base != 0)
            fail(ErrorCode::InvalidFile,
                 "tensor `{}` is missing from {} and `{}` cannot merge a subset", out_name, missing,
                 info_->name);
          job.kind = JobKind::Pass;
          break;
        case PartialInputs::BaseOrOmit:
          if (job.inputs.size() == 1 && job.base == 0) {
            job.kind = JobKind::Pass;
          } else {
            plan_.warnings.push_back(fmt::format(
                "tensor `{}` is missing from {}: omitted from the output", out_name, missing));
            return;
          }
          break;
      }
    }

    check_shapes_and_dtypes(job, slice);
    if (job.kind == JobKind::Merge && !is_float(first_entry(job).dtype)) job.kind = JobKind::Copy;
    if (job.kind == JobKind::Pass) job.base = -1;
    resolve_params(job, slice, present_sources, t);
    job.seed_key = tensor_key(options_.random_seed, out_name);
    plan_.jobs.push_back(std::move(job));
  }

  const TensorInfo& first_entry(const MergeJob& job) const {
    return *plan_.models[job.inputs.front().model].source->find(job.inputs.front().tensor);
  }

  void check_shapes_and_dtypes(MergeJob& job, const NormalSlice& slice) {
    const TensorInfo& first = first_entry(job);
    job.shape = first.shape;
    DType promoted = first.dtype;
    bool float_inputs = is_float(first.dtype);
    // Vocabulary-indexed inputs (COMPAT.md, "Shapes") may differ in their rows when the
    // vocabularies are aligned; their other dimensions must agree.
    bool vocab = std::all_of(job.inputs.begin(), job.inputs.end(), [&](const JobInput& in) {
      return vocabulary_.is_vocabulary_tensor(in.model, in.tensor);
    });
    bool realign = vocab && vocabulary_.aligns();
    auto same_shape = [&](const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
      if (!realign) return a == b;
      return a.size() == b.size() && std::equal(a.begin() + 1, a.end(), b.begin() + 1);
    };
    for (const auto& in : job.inputs) {
      const TensorInfo& e = *plan_.models[in.model].source->find(in.tensor);
      if (!same_shape(e.shape, first.shape)) {
        bool rows_only = vocab && e.shape.size() == first.shape.size() &&
                         std::equal(e.shape.begin() + 1, e.shape.end(), first.shape.begin() + 1);
        fail(ErrorCode::ShapeMismatch, "tensor `{}`: `{}` has shape {} but `{}` has {}{}",
             job.output_name, plan_.models[job.inputs.front().model].ref.text,
             shape_str(first.shape), plan_.models[in.model].ref.text, shape_str(e.shape),
             rows_only ? "; the vocabularies differ: add `tokenizer_source: base` (or `union`) to "
                         "the recipe to re-index them by token, or pass "
                         "--unsafe-truncate-embeddings to cut them to the smallest"
                       : "");
      }
      if (is_float(e.dtype) != float_inputs || (!float_inputs && e.dtype != first.dtype))
        fail(ErrorCode::InvalidFile, "tensor `{}`: `{}` stores {} but `{}` stores {}",
             job.output_name, plan_.models[job.inputs.front().model].ref.text,
             dtype_name(first.dtype), plan_.models[in.model].ref.text, dtype_name(e.dtype));
      if (float_inputs) promoted = promote(promoted, e.dtype);
    }
    if (realign) {
      if (!float_inputs)
        fail(ErrorCode::InvalidFile,
             "tensor `{}`: a vocabulary-indexed tensor stored as {} cannot be re-indexed",
             job.output_name, dtype_name(first.dtype));
      vocabulary_.align(job, slice.base);
    }
    if (!float_inputs) {
      job.out_dtype = first.dtype;
      return;
    }
    DType compute = config_.dtype.value_or(promoted);
    job.compute_double = compute == DType::F64;
    if (compute == DType::BF16 || compute == DType::F16) job.round_inputs_to = compute;
    job.out_dtype = config_.out_dtype.value_or(compute);
    if (job.kind == JobKind::Merge)
      job.method_scratch_bytes =
          plan_.method->scratch_bytes(job.shape, job.inputs.size(), job.compute_double ? 8 : 4);
  }

  void resolve_params(MergeJob& job, const NormalSlice& slice,
                      const std::vector<size_t>& present_sources, double t) {
    if (job.kind != JobKind::Merge) return;
    SettingLevels global_levels{{slice.params, &config_.parameters}};
    for (const auto& spec : info_->params) {
      if (spec.scope != ParamScope::Global) continue;
      auto v = resolve_parameter(spec, global_levels, job.output_name, t, config_);
      if (!v)
        fail(ErrorCode::InvalidConfig, "{}: `{}` needs the parameter `{}` (tensor `{}`)",
             config_.where(config_.merge_method_mark), info_->name, spec.name, job.output_name);
      job.global.set(spec.name, *v);
    }
    for (size_t i = 0; i < job.inputs.size(); ++i) {
      const auto& src = slice.sources[present_sources[i]];
      bool is_base = int(i) == job.base;
      SettingLevels levels{{src.params, slice.params, &config_.parameters}};
      for (const auto& spec : info_->params) {
        if (spec.scope == ParamScope::Global) continue;
        if (spec.scope == ParamScope::PerNonBase && is_base) continue;
        auto v = resolve_parameter(spec, levels, job.inputs[i].tensor, t, config_);
        if (!v)
          fail(ErrorCode::InvalidConfig,
               "{}: `{}` needs the parameter `{}` for model `{}` (tensor `{}`)",
               config_.where(src.mark), info_->name, spec.name, plan_.models[src.model].ref.text,
               job.inputs[i].tensor);
        job.inputs[i].params.set(spec.name, *v);
      }
    }
    std::vector<Params> per_input;
    for (const auto& in : job.inputs) per_input.push_back(in.params);
    try {
      plan_.method->check(job.global, per_input, job.base);
    } catch (const Error& e) {
      fail(e.code(), "{}: tensor `{}`: {}", config_.where(slice.mark), job.output_name, e.what());
    }
  }

  void build_output_config(int64_t out_layers) {
    const auto& donor = *plan_.models[plan_.donor].source;
    nlohmann::json cfg = donor.config();
    if (cfg.contains("torch_dtype")) {
      if (!cfg.contains("dtype")) cfg["dtype"] = cfg["torch_dtype"];
      cfg.erase("torch_dtype");
    }
    if (auto t = config_.out_dtype ? config_.out_dtype : config_.dtype)
      cfg["dtype"] = std::string(dtype_torch_name(*t));
    const ModelLayout& donor_layout = layouts_[plan_.donor];
    if (config_.uses_slices && !donor_layout.num_layers_key.empty()) {
      set_config_value(cfg, donor_layout.num_layers_key, out_layers);
      rebuild_per_layer_lists(cfg, donor_layout, out_layers);
    }
    plan_.output_config = std::move(cfg);
  }

  // Config fields with one entry per layer (layer_types, ...) follow their layers into the output.
  void rebuild_per_layer_lists(nlohmann::json& cfg, const ModelLayout& donor_layout,
                               int64_t out_layers) {
    std::string scope;
    if (auto dot = donor_layout.num_layers_key.rfind('.'); dot != std::string::npos)
      scope = donor_layout.num_layers_key.substr(0, dot);
    const nlohmann::json::json_pointer scope_ptr = config_pointer(scope);
    nlohmann::json& obj = cfg[scope_ptr];
    for (auto& [key, value] : obj.items()) {
      if (!value.is_array() || int64_t(value.size()) != donor_layout.num_layers) continue;
      nlohmann::json rebuilt = nlohmann::json::array();
      for (const auto& slice : slices_) {
        const auto& src = slice.sources.front();
        const nlohmann::json& src_cfg = plan_.models[src.model].source->config();
        const nlohmann::json* list = &value;
        const nlohmann::json::json_pointer ptr = scope_ptr / key;  // `key` may hold `/` or `~`
        if (src_cfg.contains(ptr) && src_cfg[ptr].is_array() &&
            int64_t(src_cfg[ptr].size()) == layouts_[src.model].num_layers)
          list = &src_cfg[ptr];
        for (int64_t i = 0; i < slice.length; ++i) {
          size_t at = size_t(src.start + i);
          rebuilt.push_back(at < list->size() ? (*list)[at] : list->back());
        }
      }
      if (int64_t(rebuilt.size()) == out_layers) value = rebuilt;
    }
  }

  MergePlan& plan_;
  const MergeConfig& config_;
  const PlanOptions& options_;
  const ModelResolver& resolver_;
  const MethodInfo* info_ = nullptr;
  std::vector<ModelLayout> layouts_;  // parallel to plan_.models
  std::vector<NormalSlice> slices_;
  VocabularyPlanner vocabulary_;  // after layouts_: it keeps a reference to them
};

}  // namespace

const ModelResolver& resolver_for(const PlanOptions& options) {
  static const LocalModelResolver local;
  return options.resolver ? *options.resolver : local;
}

MergePlan make_plan(MergeConfig config, const MethodRegistry& registry,
                    const PlanOptions& options) {
  MergePlan plan;
  plan.config = std::move(config);
  Planner(plan, registry, options).run();
  return plan;
}

}  // namespace mf
