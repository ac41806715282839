// The reference the selection tests compare against: the descending magnitude order written out
// the slow way, a full stable sort by |x| descending (equal magnitudes keep increasing index
// order; NaN first).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <vector>

namespace mf::testing {

template <class T>
std::vector<size_t> descending_magnitude_order(const std::vector<T>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  auto larger = [&](size_t a, size_t b) {
    const T x = std::abs(values[a]), y = std::abs(values[b]);
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && !std::isnan(y);
    return x > y;
  };
  std::stable_sort(order.begin(), order.end(), larger);
  return order;
}

}  // namespace mf::testing
