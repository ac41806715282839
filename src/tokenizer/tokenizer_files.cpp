#include "tokenizer/tokenizer_files.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "io/json_text.hpp"

namespace fs = std::filesystem;

namespace mf {

namespace {

nlohmann::json json_object(const std::string& text, const std::string& label) {
  nlohmann::json j = parse_json_text(text, label);
  if (!j.is_object()) fail(ErrorCode::InvalidFile, "{}: not a JSON object", label);
  return j;
}

// A special token's content: "<s>" or {"content": "<s>", ...}.
std::optional<std::string> token_content(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return std::nullopt;
}

bool is_special_key(const std::string& key) {
  return key.size() > 6 && key.ends_with("_token") && key != "split_special_token";
}

}  // namespace

TokenizerFiles read_tokenizer_files(const std::string& dir, const SideFileReader& read) {
  TokenizerFiles f;
  f.dir = dir;
  f.read = read;
  const auto label = [&](const char* name) { return (fs::path(dir) / name).string(); };
  if (auto text = read("tokenizer.json"))
    f.json = TokenizerJson::parse(*text, label("tokenizer.json"));
  f.has_sentencepiece = read("tokenizer.model").has_value();
  if (auto text = read("tokenizer_config.json"))
    f.config = json_object(*text, label("tokenizer_config.json"));
  if (auto text = read("special_tokens_map.json"))
    f.special_tokens_map = json_object(*text, label("special_tokens_map.json"));
  if (auto text = read("chat_template.jinja")) {
    f.chat_template = std::move(*text);
  } else if (f.config.contains("chat_template")) {
    const auto& t = f.config["chat_template"];
    if (t.is_string()) {
      f.chat_template = t.get<std::string>();
    } else if (t.is_array()) {  // [{name, template}, ...]: the default one
      for (const auto& e : t)
        if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
            e["template"].is_string())
          f.chat_template = e["template"].get<std::string>();
    }
  }
  return f;
}

std::string fresh_tokenizer_config(const TokenizerFiles& source, const TokenizerJson* vocabulary,
                                   std::vector<std::string>& warnings) {
  nlohmann::json cfg = source.config;
  for (const auto& [key, value] : source.special_tokens_map.items()) {
    if (cfg.contains(key)) continue;
    if (auto content = token_content(value)) {
      cfg[key] = *content;
    } else if (value.is_array()) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& e : value)
        if (auto c = token_content(e)) list.push_back(*c);
      cfg[key] = list;
    }
  }
  cfg.erase("chat_template");
  cfg.erase("added_tokens_decoder");
  if (vocabulary) {
    auto known = [&](const std::string& token) { return vocabulary->id_of(token).has_value(); };
    std::vector<std::string> dropped;
    for (auto it = cfg.begin(); it != cfg.end();) {
      const std::string key = it.key();
      nlohmann::json& value = it.value();
      if (is_special_key(key)) {
        auto content = token_content(value);
        if (content && !known(*content)) {
          dropped.push_back(fmt::format("{} `{}`", key, *content));
          it = cfg.erase(it);
          continue;
        }
      } else if ((key == "additional_special_tokens" || key == "extra_special_tokens") &&
                 value.is_array()) {
        nlohmann::json kept = nlohmann::json::array();
        for (const auto& e : value) {
          auto content = token_content(e);
          if (content && !known(*content))
            dropped.push_back(fmt::format("{} entry `{}`", key, *content));
          else
            kept.push_back(e);
        }
        value = std::move(kept);
      }
      ++it;
    }
    for (const auto& d : dropped)
      warnings.push_back(
          fmt::format("{}/tokenizer_config.json: special token {} is not in the output "
                      "vocabulary; it is left out of the output tokenizer_config.json",
                      source.dir, d));
  }
  return cfg.dump(2) + "\n";
}

}  // namespace mf
