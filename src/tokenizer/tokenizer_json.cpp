#include "tokenizer/tokenizer_json.hpp"

#include <algorithm>
#include <map>

#include "core/error.hpp"
#include "io/json_text.hpp"

namespace mf {

const char* vocab_model_name(VocabModel model) {
  switch (model) {
    case VocabModel::BPE:
      return "BPE";
    case VocabModel::WordPiece:
      return "WordPiece";
    case VocabModel::WordLevel:
      return "WordLevel";
    case VocabModel::Unigram:
      return "Unigram";
  }
  return "?";
}

bool AddedToken::same_options(const AddedToken& o) const {
  return content == o.content && single_word == o.single_word && lstrip == o.lstrip &&
         rstrip == o.rstrip && normalized == o.normalized && special == o.special;
}

namespace {

[[noreturn]] void bad(std::string_view label, const std::string& message) {
  fail(ErrorCode::InvalidFile, "{}: {}", label, message);
}

int64_t token_id(const nlohmann::json& v, std::string_view label, std::string_view where) {
  if (!v.is_number_integer())
    bad(label, fmt::format("{}: the id must be an integer, got {}", where, v.dump()));
  int64_t id = v.is_number_unsigned()
                   ? int64_t(std::min<uint64_t>(v.get<uint64_t>(), uint64_t(kMaxTokenId)))
                   : v.get<int64_t>();
  if (id < 0 || id >= kMaxTokenId)
    bad(label,
        fmt::format("{}: id {} is out of range (0 to {})", where, v.dump(), kMaxTokenId - 1));
  return id;
}

VocabModel model_type(const nlohmann::json& model, std::string_view label) {
  if (model.contains("type")) {
    if (!model["type"].is_string()) bad(label, "`model.type` must be a string");
    std::string type = model["type"].get<std::string>();
    if (type == "BPE") return VocabModel::BPE;
    if (type == "WordPiece") return VocabModel::WordPiece;
    if (type == "WordLevel") return VocabModel::WordLevel;
    if (type == "Unigram") return VocabModel::Unigram;
    fail(ErrorCode::Unsupported,
         "{}: tokenizer model type `{}` is not supported (BPE, WordPiece, WordLevel and Unigram "
         "are)",
         label, escape_for_message(type));
  }
  // Old files may leave the type out; tokenizers then tells the models apart by their fields.
  if (model.contains("merges")) return VocabModel::BPE;
  if (model.contains("vocab") && model["vocab"].is_array()) return VocabModel::Unigram;
  if (model.contains("max_input_chars_per_word")) return VocabModel::WordPiece;
  return VocabModel::WordLevel;
}

bool flag(const nlohmann::json& entry, const char* key, bool fallback, std::string_view label,
          std::string_view where) {
  if (!entry.contains(key) || entry[key].is_null()) return fallback;
  if (!entry[key].is_boolean())
    bad(label, fmt::format("{}: `{}` must be true or false", where, key));
  return entry[key].get<bool>();
}

// Appends `value` dumped with 2-space indentation, continuation lines indented by `depth` levels.
void append_indented(std::string& out, const nlohmann::json& value, int depth) {
  std::string text = value.dump(2);
  std::string pad(size_t(depth) * 2, ' ');
  size_t start = 0;
  while (true) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      out.append(text, start);
      return;
    }
    out.append(text, start, nl + 1 - start);
    out += pad;
    start = nl + 1;
  }
}

}  // namespace

