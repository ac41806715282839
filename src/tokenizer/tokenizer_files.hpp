// A model directory's tokenizer files, read at plan time (small JSON and text files), and the
// tokenizer_config.json of a tokenizer written fresh. transformers 5 keeps the chat template in
// chat_template.jinja and the special tokens in tokenizer_config.json; a fresh tokenizer is written
// that way.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer_json.hpp"

namespace mf {

// `read` returns a side file's content by name, or nullopt when the model has none
// (ModelSource::side_file).
using SideFileReader = std::function<std::optional<std::string>(std::string_view name)>;

struct TokenizerFiles {
  std::string dir;                    // names the files in messages
  SideFileReader read;                // the files themselves (tokenizer.model is copied through it)
  std::optional<TokenizerJson> json;  // tokenizer.json
  bool has_sentencepiece = false;     // tokenizer.model
  nlohmann::json config = nlohmann::json::object();  // tokenizer_config.json ({} when absent)
  // special_tokens_map.json ({} when absent).
  nlohmann::json special_tokens_map = nlohmann::json::object();
  std::optional<std::string> chat_template;  // chat_template.jinja, else tokenizer_config.json's

  // Any tokenizer file at all.
  bool present() const { return json || has_sentencepiece; }
};

// Reads the tokenizer files of a model directory (missing files are simply absent). Fails
// (InvalidFile, naming the file) when one exists but is not valid: tokenizer.json (see
// TokenizerJson::parse), tokenizer_config.json or special_tokens_map.json that is not a JSON
// object.
TokenizerFiles read_tokenizer_files(const std::string& dir, const SideFileReader& read);

// tokenizer_config.json for a tokenizer written fresh from `source`: its settings, with the entries
// of special_tokens_map.json it lacks folded in; without `chat_template` (written to
// chat_template.jinja) and `added_tokens_decoder` (tokenizer.json lists the added tokens). Special
// tokens `vocabulary` no longer holds are dropped, each with a warning, so transformers does not
// add them back as new tokens.
std::string fresh_tokenizer_config(const TokenizerFiles& source, const TokenizerJson* vocabulary,
                                   std::vector<std::string>& warnings);

}  // namespace mf
