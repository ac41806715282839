// Runs a MergePlan: jobs flow through a pool of worker threads, admitted while the working memory
// of the jobs in flight stays under the budget; each finished tensor is converted to its output
// dtype and written to its place in the output at once. Memory is bounded by the budget and the job
// size, never the model.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "exec/output_writer.hpp"
#include "plan/merge_plan.hpp"

namespace mf {

struct ExecOptions {
  int threads = 0;                            // 0: hardware concurrency
  uint64_t max_memory = 1ull << 30;           // working-memory budget for jobs in flight
  const std::atomic<bool>* cancel = nullptr;  // set from a signal handler: stop between jobs
  // Called from worker threads after each job: (jobs done, bytes written so far).
  std::function<void(size_t, uint64_t)> on_progress;
  // Called from worker threads for data warnings (NaN / Inf in an input tensor).
  std::function<void(const std::string&)> on_warning;
};

// Runs every job the writer does not already hold (a resumed merge skips the tensors it verified).
void execute_plan(const MergePlan& plan, OutputWriter& writer, const ExecOptions& options);

}  // namespace mf