TokenizerJson TokenizerJson::parse(std::string_view text, std::string_view file_label) {
  TokenizerJson t;
  t.label_ = std::string(file_label);
  t.doc_ = parse_json_text(text, file_label);
  if (!t.doc_.is_object()) bad(file_label, "not a tokenizer: the document is not a JSON object");
  if (!t.doc_.contains("model") || !t.doc_["model"].is_object())
    bad(file_label, "not a tokenizer: no `model` object");
  const nlohmann::json& model = t.doc_["model"];
  t.model_ = model_type(model, file_label);
  if (!model.contains("vocab")) bad(file_label, "`model.vocab` is missing");
  const nlohmann::json& vocab = model["vocab"];

  std::unordered_map<int64_t, const std::string*> by_id;
  if (t.model_ == VocabModel::Unigram) {
    if (!vocab.is_array())
      bad(file_label, "`model.vocab` of a Unigram model must be a list of [piece, score]");
    if (int64_t(vocab.size()) > kMaxTokenId) bad(file_label, "`model.vocab` has too many pieces");
    for (size_t i = 0; i < vocab.size(); ++i) {
      const auto& e = vocab[i];
      if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
        bad(file_label, fmt::format("`model.vocab[{}]` must be [piece, score]", i));
      t.model_vocab_.emplace(e[0].get<std::string>(),
                             int64_t(i));  // a repeated piece keeps its first id
    }
  } else {
    if (!vocab.is_object())
      bad(file_label, fmt::format("`model.vocab` of a {} model must be an object {{token: id}}",
                                  vocab_model_name(t.model_)));
    t.model_vocab_.reserve(vocab.size());
    for (const auto& [token, value] : vocab.items()) {
      int64_t id = token_id(value, file_label,
                            fmt::format("`model.vocab` token `{}`", escape_for_message(token)));
      auto [at, fresh] = by_id.emplace(id, &token);
      if (!fresh)
        bad(file_label,
            fmt::format("tokens `{}` and `{}` both have id {}", escape_for_message(*at->second),
                        escape_for_message(token), id));
      t.model_vocab_.emplace(token, id);
    }
  }

  if (t.doc_.contains("added_tokens") && !t.doc_["added_tokens"].is_null()) {
    const auto& added = t.doc_["added_tokens"];
    if (!added.is_array()) bad(file_label, "`added_tokens` must be a list");
    for (size_t i = 0; i < added.size(); ++i) {
      const auto& e = added[i];
      std::string where = fmt::format("`added_tokens[{}]`", i);
      if (!e.is_object() || !e.contains("content") || !e["content"].is_string() ||
          !e.contains("id"))
        bad(file_label, where + " needs an integer `id` and a string `content`");
      AddedToken a;
      a.id = token_id(e["id"], file_label, where);
      a.content = e["content"].get<std::string>();
      a.special = flag(e, "special", false, file_label, where);
      a.single_word = flag(e, "single_word", false, file_label, where);
      a.lstrip = flag(e, "lstrip", false, file_label, where);
      a.rstrip = flag(e, "rstrip", false, file_label, where);
      a.normalized = flag(e, "normalized", !a.special, file_label, where);
      if (!a.content.empty()) t.added_.push_back(std::move(a));
    }
  }
  t.index_added();
  return t;
}

