#include <gtest/gtest.h>
#include <hwy/tests/hwy_gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <span>
#include <vector>

#include "core/rng.hpp"

namespace mf {
namespace {

// Known answers published with Random123 (kat_vectors, "philox4x32 10" lines): counter, key,
// output.
TEST(Philox, MatchesPublishedKnownAnswers) {
  struct Case {
    PhiloxCounter counter;
    PhiloxKey key;
    PhiloxCounter expected;
  };
  const Case cases[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Case& c : cases) EXPECT_EQ(philox4x32_10(c.counter, c.key), c.expected);
}

TEST(Uniform01, IsWordOfTheCounterBlockOfItsIndex) {
  const uint64_t key = 0x0123456789abcdefull;
  for (uint64_t index : {0ull, 1ull, 2ull, 3ull, 4ull, 7ull, 1000001ull, (1ull << 33) + 5}) {
    const uint64_t block = index / 4;
    const PhiloxCounter bits = philox4x32_10({uint32_t(block), uint32_t(block >> 32), 0, 0},
                                             {uint32_t(key), uint32_t(key >> 32)});
    EXPECT_EQ(uniform01(key, index), float(bits[index % 4] >> 8) / 16777216.0f) << index;
  }
}

TEST(Uniform01, IsInUnitIntervalWith24Bits) {
  for (uint64_t i = 0; i < 100000; ++i) {
    const float u = uniform01(42, i);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    ASSERT_EQ(std::ldexp(u, 24), std::floor(std::ldexp(u, 24)));
  }
}

TEST(Uniform01, IsDeterministicAndDependsOnlyOnKeyAndIndex) {
  const uint64_t key = tensor_key(7, "model.layers.3.self_attn.q_proj.weight");
  std::vector<float> first(1000), again(1000);
  for (size_t i = 0; i < first.size(); ++i) first[i] = uniform01(key, i);
  // Any visiting order gives the same values.
  for (size_t i = again.size(); i-- > 0;) again[i] = uniform01(key, i);
  EXPECT_EQ(first, again);
}

TEST(FillUniform01, AgreesWithSingleDrawsForAnyOffsetAndLength) {
  const uint64_t key = 99;
  for (uint64_t start : {0ull, 1ull, 2ull, 3ull, 5ull, 1022ull}) {
    for (size_t length : {0u, 1u, 3u, 4u, 5u, 17u, 64u}) {
      std::vector<float> block(length);
      fill_uniform01(key, start, block);
      for (size_t j = 0; j < length; ++j)
        ASSERT_EQ(block[j], uniform01(key, start + j)) << start << "+" << j;
    }
  }
}

// The block fill runs Philox blocks side by side in SIMD lanes (up to 8 blocks, 32 values, per
// vector). Those must agree with single draws too: after a leading partial block, before a
// trailing one, and where the block counter's low word wraps into the high word (index 2^34: block
// 2^32). Once per Highway target this CPU supports: a user's machine may pick another one.
class FillUniform01Simd : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(FillUniform01Simd);

TEST_P(FillUniform01Simd, LongFillsAgreeWithSingleDrawsIncludingTheCounterCarry) {
  const uint64_t key = tensor_key(3, "model.embed_tokens.weight");
  const uint64_t carry = uint64_t(1) << 34;
  const uint64_t starts[] = {0,           1,         2,         3,
                             4,           61,        1000003,   carry - 64,
                             carry - 131, carry - 2, carry + 5, ~uint64_t(0) - 4096};
  for (uint64_t start : starts) {
    for (size_t length : {7u, 8u, 31u, 32u, 33u, 63u, 64u, 65u, 130u, 1000u}) {
      std::vector<float> block(length);
      fill_uniform01(key, start, block);
      for (size_t j = 0; j < length; ++j)
        ASSERT_EQ(block[j], uniform01(key, start + j)) << start << "+" << j;
    }
  }
}

// dare's draws as bits: bit j is uniform01(key, first + j) < p, for probabilities on, just above
// and just below a uniform's value (p = k 2^-24 itself is not below p), ones a float cannot hold,
// and out of range; every other byte of the output must be written, the bits past n cleared.
TEST_P(FillUniform01Simd, BernoulliBitsAreTheUniformsBelowP) {
  const uint64_t key = tensor_key(8, "model.layers.1.mlp.down_proj.weight");
  const uint64_t carry = uint64_t(1) << 34;
  const double on_a_value = double(uniform01(key, 5));
  const double ps[] = {0.5,
                       0.7,
                       0.1,
                       on_a_value,
                       std::nextafter(on_a_value, 1.0),
                       std::nextafter(on_a_value, 0.0),
                       1e-9,
                       0.0,
                       1.0,
                       1.5,
                       -0.25,
                       std::numeric_limits<double>::quiet_NaN()};
  for (uint64_t start : {uint64_t(0), uint64_t(1), uint64_t(3), uint64_t(4), uint64_t(8),
                         uint64_t(65536), carry - 64, carry - 2}) {
    for (size_t n : {0u, 1u, 7u, 8u, 9u, 31u, 32u, 33u, 64u, 100u, 1027u}) {
      for (double p : ps) {
        std::vector<uint8_t> bits((n + 7) / 8, 0xa5), want((n + 7) / 8, 0);
        for (size_t j = 0; j < n; ++j)
          want[j / 8] |= uint8_t(double(uniform01(key, start + j)) < p) << (j % 8);
        fill_bernoulli_bits(key, start, n, p, bits.data());
        ASSERT_EQ(bits, want) << "start " << start << ", n " << n << ", p " << p;
      }
    }
  }
}

// What "independent of chunking" means for a merge: a range filled in chunks of any sizes is the
// range filled at once.
TEST(FillUniform01, ChunkedFillsEqualOneFill) {
  const uint64_t key = tensor_key(11, "model.layers.0.mlp.up_proj.weight");
  const uint64_t first = 12345;
  std::vector<float> whole(20000);
  fill_uniform01(key, first, whole);
  for (size_t chunk : {1u, 3u, 4u, 63u, 64u, 100u, 1024u, 4097u}) {
    std::vector<float> pieces(whole.size());
    for (size_t at = 0; at < pieces.size(); at += chunk) {
      const size_t count = std::min(chunk, pieces.size() - at);
      fill_uniform01(key, first + at, std::span<float>(pieces.data() + at, count));
    }
    ASSERT_EQ(pieces, whole) << "chunk " << chunk;
  }
}

TEST(Uniform01, MeanAndVarianceOfAMillionDraws) {
  const uint64_t key = tensor_key(0, "lm_head.weight");
  const size_t n = 1000000;
  std::vector<float> u(n);
  fill_uniform01(key, 0, u);
  double sum = 0, squares = 0;
  std::vector<size_t> buckets(10);
  for (float x : u) {
    sum += x;
    squares += double(x) * x;
    ++buckets[size_t(x * 10)];
  }
  const double mean = sum / n;
  const double variance = squares / n - mean * mean;
  // Standard error of the mean: sqrt(1/12 / n) ~ 2.9e-4; of the variance: sqrt(1/180 / n) ~ 7.5e-5.
  EXPECT_NEAR(mean, 0.5, 5 * 2.9e-4);
  EXPECT_NEAR(variance, 1.0 / 12, 5 * 7.5e-5);
  // Each tenth holds 1e5 +- 300 (one sigma).
  for (size_t b : buckets) EXPECT_NEAR(double(b), 1e5, 5 * 300.0);
}

TEST(TensorKey, SeparatesSeedsAndNames) {
  std::set<uint64_t> keys;
  for (uint64_t seed : {0ull, 1ull, 2ull, 0xffffffffffffffffull})
    for (const char* name : {"", "a", "b", "model.embed_tokens.weight", "model.embed_tokens.weigh"})
      keys.insert(tensor_key(seed, name));
  EXPECT_EQ(keys.size(), 20u);
  EXPECT_EQ(tensor_key(5, "x"), tensor_key(5, "x"));
}

TEST(StreamKey, SeparatesStreams) {
  std::set<uint64_t> keys;
  for (uint64_t key : {0ull, 1ull, 12345ull})
    for (uint64_t stream = 0; stream < 8; ++stream) keys.insert(stream_key(key, stream));
  EXPECT_EQ(keys.size(), 24u);
  // Neighbouring streams are uncorrelated: their draws agree no more often than chance.
  size_t equal_halves = 0;
  for (uint64_t i = 0; i < 10000; ++i)
    equal_halves +=
        (uniform01(stream_key(1, 0), i) < 0.5f) == (uniform01(stream_key(1, 1), i) < 0.5f);
  EXPECT_NEAR(double(equal_halves), 5000.0, 5 * 50.0);
}

}  // namespace
}  // namespace mf
