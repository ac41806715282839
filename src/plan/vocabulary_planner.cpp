#include "plan/vocabulary_planner.hpp"

#include <algorithm>
#include <unordered_map>

#include "core/error.hpp"
#include "plan/config_path.hpp"
#include "tokenizer/chat_template.hpp"

namespace mf {

namespace {

// The config key holding the vocabulary size: top level first, then a nested text config.
std::optional<std::string> vocab_size_key(const nlohmann::json& config) {
  for (const char* scope : kConfigScopes) {
    std::string key = std::string(scope) + "vocab_size";
    const nlohmann::json* v = find_config_value(config, key);
    if (v && v->is_number_integer()) return key;
  }
  return std::nullopt;
}

std::string quoted_list(const std::vector<std::string>& items, size_t limit) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < limit; ++i)
    out += fmt::format("{}`{}`", i ? ", " : "", items[i]);
  if (items.size() > limit) out += fmt::format(", ... ({} in all)", items.size());
  return out;
}

}  // namespace

VocabularyPlanner::VocabularyPlanner(MergePlan& plan, const std::vector<ModelLayout>& layouts,
                                     const PlanOptions& options)
    : plan_(plan), config_(plan.config), layouts_(layouts), options_(options) {}

int64_t VocabularyPlanner::vocabulary_rows(size_t model) const {
  const auto& src = *plan_.models[model].source;
  for (const std::string* name : {&layouts_[model].embed_tokens, &layouts_[model].lm_head}) {
    if (name->empty()) continue;
    auto loc = src.find(*name);
    if (loc && loc->shape.size() == 2) return loc->shape[0];
  }
  return -1;
}

int64_t VocabularyPlanner::vocabulary_limit(size_t model) const {
  const nlohmann::json& cfg = plan_.models[model].source->config();
  if (auto key = vocab_size_key(cfg)) {
    int64_t v = find_config_value(cfg, *key)->get<int64_t>();
    if (v > 0) return v;
  }
  int64_t rows = vocabulary_rows(model);
  return rows > 0 ? rows : kMaxTokenId;
}

bool VocabularyPlanner::is_vocabulary_tensor(size_t model, const std::string& tensor) const {
  const ModelLayout& layout = layouts_[model];
  bool named =
      tensor == layout.embed_tokens ||
      (is_lm_head_name(tensor) && std::find(layout.post_weights.begin(), layout.post_weights.end(),
                                            tensor) != layout.post_weights.end());
  if (!named) return false;
  int64_t rows = vocabulary_rows(model);
  auto loc = plan_.models[model].source->find(tensor);
  return rows > 0 && loc && !loc->shape.empty() && loc->shape[0] == rows;
}

std::optional<size_t> VocabularyPlanner::find_model(const ModelRef& ref) const {
  const std::string key = resolver_for(options_).key(ref);
  for (size_t i = 0; i < plan_.models.size(); ++i)
    if (plan_.models[i].key == key) return i;
  return std::nullopt;
}

const TokenizerFiles& VocabularyPlanner::files(size_t model) {
  if (files_.size() < plan_.models.size()) files_.resize(plan_.models.size());
  if (!files_[model]) {
    const ModelSource& source = *plan_.models[model].source;
    files_[model] =
        read_tokenizer_files(source.directory().empty() ? source.label() : source.directory(),
                             [&](std::string_view name) { return source.side_file(name); });
  }
  return *files_[model];
}

