// The executor on small plans built from toy models: identical bytes for any thread count and
// memory budget, a cancel flag that stops it with ErrorCode::Interrupted, and a resumed merge that
// finishes an interrupted one byte for byte. scripts/tsan.sh runs these under ThreadSanitizer.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "core/error.hpp"
#include "exec/executor.hpp"
#include "exec/output_writer.hpp"
#include "model_fixture.hpp"
#include "plan/merge_plan.hpp"

namespace mf {
namespace {

namespace fs = std::filesystem;

using DirBytes = std::map<std::string, std::string>;  // file name -> contents

// Names the files that differ (the bytes themselves would flood the output).
::testing::AssertionResult same_files(const DirBytes& a, const DirBytes& b) {
  std::string diff;
  for (const auto& [name, bytes] : a) {
    auto it = b.find(name);
    if (it == b.end())
      diff += " " + name + " (only in the first)";
    else if (it->second != bytes)
      diff += " " + name + " (contents differ)";
  }
  for (const auto& [name, bytes] : b)
    if (!a.count(name)) diff += " " + name + " (only in the second)";
  if (diff.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "outputs differ:" << diff;
}

DirBytes read_dir(const fs::path& dir) {
  DirBytes files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    files[entry.path().filename().string()] = buffer.str();
  }
  return files;
}

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::fresh_dir(std::string("executor-") +
                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    // Wide enough that tensors span several pages and shards; 6 layers give 15 jobs.
    testing::write_toy_llama(dir_ / "base", 6, 11, true, /*hidden=*/48, /*vocab=*/40);
    testing::write_toy_llama(dir_ / "a", 6, 12, true, 48, 40);
    testing::write_toy_llama(dir_ / "b", 6, 13, true, 48, 40);
  }
  void TearDown() override { fs::remove_all(dir_); }

  MergePlan plan(const std::string& yaml) {
    std::string text = yaml;
    for (size_t at; (at = text.find("$D")) != std::string::npos;)
      text.replace(at, 2, dir_.string());
    PlanOptions options;
    options.random_seed = 1234;
    return make_plan(parse_recipe(text, "r.yml"), registry_, options);
  }

  static OutputOptions small_shards(bool resume = false) {
    OutputOptions o;
    o.max_shard_bytes = 20'000;  // several shards, written concurrently
    o.resume = resume;
    return o;
  }

  // Runs the plan to completion into `run`/out and returns the files written.
  DirBytes merge(const MergePlan& p, const std::string& run, int threads, uint64_t max_memory) {
    fs::path out = dir_ / run / "out";
    OutputWriter writer(p, out.string(), small_shards());
    ExecOptions exec;
    exec.threads = threads;
    exec.max_memory = max_memory;
    execute_plan(p, writer, exec);
    writer.finish();
    return read_dir(out);
  }

  // The plan points into the registry: it must outlive every plan.
  const MethodRegistry registry_ = MethodRegistry::builtin();
  fs::path dir_;
};

constexpr const char* kDareTies = R"(
merge_method: dare_ties
base_model: $D/base
models:
  - model: $D/a
    parameters: {weight: [0.3, 0.9], density: 0.6}
  - model: $D/b
    parameters: {weight: 0.5, density: [{filter: self_attn, value: 0.4}, {value: 0.8}]}
dtype: float32
out_dtype: bfloat16
)";

constexpr const char* kLinear = R"(
merge_method: linear
models:
  - model: $D/a
    parameters: {weight: 0.25}
  - model: $D/b
    parameters: {weight: 0.75}
)";

TEST_F(ExecutorTest, SameBytesForAnyThreadCountAndBudget) {
  for (const char* recipe : {kDareTies, kLinear}) {
    MergePlan p = plan(recipe);
    ASSERT_GE(p.jobs.size(), 15u);
    DirBytes one = merge(p, "j1", 1, 1ull << 30);
    DirBytes four = merge(p, "j4", 4, 1ull << 30);
    DirBytes tiny = merge(p, "j4-tiny", 4, 1);  // every job over the budget: they run one at a time
    DirBytes small = merge(p, "j3-small", 3, p.jobs.front().working_bytes() * 2);
    EXPECT_GT(one.size(), 3u) << "expected several shards";
    EXPECT_TRUE(same_files(one, four));
    EXPECT_TRUE(same_files(one, tiny));
    EXPECT_TRUE(same_files(one, small));
  }
}

TEST_F(ExecutorTest, ReportsProgressForEveryJob) {
  MergePlan p = plan(kDareTies);
  OutputWriter writer(p, (dir_ / "out").string(), small_shards());
  std::atomic<size_t> calls{0}, last_done{0};
  std::atomic<uint64_t> max_bytes{0};
  ExecOptions exec;
  exec.threads = 4;
  exec.on_progress = [&](size_t done, uint64_t bytes) {
    ++calls;
    size_t prev = last_done.load();
    while (done > prev && !last_done.compare_exchange_weak(prev, done)) {
    }
    uint64_t mb = max_bytes.load();
    while (bytes > mb && !max_bytes.compare_exchange_weak(mb, bytes)) {
    }
  };
  execute_plan(p, writer, exec);
  EXPECT_EQ(calls.load(), p.jobs.size());
  EXPECT_EQ(last_done.load(), p.jobs.size());
  EXPECT_EQ(max_bytes.load(), p.output_bytes());
}

