#include "exec/executor.hpp"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "exec/vocabulary_alignment.hpp"

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
  TensorLocation loc = *plan.models[in.model].source->find(in.tensor);
  size_t n = loc.entry->numel();  // the job's size, except before a vocabulary is re-indexed
  std::unique_ptr<T[]> buf(new T[n]);
  convert_to(loc.entry->dtype, loc.bytes().data(), buf.get(), n);
  size_t non_finite = 0;
  for (size_t i = 0; i < n; ++i) non_finite += !std::isfinite(buf[i]);
  if (non_finite && options.on_warning)
    options.on_warning(fmt::format("tensor `{}` of `{}` holds {} NaN or infinite value(s)",
                                   in.tensor, plan.models[in.model].ref.text, non_finite));
  if (job.round_inputs_to) {
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
      rows.push_back(plan.models[in.model].source->find(in.tensor)->entry->shape[0]);
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

std::vector<uint8_t> run_copy_job(const MergePlan& plan, const MergeJob& job) {
  auto first =
      plan.models[job.inputs.front().model].source->find(job.inputs.front().tensor)->bytes();
  for (size_t i = 1; i < job.inputs.size(); ++i) {
    auto other = plan.models[job.inputs[i].model].source->find(job.inputs[i].tensor)->bytes();
    if (other.size() != first.size() || std::memcmp(other.data(), first.data(), first.size()) != 0)
      fail(ErrorCode::InvalidFile,
           "non-float tensor `{}` differs between `{}` and `{}`: integer tensors are copied, not "
           "merged",
           job.output_name, plan.models[job.inputs.front().model].ref.text,
           plan.models[job.inputs[i].model].ref.text);
  }
  return {first.begin(), first.end()};
}

std::vector<uint8_t> run_job(const MergePlan& plan, const MergeJob& job,
                             const ExecOptions& options) {
  if (job.kind == JobKind::Copy) return run_copy_job(plan, job);
  return job.compute_double ? run_float_job<double>(plan, job, options)
                            : run_float_job<float>(plan, job, options);
}

// Errors from a kernel or a read name the tensor they happened on.
std::exception_ptr annotate(std::exception_ptr error, const std::string& tensor) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.find(tensor) != std::string::npos) return error;
    return std::make_exception_ptr(Error(e.code(), fmt::format("tensor `{}`: {}", tensor, what)));
  } catch (...) {
    return error;
  }
}

}  // namespace

void execute_plan(const MergePlan& plan, OutputWriter& writer, const ExecOptions& options) {
  int threads = options.threads > 0 ? options.threads
                                    : int(std::max(1u, std::thread::hardware_concurrency()));
  MemoryBudget budget(options.max_memory);
  // Jobs a resumed merge already holds are counted as done up front.
  std::vector<size_t> todo;
  size_t already = 0;
  uint64_t already_bytes = 0;
  for (size_t j = 0; j < plan.jobs.size(); ++j) {
    if (writer.jobs_done()[j]) {
      ++already;
      already_bytes += plan.jobs[j].output_bytes();
    } else {
      todo.push_back(j);
    }
  }
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{already};
  std::atomic<uint64_t> written{already_bytes};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr first_error;

  auto worker = [&] {
    while (!failed.load()) {
      if (options.cancel && options.cancel->load()) {
        failed = true;
        std::lock_guard lock(error_mutex);
        if (!first_error)
          first_error = std::make_exception_ptr(
              Error(ErrorCode::Interrupted, "stopped by a signal (Ctrl-C or SIGTERM)"));
        return;
      }
      size_t t = next.fetch_add(1);
      if (t >= todo.size()) return;
      size_t j = todo[t];
      const MergeJob& job = plan.jobs[j];
      uint64_t need = job.working_bytes();
      budget.acquire(need);
      try {
        std::vector<uint8_t> bytes = run_job(plan, job, options);
        writer.write_tensor(j, bytes);
        budget.release(need);
      } catch (...) {
        budget.release(need);
        failed = true;
        std::lock_guard lock(error_mutex);
        if (!first_error) first_error = annotate(std::current_exception(), job.output_name);
        return;
      }
      size_t d = done.fetch_add(1) + 1;
      uint64_t w = written.fetch_add(job.output_bytes()) + job.output_bytes();
      if (options.on_progress) options.on_progress(d, w);
    }
  };

  threads = std::min<int>(threads, int(std::max<size_t>(1, todo.size())));
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace mf
