// Model directories written to a temporary folder: one file, shards with an index, and each way a
// directory can be broken. Also the read-only mapping underneath.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "io/mapped_file.hpp"
#include "io/safetensors.hpp"
#include "sources/safetensors_dir_source.hpp"

namespace mf {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp folder, removed with its contents at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / fmt::format("mf_{}_{}_{}_{}", test->test_suite_name(),
                                                    test->name(), ::getpid(), counter++);
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

  void write(const std::string& name, std::string_view content) const {
    std::ofstream out(path_ / name, std::ios::binary);
    out.write(content.data(), std::streamsize(content.size()));
  }

  // A safetensors file whose tensor i holds bytes (i + 1) * 16 + k: distinct per tensor, checkable.
  void write_safetensors(const std::string& name, const std::vector<TensorDecl>& decls) const {
    SafetensorsLayout layout = layout_safetensors(decls, {{"format", "pt"}});
    std::string file = layout.header_bytes;
    file.resize(layout.file_size);
    for (size_t i = 0; i < layout.tensors.size(); ++i) {
      for (uint64_t k = layout.tensors[i].begin; k < layout.tensors[i].end; ++k) {
        file[layout.data_offset() + k] = char((i + 1) * 16 + (k - layout.tensors[i].begin));
      }
    }
    write(name, file);
  }

 private:
  fs::path path_;
};

constexpr std::string_view kConfig = R"({"model_type": "llama", "hidden_size": 4})";

std::string index_json(const std::vector<std::pair<std::string, std::string>>& weight_map) {
  nlohmann::json map = nlohmann::json::object();
  for (const auto& [tensor, shard] : weight_map) map[tensor] = shard;
  return nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", map}}.dump();
}

// Opening fails with `code`, and the message contains each of `parts`.
void expect_open_error(const TempDir& dir, std::vector<std::string_view> parts,
                       ErrorCode code = ErrorCode::InvalidFile) {
  try {
    SafetensorsDirSource::open(dir.str());
    ADD_FAILURE() << "opened " << dir.str();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    std::string_view message = e.what();
    for (std::string_view part : parts) {
      EXPECT_NE(message.find(part), std::string_view::npos)
          << "\"" << part << "\" not in: " << message;
    }
  }
}

TEST(ModelSource, OpensSingleFile) {
  TempDir dir;
  dir.write("config.json", kConfig);
  dir.write_safetensors("model.safetensors",
                        {{"z.weight", DType::F32, {2}}, {"a.weight", DType::BF16, {3}}});
  auto source = SafetensorsDirSource::open(dir.str());
  EXPECT_EQ(source->directory(), dir.str());
  EXPECT_EQ(source->label(), dir.str());
  EXPECT_EQ(source->config()["model_type"], "llama");
  EXPECT_EQ(source->tensor_names(), (std::vector<std::string>{"a.weight", "z.weight"}));

  const TensorInfo* z = source->find("z.weight");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->dtype, DType::F32);
  std::span<const uint8_t> bytes = source->stored_bytes(*z);
  ASSERT_EQ(bytes.size(), 8u);
  for (size_t k = 0; k < bytes.size(); ++k) EXPECT_EQ(bytes[k], 16 + k);

  const TensorInfo* a = source->find("a.weight");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, std::vector<int64_t>{3});
  EXPECT_EQ(source->stored_bytes(*a)[0], 32);
  // The tensors lie one after the other in the mapped file.
  EXPECT_EQ(source->stored_bytes(*a).data(), bytes.data() + 8);

  EXPECT_FALSE(source->has("missing"));
  EXPECT_EQ(source->find("missing"), nullptr);
}

TEST(ModelSource, OpensShardsNamedByIndex) {
  TempDir dir;
  dir.write("config.json", kConfig);
  dir.write_safetensors("model-00001-of-00002.safetensors",
                        {{"embed", DType::F16, {4, 2}}, {"layer.0", DType::F16, {2}}});
  // "extra" is in a shard but not in the map: still usable.
  dir.write_safetensors("model-00002-of-00002.safetensors",
                        {{"layer.1", DType::F16, {2}}, {"extra", DType::I32, {1}}});
  // A stray file the index does not name is not read.
  dir.write("stray.safetensors", "garbage");
  dir.write("model.safetensors.index.json",
            index_json({{"embed", "model-00001-of-00002.safetensors"},
                        {"layer.0", "model-00001-of-00002.safetensors"},
                        {"layer.1", "model-00002-of-00002.safetensors"}}));
  auto source = SafetensorsDirSource::open(dir.str());
  EXPECT_EQ(source->tensor_names(),
            (std::vector<std::string>{"embed", "extra", "layer.0", "layer.1"}));
  const TensorInfo* layer1 = source->find("layer.1");
  ASSERT_NE(layer1, nullptr);
  EXPECT_EQ(source->stored_bytes(*layer1)[0], 16);
  const TensorInfo* extra = source->find("extra");
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(source->stored_bytes(*extra).size(), 4u);
  EXPECT_EQ(source->stored_bytes(*extra)[0], 32);
}

