// Half-precision rounding must match torch bit for bit (round to nearest, ties to even), so the
// expected bit patterns below are written out by hand from the IEEE layouts rather than computed.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/dtype.hpp"

namespace mf {
namespace {

float bits_to_float(uint32_t bits) { return std::bit_cast<float>(bits); }

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::F64), 8u);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(dtype_size(DType::F8_E4M3), 1u);
  EXPECT_EQ(dtype_size(DType::Bool), 1u);
  EXPECT_EQ(dtype_from_name("BOOL"), DType::Bool);
  EXPECT_EQ(dtype_from_name("F8_E5M2"), DType::F8_E5M2);
  EXPECT_EQ(dtype_from_name("bf16"), std::nullopt);  // safetensors spellings are upper case
  EXPECT_EQ(dtype_name(DType::U16), "U16");
  EXPECT_EQ(dtype_from_recipe("torch.bfloat16"), DType::BF16);
  EXPECT_EQ(dtype_from_recipe("float16"), DType::F16);
  EXPECT_EQ(dtype_from_recipe("int8"), std::nullopt);
  EXPECT_EQ(dtype_torch_name(DType::F8_E4M3), "float8_e4m3fn");
  EXPECT_TRUE(is_float(DType::F8_E5M2));
  EXPECT_FALSE(is_float(DType::I32));
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(-2.0f), 0xc000);
  // 1 + 2^-8 is halfway between 1 (even mantissa) and 1 + 2^-7: ties go to 1.
  EXPECT_EQ(float_to_bf16(1.0f + 0x1p-8f), 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): ties go up.
  EXPECT_EQ(float_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
  // Just above the halfway point rounds up.
  EXPECT_EQ(float_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
  // Rounding carries into the exponent.
  EXPECT_EQ(float_to_bf16(bits_to_float(0x3fffffff)), 0x4000);
  // The largest float rounds past the largest bf16 to infinity, as torch does.
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(float_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  // Float subnormals keep their top bits.
  EXPECT_EQ(float_to_bf16(bits_to_float(0x00010000)), 0x0001);
}

TEST(DType, Bf16NanStaysNan) {
  // A NaN whose payload lives only in the low 16 bits must not become infinity.
  uint16_t b = float_to_bf16(bits_to_float(0x7f800001));
  EXPECT_TRUE(std::isnan(bf16_to_float(b)));
  uint16_t negative = float_to_bf16(bits_to_float(0xff800001));
  EXPECT_TRUE(std::isnan(bf16_to_float(negative)));
  EXPECT_TRUE(std::signbit(bf16_to_float(negative)));
}

TEST(DType, Bf16RoundTrip) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    float f = bf16_to_float(uint16_t(bits));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_bf16(f), bits) << "bf16 bits " << bits;
  }
}

