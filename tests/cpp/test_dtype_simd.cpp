// The SIMD bulk conversions (src/core/dtype_simd.cpp behind convert_to / convert_from) must give
// the scalar helpers' bits exactly, NaN payloads included. Every test runs once per Highway target
// this CPU supports (SSSE3, SSE4, AVX2, AVX3, and the emulated fallback), since a user's machine
// may pick another than the test machine's best. Inputs: random bit patterns mixed with the edge
// cases (NaN, inf, subnormals, rounding ties and their neighbours, overflow thresholds), lengths
// that are not multiples of any vector width, and pointers off every alignment.
#include <gtest/gtest.h>
#include <hwy/tests/hwy_gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.hpp"
#include "core/dtype_simd.hpp"

namespace mf {
namespace {

// Float bit patterns where a wrong rounding or NaN rule would show.
std::vector<uint32_t> edge_floats() {
  std::vector<uint32_t> v = {
      0x00000000, 0x00000001, 0x007fffff, 0x00800000,  // zero, float subnormals, smallest normal
      0x7f800000, 0x7f800001, 0x7f80ffff, 0x7fbfffff,  // inf, signalling NaNs (low payloads)
      0x7fc00000, 0x7fffffff, 0x7fe01234, 0x7f802000,  // quiet NaNs, a payload only f16 keeps
      0x7f7fffff, 0x7f7f8000, 0x7f7f7fff,              // largest float, bf16 overflow tie
      0x3f808000, 0x3f818000, 0x3f808001, 0x3f807fff,  // bf16 ties to even (down, up), neighbours
      0x3f801000, 0x3f803000, 0x3f801001, 0x3f800fff,  // f16 ties to even (down, up), neighbours
      0x477fe000, 0x477fefff, 0x477ff000, 0x477ff001,  // 65504, below / at / above the inf tie
      0x47800000, 0x387fffff, 0x38800000, 0x38800001,  // 65536; around f16's smallest normal
      0x387fe000, 0x387ff000, 0x33800000, 0x33000000,  // f16 subnormal ties, 2^-24, 2^-25 (tie)
      0x33000001, 0x32ffffff, 0x33c00000, 0x34200000,  // around 2^-25; 1.5 and 2.5 * 2^-24
      0x3fffffff, 0x3f7fffff, 0x3effffff,              // rounding carries into the exponent
  };
  const size_t n = v.size();
  for (size_t i = 0; i < n; ++i) v.push_back(v[i] | 0x80000000u);  // every case negated
  return v;
}

// n patterns: mostly random bits (every exponent equally likely, so NaN, inf and subnormals occur
// too), a quarter random values near 1 and near f16's subnormal range, the edge cases scattered.
std::vector<uint32_t> test_floats(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::vector<uint32_t> edges = edge_floats();
  std::vector<uint32_t> v(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = uint32_t(rng());
    switch (rng() % 8) {
      case 0:
        v[i] = edges[rng() % edges.size()];
        break;
      case 1:  // a bf16 tie, else an f16 tie, or one ulp either side of it
        v[i] = rng() % 2 ? (r & 0xffff0000u) + 0x8000u : (r & 0xffffe000u) + 0x1000u;
        v[i] += uint32_t(rng() % 3) - 1u;
        break;
      case 2:  // exponents around f16's subnormal / normal boundary
        v[i] = (r & 0x807fffffu) | uint32_t(100 + rng() % 20) << 23;
        break;
      default:
        v[i] = r;
    }
  }
  return v;
}

uint16_t load16(const unsigned char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

class DTypeSimd : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(DTypeSimd);

// Every length up to 70, then one long run.
std::vector<size_t> test_lengths(size_t long_run) {
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 70; ++n) lengths.push_back(n);
  lengths.push_back(long_run);
  return lengths;
}

// Rounds test_floats with convert_from, the source 0-3 floats and the destination 0-3 bytes past an
// aligned address, and compares with `scalar`; the bytes around the output must stay untouched.
void check_from_float(DType t, uint16_t (*scalar)(float)) {
  const std::vector<uint32_t> bits = test_floats(100003, 1);
  for (size_t n : test_lengths(bits.size())) {
    for (size_t src_off = 0; src_off < 4; ++src_off) {
      for (size_t dst_off = 0; dst_off < 4; ++dst_off) {
        std::vector<float> src_buf(n + 4);
        std::vector<unsigned char> dst_buf(2 * n + 8, 0xa5);
        float* src = src_buf.data() + src_off;
        unsigned char* dst = dst_buf.data() + dst_off;
        for (size_t i = 0; i < n; ++i)
          src[i] = std::bit_cast<float>(bits[(i + 7 * n) % bits.size()]);
        convert_from(src, t, dst, n);
        for (size_t i = 0; i < n; ++i) {
          const uint32_t in = std::bit_cast<uint32_t>(src[i]);
          ASSERT_EQ(load16(dst + 2 * i), scalar(src[i]))
              << dtype_name(t) << " n=" << n << " i=" << i << " input 0x" << std::hex << in;
        }
        for (size_t i = 0; i < dst_buf.size(); ++i) {
          if (i < dst_off || i >= dst_off + 2 * n) {
            ASSERT_EQ(dst_buf[i], 0xa5) << "wrote outside the output, n=" << n;
          }
        }
      }
    }
  }
}

TEST_P(DTypeSimd, F32ToBf16MatchesScalar) { check_from_float(DType::BF16, float_to_bf16); }
TEST_P(DTypeSimd, F32ToF16MatchesScalar) { check_from_float(DType::F16, float_to_f16); }

// Widens every 16-bit pattern (twice, in two orders, so lanes see different neighbours), the
// source 0-3 bytes and the destination 0-3 floats past an aligned address.
void check_to_float(DType t, float (*scalar)(uint16_t)) {
  std::vector<uint16_t> halves(2 * 65536);
  for (size_t i = 0; i < halves.size(); ++i)
    halves[i] = uint16_t(i < 65536 ? i : i * 40503u);  // an odd factor: a permutation
  for (size_t n : test_lengths(halves.size())) {
    for (size_t src_off = 0; src_off < 4; ++src_off) {
      for (size_t dst_off = 0; dst_off < 4; ++dst_off) {
        std::vector<unsigned char> src_buf(2 * n + 4);
        std::vector<float> dst_buf(n + 8, -7.0f);
        unsigned char* src = src_buf.data() + src_off;
        float* dst = dst_buf.data() + dst_off;
        const uint16_t* in = halves.data() + (halves.size() - n) / 2;  // not always from 0
        if (n) std::memcpy(src, in, 2 * n);
        convert_to(t, src, dst, n);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(std::bit_cast<uint32_t>(dst[i]), std::bit_cast<uint32_t>(scalar(in[i])))
              << dtype_name(t) << " n=" << n << " input 0x" << std::hex << in[i];
        }
        for (size_t i = 0; i < dst_buf.size(); ++i) {
          if (i < dst_off || i >= dst_off + n) {
            ASSERT_EQ(dst_buf[i], -7.0f) << "wrote outside the output, n=" << n;
          }
        }
      }
    }
  }
}

TEST_P(DTypeSimd, Bf16ToF32MatchesScalar) { check_to_float(DType::BF16, bf16_to_float); }
TEST_P(DTypeSimd, F16ToF32MatchesScalar) { check_to_float(DType::F16, f16_to_float); }

// The double overloads go through the float kernels in chunks: a double is rounded to float, then
// to the half type; a half widens exactly. Lengths span several chunks and end mid-chunk.
TEST_P(DTypeSimd, CountNonFiniteMatchesScalar) {
  const std::vector<uint32_t> bits = test_floats(100003, 3);
  for (size_t n : test_lengths(bits.size())) {
    std::vector<float> values(n);
    size_t expected = 0;
    for (size_t i = 0; i < n; ++i) {
      values[i] = std::bit_cast<float>(bits[(i + 5 * n) % bits.size()]);
      expected += !std::isfinite(values[i]);
    }
    ASSERT_EQ(count_non_finite(values.data(), n), expected) << "n=" << n;
  }
  const std::vector<double> doubles = {1.0, std::numeric_limits<double>::quiet_NaN(), -0.0,
                                       -std::numeric_limits<double>::infinity(), 1e308};
  EXPECT_EQ(count_non_finite(doubles.data(), doubles.size()), 2u);
}

TEST_P(DTypeSimd, CountNonFiniteBf16MatchesTheConvertedCount) {
  const std::vector<uint32_t> bits = test_floats(100003, 4);
  for (size_t n : test_lengths(bits.size())) {
    std::vector<uint8_t> stored(2 * n + 1);  // one byte off alignment
    for (size_t i = 0; i < n; ++i) {
      const uint16_t half = uint16_t(bits[(i + 7 * n) % bits.size()] >> 16);
      std::memcpy(stored.data() + 1 + 2 * i, &half, 2);
    }
    std::vector<float> values(n);
    convert_to(DType::BF16, stored.data() + 1, values.data(), n);
    ASSERT_EQ(simd::count_non_finite_bf16(stored.data() + 1, n), count_non_finite(values.data(), n))
        << "n=" << n;
  }
}

TEST_P(DTypeSimd, DoubleMatchesScalar) {
  const size_t n = 5000;
  std::mt19937_64 rng(3);
  std::vector<double> values(n);
  for (double& d : values) {
    const uint64_t r = rng();
    d = rng() % 4 ? std::bit_cast<double>(r) : double(std::bit_cast<float>(uint32_t(r)));
  }
  for (DType t : {DType::BF16, DType::F16}) {
    uint16_t (*to_half)(float) = t == DType::BF16 ? float_to_bf16 : float_to_f16;
    float (*from_half)(uint16_t) = t == DType::BF16 ? bf16_to_float : f16_to_float;
    std::vector<unsigned char> half(2 * n + 1);
    convert_from(values.data(), t, half.data() + 1, n);
    std::vector<double> back(n);
    convert_to(t, half.data() + 1, back.data(), n);
    for (size_t i = 0; i < n; ++i) {
      const uint16_t expected = to_half(float(values[i]));
      ASSERT_EQ(load16(half.data() + 1 + 2 * i), expected) << dtype_name(t) << " i=" << i;
      ASSERT_EQ(std::bit_cast<uint64_t>(back[i]),
                std::bit_cast<uint64_t>(double(from_half(expected))))
          << dtype_name(t) << " i=" << i;
    }
  }
}

}  // namespace
}  // namespace mf
