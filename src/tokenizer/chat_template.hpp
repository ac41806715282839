// Chat templates for a recipe's `chat_template`: `auto` (the most common template among the
// inputs), one of the built-in names, or a literal Jinja template. The built-in templates are
// written for transformers' Jinja environment (blocks trimmed) and render the usual prompt format
// of each family.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mf {

// The template of a built-in name (alpaca, chatml, exaone, llama3, mistral), nullopt for any other
// name.
std::optional<std::string_view> builtin_chat_template(std::string_view name);
std::vector<std::string_view> builtin_chat_template_names();

struct ChatTemplateChoice {
  enum class Kind { Auto, Builtin, Literal };
  Kind kind = Kind::Literal;
  std::string text;  // the template (Builtin, Literal)
};

// What a recipe's `chat_template` value means, or nullopt when it is neither `auto`, a built-in
// name nor a template (a literal must contain "{" and be at least 20 characters long).
std::optional<ChatTemplateChoice> classify_chat_template(const std::string& value);

// The template most of `templates` use, compared with surrounding whitespace removed (and returned
// so); on a tie the first in the given order. nullopt for an empty list.
std::optional<std::string> most_common_chat_template(const std::vector<std::string>& templates);

}  // namespace mf
