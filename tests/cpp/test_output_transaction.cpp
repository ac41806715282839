// The output transaction on its own: a directory that appears only when published, an earlier
// output replaced without a moment when the path holds neither, a resume that keeps the regions
// whose checksums verify (read in pieces smaller than a region) and drops a damaged one.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.hpp"
#include "model_fixture.hpp"
#include "sinks/output_path.hpp"
#include "sinks/output_transaction.hpp"

namespace mf {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class OutputTransactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::fresh_dir(std::string("transaction-") +
                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { fs::remove_all(dir_); }

  // One data file: an 8-byte prefix, then two regions (the second not a multiple of 8 bytes).
  static std::vector<TransactionFile> files() {
    return {{"data.bin", 8 + kFirst + kSecond, "HEADER!!"}};
  }
  static std::vector<TransactionRegion> regions() {
    return {{0, 8, kFirst}, {0, 8 + kFirst, kSecond}};
  }
  static std::vector<uint8_t> bytes(uint64_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (uint64_t i = 0; i < n; ++i) v[i] = uint8_t(i * 131 + seed + (i >> 9));
    return v;
  }
  // Writes region r in pieces of 1000 bytes, out of order.
  static void write_region(OutputTransaction& tx, size_t r, const std::vector<uint8_t>& data) {
    for (uint64_t at = (data.size() - 1) / 1000 * 1000;; at -= 1000) {
      tx.write(r, at, std::span(data).subspan(at, std::min<uint64_t>(1000, data.size() - at)));
      if (at == 0) break;
    }
    tx.finish_region(r);
  }

  static constexpr uint64_t kFirst = 300'000, kSecond = 200'003;
  fs::path dir_;
};

TEST_F(OutputTransactionTest, PublishesOnlyWhenComplete) {
  const fs::path out = dir_ / "out";
  {
    OutputTransaction tx(out.string(), "fp", files(), regions(), {});
    EXPECT_TRUE(fs::is_directory(tx.temp_dir()));
    EXPECT_EQ(fs::path(tx.temp_dir()).filename(), ".out.mergeforge-partial");
    write_region(tx, 0, bytes(kFirst, 1));
    write_region(tx, 1, bytes(kSecond, 2));
    EXPECT_FALSE(fs::exists(out));
    tx.seal();
    tx.write_file("config.json", "{}\n");
    EXPECT_FALSE(fs::exists(out));
    tx.publish();
  }
  const std::string data = read_file(out / "data.bin");
  ASSERT_EQ(data.size(), 8 + kFirst + kSecond);
  EXPECT_EQ(data.substr(0, 8), "HEADER!!");
  const auto first = bytes(kFirst, 1);
  EXPECT_EQ(data.substr(8, kFirst), std::string(first.begin(), first.end()));
  EXPECT_EQ(read_file(out / "config.json"), "{}\n");
  EXPECT_FALSE(fs::exists(out / "tensors.journal"));
  EXPECT_FALSE(fs::exists(out / "resume.json"));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"out"});
}

TEST_F(OutputTransactionTest, AnAbandonedTransactionLeavesNothing) {
  { OutputTransaction tx((dir_ / "out").string(), "fp", files(), regions(), {}); }
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(OutputTransactionTest, RefusesAPathHoldingSomethingElse) {
  fs::create_directories(dir_ / "notes");
  std::ofstream(dir_ / "notes" / "todo.txt") << "keep me\n";
  std::ofstream(dir_ / "file") << "keep me\n";
  for (const char* name : {"notes", "file"}) {
    try {
      OutputTransaction tx((dir_ / name).string(), "fp", files(), regions(), {});
      FAIL() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Io);
    }
  }
  EXPECT_EQ(read_file(dir_ / "notes" / "todo.txt"), "keep me\n");
}

// While an earlier output is replaced, its path always resolves to a directory holding a model.
TEST_F(OutputTransactionTest, ReplacingNeverLeavesThePathEmpty) {
  const fs::path out = dir_ / "out";
  const std::string marker = (out / "config.json").string();
  auto publish = [&](const std::string& config) {
    OutputTransaction tx(out.string(), "fp", {{"data.bin", 16, "0123456789abcdef"}}, {}, {});
    tx.seal();
    tx.write_file("config.json", config);
    tx.publish();
  };
  publish("{\"n\": 0}\n");
  std::atomic<bool> stop{false};
  std::atomic<int> missing{0};
  std::thread watcher([&] {
    struct stat st {};
    while (!stop.load(std::memory_order_relaxed))
      if (::stat(marker.c_str(), &st) != 0) missing.fetch_add(1);
  });
  for (int i = 1; i <= 40; ++i) publish(fmt::format("{{\"n\": {}}}\n", i));
  stop = true;
  watcher.join();
  EXPECT_EQ(missing.load(), 0) << "the output path held no model for a moment";
  EXPECT_EQ(read_file(out / "config.json"), "{\"n\": 40}\n");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"out"}) << "the earlier output is removed";
}

TEST_F(OutputTransactionTest, ResumeKeepsVerifiedRegionsReadInPieces) {
  const fs::path out = dir_ / "out";
  TransactionOptions resume;
  resume.resume = true;
  resume.verify_bytes = 1;  // raised to 64 KiB: several pieces per region
  std::string temp;
  {
    OutputTransaction tx(out.string(), "fp", files(), regions(), {});
    write_region(tx, 0, bytes(kFirst, 1));
    write_region(tx, 1, bytes(kSecond, 2));
    tx.keep_partial();
    temp = tx.temp_dir();
  }
  {
    OutputTransaction tx(out.string(), "fp", files(), regions(), resume);
    EXPECT_TRUE(tx.holds(0));
    EXPECT_TRUE(tx.holds(1));
    tx.keep_partial();
  }
  {  // One byte near the end of the second region changes: only that region is written again.
    std::fstream f(fs::path(temp) / "data.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(8 + kFirst + kSecond - 2));
    f.put('\x7f');
  }
  {
    OutputTransaction tx(out.string(), "fp", files(), regions(), resume);
    EXPECT_TRUE(tx.holds(0));
    EXPECT_FALSE(tx.holds(1));
    tx.keep_partial();
  }
  {  // Another fingerprint: started over.
    OutputTransaction tx(out.string(), "other", files(), regions(), resume);
    EXPECT_FALSE(tx.holds(0));
  }
}

TEST_F(OutputTransactionTest, OutputPathsApartFromInputs) {
  const fs::path model = dir_ / "model";
  fs::create_directories(model);
  auto refused = [&](const fs::path& out) {
    try {
      check_output_apart_from_inputs(out.string(),
                                     {"", (dir_ / "absent").string(), model.string()});
      return false;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Io);
      EXPECT_NE(std::string(e.what()).find(model.string()), std::string::npos) << e.what();
      return true;
    }
  };
  EXPECT_FALSE(refused(dir_ / "model2")) << "a common prefix of names is not containment";
  EXPECT_FALSE(refused(dir_ / "out" / "model"));
  EXPECT_TRUE(refused(model));
  EXPECT_TRUE(refused(dir_ / "x" / ".." / "model" / "."));
  EXPECT_TRUE(refused(model / "new" / "deeper"));
  EXPECT_TRUE(refused(dir_));
  fs::create_directory_symlink(model, dir_ / "link");
  EXPECT_TRUE(refused(dir_ / "link"));
  EXPECT_TRUE(refused(dir_ / "link" / "new"));
}

}  // namespace
}  // namespace mf
