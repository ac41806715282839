#include "io/safetensors.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/json_text.hpp"

namespace mf {

namespace {

using nlohmann::json;

constexpr std::string_view kMetadataKey = "__metadata__";

bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
bool checked_add(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A JSON number that is a non-negative integer, as uint64. `what` names the value in the error.
uint64_t non_negative_integer(const json& value, std::string_view file_label,
                              std::string_view tensor, std::string_view what) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) {
    fail(ErrorCode::InvalidFile, "{}: tensor \"{}\": {} is negative ({})", file_label, tensor, what,
         value.get<int64_t>());
  }
  fail(ErrorCode::InvalidFile, "{}: tensor \"{}\": {} is not a non-negative integer (got {})",
       file_label, tensor, what, value.dump());
}

// Parses the JSON header, rejecting duplicate keys in any object. nlohmann keeps the last of
// duplicate keys without a word, so a parser callback sees every key as it is read.
json parse_header_json(std::string_view text, std::string_view file_label) {
  if (auto bad = find_invalid_utf8(text)) {
    // The bad byte is most likely in a tensor name: quote what precedes it to point at the tensor.
    size_t from = *bad > 40 ? *bad - 40 : 0;
    fail(ErrorCode::InvalidFile,
         "{}: header is not valid UTF-8: byte {:#04x} at header offset {}, after \"{}\"",
         file_label, uint8_t(text[*bad]), *bad, escape_for_message(text.substr(from, *bad - from)));
  }

  std::vector<std::set<std::string>> keys_per_object;  // one set per object being parsed
  std::string tensor;                                  // the last key seen in the top-level object
  std::string duplicate;
  int duplicate_depth = 0;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys_per_object.emplace_back();
        break;
      case json::parse_event_t::object_end:
        keys_per_object.pop_back();
        break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (depth == 1) tensor = key;
        if (!keys_per_object.back().insert(key).second && duplicate.empty()) {
          duplicate = key;
          duplicate_depth = depth;
        }
        break;
      }
      default:
        break;
    }
    return true;
  };

  json header;
  try {
    header = json::parse(text, callback);
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for a number too large for a double (1e309).
    fail(ErrorCode::InvalidFile, "{}: header is not valid JSON: {}", file_label,
         json_error_text(e));
  }
  if (!duplicate.empty()) {
    if (duplicate_depth == 1) {
      fail(ErrorCode::InvalidFile, "{}: header names tensor \"{}\" more than once", file_label,
           duplicate);
    }
    fail(ErrorCode::InvalidFile, "{}: header entry \"{}\" has key \"{}\" more than once",
         file_label, tensor, duplicate);
  }
  return header;
}

std::map<std::string, std::string> parse_metadata(const json& value, std::string_view file_label) {
  if (!value.is_object()) {
    fail(ErrorCode::InvalidFile, "{}: \"{}\" must be an object of strings, got {}", file_label,
         kMetadataKey, value.type_name());
  }
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      fail(ErrorCode::InvalidFile, "{}: \"{}\" value for \"{}\" must be a string, got {}",
           file_label, kMetadataKey, key, item.type_name());
    }
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

