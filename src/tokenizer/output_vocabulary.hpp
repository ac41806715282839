// The output vocabulary of a merge with a tokenizer section, and for every input model where each
// output token sits in that model's vocabulary-indexed tensors (COMPAT.md, "Tokenizer and
// vocabulary"). Pure functions over parsed tokenizer.json files: the planner reads the files, this
// decides the ids.
//
// Union order (stable: the same recipe always gives the same ids): the base tokenizer with its ids
// (ids at or past its model's vocabulary size dropped); then the ordinary tokens of the other
// models it lacks (only ids below that model's vocabulary size), model by model in recipe order,
// each model's in id order; then the added tokens of every model, base first, in the same order
// (the first definition of a token wins); then the requested `tokens` still missing, in recipe
// order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer_json.hpp"

namespace mf {

struct VocabularyModel {
  std::string label;  // for messages
  // nullptr: no tokenizer; the model is taken to use the base's.
  const TokenizerJson* tokenizer = nullptr;
  int64_t limit = kMaxTokenId;  // ids >= limit are unused (config.json's vocabulary size)
};

struct VocabularyRequest {
  enum class Source { Base, Union, Model };
  Source source = Source::Union;
  size_t base = 0;  // index into the models: the base tokenizer
  // Source::Model: the output tokenizer, used as it is.
  const TokenizerJson* source_tokenizer = nullptr;
  std::vector<std::string> extra_tokens;  // requested tokens, added when missing, in this order
  int64_t pad_to_multiple_of = 0;         // 0: rows = tokens
};

struct OutputVocabulary {
  TokenizerJson tokenizer;  // the output tokenizer
  std::vector<std::string>
      tokens;        // by id; "" where no token has the id (a gap in the source's ids)
  int64_t rows = 0;  // rows of every vocabulary-indexed output tensor (tokens, padded)
  // Per model: output id -> the model's row for that token, -1 when the model lacks it. Size
  // tokens.size().
  std::vector<std::vector<int64_t>> source_rows;
  std::vector<int64_t> lacking;  // per model: how many output tokens it lacks
  TokenizerJson base_tokenizer;  // the base's tokenizer, ids past its limit dropped
};

// Fails (InvalidFile) when the base has no tokenizer.
OutputVocabulary build_output_vocabulary(const std::vector<VocabularyModel>& models,
                                         const VocabularyRequest& request);

}  // namespace mf
