#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "methods/registry.hpp"

namespace mf {
namespace {

// MergeKit's merge methods, every name its registry holds (mergekit.merge_methods.registry), in
// the order `mergeforge methods` lists them.
const std::vector<std::string> kMergeKitMethods = {
    "linear",       "slerp",       "nuslerp",     "multislerp",       "karcher",
    "nearswap",     "model_stock", "passthrough", "task_arithmetic",  "ties",
    "dare_linear",  "dare_ties",   "breadcrumbs", "breadcrumbs_ties", "della",
    "della_linear", "sce",         "ram",         "ramplus_tl",       "arcee_fusion"};

TEST(MethodRegistry, ListsEveryMergeKitMethodByName) {
  const MethodRegistry registry = MethodRegistry::builtin();
  std::vector<std::string> listed;
  for (const auto& m : registry.all()) listed.push_back(m->info().name);
  EXPECT_EQ(listed, kMergeKitMethods);  // a dropped, renamed, doubled or extra method fails
  for (const std::string& name : kMergeKitMethods) {
    auto m = registry.find(name);
    ASSERT_NE(m, nullptr) << name;
    EXPECT_EQ(m->info().name, name);
  }
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()).size(), 20u) << "duplicate names";
  EXPECT_EQ(registry.find("no_such_method"), nullptr);
  EXPECT_EQ(registry.find(""), nullptr);
  EXPECT_EQ(registry.find("Linear"), nullptr);  // names are case-sensitive, as in MergeKit
}

double default_of(const MethodInfo& info, const char* param) {
  const ParamSpec* spec = info.find_param(param);
  EXPECT_NE(spec, nullptr) << info.name << "." << param;
  return spec && spec->default_value ? *spec->default_value : -1;
}

TEST(MethodRegistry, TaskArithmeticFamilyFollowsTheTable) {
  const MethodRegistry registry = MethodRegistry::builtin();
  struct Row {
    const char* name;
    bool normalize, rescale, gamma, epsilon;
    const char* paper;
  };
  const Row rows[] = {
      {"task_arithmetic", false, false, false, false, "https://arxiv.org/abs/2212.04089"},
      {"ties", true, false, false, false, "https://arxiv.org/abs/2306.01708"},
      {"dare_linear", false, true, false, false, "https://arxiv.org/abs/2311.03099"},
      {"dare_ties", false, true, false, false, "https://arxiv.org/abs/2311.03099"},
      {"breadcrumbs", false, false, true, false, "https://arxiv.org/abs/2312.06795"},
      {"breadcrumbs_ties", false, false, true, false, "https://arxiv.org/abs/2312.06795"},
      {"della", true, true, false, true, "https://arxiv.org/abs/2406.11617"},
      {"della_linear", false, true, false, true, "https://arxiv.org/abs/2406.11617"},
  };
  for (const Row& row : rows) {
    const MethodInfo& info = registry.find(row.name)->info();
    EXPECT_EQ(info.paper_url, row.paper);
    EXPECT_EQ(info.base, BaseRole::Required);
    EXPECT_EQ(info.partial, PartialInputs::MergePresent);
    const ParamSpec* weight = info.find_param("weight");
    ASSERT_NE(weight, nullptr);
    EXPECT_FALSE(weight->default_value.has_value()) << "weight is required";
    EXPECT_EQ(weight->scope, ParamScope::PerNonBase);
    EXPECT_EQ(default_of(info, "density"), 1.0);
    EXPECT_EQ(default_of(info, "lambda"), 1.0);
    EXPECT_EQ(default_of(info, "int8_mask"), 0.0);
    EXPECT_EQ(default_of(info, "normalize"), row.normalize ? 1.0 : 0.0) << row.name;
    EXPECT_EQ(default_of(info, "rescale"), row.rescale ? 1.0 : 0.0) << row.name;
    EXPECT_EQ(info.find_param("gamma") != nullptr, row.gamma) << row.name;
    EXPECT_EQ(info.find_param("epsilon") != nullptr, row.epsilon) << row.name;
    if (row.gamma) {
      EXPECT_EQ(default_of(info, "gamma"), 0.01);
    }
    if (row.epsilon) {
      EXPECT_EQ(default_of(info, "epsilon"), 0.15);
    }
  }
}

TEST(MethodRegistry, InputContracts) {
  const MethodRegistry registry = MethodRegistry::builtin();
  const MethodInfo& slerp = registry.find("slerp")->info();
  EXPECT_EQ(slerp.base, BaseRole::Required);
  EXPECT_EQ(slerp.min_models, 1);
  EXPECT_EQ(slerp.max_models, 1);
  EXPECT_EQ(slerp.partial, PartialInputs::PassSingle);
  EXPECT_FALSE(slerp.find_param("t")->default_value.has_value());
  EXPECT_EQ(slerp.find_param("t")->scope, ParamScope::Global);

  const MethodInfo& linear = registry.find("linear")->info();
  EXPECT_EQ(linear.base, BaseRole::Input);
  EXPECT_FALSE(linear.find_param("weight")->default_value.has_value());
  EXPECT_EQ(default_of(linear, "normalize"), 1.0);
  EXPECT_EQ(linear.paper_url, "https://arxiv.org/abs/2203.05482");

  const MethodInfo& passthrough = registry.find("passthrough")->info();
  EXPECT_EQ(passthrough.max_models, 1);
  EXPECT_EQ(default_of(passthrough, "scale"), 1.0);
}

}  // namespace
}  // namespace mf
