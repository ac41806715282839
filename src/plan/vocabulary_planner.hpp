// The planner's part for vocabularies (COMPAT.md, "Tokenizer and vocabulary"): with a tokenizer
// section it reads every input's tokenizer files once, builds the output vocabulary, and gives each
// vocabulary-indexed job the row maps and fill rules that re-index its inputs; with
// --unsafe-truncate-embeddings it cuts them to the smallest vocabulary; it also plans the output's
// tokenizer files (a tokenizer section or a chat_template writes them fresh).
//
// Vocabulary-indexed tensors: outside the layers, the model's input embedding or an output head
// (lm_head, embed_out, output; weights and biases), whose dimension 0 has as many rows as that
// model's embedding. Dimension 0 is the vocabulary axis.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plan/merge_plan.hpp"
#include "plan/model_layout.hpp"
#include "tokenizer/output_vocabulary.hpp"
#include "tokenizer/tokenizer_files.hpp"

namespace mf {

class VocabularyPlanner {
 public:
  VocabularyPlanner(MergePlan& plan, const std::vector<ModelLayout>& layouts,
                    const PlanOptions& options);

  // Reads the tokenizers and builds the output vocabulary when the recipe has a tokenizer section.
  // Call once every model is open and the donor chosen.
  void prepare();

  bool is_vocabulary_tensor(size_t model, const std::string& tensor) const;
  // Whether vocabulary-indexed tensors of different row counts may be merged (a tokenizer section
  // or
  // --unsafe-truncate-embeddings).
  bool aligns() const { return vocabulary_.has_value() || options_.unsafe_truncate_embeddings; }
  // Sets job.vocabulary (and the output rows in job.shape) for a job whose inputs are all
  // vocabulary-indexed; `base` is the slice's base model. The other dimensions must already agree.
  void align(MergeJob& job, std::optional<size_t> base);

  // The output config's vocabulary size, the vocabulary summary and the output tokenizer files.
  // Call last.
  void finish(nlohmann::json& output_config);

 private:
  struct ResolvedToken {
    const TokenSetting* setting;
    int64_t id;                   // output id
    std::optional<size_t> model;  // Model, ModelToken
    int64_t source_row = -1;      // ModelToken: the row in that model's tensors
  };

  int64_t vocabulary_rows(size_t model) const;  // rows of the model's embedding, -1 when unknown
  int64_t vocabulary_limit(size_t model) const;
  std::optional<size_t> find_model(const ModelRef& ref) const;
  const TokenizerFiles& files(size_t model);
  void resolve_tokens();
  void fill_rows(MergeJob& job, std::optional<size_t> base);
  void truncate(MergeJob& job);
  void plan_output_tokenizer();
  std::optional<std::string> chosen_chat_template();

  MergePlan& plan_;
  const MergeConfig& config_;
  const std::vector<ModelLayout>& layouts_;
  const PlanOptions& options_;
  std::vector<std::optional<TokenizerFiles>> files_;  // per plan model, read on first use
  std::optional<TokenizerFiles> source_files_;        // `source: <model>` outside the recipe
  std::optional<OutputVocabulary> vocabulary_;
  std::vector<std::shared_ptr<const std::vector<int64_t>>> row_maps_;  // per plan model
  std::vector<ResolvedToken> tokens_;
  // --unsafe-truncate-embeddings cut some tensor to this many rows.
  std::optional<int64_t> truncated_rows_;
};

}  // namespace mf
