// The safetensors sink: the output checkpoint as safetensors shards, written through an
// OutputTransaction. Shards are laid out before any tensor is computed (names, dtypes and shapes
// are known), so each piece of a tensor is written straight to its final offset with pwrite, from
// any thread, and nothing waits for a whole shard. Finishing writes the shard index and the side
// files (config.json, tokenizer files, model card, recipe) and publishes the directory.
//
// It knows nothing of merge plans: exec/output_writer.hpp derives a SafetensorsOutput from one.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "io/safetensors.hpp"
#include "sinks/output_transaction.hpp"
#include "sinks/tensor_sink.hpp"

namespace mf {

// A file of the output besides the weights, written when the sink finishes.
struct SideFile {
  std::string name;       // relative to the output directory
  std::string content;    // written as is, unless copy_from is set
  std::string copy_from;  // a path: the file is copied from there
};

struct SafetensorsOutput {
  // One per job, in job order (the job index of the TensorSink calls).
  std::vector<TensorDecl> tensors;
  int64_t max_shard_bytes = 5'000'000'000;  // <= 0: one file
  // Equal only for the same work: a partial output is resumed only when it matches.
  std::string fingerprint;
  // Written in this order after the shard index.
  std::vector<SideFile> side_files;
  TransactionOptions transaction;
};

class SafetensorsSink : public TensorSink {
 public:
  // Checks the target and creates (or with output.transaction.resume reopens) the temporary
  // directory with every shard pre-sized and its header written.
  SafetensorsSink(std::string out_dir, SafetensorsOutput output);
  ~SafetensorsSink() override;
  SafetensorsSink(const SafetensorsSink&) = delete;
  SafetensorsSink& operator=(const SafetensorsSink&) = delete;

  bool holds(size_t job) const override { return transaction_->holds(job); }
  void write_piece(size_t job, uint64_t offset, std::span<const uint8_t> bytes) override;
  void finish_tensor(size_t job) override { transaction_->finish_region(job); }

  // Jobs whose tensors a resumed partial merge already holds intact (all false for a fresh start).
  const std::vector<bool>& jobs_done() const { return transaction_->held(); }
  // Leave the temporary directory for a later --resume (after an interruption).
  void keep_partial() { transaction_->keep_partial(); }
  // Syncs the shards, writes the index and the side files, then puts the directory in place.
  void finish();

  const std::string& out_dir() const { return transaction_->out_dir(); }
  const std::string& temp_dir() const { return transaction_->temp_dir(); }
  size_t shard_count() const { return shard_names_.size(); }

 private:
  std::vector<TensorDecl> tensors_;
  std::vector<SideFile> side_files_;
  std::vector<std::string> shard_names_;
  std::vector<size_t> shard_of_;  // per job
  std::unique_ptr<OutputTransaction> transaction_;
};

}  // namespace mf
