// Writes the output checkpoint. Shards are laid out from the plan before any tensor is computed
// (names, dtypes and shapes are known), so each finished tensor is written straight to its final
// offset with pwrite, from any thread, and nothing waits for a whole shard. Everything goes to a
// hidden sibling directory that is renamed into place only when complete: a crash never leaves a
// complete-looking output.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/safetensors.hpp"
#include "plan/merge_plan.hpp"
#include "sinks/tensor_sink.hpp"

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
};

class OutputWriter : public TensorSink {
 public:
  // Checks the target (a file there, or a non-empty directory that is not a model, is an error) and
  // creates the temporary directory with every shard pre-sized and its header written, or with
  // options.resume reopens the one an interrupted run left.
  OutputWriter(const MergePlan& plan, std::string out_dir, OutputOptions options);
  // Removes the temporary directory unless finish() succeeded or keep_partial() was called.
  ~OutputWriter();
  OutputWriter(const OutputWriter&) = delete;
  OutputWriter& operator=(const OutputWriter&) = delete;

  // The same in pieces (a streamed tensor's chunks, from any thread, in any order): each piece at
  // its byte offset within the tensor, then finish_tensor() once every byte is written.
  void write_piece(size_t job, uint64_t offset, std::span<const uint8_t> bytes) override;
  void finish_tensor(size_t job) override;
  bool holds(size_t job) const override { return done_[job]; }
  // Jobs whose tensors a resumed partial merge already holds intact (all false for a fresh start).
  const std::vector<bool>& jobs_done() const { return done_; }
  // Leave the temporary directory for a later --resume (after an interruption).
  void keep_partial() { keep_partial_ = true; }
  // Syncs the shards, writes the index, config.json, tokenizer files, model card and recipe, then
  // renames the temporary directory into place.
  void finish();

  const std::string& temp_dir() const { return temp_dir_; }
  size_t shard_count() const { return shards_.size(); }

 private:
  struct Shard {
    std::string file_name;
    SafetensorsLayout layout;
    int fd = -1;
  };
  struct Placement {
    size_t shard;
    uint64_t offset;  // absolute file offset
    uint64_t bytes;
  };

  void write_metadata_files();
  void create_fresh(const std::string& fingerprint);
  bool reopen(const std::string& fingerprint);
  std::string shard_path(const Shard& s) const;

  const MergePlan& plan_;
  std::string out_dir_;
  std::string temp_dir_;
  OutputOptions options_;
  std::vector<Shard> shards_;
  std::vector<Placement> placements_;  // per job
  std::vector<bool> done_;             // per job: already intact on disk (resume)
  // Per job: the tensor_checksum of the pieces written so far.
  std::unique_ptr<std::atomic<uint64_t>[]> checksums_;
  // Per shard: bytes written by this run (counts toward the next drop from the cache).
  std::unique_ptr<std::atomic<uint64_t>[]> written_;
  int journal_fd_ = -1;
  bool finished_ = false;
  bool keep_partial_ = false;
};

// Parses --out-shard-size: an integer or one with a k / m / b suffix (decimal: 5B = 5e9 bytes).
int64_t parse_shard_size(const std::string& text);

}  // namespace mf
