// A MergePlan: everything the executor needs, decided before any tensor data is read. One job per output
// tensor, each with its inputs (model and tensor name), resolved parameters, shape and dtypes. Every user
// error (recipe, paths, layer ranges, shapes) surfaces while planning; `mergeforge plan` prints the plan.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/merge_config.hpp"
#include "io/model_source.hpp"
#include "methods/method.hpp"
#include "methods/registry.hpp"

namespace mf {

struct PlannedModel {
  ModelRef ref;
  std::unique_ptr<ModelSource> source;
};

struct JobInput {
  size_t model = 0;    // index into MergePlan::models
  std::string tensor;  // the tensor's name in that model
  Params params;       // per-model parameters
};

enum class JobKind {
  Merge,  // run the method's kernel
  Pass,   // one input passes through unchanged (converted to the output dtype)
  Copy,   // non-float tensor: copied; the executor checks every input holds identical bytes
};

struct MergeJob {
  std::string output_name;
  JobKind kind = JobKind::Merge;
  std::vector<int64_t> shape;
  std::vector<JobInput> inputs;
  int base = -1;  // index into inputs, -1 when none (or the method treats the base as an input)
  Params global;
  DType out_dtype = DType::F32;
  bool compute_double = false;             // compute in double (float64 recipes)
  std::optional<DType> round_inputs_to;    // inputs rounded to the recipe's half dtype on load
  uint64_t seed_key = 0;                   // random methods: the counter-based generator's key

  uint64_t numel() const;
  uint64_t output_bytes() const { return numel() * dtype_size(out_dtype); }
  // Working memory of the job: one buffer per input plus the output, in the compute type.
  uint64_t working_bytes() const;
};

struct PlanOptions {
  bool strict = false;        // unknown keys and undeclared parameters are errors, not warnings
  uint64_t random_seed = 0;   // --random-seed; 0 when unset
  bool allow_crimes = false;  // mix architectures
};

struct MergePlan {
  MergeConfig config;
  std::shared_ptr<const MergeMethod> method;
  std::vector<PlannedModel> models;
  size_t donor = 0;  // the model whose config.json and tokenizer the output takes
  std::vector<MergeJob> jobs;
  nlohmann::json output_config;  // config.json of the output
  std::vector<std::string> warnings;

  uint64_t input_bytes() const;   // tensor bytes read
  uint64_t output_bytes() const;  // tensor bytes written
};

MergePlan make_plan(MergeConfig config, const MethodRegistry& registry, const PlanOptions& options);

// A human-readable summary: inputs, method, parameters, output tensors (grouped), sizes.
std::string describe_plan(const MergePlan& plan, bool verbose);

}  // namespace mf
