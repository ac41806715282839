#include "sinks/safetensors_sink.hpp"

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace mf {

namespace {

uint64_t tensor_bytes(const TensorDecl& t) {
  uint64_t n = 1;
  for (int64_t d : t.shape) n *= uint64_t(d);
  return n * dtype_size(t.dtype);
}

}  // namespace

SafetensorsSink::SafetensorsSink(std::string out_dir, SafetensorsOutput output)
    : tensors_(std::move(output.tensors)), side_files_(std::move(output.side_files)) {
  // Greedy packing in job order: a tensor that would overflow the shard starts a new one.
  std::vector<std::vector<size_t>> groups;
  uint64_t current = 0;
  for (size_t j = 0; j < tensors_.size(); ++j) {
    uint64_t bytes = tensor_bytes(tensors_[j]);
    if (groups.empty() || (output.max_shard_bytes > 0 && current > 0 &&
                           current + bytes > uint64_t(output.max_shard_bytes))) {
      groups.emplace_back();
      current = 0;
    }
    groups.back().push_back(j);
    current += bytes;
  }
  std::vector<TransactionFile> files;
  std::vector<TransactionRegion> regions(tensors_.size());
  shard_of_.resize(tensors_.size());
  const std::map<std::string, std::string> metadata{{"format", "pt"}};
  for (size_t s = 0; s < groups.size(); ++s) {
    std::string name = groups.size() == 1 ? "model.safetensors"
                                          : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1,
                                                        groups.size());
    std::vector<TensorDecl> decls;
    for (size_t j : groups[s]) decls.push_back(tensors_[j]);
    SafetensorsLayout layout = layout_safetensors(decls, metadata);
    for (size_t i = 0; i < groups[s].size(); ++i) {
      const auto& t = layout.tensors[i];
      regions[groups[s][i]] = {s, layout.data_offset() + t.begin, t.nbytes()};
      shard_of_[groups[s][i]] = s;
    }
    files.push_back({name, layout.file_size, std::move(layout.header_bytes)});
    shard_names_.push_back(std::move(name));
  }
  transaction_ = std::make_unique<OutputTransaction>(
      std::move(out_dir), std::move(output.fingerprint), std::move(files), std::move(regions),
      std::move(output.transaction));
}

SafetensorsSink::~SafetensorsSink() = default;

void SafetensorsSink::write_piece(size_t job, uint64_t offset, std::span<const uint8_t> bytes) {
  const TransactionRegion& region = transaction_->regions().at(job);
  if (offset > region.bytes || bytes.size() > region.bytes - offset)
    fail(ErrorCode::Internal, "tensor `{}`: {} bytes at offset {} overrun its {} planned bytes",
         tensors_[job].name, bytes.size(), offset, region.bytes);
  transaction_->write(job, offset, bytes);
}

void SafetensorsSink::finish() {
  transaction_->seal();
  if (shard_names_.size() > 1) {
    uint64_t total = 0;
    for (const auto& region : transaction_->regions()) total += region.bytes;
    nlohmann::json index;
    index["metadata"] = {{"total_size", total}, {"mergeforge_version", MERGEFORGE_VERSION}};
    nlohmann::json map = nlohmann::json::object();
    for (size_t j = 0; j < tensors_.size(); ++j) map[tensors_[j].name] = shard_names_[shard_of_[j]];
    index["weight_map"] = map;
    transaction_->write_file("model.safetensors.index.json", index.dump(2) + "\n");
  }
  for (const auto& file : side_files_) {
    if (file.copy_from.empty())
      transaction_->write_file(file.name, file.content);
    else
      transaction_->copy_file(file.name, file.copy_from);
  }
  transaction_->publish();
}

}  // namespace mf
