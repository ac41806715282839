// Runs a MergePlan. Tensors of streaming methods (and tensors passed through) are streamed one
// after another, each split into chunks across the worker threads: inputs are converted chunk by
// chunk from the mapped files and every output chunk is written to its place in the output at
// once, so memory is a few chunks per thread whatever the model. Tensors of the other methods, and
// vocabulary-indexed tensors that are re-indexed, are merged whole, side by side, admitted while
// their memory fits the budget.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "plan/merge_plan.hpp"
#include "sinks/tensor_sink.hpp"

namespace mf {

struct ExecOptions {
  int threads = 0;                            // 0: hardware concurrency
  uint64_t max_memory = 1ull << 30;           // working-memory budget (--max-memory)
  const std::atomic<bool>* cancel = nullptr;  // set from a signal handler: stop between jobs
  // Called from worker threads after each job: (jobs done, bytes written so far).
  std::function<void(size_t, uint64_t)> on_progress;
  // Called from worker threads for data warnings (NaN / Inf in an input tensor).
  std::function<void(const std::string&)> on_warning;
};

// Refuses, before any tensor data is read, a plan with a tensor whose merge cannot fit in
// options.max_memory: Error(OverBudget) names the tensor and the memory it needs.
void check_memory_budget(const MergePlan& plan, const ExecOptions& options);

// Runs every job the writer does not already hold (a resumed merge skips the tensors it verified).
void execute_plan(const MergePlan& plan, TensorSink& writer, const ExecOptions& options);

}  // namespace mf
