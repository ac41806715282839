// The merge's output: a SafetensorsSink (sinks/safetensors_sink.hpp) set up from a MergePlan. What
// the sink needs from the plan (the output tensors' names, dtypes and shapes, the resume
// fingerprint, config.json, the tokenizer files, the model card and the recipe) is derived here, so
// the sinks library does not depend on the planner.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "plan/merge_plan.hpp"
#include "sinks/safetensors_sink.hpp"

namespace mf {

struct OutputOptions {
  int64_t max_shard_bytes = 5'000'000'000;  // <= 0: one file
  bool copy_tokenizer = true;
  bool write_model_card = true;
  // Continue a partial merge left by an interrupted run of the same plan (tensors already written
  // and verified against their recorded checksums are kept); without it a partial merge is started
  // over.
  bool resume = false;
  // The written output is dropped from the page cache (posix_fadvise DONTNEED) each time a shard
  // has this many more bytes, and wholly once synced: the inputs, which the next merge reads
  // again, keep the memory. 0: never dropped.
  uint64_t drop_cache_every = uint64_t(256) << 20;
  // Notes for the user (a partial merge resumed or started over).
  std::function<void(const std::string&)> on_note;
  // The working-memory budget (--max-memory): a resume reads the tensors it verifies in pieces of
  // at most this much (and at most 16 MiB, which reads as fast as any larger piece).
  uint64_t max_memory = uint64_t(1) << 30;
};

// The sink's description of the plan's output in `out_dir`.
SafetensorsOutput safetensors_output(const MergePlan& plan, const std::string& out_dir,
                                     const OutputOptions& options);

// The local directories the merge reads: every input model's and tokenizer source's (what an
// output path must stay apart from: check_output_apart_from_inputs).
std::vector<std::string> input_directories(const MergePlan& plan);

class OutputWriter : public SafetensorsSink {
 public:
  OutputWriter(const MergePlan& plan, std::string out_dir, OutputOptions options)
      : SafetensorsSink(out_dir, safetensors_output(plan, out_dir, options)), plan_(plan) {}
  // Checks that no input file changed while the merge read it (ModelSource::check_unchanged: an
  // Error(InvalidFile) naming it, the partial merge kept), then publishes
  // (SafetensorsSink::finish).
  void finish();
  // From now on an input file truncated under the merge ends the process with a message naming it,
  // the partial merge kept for --resume and the exit status of InvalidFile, not with SIGBUS.
  void exit_on_input_fault() const;

 private:
  const MergePlan& plan_;
};

}  // namespace mf
