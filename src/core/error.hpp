// The engine's side of errors: the public mf::Error (include/mergeforge/error.hpp) and the
// helpers that raise it. Checks whose failure would write wrong bytes use MF_CHECK, which throws an
// Internal error in every build (NDEBUG does not remove it).
#pragma once

#include <fmt/format.h>

#include <mergeforge/error.hpp>

namespace mf {

template <class... Args>
[[noreturn]] void fail(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(code, fmt::format(format, std::forward<Args>(args)...));
}

[[noreturn]] void fail_check(const char* condition, const char* file, int line);

}  // namespace mf

// An invariant: when `condition` is false, throws Error(Internal) naming it and its place.
#define MF_CHECK(condition) \
  ((condition) ? void(0) : ::mf::fail_check(#condition, __FILE__, __LINE__))
