// Test support for merge-method kernels: builds the MergeArgs the executor would pass (parameters
// resolved with the method's defaults, inputs copied into scratch buffers) and returns the merged
// tensor.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "methods/method.hpp"
#include "methods/registry.hpp"

namespace mf::merge_test {

inline const MergeMethod& method(std::string_view name) {
  static const MethodRegistry registry = MethodRegistry::builtin();
  auto m = registry.find(name);
  if (m == nullptr) throw std::runtime_error("unknown method " + std::string(name));
  return *m;
}

// `given` on top of the declared defaults of the scopes `scopes`.
inline Params resolve(const MethodInfo& info, const std::vector<ParamScope>& scopes,
                      const std::map<std::string, double>& given) {
  Params p;
  for (const ParamSpec& spec : info.params)
    if (std::find(scopes.begin(), scopes.end(), spec.scope) != scopes.end() && spec.default_value)
      p.set(spec.name, *spec.default_value);
  for (const auto& [name, value] : given) p.set(name, value);
  return p;
}

// One declared parameter, as MergeKit declares it: type, scope and default (nullopt: required).
inline void expect_param(const MethodInfo& info, std::string_view name, ParamType type,
                         ParamScope scope, std::optional<double> default_value) {
  SCOPED_TRACE(std::string(name));
  const ParamSpec* spec = info.find_param(name);
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->type, type);
  EXPECT_EQ(spec->scope, scope);
  EXPECT_EQ(spec->default_value, default_value);
}

template <class T>
struct MergeCall {
  std::vector<std::vector<T>> inputs;
  std::vector<std::map<std::string, double>> per_input;  // one per input (may be empty maps)
  std::map<std::string, double> global;
  int base = -1;
  std::vector<int64_t> shape;  // defaults to 1-D
  uint64_t seed = 0;
  size_t chunk_elements = 0;  // streaming kernels: MergeArgs::chunk_elements (0: the default)
  size_t scratch_bytes = size_t(1) << 30;  // streaming kernels: MergeArgs::scratch_bytes

  std::vector<Params> resolved_per_input(const MethodInfo& info) const {
    std::vector<Params> result;
    for (size_t i = 0; i < inputs.size(); ++i) {
      // As the planner does: the base never receives per-non-base parameters.
      std::vector<ParamScope> scopes = {ParamScope::PerModel};
      if (int(i) != base) scopes.push_back(ParamScope::PerNonBase);
      result.push_back(resolve(
          info, scopes, i < per_input.size() ? per_input[i] : std::map<std::string, double>{}));
    }
    return result;
  }

  void check(const MergeMethod& m) const {
    const std::vector<Params> per = resolved_per_input(m.info());
    const Params glob = resolve(m.info(), {ParamScope::Global}, global);
    m.check(glob, per, base);
  }

  std::vector<T> run(const MergeMethod& m) const {
    std::vector<std::vector<T>> scratch = inputs;  // kernels may overwrite their inputs
    std::vector<T*> pointers;
    for (auto& s : scratch) pointers.push_back(s.data());
    const std::vector<Params> per = resolved_per_input(m.info());
    const Params glob = resolve(m.info(), {ParamScope::Global}, global);
    std::vector<int64_t> dims = shape;
    if (dims.empty()) dims = {int64_t(inputs.at(0).size())};
    MergeArgs<T> args;
    args.tensor_name = "model.layers.0.mlp.up_proj.weight";
    args.shape = dims;
    args.inputs = pointers;
    args.base = base;
    args.per_input = per;
    args.global = &glob;
    args.seed = seed;
    args.chunk_elements = chunk_elements;
    args.scratch_bytes = scratch_bytes;
    std::vector<T> out(args.numel(), T(-12345));
    args.out = out.data();
    m.merge(args);
    return out;
  }
};

template <class T>
double tolerance() {
  return sizeof(T) == 4 ? 2e-6 : 1e-12;
}

template <class T>
void expect_near_all(const std::vector<T>& actual, const std::vector<double>& expected,
                     double scale = 1.0) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(double(actual[i]), expected[i],
                tolerance<T>() * scale * (1 + std::abs(expected[i])))
        << "element " << i;
}

template <class T>
std::vector<T> plus(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<T> r(a.size());
  for (size_t i = 0; i < a.size(); ++i) r[i] = T(a[i] + b[i]);
  return r;
}

template <class T>
std::vector<T> cast(const std::vector<double>& a) {
  return std::vector<T>(a.begin(), a.end());
}

using ComputeTypes = ::testing::Types<float, double>;

}  // namespace mf::merge_test
