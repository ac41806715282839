// Sizes on the command line, parsed as integers: a double would turn "inf" or "1e30" into
// undefined behaviour on the way to uint64_t.
#include <cctype>

#include "core/error.hpp"
#include "mergeforge/api.hpp"

namespace mf {

namespace {

constexpr uint64_t kMaxSize = uint64_t(1) << 63;

uint64_t suffix_scale(char suffix, SizeUnits units) {
  const int c = std::tolower(static_cast<unsigned char>(suffix));
  if (units == SizeUnits::Binary) {
    switch (c) {
      case 'k':
        return uint64_t(1) << 10;
      case 'm':
        return uint64_t(1) << 20;
      case 'g':
        return uint64_t(1) << 30;
      case 't':
        return uint64_t(1) << 40;
    }
  } else {  // MergeKit's k / m / b: thousand, million, billion
    switch (c) {
      case 'k':
        return 1'000;
      case 'm':
        return 1'000'000;
      case 'b':
        return 1'000'000'000;
    }
  }
  return 0;
}

}  // namespace

uint64_t parse_size(const std::string& text, SizeUnits units, const std::string& option) {
  const char* example = units == SizeUnits::Binary ? "512M, 2G" : "500M, 5B";
  auto bad = [&](const char* why) -> uint64_t {
    fail(ErrorCode::Usage, "{}: `{}` is not a size ({}; e.g. {})", option, text, why, example);
  };
  size_t at = 0;
  unsigned __int128 whole = 0;
  size_t whole_digits = 0;
  while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) {
    whole = whole * 10 + unsigned(text[at++] - '0');
    if (whole > kMaxSize) return bad("too large");
    ++whole_digits;
  }
  unsigned __int128 fraction = 0, fraction_scale = 1;
  if (at < text.size() && text[at] == '.') {
    ++at;
    size_t digits = 0;
    for (; at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])); ++at, ++digits) {
      if (digits < 18) {  // further digits are below a byte at any scale
        fraction = fraction * 10 + unsigned(text[at] - '0');
        fraction_scale *= 10;
      }
    }
    if (digits == 0) return bad("no digits after the point");
  }
  if (whole_digits == 0 && fraction_scale == 1) return bad("no number");
  uint64_t scale = 1;
  if (at < text.size()) {
    scale = suffix_scale(text[at], units);
    if (scale != 0) {
      ++at;
    } else if (units == SizeUnits::Binary && (text[at] == 'B' || text[at] == 'b')) {
      scale = 1;  // plain bytes: "4096B"
    } else {
      return bad("unknown unit");
    }
    if (units == SizeUnits::Binary && scale > 1) {
      if (at < text.size() && text[at] == 'i') ++at;
      if (at < text.size() && (text[at] == 'B' || text[at] == 'b')) ++at;
    } else if (units == SizeUnits::Binary && scale == 1) {
      ++at;
    }
  }
  if (at != text.size()) return bad("unexpected characters");
  const unsigned __int128 bytes = whole * scale + fraction * scale / fraction_scale;
  if (bytes > kMaxSize) return bad("too large");
  if (bytes == 0) return bad("must be positive");
  return uint64_t(bytes);
}

}  // namespace mf
