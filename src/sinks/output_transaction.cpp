#include "sinks/output_transaction.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/checksum.hpp"
#include "core/error.hpp"
#include "core/platform.hpp"
#include "sinks/sink_files.hpp"

namespace fs = std::filesystem;

namespace mf {

namespace {

constexpr const char* kFingerprintFile = "resume.json";
constexpr const char* kJournalFile = "tensors.journal";

// Asks the kernel to write back a file's dirty pages and drop its clean ones. Advice, not a request
// that can fail the merge: pages still under writeback stay until the next call, and file systems
// without a page cache ignore it.
void drop_cached(int fd) { os::drop_file_cache(fd); }

std::string read_small_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("unreadable");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A directory we may replace: empty, or holding the marker of an earlier output.
bool replaceable(const fs::path& dir, const std::string& marker) {
  return fs::is_empty(dir) || (!marker.empty() && fs::exists(dir / marker));
}

}  // namespace

OutputTransaction::OutputTransaction(std::string out_dir, std::string fingerprint,
                                     std::vector<TransactionFile> files,
                                     std::vector<TransactionRegion> regions,
                                     TransactionOptions options)
    : fingerprint_(std::move(fingerprint)),
      files_(std::move(files)),
      regions_(std::move(regions)),
      options_(std::move(options)) {
  fs::path out = fs::path(out_dir).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  out_dir_ = out.string();
  if (fs::exists(out) && !fs::is_directory(out))
    fail(ErrorCode::Io, "{}: the output path exists and is not a directory", out_dir_);
  if (fs::is_directory(out) && !replaceable(out, options_.replaceable_marker))
    fail(ErrorCode::Io,
         "{}: the output directory is not empty and holds no model; remove it or choose "
         "another path",
         out_dir_);
  fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec)
    fail(ErrorCode::Io, "{}: cannot create the parent directory: {}", parent.string(),
         ec.message());
  temp_dir_ = (parent / ("." + out.filename().string() + ".mergeforge-partial")).string();

  fds_.assign(files_.size(), -1);
  held_.assign(regions_.size(), false);
  checksums_ = std::make_unique<std::atomic<uint64_t>[]>(regions_.size());
  written_ = std::make_unique<std::atomic<uint64_t>[]>(files_.size());

  if (fs::exists(temp_dir_)) {
    if (options_.resume && reopen()) return;
    if (!options_.resume)
      note(
          fmt::format("starting over; an interrupted merge was left in {} (--resume continues one)",
                      temp_dir_));
  } else if (options_.resume) {
    note(fmt::format("no partial merge to resume at {}; starting a fresh merge", temp_dir_));
  }
  try {
    create_fresh();
  } catch (...) {
    // The destructor does not run for a constructor that throws: remove the half-made directory
    // here (a disk too small for the files fails in posix_fallocate, and must not leave gigabytes
    // behind).
    close_files();
    std::error_code rm;
    fs::remove_all(temp_dir_, rm);
    throw;
  }
}

std::string OutputTransaction::file_path(size_t f) const {
  return (fs::path(temp_dir_) / files_[f].name).string();
}

void OutputTransaction::close_files() {
  for (int& fd : fds_)
    if (fd >= 0) ::close(fd), fd = -1;
  if (journal_fd_ >= 0) ::close(journal_fd_), journal_fd_ = -1;
}

void OutputTransaction::create_fresh() {
  std::error_code ec;
  fs::remove_all(temp_dir_, ec);
  if (!fs::create_directory(temp_dir_, ec) || ec)
    fail(ErrorCode::Io, "{}: cannot create the temporary directory: {}", temp_dir_,
         ec ? ec.message() : "exists");
  for (size_t f = 0; f < files_.size(); ++f) {
    std::string path = file_path(f);
    fds_[f] = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fds_[f] < 0) io_fail("creating", path, errno);
    // Reserve the space now so a full disk shows up before the merge rather than at its end.
    if (int err = os::preallocate(fds_[f], files_[f].size);
        err != 0 && err != EOPNOTSUPP && err != EINVAL)
      io_fail("reserving space", path, err);
    if (::ftruncate(fds_[f], off_t(files_[f].size)) != 0) io_fail("sizing", path, errno);
    write_all(fds_[f], files_[f].prefix.data(), files_[f].prefix.size(), 0, path);
  }
  write_text_file((fs::path(temp_dir_) / kFingerprintFile).string(),
                  nlohmann::json{{"fingerprint", fingerprint_}, {"output", out_dir_}}.dump() + "\n",
                  false);
  std::string journal = (fs::path(temp_dir_) / kJournalFile).string();
  journal_fd_ = ::open(journal.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (journal_fd_ < 0) io_fail("creating", journal, errno);
}

