#include "sinks/output_path.hpp"

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace mf {

namespace {

// Symbolic links and `..` resolved as far as the path exists; the rest appended as written.
fs::path resolved(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(path), ec).lexically_normal();
  if (ec) return fs::path(path).lexically_normal();
  fs::path c = fs::weakly_canonical(p, ec);
  if (ec) return p;
  return c.filename().empty() ? c.parent_path() : c;
}

// `inner` is `outer` or below it (whole components: /a/bc is not below /a/b).
bool within(const fs::path& inner, const fs::path& outer) {
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

}  // namespace

void check_output_apart_from_inputs(const std::string& out_dir,
                                    const std::vector<std::string>& input_dirs) {
  const fs::path out = resolved(out_dir);
  for (const std::string& input : input_dirs) {
    std::error_code ec;
    if (input.empty() || !fs::is_directory(input, ec)) continue;
    const fs::path in = resolved(input);
    const bool inside = within(out, in), contains = within(in, out);
    if (!inside && !contains) continue;
    const std::string how = inside && contains ? "is the input model"
                            : inside           ? "lies inside the input model"
                                               : "contains the input model";
    std::string resolution;  // where links or relative paths hid the overlap
    if (out.string() != out_dir || in.string() != input)
      resolution = inside && contains
                       ? fmt::format(" (both resolve to {})", in.string())
                       : fmt::format(" (resolved: {} and {})", out.string(), in.string());
    fail(ErrorCode::Io,
         "{}: the output directory {} {}{}; writing it would replace or delete that input: choose "
         "another output path",
         out_dir, how, input, resolution);
  }
}

}  // namespace mf
