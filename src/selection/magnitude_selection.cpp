#include "selection/magnitude_selection.hpp"

#include <algorithm>
#include <bit>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace mf {

namespace {

// The first k elements of the descending magnitude order, for 0 < k < n: every element whose key is
// above `threshold`, plus the `ties` lowest-indexed elements whose key equals it.
template <class K>
struct MagnitudeCut {
  K threshold;
  size_t ties;
};

// Ranking a line (della, rows of a few thousand) with many distinct magnitudes sorts it by 11-bit
// digits: three scatters for a float key, and the three digits' counters (24 KiB) fit in L1 cache
// together. (Measured with BM_ascending_magnitude_ranks_rows before rank_by_distinct_keys took the
// lines of few distinct keys: 5.6 ns per element, against 6.3 with 8-bit digits.)
constexpr int kRankDigitBits = 11;

template <class T>
MagnitudeCut<MagnitudeKey<T>> find_cut(std::span<const T> values, size_t k) {
  using K = MagnitudeKey<T>;
  constexpr int kDigitBits = kSelectDigitBits;
  constexpr K kDigitMask = (K(1) << kDigitBits) - 1;
  MF_CHECK(k > 0 && k < values.size());

  std::vector<size_t> histogram(size_t(1) << kDigitBits);
  K prefix = 0;          // the digits of the threshold found so far
  K prefix_mask = 0;     // which bits of `prefix` are decided
  size_t remaining = k;  // how many of the elements matching `prefix` still belong to the top k
  for (int digit = digit_count<K>(kDigitBits) - 1; digit >= 0; --digit) {
    const int shift = digit * kDigitBits;
    std::fill(histogram.begin(), histogram.end(), 0);
    for (T x : values) {
      const K key = magnitude_key(x);
      if ((key & prefix_mask) == prefix) ++histogram[(key >> shift) & kDigitMask];
    }
    // Walk from the largest digit down until the bin holding the k-th element.
    size_t bin = kDigitMask;
    while (histogram[bin] < remaining) {
      remaining -= histogram[bin];
      MF_CHECK(bin > 0 && "fewer elements match the prefix than remain to select");
      --bin;
    }
    prefix |= K(bin) << shift;
    prefix_mask |= kDigitMask << shift;
  }
  return {prefix, remaining};
}

// Membership in a top-k set, decided element by element in increasing index order.
template <class T>
class TopMagnitudes {
 public:
  TopMagnitudes(std::span<const T> values, size_t k) {
    if (k == 0) {
      mode_ = Mode::None;
    } else if (k >= values.size()) {
      mode_ = Mode::All;
    } else {
      mode_ = Mode::Cut;
      cut_ = find_cut(values, k);
    }
  }

  // Must be called once per element, in increasing index order.
  bool take(MagnitudeKey<T> key) {
    switch (mode_) {
      case Mode::None:
        return false;
      case Mode::All:
        return true;
      case Mode::Cut:
        if (key > cut_.threshold) return true;
        if (key == cut_.threshold && cut_.ties > 0) {
          --cut_.ties;
          return true;
        }
        return false;
    }
    return false;
  }

 private:
  enum class Mode { None, All, Cut };
  Mode mode_;
  MagnitudeCut<MagnitudeKey<T>> cut_{};
};

// Calls decide(i, kept) for every element in increasing index order, kept telling whether the
// element is among the first k of the descending magnitude order. Reads values[i] before the call,
// so `decide` may overwrite it.
template <class T, class Decide>
void select_top(std::span<const T> values, size_t k, Decide decide) {
  TopMagnitudes<T> top(values, k);
  for (size_t i = 0; i < values.size(); ++i) decide(i, top.take(magnitude_key(values[i])));
}

// The same for the 0-based ascending ranks [first, last). Ascending rank r is descending position n
// - 1 - r, so the range is the top n - first minus the top n - last.
template <class T, class Decide>
void select_rank_range(std::span<const T> values, size_t first, size_t last, Decide decide) {
  const size_t n = values.size();
  first = std::min(first, n);
  last = std::clamp(last, first, n);
  TopMagnitudes<T> upto_first(values, n - first);
  TopMagnitudes<T> upto_last(values, n - last);
  for (size_t i = 0; i < n; ++i) {
    const auto key = magnitude_key(values[i]);
    const bool in_outer = upto_first.take(key);
    const bool in_inner = upto_last.take(key);
    decide(i, in_outer && !in_inner);
  }
}

}  // namespace