// Reads region `r` in pieces of at most the verification bound and compares its checksum.
bool OutputTransaction::verify(size_t r, uint64_t expected, std::vector<uint8_t>& buffer) const {
  const TransactionRegion& region = regions_[r];
  uint64_t sum = 0;
  for (uint64_t done = 0; done < region.bytes;) {
    const size_t n = size_t(std::min<uint64_t>(buffer.size(), region.bytes - done));
    if (::pread(fds_[region.file], buffer.data(), n, off_t(region.offset + done)) != ssize_t(n))
      return false;
    sum += tensor_checksum({buffer.data(), n}, done);
    done += n;
  }
  return sum == expected;
}

// Reopens an interrupted run of the same work; false (start over) when it does not match.
bool OutputTransaction::reopen() {
  fs::path dir(temp_dir_);
  try {
    auto saved = nlohmann::json::parse(read_small_file(dir / kFingerprintFile));
    if (saved.value("fingerprint", "") != fingerprint_) {
      note(fmt::format(
          "the partial merge in {} was made from a different recipe, options or inputs; "
          "starting over",
          temp_dir_));
      return false;
    }
  } catch (const std::exception&) {
    note(fmt::format("the partial merge in {} has no readable resume record; starting over",
                     temp_dir_));
    return false;
  }
  for (size_t f = 0; f < files_.size(); ++f) {
    std::string path = file_path(f);
    fds_[f] = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    std::string prefix(files_[f].prefix.size(), '\0');
    std::error_code ec;
    bool ok = fds_[f] >= 0 && fs::file_size(path, ec) == files_[f].size && !ec &&
              ::pread(fds_[f], prefix.data(), prefix.size(), 0) == ssize_t(prefix.size()) &&
              prefix == files_[f].prefix;
    if (!ok) {
      close_files();
      note(fmt::format("the partial merge in {} has a damaged shard; starting over", temp_dir_));
      return false;
    }
  }
  // Journal lines: "<region> <checksum hex>". A torn last line (killed mid-write) is ignored.
  std::ifstream journal(dir / kJournalFile);
  std::string line;
  size_t kept = 0;
  uint64_t largest = 0;
  for (const auto& region : regions_) largest = std::max(largest, region.bytes);
  const uint64_t piece =
      std::min(largest, std::max<uint64_t>(options_.verify_bytes, uint64_t(64) << 10));
  std::vector<uint8_t> buffer(size_t(std::max<uint64_t>(piece, 1)));
  while (std::getline(journal, line)) {
    size_t r = 0;
    unsigned long long sum = 0;
    if (std::sscanf(line.c_str(), "%zu %llx", &r, &sum) != 2 || r >= held_.size() || held_[r])
      continue;
    if (!verify(r, sum, buffer)) continue;
    held_[r] = true;
    ++kept;
  }
  std::string journal_path = (dir / kJournalFile).string();
  journal_fd_ = ::open(journal_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (journal_fd_ < 0) io_fail("opening", journal_path, errno);
  note(fmt::format("resuming: {} of {} tensors already written and verified", kept, held_.size()));
  return true;
}

OutputTransaction::~OutputTransaction() {
  close_files();
  if (!published_ && !keep_partial_) {
    std::error_code ec;
    fs::remove_all(temp_dir_, ec);
  }
}

void OutputTransaction::write(size_t r, uint64_t offset, std::span<const uint8_t> bytes) {
  const TransactionRegion& region = regions_[r];
  const int fd = fds_[region.file];
  write_all(fd, bytes.data(), bytes.size(), region.offset + offset, file_path(region.file));
  checksums_[r].fetch_add(tensor_checksum(bytes, offset));
  // At 3B the output is 6 GiB next to 24 GiB of inputs on 23.5 GiB of RAM: left in the cache it
  // evicts inputs that this merge, or the next one, reads again from disk.
  const uint64_t step = options_.drop_cache_every;
  const uint64_t before = written_[region.file].fetch_add(bytes.size());
  if (step != 0 && before / step != (before + bytes.size()) / step) drop_cached(fd);
}

void OutputTransaction::finish_region(size_t r) {
  // Recorded only after the data is written: a journal entry always describes bytes on disk. One
  // write(2) of one short line on an O_APPEND descriptor, so concurrent workers never interleave.
  std::string line = fmt::format("{} {:016x}\n", r, checksums_[r].load());
  ssize_t w = ::write(journal_fd_, line.data(), line.size());
  if (w != ssize_t(line.size()))  // a short write sets no errno: the disk filled up mid-line
    io_fail("writing the journal", (fs::path(temp_dir_) / kJournalFile).string(),
            w < 0 ? errno : ENOSPC);
}

void OutputTransaction::seal() {
  ::close(journal_fd_);
  journal_fd_ = -1;
  std::error_code rm;
  fs::remove(fs::path(temp_dir_) / kJournalFile, rm);
  fs::remove(fs::path(temp_dir_) / kFingerprintFile, rm);
  for (size_t f = 0; f < files_.size(); ++f) {
    std::string path = file_path(f);
    if (const int err = os::sync_file(fds_[f], false)) io_fail("syncing", path, err);
    if (options_.drop_cache_every != 0) drop_cached(fds_[f]);  // every page is clean now
    if (::close(fds_[f]) != 0) io_fail("closing", path, errno);
    fds_[f] = -1;
  }
  sealed_ = true;
}

void OutputTransaction::write_file(const std::string& name, std::string_view content) {
  write_text_file((fs::path(temp_dir_) / name).string(), content, true);
}

void OutputTransaction::copy_file(const std::string& name, const std::string& from) {
  std::error_code ec;
  const fs::path to = fs::path(temp_dir_) / name;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) fail(ErrorCode::Io, "{}: copying {} failed: {}", temp_dir_, name, ec.message());
  sync_path(to.string(), false);
}

