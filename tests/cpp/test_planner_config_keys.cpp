// Per-layer config.json lists under keys that JSON pointers must escape (`/` -> ~1, `~` -> ~0).
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.hpp"
#include "model_fixture.hpp"
#include "plan/config_path.hpp"
#include "plan/merge_plan.hpp"

namespace mf {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Rewrites the toy model's config.json with `edit` applied.
template <class Edit>
void edit_config(const fs::path& dir, Edit edit) {
  json cfg = json::parse(std::ifstream(dir / "config.json"));
  edit(cfg);
  std::ofstream(dir / "config.json") << cfg.dump();
}

// Layer i of model `tag` holds "<tag><i>".
json layer_list(const std::string& tag, int layers) {
  json list = json::array();
  for (int i = 0; i < layers; ++i) list.push_back(tag + std::to_string(i));
  return list;
}

class PlannerConfigKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    testing::write_toy_llama(dir_ / "a", 4, 2);
    testing::write_toy_llama(dir_ / "six", 6, 4);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // a's layers 0-1, then six's layers 3-5.
  MergePlan frankenmerge() {
    std::string text =
        "merge_method: passthrough\nslices:\n"
        "  - sources: [{model: $D/a, layer_range: [0, 2]}]\n"
        "  - sources: [{model: $D/six, layer_range: [3, 6]}]\n";
    for (size_t at; (at = text.find("$D")) != std::string::npos;)
      text.replace(at, 2, dir_.string());
    return make_plan(parse_recipe(text, "r.yml"), MethodRegistry::builtin(), {});
  }

  // Gives each model, under every key, its own per-layer list.
  void add_lists(const std::vector<std::string>& keys, const std::string& scope = "") {
    for (auto [name, layers] : {std::pair<const char*, int>{"a", 4}, {"six", 6}}) {
      edit_config(dir_ / name, [&](json& cfg) {
        json& obj = scope.empty() ? cfg : cfg[scope];
        for (const auto& key : keys) obj[key] = layer_list(std::string(name) + key + ":", layers);
      });
    }
  }

  // What the output list under `key` must be: a's layers 0, 1 and six's 3, 4, 5.
  static json expected(const std::string& key) {
    return json::array({"a" + key + ":0", "a" + key + ":1", "six" + key + ":3", "six" + key + ":4",
                        "six" + key + ":5"});
  }

  fs::path dir_;
};

TEST_F(PlannerConfigKeysTest, KeyWithSlashTakesEachSourcesList) {
  // "a/b" read as the pointer /a/b found nothing in the source, and the donor's list was used.
  add_lists({"a/b", "x~1", "/lead", "trail/"});
  auto p = frankenmerge();
  for (const char* key : {"a/b", "x~1", "/lead", "trail/"})
    EXPECT_EQ(p.output_config[key], expected(key)) << key;
  EXPECT_EQ(p.output_config["layer_types"], json({"kind0", "kind1", "kind3", "kind4", "kind5"}));
  EXPECT_EQ(p.output_config["num_hidden_layers"], 5);
}

TEST_F(PlannerConfigKeysTest, KeyWithTildeIsNotAPointerSyntaxError) {
  // "/x~y" is not a valid JSON pointer: planning threw nlohmann's parse_error (exit 70).
  add_lists({"x~y", "~", "x~0y"});
  auto p = frankenmerge();
  for (const char* key : {"x~y", "~", "x~0y"})
    EXPECT_EQ(p.output_config[key], expected(key)) << key;
}

TEST_F(PlannerConfigKeysTest, NestedTextConfigKeys) {
  // The layer count under text_config: the per-layer lists beside it are rebuilt.
  for (const char* name : {"a", "six"})
    edit_config(dir_ / name, [](json& cfg) {
      cfg["text_config"]["num_hidden_layers"] = cfg["num_hidden_layers"];
      cfg.erase("num_hidden_layers");
    });
  add_lists({"p/q", "r~s", "plain"}, "text_config");
  auto p = frankenmerge();
  EXPECT_EQ(p.output_config["text_config"]["num_hidden_layers"], 5);
  for (const char* key : {"p/q", "r~s", "plain"})
    EXPECT_EQ(p.output_config["text_config"][key], expected(key)) << key;
}

TEST(ConfigPointer, EscapesEachToken) {
  EXPECT_EQ(config_pointer("").to_string(), "");
  EXPECT_EQ(config_pointer("num_hidden_layers").to_string(), "/num_hidden_layers");
  EXPECT_EQ(config_pointer("text_config.num_hidden_layers").to_string(),
            "/text_config/num_hidden_layers");
  EXPECT_EQ((config_pointer("text_config") / "a/b~c").to_string(), "/text_config/a~1b~0c");
  json doc = {{"text_config", {{"a/b~c", 7}}}};
  EXPECT_EQ(doc[config_pointer("text_config") / "a/b~c"], 7);
}

}  // namespace
}  // namespace mf
