// Parameter resolution: which value a method parameter takes for one tensor and one input model,
// following COMPAT.md's precedence (per-model, slice, top level, method default), filters and layer
// gradients.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/merge_config.hpp"
#include "methods/method.hpp"

namespace mf {

// Evaluates one setting for a tensor at layer position t in [0, 1]. nullopt when no condition
// matches or the list is empty (lookup falls through to the next level). Throws
// Error(InvalidConfig) naming the setting's position when a value does not parse as the parameter's
// type, or an integer parameter interpolates to a fraction.
std::optional<double> evaluate_setting(const ParamSetting& setting, const ParamSpec& spec,
                                       std::string_view tensor_name, double t,
                                       const MergeConfig& config);

// The levels consulted for one parameter, highest precedence first (null entries are skipped).
struct SettingLevels {
  std::vector<const ParamSettings*> levels;
};

// Resolves `spec` through `levels`; the method default when nothing matches; nullopt when required
// and unset (the caller reports it with the context it knows).
std::optional<double> resolve_parameter(const ParamSpec& spec, const SettingLevels& levels,
                                        std::string_view tensor_name, double t,
                                        const MergeConfig& config);

// Parses one scalar as the parameter's type (exposed for tests): "1e-3" is a float, "true" / "yes"
// / "1" a bool, "3" or "3.0" an int (within the 32-bit range). nullopt when it does not parse, or
// is not finite
// ("nan", "inf", "1e999").
std::optional<double> parse_param_scalar(std::string_view text, ParamType type);

}  // namespace mf
