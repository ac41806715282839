// Chunked top-k selection (selection/chunked_selection.hpp) against the whole-tensor selection
// (selection/magnitude_selection.hpp) and a slow stable-sort reference: the same elements for every
// chunk size, chunk visiting order and worker split, on data full of exact ties, NaN, infinities,
// signed zeros and subnormals.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/tensor_stream.hpp"
#include "exec/worker_pool.hpp"
#include "magnitude_order.hpp"
#include "selection/chunked_selection.hpp"
#include "selection/magnitude_selection.hpp"

namespace mf {
namespace {

// A TensorStream over vectors in memory, like the one merge_in_chunks uses, with a configurable
// chunk size. Without a pool the chunks run on the calling thread, tagged with `workers` worker
// indices in turn (chunk c as worker c % workers, so per-worker partials must be combined),
// optionally last to first (a kernel must not depend on the order chunks are seen in); with a pool,
// on its threads at once, each chunk tagged with the worker running it (per-worker partials
// really written concurrently).
template <class T>
class VectorStream : public TensorStream<T> {
 public:
  VectorStream(const std::vector<std::vector<T>>& inputs, size_t chunk, int workers, bool reverse,
               WorkerPool* pool = nullptr)
      : inputs_(inputs),
        layout_(inputs.at(0).size(), 1, chunk),
        workers_(pool ? pool->size() : workers),
        reverse_(reverse),
        pool_(pool),
        pointers_(size_t(workers_), std::vector<const T*>(inputs.size())) {}

  size_t chunk_count() const override { return layout_.count(); }
  int workers() const override { return workers_; }
  void for_each_chunk(const std::function<void(const Chunk<T>&)>& visit) override {
    ++passes;
    const size_t n = layout_.count();
    if (pool_) {
      pool_->parallel_for(n, [&](size_t c, int w) { visit(chunk(c, w)); });
    } else {
      for (size_t i = 0; i < n; ++i) {
        const size_t c = reverse_ ? n - 1 - i : i;
        visit(chunk(c, int(c % size_t(workers_))));
      }
    }
  }
  size_t scratch_bytes() const override { return scratch; }
  void write_each_chunk(const std::function<void(const Chunk<T>&, T* out)>&) override {
    ADD_FAILURE() << "selection must not write output";
  }

  // Chunk c's elements of input v.
  std::span<const T> slice(size_t c, size_t v) const {
    return std::span<const T>(inputs_[v].data() + layout_.offset(c), layout_.size(c));
  }

  std::atomic<int> passes{0};
  size_t scratch = size_t(1) << 30;

 private:
  Chunk<T> chunk(size_t c, int w) {
    std::vector<const T*>& pointers = pointers_[size_t(w)];
    for (size_t v = 0; v < inputs_.size(); ++v) pointers[v] = inputs_[v].data() + layout_.offset(c);
    Chunk<T> chunk;
    chunk.index = c;
    chunk.offset = layout_.offset(c);
    chunk.count = layout_.size(c);
    chunk.worker = w;
    chunk.inputs = pointers;
    return chunk;
  }

