// The streaming kernels give the same result whatever the chunk size (MergeArgs::chunk_elements):
// bit for bit for the elementwise methods and for the random and magnitude sparsifiers (their
// masks do not depend on the chunking), and up to rounding for slerp, whose norms and dot product
// are summed per chunk. della ranks whole rows, so its chunks must hold whole rows: chunk sizes
// that are not multiples of the row length show that they do.
//
// `rescale` multiplies the survivors by L1(before) / L1(after), and those L1 norms are summed per
// chunk and then in chunk order, like slerp's sums. With float elements (and with double elements
// on a coarse grid) every such sum is exact in double, so the bits cannot change; with
// full-precision double elements the factor may differ in its last bits from one chunking to
// another. There the masks are still held to be identical: a kept or dropped entry moves the
// result by a whole task-vector entry (about 0.05 here), billions of times the tolerance.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/tensor_stream.hpp"
#include "test_methods_support.hpp"

namespace mf {
namespace {

using merge_test::MergeCall;
using merge_test::method;

const std::vector<int64_t> kShape = {37, 24};  // 888 elements, rows of 24
constexpr size_t kNumel = 37 * 24;
const std::vector<size_t> kChunks = {1, 5, 64, 1000, 0};  // 0: the kernel's default

// Values on a coarse grid, so task vectors hold many exact ties (as bf16 models do), with a few
// exact zeros; `smooth` gives full-precision values instead.
template <class T>
std::vector<T> values(size_t n, unsigned seed, bool smooth) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0, 1);
  std::vector<T> v(n);
  for (T& x : v) x = smooth ? T(normal(gen)) : T(std::round(normal(gen) * 8) / 8);
  return v;
}

// base + a task vector on the grid (multiples of 1/32 up to 4/32: huge tie runs), or smooth.
template <class T>
std::vector<T> fine_tune(const std::vector<T>& base, unsigned seed, bool smooth) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0, 0.05);
  std::uniform_int_distribution<int> step(-4, 4);
  std::vector<T> v(base.size());
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = smooth ? T(base[i] + normal(gen)) : T(base[i] + T(step(gen)) / T(32));
  return v;
}

template <class T>
::testing::AssertionResult bit_identical(const std::vector<T>& actual,
                                         const std::vector<T>& expected) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes " << actual.size() << " vs " << expected.size();
  size_t differ = 0, first = 0;
  for (size_t i = 0; i < actual.size(); ++i)
    if (std::memcmp(&actual[i], &expected[i], sizeof(T)) != 0 && differ++ == 0) first = i;
  if (differ == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << differ << " of " << actual.size() << " elements differ, first at " << first << ": "
         << double(actual[first]) << " vs " << double(expected[first]);
}

template <class T>
::testing::AssertionResult close_relative(const std::vector<T>& actual,
                                          const std::vector<T>& expected, double tolerance) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes " << actual.size() << " vs " << expected.size();
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = double(actual[i]), e = double(expected[i]);
    if (!(std::abs(a - e) <= tolerance * std::max(std::abs(e), 1e-30)))
      return ::testing::AssertionFailure() << "element " << i << ": " << a << " vs " << e;
  }
  return ::testing::AssertionSuccess();
}

// Bit for bit, except where a full-precision double rescale factor is summed per chunk (see the
// top of the file): there within 1e-13.
template <class T>
::testing::AssertionResult same_up_to_rescale_rounding(const std::vector<T>& actual,
                                                       const std::vector<T>& expected,
                                                       bool rescaled_full_precision) {
  if (sizeof(T) == 4 || !rescaled_full_precision) return bit_identical(actual, expected);
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes " << actual.size() << " vs " << expected.size();
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = double(actual[i]), e = double(expected[i]);
    if (!(std::abs(a - e) <= 1e-13 * (1 + std::abs(e))))
      return ::testing::AssertionFailure() << "element " << i << ": " << a << " vs " << e;
  }
  return ::testing::AssertionSuccess();
}

struct Case {
  std::string method;
  int inputs;  // including the base
  int base;    // -1: none
  std::map<std::string, double> global;
  std::vector<std::map<std::string, double>> per_input;
  bool sparsifies;  // density < 1 changes the result
};