template <class T>
void mark_top_magnitudes(std::span<const T> values, size_t k, std::span<uint8_t> keep) {
  MF_CHECK(keep.size() == values.size());
  select_top(values, k, [&](size_t i, bool kept) { keep[i] = kept ? 1 : 0; });
}

template <class T>
void keep_top_magnitudes(std::span<T> values, size_t k) {
  select_top<T>(values, k, [&](size_t i, bool kept) { values[i] = kept ? values[i] : T(0); });
}

template <class T>
void mark_magnitude_rank_range(std::span<const T> values, size_t first, size_t last,
                               std::span<uint8_t> keep) {
  MF_CHECK(keep.size() == values.size());
  select_rank_range(values, first, last, [&](size_t i, bool kept) { keep[i] = kept ? 1 : 0; });
}

template <class T>
void keep_magnitude_rank_range(std::span<T> values, size_t first, size_t last) {
  select_rank_range<T>(values, first, last,
                       [&](size_t i, bool kept) { values[i] = kept ? values[i] : T(0); });
}

namespace {

// Ranks handed out key by key from per-key counts, the same way by both counting rankers
// (rank_by_high_digit, rank_by_distinct_keys): the line is walked as two halves side by side (runs
// of one key, the zeros, would otherwise chain every count on the previous increment of one
// counter), and among equal keys the higher index ranks lower, so a key's ranks go to its high half
// first, and within each half from the end. counts_low[h] and counts_high[h] hold key h's count in
// either half; `order` lists the keys in ascending order (null: 0, 1, ...). Where `after` is given,
// after[h] ranks are left free after key h's, and after[h] becomes the first of them.
inline void hand_out_ranks(size_t m, const uint16_t* key_of, uint32_t* counts_low,
                           uint32_t* counts_high, size_t keys, const uint16_t* order,
                           uint32_t* after, std::span<uint32_t> ranks) {
  uint32_t next = 1;
  for (size_t i = 0; i < keys; ++i) {
    const size_t h = order ? order[i] : i;
    const uint32_t high = counts_high[h], below = counts_low[h];
    counts_high[h] = next;
    counts_low[h] = next + high;
    next += high + below;
    if (after) next += std::exchange(after[h], next);
  }
  const size_t low = m / 2;
  for (size_t t = m - low; t-- > 0;) {
    ranks[low + t] = counts_high[key_of[low + t]]++;
    if (t < low) ranks[t] = counts_low[key_of[t]]++;
  }
}

// Lines of bf16 deltas hold few distinct magnitudes: 120-190 in a row of 8192 of the benchmark's
// models, a third of the row zeros. Where rank_by_high_digit does not apply (a double merge, a line
// with a wider spread), counting each distinct key in a small hash table and handing out ranks key
// by key is still cheaper than sorting the line. Returns false, having written nothing, when the
// line has more distinct keys than the table takes.
template <class T>
bool rank_by_distinct_keys(std::span<const T> line, std::span<uint32_t> ranks) {
  using K = MagnitudeKey<T>;
  constexpr int kSlotBits = 10;
  constexpr size_t kSlots = size_t(1) << kSlotBits;
  constexpr size_t kMaxDistinct = kSlots / 2;  // probes stay short at half load
  constexpr K kEmpty = ~K(0);                  // no key has its sign bit set
  thread_local std::vector<K> table;
  thread_local std::vector<uint32_t> counts;   // per slot, in the low half, then in the high half
  thread_local std::vector<uint16_t> slot_of;  // per element
  thread_local std::vector<uint16_t> used;     // the occupied slots
  table.assign(kSlots, kEmpty);
  counts.assign(2 * kSlots, 0);
  slot_of.resize(line.size());
  used.clear();
  auto find = [&](size_t j) {
    const K key = magnitude_key(line[j]);
    size_t h = size_t((uint64_t(key) * 0x9E3779B97F4A7C15ull) >> (64 - kSlotBits));
    while (table[h] != key && table[h] != kEmpty) h = (h + 1) & (kSlots - 1);
    if (table[h] == kEmpty) {
      if (used.size() == kMaxDistinct) return false;
      table[h] = key;
      used.push_back(uint16_t(h));
    }
    slot_of[j] = uint16_t(h);
    return true;
  };
  uint32_t* counts_low = counts.data();
  uint32_t* counts_high = counts.data() + kSlots;
  const size_t m = line.size(), low = m / 2;  // halves [0, low) and [low, m)
  for (size_t t = 0; t < m - low; ++t) {
    if (!find(low + t)) return false;
    ++counts_high[slot_of[low + t]];
    if (t < low) {
      if (!find(t)) return false;
      ++counts_low[slot_of[t]];
    }
  }
  if constexpr (sizeof(K) == 4) {  // sort (key, slot) packed in one integer: no indirection
    thread_local std::vector<uint64_t> packed;
    packed.clear();
    for (uint16_t h : used) packed.push_back(uint64_t(table[h]) << 16 | h);
    std::sort(packed.begin(), packed.end());
    for (size_t i = 0; i < used.size(); ++i) used[i] = uint16_t(packed[i]);
  } else {
    std::sort(used.begin(), used.end(),
              [&](uint16_t a, uint16_t b) { return table[a] < table[b]; });
  }
  hand_out_ranks(m, slot_of.data(), counts_low, counts_high, used.size(), used.data(), nullptr,
                 ranks);
  return true;
}

}  // namespace

