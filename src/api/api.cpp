// The public API (include/mergeforge/api.hpp) over the planner, the executor and the sinks.
#include "mergeforge/api.hpp"

#include <chrono>

#include "config/merge_config.hpp"
#include "core/error.hpp"
#include "exec/executor.hpp"
#include "exec/output_writer.hpp"
#include "plan/merge_plan.hpp"
#include "sinks/output_path.hpp"

namespace mf {

namespace {

// Recipe errors start with `file:line:column: ` (MergeConfig::where); the caller gets the place
// as fields too.
void add_recipe_place(Error& e, const std::string& label) {
  ErrorContext& c = e.context();
  if (!c.file.empty() || label.empty()) return;
  const std::string_view what = e.what();
  if (!what.starts_with(label) || what.size() <= label.size() || what[label.size()] != ':') return;
  c.file = label;
  int64_t line = 0, column = 0;
  size_t at = label.size() + 1;
  auto number = [&](int64_t& out) {
    const size_t start = at;
    while (at < what.size() && std::isdigit(static_cast<unsigned char>(what[at])))
      out = out * 10 + (what[at++] - '0');
    return at > start && at - start < 10;
  };
  if (number(line) && at < what.size() && what[at++] == ':' && number(column)) {
    c.line = line;
    c.column = column;
  }
}

PlanOptions plan_options(const MergeOptions& o) {
  PlanOptions p;
  p.strict = o.strict;
  p.random_seed = o.random_seed.value_or(0);
  p.allow_crimes = o.allow_crimes;
  p.unsafe_truncate_embeddings = o.unsafe_truncate_embeddings;
  p.resolver = o.resolver;
  return p;
}

ExecOptions exec_options(const Plan& plan, const EventHandler& events) {
  const MergeOptions& o = plan.options();
  ExecOptions exec;
  exec.threads = o.threads;
  exec.max_memory = o.max_memory;
  exec.cancel = o.cancel;
  if (events) {
    const size_t total = plan.tensor_count();
    const uint64_t total_bytes = plan.output_bytes();
    exec.on_progress = [events, total, total_bytes](size_t done, uint64_t bytes) {
      Event e;
      e.kind = Event::Kind::Progress;
      e.tensors_done = done;
      e.tensors_total = total;
      e.bytes_done = bytes;
      e.bytes_total = total_bytes;
      events(e);
    };
    exec.on_warning = [events](const std::string& message) {
      events(Event{Event::Kind::Warning, message});
    };
  }
  return exec;
}

}  // namespace

std::string Plan::describe(bool verbose) const { return describe_plan(*plan_, verbose); }
size_t Plan::tensor_count() const { return plan_->jobs.size(); }
uint64_t Plan::input_bytes() const { return plan_->input_bytes(); }
uint64_t Plan::output_bytes() const { return plan_->output_bytes(); }
const std::vector<std::string>& Plan::warnings() const { return plan_->warnings; }

// Plans the recipe `load` returns; errors name `label` (the recipe file) with their place.
Plan plan_recipe(const std::function<MergeConfig()>& load, const std::string& label,
                 const MergeOptions& options) {
  try {
    auto plan = std::make_shared<MergePlan>(
        make_plan(load(), MethodRegistry::builtin(), plan_options(options)));
    ExecOptions exec;
    exec.threads = options.threads;
    exec.max_memory = options.max_memory;
    // The memory check belongs to planning: `plan` and `merge` never disagree about a recipe.
    check_memory_budget(*plan, exec);
    Plan result;
    result.plan_ = std::move(plan);
    result.options_ = options;
    return result;
  } catch (Error& e) {
    add_recipe_place(e, label);
    throw;
  }
}

Plan plan_recipe_text(const std::string& yaml, const std::string& label,
                      const MergeOptions& options) {
  return plan_recipe([&] { return parse_recipe(yaml, label); }, label, options);
}

Plan plan_recipe_file(const std::string& path, const MergeOptions& options) {
  return plan_recipe([&] { return load_recipe(path); }, path, options);
}

MergeResult merge_into(const Plan& plan, TensorSink& sink, const EventHandler& events) {
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& w : plan.warnings())
    if (events) events(Event{Event::Kind::Warning, w});
  size_t held = 0;
  for (size_t j = 0; j < plan.tensor_count(); ++j) held += sink.holds(j);
  execute_plan(plan.details(), sink, exec_options(plan, events));
  MergeResult r;
  r.tensors_written = plan.tensor_count() - held;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

MergeResult merge(const Plan& plan, const std::string& out_dir, const EventHandler& events) {
  const MergeOptions& o = plan.options();
  if (o.out_shard_size > uint64_t(INT64_MAX))
    fail(ErrorCode::Usage, "out_shard_size {} is too large", o.out_shard_size);
  OutputOptions out;
  out.max_shard_bytes = int64_t(o.out_shard_size);
  out.copy_tokenizer = o.copy_tokenizer;
  out.write_model_card = o.write_model_card;
  out.resume = o.resume;
  out.max_memory = o.max_memory;
  if (events)
    out.on_note = [&events](const std::string& text) { events(Event{Event::Kind::Note, text}); };
  check_output_apart_from_inputs(out_dir, input_directories(plan.details()));
  OutputWriter writer(plan.details(), out_dir, out);
  writer.exit_on_input_fault();
  MergeResult r;
  try {
    r = merge_into(plan, writer, events);
  } catch (const Error& e) {
    // An interrupted merge, or one stopped by the disk, can be finished later from what it wrote.
    if (e.code() == ErrorCode::Interrupted || e.code() == ErrorCode::Io) {
      writer.keep_partial();
      ErrorContext context = e.context();
      if (context.file.empty()) context.file = writer.temp_dir();
      throw Error(e.code(),
                  fmt::format("{}\nthe tensors written so far are kept in {}; run the same "
                              "command with --resume to finish the merge",
                              e.what(), writer.temp_dir()),
                  std::move(context));
    }
    throw;
  }
  writer.finish();
  return r;
}

}  // namespace mf
