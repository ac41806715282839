// Invariants whose failure would write wrong bytes throw Error(Internal) in every build, the
// Release build the tests run in included (an assert would be compiled out and the merge would go
// on with a 0.0 parameter, an unconverted buffer or a write past a tensor).
#include <gtest/gtest.h>

#include <vector>

#include "core/dtype.hpp"
#include "core/error.hpp"
#include "methods/method.hpp"
#include "sources/memory_source.hpp"

namespace mf {
namespace {

void expect_internal(const std::function<void()>& f, const char* what) {
  try {
    f();
    ADD_FAILURE() << what << ": no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Internal) << what << ": " << e.what();
  }
}

TEST(Invariants, AMissingParameterIsNotReadAsZero) {
  Params p;
  p.set("weight", 0.5);
  EXPECT_EQ(p.get("weight"), 0.5);
  expect_internal([&] { (void)p.get("density"); }, "Params::get of an unresolved parameter");
}

TEST(Invariants, ConvertingAnIntegerDtypeAsFloatThrows) {
  const int32_t in[2] = {1, 2};
  float out[2];
  expect_internal([&] { convert_to(DType::I32, in, out, 2); }, "convert_to(I32)");
  uint8_t bytes[8];
  expect_internal([&] { convert_from(out, DType::I64, bytes, 1); }, "convert_from(I64)");
}

TEST(Invariants, ASourceReadPastATensorThrows) {
  MemorySource m("m");
  m.add_tensor("w", DType::F32, {4}, std::vector<float>{1, 2, 3, 4});
  m.add_tensor("x", DType::F32, {4}, std::vector<float>{5, 6, 7, 8});
  float out[4];
  expect_internal([&] { m.read(*m.find("w"), 2, 4, out); }, "read past the end");
  std::vector<uint8_t> stored(8);
  expect_internal([&] { m.read_stored(*m.find("w"), 12, stored); }, "read_stored past the end");
  expect_internal([] { MF_CHECK(1 + 1 == 3); }, "MF_CHECK");
}

}  // namespace
}  // namespace mf
