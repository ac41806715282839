// An input file, opened read-only and mapped whole: headers and tensors are read through the
// mapping (HACKING.md, "Reading inputs", says why not pread). The descriptor stays open for the
// read-ahead hints.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace mf {

class MappedFile {
 public:
  // Throws Error(ErrorCode::InvalidFile) naming `path` when it cannot be opened or mapped.
  explicit MappedFile(std::string path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
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

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;
};

}  // namespace mf