// Three inputs with the base in the middle, the two task vectors at densities 0.3 and 0.7.
std::vector<Case> cases(bool rescale) {
  const double r = rescale ? 1.0 : 0.0;
  std::vector<Case> c;
  c.push_back(
      {"linear", 3, -1, {}, {{{"weight", 0.2}}, {{"weight", 0.5}}, {{"weight", 0.3}}}, false});
  c.push_back({"task_arithmetic",
               3,
               1,
               {{"lambda", 0.8}},
               {{{"weight", 0.6}}, {}, {{"weight", 0.9}}},
               false});
  for (const char* name : {"ties", "dare_ties", "dare_linear", "breadcrumbs", "breadcrumbs_ties",
                           "della", "della_linear"}) {
    Case k{name, 3, 1, {{"rescale", r}}, {}, true};
    std::map<std::string, double> a = {{"weight", 0.6}, {"density", 0.3}};
    std::map<std::string, double> b = {{"weight", 0.9}, {"density", 0.7}};
    if (std::string(name).starts_with("breadcrumbs")) a["gamma"] = 0.05, b["gamma"] = 0.1;
    if (std::string(name).starts_with("della")) a["epsilon"] = 0.2, b["epsilon"] = 0.1;
    k.per_input = {a, {}, b};
    c.push_back(k);
  }
  return c;
}

template <class T>
MergeCall<T> make_call(const Case& k, const std::vector<int64_t>& shape, bool smooth,
                       uint64_t seed) {
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  MergeCall<T> call;
  const std::vector<T> base = values<T>(n, 100 + unsigned(seed), smooth);
  for (int i = 0; i < k.inputs; ++i) {
    if (k.base < 0)  // no base: independent models
      call.inputs.push_back(values<T>(n, 300 + unsigned(i), smooth));
    else if (i == k.base)
      call.inputs.push_back(base);
    else
      call.inputs.push_back(fine_tune(base, 200 + unsigned(seed) + unsigned(i), smooth));
  }
  call.base = k.base;
  call.global = k.global;
  call.per_input = k.per_input;
  call.shape = shape;
  call.seed = seed;
  return call;
}

template <class T>
class ChunkInvariance : public ::testing::Test {};
TYPED_TEST_SUITE(ChunkInvariance, merge_test::ComputeTypes);

TYPED_TEST(ChunkInvariance, SameBitsForEveryChunkSize) {
  using T = TypeParam;
  for (bool rescale : {false, true}) {
    for (bool smooth : {false, true}) {
      for (const Case& k : cases(rescale)) {
        const MergeMethod& m = method(k.method);
        ASSERT_TRUE(m.streams()) << k.method;
        MergeCall<T> call = make_call<T>(k, kShape, smooth, 0xC0FFEE);
        call.check(m);
        call.chunk_elements = kNumel;  // one chunk: the whole tensor at once
        const std::vector<T> whole = call.run(m);
        for (T x : whole) ASSERT_TRUE(std::isfinite(x)) << k.method;
        if (k.sparsifies) {
          // The masks do something: the same merge at density 1 differs.
          MergeCall<T> dense = call;
          for (int i = 0; i < k.inputs; ++i)
            if (i != k.base) dense.per_input[i]["density"] = 1.0;
          EXPECT_FALSE(bit_identical(dense.run(m), whole)) << k.method << ": nothing dropped";
        }
        for (size_t chunk : kChunks) {
          call.chunk_elements = chunk;
          EXPECT_TRUE(same_up_to_rescale_rounding<T>(call.run(m), whole, rescale && smooth))
              << k.method << " rescale " << rescale << " smooth " << smooth << " chunk_elements "
              << chunk;
          // Without scratch, della ranks its lines and dare draws its masks again in the output
          // pass instead of keeping the masks of the rescale pass: the same bits.
          MergeCall<T> no_scratch = call;
          no_scratch.scratch_bytes = 0;
          EXPECT_TRUE(bit_identical(no_scratch.run(m), call.run(m)))
              << k.method << " rescale " << rescale << " smooth " << smooth << " chunk_elements "
              << chunk << ": masks kept vs drawn again";
        }
      }
    }
  }
}

