// The executor on small plans built from toy models: identical bytes for any thread count and
// memory budget (streamed merges included, whose chunk size follows the budget), a cancel flag that
// stops it with ErrorCode::Interrupted, a resumed merge that finishes an interrupted one byte for
// byte, the plan-time memory check, and NaN warnings from streamed inputs. scripts/tsan.sh runs
// these under ThreadSanitizer.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/statfs.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>

#include "core/error.hpp"
#include "exec/executor.hpp"
#include "exec/output_writer.hpp"
#include "io/mapped_file.hpp"
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
    o.drop_cache_every = 4096;  // dropped from the cache while other pieces are written
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

// The finished output leaves the page cache to the inputs; with drop_cache_every = 0 it stays
// (which also shows that mincore reports this file system's pages).
TEST_F(ExecutorTest, OutputLeavesThePageCacheOnceSynced) {
  MergePlan p = plan(kLinear);
  for (uint64_t step : {uint64_t(0), uint64_t(4096)}) {
    fs::path out = dir_ / ("step-" + std::to_string(step));
    OutputOptions options = small_shards();
    options.drop_cache_every = step;
    OutputWriter writer(p, out.string(), options);
    execute_plan(p, writer, ExecOptions{});
    writer.finish();
    struct statfs stat {};
    if (::statfs(out.c_str(), &stat) == 0 && stat.f_type == TMPFS_MAGIC)
      GTEST_SKIP() << "tmpfs keeps its pages";
    size_t shards = 0;
    for (const auto& entry : fs::directory_iterator(out)) {
      if (entry.path().extension() != ".safetensors") continue;
      ++shards;
      MappedFile file(entry.path().string());
      EXPECT_EQ(file.resident_fraction(0, file.bytes().size()), step == 0 ? 1.0 : 0.0)
          << entry.path() << " with drop_cache_every " << step;
    }
    EXPECT_GT(shards, 3u);
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

// Streamed merges (linear, ties, dare_ties): tensors split into chunks across the workers, with
// the chunk size picked from the memory budget. The models are wider (a q_proj of 9216 elements:
// nine chunks at the smallest chunk size) and their values lie on a coarse grid, so task vectors
// hold long runs of equal magnitudes that ties' cut splits across chunk boundaries.
class ExecutorStreamingTest : public ExecutorTest {
 protected:
  static constexpr int kHidden = 96, kVocab = 40, kLayers = 2;

  void SetUp() override {
    dir_ = testing::fresh_dir(std::string("streaming-") +
                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    write_grid_llama(dir_ / "base", 21, {});
    write_grid_llama(dir_ / "a", 22, {});
    write_grid_llama(dir_ / "b", 23, {});
  }

  // A Llama-shaped toy with values on a grid of 1/16 (the fine-tunes differ from each other by a
  // few grid steps, as they are drawn from the same few values, all exact in bf16); `nan_at` puts
  // NaN at those elements of layer 0's q_proj.
  static void write_grid_llama(const fs::path& dir, unsigned seed,
                               const std::vector<size_t>& nan_at, DType dtype = DType::F32) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> step(-6, 6);
    auto make = [&](std::string name, std::vector<int64_t> shape) {
      size_t n = 1;
      for (auto d : shape) n *= size_t(d);
      std::vector<float> v(n);
      for (size_t i = 0; i < n; ++i) v[i] = float(int(i % 7) - 3) / 4 + float(step(rng)) / 16;
      return testing::FixtureTensor{std::move(name), std::move(shape), std::move(v)};
    };
    std::vector<testing::FixtureTensor> t;
    t.push_back(make("model.embed_tokens.weight", {kVocab, kHidden}));
    for (int l = 0; l < kLayers; ++l) {
      const std::string prefix = "model.layers." + std::to_string(l);
      t.push_back(make(prefix + ".self_attn.q_proj.weight", {kHidden, kHidden}));
      if (l == 0)
        for (size_t at : nan_at) t.back().values.at(at) = std::numeric_limits<float>::quiet_NaN();
      t.push_back(make(prefix + ".input_layernorm.weight", {kHidden}));
    }
    t.push_back(make("model.norm.weight", {kHidden}));
    t.push_back(make("lm_head.weight", {kVocab, kHidden}));
    nlohmann::json config = {{"model_type", "llama"},        {"num_hidden_layers", kLayers},
                             {"hidden_size", kHidden},       {"vocab_size", kVocab},
                             {"tie_word_embeddings", false}, {"torch_dtype", "float32"}};
    testing::write_model(dir, config, t, dtype);
  }
};

constexpr const char* kTies = R"(
merge_method: ties
base_model: $D/base
models:
  - model: $D/a
    parameters: {weight: 0.7, density: 0.4}
  - model: $D/b
    parameters: {weight: 0.5, density: 0.65}
dtype: float32
)";

constexpr const char* kTiesRescaled = R"(
merge_method: ties
base_model: $D/base
models:
  - model: $D/a
    parameters: {weight: 0.7, density: 0.3}
  - model: $D/b
    parameters: {weight: 0.5, density: 0.55}
parameters: {rescale: true}
dtype: float32
out_dtype: bfloat16
)";

