// The options `merge` and `plan` share (mergekit-yaml's, plus mergeforge's own), as one group:
// `plan` accepts every option `merge` does and runs the same checks, so a recipe `plan` accepts
// does not fail `merge` on an option.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "mergeforge/api.hpp"

namespace mf::cli {

struct MergeOptionsCli {
  std::string recipe;
  std::string out_shard_size = "5B";
  std::string max_memory = "1G";
  std::string device = "cpu";
  bool cuda = false;
  bool copy_tokenizer = true;
  bool allow_crimes = false;
  bool unsafe_truncate_embeddings = false;
  bool lazy_unpickle = false;
  bool low_cpu_memory = false;
  bool write_model_card = true;
  bool trust_remote_code = false;
  bool clone_tensors = false;
  bool safe_serialization = true;
  bool async_write = false;
  bool multi_gpu = false;
  bool read_to_gpu = false;
  bool gpu_rich = false;
  bool strict = false;
  bool resume = false;
  bool quiet = false;
  int verbose = 0;
  int threads = 0;
  int write_threads = 1;
  int64_t random_seed = -1;
  std::string transformers_cache, lora_merge_cache, lora_merge_dtype;
};

void add_merge_options(CLI::App& cmd, MergeOptionsCli& o);
// The API's options; refuses what this engine cannot do (Unsupported) and bad sizes (Usage).
MergeOptions to_merge_options(const MergeOptionsCli& o);
// Notes (with -v) on options accepted for compatibility that change nothing here.
void print_compatibility_notes(const MergeOptionsCli& o);

}  // namespace mf::cli
