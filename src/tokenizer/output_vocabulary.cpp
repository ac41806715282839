#include "tokenizer/output_vocabulary.hpp"

#include <unordered_set>

#include "core/error.hpp"

namespace mf {

namespace {

// An ordinary token taken into the union, or a requested token: matched like any text
// (transformers' add_tokens with a plain string).
AddedToken ordinary(const std::string& content) {
  AddedToken t;
  t.content = content;
  return t;
}

void build_union(const std::vector<VocabularyModel>& models, const VocabularyRequest& request,
                 TokenizerJson& out) {
  // Tokens some model adds (ids below its limit): they come after the ordinary tokens, with their
  // options.
  std::unordered_set<std::string> added_anywhere;
  for (size_t m = 0; m < models.size(); ++m) {
    const TokenizerJson* tok = m == request.base ? &out : models[m].tokenizer;
    if (!tok) continue;
    for (const auto& a : tok->added_tokens())
      if (a.id < models[m].limit) added_anywhere.insert(a.content);
  }
  for (size_t m = 0; m < models.size(); ++m) {
    if (m == request.base || !models[m].tokenizer) continue;
    std::vector<std::string> by_id = models[m].tokenizer->tokens_by_id();
    int64_t end = std::min<int64_t>(int64_t(by_id.size()), models[m].limit);
    for (int64_t id = 0; id < end; ++id) {
      const std::string& token = by_id[size_t(id)];
      if (token.empty() || added_anywhere.count(token) || out.id_of(token)) continue;
      out.add_token(ordinary(token));
    }
  }
  // Added tokens: the first definition of each wins; one the output already holds keeps its id
  // (and, as transformers' add_tokens does, becomes an added token with the first definition's
  // options).
  std::unordered_set<std::string> defined;
  for (size_t m = 0; m < models.size(); ++m) {
    const TokenizerJson* tok = m == request.base ? nullptr : models[m].tokenizer;
    if (m == request.base) {
      for (const auto& a : out.added_tokens()) defined.insert(a.content);
      continue;
    }
    if (!tok) continue;
    for (const auto& a : tok->added_tokens()) {
      if (a.id >= models[m].limit || !defined.insert(a.content).second) continue;
      out.add_token(a);
    }
  }
}

}  // namespace

OutputVocabulary build_output_vocabulary(const std::vector<VocabularyModel>& models,
                                         const VocabularyRequest& request) {
  const VocabularyModel& base = models.at(request.base);
  if (!base.tokenizer)
    fail(ErrorCode::InvalidFile, "{}: the base model has no tokenizer.json", base.label);
  OutputVocabulary v{base.tokenizer->without_ids_from(base.limit), {}, 0, {}, {}, {}};
  v.base_tokenizer = v.tokenizer;
  switch (request.source) {
    case VocabularyRequest::Source::Base:
      break;
    case VocabularyRequest::Source::Model:
      v.tokenizer = *request.source_tokenizer;
      break;
    case VocabularyRequest::Source::Union:
      build_union(models, request, v.tokenizer);
      break;
  }
  for (const auto& token : request.extra_tokens)
    if (!v.tokenizer.id_of(token)) v.tokenizer.add_token(ordinary(token));

  v.tokens = v.tokenizer.tokens_by_id();
  int64_t n = int64_t(v.tokens.size());
  v.rows = n;
  if (request.pad_to_multiple_of > 0 && n % request.pad_to_multiple_of != 0)
    v.rows = (n / request.pad_to_multiple_of + 1) * request.pad_to_multiple_of;

  for (size_t m = 0; m < models.size(); ++m) {
    // A model without a tokenizer is taken to use the base's (as MergeKit does).
    const TokenizerJson& own =
        m == request.base || !models[m].tokenizer ? v.base_tokenizer : *models[m].tokenizer;
    std::vector<int64_t> rows(size_t(n), -1);
    int64_t lacking = 0;
    for (int64_t id = 0; id < n; ++id) {
      const std::string& token = v.tokens[size_t(id)];
      if (token.empty()) continue;
      auto at = own.id_of(token);
      if (at && *at < models[m].limit)
        rows[size_t(id)] = *at;
      else
        ++lacking;
    }
    v.source_rows.push_back(std::move(rows));
    v.lacking.push_back(lacking);
  }
  return v;
}

}  // namespace mf