void TokenizerJson::index_added() {
  std::stable_sort(added_.begin(), added_.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  // A content listed twice keeps its first entry.
  added_index_.clear();
  std::vector<AddedToken> unique;
  for (auto& a : added_)
    if (added_index_.emplace(a.content, unique.size()).second) unique.push_back(std::move(a));
  added_ = std::move(unique);
  vocab_ = model_vocab_;
  end_id_ = 0;
  for (const auto& [token, id] : model_vocab_) end_id_ = std::max(end_id_, id + 1);
  for (const auto& a : added_) {
    vocab_[a.content] = a.id;
    end_id_ = std::max(end_id_, a.id + 1);
  }
}

std::optional<int64_t> TokenizerJson::id_of(const std::string& token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* TokenizerJson::find_added(const std::string& content) const {
  auto it = added_index_.find(content);
  return it == added_index_.end() ? nullptr : &added_[it->second];
}

std::vector<std::string> TokenizerJson::tokens_by_id() const {
  std::vector<std::string> out(static_cast<size_t>(end_id_));
  for (const auto& [token, id] : model_vocab_) out[size_t(id)] = token;
  for (const auto& a : added_) out[size_t(a.id)] = a.content;
  return out;
}

TokenizerJson TokenizerJson::without_ids_from(int64_t limit) const {
  TokenizerJson t = *this;
  if (limit >= end_id_) return t;
  nlohmann::json& model = t.doc_["model"];
  std::unordered_map<std::string, int64_t> kept;
  for (const auto& [token, id] : model_vocab_)
    if (id < limit) kept.emplace(token, id);
  if (model_ == VocabModel::Unigram) {
    nlohmann::json& pieces = model["vocab"];
    if (int64_t(pieces.size()) > limit) pieces.erase(pieces.begin() + limit, pieces.end());
    if (model.contains("unk_id") && model["unk_id"].is_number_integer() &&
        model["unk_id"].get<int64_t>() >= limit)
      fail(ErrorCode::Unsupported, "{}: the Unigram unk_id {} is past the {} tokens the model uses",
           label_, model["unk_id"].get<int64_t>(), limit);
  } else {
    nlohmann::json vocab = nlohmann::json::object();
    for (const auto& [token, id] : kept) vocab[token] = id;
    model["vocab"] = std::move(vocab);
  }
  if (model_ == VocabModel::BPE && model.contains("merges") && model["merges"].is_array()) {
    // A merge stays only if both parts and its result are still tokens (tokenizers refuses a merge
    // whose result is not in the vocabulary).
    std::string prefix;
    if (model.contains("continuing_subword_prefix") &&
        model["continuing_subword_prefix"].is_string())
      prefix = model["continuing_subword_prefix"].get<std::string>();
    nlohmann::json merges = nlohmann::json::array();
    for (const auto& m : model["merges"]) {
      std::string a, b;
      if (m.is_string()) {
        std::string s = m.get<std::string>();
        size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          merges.push_back(m);
          continue;
        }
        a = s.substr(0, space);
        b = s.substr(space + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        merges.push_back(m);
        continue;
      }
      std::string made =
          a + (!prefix.empty() && b.starts_with(prefix) ? b.substr(prefix.size()) : b);
      if (kept.count(a) && kept.count(b) && kept.count(made)) merges.push_back(m);
    }
    model["merges"] = std::move(merges);
  }
  t.model_vocab_ = std::move(kept);
  std::erase_if(t.added_, [&](const AddedToken& a) { return a.id >= limit; });
  t.index_added();
  return t;
}

int64_t TokenizerJson::add_token(AddedToken token) {
  if (auto it = added_index_.find(token.content); it != added_index_.end()) {
    token.id = added_[it->second].id;
    added_[it->second] = token;
    return token.id;
  }
  auto in_model = model_vocab_.find(token.content);
  token.id = in_model != model_vocab_.end() ? in_model->second : end_id_;
  auto pos = std::upper_bound(added_.begin(), added_.end(), token.id,
                              [](int64_t id, const AddedToken& a) { return id < a.id; });
  bool at_end = pos == added_.end();
  added_.insert(pos, token);
  if (at_end) {
    added_index_[token.content] = added_.size() - 1;
  } else {
    added_index_.clear();
    for (size_t i = 0; i < added_.size(); ++i) added_index_[added_[i].content] = i;
  }
  vocab_[token.content] = token.id;
  end_id_ = std::max(end_id_, token.id + 1);
  return token.id;
}

std::string TokenizerJson::dump() const {
  static const char* const kOrder[] = {"version",        "truncation", "padding",
                                       "added_tokens",   "normalizer", "pre_tokenizer",
                                       "post_processor", "decoder",    "model"};
  std::vector<std::string> keys(std::begin(kOrder), std::end(kOrder));
  for (const auto& [key, value] : doc_.items())
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  keys.erase(std::remove_if(
                 keys.begin(), keys.end(),
                 [&](const std::string& k) { return k != "added_tokens" && !doc_.contains(k); }),
             keys.end());

  std::string out = "{\n";
  bool first = true;
  auto open_entry = [&](const std::string& key, int depth) {
    if (!first) out += ",\n";
    first = false;
    out += std::string(size_t(depth) * 2, ' ') + nlohmann::json(key).dump() + ": ";
  };
  for (const auto& key : keys) {
    if (key == "added_tokens") {
      open_entry(key, 1);
      // Keep tokenizers' field order inside each entry.
      if (added_.empty()) {
        out += "[]";
        continue;
      }
      out += "[\n";
      for (size_t i = 0; i < added_.size(); ++i) {
        const auto& a = added_[i];
        out += fmt::format(
            "    {{\n      \"id\": {},\n      \"content\": {},\n      \"single_word\": {},\n      "
            "\"lstrip\": {},\n"
            "      \"rstrip\": {},\n      \"normalized\": {},\n      \"special\": {}\n    }}{}\n",
            a.id, nlohmann::json(a.content).dump(), a.single_word, a.lstrip, a.rstrip, a.normalized,
            a.special, i + 1 < added_.size() ? "," : "");
      }
      out += "  ]";
      continue;
    }
    if (key != "model") {
      open_entry(key, 1);
      append_indented(out, doc_[key], 1);
      continue;
    }
    // The model: its type first, then its options, the vocabulary (in id order), the merges.
    const nlohmann::json& model = doc_["model"];
    open_entry(key, 1);
    out += "{\n";
    bool first_field = true;
    auto field = [&](const std::string& name) {
      if (!first_field) out += ",\n";
      first_field = false;
      out += "    " + nlohmann::json(name).dump() + ": ";
    };
    if (model.contains("type")) {
      field("type");
      out += model["type"].dump();
    }
    for (const auto& [name, value] : model.items()) {
      if (name == "type" || name == "vocab" || name == "merges") continue;
      field(name);
      append_indented(out, value, 2);
    }
    field("vocab");
    if (model_ == VocabModel::Unigram) {
      append_indented(out, model["vocab"], 2);
    } else {
      std::vector<std::pair<int64_t, const std::string*>> ordered;
      ordered.reserve(model_vocab_.size());
      for (const auto& [token, id] : model_vocab_) ordered.emplace_back(id, &token);
      std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
        return a.first < b.first || (a.first == b.first && *a.second < *b.second);
      });
      if (ordered.empty()) {
        out += "{}";
      } else {
        out += "{\n";
        for (size_t i = 0; i < ordered.size(); ++i)
          out += fmt::format("      {}: {}{}\n", nlohmann::json(*ordered[i].second).dump(),
                             ordered[i].first, i + 1 < ordered.size() ? "," : "");
        out += "    }";
      }
    }
    if (model.contains("merges")) {
      field("merges");
      append_indented(out, model["merges"], 2);
    }
    out += "\n  }";
  }
  out += "\n}\n";
  return out;
}

}  // namespace mf