void VocabularyPlanner::prepare() {
  if (!config_.tokenizer) return;
  const TokenizerSetting& setting = *config_.tokenizer;
  std::string where = config_.where(setting.mark);
  auto sentencepiece_only = [&](const std::string& model) {
    fail(ErrorCode::Unsupported,
         "{}: `{}` has a SentencePiece tokenizer (tokenizer.model) but no tokenizer.json; building "
         "an output "
         "vocabulary from tokenizer.model alone is not supported yet (save the tokenizer with "
         "transformers to "
         "get a tokenizer.json)",
         where, model);
  };

  size_t base = plan_.donor;
  std::vector<VocabularyModel> models;
  for (size_t m = 0; m < plan_.models.size(); ++m) {
    const std::string& label = plan_.models[m].ref.text;
    const TokenizerFiles& f = files(m);
    if (!f.json) {
      if (f.has_sentencepiece) sentencepiece_only(label);
      if (m == base)
        fail(ErrorCode::InvalidFile,
             "{}: the base model `{}` has no tokenizer.json; the output vocabulary is built "
             "from it",
             where, label);
      plan_.warnings.push_back(
          fmt::format("{}: `{}` has no tokenizer; its vocabulary is taken to be the base model's",
                      where, label));
    }
    models.push_back({label, f.json ? &*f.json : nullptr, vocabulary_limit(m)});
  }

  VocabularyRequest request;
  request.base = base;
  request.pad_to_multiple_of = setting.pad_to_multiple_of;
  for (const auto& t : setting.tokens) request.extra_tokens.push_back(t.token);
  switch (setting.source) {
    case TokenizerSetting::Source::Base:
      request.source = VocabularyRequest::Source::Base;
      break;
    case TokenizerSetting::Source::Union:
      request.source = VocabularyRequest::Source::Union;
      break;
    case TokenizerSetting::Source::Model: {
      request.source = VocabularyRequest::Source::Model;
      const TokenizerFiles* src = nullptr;
      if (auto in_recipe = find_model(*setting.model)) {
        src = &files(*in_recipe);
      } else {
        source_files_ = read_tokenizer_files(
            setting.model->path, resolver_for(options_).tokenizer_files(
                                     *setting.model, config_.where(setting.model->mark)));
        src = &*source_files_;
      }
      if (!src->json) {
        if (src->has_sentencepiece) sentencepiece_only(setting.model->text);
        fail(ErrorCode::InvalidFile, "{}: tokenizer source `{}` has no tokenizer.json",
             config_.where(setting.model->mark), setting.model->text);
      }
      request.source_tokenizer = &*src->json;
      break;
    }
  }
  vocabulary_ = build_output_vocabulary(models, request);
  for (auto& rows : vocabulary_->source_rows)
    row_maps_.push_back(std::make_shared<const std::vector<int64_t>>(std::move(rows)));
  vocabulary_->source_rows.clear();
  resolve_tokens();
}

void VocabularyPlanner::resolve_tokens() {
  for (const auto& ts : config_.tokenizer->tokens) {
    ResolvedToken r{&ts, *vocabulary_->tokenizer.id_of(ts.token), std::nullopt, -1};
    const TokenSourceSetting& src = ts.source;
    std::string where = config_.where(src.mark.line ? src.mark : ts.mark);
    if (src.kind == TokenSourceSetting::Kind::Model ||
        src.kind == TokenSourceSetting::Kind::ModelToken) {
      r.model = find_model(*src.model);
      if (!r.model)
        fail(ErrorCode::InvalidConfig,
             "{}: token `{}`: its source `{}` is not one of the recipe's models", where, ts.token,
             src.model->text);
    }
    if (src.kind == TokenSourceSetting::Kind::ModelToken) {
      if (src.token_id) {
        r.source_row = *src.token_id;
      } else {
        size_t m = *r.model;
        const TokenizerFiles& f = files(m);
        if (m != plan_.donor && !f.json)
          fail(ErrorCode::InvalidConfig, "{}: token `{}`: `{}` has no tokenizer to look `{}` up in",
               where, ts.token, src.model->text, *src.token);
        const TokenizerJson& own = m == plan_.donor ? vocabulary_->base_tokenizer : *f.json;
        auto id = own.id_of(*src.token);
        if (!id)
          fail(ErrorCode::InvalidConfig, "{}: token `{}`: the tokenizer of `{}` has no token `{}`",
               where, ts.token, src.model->text, *src.token);
        r.source_row = *id;
      }
    }
    tokens_.push_back(r);
  }
}