TEST(ModelSource, OpensLooseSafetensorsFiles) {
  TempDir dir;
  dir.write("config.json", kConfig);
  dir.write_safetensors("b.safetensors", {{"b", DType::U8, {1}}});
  dir.write_safetensors("a.safetensors", {{"a", DType::U8, {1}}});
  auto source = SafetensorsDirSource::open(dir.str());
  EXPECT_EQ(source->tensor_names(), (std::vector<std::string>{"a", "b"}));
}

TEST(ModelSource, MissingShard) {
  TempDir dir;
  dir.write("config.json", kConfig);
  dir.write_safetensors("model-00001-of-00002.safetensors", {{"a", DType::F32, {1}}});
  dir.write("model.safetensors.index.json",
            index_json({{"a", "model-00001-of-00002.safetensors"},
                        {"b", "model-00002-of-00002.safetensors"}}));
  expect_open_error(dir, {"model.safetensors.index.json", "model-00002-of-00002.safetensors",
                          "\"b\"", "missing"});
}

TEST(ModelSource, IndexNamesTensorTheShardLacks) {
  TempDir dir;
  dir.write("config.json", kConfig);
  dir.write_safetensors("model-00001-of-00001.safetensors", {{"a", DType::F32, {1}}});
  dir.write("model.safetensors.index.json",
            index_json({{"a", "model-00001-of-00001.safetensors"},
                        {"lm_head.weight", "model-00001-of-00001.safetensors"}}));
  expect_open_error(dir,
                    {"model.safetensors.index.json", "\"lm_head.weight\"", "does not contain it"});
}

TEST(ModelSource, IndexNotJson) {
  TempDir dir;
  dir.write("config.json", kConfig);
  dir.write_safetensors("model-00001-of-00001.safetensors", {{"a", DType::F32, {1}}});
  dir.write("model.safetensors.index.json", "{\"weight_map\": ");
  expect_open_error(dir, {"model.safetensors.index.json", "not valid JSON"});
}

TEST(ModelSource, IndexWithoutWeightMap) {
  TempDir dir;
  dir.write("config.json", kConfig);
  dir.write("model.safetensors.index.json", R"({"metadata": {}})");
  expect_open_error(dir, {"model.safetensors.index.json", "weight_map"});
  dir.write("model.safetensors.index.json", R"({"weight_map": {"a": 3}})");
  expect_open_error(dir, {"model.safetensors.index.json", "\"a\""});
}

TEST(ModelSource, IndexShardOutsideTheDirectory) {
  TempDir dir;
  dir.write("config.json", kConfig);
  dir.write("model.safetensors.index.json", index_json({{"a", "../elsewhere.safetensors"}}));
  expect_open_error(dir, {"model.safetensors.index.json", "not a file in the model directory"});
}

TEST(ModelSource, BrokenShard) {
  TempDir dir;
  dir.write("config.json", kConfig);
  dir.write("model.safetensors", "short");
  expect_open_error(dir, {(dir.path() / "model.safetensors").string(), "too short"});
}

TEST(ModelSource, TensorInTwoFiles) {
  TempDir dir;
  dir.write("config.json", kConfig);
  dir.write_safetensors("a.safetensors", {{"w", DType::F32, {1}}});
  dir.write_safetensors("b.safetensors", {{"w", DType::F32, {1}}});
  expect_open_error(dir, {"\"w\"", "a.safetensors", "b.safetensors"});
}

TEST(ModelSource, ConfigMissing) {
  TempDir dir;
  dir.write_safetensors("model.safetensors", {{"w", DType::F32, {1}}});
  expect_open_error(dir, {"config.json", "missing"});
}

TEST(ModelSource, ConfigBroken) {
  TempDir dir;
  dir.write_safetensors("model.safetensors", {{"w", DType::F32, {1}}});
  dir.write("config.json", R"({"model_type": "llama",})");
  expect_open_error(dir, {"config.json", "not valid JSON"});
  dir.write("config.json", R"(["llama"])");
  expect_open_error(dir, {"config.json", "not a JSON object"});
  dir.write("config.json", "{\"model_type\": \"\xfe\"}");
  expect_open_error(dir, {"config.json", "not valid UTF-8"});
}