TEST_F(ExecutorStreamingTest, SameBytesForAnyBudgetAndThreadCount) {
  for (const char* recipe : {kTies, kTiesRescaled, kLinear, kDareTies}) {
    MergePlan p = plan(recipe);
    ASSERT_TRUE(p.method->streams()) << p.method->info().name;
    const DirBytes expected = merge(p, "default-j1", 1, 1ull << 30);
    EXPECT_TRUE(same_files(merge(p, "default-j2", 2, 1ull << 30), expected))
        << p.method->info().name;
    // 256 KiB: larger chunks on one thread than on two; 64 KiB: the smallest chunks.
    for (uint64_t budget : {uint64_t(256) << 10, uint64_t(64) << 10}) {
      for (int threads : {1, 2}) {
        const std::string run =
            "budget" + std::to_string(budget >> 10) + "k-j" + std::to_string(threads);
        EXPECT_TRUE(same_files(merge(p, run, threads, budget), expected))
            << p.method->info().name << " " << run;
      }
    }
  }
}

// The sparsifier really decides something here: the merge at density 1 is another file.
TEST_F(ExecutorStreamingTest, TiesMasksChangeTheOutput) {
  std::string dense = kTies;
  for (const char* d : {"density: 0.4", "density: 0.65"})
    dense.replace(dense.find(d), std::string(d).size(), "density: 1.0");
  EXPECT_FALSE(same_files(merge(plan(kTies), "sparse", 2, 64 << 10),
                          merge(plan(dense), "dense", 2, 64 << 10)));
}

TEST_F(ExecutorStreamingTest, MemoryCheckRefusesAWholeTensorMethodOverBudget) {
  constexpr const char* kKarcher = R"(
merge_method: karcher
models:
  - model: $D/a
  - model: $D/b
dtype: float32
)";
  constexpr const char* kModelStock = R"(
merge_method: model_stock
base_model: $D/base
models:
  - model: $D/a
  - model: $D/b
dtype: float32
)";
  for (const char* recipe : {kKarcher, kModelStock}) {
    MergePlan p = plan(recipe);
    ASSERT_FALSE(p.method->streams()) << p.method->info().name;
    ExecOptions exec;
    exec.threads = 2;
    exec.max_memory = 128 << 10;
    // The first tensor (in plan order) whose whole-tensor working memory exceeds the budget.
    std::string over;
    for (const MergeJob& job : p.jobs)
      if (job.kind != JobKind::Copy && job.working_bytes() > exec.max_memory) {
        over = job.output_name;
        break;
      }
    ASSERT_FALSE(over.empty()) << "the q_proj of 9216 elements needs more than 128 KiB whole";
    try {
      check_memory_budget(p, exec);
      FAIL() << p.method->info().name << " cannot fit in 128 KiB";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::OverBudget) << e.what();
      const std::string message = e.what();
      EXPECT_NE(message.find("`" + over + "`"), std::string::npos) << message;
      EXPECT_NE(message.find("--max-memory"), std::string::npos) << message;
    }
    // With room for every job it passes.
    uint64_t largest = 0;
    for (const MergeJob& job : p.jobs) largest = std::max(largest, job.working_bytes());
    exec.max_memory = largest;
    EXPECT_NO_THROW(check_memory_budget(p, exec)) << p.method->info().name;
    exec.max_memory = largest - 1;
    EXPECT_THROW(check_memory_budget(p, exec), Error) << p.method->info().name;
  }

  // A streaming method with the same budget streams in small chunks instead.
  for (const char* recipe : {kLinear, kTies}) {
    MergePlan p = plan(recipe);
    ASSERT_TRUE(p.method->streams());
    for (int threads : {1, 2}) {
      ExecOptions exec;
      exec.threads = threads;
      exec.max_memory = 128 << 10;
      uint64_t largest = 0;
      for (const MergeJob& job : p.jobs) largest = std::max(largest, job.working_bytes());
      ASSERT_GT(largest, exec.max_memory) << "the budget must be smaller than a whole job";
      EXPECT_NO_THROW(check_memory_budget(p, exec)) << p.method->info().name;
      // Streamed jobs are checked too: a budget below even the smallest chunks is refused.
      exec.max_memory = 4 << 10;
      try {
        check_memory_budget(p, exec);
        FAIL() << p.method->info().name << " cannot stream in 4 KiB";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::OverBudget) << e.what();
        bool names_a_tensor = false;
        for (const MergeJob& job : p.jobs)
          names_a_tensor |=
              std::string(e.what()).find("`" + job.output_name + "`") != std::string::npos;
        EXPECT_TRUE(names_a_tensor) << e.what();
      }
    }
  }
}