  const std::vector<std::vector<T>>& inputs_;
  ChunkLayout layout_;
  int workers_;
  bool reverse_;
  WorkerPool* pool_;
  std::vector<std::vector<const T*>> pointers_;  // per worker
};

// The vectors a selection ranks are the inputs themselves, copied into scratch (the caller may
// modify them, so the stream's data must not be handed out).
template <class T>
ChunkVectors<T> copy_inputs() {
  return [](const Chunk<T>& c, std::vector<std::span<T>>& out) {
    thread_local std::vector<T> scratch;
    scratch.resize(c.inputs.size() * c.count);
    out.resize(c.inputs.size());
    for (size_t v = 0; v < c.inputs.size(); ++v) {
      T* d = scratch.data() + v * c.count;
      std::copy(c.inputs[v], c.inputs[v] + c.count, d);
      out[v] = std::span<T>(d, c.count);
    }
  };
}

// Rounds to bfloat16 (round to nearest even), so the values have 8 significant bits and repeat.
float to_bf16(float x) {
  if (std::isnan(x)) return x;
  uint32_t bits = std::bit_cast<uint32_t>(x);
  bits += 0x7fff + ((bits >> 16) & 1);
  return std::bit_cast<float>(bits & 0xffff0000u);
}

// bf16-like values with many exact ties (both signs), zeros of both signs, NaN of both signs,
// infinities and subnormals, in shuffled positions.
template <class T>
std::vector<T> tricky_values(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.f, 0.02f);
  std::uniform_int_distribution<int> pick(0, 99);
  std::vector<T> v(n);
  for (T& x : v) {
    const int r = pick(gen);
    if (r < 60)
      x = T(to_bf16(normal(gen)));
    else if (r < 75)
      x = T((pick(gen) % 2 ? -1 : 1) * 0.015625);  // one magnitude repeated a lot
    else if (r < 80)
      x = T(0);
    else if (r < 85)
      x = -T(0);
    else if (r < 88)
      x = std::numeric_limits<T>::quiet_NaN();
    else if (r < 90)
      x = -std::numeric_limits<T>::quiet_NaN();
    else if (r < 92)
      x = (pick(gen) % 2 ? -1 : 1) * std::numeric_limits<T>::infinity();
    else if (r < 95)
      x = (pick(gen) % 2 ? -1 : 1) * std::numeric_limits<T>::denorm_min() * T(1 + pick(gen) % 3);
    else
      x = T(normal(gen));  // full precision: distinct low digits
  }
  return v;
}

// Distinct magnitudes over the full range of the key's digits (double keys have four 16-bit
// digits; random doubles differ in all of them).
template <class T>
std::vector<T> wide_values(size_t n, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> exponent(-30, 30);
  std::vector<T> v(n);
  for (T& x : v) x = T(std::exp2(exponent(gen))) * T(gen() % 2 ? -1 : 1);
  return v;
}

// The first k of the descending magnitude order, written out the slow way.
template <class T>
std::vector<uint8_t> reference_top(const std::vector<T>& values, size_t k) {
  const std::vector<size_t> order = testing::descending_magnitude_order(values);
  std::vector<uint8_t> keep(values.size(), 0);
  for (size_t i = 0; i < std::min(k, values.size()); ++i) keep[order[i]] = 1;
  return keep;
}

template <class T>
std::vector<uint8_t> whole_tensor_top(const std::vector<T>& values, size_t k) {
  std::vector<uint8_t> keep(values.size(), 7);
  mark_top_magnitudes<T>(values, k, keep);
  return keep;
}

// Marks every chunk of `set` (chunks in reverse order, to show each chunk is decided on its own).
template <class T>
std::vector<uint8_t> chunked_marks(const VectorStream<T>& stream, const TopMagnitudes<T>& set,
                                   size_t n, size_t chunk) {
  std::vector<uint8_t> keep(n, 7);
  const ChunkLayout layout(n, 1, chunk);
  for (size_t c = layout.count(); c-- > 0;) {
    std::span<const T> values = stream.slice(c, set.vector());
    set.mark(c, values, keep.data() + layout.offset(c));
  }
  return keep;
}

// Names the first differing element.
::testing::AssertionResult same_marks(const std::vector<uint8_t>& actual,
                                      const std::vector<uint8_t>& expected) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes " << actual.size() << " vs " << expected.size();
  size_t differ = 0, first = 0;
  for (size_t i = 0; i < actual.size(); ++i)
    if (actual[i] != expected[i] && differ++ == 0) first = i;
  if (differ == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << differ << " elements differ, first at " << first << " (" << int(actual[first]) << " vs "
         << int(expected[first]) << ")";
}

template <class T>
class ChunkedSelectionTest : public ::testing::Test {};
using ComputeTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ChunkedSelectionTest, ComputeTypes);

// Every k of interest for n elements: the edges, and cuts through the middle of tie runs.
template <class T>
std::vector<size_t> ks_for(const std::vector<T>& values) {
  const size_t n = values.size();
  std::vector<size_t> ks = {0, 1, 2, n / 7, n / 3, n / 2, (2 * n) / 3, n - 2, n - 1, n, n + 5};
  // k ending inside runs of equal magnitudes (and exactly at their end).
  for (T probe : {T(0.015625), T(0), std::numeric_limits<T>::denorm_min()}) {
    size_t above = 0, equal = 0;
    for (T x : values) {
      if (std::isnan(x) || std::abs(x) > probe)
        ++above;
      else if (std::abs(x) == probe)
        ++equal;
    }
    if (equal >= 3) {
      ks.push_back(above + 1);
      ks.push_back(above + equal / 2);
      ks.push_back(above + equal - 1);
      ks.push_back(above + equal);  // exactly the whole run: no split
    }
  }
  return ks;
}

