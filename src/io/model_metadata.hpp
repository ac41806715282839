// The two JSON files of a model directory besides the weights: config.json and the shard index
// (model.safetensors.index.json). Both come from strangers, so they are parsed by pure functions
// over the file's text, which the fuzzers call directly; ModelSource reads the files and calls
// these.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace mf {

// config.json: a JSON object. Fails (InvalidFile, message starting with `file_label`) on invalid
// UTF-8, invalid JSON or a document that is not an object.
nlohmann::json parse_model_config(std::string_view text, std::string_view file_label);

// The shard index: {"weight_map": {tensor: shard file, ...}, ...}. Returns shard file (relative to
// the model directory) -> the tensors the index assigns to it, sorted by name. Fails (InvalidFile,
// message starting with `file_label` and naming the tensor) when the text is not a JSON object, has
// no "weight_map" object, or a shard is not a string naming a plain relative path inside the
// directory (no absolute path, no "..", no empty name).
std::map<std::string, std::vector<std::string>> parse_shard_index(std::string_view text,
                                                                  std::string_view file_label);

}  // namespace mf
