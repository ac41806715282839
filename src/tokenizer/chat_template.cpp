#include "tokenizer/chat_template.hpp"

#include <map>

namespace mf {

namespace {

// Written for trim_blocks / lstrip_blocks; every tag strips the whitespace around it, so the layout
// below is only for reading.
constexpr std::string_view kChatml = R"({%- for message in messages -%}
    {{- '<|im_start|>' ~ message.role ~ '\n' ~ message.content ~ '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\n' -}}
{%- endif -%}
)";

constexpr std::string_view kLlama3 = R"({%- for message in messages -%}
    {%- if loop.first -%}{{- bos_token -}}{%- endif -%}
    {{- '<|start_header_id|>' ~ message.role ~ '<|end_header_id|>\n\n' ~ (message.content | trim) ~ '<|eot_id|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
{%- endif -%}
)";

constexpr std::string_view kMistral = R"({%- set ns = namespace(system=none, turns=messages) -%}
{%- if messages and messages[0].role == 'system' -%}
    {%- set ns.system = messages[0].content -%}
    {%- set ns.turns = messages[1:] -%}
{%- endif -%}
{{- bos_token -}}
{%- for message in ns.turns -%}
    {%- if (message.role == 'user') != (loop.index0 is even) -%}
        {{- raise_exception('Conversation roles must alternate user/assistant after an optional system message') -}}
    {%- endif -%}
    {%- if message.role == 'user' -%}
        {%- if loop.first and ns.system is not none -%}
            {{- ' [INST] ' ~ ns.system ~ '\n\n' ~ message.content ~ ' [/INST]' -}}
        {%- else -%}
            {{- ' [INST] ' ~ message.content ~ ' [/INST]' -}}
        {%- endif -%}
    {%- elif message.role == 'assistant' -%}
        {{- ' ' ~ message.content ~ eos_token -}}
    {%- else -%}
        {{- raise_exception('Only user and assistant messages and an initial system message are supported') -}}
    {%- endif -%}
{%- endfor -%}
)";

constexpr std::string_view kAlpaca =
    R"({%- set systems = messages | selectattr('role', 'equalto', 'system') | list -%}
{%- if systems -%}
    {{- (systems | last).content | trim -}}{{- '\n\n' -}}
{%- endif -%}
{%- for message in messages | rejectattr('role', 'equalto', 'system') -%}
    {%- if not loop.first -%}{{- '\n\n' -}}{%- endif -%}
    {%- if message.role == 'user' -%}
        {{- '### Instruction:\n' ~ (message.content | trim) -}}
    {%- elif message.role == 'user_context' -%}
        {{- '### Input:\n' ~ (message.content | trim) -}}
    {%- elif message.role == 'assistant' -%}
        {{- '### Response:\n' ~ (message.content | trim) -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt and messages and messages[-1].role != 'assistant' -%}
    {{- '\n\n### Response:\n' -}}
{%- endif -%}
)";

constexpr std::string_view kExaone = R"({%- for message in messages -%}
    {%- if loop.first and message.role != 'system' -%}
        {{- '[|system|][|endofturn|]\n' -}}
    {%- endif -%}
    {{- '[|' ~ message.role ~ '|]' ~ message.content -}}
    {%- if message.role == 'user' -%}
        {{- '\n' -}}
    {%- else -%}
        {{- '[|endofturn|]\n' -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '[|assistant|]' -}}
{%- endif -%}
)";

const std::map<std::string_view, std::string_view>& builtins() {
  static const std::map<std::string_view, std::string_view> table{{"alpaca", kAlpaca},
                                                                  {"chatml", kChatml},
                                                                  {"exaone", kExaone},
                                                                  {"llama3", kLlama3},
                                                                  {"mistral", kMistral}};
  return table;
}

std::string strip(const std::string& text) {
  const char* space = " \t\n\r\f\v";
  size_t begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return {};
  size_t end = text.find_last_not_of(space);
  return text.substr(begin, end + 1 - begin);
}

}  // namespace

std::optional<std::string_view> builtin_chat_template(std::string_view name) {
  auto it = builtins().find(name);
  if (it == builtins().end()) return std::nullopt;
  return it->second;
}

std::vector<std::string_view> builtin_chat_template_names() {
  std::vector<std::string_view> names;
  for (const auto& [name, text] : builtins()) names.push_back(name);
  return names;
}

std::optional<ChatTemplateChoice> classify_chat_template(const std::string& value) {
  if (value == "auto") return ChatTemplateChoice{ChatTemplateChoice::Kind::Auto, {}};
  bool name_like = value.size() < 256 && value.find('\n') == std::string::npos &&
                   value.find('{') == std::string::npos;
  if (name_like)
    if (auto t = builtin_chat_template(value))
      return ChatTemplateChoice{ChatTemplateChoice::Kind::Builtin, std::string(*t)};
  if (value.size() < 20 || value.find('{') == std::string::npos) return std::nullopt;
  return ChatTemplateChoice{ChatTemplateChoice::Kind::Literal, value};
}

std::optional<std::string> most_common_chat_template(const std::vector<std::string>& templates) {
  std::vector<std::pair<std::string, int>> counts;  // first-seen order
  for (const auto& t : templates) {
    std::string s = strip(t);
    if (s.empty()) continue;
    bool found = false;
    for (auto& [text, n] : counts)
      if (text == s) ++n, found = true;
    if (!found) counts.emplace_back(std::move(s), 1);
  }
  if (counts.empty()) return std::nullopt;
  size_t best = 0;
  for (size_t i = 1; i < counts.size(); ++i)
    if (counts[i].second > counts[best].second) best = i;
  return counts[best].first;
}

}  // namespace mf