TYPED_TEST(ChunkInvariance, SlerpDiffersByRoundingOnly) {
  using T = TypeParam;
  const double tolerance = sizeof(T) == 4 ? 1e-6 : 1e-13;
  for (bool smooth : {false, true}) {
    for (int base : {0, 1}) {
      for (double t : {0.3, 0.75}) {
        MergeCall<T> call;
        const std::vector<T> a = values<T>(kNumel, 1, smooth);
        call.inputs = {a, values<T>(kNumel, 2, smooth)};  // far from parallel: a true slerp
        call.base = base;
        call.global = {{"t", t}};
        call.shape = kShape;
        call.chunk_elements = kNumel;
        const std::vector<T> whole = call.run(method("slerp"));
        // Neither endpoint nor their linear interpolation: the angle is used.
        size_t off_line = 0;
        const std::vector<T>& v0 = call.inputs[base];
        const std::vector<T>& v1 = call.inputs[1 - base];
        for (size_t e = 0; e < kNumel; ++e)
          off_line += std::abs(double(whole[e]) - ((1 - t) * double(v0[e]) + t * double(v1[e]))) >
                      1e-3 * (1 + std::abs(double(whole[e])));
        EXPECT_GT(off_line, kNumel / 2);
        for (size_t chunk : kChunks) {
          call.chunk_elements = chunk;
          EXPECT_TRUE(close_relative(call.run(method("slerp")), whole, tolerance))
              << "smooth " << smooth << " base " << base << " t " << t << " chunk_elements "
              << chunk;
        }
      }
    }
  }
}

// della's granule is a whole dim-0 slice; the other methods are elementwise.
TEST(ChunkInvariance, DellaChunksHoldWholeRows) {
  for (const char* name : {"della", "della_linear"}) {
    EXPECT_EQ(method(name).chunk_granule(kShape), 24u) << name;
    const std::vector<int64_t> cube = {6, 5, 4};  // lines along dim 1, strided by 4
    EXPECT_EQ(method(name).chunk_granule(cube), 20u) << name;
    const std::vector<int64_t> vector = {50};  // one line
    EXPECT_EQ(method(name).chunk_granule(vector), 50u) << name;
  }
  for (const char* name : {"linear", "slerp", "task_arithmetic", "ties", "dare_ties", "dare_linear",
                           "breadcrumbs", "breadcrumbs_ties"})
    EXPECT_EQ(method(name).chunk_granule(kShape), 1u) << name;

  // Chunks are whole granules near the target, never a split row.
  for (size_t target : {size_t(1), size_t(5), size_t(23), size_t(25), size_t(64), size_t(1000)}) {
    const ChunkLayout layout(kNumel, 24, target);
    EXPECT_EQ(layout.chunk % 24, 0u) << target;
    EXPECT_GE(layout.chunk, 24u) << target;
    EXPECT_LE(layout.chunk, std::max<size_t>(24, target)) << target;
    size_t covered = 0;
    for (size_t c = 0; c < layout.count(); ++c) {
      EXPECT_EQ(layout.offset(c), covered);
      EXPECT_EQ(layout.offset(c) % 24, 0u);
      covered += layout.size(c);
    }
    EXPECT_EQ(covered, kNumel) << target;
  }
}

// della over a 3-D tensor, whose lines run along dim 1 with a stride: chunk sizes that are not
// multiples of a dim-0 slice (20 elements) give the same bits.
TYPED_TEST(ChunkInvariance, DellaOnARank3Tensor) {
  using T = TypeParam;
  const std::vector<int64_t> shape = {9, 5, 4};
  for (const char* name : {"della", "della_linear"}) {
    for (bool rescale : {false, true}) {
      Case k{name, 3, 0, {{"rescale", rescale ? 1.0 : 0.0}}, {}, true};
      k.per_input = {{}, {{"weight", 0.5}, {"density", 0.4}}, {{"weight", 0.7}, {"density", 0.6}}};
      MergeCall<T> call = make_call<T>(k, shape, true, 77);
      call.check(method(name));
      call.chunk_elements = 180;
      const std::vector<T> whole = call.run(method(name));
      for (size_t chunk : {size_t(1), size_t(7), size_t(21), size_t(39), size_t(41)}) {
        call.chunk_elements = chunk;
        EXPECT_TRUE(same_up_to_rescale_rounding<T>(call.run(method(name)), whole, rescale))
            << name << " rescale " << rescale << " chunk_elements " << chunk;
      }
    }
  }
}

}  // namespace
}  // namespace mf
