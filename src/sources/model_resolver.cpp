#include "sources/model_resolver.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "io/json_text.hpp"
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

ModelResolver::SideFiles LocalModelResolver::tokenizer_files(const ModelRef& ref,
                                                             std::string_view where) const {
  if (auto it = registered_.find(ref.path); it != registered_.end()) {
    std::shared_ptr<const ModelSource> source = it->second;
    return [source](std::string_view name) { return source->side_file(name); };
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(ref.path, ec))
    fail(ErrorCode::InvalidConfig, "{}: tokenizer source `{}` is not a local directory", where,
         ref.text);
  // A directory that may hold only a tokenizer: no weights needed.
  return [dir = ref.path](std::string_view name) -> std::optional<std::string> {
    const std::filesystem::path path = std::filesystem::path(dir) / std::string(name);
    std::error_code exists_ec;
    if (!std::filesystem::exists(path, exists_ec)) return std::nullopt;
    return read_text_file(path.string());
  };
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