TensorEntry parse_tensor(const std::string& name, const json& info, std::string_view file_label) {
  if (!info.is_object()) {
    fail(ErrorCode::InvalidFile, "{}: tensor \"{}\": entry must be an object, got {}", file_label,
         name, info.type_name());
  }
  auto field = [&](const char* key) -> const json& {
    auto it = info.find(key);
    if (it == info.end())
      fail(ErrorCode::InvalidFile, "{}: tensor \"{}\": no \"{}\"", file_label, name, key);
    return *it;
  };

  TensorEntry entry;
  entry.name = name;

  const json& dtype = field("dtype");
  if (!dtype.is_string()) {
    fail(ErrorCode::InvalidFile, "{}: tensor \"{}\": \"dtype\" must be a string, got {}",
         file_label, name, dtype.dump());
  }
  const auto& dtype_text = dtype.get_ref<const std::string&>();
  auto parsed_dtype = dtype_from_name(dtype_text);
  if (!parsed_dtype) {
    fail(ErrorCode::InvalidFile, "{}: tensor \"{}\": unknown dtype \"{}\"", file_label, name,
         dtype_text);
  }
  entry.dtype = *parsed_dtype;

  const json& shape = field("shape");
  if (!shape.is_array()) {
    fail(ErrorCode::InvalidFile, "{}: tensor \"{}\": \"shape\" must be an array, got {}",
         file_label, name, shape.dump());
  }
  uint64_t numel = 1;
  for (const json& dim : shape) {
    uint64_t d = non_negative_integer(dim, file_label, name, "a shape dimension");
    if (d > uint64_t(std::numeric_limits<int64_t>::max()) || !checked_mul(numel, d, &numel)) {
      fail(ErrorCode::InvalidFile, "{}: tensor \"{}\": shape {} has too many elements", file_label,
           name, shape.dump());
    }
    entry.shape.push_back(int64_t(d));
  }
  uint64_t expected_bytes = 0;
  if (numel > uint64_t(std::numeric_limits<int64_t>::max()) ||
      !checked_mul(numel, dtype_size(entry.dtype), &expected_bytes)) {
    fail(ErrorCode::InvalidFile, "{}: tensor \"{}\": shape {} has too many elements", file_label,
         name, shape.dump());
  }

  const json& offsets = field("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2) {
    fail(ErrorCode::InvalidFile,
         "{}: tensor \"{}\": \"data_offsets\" must be an array [begin, end], got {}", file_label,
         name, offsets.dump());
  }
  entry.begin = non_negative_integer(offsets[0], file_label, name, "data_offsets begin");
  entry.end = non_negative_integer(offsets[1], file_label, name, "data_offsets end");
  if (entry.end < entry.begin) {
    fail(ErrorCode::InvalidFile, "{}: tensor \"{}\": data_offsets [{}, {}] end before they begin",
         file_label, name, entry.begin, entry.end);
  }
  if (entry.end - entry.begin != expected_bytes) {
    fail(ErrorCode::InvalidFile,
         "{}: tensor \"{}\": data_offsets [{}, {}] span {} bytes, but {} {} needs {} bytes",
         file_label, name, entry.begin, entry.end, entry.end - entry.begin, dtype_text,
         shape.dump(), expected_bytes);
  }
  return entry;
}

// Serialises one piece of a header being laid out; names that are not UTF-8 cannot be written.
std::string dump_for_header(const json& value, std::string_view what) {
  try {
    return value.dump();
  } catch (const json::type_error& e) {
    fail(ErrorCode::Internal, "layout_safetensors: \"{}\": {}", escape_for_message(what),
         json_error_text(e));
  }
}

}  // namespace

uint64_t TensorEntry::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= uint64_t(d);
  return n;
}

SafetensorsHeader parse_safetensors_header(std::span<const uint8_t> prefix, uint64_t file_size,
                                           std::string_view file_label) {
  if (file_size < 8) {
    fail(ErrorCode::InvalidFile, "{}: file is {} bytes, too short to be safetensors", file_label,
         file_size);
  }
  if (prefix.size() < 8) {
    fail(ErrorCode::Internal, "{}: parse_safetensors_header given {} bytes, needs at least 8",
         file_label, prefix.size());
  }
  uint64_t header_len = read_le64(prefix.data());
  if (header_len > kMaxHeaderBytes) {
    fail(ErrorCode::InvalidFile, "{}: header length {} exceeds the limit of {} bytes", file_label,
         header_len, kMaxHeaderBytes);
  }
  uint64_t data_offset = 8 + header_len;
  if (data_offset > file_size) {
    fail(ErrorCode::InvalidFile, "{}: header length {} runs past the end of the {}-byte file",
         file_label, header_len, file_size);
  }
  if (prefix.size() < data_offset) {
    fail(ErrorCode::Internal, "{}: parse_safetensors_header given {} bytes, the header needs {}",
         file_label, prefix.size(), data_offset);
  }

  std::string_view text(reinterpret_cast<const char*>(prefix.data()) + 8, header_len);
  json header = parse_header_json(text, file_label);
  if (!header.is_object()) {
    fail(ErrorCode::InvalidFile, "{}: header is not a JSON object (got {})", file_label,
         header.type_name());
  }
  // The format requires '{' first; trailing spaces are allowed (writers pad with them).
  if (text.front() != '{') {
    fail(ErrorCode::InvalidFile, "{}: header does not start with '{{'", file_label);
  }

  SafetensorsHeader result;
  result.data_offset = data_offset;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      result.metadata = parse_metadata(value, file_label);
    } else {
      result.tensors.push_back(parse_tensor(key, value, file_label));
    }
  }

  std::sort(result.tensors.begin(), result.tensors.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected_begin = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& t : result.tensors) {
    if (t.begin > expected_begin) {
      fail(ErrorCode::InvalidFile,
           "{}: tensor \"{}\": data begins at {}, leaving a hole of {} bytes after {}", file_label,
           t.name, t.begin, t.begin - expected_begin,
           previous ? fmt::format("tensor \"{}\"", previous->name) : "the start of the data");
    }
    if (t.begin < expected_begin) {
      fail(ErrorCode::InvalidFile,
           "{}: tensor \"{}\": data [{}, {}] overlaps tensor \"{}\" [{}, {}]", file_label, t.name,
           t.begin, t.end, previous->name, previous->begin, previous->end);
    }
    expected_begin = t.end;
    previous = &t;
  }
  uint64_t data_size = file_size - data_offset;  // data_offset <= file_size was checked above
  if (expected_begin != data_size) {
    fail(ErrorCode::InvalidFile,
         "{}: the tensors' data takes {} bytes, but the file has {} bytes after the header ({})",
         file_label, expected_begin, data_size,
         expected_begin > data_size ? "file truncated" : "unclaimed trailing bytes");
  }
  return result;
}

