// JSON text from model directories (config.json, the shard index, safetensors headers). JSON must
// be UTF-8; checking that before parsing keeps invalid bytes out of error messages, and parse
// failures become Error(ErrorCode::InvalidFile) naming the file.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace mf {

// The byte offset of the first byte that does not belong to a well-formed UTF-8 sequence (overlong
// forms, surrogates and code points past U+10FFFF are ill-formed), or nullopt when `text` is valid
// UTF-8.
std::optional<size_t> find_invalid_utf8(std::string_view text);

// `text` with bytes < 0x20 and bytes of ill-formed UTF-8 written as \xNN, for quoting in messages.
std::string escape_for_message(std::string_view text);

// nlohmann's exception text without its "[json.exception.parse_error.101] " prefix.
std::string json_error_text(const nlohmann::json::exception& e);

// Documents nesting lists and objects deeper than this are refused (real files nest a few levels).
inline constexpr size_t kMaxJsonDepth = 512;

// Parses a whole JSON document. Fails (InvalidFile, message starting with `file_label`) on invalid
// UTF-8, invalid JSON, or nesting deeper than kMaxJsonDepth.
nlohmann::json parse_json_text(std::string_view text, std::string_view file_label);

// Reads a whole (small) file. Fails (InvalidFile, naming `path`) when it cannot be read.
std::string read_text_file(const std::string& path);

}  // namespace mf
