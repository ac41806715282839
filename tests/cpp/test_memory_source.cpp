// Models in memory go through the same planner and executor as directories: a MemorySource
// copied from a toy model directory, named in the recipe through the resolver, merges to the same
// bytes as the directory itself, whether the engine reads its stored bytes directly or decodes
// every chunk through read() (as for a format without addressable bytes).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "config/merge_config.hpp"
#include "core/error.hpp"
#include "exec/executor.hpp"
#include "model_fixture.hpp"
#include "plan/merge_plan.hpp"
#include "sinks/memory_sink.hpp"
#include "sources/memory_source.hpp"
#include "sources/safetensors_dir_source.hpp"

namespace mf {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<MemorySource> copy_to_memory(const std::string& dir, bool hide_stored) {
  auto disk = SafetensorsDirSource::open(dir);
  auto memory = std::make_shared<MemorySource>("memory copy of " + dir, disk->config());
  for (const std::string& name : disk->tensor_names()) {
    const TensorInfo& t = *disk->find(name);
    auto bytes = disk->stored_bytes(t);
    memory->add_tensor(name, t.dtype, t.shape, std::vector<uint8_t>(bytes.begin(), bytes.end()));
  }
  memory->hide_stored_bytes(hide_stored);
  return memory;
}

class MemorySourceTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = testing::fresh_dir("memory-source");
    testing::write_toy_llama(dir_ / "base", 3, 21, true, /*hidden=*/48, /*vocab=*/40);
    testing::write_toy_llama(dir_ / "a", 3, 22, true, 48, 40);
    testing::write_toy_llama(dir_ / "b", 3, 23, true, 48, 40);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string recipe(const std::string& prefix) const {
    const std::string method = GetParam();
    return fmt::format(R"(merge_method: {}
base_model: {}base
models:
  - model: {}a
    parameters: {{weight: 0.7, density: 0.6}}
  - model: {}b
    parameters: {{weight: 0.4, density: 0.5}}
parameters: {{weight: 0.2}}
dtype: bfloat16
)",
                       method, prefix, prefix, prefix);
  }

  // Every output tensor's bytes, in plan order.
  std::vector<std::vector<uint8_t>> merge(const std::string& yaml, PlanOptions options) {
    options.random_seed = 7;
    MergePlan plan = make_plan(parse_recipe(yaml, "r.yml"), MethodRegistry::builtin(), options);
    std::vector<uint64_t> sizes;
    for (const MergeJob& job : plan.jobs) sizes.push_back(job.output_bytes());
    MemorySink sink(sizes);
    ExecOptions exec;
    exec.threads = 2;
    execute_plan(plan, sink, exec);
    std::vector<std::vector<uint8_t>> out;
    for (size_t j = 0; j < plan.jobs.size(); ++j) out.push_back(sink.tensor(j));
    return out;
  }

  fs::path dir_;
};

TEST_P(MemorySourceTest, MergesLikeTheDirectoryItCopies) {
  const auto from_disk = merge(recipe(dir_.string() + "/"), PlanOptions{});
  for (bool hide : {false, true}) {
    auto resolver = std::make_shared<LocalModelResolver>();
    for (const char* name : {"base", "a", "b"})
      resolver->add(std::string("mem/") + name,
                    copy_to_memory((dir_ / name).string(), /*hide_stored=*/hide));
    PlanOptions options;
    options.resolver = resolver;
    const auto from_memory = merge(recipe("mem/"), options);
    ASSERT_EQ(from_memory.size(), from_disk.size());
    for (size_t j = 0; j < from_disk.size(); ++j)
      EXPECT_EQ(from_memory[j], from_disk[j]) << "job " << j << (hide ? " (read())" : "");
  }
}

// linear and the task-arithmetic family stream (and read bf16 as stored when they can); karcher
// merges whole tensors.
INSTANTIATE_TEST_SUITE_P(Methods, MemorySourceTest,
                         ::testing::Values("linear", "ties", "dare_ties", "karcher"));

TEST(MemorySource, DecodesRangesAndRefusesReadsPastTheEnd) {
  MemorySource m("m");
  m.add_tensor("w", DType::BF16, {2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6.5f});
  const TensorInfo& w = *m.find("w");
  float got[3];
  m.read(w, 2, 3, got);
  EXPECT_EQ(got[0], 3);
  EXPECT_EQ(got[1], 4);
  EXPECT_EQ(got[2], 5);
  double last;
  m.read(w, 5, 1, &last);
  EXPECT_EQ(last, 6.5);
  EXPECT_THROW(m.read(w, 4, 3, got), Error);
  EXPECT_THROW(m.add_tensor("x", DType::F32, {2}, std::vector<uint8_t>(7)), Error);
  EXPECT_EQ(m.side_file("tokenizer.json"), std::nullopt);
  m.set_side_file("tokenizer.json", "{}");
  EXPECT_EQ(m.side_file("tokenizer.json"), "{}");
}

TEST(MemorySource, IdentityChangesWithTheContent) {
  MemorySource m("m");
  m.add_tensor("w", DType::F32, {2}, std::vector<float>{1, 2});
  const std::string before = m.identity();
  m.add_tensor("w", DType::F32, {2}, std::vector<float>{1, 3});
  EXPECT_NE(m.identity(), before);
}

TEST(MemorySink, RefusesAnUnfinishedOrOverrunTensor) {
  MemorySink sink({4, 2});
  const uint8_t bytes[4] = {1, 2, 3, 4};
  sink.write_piece(0, 0, std::span<const uint8_t>(bytes, 2));
  EXPECT_THROW(sink.finish_tensor(0), Error);
  EXPECT_THROW(sink.tensor(0), Error);
  EXPECT_THROW(sink.write_piece(1, 1, std::span<const uint8_t>(bytes, 2)), Error);
  sink.write_piece(0, 2, std::span<const uint8_t>(bytes + 2, 2));
  sink.finish_tensor(0);
  EXPECT_EQ(sink.tensor(0), (std::vector<uint8_t>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace mf