SafetensorsHeader parse_safetensors(std::span<const uint8_t> file, std::string_view file_label) {
  return parse_safetensors_header(file, file.size(), file_label);
}

SafetensorsHeader read_safetensors_header(const ByteReader& reader) {
  const uint64_t size = reader.size();
  if (size < 8) return parse_safetensors_header({}, size, reader.label());  // names the short file
  std::vector<uint8_t> buffer;
  const std::span<const uint8_t> length = reader.view(0, 8, buffer);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | length[size_t(i)];
  // Too long, or past the end: the parser says which, from the length alone.
  if (header_len > kMaxHeaderBytes || header_len > size - 8)
    return parse_safetensors_header(std::vector<uint8_t>(length.begin(), length.end()), size,
                                    reader.label());
  std::vector<uint8_t> header_buffer;
  return parse_safetensors_header(reader.view(0, 8 + header_len, header_buffer), size,
                                  reader.label());
}

SafetensorsLayout layout_safetensors(std::span<const TensorDecl> tensors,
                                     const std::map<std::string, std::string>& metadata) {
  // The header is assembled piece by piece: nlohmann's ordered_json looks keys up linearly, which
  // is quadratic for models with tens of thousands of tensors.
  std::string text = "{";
  if (!metadata.empty()) {
    text += '"';
    text += kMetadataKey;
    text += "\":";
    text += dump_for_header(json(metadata), kMetadataKey);
  }

  SafetensorsLayout layout;
  std::set<std::string_view> seen;
  uint64_t offset = 0;
  for (const TensorDecl& decl : tensors) {
    if (decl.name == kMetadataKey || !seen.insert(decl.name).second) {
      fail(ErrorCode::Internal, "layout_safetensors: tensor name \"{}\" is reserved or repeated",
           decl.name);
    }
    TensorEntry entry{decl.name, decl.dtype, decl.shape, offset, offset};
    uint64_t nbytes = dtype_size(decl.dtype);
    for (int64_t d : decl.shape) {
      if (d < 0 || !checked_mul(nbytes, uint64_t(d), &nbytes)) {
        fail(ErrorCode::Internal, "layout_safetensors: tensor \"{}\" has an invalid shape",
             decl.name);
      }
    }
    if (!checked_add(offset, nbytes, &entry.end)) {
      fail(ErrorCode::Internal, "layout_safetensors: file size overflows at tensor \"{}\"",
           decl.name);
    }
    offset = entry.end;
    if (text.size() > 1) text += ',';
    text += dump_for_header(json(decl.name), decl.name);
    text += fmt::format(R"(:{{"dtype":"{}","shape":[{}],"data_offsets":[{},{}]}})",
                        dtype_name(decl.dtype), fmt::join(decl.shape, ","), entry.begin, entry.end);
    layout.tensors.push_back(std::move(entry));
  }
  text += '}';
  // Pad so the data section starts 8-byte aligned (as the reference writer does).
  text.append((8 - text.size() % 8) % 8, ' ');

  uint64_t len = text.size();
  layout.header_bytes.reserve(8 + text.size());
  for (int i = 0; i < 8; ++i) layout.header_bytes.push_back(char((len >> (8 * i)) & 0xff));
  layout.header_bytes += text;
  layout.file_size = layout.header_bytes.size() + offset;
  return layout;
}

}  // namespace mf