TYPED_TEST(ChunkedSelectionTest, SameElementsAsTheWholeTensorSelection) {
  using T = TypeParam;
  WorkerPool pool(2);
  for (unsigned seed : {1u, 2u}) {
    for (size_t n : {size_t(1), size_t(2), size_t(13), size_t(257), size_t(2000)}) {
      std::vector<std::vector<T>> inputs = {tricky_values<T>(n, seed), wide_values<T>(n, seed)};
      for (size_t vector : {size_t(0), size_t(1)}) {
        const std::vector<T>& values = inputs[vector];
        for (size_t k : ks_for(values)) {
          const std::vector<uint8_t> expected = whole_tensor_top(values, k);
          ASSERT_TRUE(same_marks(expected, reference_top(values, k)))
              << "the whole-tensor selection itself, n " << n << " k " << k;
          size_t selected = 0;
          for (uint8_t b : expected) selected += b;
          ASSERT_EQ(selected, std::min(k, n));
          for (size_t chunk : {size_t(1), size_t(3), size_t(7), size_t(1000), n}) {
            // On this thread as one worker in order and as two workers in reverse order, then on
            // two threads at once.
            // Runs 3 to 5 try the sampled search first, however small the tensor.
            for (int run = 0; run < 6; ++run) {
              VectorStream<T> stream(inputs, chunk, 1 + run % 2, run % 3 == 1,
                                     run % 3 == 2 ? &pool : nullptr);
              std::vector<TopMagnitudes<T>> sets = {TopMagnitudes<T>(vector, k)};
              find_magnitude_cuts<T>(stream, n, sets, copy_inputs<T>(),
                                     run < 3 ? kSampledCutFrom : 0);
              EXPECT_TRUE(same_marks(chunked_marks(stream, sets[0], n, chunk), expected))
                  << "seed " << seed << " n " << n << " vector " << vector << " k " << k
                  << " chunk " << chunk << " run " << run;
            }
          }
        }
      }
    }
  }
}

// Several sets found with shared passes: two on the same vector (breadcrumbs' outer and inner
// cut), one on another vector, and sets that need no cut, all independent of each other.
TYPED_TEST(ChunkedSelectionTest, SeveralSetsShareThePasses) {
  using T = TypeParam;
  WorkerPool pool(2);
  const size_t n = 1001;
  std::vector<std::vector<T>> inputs = {tricky_values<T>(n, 7), tricky_values<T>(n, 8),
                                        wide_values<T>(n, 9)};
  struct Want {
    size_t vector, k;
  };
  const std::vector<std::vector<Want>> groups = {
      {{0, 300}, {0, 20}},                      // same vector, nested cuts
      {{0, 20}, {0, 300}},                      // the same, listed the other way round
      {{0, 500}, {0, 500}},                     // the same cut twice
      {{0, 0}, {0, 400}, {1, n}, {1, 600}},     // k = 0 and k = n beside real cuts
      {{2, 1}, {0, n - 1}, {1, 999}, {2, 77}},  // three vectors
  };
  for (const auto& group : groups) {
    for (size_t chunk : {size_t(1), size_t(3), size_t(7), size_t(1000), n}) {
      for (int run = 0; run < 6; ++run) {
        VectorStream<T> stream(inputs, chunk, 1 + run % 2, run % 3 == 1,
                               run % 3 == 2 ? &pool : nullptr);
        std::vector<TopMagnitudes<T>> sets;
        for (const Want& w : group) sets.emplace_back(w.vector, w.k);
        find_magnitude_cuts<T>(stream, n, sets, copy_inputs<T>(), run < 3 ? kSampledCutFrom : 0);
        for (size_t s = 0; s < group.size(); ++s) {
          const std::vector<uint8_t> expected =
              whole_tensor_top(inputs[group[s].vector], group[s].k);
          EXPECT_TRUE(same_marks(chunked_marks(stream, sets[s], n, chunk), expected))
              << "set " << s << " (vector " << group[s].vector << ", k " << group[s].k << ") chunk "
              << chunk << " run " << run;
        }
      }
    }
  }
}

