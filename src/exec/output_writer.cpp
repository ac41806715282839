#include "exec/output_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/checksum.hpp"
#include "core/error.hpp"
#include "exec/model_card.hpp"
#include "io/json_text.hpp"

namespace fs = std::filesystem;

namespace mf {

namespace {

[[noreturn]] void io_fail(const std::string& what, const std::string& path, int err) {
  if (err == ENOSPC || err == EDQUOT)
    fail(ErrorCode::Io, "{}: no space left on device while {}", path, what);
  fail(ErrorCode::Io, "{}: {} failed: {}", path, what, std::strerror(err));
}

// Asks the kernel to write back a file's dirty pages and drop its clean ones. Advice, not a request
// that can fail the merge: pages still under writeback stay until the next call, and file systems
// without a page cache ignore it.
void drop_cached(int fd) { ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); }

void write_all(int fd, const void* data, size_t n, uint64_t offset, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, off_t(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      io_fail("writing", path, errno);
    }
    p += w;
    n -= size_t(w);
    offset += uint64_t(w);
  }
}

void write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.flush();
  if (!out) io_fail("writing", path.string(), errno);
}

// A directory we may replace: empty, or holding a model (config.json).
bool replaceable(const fs::path& dir) {
  return fs::is_empty(dir) || fs::exists(dir / "config.json");
}

}  // namespace

int64_t parse_shard_size(const std::string& text) {
  if (text.empty()) fail(ErrorCode::Usage, "--out-shard-size: empty value");
  int64_t scale = 1;
  std::string digits = text;
  switch (std::tolower(static_cast<unsigned char>(text.back()))) {
    case 'k':
      scale = 1'000;
      break;
    case 'm':
      scale = 1'000'000;
      break;
    case 'b':
      scale = 1'000'000'000;
      break;
    default:
      break;
  }
  if (scale != 1) digits.pop_back();
  try {
    size_t used = 0;
    double v = std::stod(digits, &used);
    if (used == digits.size()) return int64_t(v * double(scale));
  } catch (const std::exception&) {
  }
  fail(ErrorCode::Usage,
       "--out-shard-size: `{}` is not a size (an integer, or with a k/m/b suffix)", text);
}

namespace {

constexpr const char* kFingerprintFile = "resume.json";
constexpr const char* kJournalFile = "tensors.journal";

// What must be equal for a partial merge to be resumed: the plan (recipe, resolved parameters,
// inputs' tensors and dtypes), the output layout options, and the input files as they were (sizes,
// mtimes).
std::string plan_fingerprint(const MergePlan& plan, const OutputOptions& options) {
  std::string text =
      fmt::format("mergeforge {}\n{}\nshard {}\ntok {}\ncard {}\n", MERGEFORGE_VERSION,
                  describe_plan(plan, true), options.max_shard_bytes, options.copy_tokenizer,
                  options.write_model_card);
  for (const auto& job : plan.jobs) text += fmt::format("{} {}\n", job.output_name, job.seed_key);
  for (const auto& m : plan.models) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(m.source->dir(), ec)) {
      auto name = entry.path().filename();
      if (entry.path().extension() != ".safetensors" && name != "config.json" &&
          name != "tokenizer.json" && name != "tokenizer_config.json")
        continue;
      auto mtime = fs::last_write_time(entry.path(), ec).time_since_epoch().count();
      text += fmt::format("{} {} {}\n", entry.path().string(), entry.file_size(ec), mtime);
    }
  }
  text += plan.output_config.dump();
  return fmt::format("{:016x}",
                     checksum64({reinterpret_cast<const uint8_t*>(text.data()), text.size()}));
}

}  // namespace

