// A method declares the scratch memory its whole-tensor kernel allocates (MergeMethod::
// scratch_bytes), and the plan-time budget check and the executor's admission count it.
#include <gtest/gtest.h>

#include <filesystem>

#include "config/merge_config.hpp"
#include "core/error.hpp"
#include "exec/executor.hpp"
#include "model_fixture.hpp"
#include "plan/merge_plan.hpp"

namespace mf {
namespace {

namespace fs = std::filesystem;

// The mean of its inputs, declaring `per_element` bytes of scratch per element of the tensor.
class Scratchy : public MethodWithKernel<Scratchy> {
 public:
  explicit Scratchy(uint64_t per_element) : per_element_(per_element) {}
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "scratchy";
      m.summary = "test";
      m.base = BaseRole::Input;
      m.min_models = 1;
      m.max_models = -1;
      m.partial = PartialInputs::MergePresent;
      return m;
    }();
    return info;
  }
  uint64_t scratch_bytes(std::span<const int64_t> shape, size_t inputs,
                         size_t value_bytes) const override {
    uint64_t n = 1;
    for (int64_t d : shape) n *= uint64_t(d);
    return n * per_element_;
  }
  template <class T>
  void run(const MergeArgs<T>& args) const {
    for (size_t e = 0; e < args.numel(); ++e) {
      T sum = 0;
      for (const T* x : args.inputs) sum += x[e];
      args.out[e] = sum / T(args.inputs.size());
    }
  }

 private:
  uint64_t per_element_;
};

TEST(MethodMemory, TheBudgetCountsAMethodsScratch) {
  const fs::path dir = testing::fresh_dir("method-memory");
  testing::write_toy_llama(dir / "a", 1, 1, true, /*hidden=*/64, /*vocab=*/16);
  testing::write_toy_llama(dir / "b", 1, 2, true, 64, 16);
  const std::string yaml = fmt::format(
      "merge_method: scratchy\nmodels:\n  - model: {0}/a\n  - model: {0}/b\n", dir.string());
  auto plan_with = [&](uint64_t per_element) {
    MethodRegistry registry;
    registry.add(std::make_shared<Scratchy>(per_element));
    return make_plan(parse_recipe(yaml, "r.yml"), registry, PlanOptions{});
  };
  // q_proj is 64x64 float: inputs and output 3 x 16 KiB in float32, plus the output bytes.
  ExecOptions exec;
  exec.threads = 1;
  exec.max_memory = 100 << 10;
  const MergePlan lean = plan_with(0);
  EXPECT_NO_THROW(check_memory_budget(lean, exec));
  const MergePlan hungry = plan_with(64);  // 256 KiB of scratch for q_proj
  uint64_t largest = 0;
  for (const MergeJob& job : hungry.jobs) largest = std::max(largest, job.method_scratch_bytes);
  EXPECT_EQ(largest, 64u * 64u * 64u);
  try {
    check_memory_budget(hungry, exec);
    ADD_FAILURE() << "a method's 256 KiB of scratch fit a 100 KiB budget";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::OverBudget);
    EXPECT_NE(std::string(e.what()).find("q_proj"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mf
