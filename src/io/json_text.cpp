#include "io/json_text.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

#include "core/error.hpp"

namespace mf {

namespace {

// Length of the well-formed UTF-8 sequence starting at text[i], or 0 when it is ill-formed
// (Unicode 15, table 3-7).
size_t utf8_sequence_length(std::string_view text, size_t i) {
  auto byte = [&](size_t k) -> uint8_t { return i + k < text.size() ? uint8_t(text[i + k]) : 0; };
  auto cont = [&](size_t k, uint8_t lo = 0x80, uint8_t hi = 0xbf) {
    uint8_t b = byte(k);
    return i + k < text.size() && b >= lo && b <= hi;
  };
  uint8_t b0 = byte(0);
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 == 0xe0) return cont(1, 0xa0, 0xbf) && cont(2) ? 3 : 0;  // no overlong forms
  if (b0 == 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;  // no surrogates
  if (b0 >= 0xe1 && b0 <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b0 == 0xf0) return cont(1, 0x90, 0xbf) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 == 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;  // <= U+10FFFF
  return 0;
}

}  // namespace

std::optional<size_t> find_invalid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    // Fast path over ASCII, which is nearly all of a safetensors header.
    if (uint8_t(text[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = utf8_sequence_length(text, i);
    if (n == 0) return i;
    i += n;
  }
  return std::nullopt;
}

std::string escape_for_message(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    uint8_t b = uint8_t(text[i]);
    size_t n = b < 0x20 ? 0 : utf8_sequence_length(text, i);
    if (n == 0) {
      out += fmt::format("\\x{:02x}", b);
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string json_error_text(const nlohmann::json::exception& e) {
  std::string_view text = e.what();
  if (text.starts_with("[json.exception.")) {
    size_t close = text.find("] ");
    if (close != std::string_view::npos) text.remove_prefix(close + 2);
  }
  // Its "last read" quotes the input up to the failing byte, which can end inside a UTF-8 sequence.
  return escape_for_message(text);
}

namespace {

// The offset of the first `[` or `{` nested more than `limit` deep, outside strings; nullopt when
// there is none. nlohmann parses without recursion, but copies, compares and dumps a document
// recursively: 200000 nested lists in a tokenizer.json's normalizer overflowed the stack when the
// merged tokenizer was written.
std::optional<size_t> nested_deeper_than(std::string_view text, size_t limit) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

}  // namespace

nlohmann::json parse_json_text(std::string_view text, std::string_view file_label) {
  if (auto bad = find_invalid_utf8(text)) {
    fail(ErrorCode::InvalidFile, "{}: not valid UTF-8 (byte {:#04x} at offset {})", file_label,
         uint8_t(text[*bad]), *bad);
  }
  if (auto deep = nested_deeper_than(text, kMaxJsonDepth)) {
    fail(ErrorCode::InvalidFile, "{}: lists and objects nested more than {} deep (offset {})",
         file_label, kMaxJsonDepth, *deep);
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number too large for a double (1e309).
    fail(ErrorCode::InvalidFile, "{}: not valid JSON: {}", file_label, json_error_text(e));
  }
}

std::string read_text_file(const std::string& path) {
  auto fail_errno = [&](std::string_view what) {
    fail(ErrorCode::InvalidFile, "{}: cannot {}: {}", path, what,
         std::error_code(errno, std::generic_category()).message());
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_errno("open");
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};

  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_errno("stat");
  if (S_ISDIR(st.st_mode)) fail(ErrorCode::InvalidFile, "{}: is a directory, not a file", path);
  if (!S_ISREG(st.st_mode)) fail(ErrorCode::InvalidFile, "{}: not a regular file", path);

  std::string text(size_t(st.st_size), '\0');
  size_t done = 0;
  while (true) {
    if (done == text.size()) text.resize(text.size() + 4096);  // the file grew since fstat
    ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("read");
    if (n == 0) break;
    done += size_t(n);
  }
  text.resize(done);
  return text;
}

}  // namespace mf
