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

}  // namespace mf