TEST(ModelSource, NoWeights) {
  TempDir dir;
  dir.write("config.json", kConfig);
  dir.write("tokenizer.json", "{}");
  expect_open_error(dir, {dir.str(), "no safetensors weights"});
}

TEST(ModelSource, PytorchBinIsNotSupported) {
  TempDir dir;
  dir.write("config.json", kConfig);
  dir.write("pytorch_model.bin", "PK");
  expect_open_error(dir, {"no safetensors weights", "pytorch_model.bin", "not supported"},
                    ErrorCode::Unsupported);
}

TEST(ModelSource, NotADirectory) {
  TempDir dir;
  expect_open_error(dir, {"config.json"});  // exists but empty
  try {
    SafetensorsDirSource::open((dir.path() / "nope").string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string_view(e.what()).find("nope"), std::string_view::npos);
  }
  dir.write("file", "x");
  EXPECT_THROW(SafetensorsDirSource::open((dir.path() / "file").string()), Error);
}

TEST(MappedFile, MapsContents) {
  TempDir dir;
  std::string content(3 * 4096 + 100, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = char(i % 251);
  dir.write("data.bin", content);
  MappedFile file((dir.path() / "data.bin").string());
  ASSERT_EQ(file.bytes().size(), content.size());
  EXPECT_EQ(std::memcmp(file.bytes().data(), content.data(), content.size()), 0);

  // Advice never changes what is read: released pages come back from the file.
  file.prefetch(0, content.size());
  file.prefetch(4000, 1 << 30);
  file.release(1, content.size());
  file.release(4096, 4096);
  file.release(0, 1 << 30);
  file.release(content.size() + 10, 5);
  EXPECT_EQ(std::memcmp(file.bytes().data(), content.data(), content.size()), 0);
}

// The page cache's contents drive the order of streamed jobs (executor.cpp): a file just read
// reports all of it cached; after its pages are dropped, only the part read again.
TEST(MappedFile, ResidentFractionFollowsThePageCache) {
  TempDir dir;
  const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  const std::string content(256 * page, 'x');
  dir.write("data.bin", content);
  const std::string path = (dir.path() / "data.bin").string();
  MappedFile file(path);
  EXPECT_EQ(file.resident_fraction(0, content.size()), 1.0);   // just written
  EXPECT_EQ(file.resident_fraction(content.size(), 10), 0.0);  // past the end
  EXPECT_EQ(file.resident_fraction(0, 0), 0.0);

  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ::fdatasync(fd);  // clean pages can be dropped
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC) {
    ::close(fd);
    GTEST_SKIP() << "tmpfs keeps its pages";
  }
  EXPECT_EQ(file.resident_fraction(0, content.size()), 0.0);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);  // no read-ahead into the second half
  std::string half(content.size() / 2, '\0');
  ASSERT_EQ(::pread(fd, half.data(), half.size(), 0), ssize_t(half.size()));
  ::close(fd);
  EXPECT_EQ(file.resident_fraction(0, content.size() / 2), 1.0);
  EXPECT_EQ(file.resident_fraction(content.size() / 2, content.size() / 2), 0.0);
  EXPECT_NEAR(file.resident_fraction(0, content.size()), 0.5, 0.05);
}

// The executor reads the next job's inputs with prefetch on a thread of its own: when it returns,
// the range is in the page cache.
TEST(MappedFile, PrefetchReturnsWithTheRangeCached) {
  TempDir dir;
  const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  dir.write("data.bin", std::string(512 * page, 'x'));
  const std::string path = (dir.path() / "data.bin").string();
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  MappedFile file(path);
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC)
    GTEST_SKIP() << "tmpfs keeps its pages";
  ASSERT_EQ(file.resident_fraction(0, 512 * page), 0.0);
  file.prefetch(100 * page + 7, 300 * page);
  EXPECT_EQ(file.resident_fraction(100 * page, 300 * page), 1.0);
  file.prefetch(512 * page, 10);  // past the end: nothing
}

TEST(MappedFile, EmptyFile) {
  TempDir dir;
  dir.write("empty", "");
  MappedFile file((dir.path() / "empty").string());
  EXPECT_TRUE(file.bytes().empty());
  file.release(0, 10);
  file.prefetch(0, 10);
}

TEST(MappedFile, ErrorsNameThePath) {
  TempDir dir;
  std::string missing = (dir.path() / "missing.safetensors").string();
  try {
    MappedFile file(missing);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidFile);
    std::string_view message = e.what();
    EXPECT_NE(message.find(missing), std::string_view::npos) << message;
    EXPECT_NE(message.find("No such file"), std::string_view::npos) << message;
  }
  EXPECT_THROW(MappedFile file(dir.str()), Error);  // a directory
}

}  // namespace
}  // namespace mf