TEST(DType, F16RoundsToNearestEven) {
  EXPECT_EQ(float_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(float_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_f16(1.0f + 0x1p-11f), 0x3c00);      // tie to even (down)
  EXPECT_EQ(float_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);  // tie to even (up)
  EXPECT_EQ(float_to_f16(65504.0f), 0x7bff);             // largest f16
  EXPECT_EQ(float_to_f16(65519.0f), 0x7bff);             // below the halfway point to 65536
  EXPECT_EQ(float_to_f16(65520.0f), 0x7c00);             // the tie rounds to even: infinity
  EXPECT_EQ(float_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(float_to_f16(-1e10f), 0xfc00);
}

TEST(DType, F16Subnormals) {
  EXPECT_EQ(float_to_f16(0x1p-24f), 0x0001);         // smallest subnormal
  EXPECT_EQ(float_to_f16(1023 * 0x1p-24f), 0x03ff);  // largest subnormal
  EXPECT_EQ(float_to_f16(0x1p-14f), 0x0400);         // smallest normal
  EXPECT_EQ(float_to_f16(0x1p-25f), 0x0000);      // halfway to the smallest subnormal: to even (0)
  EXPECT_EQ(float_to_f16(3 * 0x1p-25f), 0x0002);  // halfway between 1 and 2 ulps: to even (2)
  EXPECT_EQ(float_to_f16(0x1p-25f + 0x1p-40f), 0x0001);
  EXPECT_EQ(float_to_f16(-0x1p-24f), 0x8001);
  EXPECT_EQ(float_to_f16(1e-10f), 0x0000);
  EXPECT_EQ(float_to_f16(2047 * 0x1p-25f), 0x0400);  // rounds up out of the subnormal range
  EXPECT_EQ(f16_to_float(0x0001), 0x1p-24f);
  EXPECT_EQ(f16_to_float(0x83ff), -1023 * 0x1p-24f);
}

TEST(DType, F16SpecialValues) {
  EXPECT_TRUE(std::isinf(f16_to_float(0x7c00)));
  EXPECT_TRUE(std::isnan(f16_to_float(0x7c01)));
  EXPECT_TRUE(std::isnan(f16_to_float(float_to_f16(std::nanf("")))));
  // A NaN whose payload is only in bits f16 drops must stay NaN.
  EXPECT_TRUE(std::isnan(f16_to_float(float_to_f16(bits_to_float(0x7f800001)))));
  EXPECT_EQ(float_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
}

TEST(DType, F16RoundTrip) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    float f = f16_to_float(uint16_t(bits));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_f16(f), bits) << "f16 bits " << bits;
  }
}

TEST(DType, F8E4M3Decoding) {
  EXPECT_EQ(f8e4m3_to_float(0x38), 1.0f);
  EXPECT_EQ(f8e4m3_to_float(0xb8), -1.0f);
  EXPECT_EQ(f8e4m3_to_float(0x7e), 448.0f);   // largest finite: e4m3fn has no infinities
  EXPECT_EQ(f8e4m3_to_float(0x01), 0x1p-9f);  // smallest subnormal
  EXPECT_EQ(f8e4m3_to_float(0x08), 0x1p-6f);  // smallest normal
  EXPECT_EQ(f8e4m3_to_float(0x00), 0.0f);
  EXPECT_TRUE(std::isnan(f8e4m3_to_float(0x7f)));
  EXPECT_TRUE(std::isnan(f8e4m3_to_float(0xff)));
  EXPECT_EQ(f8e4m3_to_float(0x78), 256.0f);  // exponent 15 is finite except with mantissa 7
}

TEST(DType, F8E5M2Decoding) {
  EXPECT_EQ(f8e5m2_to_float(0x3c), 1.0f);
  EXPECT_EQ(f8e5m2_to_float(0xc0), -2.0f);
  EXPECT_EQ(f8e5m2_to_float(0x7b), 57344.0f);  // largest finite
  EXPECT_EQ(f8e5m2_to_float(0x01), 0x1p-16f);  // smallest subnormal
  EXPECT_TRUE(std::isinf(f8e5m2_to_float(0x7c)));
  EXPECT_TRUE(std::isnan(f8e5m2_to_float(0x7d)));
}