template <class T>
bool rank_by_high_digit(std::span<const T> line, std::span<uint32_t> ranks) {
  using K = MagnitudeKey<T>;
  if constexpr (sizeof(K) != 4) {
    return false;  // a double delta of bf16 values has bits below its high 16
  } else {
    MF_CHECK(ranks.size() == line.size() && line.size() <= UINT32_MAX);
    constexpr size_t kMaxEntries = 4096;
    // Zero, a good share of a line, has an entry of its own below the others: the span is that of
    // the nonzero keys (key - 1 wraps zero above every other key).
    K lowest_nonzero_minus_one = ~K(0), highest = 0;
    for (T x : line) {
      const K key = magnitude_key(x);
      lowest_nonzero_minus_one = std::min<K>(lowest_nonzero_minus_one, key - 1);
      highest = std::max(highest, key);
    }
    const size_t first = highest == 0 ? 0 : size_t(lowest_nonzero_minus_one + 1) >> 16;
    const size_t entries = highest == 0 ? 1 : (highest >> 16) - first + 2;
    if (entries > kMaxEntries) return false;
    // Keys with bits in their low digit (a delta that needs more than bf16's 8 significant bits;
    // 0.4% of them in the benchmark's models, a few in every row) are ranked apart: they take the
    // last entry, whose ranks they then overwrite, and the ranks after their high digit's entry.
    const size_t exception = entries;
    thread_local std::vector<uint32_t> counts;  // per entry: in the low half, the high half, after
    thread_local std::vector<uint16_t> entry_of;    // per element
    thread_local std::vector<uint64_t> exceptions;  // (key, ~index)
    counts.assign(3 * (entries + 1), 0);
    entry_of.resize(line.size());
    exceptions.clear();
    uint32_t* counts_low = counts.data();
    uint32_t* counts_high = counts_low + entries + 1;
    uint32_t* after = counts_high + entries + 1;
    auto entry = [&](size_t j) {
      const K key = magnitude_key(line[j]);
      // Zeros lie at random in a line: a branch on them would be mispredicted often.
      const size_t e = ((key >> 16) - first + 1) * size_t(key != 0);
      if ((key & 0xffffu) == 0) return uint16_t(e);
      ++after[e];
      exceptions.push_back(uint64_t(key) << 32 | uint32_t(~uint32_t(j)));
      return uint16_t(exception);
    };
    const size_t m = line.size(), low = m / 2;  // halves [0, low) and [low, m)
    for (size_t t = 0; t < m - low; ++t) {
      entry_of[low + t] = entry(low + t);
      ++counts_high[entry_of[low + t]];
      if (t < low) {
        entry_of[t] = entry(t);
        ++counts_low[entry_of[t]];
      }
    }
    // The exceptions' own entry comes last, its ranks past the line's.
    hand_out_ranks(m, entry_of.data(), counts_low, counts_high, entries + 1, nullptr, after, ranks);
    // Ascending key, and among equal keys descending index (ascending ~index).
    std::sort(exceptions.begin(), exceptions.end());
    for (uint64_t x : exceptions) {
      const K key = K(x >> 32);
      ranks[~uint32_t(x)] = after[(key >> 16) - first + 1]++;
    }
    return true;
  }
}

