// Dotted paths into config.json ("num_hidden_layers", "text_config.vocab_size"): architectures nest
// their text model's settings, so the planner reads and writes them by path.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace mf {

// Sub-configs searched after the top level, in order, for settings of the text model.
inline constexpr const char* kConfigScopes[] = {"", "text_config.", "language_config.",
                                                "llm_config."};

// nullptr when any step of the path is missing.
const nlohmann::json* find_config_value(const nlohmann::json& config, const std::string& dotted);
// Creates intermediate objects as needed.
void set_config_value(nlohmann::json& config, const std::string& dotted,
                      const nlohmann::json& value);
// The JSON pointer to a dotted path, built token by token: a key holding `/` or `~` stays one
// token (RFC 6901 escapes it). "" is the whole document.
nlohmann::json::json_pointer config_pointer(const std::string& dotted);

}  // namespace mf