TEST(DType, RoundTo) {
  EXPECT_EQ(round_to(DType::BF16, 1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);
  EXPECT_EQ(round_to(DType::F16, 1.0f + 0x1p-11f), 1.0f);
  EXPECT_EQ(round_to(DType::F32, 1.0f + 0x1p-20f), 1.0f + 0x1p-20f);
}

TEST(DType, ConvertToFloatFromUnalignedBuffers) {
  // One leading byte makes every element misaligned.
  std::vector<uint8_t> buffer(1 + 3 * 8);
  uint8_t* p = buffer.data() + 1;
  std::vector<float> out(3);

  const uint16_t bf16[] = {0x3f80, 0xc000, 0x3fc0};  // 1, -2, 1.5
  std::memcpy(p, bf16, sizeof(bf16));
  convert_to(DType::BF16, p, out.data(), 3);
  EXPECT_EQ(out, (std::vector<float>{1.0f, -2.0f, 1.5f}));

  const uint16_t f16[] = {0x3c00, 0x0001, 0xfbff};  // 1, 2^-24, -65504
  std::memcpy(p, f16, sizeof(f16));
  convert_to(DType::F16, p, out.data(), 3);
  EXPECT_EQ(out, (std::vector<float>{1.0f, 0x1p-24f, -65504.0f}));

  const double f64[] = {0.5, -3.25, 1e300};
  std::memcpy(p, f64, sizeof(f64));
  std::vector<double> out64(3);
  convert_to(DType::F64, p, out64.data(), 3);
  EXPECT_EQ(out64, (std::vector<double>{0.5, -3.25, 1e300}));
  convert_to(DType::F64, p, out.data(), 3);
  EXPECT_EQ(out[1], -3.25f);
  EXPECT_TRUE(std::isinf(out[2]));

  const uint8_t e4m3[] = {0x38, 0x7e, 0x01};
  std::memcpy(p, e4m3, sizeof(e4m3));
  convert_to(DType::F8_E4M3, p, out.data(), 3);
  EXPECT_EQ(out, (std::vector<float>{1.0f, 448.0f, 0x1p-9f}));

  const uint8_t e5m2[] = {0x3c, 0x7b, 0x01};
  std::memcpy(p, e5m2, sizeof(e5m2));
  convert_to(DType::F8_E5M2, p, out64.data(), 3);
  EXPECT_EQ(out64, (std::vector<double>{1.0, 57344.0, 0x1p-16}));
}

TEST(DType, ConvertFromFloatToUnalignedBuffers) {
  std::vector<uint8_t> buffer(1 + 3 * 8);
  uint8_t* p = buffer.data() + 1;
  const float in[] = {1.0f + 0x1p-8f, 65520.0f, -0.0f};

  convert_from(in, DType::BF16, p, 3);
  uint16_t bf16[3];
  std::memcpy(bf16, p, sizeof(bf16));
  EXPECT_EQ(bf16[0], 0x3f80);
  EXPECT_EQ(bf16[1], 0x4780);  // 65520 = 0x477ff000 rounds up to 65536 in bf16
  EXPECT_EQ(bf16[2], 0x8000);

  convert_from(in, DType::F16, p, 3);
  uint16_t f16[3];
  std::memcpy(f16, p, sizeof(f16));
  EXPECT_EQ(f16[0], 0x3c04);  // 1 + 2^-8 is exact in f16
  EXPECT_EQ(f16[1], 0x7c00);
  EXPECT_EQ(f16[2], 0x8000);

  const double in64[] = {0.1, -2.5, 1e-300};
  convert_from(in64, DType::F64, p, 3);
  double f64[3];
  std::memcpy(f64, p, sizeof(f64));
  EXPECT_EQ(f64[0], 0.1);
  EXPECT_EQ(f64[2], 1e-300);
  convert_from(in64, DType::F32, p, 3);
  float f32[3];
  std::memcpy(f32, p, sizeof(f32));
  EXPECT_EQ(f32[0], 0.1f);
  EXPECT_EQ(f32[1], -2.5f);
  EXPECT_EQ(f32[2], 0.0f);
}

TEST(DType, ConvertRoundTripsThroughHalfTypes) {
  std::vector<float> values;
  for (int i = -200; i <= 200; ++i) values.push_back(round_to(DType::BF16, float(i) * 0.37f));
  std::vector<uint16_t> packed(values.size());
  std::vector<float> back(values.size());
  convert_from(values.data(), DType::BF16, packed.data(), values.size());
  convert_to(DType::BF16, packed.data(), back.data(), values.size());
  EXPECT_EQ(back, values);
}

}  // namespace
}  // namespace mf
