#include "exec/output_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "core/checksum.hpp"
#include "core/error.hpp"
#include "exec/model_card.hpp"
#include "io/mapped_file.hpp"

namespace fs = std::filesystem;

namespace mf {

namespace {

// What must be equal for a partial merge to be resumed: the plan (recipe, resolved parameters,
// inputs' tensors and dtypes), the output layout options, and the input files as they were (sizes,
// mtimes).
std::string plan_fingerprint(const MergePlan& plan, const OutputOptions& options) {
  std::string text =
      fmt::format("mergeforge {}\n{}\nshard {}\ntok {}\ncard {}\n", MERGEFORGE_VERSION,
                  describe_plan(plan, true), options.max_shard_bytes, options.copy_tokenizer,
                  options.write_model_card);
  for (const auto& job : plan.jobs) text += fmt::format("{} {}\n", job.output_name, job.seed_key);
  for (const auto& m : plan.models) text += m.source->identity();
  text += plan.output_config.dump();
  return fmt::format("{:016x}",
                     checksum64({reinterpret_cast<const uint8_t*>(text.data()), text.size()}));
}

// config.json, the tokenizer files (the donor's copied, or the ones the plan wrote fresh), the
// model card and the recipe.
std::vector<SideFile> side_files(const MergePlan& plan, const std::string& out_dir,
                                 const OutputOptions& options) {
  std::vector<SideFile> files;
  files.push_back({"config.json", plan.output_config.dump(2) + "\n", ""});
  const ModelSource& donor = *plan.models[plan.donor].source;
  const bool has_tokenizer =
      donor.side_file("tokenizer_config.json") &&
      (donor.side_file("tokenizer.json") || donor.side_file("tokenizer.model"));
  if (plan.tokenizer) {
    // Written fresh (a tokenizer section, or a chat_template): no other tokenizer or generation
    // files.
    const OutputTokenizer& tok = *plan.tokenizer;
    if (!tok.only_when_copying || options.copy_tokenizer) {
      for (const auto& [name, content] : tok.files) files.push_back({name, content, ""});
    }
  } else if (options.copy_tokenizer && has_tokenizer) {
    for (const char* name :
         {"tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model",
          "added_tokens.json", "merges.txt", "vocab.json", "vocab.txt", "chat_template.jinja",
          "chat_template.json", "generation_config.json", "video_preprocessor_config.json",
          "preprocessor_config.json", "processor_config.json"}) {
      if (auto content = donor.side_file(name)) files.push_back({name, std::move(*content), ""});
    }
  }
  if (options.write_model_card) {
    fs::path out = fs::path(out_dir).lexically_normal();
    if (out.filename().empty()) out = out.parent_path();
    files.push_back({"README.md", model_card(plan, out.filename().string()), ""});
    files.push_back({"mergekit_config.yml", plan.config.source_text, ""});
  }
  return files;
}

}  // namespace

SafetensorsOutput safetensors_output(const MergePlan& plan, const std::string& out_dir,
                                     const OutputOptions& options) {
  SafetensorsOutput out;
  for (const auto& job : plan.jobs)
    out.tensors.push_back({job.output_name, job.out_dtype, job.shape});
  out.max_shard_bytes = options.max_shard_bytes;
  out.fingerprint = plan_fingerprint(plan, options);
  out.side_files = side_files(plan, out_dir, options);
  out.transaction.resume = options.resume;
  out.transaction.drop_cache_every = options.drop_cache_every;
  out.transaction.on_note = options.on_note;
  out.transaction.verify_bytes = std::min<uint64_t>(options.max_memory, uint64_t(16) << 20);
  return out;
}

std::vector<std::string> input_directories(const MergePlan& plan) {
  std::vector<std::string> dirs;
  for (const auto& m : plan.models) dirs.push_back(m.source->directory());
  if (plan.tokenizer) dirs.push_back(plan.tokenizer->source_dir);
  if (const auto& tok = plan.config.tokenizer) {
    if (tok->model) dirs.push_back(tok->model->path);
    for (const auto& t : tok->tokens)
      if (t.source.model) dirs.push_back(t.source.model->path);
  }
  return dirs;
}

void OutputWriter::finish() {
  try {
    for (const PlannedModel& m : plan_.models) m.source->check_unchanged();
  } catch (const Error& e) {
    keep_partial();
    fail(e.code(),
         "{}\nthe tensors written so far are kept in {}; run the same command with --resume to "
         "finish the merge (it starts over if the file stays changed)",
         e.what(), temp_dir());
  }
  SafetensorsSink::finish();
}

void OutputWriter::exit_on_input_fault() const {
  install_mapped_file_fault_handler(
      fmt::format("mergeforge: {}: ", code_name(ErrorCode::InvalidFile)),
      fmt::format(": the file shrank while the merge read it (truncated by another process?); "
                  "the tensors written so far are kept in {}; run the same command with --resume "
                  "to finish the merge once the file is whole",
                  temp_dir()),
      exit_status(ErrorCode::InvalidFile));
}

}  // namespace mf