OutputWriter::OutputWriter(const MergePlan& plan, std::string out_dir, OutputOptions options)
    : plan_(plan), out_dir_(std::move(out_dir)), options_(options) {
  fs::path out = fs::path(out_dir_).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  out_dir_ = out.string();
  if (fs::exists(out) && !fs::is_directory(out))
    fail(ErrorCode::Io, "{}: the output path exists and is not a directory", out_dir_);
  if (fs::is_directory(out) && !replaceable(out))
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

  // Greedy packing in job order: a tensor that would overflow the shard starts a new one.
  std::vector<std::vector<size_t>> groups;
  uint64_t current = 0;
  for (size_t j = 0; j < plan.jobs.size(); ++j) {
    uint64_t bytes = plan.jobs[j].output_bytes();
    if (groups.empty() || (options_.max_shard_bytes > 0 && current > 0 &&
                           current + bytes > uint64_t(options_.max_shard_bytes))) {
      groups.emplace_back();
      current = 0;
    }
    groups.back().push_back(j);
    current += bytes;
  }
  placements_.resize(plan.jobs.size());
  done_.assign(plan.jobs.size(), false);
  checksums_ = std::make_unique<std::atomic<uint64_t>[]>(plan.jobs.size());
  written_ = std::make_unique<std::atomic<uint64_t>[]>(groups.size());
  const std::map<std::string, std::string> metadata{{"format", "pt"}};
  for (size_t s = 0; s < groups.size(); ++s) {
    Shard shard;
    shard.file_name = groups.size() == 1
                          ? "model.safetensors"
                          : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, groups.size());
    std::vector<TensorDecl> decls;
    for (size_t j : groups[s])
      decls.push_back({plan.jobs[j].output_name, plan.jobs[j].out_dtype, plan.jobs[j].shape});
    shard.layout = layout_safetensors(decls, metadata);
    for (size_t i = 0; i < groups[s].size(); ++i) {
      const auto& t = shard.layout.tensors[i];
      placements_[groups[s][i]] = {s, shard.layout.data_offset() + t.begin, t.nbytes()};
    }
    shards_.push_back(std::move(shard));
  }

  std::string fingerprint = plan_fingerprint(plan, options_);
  if (fs::exists(temp_dir_)) {
    if (options_.resume && reopen(fingerprint)) return;
    if (!options_.resume)
      fmt::print(
          stderr,
          "note: starting over; an interrupted merge was left in {} (--resume continues one)\n",
          temp_dir_);
  } else if (options_.resume) {
    fmt::print(stderr, "note: no partial merge to resume at {}; starting a fresh merge\n",
               temp_dir_);
  }
  try {
    create_fresh(fingerprint);
  } catch (...) {
    // The destructor does not run for a constructor that throws: remove the half-made directory
    // here (a disk too small for the shards fails in posix_fallocate, and must not leave gigabytes
    // behind).
    for (auto& sh : shards_)
      if (sh.fd >= 0) ::close(sh.fd), sh.fd = -1;
    if (journal_fd_ >= 0) ::close(journal_fd_), journal_fd_ = -1;
    std::error_code ec;
    fs::remove_all(temp_dir_, ec);
    throw;
  }
}

std::string OutputWriter::shard_path(const Shard& s) const {
  return (fs::path(temp_dir_) / s.file_name).string();
}