TEST_F(ExecutorTest, CancelFlagStopsWithInterrupted) {
  MergePlan p = plan(kLinear);
  OutputWriter writer(p, (dir_ / "out").string(), small_shards());
  std::atomic<bool> cancel{true};
  std::atomic<size_t> ran{0};
  ExecOptions exec;
  exec.threads = 4;
  exec.cancel = &cancel;
  exec.on_progress = [&](size_t, uint64_t) { ++ran; };
  try {
    execute_plan(p, writer, exec);
    FAIL() << "a set cancel flag must stop the merge";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Interrupted) << e.what();
  }
  EXPECT_EQ(ran.load(), 0u);
}

TEST_F(ExecutorTest, ResumeAfterCancelGivesTheSameBytes) {
  MergePlan p = plan(kDareTies);
  DirBytes expected = merge(p, "whole", 2, 1ull << 30);

  for (int threads : {1, 4}) {
    std::string run = "resumed-j" + std::to_string(threads);
    fs::path out = dir_ / run / "out";
    std::atomic<bool> cancel{false};
    std::atomic<size_t> completed{0};
    {
      OutputWriter writer(p, out.string(), small_shards());
      ExecOptions exec;
      exec.threads = threads;
      exec.cancel = &cancel;
      exec.on_progress = [&](size_t done, uint64_t) {
        completed = done;
        if (done >= 5) cancel = true;  // as the signal handler does, partway through
      };
      try {
        execute_plan(p, writer, exec);
        FAIL() << "the cancel flag was set after 5 jobs";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::Interrupted) << e.what();
      }
      writer.keep_partial();
      EXPECT_TRUE(fs::is_directory(writer.temp_dir()));
    }
    EXPECT_FALSE(fs::exists(out)) << "an interrupted merge must not look complete";
    ASSERT_LT(completed.load(), p.jobs.size());

    OutputWriter resumed(p, out.string(), small_shards(/*resume=*/true));
    size_t kept = 0;
    for (bool done : resumed.jobs_done()) kept += done;
    EXPECT_GE(kept, 5u);
    EXPECT_LT(kept, p.jobs.size());
    std::atomic<size_t> rerun{0};
    ExecOptions exec;
    exec.threads = threads;
    exec.on_progress = [&](size_t, uint64_t) { ++rerun; };
    execute_plan(p, resumed, exec);
    EXPECT_EQ(rerun.load(), p.jobs.size() - kept) << "only the missing tensors are computed again";
    resumed.finish();
    EXPECT_TRUE(same_files(read_dir(out), expected));
    EXPECT_FALSE(fs::exists(resumed.temp_dir()));
  }
}

TEST_F(ExecutorTest, ResumeRedoesATensorWhoseBytesWereDamaged) {
  MergePlan p = plan(kLinear);
  DirBytes expected = merge(p, "whole", 1, 1ull << 30);
  fs::path out = dir_ / "damaged" / "out";
  std::string temp;
  {
    OutputWriter writer(p, out.string(), small_shards());
    std::atomic<bool> cancel{false};
    ExecOptions exec;
    exec.threads = 1;
    exec.cancel = &cancel;
    exec.on_progress = [&](size_t done, uint64_t) { cancel = done >= 3; };
    EXPECT_THROW(execute_plan(p, writer, exec), Error);
    writer.keep_partial();
    temp = writer.temp_dir();
  }
  // Flip bytes of the first tensor's data (past the header) of the first shard: its checksum no
  // longer holds.
  std::vector<fs::path> shards;
  for (const auto& e : fs::directory_iterator(temp))
    if (e.path().extension() == ".safetensors") shards.push_back(e.path());
  std::sort(shards.begin(), shards.end());
  ASSERT_FALSE(shards.empty());
  {
    std::fstream f(shards.front(), std::ios::in | std::ios::out | std::ios::binary);
    char len[8];
    f.read(len, 8);
    uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = (header << 8) | uint8_t(len[i]);
    f.seekp(std::streamoff(8 + header));
    f.write("\x7f\x7f\x7f\x7f", 4);
  }
  OutputWriter resumed(p, out.string(), small_shards(/*resume=*/true));
  EXPECT_FALSE(resumed.jobs_done()[0]) << "a tensor whose checksum fails is computed again";
  ExecOptions exec;
  exec.threads = 2;
  execute_plan(p, resumed, exec);
  resumed.finish();
  EXPECT_TRUE(same_files(read_dir(out), expected));
}

}  // namespace
}  // namespace mf
