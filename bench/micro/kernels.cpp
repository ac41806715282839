// Merge kernels called directly on float buffers, as the executor calls them
// (src/methods/method.hpp): linear and slerp, plus task_arithmetic and the TIES family for
// comparison, with the parameters of bench/run.py's recipes. Bytes/s counts the float input bytes
// the kernel reads (inputs x n x 4). Kernels may overwrite their inputs, so every iteration starts
// from fresh copies (copied with the timer paused).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_data.hpp"
#include "methods/method.hpp"
#include "methods/registry.hpp"

namespace {

const mf::MergeMethod& method(const std::string& name) {
  static const mf::MethodRegistry registry = mf::MethodRegistry::builtin();
  auto m = registry.find(name);
  if (m == nullptr) throw std::runtime_error("unknown method " + name);
  return *m;
}

// The declared defaults of `scopes`, then `given` (as the planner resolves them).
mf::Params resolve(const mf::MethodInfo& info, std::vector<mf::ParamScope> scopes,
                   const std::map<std::string, double>& given) {
  mf::Params p;
  for (const mf::ParamSpec& spec : info.params)
    for (mf::ParamScope s : scopes)
      if (spec.scope == s && spec.default_value) p.set(spec.name, *spec.default_value);
  for (const auto& [name, value] : given) p.set(name, value);
  return p;
}

struct KernelCase {
  std::string method;
  int base = -1;  // index of the base among the inputs, -1: none
  std::vector<std::map<std::string, double>> per_input;  // one per input
  std::map<std::string, double> global;
};

void run_kernel(benchmark::State& state, const KernelCase& c) {
  const mf::MergeMethod& m = method(c.method);
  const std::vector<int64_t> shape = {state.range(0), state.range(1)};
  const size_t n = size_t(shape[0] * shape[1]);
  const size_t count = c.per_input.size();

  std::vector<std::vector<float>> pristine;
  const std::vector<float> base = mf::bench::bf16_weights(n, 10);
  for (size_t i = 0; i < count; ++i)
    pristine.push_back(
        int(i) == c.base ? base : mf::bench::bf16_fine_tune(base, 20 + i, 0.01f + 0.005f * i));

  std::vector<mf::Params> per;
  for (size_t i = 0; i < count; ++i) {
    std::vector<mf::ParamScope> scopes = {mf::ParamScope::PerModel};
    if (int(i) != c.base) scopes.push_back(mf::ParamScope::PerNonBase);
    per.push_back(resolve(m.info(), scopes, c.per_input[i]));
  }
  const mf::Params global = resolve(m.info(), {mf::ParamScope::Global}, c.global);
  m.check(global, per, c.base);

  std::vector<std::vector<float>> scratch = pristine;
  std::vector<float*> pointers;
  for (auto& s : scratch) pointers.push_back(s.data());
  std::vector<float> out(n);
  mf::MergeArgs<float> args;
  args.tensor_name = "model.layers.0.mlp.up_proj.weight";
  args.shape = shape;
  args.inputs = pointers;
  args.base = c.base;
  args.per_input = per;
  args.global = &global;
  args.seed = 1;
  args.out = out.data();

  for (auto _ : state) {
    state.PauseTiming();
    for (size_t i = 0; i < count; ++i)
      std::copy(pristine[i].begin(), pristine[i].end(), scratch[i].begin());
    state.ResumeTiming();
    m.merge(args);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(count * n * sizeof(float)));
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(n));
}

const std::map<std::string, KernelCase>& cases() {
  static const std::map<std::string, KernelCase> c = {
      {"linear", {"linear", -1, {{{"weight", 0.6}}, {{"weight", 0.4}}}, {}}},
      {"slerp", {"slerp", 0, {{}, {}}, {{"t", 0.5}}}},
      {"task_arithmetic",
       {"task_arithmetic", 0, {{}, {{"weight", 0.5}}, {{"weight", 0.3}}, {{"weight", 0.3}}}, {}}},
      {"ties",
       {"ties",
        0,
        {{},
         {{"weight", 0.5}, {"density", 0.5}},
         {{"weight", 0.3}, {"density", 0.5}},
         {{"weight", 0.3}, {"density", 0.7}}},
        {}}},
      {"dare_ties",
       {"dare_ties",
        0,
        {{},
         {{"weight", 0.5}, {"density", 0.5}},
         {{"weight", 0.3}, {"density", 0.5}},
         {{"weight", 0.3}, {"density", 0.7}}},
        {}}},
      {"della",
       {"della",
        0,
        {{},
         {{"weight", 0.5}, {"density", 0.5}, {"epsilon", 0.1}},
         {{"weight", 0.5}, {"density", 0.5}, {"epsilon", 0.1}}},
        {{"lambda", 1.0}}}},
      {"breadcrumbs",
       {"breadcrumbs",
        0,
        {{},
         {{"weight", 0.5}, {"density", 0.9}, {"gamma", 0.01}},
         {{"weight", 0.3}, {"density", 0.9}, {"gamma", 0.01}},
         {{"weight", 0.3}, {"density", 0.9}, {"gamma", 0.01}}},
        {}}},
  };
  return c;
}

void register_kernels() {
  for (const auto& [name, c] : cases()) {
    // A 2048 x 2048 attention projection and a 8192 x 2048 MLP matrix (Llama-3.2-1B shapes).
    benchmark::RegisterBenchmark(("BM_kernel/" + name).c_str(),
                                 [c = c](benchmark::State& s) { run_kernel(s, c); })
        ->Args({2048, 2048})
        ->Args({8192, 2048})
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
}

const bool registered = (register_kernels(), true);

}  // namespace
