// The output transaction beneath every sink: an output directory is built in a hidden sibling
// directory (`.<name>.mergeforge-partial`) and appears at its path only when complete, in one
// rename. Data files are created pre-sized with their prefix (a header) written; the sink writes
// regions of them (one per output tensor) with pwrite from any thread, and each finished region is
// recorded in a checksummed journal, so an interrupted run can be resumed: a later run of the same
// work (same fingerprint) reopens the directory, verifies every journaled region against its
// checksum, reading at most `verify_bytes` at a time, and keeps those that match. Finishing syncs
// every file and the directory, then swaps the directory into place with renameat2(RENAME_EXCHANGE)
// so a path that held an earlier output always holds one of the two.
//
// The transaction knows nothing of the format: a safetensors sink, a GGUF sink or a later
// subcommand's writer lay out their files and say which byte ranges are their regions.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mf {

// A data file of the output: created with `size` bytes, `prefix` written at offset 0.
struct TransactionFile {
  std::string name;  // relative to the output directory
  uint64_t size = 0;
  std::string prefix;
};

// A journaled byte range of a data file (one output tensor).
struct TransactionRegion {
  size_t file = 0;      // index into the files
  uint64_t offset = 0;  // absolute file offset
  uint64_t bytes = 0;
};

struct TransactionOptions {
  // Continue the partial output an interrupted run of the same work left (same fingerprint): its
  // regions that verify are kept. Without it a partial output is started over.
  bool resume = false;
  // A data file is dropped from the page cache (posix_fadvise DONTNEED) each time this many more
  // bytes are written to it, and wholly once synced. 0: never.
  uint64_t drop_cache_every = uint64_t(256) << 20;
  // The most bytes a resume reads at once to verify a region (its memory bound); at least 64 KiB.
  uint64_t verify_bytes = uint64_t(16) << 20;
  // An existing directory at the output path is replaced only when empty or when it holds this
  // file (an earlier output); empty: never replaced unless empty.
  std::string replaceable_marker = "config.json";
  // Receives what a user should know (a partial output resumed or started over); the transaction
  // prints nothing.
  std::function<void(const std::string&)> on_note;
};

class OutputTransaction {
 public:
  // Checks the target (a file there, or a non-empty directory without the marker, is an error) and
  // creates the temporary directory with every data file, or with options.resume reopens the one an
  // interrupted run left when its fingerprint matches. Errors are Error(ErrorCode::Io).
  OutputTransaction(std::string out_dir, std::string fingerprint,
                    std::vector<TransactionFile> files, std::vector<TransactionRegion> regions,
                    TransactionOptions options);
  // Removes the temporary directory unless publish() succeeded or keep_partial() was called.
  ~OutputTransaction();
  OutputTransaction(const OutputTransaction&) = delete;
  OutputTransaction& operator=(const OutputTransaction&) = delete;

  const std::string& out_dir() const { return out_dir_; }
  const std::string& temp_dir() const { return temp_dir_; }
  const std::vector<TransactionRegion>& regions() const { return regions_; }

  // True when region `r` is already intact on disk (a resumed run verified it).
  bool holds(size_t r) const { return held_[r]; }
  const std::vector<bool>& held() const { return held_; }

  // Writes bytes `offset` bytes into region `r` (from any thread; pieces of one region never
  // overlap). The caller checks the piece lies inside the region.
  void write(size_t r, uint64_t offset, std::span<const uint8_t> bytes);
  // Every byte of region `r` is written: records it in the journal.
  void finish_region(size_t r);
  // Leave the temporary directory for a later resume (after an interruption).
  void keep_partial() { keep_partial_ = true; }

  // Finishing, in this order: seal(), then the side files, then publish().
  // Ends resumability (the journal and resume record go) and syncs and closes the data files.
  void seal();
  // A side file (config.json, an index, tokenizer files): written and synced.
  void write_file(const std::string& name, std::string_view content);
  // A side file copied from `from`, synced.
  void copy_file(const std::string& name, const std::string& from);
  // Syncs the directory and puts it at the output path; an output already there is exchanged with
  // it atomically (renameat2 RENAME_EXCHANGE; moved aside first where the file system cannot), then
  // removed. Syncs the parent directory.
  void publish();

 private:
  void note(const std::string& text) const {
    if (options_.on_note) options_.on_note(text);
  }
  void create_fresh();
  bool reopen();
  bool verify(size_t r, uint64_t expected, std::vector<uint8_t>& buffer) const;
  std::string file_path(size_t f) const;
  void close_files();

  std::string out_dir_;
  std::string temp_dir_;
  std::string fingerprint_;
  std::vector<TransactionFile> files_;
  std::vector<TransactionRegion> regions_;
  TransactionOptions options_;
  std::vector<int> fds_;
  std::vector<bool> held_;
  // Per region: the tensor_checksum of the pieces written so far.
  std::unique_ptr<std::atomic<uint64_t>[]> checksums_;
  // Per file: bytes written by this run (counts toward the next drop from the cache).
  std::unique_ptr<std::atomic<uint64_t>[]> written_;
  int journal_fd_ = -1;
  bool sealed_ = false;
  bool published_ = false;
  bool keep_partial_ = false;
};

}  // namespace mf
