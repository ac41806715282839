// File helpers the sinks and the output transaction share: whole writes at an offset, small files
// written and synced, and errors that say "no space left" when the disk is full.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mf {

// Error(ErrorCode::Io) naming `path` and what failed; a full disk (ENOSPC, EDQUOT) says so.
[[noreturn]] void io_fail(const std::string& what, const std::string& path, int err);
// pwrite until every byte is written (retrying EINTR and short writes).
void write_all(int fd, const void* data, size_t n, uint64_t offset, const std::string& path);
// Creates or truncates `path` with `content`; with `sync`, fsyncs it before closing.
void write_text_file(const std::string& path, std::string_view content, bool sync);
// fsync of a file or directory by path.
void sync_path(const std::string& path, bool directory);

}  // namespace mf
