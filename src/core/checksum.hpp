// A fast 64-bit checksum of tensor bytes, recorded as each output tensor is written so an
// interrupted merge can be resumed from the tensors already on disk after checking they are intact.
// Not cryptographic.
#pragma once

#include <cstdint>
#include <span>

namespace mf {

uint64_t checksum64(std::span<const uint8_t> bytes);

}  // namespace mf