void OutputWriter::create_fresh(const std::string& fingerprint) {
  std::error_code ec;
  fs::remove_all(temp_dir_, ec);
  if (!fs::create_directory(temp_dir_, ec) || ec)
    fail(ErrorCode::Io, "{}: cannot create the temporary directory: {}", temp_dir_,
         ec ? ec.message() : "exists");
  for (auto& sh : shards_) {
    std::string path = shard_path(sh);
    sh.fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (sh.fd < 0) io_fail("creating", path, errno);
    // Reserve the space now so a full disk shows up before the merge rather than at its end.
    if (int err = ::posix_fallocate(sh.fd, 0, off_t(sh.layout.file_size));
        err != 0 && err != EOPNOTSUPP && err != EINVAL)
      io_fail("reserving space", path, err);
    if (::ftruncate(sh.fd, off_t(sh.layout.file_size)) != 0) io_fail("sizing", path, errno);
    write_all(sh.fd, sh.layout.header_bytes.data(), sh.layout.header_bytes.size(), 0, path);
  }
  write_text_file(fs::path(temp_dir_) / kFingerprintFile,
                  nlohmann::json{{"fingerprint", fingerprint}, {"output", out_dir_}}.dump() + "\n");
  std::string journal = (fs::path(temp_dir_) / kJournalFile).string();
  journal_fd_ = ::open(journal.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (journal_fd_ < 0) io_fail("creating", journal, errno);
}

// Reopens an interrupted merge of the same plan; false (start over) when it does not match.
bool OutputWriter::reopen(const std::string& fingerprint) {
  fs::path dir(temp_dir_);
  try {
    auto saved = nlohmann::json::parse(read_text_file((dir / kFingerprintFile).string()));
    if (saved.value("fingerprint", "") != fingerprint) {
      fmt::print(
          stderr,
          "note: the partial merge in {} was made from a different recipe, options or inputs; "
          "starting over\n",
          temp_dir_);
      return false;
    }
  } catch (const std::exception&) {
    fmt::print(stderr,
               "note: the partial merge in {} has no readable resume record; starting over\n",
               temp_dir_);
    return false;
  }
  for (auto& sh : shards_) {
    std::string path = shard_path(sh);
    sh.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    std::string header(sh.layout.header_bytes.size(), '\0');
    bool ok = sh.fd >= 0 && fs::file_size(path) == sh.layout.file_size &&
              ::pread(sh.fd, header.data(), header.size(), 0) == ssize_t(header.size()) &&
              header == sh.layout.header_bytes;
    if (!ok) {
      for (auto& other : shards_)
        if (other.fd >= 0) ::close(other.fd), other.fd = -1;
      fmt::print(stderr, "note: the partial merge in {} has a damaged shard; starting over\n",
                 temp_dir_);
      return false;
    }
  }
  // Journal lines: "<job> <checksum hex>". A torn last line (killed mid-write) is ignored.
  std::ifstream journal(dir / kJournalFile);
  std::string line;
  size_t kept = 0;
  std::vector<uint8_t> buffer;
  while (std::getline(journal, line)) {
    size_t job = 0;
    unsigned long long sum = 0;
    if (std::sscanf(line.c_str(), "%zu %llx", &job, &sum) != 2 || job >= done_.size() || done_[job])
      continue;
    const Placement& p = placements_[job];
    buffer.resize(p.bytes);
    if (::pread(shards_[p.shard].fd, buffer.data(), p.bytes, off_t(p.offset)) != ssize_t(p.bytes))
      continue;
    if (tensor_checksum(buffer) != sum) continue;
    done_[job] = true;
    ++kept;
  }
  std::string journal_path = (dir / kJournalFile).string();
  journal_fd_ = ::open(journal_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (journal_fd_ < 0) io_fail("opening", journal_path, errno);
  fmt::print(stderr, "resuming: {} of {} tensors already written and verified\n", kept,
             done_.size());
  return true;
}

OutputWriter::~OutputWriter() {
  for (auto& s : shards_)
    if (s.fd >= 0) ::close(s.fd);
  if (journal_fd_ >= 0) ::close(journal_fd_);
  if (!finished_ && !keep_partial_) {
    std::error_code ec;
    fs::remove_all(temp_dir_, ec);
  }
}

void OutputWriter::write_piece(size_t job, uint64_t offset, std::span<const uint8_t> bytes) {
  const Placement& p = placements_.at(job);
  if (offset > p.bytes || bytes.size() > p.bytes - offset)
    fail(ErrorCode::Internal, "tensor `{}`: {} bytes at offset {} overrun its {} planned bytes",
         plan_.jobs[job].output_name, bytes.size(), offset, p.bytes);
  const Shard& s = shards_[p.shard];
  write_all(s.fd, bytes.data(), bytes.size(), p.offset + offset, shard_path(s));
  checksums_[job].fetch_add(tensor_checksum(bytes, offset));
  // At 3B the output is 6 GiB next to 24 GiB of inputs on 23.5 GiB of RAM: left in the cache it
  // evicts inputs that this merge, or the next one, reads again from disk.
  const uint64_t step = options_.drop_cache_every;
  const uint64_t before = written_[p.shard].fetch_add(bytes.size());
  if (step != 0 && before / step != (before + bytes.size()) / step) drop_cached(s.fd);
}

void OutputWriter::finish_tensor(size_t job) {
  // Recorded only after the data is written: a journal entry always describes bytes on disk. One
  // write(2) of one short line on an O_APPEND descriptor, so concurrent workers never interleave.
  std::string line = fmt::format("{} {:016x}\n", job, checksums_[job].load());
  ssize_t w = ::write(journal_fd_, line.data(), line.size());
  if (w != ssize_t(line.size()))  // a short write sets no errno: the disk filled up mid-line
    io_fail("writing the journal", (fs::path(temp_dir_) / kJournalFile).string(),
            w < 0 ? errno : ENOSPC);
}

void OutputWriter::write_metadata_files() {
  fs::path dir(temp_dir_);
  if (shards_.size() > 1) {
    nlohmann::json index;
    index["metadata"] = {{"total_size", plan_.output_bytes()},
                         {"mergeforge_version", MERGEFORGE_VERSION}};
    nlohmann::json map = nlohmann::json::object();
    for (size_t j = 0; j < plan_.jobs.size(); ++j)
      map[plan_.jobs[j].output_name] = shards_[placements_[j].shard].file_name;
    index["weight_map"] = map;
    write_text_file(dir / "model.safetensors.index.json", index.dump(2) + "\n");
  }
  write_text_file(dir / "config.json", plan_.output_config.dump(2) + "\n");

  const fs::path donor(plan_.models[plan_.donor].source->dir());
  bool has_tokenizer =
      fs::exists(donor / "tokenizer_config.json") &&
      (fs::exists(donor / "tokenizer.json") || fs::exists(donor / "tokenizer.model"));
  if (plan_.tokenizer) {
    // Written fresh (a tokenizer section, or a chat_template): no other tokenizer or generation
    // files.
    const OutputTokenizer& tok = *plan_.tokenizer;
    if (!tok.only_when_copying || options_.copy_tokenizer) {
      for (const auto& [name, content] : tok.files) write_text_file(dir / name, content);
      for (const auto& name : tok.copy_files) {
        std::error_code ec;
        fs::copy_file(fs::path(tok.copy_dir) / name, dir / name,
                      fs::copy_options::overwrite_existing, ec);
        if (ec) fail(ErrorCode::Io, "{}: copying {} failed: {}", temp_dir_, name, ec.message());
      }
    }
  } else if (options_.copy_tokenizer && has_tokenizer) {
    for (const char* name :
         {"tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model",
          "added_tokens.json", "merges.txt", "vocab.json", "vocab.txt", "chat_template.jinja",
          "chat_template.json", "generation_config.json", "video_preprocessor_config.json",
          "preprocessor_config.json", "processor_config.json"}) {
      if (!fs::exists(donor / name)) continue;
      std::error_code ec;
      fs::copy_file(donor / name, dir / name, fs::copy_options::overwrite_existing, ec);
      if (ec) fail(ErrorCode::Io, "{}: copying {} failed: {}", temp_dir_, name, ec.message());
    }
  }
  if (options_.write_model_card) {
    write_text_file(dir / "README.md", model_card(plan_, fs::path(out_dir_).filename().string()));
    write_text_file(dir / "mergekit_config.yml", plan_.config.source_text);
  }
}

void OutputWriter::finish() {
  ::close(journal_fd_);
  journal_fd_ = -1;
  std::error_code rm;
  fs::remove(fs::path(temp_dir_) / kJournalFile, rm);
  fs::remove(fs::path(temp_dir_) / kFingerprintFile, rm);
  for (auto& s : shards_) {
    std::string path = (fs::path(temp_dir_) / s.file_name).string();
    if (::fsync(s.fd) != 0) io_fail("syncing", path, errno);
    if (options_.drop_cache_every != 0) drop_cached(s.fd);  // every page is clean now
    if (::close(s.fd) != 0) io_fail("closing", path, errno);
    s.fd = -1;
  }
  write_metadata_files();
  // Swap into place: an existing model directory is replaced only once the new one is complete.
  std::error_code ec;
  fs::path out(out_dir_);
  fs::path old;
  if (fs::exists(out)) {
    old = out.parent_path() / ("." + out.filename().string() + ".mergeforge-old");
    fs::remove_all(old, ec);
    fs::rename(out, old, ec);
    if (ec)
      fail(ErrorCode::Io, "{}: cannot move the previous output aside: {}", out_dir_, ec.message());
  }
  fs::rename(temp_dir_, out, ec);
  if (ec)
    fail(ErrorCode::Io, "{}: cannot move the finished output into place: {}", out_dir_,
         ec.message());
  finished_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace mf
