// libFuzzer target: tokenizer.json (mf::TokenizerJson::parse) over arbitrary text, then the id
// edits the planner makes to an output vocabulary: without_ids_from (a model's embedding rows
// cutting its vocabulary) and add_token (a new token, a model token made an added one, an added
// token's options changed). Every tokenizer, parsed or edited, must be self-consistent (vocab,
// id_of, tokens_by_id, end_id, the added tokens sorted and unique) and survive dump(): its text
// parses again to the same vocabulary and added tokens, and dumps to the same text. Errors must be
// the parser's own (InvalidFile, or Unsupported for a model type it does not read), naming the
// file.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "io/json_text.hpp"
#include "tokenizer/tokenizer_json.hpp"

namespace {

constexpr std::string_view kLabel = "tokenizer.json";
constexpr int64_t kMaxCheckedIds = int64_t(1) << 16;

void require(bool condition) {
  if (!condition) std::abort();
}

void expect_parse_error(const mf::Error& e) {
  require(e.code() == mf::ErrorCode::InvalidFile || e.code() == mf::ErrorCode::Unsupported);
  require(std::string_view(e.what()).starts_with(std::string(kLabel) + ": "));
  require(!mf::find_invalid_utf8(e.what()).has_value());
}

void check_consistent(const mf::TokenizerJson& t) {
  const auto& added = t.added_tokens();
  int64_t end = 0;
  for (const auto& [token, id] : t.vocab()) {
    require(0 <= id && id < mf::kMaxTokenId);
    end = std::max(end, id + 1);
    require(t.id_of(token) == id);
  }
  // end_id() also counts a model token's id that an added token of the same content hides.
  require(end <= t.end_id() && t.end_id() <= mf::kMaxTokenId);
  for (size_t i = 0; i < added.size(); ++i) {
    const mf::AddedToken& a = added[i];
    require(!a.content.empty());
    require(i == 0 || added[i - 1].id <= a.id);
    require(t.find_added(a.content) == &a);  // unique by content
    require(t.id_of(a.content) == a.id);     // an added token wins over a model token
  }
  // tokens_by_id() holds a string per id: up to kMaxTokenId of them, too slow to check on every
  // edit.
  if (t.end_id() > kMaxCheckedIds) return;
  std::vector<std::string> by_id = t.tokens_by_id();
  require(int64_t(by_id.size()) == t.end_id());
  for (size_t id = 0; id < by_id.size(); ++id) {
    if (by_id[id].empty()) continue;
    // Every token listed by id is in the vocabulary (under that id or, shared, another).
    auto at = t.id_of(by_id[id]);
    require(at.has_value());
  }
  for (const auto& a : added)
    require(by_id[size_t(a.id)] == a.content || t.find_added(by_id[size_t(a.id)]));
}

// dump() parses again to the same tokenizer and is a fixed point.
void check_round_trip(const mf::TokenizerJson& t) {
  std::string text = t.dump();
  require(!mf::find_invalid_utf8(text).has_value());
  mf::TokenizerJson again = mf::TokenizerJson::parse(text, kLabel);  // must not throw
  require(again.model() == t.model());
  require(again.vocab() == t.vocab());
  require(again.end_id() == t.end_id());
  require(again.added_tokens().size() == t.added_tokens().size());
  for (size_t i = 0; i < t.added_tokens().size(); ++i) {
    const mf::AddedToken& a = t.added_tokens()[i];
    const mf::AddedToken& b = again.added_tokens()[i];
    require(a.id == b.id && a.same_options(b));
  }
  if (t.end_id() <= kMaxCheckedIds) require(again.tokens_by_id() == t.tokens_by_id());
  require(again.dump() == text);
}

void check(const mf::TokenizerJson& t) {
  check_consistent(t);
  check_round_trip(t);
}

void check_without_ids_from(const mf::TokenizerJson& t, int64_t limit) {
  try {
    mf::TokenizerJson cut = t.without_ids_from(limit);
    check(cut);
    require(cut.end_id() <= std::max<int64_t>(limit, 0) || limit >= t.end_id());
    for (const auto& [token, id] : cut.vocab()) require(t.id_of(token).has_value());
  } catch (const mf::Error& e) {
    // A Unigram model whose unk_id the cut would drop.
    require(e.code() == mf::ErrorCode::Unsupported && t.model() == mf::VocabModel::Unigram);
  }
}

void check_add_token(mf::TokenizerJson t, mf::AddedToken token) {
  auto before = t.id_of(token.content);
  int64_t end = t.end_id();
  int64_t id = t.add_token(token);
  require(before ? id == *before : id == end);
  require(t.id_of(token.content) == id);
  const mf::AddedToken* a = t.find_added(token.content);
  require(a != nullptr && a->id == id && a->same_options(token));
  check(t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  mf::TokenizerJson t;
  try {
    t = mf::TokenizerJson::parse(text, kLabel);
  } catch (const mf::Error& e) {
    expect_parse_error(e);
    return 0;
  }
  check(t);

  int64_t end = t.end_id();
  // Limits are embedding row counts: never negative.
  for (int64_t limit : {int64_t(0), int64_t(1), end / 2, std::max<int64_t>(end - 1, 0), end})
    check_without_ids_from(t, limit);

  // A token no tokenizer has, one of its own tokens (the model's or an added one) with new options.
  mf::AddedToken fresh;
  fresh.content = "<|fuzz|>";
  fresh.special = true;
  fresh.normalized = false;
  if (!t.id_of(fresh.content) && end < mf::kMaxTokenId) check_add_token(t, fresh);
  if (!t.vocab().empty()) {
    mf::AddedToken own;
    own.content = std::min_element(t.vocab().begin(), t.vocab().end())->first;
    if (!own.content.empty()) {
      own.lstrip = true;
      own.single_word = size % 2 == 1;
      check_add_token(t, own);
    }
  }
  return 0;
}
