#include "core/platform.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>

namespace mf::os {

uint64_t page_size() {
  static const uint64_t size = uint64_t(::sysconf(_SC_PAGESIZE));
  return size;
}

const uint8_t* map_read_only(int fd, uint64_t size, int& error) {
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (data == MAP_FAILED) {
    error = errno;
    return nullptr;
  }
  return static_cast<const uint8_t*>(data);
}

void unmap(const uint8_t* data, uint64_t size) { ::munmap(const_cast<uint8_t*>(data), size); }

void drop_mapped_pages(const uint8_t* data, uint64_t length) {
  // Dropping a clean page of a read-only private mapping loses nothing; a later access reads it
  // again.
  ::madvise(const_cast<uint8_t*>(data), length, MADV_DONTNEED);
}

void populate_mapped_pages(int fd, const uint8_t* data, uint64_t length, uint64_t file_offset) {
  // Kernels before 5.14 do not know MADV_POPULATE_READ: start the reads, the workers map them.
  if (::madvise(const_cast<uint8_t*>(data), length, MADV_POPULATE_READ) != 0 && errno == EINVAL)
    ::posix_fadvise(fd, off_t(file_offset), off_t(length), POSIX_FADV_WILLNEED);
}

bool page_resident(const uint8_t* address) {
  unsigned char in_cache = 0;
  return ::mincore(const_cast<uint8_t*>(address), 1, &in_cache) == 0 && (in_cache & 1) != 0;
}

void drop_file_cache(int fd) { ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); }

int preallocate(int fd, uint64_t size) { return ::posix_fallocate(fd, 0, off_t(size)); }

int sync_file(int fd, bool directory) {
  if (::fsync(fd) == 0) return 0;
  // Some file systems refuse fsync on a directory (EINVAL); there is nothing more to do there.
  return directory && errno == EINVAL ? 0 : errno;
}

int exchange_paths(const std::string& a, const std::string& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) return 0;
  const int err = errno;
  return err == EINVAL || err == ENOSYS || err == EOPNOTSUPP ? ENOTSUP : err;
}

namespace {

FileIdentity identity_of(const struct stat& st) {
  return {uint64_t(st.st_dev), uint64_t(st.st_ino), uint64_t(st.st_size),
          int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec, S_ISREG(st.st_mode)};
}

std::atomic<MappingFaultHandler> g_fault_handler{nullptr};

extern "C" void on_bus_error(int sig, siginfo_t* info, void*) {
  // A SIGBUS sent by a process (kill) is not a fault on a mapping.
  if (MappingFaultHandler handler = g_fault_handler.load(); handler && info->si_code != SI_USER)
    handler(info->si_addr);
  // The default action, once the faulting access runs again (or now, when the signal was sent).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  if (info->si_code == SI_USER) ::raise(sig);
}

}  // namespace

int identify(int fd, FileIdentity& out) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno;
  out = identity_of(st);
  return 0;
}

int identify(const std::string& path, FileIdentity& out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno;
  out = identity_of(st);
  return 0;
}

void on_mapping_fault(MappingFaultHandler handler) {
  g_fault_handler.store(handler);
  struct sigaction action {};
  action.sa_sigaction = on_bus_error;
  action.sa_flags = SA_SIGINFO;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, nullptr);
}

}  // namespace mf::os
