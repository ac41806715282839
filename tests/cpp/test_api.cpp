// The public API: sizes parsed as integers with range checks, errors that carry their place as
// fields, planning that makes the memory check, and a merge into a sink with events.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>

#include "mergeforge/api.hpp"
#include "model_fixture.hpp"
#include "plan/merge_plan.hpp"
#include "sinks/memory_sink.hpp"
#include "sources/memory_source.hpp"
#include "sources/model_resolver.hpp"

namespace mf {
namespace {

namespace fs = std::filesystem;

TEST(ParseSize, BinaryUnits) {
  EXPECT_EQ(parse_size("512M", SizeUnits::Binary, "--max-memory"), uint64_t(512) << 20);
  EXPECT_EQ(parse_size("2G", SizeUnits::Binary, "--max-memory"), uint64_t(2) << 30);
  EXPECT_EQ(parse_size("1.5GiB", SizeUnits::Binary, "--max-memory"), uint64_t(3) << 29);
  EXPECT_EQ(parse_size("4096", SizeUnits::Binary, "--max-memory"), 4096u);
  EXPECT_EQ(parse_size("4096B", SizeUnits::Binary, "--max-memory"), 4096u);
  EXPECT_EQ(parse_size("1t", SizeUnits::Binary, "--max-memory"), uint64_t(1) << 40);
  EXPECT_EQ(parse_size("9223372036854775808", SizeUnits::Binary, "x"), uint64_t(1) << 63);
}

TEST(ParseSize, DecimalUnitsAreMergeKits) {
  EXPECT_EQ(parse_size("5B", SizeUnits::Decimal, "--out-shard-size"), 5'000'000'000u);
  EXPECT_EQ(parse_size("500M", SizeUnits::Decimal, "--out-shard-size"), 500'000'000u);
  EXPECT_EQ(parse_size("2k", SizeUnits::Decimal, "--out-shard-size"), 2'000u);
  EXPECT_EQ(parse_size("1.25k", SizeUnits::Decimal, "--out-shard-size"), 1'250u);
  EXPECT_EQ(parse_size("20000", SizeUnits::Decimal, "--out-shard-size"), 20'000u);
}

TEST(ParseSize, RefusesWhatIsNotAPositiveIntegerSize) {
  for (const char* text : {"inf", "nan", "1e30", "-1", "0", "", "G", "1.", ".", "1GG", "1 G",
                           "9223372036854775809", "99999999999T", "1e3", "0x10", "+5"}) {
    for (SizeUnits units : {SizeUnits::Binary, SizeUnits::Decimal}) {
      try {
        parse_size(text, units, "--opt");
        ADD_FAILURE() << "accepted `" << text << "`";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::Usage) << text;
        EXPECT_NE(std::string(e.what()).find("--opt"), std::string::npos) << e.what();
      }
    }
  }
  // "1." has no digits after the point, but "1.0" is a size.
  EXPECT_EQ(parse_size("1.0M", SizeUnits::Binary, "x"), uint64_t(1) << 20);
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::fresh_dir("api");
    testing::write_toy_llama(dir_ / "a", 2, 31, true, /*hidden=*/16, /*vocab=*/20);
    testing::write_toy_llama(dir_ / "b", 2, 32, true, 16, 20);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string recipe() const {
    return fmt::format(
        "merge_method: linear\nmodels:\n  - model: {0}/a\n    parameters: {{weight: 0.25}}\n"
        "  - model: {0}/b\n    parameters: {{weight: 0.75}}\n",
        dir_.string());
  }
  fs::path dir_;
};

TEST_F(ApiTest, RecipeErrorsCarryTheirPlaceAsFields) {
  const std::string yaml = recipe() + "dtype: float17\n";
  try {
    plan_recipe_text(yaml, "my.yml", MergeOptions{});
    FAIL() << "an unknown dtype was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidConfig);
    EXPECT_EQ(e.context().file, "my.yml");
    EXPECT_EQ(e.context().line, 7) << e.what();
    EXPECT_EQ(e.context().column, 8) << e.what();
  }
}

TEST_F(ApiTest, PlanningChecksTheMemoryBudget) {
  MergeOptions options;
  options.max_memory = 64;
  try {
    plan_recipe_text(recipe(), "r.yml", options);
    FAIL() << "a 64-byte budget was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::OverBudget) << e.what();
  }
}

TEST_F(ApiTest, MergesIntoASinkWithProgressEvents) {
  const Plan plan = plan_recipe_text(recipe(), "r.yml", MergeOptions{});
  std::vector<uint64_t> sizes;
  for (const MergeJob& job : plan.details().jobs) sizes.push_back(job.output_bytes());
  MemorySink sink(sizes);
  std::atomic<size_t> progress{0}, last_done{0};
  const MergeResult r = merge_into(plan, sink, [&](const Event& e) {
    if (e.kind != Event::Kind::Progress) return;
    ++progress;
    EXPECT_EQ(e.tensors_total, plan.tensor_count());
    EXPECT_LE(e.bytes_done, e.bytes_total);
    last_done = std::max<size_t>(last_done, e.tensors_done);
  });
  EXPECT_EQ(r.tensors_written, plan.tensor_count());
  EXPECT_EQ(progress.load(), plan.tensor_count());
  EXPECT_EQ(last_done.load(), plan.tensor_count());
  // 0.25 a + 0.75 b, element by element, on a float32 tensor of the toy models.
  const MergePlan& p = plan.details();
  for (size_t j = 0; j < p.jobs.size(); ++j) {
    const MergeJob& job = p.jobs[j];
    if (job.out_dtype != DType::F32) continue;
    const ModelSource& a = *p.models[job.inputs[0].model].source;
    const ModelSource& b = *p.models[job.inputs[1].model].source;
    std::vector<float> va(job.numel()), vb(job.numel()), out(job.numel());
    a.read(*a.find(job.inputs[0].tensor), 0, job.numel(), va.data());
    b.read(*b.find(job.inputs[1].tensor), 0, job.numel(), vb.data());
    std::memcpy(out.data(), sink.tensor(j).data(), out.size() * 4);
    for (size_t i = 0; i < out.size(); ++i)
      ASSERT_NEAR(out[i], 0.25f * va[i] + 0.75f * vb[i], 1e-6f)
          << job.output_name << "[" << i << "]";
  }
}

TEST_F(ApiTest, ACancelledMergeIsInterrupted) {
  std::atomic<bool> cancel{true};
  MergeOptions options;
  options.cancel = &cancel;
  const Plan plan = plan_recipe_text(recipe(), "r.yml", options);
  try {
    merge(plan, (dir_ / "out").string());
    FAIL() << "a cancelled merge finished";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Interrupted);
  }
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

TEST(ApiErrors, AnErrorWhileMergingNamesItsTensorAsAField) {
  // Integer tensors are copied, and must agree between the inputs: these do not.
  auto resolver = std::make_shared<LocalModelResolver>();
  for (int m = 0; m < 2; ++m) {
    auto source = std::make_shared<MemorySource>(
        "m" + std::to_string(m), nlohmann::json{{"architectures", {"LlamaForCausalLM"}}});
    source->add_tensor("model.norm.weight", DType::F32, {2}, std::vector<float>{1, 2});
    source->add_tensor("model.step", DType::I32, {1}, std::vector<uint8_t>{uint8_t(m), 0, 0, 0});
    resolver->add("m" + std::to_string(m), source);
  }
  MergeOptions options;
  options.resolver = resolver;
  const Plan plan = plan_recipe_text(
      "merge_method: linear\nmodels:\n  - model: m0\n    parameters: {weight: 1}\n"
      "  - model: m1\n    parameters: {weight: 1}\n",
      "r.yml", options);
  std::vector<uint64_t> sizes;
  for (const MergeJob& job : plan.details().jobs) sizes.push_back(job.output_bytes());
  MemorySink sink(sizes);
  try {
    merge_into(plan, sink);
    FAIL() << "differing integer tensors were merged";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidFile) << e.what();
    EXPECT_EQ(e.context().tensor, "model.step") << e.what();
  }
}

}  // namespace
}  // namespace mf
