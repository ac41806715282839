// Per-target Highway helper shared by the kernels that read stored bf16 (dtype_simd.cpp,
// task_vector_simd.cpp, weighted_sum_simd.cpp). Included after <hwy/highway.h> in a file that
// foreach_target.h compiles once per target: the guard below flips with HWY_TARGET_TOGGLE, so each
// pass defines the helper again in that target's namespace (Highway's "-inl.h" convention).
#if defined(MF_CORE_BF16_LOAD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MF_CORE_BF16_LOAD_INL_H_
#undef MF_CORE_BF16_LOAD_INL_H_
#else
#define MF_CORE_BF16_LOAD_INL_H_
#endif

#include <hwy/highway.h>

#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace mf {
namespace HWY_NAMESPACE {

// One vector of floats from as many stored bf16 at `p` (any alignment): a bf16 is the top half of
// its float, so widening is exact (NaN payloads and subnormals included).
HWY_INLINE hwy::HWY_NAMESPACE::Vec<hwy::HWY_NAMESPACE::ScalableTag<float>> LoadBf16(const void* p) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::Rebind<uint16_t, decltype(df)> du16;
  const auto half = hn::LoadU(du16, static_cast<const uint16_t*>(p));
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, half)));
}

}  // namespace HWY_NAMESPACE
}  // namespace mf
HWY_AFTER_NAMESPACE();

#endif  // MF_CORE_BF16_LOAD_INL_H_
