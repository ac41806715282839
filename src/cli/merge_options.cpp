#include "cli/merge_options.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace mf::cli {

void add_merge_options(CLI::App& cmd, MergeOptionsCli& o) {
  cmd.add_option("--out-shard-size", o.out_shard_size,
                 "Bytes of tensor data per output shard (k/m/b suffixes)");
  cmd.add_option("--max-memory", o.max_memory,
                 "Working-memory budget for tensors in flight (e.g. 1G)");
  cmd.add_option("-j,--num-threads", o.threads, "Worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
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

MergeOptions to_merge_options(const MergeOptionsCli& o) {
  if (!o.safe_serialization)
    fail(ErrorCode::Unsupported,
         "--no-safe-serialization: pytorch_model.bin output is not supported; mergeforge writes "
         "safetensors only");
  MergeOptions m;
  m.strict = o.strict;
  if (o.random_seed >= 0) m.random_seed = uint64_t(o.random_seed);
  m.allow_crimes = o.allow_crimes;
  m.unsafe_truncate_embeddings = o.unsafe_truncate_embeddings;
  m.threads = o.threads;
  m.max_memory = parse_size(o.max_memory, SizeUnits::Binary, "--max-memory");
  m.out_shard_size = parse_size(o.out_shard_size, SizeUnits::Decimal, "--out-shard-size");
  m.copy_tokenizer = o.copy_tokenizer;
  m.write_model_card = o.write_model_card;
  m.resume = o.resume;
  return m;
}

void print_compatibility_notes(const MergeOptionsCli& o) {
  if (o.verbose <= 0) return;
  if (o.cuda || o.gpu_rich || o.multi_gpu || o.read_to_gpu || o.device != "cpu")
    fmt::print(stderr,
               "note: GPU options are accepted and ignored: mergeforge merges on the CPU\n");
  if (o.lazy_unpickle || o.low_cpu_memory || o.clone_tensors || o.async_write ||
      o.write_threads != 1 || o.trust_remote_code || !o.transformers_cache.empty() ||
      !o.lora_merge_cache.empty() || !o.lora_merge_dtype.empty())
    fmt::print(stderr, "note: mergekit-yaml tuning options are accepted and have no effect here\n");
}

}  // namespace mf::cli