// Shared passes really are shared: the number of passes over the stream does not grow with the
// number of sets (one per digit, plus at most one to count ties).
TYPED_TEST(ChunkedSelectionTest, PassesAreSharedBetweenSets) {
  using T = TypeParam;
  const size_t n = 500;
  std::vector<std::vector<T>> inputs = {tricky_values<T>(n, 3), tricky_values<T>(n, 4)};
  const int digits = digit_count<MagnitudeKey<T>>(kSelectDigitBits);
  WorkerPool pool(2);
  VectorStream<T> one(inputs, 7, 2, false, &pool);
  std::vector<TopMagnitudes<T>> single = {TopMagnitudes<T>(0, 250)};
  find_magnitude_cuts<T>(one, n, single, copy_inputs<T>());
  VectorStream<T> many(inputs, 7, 2, false, &pool);
  std::vector<TopMagnitudes<T>> sets = {TopMagnitudes<T>(0, 250), TopMagnitudes<T>(1, 100),
                                        TopMagnitudes<T>(0, 33), TopMagnitudes<T>(1, 499)};
  find_magnitude_cuts<T>(many, n, sets, copy_inputs<T>());
  EXPECT_GE(one.passes, digits);
  EXPECT_LE(one.passes, digits + 1);
  EXPECT_GE(many.passes, digits);
  EXPECT_LE(many.passes, digits + 1);
}

// k = 0 and k >= n need no pass at all and decide chunks without a cut.
TYPED_TEST(ChunkedSelectionTest, NoneAndAllNeedNoPass) {
  using T = TypeParam;
  const size_t n = 40;
  std::vector<std::vector<T>> inputs = {tricky_values<T>(n, 5)};
  for (size_t k : {size_t(0), n, n + 5}) {
    VectorStream<T> stream(inputs, 3, 2, false);
    std::vector<TopMagnitudes<T>> sets = {TopMagnitudes<T>(0, k)};
    find_magnitude_cuts<T>(stream, n, sets, copy_inputs<T>());
    EXPECT_EQ(stream.passes, 0) << "k " << k;
    const std::vector<uint8_t> keep = chunked_marks(stream, sets[0], n, 3);
    EXPECT_EQ(std::count(keep.begin(), keep.end(), uint8_t(k == 0 ? 0 : 1)), ptrdiff_t(n))
        << "k " << k;
  }
}

// All elements equal: the set is the k lowest indices, whatever the chunking.
TYPED_TEST(ChunkedSelectionTest, AllEqualMagnitudesTakeTheLowestIndices) {
  using T = TypeParam;
  const size_t n = 100;
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = T(i % 2 ? -0.5 : 0.5);
  std::vector<std::vector<T>> inputs = {v};
  for (size_t k : {size_t(1), size_t(37), size_t(99)}) {
    for (size_t chunk : {size_t(1), size_t(3), size_t(7), size_t(1000), n}) {
      VectorStream<T> stream(inputs, chunk, 2, true);
      std::vector<TopMagnitudes<T>> sets = {TopMagnitudes<T>(0, k)};
      find_magnitude_cuts<T>(stream, n, sets, copy_inputs<T>());
      const std::vector<uint8_t> keep = chunked_marks(stream, sets[0], n, chunk);
      for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(keep[i], i < k ? 1 : 0) << "k " << k << " chunk " << chunk << " element " << i;
    }
  }
}

// Two threads counting the same few magnitudes at once: each worker's histogram must be its own
// (a shared one loses increments) and all of them must be added up.
TYPED_TEST(ChunkedSelectionTest, ConcurrentWorkersOnFewMagnitudes) {
  using T = TypeParam;
  const size_t n = size_t(1) << 18;
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = T(0.25) * T(1 + (i * 7919) % 3) * T(i % 2 ? -1 : 1);
  std::vector<std::vector<T>> inputs = {v};
  WorkerPool pool(2);
  for (size_t k : {n / 3 - 1, n / 3 + 17, n / 2, (2 * n) / 3 + 5}) {
    const std::vector<uint8_t> expected = whole_tensor_top(v, k);
    for (size_t chunk : {size_t(4096), size_t(1000)}) {
      VectorStream<T> stream(inputs, chunk, 2, false, &pool);
      std::vector<TopMagnitudes<T>> sets = {TopMagnitudes<T>(0, k)};
      find_magnitude_cuts<T>(stream, n, sets, copy_inputs<T>());
      EXPECT_TRUE(same_marks(chunked_marks(stream, sets[0], n, chunk), expected))
          << "k " << k << " chunk " << chunk;
    }
  }
}

