#include "plan/parameter_resolver.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/error.hpp"

namespace mf {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::optional<double> parse_double(std::string_view text) {
  std::string s(text);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  // strtod also reads "nan" and "inf", and overflows "1e999" to inf: none is a usable weight or
  // density.
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

const char* type_name(ParamType type) {
  switch (type) {
    case ParamType::Float:
      return "a finite number";
    case ParamType::Int:
      return "a 32-bit integer";
    case ParamType::Bool:
      return "true or false";
  }
  return "?";
}

}  // namespace

std::optional<double> parse_param_scalar(std::string_view text, ParamType type) {
  switch (type) {
    case ParamType::Float:
      return parse_double(text);
    case ParamType::Int: {
      // Kernels convert integer parameters to int: a value outside its range would be undefined
      // behaviour.
      auto v = parse_double(text);
      if (!v || std::floor(*v) != *v || std::fabs(*v) > double(std::numeric_limits<int32_t>::max()))
        return std::nullopt;
      return v;
    }
    case ParamType::Bool: {
      std::string s = lower(text);
      if (s == "true" || s == "yes" || s == "on" || s == "1" || s == "t" || s == "y") return 1.0;
      if (s == "false" || s == "no" || s == "off" || s == "0" || s == "f" || s == "n") return 0.0;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<double> evaluate_setting(const ParamSetting& setting, const ParamSpec& spec,
                                       std::string_view tensor_name, double t,
                                       const MergeConfig& config) {
  auto parse = [&](const std::string& text) {
    auto v = parse_param_scalar(text, spec.type);
    if (!v)
      fail(ErrorCode::InvalidConfig, "{}: parameter `{}` must be {}, got `{}`",
           config.where(setting.mark), spec.name, type_name(spec.type), text);
    return *v;
  };
  switch (setting.kind) {
    case ParamSetting::Kind::Scalar:
      return parse(setting.scalars.front());
    case ParamSetting::Kind::Gradient: {
      std::vector<double> values;
      for (const auto& s : setting.scalars) values.push_back(parse(s));
      size_t last = values.size() - 1;
      if (spec.type == ParamType::Bool) return values[size_t(t * double(last))];
      double scaled = t * double(last);
      size_t i0 = size_t(scaled);
      size_t i1 = std::min(last, i0 + 1);
      double frac = scaled - double(i0);
      double v = (1 - frac) * values[i0] + frac * values[i1];
      if (spec.type == ParamType::Int && std::floor(v) != v)
        fail(ErrorCode::InvalidConfig,
             "{}: integer parameter `{}` interpolates to {} at layer position t = {} ({})",
             config.where(setting.mark), spec.name, v, t, tensor_name);
      return v;
    }
    case ParamSetting::Kind::Conditions:
      for (const auto& c : setting.conditions) {
        if (!c.filter || *c.filter == "*" ||
            (!tensor_name.empty() && tensor_name.find(*c.filter) != std::string_view::npos))
          return evaluate_setting(*c.value, spec, tensor_name, t, config);
      }
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<double> resolve_parameter(const ParamSpec& spec, const SettingLevels& levels,
                                        std::string_view tensor_name, double t,
                                        const MergeConfig& config) {
  for (const ParamSettings* level : levels.levels) {
    if (!level) continue;
    auto it = level->find(spec.name);
    if (it == level->end()) continue;
    if (auto v = evaluate_setting(it->second, spec, tensor_name, t, config)) return v;
  }
  return spec.default_value;
}

}  // namespace mf