void OutputTransaction::publish() {
  if (!sealed_) fail(ErrorCode::Internal, "{}: published before it was sealed", temp_dir_);
  const fs::path out(out_dir_);
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  // The directory's entries are durable before it appears at the output path.
  sync_path(temp_dir_, true);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out))) {
    // An output already there is swapped with the new one in one step: the path never lacks a
    // model. The old one is then where the temporary directory was, and is removed.
    const int err = os::exchange_paths(temp_dir_, out_dir_);
    if (err == 0) {
      published_ = true;
      sync_path(parent.string(), true);
      fs::remove_all(temp_dir_, ec);
      return;
    }
    if (err != ENOTSUP)
      fail(ErrorCode::Io, "{}: cannot swap the finished output into place: {}", out_dir_,
           std::strerror(err));
    // A file system without RENAME_EXCHANGE: move the old output aside first.
    const fs::path old = parent / ("." + out.filename().string() + ".mergeforge-old");
    fs::remove_all(old, ec);
    fs::rename(out, old, ec);
    if (ec)
      fail(ErrorCode::Io, "{}: cannot move the previous output aside: {}", out_dir_, ec.message());
    fs::rename(temp_dir_, out, ec);
    if (ec) {
      std::error_code back;
      fs::rename(old, out, back);  // put the previous output back
      fail(ErrorCode::Io, "{}: cannot move the finished output into place: {}", out_dir_,
           ec.message());
    }
    published_ = true;
    sync_path(parent.string(), true);
    fs::remove_all(old, ec);
    return;
  }
  fs::rename(temp_dir_, out, ec);
  if (ec)
    fail(ErrorCode::Io, "{}: cannot move the finished output into place: {}", out_dir_,
         ec.message());
  published_ = true;
  sync_path(parent.string(), true);
}

}  // namespace mf
