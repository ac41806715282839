#include "selection/chunked_selection.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/error.hpp"
#include "kernels/magnitude_filter.hpp"
#include "kernels/task_vector_simd.hpp"

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

namespace {

constexpr int kDigitBits = kSelectDigitBits;
constexpr size_t kBins = size_t(1) << kDigitBits;

// One set's cut while it is searched for, then as found: the k-th largest key of its vector
// (threshold), how many of the elements equal to it are in the set (ties) and how many there are
// (equal); per chunk, the elements equal to it, when the set takes some of them but not all (empty
// otherwise).
template <class T>
struct Cut {
  using Key = MagnitudeKey<T>;
  size_t vector = 0;
  size_t k = 0;  // 0 < k < numel
  // The radix search's progress: the threshold's digits found so far (`prefix`, the bits of
  // `prefix_mask`), and how many of the elements matching them still belong to the set.
  Key prefix = 0;
  Key prefix_mask = 0;
  size_t remaining = 0;
  Key threshold = 0;
  size_t ties = 0;
  size_t equal = 0;
  std::vector<size_t> equal_in_chunk;
};

// The pass that counts, per chunk, the elements equal to each threshold of the cuts `split`
// (their equal_in_chunk, sized already). Returns the passes made: 1, or 0 when there is none.
template <class T>
int count_equal_per_chunk(TensorStream<T>& stream, std::vector<Cut<T>>& cuts,
                          const std::vector<size_t>& split, const ChunkVectors<T>& values) {
  if (split.empty()) return 0;
  stream.for_each_chunk([&](const Chunk<T>& c) {
    thread_local std::vector<std::span<T>> vectors;
    values(c, vectors);
    for (size_t s : split) {
      Cut<T>& cut = cuts[s];
      size_t equal = 0;
      for (T x : vectors[cut.vector]) equal += magnitude_key(x) == cut.threshold;
      cut.equal_in_chunk[c.index] = equal;
    }
  });
  return 1;
}

// The radix search: from digit `top_digit` down, one histogram pass over the stream per digit of
// the key, then one more to count each chunk's ties where the threshold's last digit is not 0.
// Each cut starts from its prefix (the digits above `top_digit`) and remaining count. Returns the
// passes made.
template <class T>
int radix_cuts(TensorStream<T>& stream, std::vector<Cut<T>>& cuts, const ChunkVectors<T>& values,
               int top_digit) {
  using Key = MagnitudeKey<T>;
  constexpr Key kDigitMask = (Key(1) << kDigitBits) - 1;
  int passes = 0;
  const int workers = stream.workers();
  const size_t chunks = stream.chunk_count();
  // histograms[worker]: kBins counters per cut for the even keys of a chunk, then kBins more per
  // cut for the odd ones.
  std::vector<std::vector<uint32_t>> histograms(workers,
                                                std::vector<uint32_t>(2 * cuts.size() * kBins));
  // zeros[cut][chunk]: the chunk's elements equal to the prefix with a last digit of 0, counted
  // in the last pass. bf16 deltas have at most 8 significant bits, so their low digit is mostly 0
  // and a cut through a run of ties usually lands on such a key: these counts then spare the pass
  // that counts each chunk's ties.
  std::vector<std::vector<size_t>> zeros(cuts.size(), std::vector<size_t>(chunks));
  // Cuts of the same vector with the same prefix need the same histogram (breadcrumbs' two cuts
  // in the first pass): the first of them counts it, the others read it.
  std::vector<size_t> source(cuts.size());
  for (int digit = top_digit; digit >= 0; --digit) {
    const int shift = digit * kDigitBits;
    for (size_t s = 0; s < cuts.size(); ++s) {
      source[s] = s;
      for (size_t t = 0; t < s; ++t) {
        if (cuts[t].vector == cuts[s].vector && cuts[t].prefix == cuts[s].prefix &&
            cuts[t].prefix_mask == cuts[s].prefix_mask) {
          source[s] = t;
          break;
        }
      }
    }
    for (auto& h : histograms) std::fill(h.begin(), h.end(), 0);
    ++passes;
    stream.for_each_chunk([&](const Chunk<T>& c) {
      thread_local std::vector<std::span<T>> vectors;
      thread_local std::vector<Key> matching;
      values(c, vectors);
      uint32_t* base = histograms[c.worker].data();
      for (size_t s = 0; s < cuts.size(); ++s) {
        if (source[s] != s) continue;
        const Cut<T>& cut = cuts[s];
        const std::span<const T> v = vectors[cut.vector];
        // Even and odd keys go to two histograms, so that a run of equal keys does not wait on
        // the previous increment of one counter.
        uint32_t* even = base + s * kBins;
        uint32_t* odd = base + (cuts.size() + s) * kBins;
        auto count_keys = [&](size_t n, auto key_at) {
          size_t j = 0;
          for (; j + 2 <= n; j += 2) {
            ++even[(key_at(j) >> shift) & kDigitMask];
            ++odd[(key_at(j + 1) >> shift) & kDigitMask];
          }
          if (j < n) ++even[(key_at(j) >> shift) & kDigitMask];
        };
        if (cut.prefix_mask == 0) {  // every key counts
          count_keys(v.size(), [&](size_t j) { return magnitude_key(v[j]); });
          continue;
        }
        if (matching.size() < v.size()) matching.resize(v.size());
        const size_t n = matching_magnitude_keys(v, cut.prefix_mask, cut.prefix, matching.data());
        // In the last pass, a key equal to the prefix is one whose last digit is 0: bin 0.
        const size_t zeros_before = size_t(even[0]) + odd[0];
        count_keys(n, [&](size_t j) { return matching[j]; });
        if (digit == 0) zeros[s][c.index] = size_t(even[0]) + odd[0] - zeros_before;
      }
    });
    for (size_t s = 0; s < cuts.size(); ++s) {
      Cut<T>& cut = cuts[s];
      const size_t counted = source[s];
      if (digit == 0 && counted != s) zeros[s] = zeros[counted];
      // Walk from the largest digit down until the bin holding the k-th element.
      auto count = [&](size_t bin) {
        size_t sum = 0;
        for (const auto& h : histograms)
          sum += h[counted * kBins + bin] + h[(cuts.size() + counted) * kBins + bin];
        return sum;
      };
      size_t bin = kDigitMask;
      size_t in_bin = count(bin);
      while (in_bin < cut.remaining) {
        cut.remaining -= in_bin;
        MF_CHECK(bin > 0 && "fewer elements match the prefix than remain to select");
        in_bin = count(--bin);
      }
      cut.prefix |= Key(bin) << shift;
      cut.prefix_mask |= kDigitMask << shift;
      cut.equal = in_bin;
    }
  }

  // A cut through a run of equal magnitudes: each chunk needs the count of equal elements in it.
  // Known already for a threshold whose last digit is 0; otherwise counted in one more pass.
  std::vector<size_t> split;
  for (size_t s = 0; s < cuts.size(); ++s) {
    Cut<T>& cut = cuts[s];
    cut.threshold = cut.prefix;
    cut.ties = cut.remaining;
    cut.equal_in_chunk.clear();
    if (cut.ties == cut.equal) continue;
    if ((cut.threshold & kDigitMask) == 0) {
      cut.equal_in_chunk = std::move(zeros[s]);
    } else {
      cut.equal_in_chunk.assign(chunks, 0);
      split.push_back(s);
    }
  }
  return passes + count_equal_per_chunk(stream, cuts, split, values);
}

// The sampled search, made for the deltas of bf16 weights: few distinct magnitudes, most with a
// last digit of 0 (see radix_cuts), and a good share of them in the first digit's bin where the
// cut falls. A first pass ranks a sample (sample_pieces: a sixteenth of every chunk) in a
// histogram of the first digit; from it each cut gets a band of at most kBandBins bins that holds
// its k-th element unless the sample misleads by far more than chance allows. A second pass counts
// the keys above the band, and per bin of the band its keys and those with a last digit of 0 (per
// chunk too). That finds the cut's bin, and the cut itself when it falls on the bin's key with a
// last digit of 0; otherwise a third pass, the radix search's last, finds it among the others.
// Where the radix search scatters every key into a histogram in its first pass, this scatters only
// the keys in the bands. Returns the passes made; the cuts are found only if `found` is set (a band
// too wide, one missing its cut, or per-chunk counts beyond the scratch leave it clear: the radix
// search then starts over).
template <class T>
int sampled_cuts(TensorStream<T>& stream, size_t numel, std::vector<Cut<T>>& cuts,
                 const ChunkVectors<T>& values, bool& found) {
  using Key = MagnitudeKey<T>;
  constexpr int kShift = 8 * sizeof(Key) - kDigitBits;  // the first digit
  constexpr Key kLowMask = (Key(1) << kShift) - 1;
  const size_t chunks = stream.chunk_count();
  const int workers = stream.workers();
  found = false;
  // The vectors the cuts rank; cuts on the same vector share its sample.
  std::vector<size_t> vectors, slot(cuts.size());
  for (size_t s = 0; s < cuts.size(); ++s) {
    slot[s] = size_t(std::find(vectors.begin(), vectors.end(), cuts[s].vector) - vectors.begin());
    if (slot[s] == vectors.size()) vectors.push_back(cuts[s].vector);
  }

  std::vector<std::vector<uint32_t>> sample_histograms(
      workers, std::vector<uint32_t>(vectors.size() * kBins));
  std::vector<size_t> sampled(chunks);
  stream.for_each_chunk([&](const Chunk<T>& c) {
    thread_local std::vector<SampleWindow> pieces;
    thread_local std::vector<std::span<T>> piece_vectors;
    thread_local std::vector<const T*> inputs;
    thread_local std::vector<StoredInput> stored;
    uint32_t* histogram = sample_histograms[c.worker].data();
    sample_pieces(c.index, c.count, pieces);
    for (const SampleWindow& piece : pieces) {
      // The piece as a chunk of its own, so that only its vectors are computed.
      Chunk<T> window = c;
      window.offset = c.offset + piece.start;
      window.count = piece.count;
      inputs.assign(c.inputs.begin(), c.inputs.end());
      for (const T*& p : inputs)
        if (p != nullptr) p += piece.start;
      stored.assign(c.stored.begin(), c.stored.end());
      for (StoredInput& in : stored)
        if (in.data != nullptr)
          in.data = static_cast<const uint8_t*>(in.data) + piece.start * dtype_size(in.dtype);
      window.inputs = inputs;
      window.stored = stored;
      values(window, piece_vectors);
      for (size_t v = 0; v < vectors.size(); ++v)
        for (T x : piece_vectors[vectors[v]]) ++histogram[v * kBins + (magnitude_key(x) >> kShift)];
      sampled[c.index] += piece.count;
    }
  });
  size_t sample = 0;
  for (size_t n : sampled) sample += n;

  // Each cut's band: from the highest bin with more than rank - margin sampled keys at or above it
  // down to the highest with at least rank + margin, rank being the cut's scaled to the sample. The
  // margin is six standard deviations of the count a random sample has above the true cut, plus
  // 1/1024 of the sample for what the elements of a piece have in common.
  std::vector<size_t> first_bin(cuts.size()), band_bins(cuts.size());
  for (size_t s = 0; s < cuts.size(); ++s) {
    const double rank = double(cuts[s].k) * double(sample) / double(numel);
    const double margin =
        6 * std::sqrt(rank * std::max(0.0, 1 - rank / double(sample))) + double(sample) / 1024;
    size_t high = kBins - 1, low = 0, at_or_above = 0;
    bool high_found = false;
    for (size_t bin = kBins; bin-- > 0;) {
      for (const auto& h : sample_histograms) at_or_above += h[slot[s] * kBins + bin];
      if (!high_found && double(at_or_above) > rank - margin) {
        high = bin;
        high_found = true;
      }
      if (double(at_or_above) >= rank + margin) {
        low = bin;
        break;
      }
    }
    if (high - low + 1 > kBandBins) return 1;  // a wide spread of magnitudes: the radix search
    first_bin[s] = low;
    band_bins[s] = high - low + 1;
  }

  // bins[worker][cut * kBandBins + b]: the keys in bin b of the cut's band; zeros[cut][chunk *
  // bins + b]: a chunk's keys equal to bin b's lowest key (a last digit of 0), held in the stream's
  // scratch.
  size_t zero_counters = 0;
  for (size_t n : band_bins) zero_counters += chunks * n;
  if (zero_counters * sizeof(uint32_t) > stream.scratch_bytes()) return 1;
  std::vector<std::vector<size_t>> bins(workers, std::vector<size_t>(cuts.size() * kBandBins));
  std::vector<std::vector<uint32_t>> zeros(cuts.size());
  for (size_t s = 0; s < cuts.size(); ++s) zeros[s].resize(chunks * band_bins[s]);
  std::vector<std::vector<size_t>> above(cuts.size(), std::vector<size_t>(chunks));
  stream.for_each_chunk([&](const Chunk<T>& c) {
    thread_local std::vector<std::span<T>> chunk_vectors;
    thread_local std::vector<Key> inside;
    values(c, chunk_vectors);
    inside.resize(c.count);
    for (size_t s = 0; s < cuts.size(); ++s) {
      const Key low = Key(first_bin[s]) << kShift;
      const Key high = (Key(first_bin[s] + band_bins[s]) << kShift) - 1;
      // A band of one bin (common: the bin of a cut often holds a fifth of the tensor) needs only
      // counts, which the filter makes without writing the keys out.
      const bool one_bin = band_bins[s] == 1;
      const BandCount n = band_magnitude_keys(std::span<const T>(chunk_vectors[cuts[s].vector]),
                                              low, high, one_bin ? nullptr : inside.data());
      above[s][c.index] = n.above;
      size_t* in_bin = bins[c.worker].data() + s * kBandBins;
      uint32_t* chunk_zeros = zeros[s].data() + c.index * band_bins[s];
      if (one_bin) {
        in_bin[0] += n.inside;
        chunk_zeros[0] += uint32_t(n.at_low);
        continue;
      }
      for (size_t j = 0; j < n.inside; ++j) {
        const Key key = inside[j] - low;
        ++in_bin[key >> kShift];
        chunk_zeros[key >> kShift] += (key & kLowMask) == 0;
      }
    }
  });

  // Walk each band from its highest bin down to the one holding the k-th element.
  std::vector<size_t> refine;
  for (size_t s = 0; s < cuts.size(); ++s) {
    Cut<T>& cut = cuts[s];
    size_t total_above = 0;
    for (size_t n : above[s]) total_above += n;
    if (total_above >= cut.k) return 2;  // the cut is above the band
    size_t remaining = cut.k - total_above, bin = band_bins[s], in_bin = 0;
    for (;;) {
      if (bin == 0) return 2;  // the cut is below the band
      --bin;
      in_bin = 0;
      for (const auto& b : bins) in_bin += b[s * kBandBins + bin];
      if (in_bin >= remaining) break;
      remaining -= in_bin;
    }
    size_t equal = 0;
    for (size_t c = 0; c < chunks; ++c) equal += zeros[s][c * band_bins[s] + bin];
    cut.prefix = Key(first_bin[s] + bin) << kShift;
    cut.prefix_mask = ~kLowMask;
    cut.remaining = remaining;
    // The bin's key with a last digit of 0 is its lowest: the cut is that key when more of the bin
    // remain to be taken than it has other keys.
    if (remaining <= in_bin - equal) {
      refine.push_back(s);
      continue;
    }
    cut.threshold = cut.prefix;
    cut.ties = remaining - (in_bin - equal);
    cut.equal = equal;
    cut.equal_in_chunk.clear();
    if (cut.ties == cut.equal) continue;
    cut.equal_in_chunk.resize(chunks);
    for (size_t c = 0; c < chunks; ++c) cut.equal_in_chunk[c] = zeros[s][c * band_bins[s] + bin];
  }
  found = true;
  if (refine.empty()) return 2;
  // The radix search's last digit, over the cuts that fell among the other keys of their bin.
  std::vector<Cut<T>> rest;
  for (size_t s : refine) rest.push_back(std::move(cuts[s]));
  const int passes = radix_cuts(stream, rest, values, digit_count<Key>(kDigitBits) - 2);
  for (size_t r = 0; r < refine.size(); ++r) cuts[refine[r]] = std::move(rest[r]);
  return 2 + passes;
}

}  // namespace

