// An input file, opened read-only and mapped whole: headers and tensors are read through the
// mapping (HACKING.md, "Reading inputs", says why not pread). The descriptor stays open for the
// read-ahead hints.
//
// A mapped file that another process truncates makes the next read past its new end raise SIGBUS:
// every live mapping is listed in a lock-free registry, so that install_mapped_file_fault_handler's
// handler can name the file and end the process with a message instead of a crash. A file rewritten
// in place keeps its size: its identity (device, inode, size, mtime) is recorded when it is opened,
// and check_unchanged() compares it with the file at its path now.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/platform.hpp"
#include "io/byte_reader.hpp"

namespace mf {

class MappedFile : public ByteReader {
 public:
  // Throws Error(ErrorCode::InvalidFile) naming `path` when it cannot be opened or mapped.
  explicit MappedFile(std::string path);
  ~MappedFile() override;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& label() const override { return path_; }
  uint64_t size() const override { return size_; }
  std::span<const uint8_t> mapping() const override { return bytes(); }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  // Tell the kernel a range is no longer needed (its pages are cache, not heap; this frees them
  // early).
  void release(uint64_t offset, uint64_t length) const;
  // Read a range into the page cache and map it, ahead of use. Blocks until it is read: call it
  // from a thread of its own.
  void prefetch(uint64_t offset, uint64_t length) const;
  // The share of a range's pages now in the page cache, estimated from up to 64 pages spread over
  // it (one mincore call each: asking for every page of a 6 GiB model costs about 0.1 s). 0 where
  // the kernel does not say: it reports residency only for files the process could open for
  // writing, or for pages the process has mapped.
  double resident_fraction(uint64_t offset, uint64_t length) const;
  // Throws Error(ErrorCode::InvalidFile) naming the file when the file at its path is no longer the
  // one opened: another device or inode (replaced), size or modification time (rewritten).
  void check_unchanged() const;

 private:
  os::FileIdentity identity_;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;
};

// Handles SIGBUS raised by a read from a live MappedFile whose file shrank under it: writes one
// line, `before` + the file's path + `after`, to stderr with write(2) and ends the process with
// _exit(exit_status). A SIGBUS anywhere else keeps the default action (a crash). Calling it again
// replaces the texts.
void install_mapped_file_fault_handler(const std::string& before, const std::string& after,
                                       int exit_status);

}  // namespace mf
