// The one error type of the engine. Every error a user can trigger (a bad recipe, a broken model
// file, a full disk, an interruption) is an mf::Error: a code, which decides the command's exit
// status and the Python exception class, a message for people, and the context as fields for
// programs (the file, the tensor, the recipe's line and column, where known). A failed internal
// invariant is an Error with ErrorCode::Internal, in every build.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace mf {

enum class ErrorCode {
  Internal,       // a bug: an invariant did not hold
  Usage,          // the command line or an API argument is wrong
  InvalidConfig,  // the recipe (YAML) is wrong
  InvalidFile,    // a model file or config.json is malformed or missing
  ShapeMismatch,  // inputs of one output tensor disagree in shape
  Unsupported,    // valid input this version cannot handle
  Io,             // reading or writing failed (disk full, permissions)
  OverBudget,     // a job cannot fit in --max-memory
  Interrupted,    // SIGINT / SIGTERM, or the caller's cancel flag
};

// The exit status of the mergeforge command for each code (documented in README.md).
int exit_status(ErrorCode code);
const char* code_name(ErrorCode code);

// Where an error happened, as far as the code that raised it knew. Empty / 0 when unknown.
struct ErrorContext {
  std::string file;    // a recipe, a model directory or file, an output path
  std::string tensor;  // an output or input tensor name
  int64_t line = 0;    // 1-based line and column in `file` (recipes)
  int64_t column = 0;
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message, ErrorContext context = {})
      : std::runtime_error(std::move(message)), code_(code), context_(std::move(context)) {}
  ErrorCode code() const { return code_; }
  const ErrorContext& context() const { return context_; }
  ErrorContext& context() { return context_; }

 private:
  ErrorCode code_;
  ErrorContext context_;
};

}  // namespace mf
