#include "exec/executor.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "exec/job_stream.hpp"
#include "exec/read_ahead.hpp"
#include "exec/vocabulary_alignment.hpp"
#include "exec/worker_pool.hpp"

namespace mf {

namespace {

// Admission control: a job waits until its working memory fits beside the jobs in flight. A job
// larger than the whole budget runs alone.
class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t limit) : limit_(limit) {}

  void acquire(uint64_t bytes) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return used_ == 0 || used_ + bytes <= limit_; });
    used_ += bytes;
  }
  void release(uint64_t bytes) {
    {
      std::lock_guard lock(mutex_);
      used_ -= bytes;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  uint64_t limit_;
  uint64_t used_ = 0;
};

template <class T>
std::unique_ptr<T[]> load_input(const MergePlan& plan, const MergeJob& job, const JobInput& in,
                                const ExecOptions& options) {
  const ModelSource& source = *plan.models[in.model].source;
  const TensorInfo& tensor = *source.find(in.tensor);
  const size_t n = tensor.numel();  // the job's size, except before a vocabulary is re-indexed
  std::unique_ptr<T[]> buf(new T[n]);
  source.read(tensor, 0, n, buf.get());
  const size_t non_finite = count_non_finite(buf.get(), n);
  if (non_finite && options.on_warning)
    options.on_warning(fmt::format("tensor `{}` of `{}` holds {} NaN or infinite value(s)",
                                   in.tensor, plan.models[in.model].ref.text, non_finite));
  if (job.round_inputs_to && *job.round_inputs_to != tensor.dtype) {
    DType d = *job.round_inputs_to;
    for (size_t i = 0; i < n; ++i) buf[i] = T(round_to(d, float(buf[i])));
  }
  return buf;
}

template <class T>
std::vector<uint8_t> run_float_job(const MergePlan& plan, const MergeJob& job,
                                   const ExecOptions& options) {
  size_t n = job.numel();
  std::vector<std::unique_ptr<T[]>> owned;
  std::vector<T*> inputs;
  for (const auto& in : job.inputs) owned.push_back(load_input<T>(plan, job, in, options));
  if (job.vocabulary) {
    std::vector<int64_t> rows;
    for (const auto& in : job.inputs)
      rows.push_back(plan.models[in.model].source->find(in.tensor)->shape[0]);
    int64_t width = job.shape.empty() || job.shape[0] == 0 ? 0 : int64_t(n) / job.shape[0];
    owned = align_vocabulary<T>(*job.vocabulary, owned, rows, width, job.round_inputs_to);
  }
  for (const auto& o : owned) inputs.push_back(o.get());
  std::vector<uint8_t> out_bytes(job.output_bytes());
  if (job.kind == JobKind::Pass) {
    convert_from(inputs.front(), job.out_dtype, out_bytes.data(), n);
    return out_bytes;
  }
  std::unique_ptr<T[]> out(new T[n]);
  std::vector<Params> per_input;
  for (const auto& in : job.inputs) per_input.push_back(in.params);
  MergeArgs<T> args;
  args.tensor_name = job.output_name;
  args.shape = job.shape;
  args.inputs = inputs;
  args.base = job.base;
  args.per_input = per_input;
  args.global = &job.global;
  args.seed = job.seed_key;
  args.out = out.get();
  plan.method->merge(args);
  owned.clear();  // free the inputs before the output conversion
  convert_from(out.get(), job.out_dtype, out_bytes.data(), n);
  return out_bytes;
}

// A whole-tensor job: loaded, merged and written in one piece.
std::vector<uint8_t> run_whole_job(const MergePlan& plan, const MergeJob& job,
                                   const ExecOptions& options) {
  return job.compute_double ? run_float_job<double>(plan, job, options)
                            : run_float_job<float>(plan, job, options);
}

void run_copy_job(const MergePlan& plan, size_t j, TensorSink& writer) {
  const MergeJob& job = plan.jobs[j];
  auto stored = [&](const JobInput& in) {
    const ModelSource& source = *plan.models[in.model].source;
    const TensorInfo& tensor = *source.find(in.tensor);
    std::vector<uint8_t> bytes(tensor.stored_bytes());
    source.read_stored(tensor, 0, bytes);
    return bytes;
  };
  const std::vector<uint8_t> first = stored(job.inputs.front());
  for (size_t i = 1; i < job.inputs.size(); ++i) {
    if (stored(job.inputs[i]) != first)
      fail(ErrorCode::InvalidFile,
           "non-float tensor `{}` differs between `{}` and `{}`: integer tensors are copied, not "
           "merged",
           job.output_name, plan.models[job.inputs.front().model].ref.text,
           plan.models[job.inputs[i].model].ref.text);
  }
  writer.write_tensor(j, first);
}

// Errors from a kernel or a read name the tensor they happened on.
std::exception_ptr annotate(std::exception_ptr error, const std::string& tensor) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    ErrorContext context = e.context();
    if (context.tensor.empty()) context.tensor = tensor;
    std::string what = e.what();
    if (what.find(tensor) == std::string::npos) what = fmt::format("tensor `{}`: {}", tensor, what);
    return std::make_exception_ptr(Error(e.code(), std::move(what), std::move(context)));
  } catch (...) {
    return error;
  }
}

