#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "core/error.hpp"
#include "core/platform.hpp"

namespace mf {

namespace {

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

// The live mappings, for the SIGBUS handler: a slot holds a MappedFile from its mapping to its
// unmapping. Claimed and freed with atomic operations only, so the handler may read it at any time.
// A process maps a few hundred input files at most; past the slots, a file is simply not named.
constexpr size_t kSlots = 4096;
std::array<std::atomic<const MappedFile*>, kSlots> g_live{};

void register_mapping(const MappedFile* file) {
  for (auto& slot : g_live) {
    const MappedFile* empty = nullptr;
    if (slot.compare_exchange_strong(empty, file)) return;
  }
}

void unregister_mapping(const MappedFile* file) {
  for (auto& slot : g_live) {
    const MappedFile* expected = file;
    if (slot.compare_exchange_strong(expected, nullptr)) return;
  }
}

// The handler's texts, written once before it is installed (and replaced only from the thread that
// installs it again).
struct FaultText {
  std::string before, after;
  int status = 4;
};
std::atomic<FaultText*> g_fault_text{nullptr};

void write_stderr(const char* text, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, text, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return;
    }
    text += w;
    n -= size_t(w);
  }
}

// Names the file a faulting address belongs to and ends the process; an address of no live
// mapping returns, and the fault takes its default action.
void name_faulting_file(const void* address) {
  const auto at = reinterpret_cast<uintptr_t>(address);
  const FaultText* text = g_fault_text.load();
  if (text == nullptr) return;
  for (const auto& slot : g_live) {
    const MappedFile* file = slot.load(std::memory_order_acquire);
    if (file == nullptr) continue;
    const auto base = reinterpret_cast<uintptr_t>(file->bytes().data());
    if (at < base || at - base >= file->bytes().size()) continue;
    const std::string& path = file->path();
    write_stderr(text->before.data(), text->before.size());
    write_stderr(path.data(), path.size());
    write_stderr(text->after.data(), text->after.size());
    write_stderr("\n", 1);
    ::_exit(text->status);
  }
}

}  // namespace

void install_mapped_file_fault_handler(const std::string& before, const std::string& after,
                                       int exit_status) {
  // The previous texts are leaked, not freed: a handler running on another thread may be reading
  // them.
  g_fault_text.store(new FaultText{before, after, exit_status});
  os::on_mapping_fault(name_faulting_file);
}

MappedFile::MappedFile(std::string path) : path_(std::move(path)) {
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorCode::InvalidFile, "{}: cannot open: {}", path_, errno_text(errno));

  if (const int error = os::identify(fd, identity_)) {
    ::close(fd);
    fail(ErrorCode::InvalidFile, "{}: cannot stat: {}", path_, errno_text(error));
  }
  if (!identity_.regular) {
    ::close(fd);
    fail(ErrorCode::InvalidFile, "{}: not a regular file", path_);
  }
  size_ = size_t(identity_.size);
  if (size_ > 0) {
    int error = 0;
    data_ = os::map_read_only(fd, size_, error);
    if (data_ == nullptr) {
      ::close(fd);
      fail(ErrorCode::InvalidFile, "{}: cannot map {} bytes: {}", path_, size_, errno_text(error));
    }
    register_mapping(this);
  }
  fd_ = fd;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) {
    unregister_mapping(this);
    os::unmap(data_, size_);
  }
  ::close(fd_);
}

void MappedFile::release(uint64_t offset, uint64_t length) const {
  if (data_ == nullptr || offset >= size_) return;
  uint64_t end = offset + std::min<uint64_t>(length, size_ - offset);
  // Only whole pages inside the range: a page shared with a neighbouring tensor may still be in
  // use.
  uint64_t page = os::page_size();
  uint64_t first = (offset + page - 1) / page * page;
  uint64_t last = end == size_ ? (end + page - 1) / page * page : end / page * page;
  if (first >= last) return;
  os::drop_mapped_pages(data_ + first, last - first);
}

void MappedFile::prefetch(uint64_t offset, uint64_t length) const {
  if (data_ == nullptr || offset >= size_) return;
  const uint64_t end = offset + std::min<uint64_t>(length, size_ - offset);
  const uint64_t first = offset / os::page_size() * os::page_size();
  // Reads the pages and maps them, so the workers neither wait for the disk nor take page faults.
  os::populate_mapped_pages(fd_, data_ + first, end - first, first);
}

void MappedFile::check_unchanged() const {
  os::FileIdentity now;
  if (const int error = os::identify(path_, now))
    fail(ErrorCode::InvalidFile, "{}: the file went away while the merge read it: {}", path_,
         errno_text(error));
  std::string what;
  if (now.device != identity_.device || now.inode != identity_.inode)
    what = "it was replaced by another file";
  else if (now.size != identity_.size)
    what = fmt::format("its size went from {} to {} bytes", identity_.size, now.size);
  else if (now.mtime_ns != identity_.mtime_ns)
    what = "it was modified (a new modification time)";
  if (!what.empty())
    fail(ErrorCode::InvalidFile,
         "{}: the file changed while the merge read it ({}); the merged tensors may mix its old "
         "and new contents",
         path_, what);
}

double MappedFile::resident_fraction(uint64_t offset, uint64_t length) const {
  if (data_ == nullptr || offset >= size_ || length == 0) return 0;
  constexpr uint64_t kSamples = 64;
  const uint64_t page = os::page_size();
  const uint64_t first = offset / page;
  const uint64_t pages =
      (offset + std::min<uint64_t>(length, size_ - offset) - 1) / page + 1 - first;
  const uint64_t samples = std::min(pages, kSamples);
  uint64_t resident = 0;
  for (uint64_t s = 0; s < samples; ++s) {
    const uint64_t at = (first + s * pages / samples) * page;
    resident += os::page_resident(data_ + at);
  }
  return double(resident) / double(samples);
}

}  // namespace mf