void VocabularyPlanner::align(MergeJob& job, std::optional<size_t> base) {
  if (vocabulary_)
    fill_rows(job, base);
  else
    truncate(job);
}

void VocabularyPlanner::truncate(MergeJob& job) {
  std::vector<int64_t> rows;
  VocabularyAlignment a;
  for (const auto& in : job.inputs) {
    const TensorInfo& e = *plan_.models[in.model].source->find(in.tensor);
    rows.push_back(e.shape[0]);
    a.input_elements += e.numel();
  }
  int64_t least = *std::min_element(rows.begin(), rows.end());
  if (least == *std::max_element(rows.begin(), rows.end())) return;
  a.rows = least;
  a.row_maps.assign(job.inputs.size(), nullptr);
  std::vector<std::string> sizes;
  for (size_t i = 0; i < rows.size(); ++i)
    sizes.push_back(fmt::format("{} in `{}`", rows[i], plan_.models[job.inputs[i].model].ref.text));
  plan_.warnings.push_back(
      fmt::format("tensor `{}`: vocabularies of different sizes ({}) cut to the smallest, {} rows "
                  "(--unsafe-truncate-embeddings): tokens past it are lost, and every id below it "
                  "must mean the same "
                  "token in every input",
                  job.output_name, fmt::join(sizes, ", "), least));
  job.shape[0] = least;
  job.vocabulary = std::move(a);
  truncated_rows_ = least;
}

