#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <system_error>

#include "core/error.hpp"

namespace mf {

namespace {

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

uint64_t page_size() {
  static const uint64_t size = uint64_t(::sysconf(_SC_PAGESIZE));
  return size;
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

extern "C" void on_bus_error(int sig, siginfo_t* info, void*) {
  const auto at = reinterpret_cast<uintptr_t>(info->si_addr);
  const FaultText* text = g_fault_text.load();
  if (text != nullptr && info->si_code != SI_USER) {
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
  // Not a mapped input: the default action, once the faulting access runs again (or now, when the
  // signal was sent).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  if (info->si_code == SI_USER) ::raise(sig);
}

}  // namespace

void install_mapped_file_fault_handler(const std::string& before, const std::string& after,
                                       int exit_status) {
  // The previous texts are leaked, not freed: a handler running on another thread may be reading
  // them.
  g_fault_text.store(new FaultText{before, after, exit_status});
  struct sigaction action {};
  action.sa_sigaction = on_bus_error;
  action.sa_flags = SA_SIGINFO;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, nullptr);
}

MappedFile::MappedFile(std::string path) : path_(std::move(path)) {
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorCode::InvalidFile, "{}: cannot open: {}", path_, errno_text(errno));

  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int error = errno;
    ::close(fd);
    fail(ErrorCode::InvalidFile, "{}: cannot stat: {}", path_, errno_text(error));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorCode::InvalidFile, "{}: not a regular file", path_);
  }

  identity_ = {uint64_t(st.st_dev), uint64_t(st.st_ino), uint64_t(st.st_size),
               int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  size_ = size_t(st.st_size);
  if (size_ > 0) {
    void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      int error = errno;
      ::close(fd);
      fail(ErrorCode::InvalidFile, "{}: cannot map {} bytes: {}", path_, size_, errno_text(error));
    }
    data_ = static_cast<const uint8_t*>(data);
    register_mapping(this);
  }
  fd_ = fd;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) {
    unregister_mapping(this);
    ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  ::close(fd_);
}

void MappedFile::release(uint64_t offset, uint64_t length) const {
  if (data_ == nullptr || offset >= size_) return;
  uint64_t end = offset + std::min<uint64_t>(length, size_ - offset);
  // Only whole pages inside the range: a page shared with a neighbouring tensor may still be in
  // use. Dropping a clean page of a read-only private mapping loses nothing; a later access reads
  // it again.
  uint64_t page = page_size();
  uint64_t first = (offset + page - 1) / page * page;
  uint64_t last = end == size_ ? (end + page - 1) / page * page : end / page * page;
  if (first >= last) return;
  ::madvise(const_cast<uint8_t*>(data_) + first, last - first, MADV_DONTNEED);
}

void MappedFile::prefetch(uint64_t offset, uint64_t length) const {
  if (data_ == nullptr || offset >= size_) return;
  const uint64_t end = offset + std::min<uint64_t>(length, size_ - offset);
  const uint64_t first = offset / page_size() * page_size();
  // Reads the pages and maps them, so the workers neither wait for the disk nor take page faults.
  // Kernels before 5.14 do not know MADV_POPULATE_READ: start the reads, the workers will map them.
  if (::madvise(const_cast<uint8_t*>(data_) + first, end - first, MADV_POPULATE_READ) != 0 &&
      errno == EINVAL)
    ::posix_fadvise(fd_, off_t(offset), off_t(end - offset), POSIX_FADV_WILLNEED);
}

void MappedFile::check_unchanged() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0)
    fail(ErrorCode::InvalidFile, "{}: the file went away while the merge read it: {}", path_,
         errno_text(errno));
  const int64_t mtime = int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  std::string what;
  if (uint64_t(st.st_dev) != identity_.device || uint64_t(st.st_ino) != identity_.inode)
    what = "it was replaced by another file";
  else if (uint64_t(st.st_size) != identity_.size)
    what = fmt::format("its size went from {} to {} bytes", identity_.size, st.st_size);
  else if (mtime != identity_.mtime_ns)
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
  const uint64_t page = page_size();
  const uint64_t first = offset / page;
  const uint64_t pages =
      (offset + std::min<uint64_t>(length, size_ - offset) - 1) / page + 1 - first;
  const uint64_t samples = std::min(pages, kSamples);
  uint64_t resident = 0;
  for (uint64_t s = 0; s < samples; ++s) {
    const uint64_t at = (first + s * pages / samples) * page;
    unsigned char in_cache = 0;
    if (::mincore(const_cast<uint8_t*>(data_) + at, 1, &in_cache) == 0) resident += in_cache & 1;
  }
  return double(resident) / double(samples);
}

}  // namespace mf
