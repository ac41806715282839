#include "sinks/sink_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "core/platform.hpp"

namespace mf {

void io_fail(const std::string& what, const std::string& path, int err) {
  if (err == ENOSPC || err == EDQUOT)
    fail(ErrorCode::Io, "{}: no space left on device while {}", path, what);
  fail(ErrorCode::Io, "{}: {} failed: {}", path, what, std::strerror(err));
}

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

void write_text_file(const std::string& path, std::string_view content, bool sync) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) io_fail("writing", path, errno);
  try {
    write_all(fd, content.data(), content.size(), 0, path);
    if (const int err = sync ? os::sync_file(fd, false) : 0) io_fail("syncing", path, err);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) io_fail("writing", path, errno);
}

void sync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) io_fail("syncing", path, errno);
  if (const int err = os::sync_file(fd, directory)) {
    ::close(fd);
    io_fail("syncing", path, err);
  }
  ::close(fd);
}

}  // namespace mf