void VocabularyPlanner::fill_rows(MergeJob& job, std::optional<size_t> base) {
  const OutputVocabulary& v = *vocabulary_;
  const int64_t n = int64_t(v.tokens.size());
  VocabularyAlignment a;
  a.rows = v.rows;
  std::vector<int64_t> input_rows;
  int base_input = -1;
  for (size_t i = 0; i < job.inputs.size(); ++i) {
    const JobInput& in = job.inputs[i];
    const TensorInfo& e = *plan_.models[in.model].source->find(in.tensor);
    input_rows.push_back(e.shape[0]);
    a.input_elements += e.numel();
    a.row_maps.push_back(row_maps_[in.model]);
    if (base && in.model == *base) base_input = int(i);
    // Every row the tokenizer points at must exist in the tensor.
    const auto& map = *row_maps_[in.model];
    auto worst = std::max_element(map.begin(), map.end());
    if (worst != map.end() && *worst >= e.shape[0])
      fail(ErrorCode::InvalidFile,
           "`{}`: its tokenizer gives token `{}` id {}, but its tensor `{}` has only {} rows "
           "(config.json "
           "vocab_size {})",
           plan_.models[in.model].ref.text, v.tokens[size_t(worst - map.begin())], *worst,
           in.tensor, e.shape[0], vocabulary_limit(in.model));
  }
  std::unordered_map<int64_t, const ResolvedToken*> configured;
  for (const auto& r : tokens_) configured.emplace(r.id, &r);

  auto input_of = [&](const ResolvedToken& r) -> int {
    for (size_t i = 0; i < job.inputs.size(); ++i)
      if (job.inputs[i].model == *r.model) return int(i);
    fail(ErrorCode::InvalidConfig, "{}: token `{}`: its source `{}` is not an input of tensor `{}`",
         config_.where(r.setting->source.mark), r.setting->token, r.setting->source.model->text,
         job.output_name);
  };

  std::vector<std::string> nowhere;
  std::vector<int> present;
  for (int64_t t = 0; t < n; ++t) {
    if (v.tokens[size_t(t)].empty()) {
      a.fills.push_back({t, RowFill::Kind::Padding});
      continue;
    }
    present.clear();
    for (size_t i = 0; i < job.inputs.size(); ++i)
      if ((*a.row_maps[i])[size_t(t)] >= 0) present.push_back(int(i));
    bool everyone = present.size() == job.inputs.size();
    auto it = configured.find(t);
    const ResolvedToken* r = it == configured.end() ? nullptr : it->second;
    if (everyone && !(r && r->setting->force)) continue;

    RowFill f{t};
    f.force = r && r->setting->force;
    auto from = [&](int input, int64_t row) {
      f.kind = RowFill::Kind::Input;
      f.input = input;
      f.source_row = row;
    };
    TokenSourceSetting::Kind kind = r ? r->setting->source.kind : TokenSourceSetting::Kind::Auto;
    switch (kind) {
      case TokenSourceSetting::Kind::Auto:
        // COMPAT: the only model that has it; else the base's; else the mean of those that have it.
        if (present.size() == 1) {
          from(present[0], (*a.row_maps[size_t(present[0])])[size_t(t)]);
        } else if (present.empty()) {
          f.kind = RowFill::Kind::Zero;
          nowhere.push_back(v.tokens[size_t(t)]);
        } else if (base_input >= 0 && (*a.row_maps[size_t(base_input)])[size_t(t)] >= 0) {
          from(base_input, (*a.row_maps[size_t(base_input)])[size_t(t)]);
        } else {
          f.kind = RowFill::Kind::Mean;
        }
        break;
      case TokenSourceSetting::Kind::Zero:
        f.kind = RowFill::Kind::Zero;
        break;
      case TokenSourceSetting::Kind::Model: {
        int k = input_of(*r);
        int64_t row = (*a.row_maps[size_t(k)])[size_t(t)];
        if (row < 0)
          fail(
              ErrorCode::InvalidConfig,
              "{}: token `{}`: its source `{}` does not have this token (take one of its rows with "
              "{{kind: model_token, model: ..., token_id: N}})",
              config_.where(r->setting->source.mark), r->setting->token,
              r->setting->source.model->text);
        from(k, row);
        break;
      }
      case TokenSourceSetting::Kind::ModelToken: {
        int k = input_of(*r);
        if (r->source_row >= input_rows[size_t(k)])
          fail(ErrorCode::InvalidConfig,
               "{}: token `{}`: token id {} is out of range for `{}` (its tensor `{}` has {} rows)",
               config_.where(r->setting->source.mark), r->setting->token, r->source_row,
               r->setting->source.model->text, job.inputs[size_t(k)].tensor, input_rows[size_t(k)]);
        from(k, r->source_row);
        break;
      }
    }
    a.fills.push_back(f);
  }
  for (int64_t t = n; t < v.rows; ++t) a.fills.push_back({t, RowFill::Kind::Padding});
  if (!nowhere.empty())
    plan_.warnings.push_back(
        fmt::format("tensor `{}`: no input has the token(s) {}: their rows are zeros",
                    job.output_name, quoted_list(nowhere, 5)));
  job.shape[0] = v.rows;
  job.vocabulary = std::move(a);
}

std::optional<std::string> VocabularyPlanner::chosen_chat_template() {
  if (!config_.chat_template) return std::nullopt;
  auto choice = classify_chat_template(*config_.chat_template);
  if (!choice) {
    std::vector<std::string> names;
    for (auto n : builtin_chat_template_names()) names.emplace_back(n);
    fail(ErrorCode::InvalidConfig,
         "{}: chat_template `{}` is neither `auto`, a built-in template ({}) nor a Jinja template "
         "(a template "
         "contains `{{` and is at least 20 characters long)",
         config_.where(config_.chat_template_mark), *config_.chat_template, fmt::join(names, ", "));
  }
  if (choice->kind != ChatTemplateChoice::Kind::Auto) return choice->text;
  std::vector<std::string> templates;
  for (size_t m = 0; m < plan_.models.size(); ++m) {
    try {
      if (const auto& t = files(m).chat_template) templates.push_back(*t);
    } catch (const Error& e) {
      plan_.warnings.push_back(
          fmt::format("chat_template auto: the tokenizer of `{}` is not read: {}",
                      plan_.models[m].ref.text, e.what()));
    }
  }
  return most_common_chat_template(templates);
}

