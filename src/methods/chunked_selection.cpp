#include "methods/chunked_selection.hpp"

#include <algorithm>
#include <cassert>

#include "core/error.hpp"
#include "methods/magnitude_filter.hpp"
#include "methods/task_vector_simd.hpp"

namespace mf {

template <class T>
std::optional<MagnitudeKey<T>> TopMagnitudes<T>::lowest_kept(size_t chunk_index) const {
  switch (mode_) {
    case Mode::None:
      return Key(1) << (8 * sizeof(Key) - 1);
    case Mode::All:
      return Key(0);
    case Mode::Cut:
      break;
  }
  // Only the chunk where the taken ties end needs them counted; elsewhere a comparison decides.
  const bool all_ties = ties_before_.empty() || ties_before_[chunk_index + 1] <= ties_;
  const bool no_ties = !ties_before_.empty() && ties_before_[chunk_index] >= ties_;
  if (all_ties) return threshold_;
  if (no_ties) return threshold_ + 1;
  return std::nullopt;
}

template <class T>
void TopMagnitudes<T>::mark(size_t chunk_index, std::span<const T> values, uint8_t* keep) const {
  if (const auto lowest = lowest_kept(chunk_index)) {
    for (size_t j = 0; j < values.size(); ++j) keep[j] = magnitude_key(values[j]) >= *lowest;
    return;
  }
  size_t tie = ties_before_[chunk_index];  // rank of the next equal element among all equal ones
  for (size_t j = 0; j < values.size(); ++j) {
    const Key key = magnitude_key(values[j]);
    const bool equal = key == threshold_;
    keep[j] = key > threshold_ || (equal && tie < ties_);
    tie += equal;
  }
}

template <class T>
void TopMagnitudes<T>::keep(size_t chunk_index, std::span<T> values) const {
  if (const auto lowest = lowest_kept(chunk_index)) {
    zero_magnitudes_below(values, *lowest);
    return;
  }
  thread_local std::vector<uint8_t> kept;
  kept.resize(values.size());
  mark(chunk_index, values, kept.data());
  for (size_t j = 0; j < values.size(); ++j) values[j] = kept[j] ? values[j] : T(0);
}

template <class T>
void TopMagnitudes<T>::keep_without(const TopMagnitudes& inner, size_t chunk_index,
                                    std::span<T> values) const {
  const auto lowest = lowest_kept(chunk_index), dropped = inner.lowest_kept(chunk_index);
  if (lowest && dropped) {
    zero_magnitudes_outside(values, *lowest, *dropped);
    return;
  }
  thread_local std::vector<uint8_t> kept, in_inner;
  kept.resize(values.size());
  in_inner.resize(values.size());
  mark(chunk_index, values, kept.data());
  inner.mark(chunk_index, values, in_inner.data());
  for (size_t j = 0; j < values.size(); ++j) values[j] = kept[j] && !in_inner[j] ? values[j] : T(0);
}

template <class T>
void find_magnitude_cuts(TensorStream<T>& stream, size_t numel, std::span<TopMagnitudes<T>> sets,
                         const ChunkVectors<T>& values) {
  using Key = MagnitudeKey<T>;
  using Set = TopMagnitudes<T>;
  constexpr int kDigitBits = kSelectDigitBits;
  constexpr Key kDigitMask = (Key(1) << kDigitBits) - 1;
  constexpr size_t kBins = size_t(1) << kDigitBits;
  // Histogram counters are 32-bit to halve their cache footprint.
  if (numel >= (uint64_t(1) << 32))
    fail(ErrorCode::Unsupported, "magnitude selection over more than 2^32 elements");

  struct Search {
    Set* set;
    Key prefix = 0;       // the digits of the threshold found so far
    Key prefix_mask = 0;  // which bits of `prefix` are decided
    size_t remaining;     // how many of the elements matching `prefix` still belong to the set
    size_t equal = 0;     // elements equal to the threshold (after the last digit)
  };
  std::vector<Search> searches;
  for (Set& s : sets) {
    s.ties_before_.clear();
    if (s.k_ == 0) {
      s.mode_ = Set::Mode::None;
    } else if (s.k_ >= numel) {
      s.mode_ = Set::Mode::All;
    } else {
      s.mode_ = Set::Mode::Cut;
      searches.push_back({&s, 0, 0, s.k_});
    }
  }
  if (searches.empty()) return;

  const int workers = stream.workers();
  const size_t chunks = stream.chunk_count();
  // histograms[worker]: kBins counters per search for the even keys of a chunk, then kBins more
  // per search for the odd ones.
  std::vector<std::vector<uint32_t>> histograms(workers,
                                                std::vector<uint32_t>(2 * searches.size() * kBins));
  // zeros[search][chunk]: the chunk's elements equal to the prefix with a last digit of 0, counted
  // in the last pass. bf16 deltas have at most 8 significant bits, so their low digit is mostly 0
  // and a cut through a run of ties usually lands on such a key: these counts then spare the pass
  // that counts each chunk's ties.
  std::vector<std::vector<size_t>> zeros(searches.size(), std::vector<size_t>(chunks));
  // Searches over the same vector with the same prefix need the same histogram (breadcrumbs' two
  // cuts in the first pass): the first of them counts it, the others read it.
  std::vector<size_t> source(searches.size());
  for (int digit = digit_count<Key>(kDigitBits) - 1; digit >= 0; --digit) {
    const int shift = digit * kDigitBits;
    for (size_t s = 0; s < searches.size(); ++s) {
      source[s] = s;
      for (size_t t = 0; t < s; ++t) {
        if (searches[t].set->vector() == searches[s].set->vector() &&
            searches[t].prefix == searches[s].prefix &&
            searches[t].prefix_mask == searches[s].prefix_mask) {
          source[s] = t;
          break;
        }
      }
    }
    for (auto& h : histograms) std::fill(h.begin(), h.end(), 0);
    stream.for_each_chunk([&](const Chunk<T>& c) {
      thread_local std::vector<std::span<T>> vectors;
      thread_local std::vector<Key> matching;
      values(c, vectors);
      uint32_t* base = histograms[c.worker].data();
      for (size_t s = 0; s < searches.size(); ++s) {
        if (source[s] != s) continue;
        const Search& search = searches[s];
        const std::span<const T> v = vectors[search.set->vector()];
        // Even and odd keys go to two histograms, so that a run of equal keys does not wait on
        // the previous increment of one counter.
        uint32_t* even = base + s * kBins;
        uint32_t* odd = base + (searches.size() + s) * kBins;
        auto count_keys = [&](size_t n, auto key_at) {
          size_t j = 0;
          for (; j + 2 <= n; j += 2) {
            ++even[(key_at(j) >> shift) & kDigitMask];
            ++odd[(key_at(j + 1) >> shift) & kDigitMask];
          }
          if (j < n) ++even[(key_at(j) >> shift) & kDigitMask];
        };
        if (search.prefix_mask == 0) {  // every key counts
          count_keys(v.size(), [&](size_t j) { return magnitude_key(v[j]); });
          continue;
        }
        if (matching.size() < v.size()) matching.resize(v.size());
        const size_t n =
            matching_magnitude_keys(v, search.prefix_mask, search.prefix, matching.data());
        // In the last pass, a key equal to the prefix is one whose last digit is 0: bin 0.
        const size_t zeros_before = size_t(even[0]) + odd[0];
        count_keys(n, [&](size_t j) { return matching[j]; });
        if (digit == 0) zeros[s][c.index] = size_t(even[0]) + odd[0] - zeros_before;
      }
    });
    for (size_t s = 0; s < searches.size(); ++s) {
      Search& search = searches[s];
      const size_t counted = source[s];
      if (digit == 0 && counted != s) zeros[s] = zeros[counted];
      // Walk from the largest digit down until the bin holding the k-th element.
      auto count = [&](size_t bin) {
        size_t sum = 0;
        for (const auto& h : histograms)
          sum += h[counted * kBins + bin] + h[(searches.size() + counted) * kBins + bin];
        return sum;
      };
      size_t bin = kDigitMask;
      size_t in_bin = count(bin);
      while (in_bin < search.remaining) {
        search.remaining -= in_bin;
        assert(bin > 0 && "fewer elements match the prefix than remain to select");
        in_bin = count(--bin);
      }
      search.prefix |= Key(bin) << shift;
      search.prefix_mask |= kDigitMask << shift;
      search.equal = in_bin;
    }
  }

  // A cut through a run of equal magnitudes: each chunk needs the count of equal elements before
  // it, so the lowest indices can be taken chunk by chunk. Known already for a threshold whose last
  // digit is 0; otherwise counted in one more pass.
  std::vector<Search*> split;
  for (size_t s = 0; s < searches.size(); ++s) {
    Search& search = searches[s];
    Set& set = *search.set;
    set.threshold_ = search.prefix;
    set.ties_ = search.remaining;
    if (search.remaining == search.equal) continue;
    set.ties_before_.assign(chunks + 1, 0);
    if ((search.prefix & kDigitMask) == 0) {
      for (size_t c = 0; c < chunks; ++c)
        set.ties_before_[c + 1] = set.ties_before_[c] + zeros[s][c];
    } else {
      split.push_back(&search);
    }
  }
  if (split.empty()) return;
  stream.for_each_chunk([&](const Chunk<T>& c) {
    thread_local std::vector<std::span<T>> vectors;
    values(c, vectors);
    for (Search* search : split) {
      Set& set = *search->set;
      size_t equal = 0;
      for (T x : vectors[set.vector()]) equal += magnitude_key(x) == set.threshold_;
      set.ties_before_[c.index + 1] = equal;
    }
  });
  for (Search* search : split) {
    auto& before = search->set->ties_before_;
    for (size_t c = 1; c < before.size(); ++c) before[c] += before[c - 1];
  }
}

template class TopMagnitudes<float>;
template class TopMagnitudes<double>;
template void find_magnitude_cuts<float>(TensorStream<float>&, size_t,
                                         std::span<TopMagnitudes<float>>,
                                         const ChunkVectors<float>&);
template void find_magnitude_cuts<double>(TensorStream<double>&, size_t,
                                          std::span<TopMagnitudes<double>>,
                                          const ChunkVectors<double>&);

}  // namespace mf
