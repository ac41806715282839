// User-facing errors. Every error a user can trigger (a bad recipe, a broken model file, a full
// disk) is an mf::Error with a code; the code decides the command's exit status. Programmer errors
// are assertions.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace mf {

enum class ErrorCode {
  Internal,       // a bug: an invariant did not hold
  Usage,          // the command line is wrong
  InvalidConfig,  // the recipe (YAML) is wrong
  InvalidFile,    // a model file or config.json is malformed or missing
  ShapeMismatch,  // inputs of one output tensor disagree in shape
  Unsupported,    // valid input this version cannot handle
  Io,             // reading or writing failed (disk full, permissions)
  OverBudget,     // a job cannot fit in --max-memory
  Interrupted,    // SIGINT / SIGTERM
};

// The exit status of the mergeforge command for each code (documented in README.md).
int exit_status(ErrorCode code);
const char* code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message)
      : std::runtime_error(std::move(message)), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

template <class... Args>
[[noreturn]] void fail(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(code, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace mf