// The task-arithmetic family reads bf16 fine-tunes and base as stored, the conversion fused into
// the delta (TensorStream::allow_stored), and must write what float32 copies of the same values
// give, also when only some inputs are bf16.
TEST_F(ExecutorStreamingTest, Bf16InputsMergeLikeTheirFloat32Copies) {
  const std::string linear = std::string(kLinear) + "dtype: float32\nout_dtype: bfloat16\n";
  std::vector<DirBytes> expected;
  const std::vector<const char*> recipes = {kTies, kTiesRescaled, kDareTies, linear.c_str()};
  for (size_t r = 0; r < recipes.size(); ++r)
    expected.push_back(merge(plan(recipes[r]), "f32-" + std::to_string(r), 2, 64 << 10));
  write_grid_llama(dir_ / "base", 21, {}, DType::BF16);
  write_grid_llama(dir_ / "a", 22, {}, DType::BF16);
  write_grid_llama(dir_ / "b", 23, {}, DType::BF16);
  for (size_t r = 0; r < recipes.size(); ++r)
    EXPECT_TRUE(
        same_files(merge(plan(recipes[r]), "bf16-" + std::to_string(r), 2, 64 << 10), expected[r]))
        << recipes[r];
  write_grid_llama(dir_ / "b", 23, {}, DType::F32);  // a float32 fine-tune over a bf16 base
  for (size_t r = 0; r < recipes.size(); ++r)
    EXPECT_TRUE(
        same_files(merge(plan(recipes[r]), "mixed-" + std::to_string(r), 2, 64 << 10), expected[r]))
        << recipes[r];
}

TEST_F(ExecutorStreamingTest, NanInAStreamedInputIsReportedOnce) {
  // Three NaN in different chunks of a.q_proj (chunks of 1024 elements at 64 KiB), in a float32
  // file and in a bf16 one (read as stored by ties and dare_ties).
  const std::string tensor = "model.layers.0.self_attn.q_proj.weight";
  for (DType dtype : {DType::F32, DType::BF16}) {
    write_grid_llama(dir_ / "a", 22, {5, 4000, 9215}, dtype);
    for (const char* recipe : {kLinear, kTies, kDareTies}) {
      MergePlan p = plan(recipe);
      for (uint64_t budget : {uint64_t(1) << 30, uint64_t(64) << 10}) {
        for (int threads : {1, 2}) {
          std::mutex mutex;
          std::vector<std::string> warnings;
          fs::path out = dir_ / ("nan-" + std::to_string(budget) + "-" + std::to_string(threads)) /
                         p.method->info().name;
          OutputWriter writer(p, out.string(), small_shards());
          ExecOptions exec;
          exec.threads = threads;
          exec.max_memory = budget;
          exec.on_warning = [&](const std::string& w) {
            std::lock_guard lock(mutex);
            warnings.push_back(w);
          };
          execute_plan(p, writer, exec);
          writer.finish();
          ASSERT_EQ(warnings.size(), 1u) << p.method->info().name << ": one tensor holds NaN";
          const std::string& w = warnings.front();
          EXPECT_NE(w.find("`" + tensor + "`"), std::string::npos) << w;
          EXPECT_NE(w.find((dir_ / "a").string()), std::string::npos) << w;
          EXPECT_NE(w.find(" 3 NaN"), std::string::npos)
              << p.method->info().name << ": counted once, not once per pass: " << w;
        }
      }
    }
  }
}

}  // namespace
}  // namespace mf