bool is_streamed(const MergePlan& plan, const MergeJob& job) {
  if (job.vocabulary || job.kind == JobKind::Copy) return false;
  return job.kind == JobKind::Pass || plan.method->streams();
}

// Chunk elements of a streamed job: about kChunkElements, less when the budget is small. A ties
// merge of the 1.24B benchmark models took 7.9-8.2 s with chunks of 2^14 elements and 7.1-7.2 s
// with 2^15, against 6.6-6.9 s with 2^16: the per-chunk costs outweigh a working set that fits L2.
constexpr size_t kChunkElements = size_t(1) << 16;

size_t granule(const MergePlan& plan, const MergeJob& job) {
  return job.kind == JobKind::Merge ? plan.method->chunk_granule(job.shape) : 1;
}

// Bytes one worker holds for a chunk of `chunk` elements: the inputs converted, the output
// (computed and rounded) and the kernel's scratch (task vectors and masks; two more chunks per
// input at most).
uint64_t chunk_bytes(const MergeJob& job, size_t chunk) {
  const uint64_t per = job.compute_double ? 8 : 4;
  return chunk * (per * (3 * job.inputs.size() + 1) + dtype_size(job.out_dtype));
}

ChunkLayout chunk_layout(const MergePlan& plan, const MergeJob& job, int workers,
                         uint64_t max_memory) {
  size_t target = kChunkElements;
  while (target > 1024 && chunk_bytes(job, target) * uint64_t(workers) > max_memory / 2)
    target /= 2;
  return ChunkLayout(job.numel(), granule(plan, job), target);
}

int thread_count(const ExecOptions& options) {
  return options.threads > 0 ? options.threads
                             : int(std::max(1u, std::thread::hardware_concurrency()));
}

template <class T>
void run_streamed_job(const MergePlan& plan, size_t j, TensorSink& writer, WorkerPool& pool,
                      std::vector<ChunkBuffers<T>>& buffers, const ExecOptions& options) {
  const MergeJob& job = plan.jobs[j];
  // Kernel scratch (della's masks kept between its passes) gets a quarter of the budget: the chunk
  // buffers take at most half, the rest of the process a few MiB.
  JobStream<T> stream(plan, j, writer, pool, buffers,
                      chunk_layout(plan, job, pool.size(), options.max_memory),
                      size_t(options.max_memory / 4));
  if (job.kind == JobKind::Pass) {
    stream.write_input(0);
  } else {
    std::vector<Params> per_input;
    for (const auto& in : job.inputs) per_input.push_back(in.params);
    TensorArgs args;
    args.tensor_name = job.output_name;
    args.shape = job.shape;
    args.base = job.base;
    args.per_input = per_input;
    args.global = &job.global;
    args.seed = job.seed_key;
    plan.method->merge_stream(args, stream);
  }
  writer.finish_tensor(j);
  const std::vector<size_t> non_finite = stream.non_finite();
  for (size_t i = 0; i < non_finite.size(); ++i)
    if (non_finite[i] && options.on_warning)
      options.on_warning(fmt::format("tensor `{}` of `{}` holds {} NaN or infinite value(s)",
                                     job.inputs[i].tensor,
                                     plan.models[job.inputs[i].model].ref.text, non_finite[i]));
}

// Each input tensor of a job with its source, for read-ahead.
template <class Visit>
void for_each_input(const MergePlan& plan, const MergeJob& job, Visit visit) {
  for (const JobInput& in : job.inputs) {
    const ModelSource& source = *plan.models[in.model].source;
    visit(source, *source.find(in.tensor));
  }
}

// How far the reader runs ahead of the workers: about a layer of a 3B model's four inputs, and
// little enough of RAM that the pages read ahead do not push out those of the job computing.
uint64_t read_ahead_window() {
  constexpr uint64_t kWindow = uint64_t(1) << 30;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return kWindow / 4;
  return std::min(kWindow, uint64_t(pages) * uint64_t(page) / 16);
}

// Streamed jobs whose inputs are in the page cache go first, most resident first (ties keep plan
// order). When the inputs outgrow RAM, the cache holds the part of them some earlier run read
// last; in plan order, every read of an evicted tensor would push out the cached tensors still
// waiting their turn, and a second run over the same models would read nearly everything from
// disk again.
void order_by_residency(const MergePlan& plan, std::vector<size_t>& jobs) {
  std::vector<double> resident(plan.jobs.size(), 0);
  for (size_t j : jobs) {
    double bytes = 0, cached = 0;
    for_each_input(plan, plan.jobs[j], [&](const ModelSource& source, const TensorInfo& t) {
      bytes += double(t.stored_bytes());
      cached += double(t.stored_bytes()) * source.resident_fraction(t);
    });
    resident[j] = bytes == 0 ? 1.0 : cached / bytes;
  }
  std::stable_sort(jobs.begin(), jobs.end(),
                   [&](size_t a, size_t b) { return resident[a] > resident[b]; });
}

}  // namespace

