// The operating-system calls the engine makes beyond portable C++: file mappings and their page
// hints, page-cache advice, preallocation, syncs, the atomic swap of two paths, file identity, and
// the handler of faults on a mapping whose file shrank. Linux today; a macOS or Windows build is a
// port of platform.cpp, not of the engine. Functions that can fail return 0 or an errno value and
// leave the message to the caller, which knows what it was doing and to which file.
#pragma once

#include <cstdint>
#include <string>

namespace mf::os {

uint64_t page_size();

// Maps `size` bytes of the open file `fd` read-only; nullptr (and `error`) on failure.
const uint8_t* map_read_only(int fd, uint64_t size, int& error);
void unmap(const uint8_t* data, uint64_t size);
// Drops the process's pages of a whole-page range of a read-only mapping (they stay in the page
// cache).
void drop_mapped_pages(const uint8_t* data, uint64_t length);
// Reads a range of a mapping of `fd` (from `file_offset`) into the page cache and maps it,
// blocking; where the kernel cannot map ahead, starts the reads only.
void populate_mapped_pages(int fd, const uint8_t* data, uint64_t length, uint64_t file_offset);
// Whether the page holding `address` of a mapping is in the page cache; false where unknown.
bool page_resident(const uint8_t* address);

// Writes back a file's dirty pages and drops its clean ones from the page cache (advice).
void drop_file_cache(int fd);
// Reserves `size` bytes for the file: a full disk fails here, not midway. Returns an errno value.
int preallocate(int fd, uint64_t size);
// fsync; for a directory, a file system that cannot sync one is not an error. Returns errno.
int sync_file(int fd, bool directory);
// Swaps two existing paths atomically. Returns 0, or an errno value; ENOTSUP when the file system
// (or system) cannot, and the caller falls back.
int exchange_paths(const std::string& a, const std::string& b);

struct FileIdentity {
  uint64_t device = 0, inode = 0, size = 0;
  int64_t mtime_ns = 0;
  bool regular = false;
};
// Of an open file, or of the file at a path now. Return errno values.
int identify(int fd, FileIdentity& out);
int identify(const std::string& path, FileIdentity& out);

// Calls `handler(address)` when the process reads a mapped page past its file's end (SIGBUS on
// Linux). The handler runs in a signal context: it may only call async-signal-safe functions
// (write, _exit). When it returns, the default action follows (a crash).
using MappingFaultHandler = void (*)(const void* address);
void on_mapping_fault(MappingFaultHandler handler);

}  // namespace mf::os
