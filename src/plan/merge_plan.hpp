// A MergePlan: everything the executor needs, decided before any tensor data is read. One job per
// output tensor, each with its inputs (model and tensor name), resolved parameters, shape and
// dtypes. Every user error (recipe, paths, layer ranges, shapes) surfaces while planning;
// `mergeforge plan` prints the plan.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/merge_config.hpp"
#include "methods/method.hpp"
#include "methods/registry.hpp"
#include "sources/model_resolver.hpp"

namespace mf {

struct PlannedModel {
  ModelRef ref;
  std::string key;  // the resolver's: equal for references to the same model
  std::shared_ptr<const ModelSource> source;
};

struct JobInput {
  size_t model = 0;    // index into MergePlan::models
  std::string tensor;  // the tensor's name in that model
  Params params;       // per-model parameters
};

// How the rows of a vocabulary-indexed tensor (embeddings, output head, vocabulary-sized biases:
// dimension 0 indexes tokens) are re-indexed to the output vocabulary before the merge (COMPAT.md,
// "Tokenizer and vocabulary"). Decided by the planner; the executor applies it to the loaded inputs
// (exec/vocabulary_alignment.hpp).
struct RowFill {
  enum class Kind {
    Input,    // row `source_row` of input `input` (the only input that has the token, the base, a
              // token source)
    Mean,     // the mean of the rows of the inputs that have the token
    Zero,     // zeros: no input has the token, or the recipe says so
    Padding,  // past the last token (pad_to_multiple_of), or an id no token has: the mean of the
              // token rows
  };
  int64_t row = 0;  // output row
  Kind kind = Kind::Mean;
  int input = -1;           // Kind::Input: index into the job's inputs
  int64_t source_row = -1;  // Kind::Input: the row of that input's tensor
  bool force = false;       // replaces the row even in inputs that have the token
};

struct VocabularyAlignment {
  int64_t rows = 0;  // output rows; the other dimensions are the inputs'
  // Per job input: output row -> the input's row (-1: the input lacks the token; rows past the
  // map's end are lacking too). nullptr: row r is the input's row r (--unsafe-truncate-embeddings).
  // Maps are shared by every vocabulary-indexed tensor of one model.
  std::vector<std::shared_ptr<const std::vector<int64_t>>> row_maps;
  // Sorted by row: every row some input lacks, forced rows, padding rows.
  std::vector<RowFill> fills;
  uint64_t input_elements = 0;  // elements of the inputs as stored (before re-indexing)
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
  bool compute_double = false;           // compute in double (float64 recipes)
  std::optional<DType> round_inputs_to;  // inputs rounded to the recipe's half dtype on load
  uint64_t seed_key = 0;                 // random methods: the counter-based generator's key
  std::optional<VocabularyAlignment> vocabulary;  // re-index dimension 0 of every input first
  uint64_t method_scratch_bytes = 0;              // the method's own, for a whole-tensor merge

  uint64_t numel() const;
  uint64_t output_bytes() const { return numel() * dtype_size(out_dtype); }
  // Working memory of the job: one buffer per input plus the output, in the compute type, and the
  // method's scratch.
  uint64_t working_bytes() const;
};

struct PlanOptions {
  bool strict = false;        // unknown keys and undeclared parameters are errors, not warnings
  uint64_t random_seed = 0;   // --random-seed; 0 when unset
  bool allow_crimes = false;  // mix architectures
  // Without a tokenizer section, cut vocabulary-indexed tensors to the smallest vocabulary instead
  // of refusing different vocabulary sizes.
  bool unsafe_truncate_embeddings = false;
  // Turns the recipe's model references into sources; null: local directories.
  std::shared_ptr<const ModelResolver> resolver;
};

// options.resolver, or the resolver of local directories.
const ModelResolver& resolver_for(const PlanOptions& options);

// The output vocabulary, with a tokenizer section (for `mergeforge plan` and the model card).
struct VocabularySummary {
  std::string source;            // "base", "union" or the source model
  int64_t tokens = 0;            // tokens in the output tokenizer
  int64_t rows = 0;              // rows of the vocabulary-indexed tensors (tokens, padded)
  std::vector<int64_t> lacking;  // per plan model: output tokens it does not have
};

// Tokenizer files the output gets instead of the donor's copied ones: a tokenizer written fresh
// (tokenizer section, or a chat_template) as file name -> content, with the files it keeps as they
// are (tokenizer.model; tokenizer.json beside a new chat template) read through their source.
struct OutputTokenizer {
  std::vector<std::pair<std::string, std::string>> files;
  std::string source_dir;  // where the tokenizer comes from: the output must stay apart from it
  // A chat_template without a tokenizer section: written only when tokenizer files are copied.
  bool only_when_copying = false;
};

struct MergePlan {
  MergeConfig config;
  std::shared_ptr<const MergeMethod> method;
  std::vector<PlannedModel> models;
  size_t donor = 0;  // the model whose config.json and tokenizer the output takes
  std::vector<MergeJob> jobs;
  nlohmann::json output_config;  // config.json of the output
  std::optional<VocabularySummary> vocabulary;
  std::optional<OutputTokenizer> tokenizer;  // absent: copy the donor's tokenizer files
  std::vector<std::string> warnings;
  // Every input tensor no job reads (layers a slice leaves out, the non-layer tensors of slices
  // other than the first or last, tensors of a kind the output does not have), by model in name
  // order: a merge never drops a tensor without saying so.
  struct UnusedTensor {
    size_t model;
    std::string tensor;
  };
  std::vector<UnusedTensor> unused_inputs;

  uint64_t input_bytes() const;   // tensor bytes read
  uint64_t output_bytes() const;  // tensor bytes written
};

MergePlan make_plan(MergeConfig config, const MethodRegistry& registry, const PlanOptions& options);

// A human-readable summary: inputs, method, parameters, output tensors (grouped), sizes.
std::string describe_plan(const MergePlan& plan, bool verbose);

}  // namespace mf
