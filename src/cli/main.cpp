// The mergeforge command: `merge` (mergekit-yaml compatible), `plan` and `methods`.
#include <CLI/CLI.hpp>
#include <csignal>
#include <filesystem>

#include "cli/progress.hpp"
#include "core/error.hpp"
#include "exec/executor.hpp"
#include "exec/output_writer.hpp"
#include "plan/merge_plan.hpp"

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_signal(int) { g_interrupted.store(true); }

struct MergeOptionsCli {
  std::string recipe;
  std::string out_dir;
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

uint64_t parse_memory(const std::string& text) {
  if (text.empty()) mf::fail(mf::ErrorCode::Usage, "--max-memory: empty value");
  uint64_t scale = 1;
  std::string digits = text;
  if (digits.size() > 1 && (digits.back() == 'B' || digits.back() == 'b')) digits.pop_back();
  if (digits.size() > 1 && (digits.back() == 'i')) digits.pop_back();
  switch (std::toupper(static_cast<unsigned char>(digits.back()))) {
    case 'K':
      scale = 1ull << 10;
      break;
    case 'M':
      scale = 1ull << 20;
      break;
    case 'G':
      scale = 1ull << 30;
      break;
    case 'T':
      scale = 1ull << 40;
      break;
    default:
      break;
  }
  if (scale != 1) digits.pop_back();
  try {
    size_t used = 0;
    double v = std::stod(digits, &used);
    if (used == digits.size() && v > 0) return uint64_t(v * double(scale));
  } catch (const std::exception&) {
  }
  mf::fail(mf::ErrorCode::Usage, "--max-memory: `{}` is not a size (e.g. 512M, 2G)", text);
}

void add_merge_options(CLI::App& cmd, MergeOptionsCli& o) {
  cmd.add_option("--out-shard-size", o.out_shard_size,
                 "Bytes of tensor data per output shard (k/m/b suffixes)");
  cmd.add_option("--max-memory", o.max_memory,
                 "Working-memory budget for tensors in flight (e.g. 1G)");
  cmd.add_option("-j,--num-threads", o.threads, "Worker threads (default: all cores)");
  cmd.add_option("--random-seed", o.random_seed, "Seed for random methods (DARE, DELLA)");
  cmd.add_flag("--strict", o.strict, "Unknown recipe keys and undeclared parameters are errors");
  cmd.add_flag("--resume", o.resume, "Continue a merge that was interrupted (Ctrl-C, kill, crash)");
  cmd.add_flag("--copy-tokenizer,!--no-copy-tokenizer", o.copy_tokenizer,
               "Copy the donor's tokenizer files");
  cmd.add_flag("--write-model-card,!--no-write-model-card", o.write_model_card,
               "Write README.md and the recipe");
  cmd.add_flag("--safe-serialization,!--no-safe-serialization", o.safe_serialization,
               "Write safetensors");
  cmd.add_flag("--allow-crimes,!--no-allow-crimes", o.allow_crimes, "Allow mixing architectures");
  cmd.add_flag("--unsafe-truncate-embeddings,!--no-unsafe-truncate-embeddings",
               o.unsafe_truncate_embeddings,
               "Cut vocabulary-indexed tensors to the smallest vocabulary");
  cmd.add_flag("-v,--verbose", o.verbose, "More output (repeatable)");
  cmd.add_flag("-q,--quiet,!--no-quiet", o.quiet, "No progress output");
  // Accepted for mergekit-yaml compatibility; they change nothing in this engine.
  cmd.add_option("--device", o.device, "Accepted for compatibility (CPU engine)");
  cmd.add_flag("--cuda,!--no-cuda", o.cuda, "Accepted for compatibility (CPU engine)");
  cmd.add_flag("--lazy-unpickle,!--no-lazy-unpickle", o.lazy_unpickle,
               "Accepted for compatibility");
  cmd.add_flag("--low-cpu-memory,!--no-low-cpu-memory", o.low_cpu_memory,
               "Accepted for compatibility");
  cmd.add_flag("--trust-remote-code,!--no-trust-remote-code", o.trust_remote_code,
               "Accepted for compatibility");
  cmd.add_flag("--clone-tensors,!--no-clone-tensors", o.clone_tensors,
               "Accepted for compatibility");
  cmd.add_flag("--async-write,!--no-async-write", o.async_write, "Accepted for compatibility");
  cmd.add_option("--write-threads", o.write_threads, "Accepted for compatibility");
  cmd.add_flag("--multi-gpu,!--no-multi-gpu", o.multi_gpu, "Accepted for compatibility");
  cmd.add_flag("--read-to-gpu,!--no-read-to-gpu", o.read_to_gpu, "Accepted for compatibility");
  cmd.add_flag("--gpu-rich,!--no-gpu-rich", o.gpu_rich, "Accepted for compatibility");
  cmd.add_option("--transformers-cache", o.transformers_cache, "Accepted for compatibility");
  cmd.add_option("--lora-merge-cache", o.lora_merge_cache, "Accepted for compatibility");
  cmd.add_option("--lora-merge-dtype", o.lora_merge_dtype, "Accepted for compatibility");
}

mf::PlanOptions plan_options(const MergeOptionsCli& o) {
  mf::PlanOptions p;
  p.strict = o.strict;
  p.random_seed = o.random_seed >= 0 ? uint64_t(o.random_seed) : 0;
  p.allow_crimes = o.allow_crimes;
  p.unsafe_truncate_embeddings = o.unsafe_truncate_embeddings;
  return p;
}

void check_supported(const MergeOptionsCli& o) {
  if (!o.safe_serialization)
    mf::fail(
        mf::ErrorCode::Unsupported,
        "--no-safe-serialization: pytorch_model.bin output is not supported; mergeforge writes "
        "safetensors only");
  if (o.verbose > 0) {
    if (o.cuda || o.gpu_rich || o.multi_gpu || o.read_to_gpu || o.device != "cpu")
      fmt::print(stderr,
                 "note: GPU options are accepted and ignored: mergeforge merges on the CPU\n");
    if (o.lazy_unpickle || o.low_cpu_memory || o.clone_tensors || o.async_write ||
        o.write_threads != 1 || o.trust_remote_code || !o.transformers_cache.empty() ||
        !o.lora_merge_cache.empty() || !o.lora_merge_dtype.empty())
      fmt::print(stderr,
                 "note: mergekit-yaml tuning options are accepted and have no effect here\n");
  }
}

void print_warnings(const mf::MergePlan& plan) {
  for (const auto& w : plan.warnings) fmt::print(stderr, "warning: {}\n", w);
}

int run_merge(const MergeOptionsCli& o) {
  check_supported(o);
  auto registry = mf::MethodRegistry::builtin();
  mf::MergePlan plan = mf::make_plan(mf::load_recipe(o.recipe), registry, plan_options(o));
  print_warnings(plan);
  mf::ExecOptions exec;
  exec.threads = o.threads;
  exec.max_memory = parse_memory(o.max_memory);
  mf::check_memory_budget(plan, exec);
  mf::OutputOptions out_opts;
  out_opts.max_shard_bytes = mf::parse_shard_size(o.out_shard_size);
  out_opts.copy_tokenizer = o.copy_tokenizer;
  out_opts.write_model_card = o.write_model_card;
  out_opts.resume = o.resume;
  mf::OutputWriter writer(plan, o.out_dir, out_opts);

  mf::ProgressReporter progress(plan.jobs.size(), plan.output_bytes(), o.quiet);
  exec.cancel = &g_interrupted;
  exec.on_progress = [&](size_t done, uint64_t bytes) { progress.update(done, bytes); };
  exec.on_warning = [](const std::string& w) { fmt::print(stderr, "warning: {}\n", w); };
  auto start = std::chrono::steady_clock::now();
  try {
    mf::execute_plan(plan, writer, exec);
  } catch (const mf::Error& e) {
    progress.finish();
    // An interrupted merge, or one stopped by the disk, can be finished later from what it wrote.
    if (e.code() == mf::ErrorCode::Interrupted || e.code() == mf::ErrorCode::Io) {
      writer.keep_partial();
      throw mf::Error(e.code(),
                      fmt::format("{}\nthe tensors written so far are kept in {}; run the same "
                                  "command with --resume to finish the merge",
                                  e.what(), writer.temp_dir()));
    }
    throw;
  }
  progress.finish();
  writer.finish();
  if (!o.quiet)
    fmt::print(stderr, "wrote {} tensors to {} in {:.2f}s\n", plan.jobs.size(), o.out_dir,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}

int run_plan(const MergeOptionsCli& o) {
  auto registry = mf::MethodRegistry::builtin();
  mf::MergePlan plan = mf::make_plan(mf::load_recipe(o.recipe), registry, plan_options(o));
  fmt::print("{}", mf::describe_plan(plan, o.verbose > 0));
  return 0;
}

const char* scope_name(mf::ParamScope s) {
  switch (s) {
    case mf::ParamScope::Global:
      return "global";
    case mf::ParamScope::PerModel:
      return "per model";
    case mf::ParamScope::PerNonBase:
      return "per non-base model";
  }
  return "?";
}

const char* type_name(mf::ParamType t) {
  switch (t) {
    case mf::ParamType::Float:
      return "float";
    case mf::ParamType::Int:
      return "int";
    case mf::ParamType::Bool:
      return "bool";
  }
  return "?";
}

const char* base_name(mf::BaseRole b) {
  switch (b) {
    case mf::BaseRole::Input:
      return "an ordinary input";
    case mf::BaseRole::Required:
      return "required";
    case mf::BaseRole::Optional:
      return "optional";
  }
  return "?";
}

int run_methods() {
  auto registry = mf::MethodRegistry::builtin();
  for (const auto& m : registry.all()) {
    const auto& info = m->info();
    fmt::print("{}\n  {}\n", info.name, info.summary);
    if (!info.paper_url.empty()) fmt::print("  paper: {}\n", info.paper_url);
    fmt::print("  memory: {}\n", m->streams() ? "streams tensors in chunks"
                                              : "holds whole tensors (bounded by --max-memory)");
    std::string models = info.max_models < 0 ? fmt::format("{}+", info.min_models)
                         : info.max_models == info.min_models
                             ? fmt::format("{}", info.min_models)
                             : fmt::format("{}-{}", info.min_models, info.max_models);
    fmt::print("  base model: {}; models besides the base: {}\n", base_name(info.base), models);
    for (const auto& p : info.params) {
      std::string def =
          p.default_value ? fmt::format("default {:g}", *p.default_value) : "required";
      if (p.type == mf::ParamType::Bool && p.default_value)
        def = *p.default_value != 0 ? "default true" : "default false";
      fmt::print("  - {} ({}, {}, {}){}{}\n", p.name, type_name(p.type), scope_name(p.scope), def,
                 p.help.empty() ? "" : ": ", p.help);
    }
    fmt::print("\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mergeforge: merge pretrained language models from MergeKit recipes"};
  app.set_version_flag("--version", MERGEFORGE_VERSION);
  app.require_subcommand(1);
  MergeOptionsCli o;

  auto* merge = app.add_subcommand("merge", "Run a merge recipe and write the merged model");
  merge->add_option("config", o.recipe, "Recipe (MergeKit YAML)")->required();
  merge->add_option("out_path", o.out_dir, "Output directory")->required();
  add_merge_options(*merge, o);

  auto* plan =
      app.add_subcommand("plan", "Validate a recipe against the models and print the plan");
  plan->add_option("config", o.recipe, "Recipe (MergeKit YAML)")->required();
  plan->add_flag("-v,--verbose", o.verbose, "List every output tensor");
  plan->add_flag("--strict", o.strict, "Unknown recipe keys and undeclared parameters are errors");
  plan->add_option("--random-seed", o.random_seed, "Seed for random methods");
  plan->add_flag("--unsafe-truncate-embeddings,!--no-unsafe-truncate-embeddings",
                 o.unsafe_truncate_embeddings,
                 "Cut vocabulary-indexed tensors to the smallest vocabulary");

  app.add_subcommand("methods", "List merge methods and their parameters");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : mf::exit_status(mf::ErrorCode::Usage);
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    if (merge->parsed()) return run_merge(o);
    if (plan->parsed()) return run_plan(o);
    return run_methods();
  } catch (const mf::Error& e) {
    fmt::print(stderr, "mergeforge: {}: {}\n", mf::code_name(e.code()), e.what());
    return mf::exit_status(e.code());
  } catch (const std::exception& e) {
    fmt::print(stderr, "mergeforge: internal error: {}\n", e.what());
    return mf::exit_status(mf::ErrorCode::Internal);
  }
}
