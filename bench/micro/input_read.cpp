// How the executor should read its inputs: from a memory mapping of the safetensors file, or with
// pread into a buffer, each followed by the bf16 -> float conversion every chunk needs. Both read a
// 256 MiB file (in the page cache after the first iteration) in chunks of 64K elements, the
// executor's chunk size. "mmap, 2nd pass" re-reads an already-faulted mapping, as a kernel's later
// passes do. Bytes/s counts file bytes. HACKING.md ("Reading inputs") records the result.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_data.hpp"
#include "core/dtype.hpp"

namespace {

constexpr size_t kFileBytes = size_t(256) << 20;
constexpr size_t kChunk = size_t(1) << 16;  // elements

// A bf16 file of kFileBytes in the temporary directory, written once per process.
const std::string& input_file() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    std::string p = std::string(dir ? dir : "/tmp") + "/mergeforge-input-read.bin";
    std::vector<float> values = mf::bench::bf16_weights(kFileBytes / 2, 7);
    std::vector<uint16_t> bf16(values.size());
    mf::convert_from(values.data(), mf::DType::BF16, bf16.data(), values.size());
    FILE* f = std::fopen(p.c_str(), "wb");
    if (!f || std::fwrite(bf16.data(), 2, bf16.size(), f) != bf16.size()) std::abort();
    std::fclose(f);
    return p;
  }();
  return path;
}

void BM_read_mmap(benchmark::State& state, bool fresh_mapping_each_pass) {
  const int fd = ::open(input_file().c_str(), O_RDONLY);
  std::vector<float> out(kChunk);
  void* map = nullptr;
  for (auto _ : state) {
    if (fresh_mapping_each_pass || !map)
      map = ::mmap(nullptr, kFileBytes, PROT_READ, MAP_PRIVATE, fd, 0);
    const uint8_t* p = static_cast<const uint8_t*>(map);
    for (size_t at = 0; at < kFileBytes; at += kChunk * 2)
      mf::convert_to(mf::DType::BF16, p + at, out.data(), kChunk);
    benchmark::DoNotOptimize(out.data());
    if (fresh_mapping_each_pass) ::munmap(map, kFileBytes), map = nullptr;
  }
  if (map) ::munmap(map, kFileBytes);
  ::close(fd);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kFileBytes));
}

void BM_read_pread(benchmark::State& state) {
  const int fd = ::open(input_file().c_str(), O_RDONLY);
  std::vector<uint8_t> buffer(kChunk * 2);
  std::vector<float> out(kChunk);
  for (auto _ : state) {
    for (size_t at = 0; at < kFileBytes; at += buffer.size()) {
      if (::pread(fd, buffer.data(), buffer.size(), off_t(at)) != ssize_t(buffer.size()))
        std::abort();
      mf::convert_to(mf::DType::BF16, buffer.data(), out.data(), kChunk);
    }
    benchmark::DoNotOptimize(out.data());
  }
  ::close(fd);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kFileBytes));
}

void BM_read_mmap_first_pass(benchmark::State& state) { BM_read_mmap(state, true); }
void BM_read_mmap_later_pass(benchmark::State& state) { BM_read_mmap(state, false); }

}  // namespace

BENCHMARK(BM_read_mmap_first_pass)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_read_mmap_later_pass)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_read_pread)->Unit(benchmark::kMillisecond);