// The sampled search (float only), on tensors as large as it is used for: a million elements in
// chunks of 65536, two threads.
class SampledCut : public ::testing::Test {
 protected:
  static constexpr size_t kN = size_t(1) << 20;
  static constexpr size_t kChunk = size_t(1) << 16;

  // Finds the cuts of `ks` on the vector of `values`, checks each against the whole-tensor
  // selection and returns how the search went.
  CutSearch cut(const std::vector<float>& values, const std::vector<size_t>& ks,
                size_t scratch = size_t(1) << 30) {
    std::vector<std::vector<float>> inputs = {values};
    VectorStream<float> stream(inputs, kChunk, 2, false, &pool_);
    stream.scratch = scratch;
    std::vector<TopMagnitudes<float>> sets;
    for (size_t k : ks) sets.emplace_back(0, k);
    const CutSearch how = find_magnitude_cuts<float>(stream, values.size(), sets,
                                                     copy_inputs<float>(), kSampledCutFrom);
    EXPECT_EQ(how.passes, stream.passes.load());
    for (size_t s = 0; s < ks.size(); ++s)
      EXPECT_TRUE(same_marks(chunked_marks(stream, sets[s], values.size(), kChunk),
                             whole_tensor_top(values, ks[s])))
          << "k " << ks[s];
    return how;
  }

  WorkerPool pool_{2};
};

// Deltas of bf16 weights: every key's last digit is 0, so the cut is found in two passes,
// wherever k falls in a run of equal magnitudes, for one cut or breadcrumbs' two.
TEST_F(SampledCut, Bf16DeltasTakeTwoPasses) {
  std::mt19937 gen(21);
  std::normal_distribution<float> normal(0.f, 0.02f);
  std::vector<float> v(kN);
  for (float& x : v) x = to_bf16(normal(gen));
  ASSERT_GT(std::count(v.begin(), v.end(), v[0]), 100) << "the data should repeat magnitudes";
  for (const std::vector<size_t>& ks : std::vector<std::vector<size_t>>{
           {kN / 2}, {kN * 7 / 10}, {kN / 10}, {kN / 100}, {kN - kN / 100, kN / 100}}) {
    const CutSearch how = cut(v, ks);
    EXPECT_TRUE(how.sampled) << "k " << ks[0];
    EXPECT_EQ(how.passes, 2) << "k " << ks[0];
  }
}

// Deltas of fine-tuned bf16 weights put a fifth of a matrix or more in one magnitude: a cut there
// gets a band of one bin, which the band pass only counts. Still two passes.
TEST_F(SampledCut, CutInAMagnitudeHoldingAThirdTakesTwoPasses) {
  std::mt19937 gen(22);
  std::normal_distribution<float> normal(0.f, 0.02f);
  std::vector<float> v(kN);
  const float common = 0.0078125f;  // exact in bf16
  for (size_t i = 0; i < kN; ++i)
    v[i] = gen() % 10 < 3 ? (i % 2 ? common : -common) : to_bf16(normal(gen));
  for (const std::vector<size_t>& ks :
       std::vector<std::vector<size_t>>{{kN / 2}, {kN * 6 / 10}, {kN * 6 / 10, kN / 100}}) {
    const CutSearch how = cut(v, ks);
    EXPECT_TRUE(how.sampled) << "k " << ks[0];
    EXPECT_EQ(how.passes, 2) << "k " << ks[0];
  }
}

// Full-precision values: the cut falls among the keys of its bin whose last digit is not 0, which
// the radix search's last pass sorts out.
TEST_F(SampledCut, FullPrecisionValuesTakeTheLastDigitsPass) {
  std::mt19937 gen(22);
  std::normal_distribution<float> normal(0.f, 0.02f);
  std::vector<float> v(kN);
  for (float& x : v) x = normal(gen);
  const CutSearch how = cut(v, {kN / 2});
  EXPECT_TRUE(how.sampled);
  EXPECT_EQ(how.passes, 3);
}

