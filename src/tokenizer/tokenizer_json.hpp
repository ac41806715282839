// tokenizer.json, the Hugging Face `tokenizers` format: its vocabulary (the model's token -> id map
// for BPE, WordPiece and WordLevel, the piece list for Unigram) and its added tokens, read into
// plain structs; the rest of the document (normalizer, pre-tokenizer, post-processor, decoder,
// model options) is kept as it is, so an output tokenizer is its source with only the vocabulary
// changed and encodes text exactly like it. Parsing is a pure function over the file's text:
// tokenizer files come from strangers, like config.json.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mf {

enum class VocabModel { BPE, WordPiece, WordLevel, Unigram };

const char* vocab_model_name(VocabModel model);

// An entry of tokenizer.json's `added_tokens`: matched in the raw text before the model runs.
struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;  // matched against the normalized text (tokenizers' default: not special)
  bool special = false;

  // Same token with the same matching options (the id is not compared).
  bool same_options(const AddedToken& other) const;
};

// Token ids above this are refused: a row per id is allocated for every vocabulary-indexed tensor.
inline constexpr int64_t kMaxTokenId = int64_t(1) << 24;

class TokenizerJson {
 public:
  // Fails (InvalidFile, message starting with `file_label`) on invalid UTF-8 or JSON, a document
  // without a `model` object, a vocabulary that is not the model type's shape, a negative,
  // fractional or huge id, two tokens with one id, an added token without an integer id and a
  // string content. A model type other than BPE, WordPiece, WordLevel and Unigram is Unsupported.
  static TokenizerJson parse(std::string_view text, std::string_view file_label);

  VocabModel model() const { return model_; }
  const std::string& label() const { return label_; }
  // Every token and its id, the model's vocabulary and the added tokens together (what
  // transformers' get_vocab() returns).
  const std::unordered_map<std::string, int64_t>& vocab() const { return vocab_; }
  std::optional<int64_t> id_of(const std::string& token) const;
  // Added tokens, sorted by id.
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  const AddedToken* find_added(const std::string& content) const;
  bool is_added(const std::string& content) const { return find_added(content) != nullptr; }
  // One past the largest id (0 for an empty vocabulary).
  int64_t end_id() const { return end_id_; }
  // The token of each id below end_id(); an empty string where no token has the id. An added token
  // wins over a model token with the same id.
  std::vector<std::string> tokens_by_id() const;

  // This tokenizer without the tokens whose id is >= limit (unused ids past a model's embedding
  // rows): they leave the vocabulary, the added tokens, and, for BPE, every merge that uses or
  // makes one.
  TokenizerJson without_ids_from(int64_t limit) const;

  // Adds a token as transformers' add_tokens does: an added token of the same content keeps its id
  // and takes the new options; a token of the model's vocabulary becomes an added token with its
  // id; any other token gets id end_id(). Returns the id.
  int64_t add_token(AddedToken token);

  // The document as tokenizer.json text (2-space indented; the model vocabulary in id order).
  std::string dump() const;

 private:
  void index_added();

  nlohmann::json doc_;  // the whole file; `added_tokens` is rewritten from added_ on dump()
  std::string label_;
  VocabModel model_ = VocabModel::BPE;
  std::vector<AddedToken> added_;
  std::unordered_map<std::string, size_t> added_index_;   // content -> index into added_
  std::unordered_map<std::string, int64_t> model_vocab_;  // the model's own vocabulary
  std::unordered_map<std::string, int64_t> vocab_;        // model vocabulary + added tokens
  int64_t end_id_ = 0;
};

}  // namespace mf