void check_memory_budget(const MergePlan& plan, const ExecOptions& options) {
  const int workers = thread_count(options);
  for (const MergeJob& job : plan.jobs) {
    uint64_t need = 0;
    std::string how;
    if (is_streamed(plan, job)) {
      const ChunkLayout layout = chunk_layout(plan, job, workers, options.max_memory);
      need = chunk_bytes(job, layout.chunk) * uint64_t(workers);
      how = fmt::format("in chunks of {} elements on {} threads", layout.chunk, workers);
    } else if (job.kind != JobKind::Copy) {
      need = job.working_bytes();
      how = job.vocabulary
                ? "whole, to re-index its vocabulary rows"
                : fmt::format("whole (method `{}` does not stream)", plan.method->info().name);
    }
    if (need > options.max_memory)
      fail(ErrorCode::OverBudget,
           "tensor `{}` needs {:.1f} MiB to merge {}, over --max-memory ({:.1f} MiB); raise "
           "--max-memory to at least {:.0f}M",
           job.output_name, double(need) / (1 << 20), how, double(options.max_memory) / (1 << 20),
           std::ceil(double(need) / (1 << 20)));
  }
}

void execute_plan(const MergePlan& plan, TensorSink& writer, const ExecOptions& options) {
  WorkerPool pool(thread_count(options));
  MemoryBudget budget(options.max_memory);
  // Jobs a resumed merge already holds are counted as done up front.
  std::vector<size_t> whole, streamed;
  size_t done = 0;
  uint64_t written = 0;
  for (size_t j = 0; j < plan.jobs.size(); ++j) {
    if (writer.holds(j)) {
      ++done;
      written += plan.jobs[j].output_bytes();
    } else {
      (is_streamed(plan, plan.jobs[j]) ? streamed : whole).push_back(j);
    }
  }
  order_by_residency(plan, streamed);
  std::mutex progress_mutex;
  auto finished = [&](size_t j) {
    std::lock_guard lock(progress_mutex);
    ++done;
    written += plan.jobs[j].output_bytes();
    if (options.on_progress) options.on_progress(done, written);
  };
  auto check_cancel = [&] {
    if (options.cancel && options.cancel->load())
      fail(ErrorCode::Interrupted, "stopped by a signal (Ctrl-C or SIGTERM)");
  };
  size_t current = SIZE_MAX;
  try {
    // Whole-tensor jobs run side by side, admitted while their memory fits the budget.
    pool.parallel_for(whole.size(), [&](size_t t, int) {
      check_cancel();
      const size_t j = whole[t];
      const MergeJob& job = plan.jobs[j];
      try {
        if (job.kind == JobKind::Copy) {
          run_copy_job(plan, j, writer);
        } else {
          const uint64_t need = job.working_bytes();
          budget.acquire(need);
          std::vector<uint8_t> bytes;
          try {
            bytes = run_whole_job(plan, job, options);
          } catch (...) {
            budget.release(need);
            throw;
          }
          budget.release(need);
          writer.write_tensor(j, bytes);
        }
      } catch (...) {
        std::rethrow_exception(annotate(std::current_exception(), job.output_name));
      }
      finished(j);
    });
    // Streamed jobs one at a time, each split across the workers, while the inputs of the jobs to
    // come are read ahead.
    std::vector<ChunkBuffers<float>> float_buffers(pool.size());
    std::vector<ChunkBuffers<double>> double_buffers(pool.size());
    std::vector<uint64_t> input_bytes;
    for (size_t j : streamed) {
      uint64_t bytes = 0;
      for_each_input(plan, plan.jobs[j],
                     [&](const ModelSource&, const TensorInfo& t) { bytes += t.stored_bytes(); });
      input_bytes.push_back(bytes);
    }
    ReadAhead read_ahead(std::move(input_bytes), read_ahead_window(), [&](size_t t) {
      for_each_input(plan, plan.jobs[streamed[t]],
                     [](const ModelSource& source, const TensorInfo& t) { source.prefetch(t); });
    });
    for (size_t t = 0; t < streamed.size(); ++t) {
      check_cancel();
      current = streamed[t];
      const MergeJob& job = plan.jobs[current];
      read_ahead.computing(t);
      if (job.compute_double)
        run_streamed_job<double>(plan, current, writer, pool, double_buffers, options);
      else
        run_streamed_job<float>(plan, current, writer, pool, float_buffers, options);
      // Its input pages leave this process's mapping (they stay in the page cache).
      for_each_input(plan, job,
                     [](const ModelSource& source, const TensorInfo& t) { source.release(t); });
      finished(current);
    }
  } catch (...) {
    if (current != SIZE_MAX)
      std::rethrow_exception(annotate(std::current_exception(), plan.jobs[current].output_name));
    throw;
  }
}

}  // namespace mf
