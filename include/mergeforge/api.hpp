// mergeforge's engine as a library: load a recipe, plan it (every user error surfaces here, before
// a byte of weights is read), then merge the plan into an output directory or any tensor sink.
// The `mergeforge` command and the Python module are thin layers over these functions. The engine
// prints nothing: progress, warnings and notes reach the caller's event handler.
//
//   mf::MergeOptions options;
//   options.max_memory = 2ull << 30;
//   mf::Plan plan = mf::plan_recipe_file("recipe.yml", options);
//   mf::merge(plan, "out/", [](const mf::Event& e) { ... });
//
// Errors are mf::Error (mergeforge/error.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mergeforge/error.hpp"

namespace mf {

class ModelResolver;  // sources/model_resolver.hpp: recipe references -> model sources
class TensorSink;     // sinks/tensor_sink.hpp: where merged tensors go
struct MergePlan;     // plan/merge_plan.hpp
struct MergeConfig;   // config/merge_config.hpp

struct MergeOptions {
  // Planning.
  bool strict = false;                  // unknown recipe keys and undeclared parameters are errors
  std::optional<uint64_t> random_seed;  // random methods (dare, della); unset: 0
  bool allow_crimes = false;            // merge models of different architectures
  // Without a tokenizer section, cut vocabulary-indexed tensors to the smallest vocabulary.
  bool unsafe_truncate_embeddings = false;
  // Turns the recipe's model references into sources; null: local directories.
  std::shared_ptr<const ModelResolver> resolver;

  // Execution.
  int threads = 0;                            // 0: every core
  uint64_t max_memory = 1ull << 30;           // working-memory budget, checked while planning
  const std::atomic<bool>* cancel = nullptr;  // set it to stop a merge (Error Interrupted)

  // Output directory.
  uint64_t out_shard_size = 5'000'000'000;  // bytes of tensor data per shard
  bool copy_tokenizer = true;
  bool write_model_card = true;
  // Continue a merge an interruption left (same plan, same inputs) instead of starting over.
  bool resume = false;
};

struct Event {
  enum class Kind {
    Progress,  // a tensor finished
    Warning,   // something the user should look at (NaN in an input, a dropped token)
    Note,      // information (options accepted for compatibility, ...)
  };
  Kind kind = Kind::Note;
  std::string message;                         // Warning and Note
  size_t tensors_done = 0, tensors_total = 0;  // Progress
  uint64_t bytes_done = 0, bytes_total = 0;    // Progress: output bytes
};
// Called from worker threads; must be thread-safe and quick.
using EventHandler = std::function<void(const Event&)>;

// A checked plan: one job per output tensor, its inputs and parameters resolved, its memory
// checked against options.max_memory. Cheap to copy (shared, immutable).
class Plan {
 public:
  const MergeOptions& options() const { return options_; }
  // Human-readable: inputs, method, parameters, output tensors (every one with verbose).
  std::string describe(bool verbose) const;
  size_t tensor_count() const;
  uint64_t input_bytes() const;
  uint64_t output_bytes() const;
  // Warnings found while planning (also delivered as events by merge()).
  const std::vector<std::string>& warnings() const;
  // The engine's plan, for tools built on the engine's internal headers.
  const MergePlan& details() const { return *plan_; }

 private:
  friend Plan plan_recipe(const std::function<MergeConfig()>&, const std::string&,
                          const MergeOptions&);
  std::shared_ptr<const MergePlan> plan_;
  MergeOptions options_;
};

// Plans a recipe file, or recipe text whose errors name `label` as the file.
Plan plan_recipe_file(const std::string& path, const MergeOptions& options);
Plan plan_recipe_text(const std::string& yaml, const std::string& label,
                      const MergeOptions& options);

struct MergeResult {
  size_t tensors_written = 0;  // those a resumed merge found intact are not counted
  double seconds = 0;
};

// Merges into the directory `out_dir`, crash-safely: everything is written to a hidden sibling
// directory that replaces `out_dir` only when complete. An interrupted or failed merge (Error
// Interrupted or Io) keeps what it wrote for options.resume, and says where.
MergeResult merge(const Plan& plan, const std::string& out_dir, const EventHandler& events = {});
// Merges into `sink` (memory, a custom format). Jobs the sink already holds are skipped.
MergeResult merge_into(const Plan& plan, TensorSink& sink, const EventHandler& events = {});

// Parses a size as the command line takes it: an integer with an optional suffix. Binary
// (--max-memory: 512M, 2G, 1.5GiB = powers of 1024) or decimal (--out-shard-size: 5B, 500M =
// powers of 1000, as MergeKit). Throws Error(Usage) naming `option` for anything else, for zero
// or less, and past 2^63.
enum class SizeUnits { Binary, Decimal };
uint64_t parse_size(const std::string& text, SizeUnits units, const std::string& option);

}  // namespace mf
