// MappedFile's identity check: a file rewritten in place (same size, new mtime), resized or
// replaced under a live mapping is reported by check_unchanged(), naming it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "io/mapped_file.hpp"
#include "model_fixture.hpp"

namespace mf {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

void expect_changed(const MappedFile& file, const char* what) {
  try {
    file.check_unchanged();
    ADD_FAILURE() << "no change reported; expected: " << what;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidFile);
    EXPECT_NE(std::string(e.what()).find(file.path()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(MappedFileIdentity, ChangesUnderAMappingAreReported) {
  const fs::path dir = testing::fresh_dir("mapped-identity");
  const fs::path path = dir / "w.safetensors";
  write(path, std::string(10000, 'a'));
  {
    MappedFile file(path.string());
    EXPECT_NO_THROW(file.check_unchanged());
    {  // Same size, new contents and mtime.
      std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(5000);
      f << "bbbb";
    }
    struct timespec times[2] = {{0, UTIME_OMIT}, {2'000'000'000, 5}};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
    expect_changed(file, "modified");
  }
  {
    MappedFile file(path.string());
    fs::resize_file(path, 9000);
    expect_changed(file, "size went from 10000 to 9000");
  }
  {
    MappedFile file(path.string());
    write(dir / "other", std::string(9000, 'a'));
    fs::rename(dir / "other", path);
    expect_changed(file, "replaced");
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mf