// A sample that misleads: every element the sample reads is small and all the others large, so the
// band of a cut among the large ones holds none of it. The radix search then finds it. One cut is
// the smallest of the large elements: the band's count of keys above it is exactly k.
TEST_F(SampledCut, BandThatMissesFallsBackToTheRadixSearch) {
  std::vector<float> v(kN);
  for (size_t i = 0; i < kN; ++i) v[i] = to_bf16(1.0f + float(i % 97) / 64);
  const ChunkLayout layout(kN, 1, kChunk);
  std::vector<SampleWindow> pieces;
  size_t small = 0;
  for (size_t c = 0; c < layout.count(); ++c) {
    sample_pieces(c, layout.size(c), pieces);
    for (const SampleWindow& p : pieces) {
      for (size_t j = 0; j < p.count; ++j) v[layout.offset(c) + p.start + j] = 0.001f;
      small += p.count;
    }
  }
  for (size_t k : {kN / 2, kN - small}) {
    const CutSearch how = cut(v, {k});
    EXPECT_FALSE(how.sampled) << "k " << k;
    EXPECT_GE(how.passes, 4) << "the sample's two and the radix search's two or three; k " << k;
  }
}

// Magnitudes spread evenly over 240 binades: the few percent of them around the cut span more than
// kBandBins bins (two binades), and the radix search follows the sample's single pass.
TEST_F(SampledCut, WideSpreadFallsBackAfterTheSample) {
  std::mt19937_64 gen(23);
  std::uniform_real_distribution<double> exponent(-120, 120);
  std::vector<float> v(kN);
  for (float& x : v) x = float(std::exp2(exponent(gen)));
  const CutSearch how = cut(v, {kN / 3});
  EXPECT_FALSE(how.sampled);
  EXPECT_GE(how.passes, 3);
  EXPECT_LE(how.passes, 4);
}

// The per-chunk counts of a band must fit the stream's scratch; without any, the radix search.
TEST_F(SampledCut, NoScratchFallsBackAfterTheSample) {
  std::mt19937 gen(24);
  std::normal_distribution<float> normal(0.f, 0.02f);
  std::vector<float> v(kN);
  for (float& x : v) x = to_bf16(normal(gen));
  const CutSearch how = cut(v, {kN / 2}, 0);
  EXPECT_FALSE(how.sampled);
  EXPECT_EQ(how.passes, 3);  // the sample, then the radix search's two
}

TEST(SamplePieces, ASixteenthOfEveryChunkMovingFromChunkToChunk) {
  std::vector<SampleWindow> pieces;
  for (size_t count : {size_t(1), size_t(5), size_t(16), size_t(100), size_t(4095), size_t(4096),
                       size_t(65536), size_t(65536 + 300)}) {
    std::vector<size_t> first_starts;
    for (size_t chunk = 0; chunk < 40; ++chunk) {
      sample_pieces(chunk, count, pieces);
      ASSERT_FALSE(pieces.empty()) << count;
      size_t end = 0, total = 0;
      for (const SampleWindow& p : pieces) {
        EXPECT_GE(p.start, end) << "pieces in order, apart; count " << count;
        EXPECT_GT(p.count, 0u);
        end = p.start + p.count;
        total += p.count;
      }
      EXPECT_LE(end, count);
      if (count < kSamplePiece * kSampleShare) {
        EXPECT_EQ(total, std::max<size_t>(1, count / kSampleShare)) << count;
      } else {
        EXPECT_GE(total + kSamplePiece, count / kSampleShare) << count;
        EXPECT_LE(total, count / kSampleShare + kSamplePiece) << count;
      }
      first_starts.push_back(pieces[0].start);
    }
    std::sort(first_starts.begin(), first_starts.end());
    const size_t distinct =
        size_t(std::unique(first_starts.begin(), first_starts.end()) - first_starts.begin());
    if (count >= 100) {
      EXPECT_GT(distinct, 20u) << "the pieces should move; count " << count;
    }
  }
}

}  // namespace
}  // namespace mf