void sample_pieces(size_t chunk_index, size_t count, std::vector<SampleWindow>& pieces) {
  pieces.clear();
  if (count == 0) return;
  // A multiplicative hash of the index moves the pieces from chunk to chunk.
  const size_t hash = size_t((uint64_t(chunk_index) * 0x9e3779b97f4a7c15ull) >> 32);
  constexpr size_t kStride = kSamplePiece * kSampleShare;
  if (count < kStride) {
    const size_t length = std::max<size_t>(1, count / kSampleShare);
    pieces.push_back({hash % (count - length + 1), length});
    return;
  }
  for (size_t start = hash % (kStride - kSamplePiece + 1); start + kSamplePiece <= count;
       start += kStride)
    pieces.push_back({start, kSamplePiece});
}

template <class T>
CutSearch find_magnitude_cuts(TensorStream<T>& stream, size_t numel,
                              std::span<TopMagnitudes<T>> sets, const ChunkVectors<T>& values,
                              size_t sample_from) {
  using Set = TopMagnitudes<T>;
  // Histogram counters are 32-bit to halve their cache footprint.
  if (numel >= (uint64_t(1) << 32))
    fail(ErrorCode::Unsupported, "magnitude selection over more than 2^32 elements");
  std::vector<Cut<T>> cuts;
  std::vector<Set*> searched;
  for (Set& s : sets) {
    s.ties_before_.clear();
    if (s.k_ == 0) {
      s.mode_ = Set::Mode::None;
    } else if (s.k_ >= numel) {
      s.mode_ = Set::Mode::All;
    } else {
      s.mode_ = Set::Mode::Cut;
      Cut<T>& cut = cuts.emplace_back();
      cut.vector = s.vector_;
      cut.k = s.k_;
      searched.push_back(&s);
    }
  }
  CutSearch how;
  if (cuts.empty()) return how;
  // float keys only: a double delta of bf16 weights has a last digit of 0 only in its last 16 of
  // 48 bits below the first digit, so its cut would take the radix passes after the sample's.
  if constexpr (std::is_same_v<T, float>) {
    if (numel >= sample_from) how.passes = sampled_cuts(stream, numel, cuts, values, how.sampled);
  }
  if (!how.sampled) {
    for (Cut<T>& cut : cuts) {
      cut.prefix = cut.prefix_mask = 0;
      cut.remaining = cut.k;
    }
    how.passes += radix_cuts(stream, cuts, values, digit_count<MagnitudeKey<T>>(kDigitBits) - 1);
  }

  for (size_t s = 0; s < cuts.size(); ++s) {
    Set& set = *searched[s];
    set.threshold_ = cuts[s].threshold;
    set.ties_ = cuts[s].ties;
    if (cuts[s].equal_in_chunk.empty()) continue;
    set.ties_before_.assign(cuts[s].equal_in_chunk.size() + 1, 0);
    for (size_t c = 0; c < cuts[s].equal_in_chunk.size(); ++c)
      set.ties_before_[c + 1] = set.ties_before_[c] + cuts[s].equal_in_chunk[c];
  }
  return how;
}

template class TopMagnitudes<float>;
template class TopMagnitudes<double>;
template CutSearch find_magnitude_cuts<float>(TensorStream<float>&, size_t,
                                              std::span<TopMagnitudes<float>>,
                                              const ChunkVectors<float>&, size_t);
template CutSearch find_magnitude_cuts<double>(TensorStream<double>&, size_t,
                                               std::span<TopMagnitudes<double>>,
                                               const ChunkVectors<double>&, size_t);

}  // namespace mf
