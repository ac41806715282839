#include "plan/config_path.hpp"

namespace mf {

const nlohmann::json* find_config_value(const nlohmann::json& config, const std::string& dotted) {
  const nlohmann::json* cur = &config;
  size_t start = 0;
  while (true) {
    size_t dot = dotted.find('.', start);
    std::string key =
        dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object() || !cur->contains(key)) return nullptr;
    cur = &(*cur)[key];
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

void set_config_value(nlohmann::json& config, const std::string& dotted,
                      const nlohmann::json& value) {
  nlohmann::json* cur = &config;
  size_t start = 0;
  while (true) {
    size_t dot = dotted.find('.', start);
    if (dot == std::string::npos) {
      (*cur)[dotted.substr(start)] = value;
      return;
    }
    cur = &(*cur)[dotted.substr(start, dot - start)];
    start = dot + 1;
  }
}

nlohmann::json::json_pointer config_pointer(const std::string& dotted) {
  nlohmann::json::json_pointer ptr;
  if (dotted.empty()) return ptr;
  size_t start = 0;
  while (true) {
    size_t dot = dotted.find('.', start);
    ptr /= dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (dot == std::string::npos) return ptr;
    start = dot + 1;
  }
}

}  // namespace mf
