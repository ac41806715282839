#include "core/error.hpp"

namespace mf {

int exit_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::Internal:
      return 70;
    case ErrorCode::Usage:
      return 2;
    case ErrorCode::InvalidConfig:
      return 3;
    case ErrorCode::InvalidFile:
      return 4;
    case ErrorCode::ShapeMismatch:
      return 5;
    case ErrorCode::Unsupported:
      return 6;
    case ErrorCode::Io:
      return 7;
    case ErrorCode::OverBudget:
      return 8;
    case ErrorCode::Interrupted:
      return 130;
  }
  return 70;
}

const char* code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::Internal:
      return "internal error";
    case ErrorCode::Usage:
      return "usage error";
    case ErrorCode::InvalidConfig:
      return "recipe error";
    case ErrorCode::InvalidFile:
      return "invalid file";
    case ErrorCode::ShapeMismatch:
      return "shape mismatch";
    case ErrorCode::Unsupported:
      return "unsupported";
    case ErrorCode::Io:
      return "I/O error";
    case ErrorCode::OverBudget:
      return "over memory budget";
    case ErrorCode::Interrupted:
      return "interrupted";
  }
  return "error";
}

void fail_check(const char* condition, const char* file, int line) {
  throw Error(ErrorCode::Internal,
              fmt::format("invariant `{}` failed at {}:{}", condition, file, line));
}

}  // namespace mf
