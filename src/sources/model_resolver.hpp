// Turns a recipe's model reference into a model source: the one place that knows what a reference
// can name. Today a local directory of safetensors; hub ids, revisions and `+lora` come here.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/merge_config.hpp"
#include "sources/model_source.hpp"

namespace mf {

class ModelResolver {
 public:
  virtual ~ModelResolver() = default;
  // Opens the model `ref` names; errors name `where` (the recipe's file:line:column).
  virtual std::shared_ptr<const ModelSource> open(const ModelRef& ref,
                                                  std::string_view where) const = 0;
  // The files of a tokenizer named apart from the recipe's models (`tokenizer_source: <ref>`), by
  // name: content, or nullopt when it has no such file.
  using SideFiles = std::function<std::optional<std::string>(std::string_view name)>;
  virtual SideFiles tokenizer_files(const ModelRef& ref, std::string_view where) const = 0;
  // Equal for two references to the same model (the recipe may name it twice, differently).
  virtual std::string key(const ModelRef& ref) const = 0;
};

// Local directories (symbolic links and relative paths resolved to one key), plus models
// registered in memory by name, which win over a directory of the same name.
class LocalModelResolver : public ModelResolver {
 public:
  std::shared_ptr<const ModelSource> open(const ModelRef& ref,
                                          std::string_view where) const override;
  SideFiles tokenizer_files(const ModelRef& ref, std::string_view where) const override;
  std::string key(const ModelRef& ref) const override;

  // A model a recipe can name as `name` (the Python API's in-memory models; unit tests).
  void add(std::string name, std::shared_ptr<const ModelSource> source);

 private:
  std::map<std::string, std::shared_ptr<const ModelSource>, std::less<>> registered_;
};

}  // namespace mf
