#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

}  // namespace

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

  size_ = size_t(st.st_size);
  if (size_ > 0) {
    void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      int error = errno;
      ::close(fd);
      fail(ErrorCode::InvalidFile, "{}: cannot map {} bytes: {}", path_, size_, errno_text(error));
    }
    data_ = static_cast<const uint8_t*>(data);
  }
  fd_ = fd;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
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
