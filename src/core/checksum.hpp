// A fast 64-bit checksum of tensor bytes, recorded as each output tensor is written so an
// interrupted merge can be resumed from the tensors already on disk after checking they are intact.
// Not cryptographic.
#pragma once

#include <cstdint>
#include <span>

namespace mf {

uint64_t checksum64(std::span<const uint8_t> bytes);

// A checksum of a tensor's bytes that can be computed piece by piece, in any order: the sum (mod
// 2^64) of the pieces' checksums, each given its byte offset within the tensor, equals the checksum
// of the whole. Each 8-byte word is multiplied by an odd number drawn from its position, so any
// change to a single word, and a block of bytes moved, zeroed or left unwritten, changes it.
uint64_t tensor_checksum(std::span<const uint8_t> bytes, uint64_t offset = 0);

}  // namespace mf