void VocabularyPlanner::plan_output_tokenizer() {
  std::optional<std::string> chosen = chosen_chat_template();
  if (vocabulary_) {
    const TokenizerSetting& setting = *config_.tokenizer;
    const TokenizerFiles* src = &files(plan_.donor);
    if (setting.source == TokenizerSetting::Source::Model)
      src = source_files_ ? &*source_files_ : &files(*find_model(*setting.model));
    OutputTokenizer out;
    out.files.push_back({"tokenizer.json", vocabulary_->tokenizer.dump()});
    out.files.push_back({"tokenizer_config.json",
                         fresh_tokenizer_config(*src, &vocabulary_->tokenizer, plan_.warnings)});
    if (auto t = chosen ? chosen : src->chat_template)
      out.files.push_back({"chat_template.jinja", *t});
    out.source_dir = src->dir;
    if (src->has_sentencepiece)
      out.files.push_back({"tokenizer.model", *src->read("tokenizer.model")});
    plan_.tokenizer = std::move(out);
    return;
  }
  if (!chosen)
    return;  // no chat_template, or `auto` found none: the donor's files are copied as they are
  const TokenizerFiles& donor = files(plan_.donor);
  if (!donor.present()) {
    plan_.warnings.push_back(
        fmt::format("{}: chat_template: the donor `{}` has no tokenizer, so no template is written",
                    config_.where(config_.chat_template_mark), plan_.models[plan_.donor].ref.text));
    return;
  }
  // The donor's tokenizer, written fresh with the template (as MergeKit re-saves it).
  OutputTokenizer out;
  out.only_when_copying = true;
  out.files.push_back(
      {"tokenizer_config.json",
       fresh_tokenizer_config(donor, donor.json ? &*donor.json : nullptr, plan_.warnings)});
  out.files.push_back({"chat_template.jinja", *chosen});
  out.source_dir = donor.dir;
  if (donor.json) out.files.push_back({"tokenizer.json", *donor.read("tokenizer.json")});
  if (donor.has_sentencepiece)
    out.files.push_back({"tokenizer.model", *donor.read("tokenizer.model")});
  plan_.tokenizer = std::move(out);
}

void VocabularyPlanner::finish(nlohmann::json& output_config) {
  if (vocabulary_) {
    std::string key = vocab_size_key(output_config).value_or("vocab_size");
    set_config_value(output_config, key, vocabulary_->rows);
    VocabularySummary s;
    const TokenizerSetting& setting = *config_.tokenizer;
    s.source = setting.source == TokenizerSetting::Source::Base    ? "base"
               : setting.source == TokenizerSetting::Source::Union ? "union"
                                                                   : setting.model->text;
    s.tokens = int64_t(vocabulary_->tokens.size());
    s.rows = vocabulary_->rows;
    s.lacking = vocabulary_->lacking;
    plan_.vocabulary = std::move(s);
  }
  if (truncated_rows_) {
    // As MergeKit, config.json is not repaired; say so when it no longer matches the tensors.
    auto key = vocab_size_key(output_config);
    int64_t written = key ? find_config_value(output_config, *key)->get<int64_t>() : -1;
    if (written != *truncated_rows_)
      plan_.warnings.push_back(fmt::format(
          "config.json keeps the donor's {} {} while the vocabulary tensors are cut to {} rows "
          "(--unsafe-truncate-embeddings does not change config.json); transformers will refuse "
          "the output until "
          "they agree",
          key.value_or("vocab_size"), written, *truncated_rows_));
  }
  plan_output_tokenizer();
}

}  // namespace mf
