#include "sources/model_resolver.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "sources/safetensors_dir_source.hpp"

namespace mf {

std::shared_ptr<const ModelSource> LocalModelResolver::open(const ModelRef& ref,
                                                            std::string_view where) const {
  if (auto it = registered_.find(ref.path); it != registered_.end()) return it->second;
  std::error_code ec;
  if (!std::filesystem::is_directory(ref.path, ec))
    fail(ErrorCode::InvalidConfig,
         "{}: model `{}` is not a local directory (no hub access: download it first)", where,
         ref.text);
  return SafetensorsDirSource::open(ref.path);
}

std::string LocalModelResolver::key(const ModelRef& ref) const {
  if (registered_.contains(ref.path)) return "memory:" + ref.path;
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(ref.path, ec);
  return ec ? ref.path : canonical.string();
}

void LocalModelResolver::add(std::string name, std::shared_ptr<const ModelSource> source) {
  registered_.insert_or_assign(std::move(name), std::move(source));
}

}  // namespace mf