template <class T>
void ascending_magnitude_ranks(std::span<const T> line, std::span<uint32_t> ranks) {
  using K = MagnitudeKey<T>;
  constexpr int kDigitBits = kRankDigitBits;
  constexpr size_t kBins = size_t(1) << kDigitBits;
  constexpr K kDigitMask = K(kBins - 1);
  constexpr int kDigits = digit_count<K>(kDigitBits);
  MF_CHECK(ranks.size() == line.size());
  const size_t m = line.size();
  if (m == 0) return;
  MF_CHECK(m <= UINT32_MAX && "a line of more than 2^32 elements");
  if (rank_by_high_digit(line, ranks) || rank_by_distinct_keys(line, ranks)) return;
  struct Item {
    K key;
    uint32_t index;
  };
  // An LSD radix sort is stable, so starting from DEcreasing index order leaves equal magnitudes in
  // decreasing index order: the reverse of the descending magnitude order. One sweep counts every
  // digit; then one scatter per digit, except digits all keys share (a line's magnitudes span few
  // exponents, so the top digit often is one). O(m) per line, scratch kept per thread.
  thread_local std::vector<Item> items, sorted;
  items.resize(m);
  sorted.resize(m);
  uint32_t counts[kDigits][kBins] = {};
  for (size_t j = 0; j < m; ++j) {
    const uint32_t index = uint32_t(m - 1 - j);
    const K key = magnitude_key(line[index]);
    items[j] = {key, index};
    for (int d = 0; d < kDigits; ++d) ++counts[d][(key >> (d * kDigitBits)) & kDigitMask];
  }
  for (int d = 0; d < kDigits; ++d) {
    const int shift = d * kDigitBits;
    uint32_t* offsets = counts[d];
    if (offsets[(items[0].key >> shift) & kDigitMask] == m) continue;
    uint32_t start = 0;
    for (size_t bin = 0; bin < kBins; ++bin) start += std::exchange(offsets[bin], start);
    for (const Item& item : items) sorted[offsets[(item.key >> shift) & kDigitMask]++] = item;
    items.swap(sorted);
  }
  for (size_t r = 0; r < m; ++r) ranks[items[r].index] = uint32_t(r + 1);
}

template void mark_top_magnitudes<float>(std::span<const float>, size_t, std::span<uint8_t>);
template void keep_top_magnitudes<float>(std::span<float>, size_t);
template void keep_top_magnitudes<double>(std::span<double>, size_t);
template void keep_magnitude_rank_range<float>(std::span<float>, size_t, size_t);
template void keep_magnitude_rank_range<double>(std::span<double>, size_t, size_t);
template void mark_top_magnitudes<double>(std::span<const double>, size_t, std::span<uint8_t>);
template void mark_magnitude_rank_range<float>(std::span<const float>, size_t, size_t,
                                               std::span<uint8_t>);
template void mark_magnitude_rank_range<double>(std::span<const double>, size_t, size_t,
                                                std::span<uint8_t>);
template void ascending_magnitude_ranks<float>(std::span<const float>, std::span<uint32_t>);
template bool rank_by_high_digit<float>(std::span<const float>, std::span<uint32_t>);
template bool rank_by_high_digit<double>(std::span<const double>, std::span<uint32_t>);
template void ascending_magnitude_ranks<double>(std::span<const double>, std::span<uint32_t>);

}  // namespace mf
