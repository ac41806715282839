#include <map>

#include "core/error.hpp"
#include "plan/merge_plan.hpp"

namespace mf {

namespace {

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string params_str(const Params& p) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : p.values()) parts.push_back(fmt::format("{}={:g}", k, v));
  return fmt::format("{}", fmt::join(parts, " "));
}

const char* kind_name(JobKind k) {
  switch (k) {
    case JobKind::Merge:
      return "merge";
    case JobKind::Pass:
      return "pass";
    case JobKind::Copy:
      return "copy";
  }
  return "?";
}

}  // namespace

std::string describe_plan(const MergePlan& plan, bool verbose) {
  std::string out;
  const auto& info = plan.method->info();
  out += fmt::format("recipe:  {}\nmethod:  {}{}\n", plan.config.file_label, info.name,
                     info.paper_url.empty() ? "" : fmt::format(" ({})", info.paper_url));
  out += "models:\n";
  for (size_t i = 0; i < plan.models.size(); ++i) {
    std::string lacks;
    if (plan.vocabulary)
      lacks = fmt::format("  (lacks {} of the output's tokens)", plan.vocabulary->lacking[i]);
    out += fmt::format("  [{}] {}{}{}\n", i, plan.models[i].ref.text,
                       i == plan.donor ? "  (config donor)" : "", lacks);
  }
  std::map<std::string, int> kinds;
  std::map<std::string, int> dtypes;
  for (const auto& job : plan.jobs) {
    ++kinds[kind_name(job.kind)];
    ++dtypes[std::string(dtype_name(job.out_dtype))];
  }
  std::vector<std::string> k, d;
  for (const auto& [name, n] : kinds) k.push_back(fmt::format("{} {}", n, name));
  for (const auto& [name, n] : dtypes) d.push_back(fmt::format("{} {}", n, name));
  out += fmt::format("output:  {} tensors ({}), dtypes: {}\n", plan.jobs.size(), fmt::join(k, ", "),
                     fmt::join(d, ", "));
  out += fmt::format("bytes:   {} read, {} written\n", human_bytes(plan.input_bytes()),
                     human_bytes(plan.output_bytes()));
  for (const char* key : {"num_hidden_layers", "n_layer", "num_layers"})
    if (plan.output_config.contains(key))
      out += fmt::format("layers:  {} ({})\n", plan.output_config[key].dump(), key);
  if (const auto& v = plan.vocabulary) {
    bool named = v->source == "base" || v->source == "union";
    out += fmt::format("vocab:   {} tokens ({}{}), {} rows in the embeddings and output head\n",
                       v->tokens, named ? "" : "from ", v->source, v->rows);
  }
  if (!plan.unused_inputs.empty())
    out += fmt::format("unused:  {} input tensor(s) not used by the output{}\n",
                       plan.unused_inputs.size(), verbose ? ":" : " (-v lists them)");
  if (verbose)
    for (const auto& u : plan.unused_inputs) out += fmt::format("  [{}] {}\n", u.model, u.tensor);
  for (const auto& w : plan.warnings) out += fmt::format("warning: {}\n", w);
  if (verbose) {
    out += "tensors:\n";
    for (const auto& job : plan.jobs) {
      out += fmt::format("  {} {} {} [{}] <-", job.output_name, kind_name(job.kind),
                         dtype_name(job.out_dtype), fmt::join(job.shape, ", "));
      for (size_t i = 0; i < job.inputs.size(); ++i) {
        const auto& in = job.inputs[i];
        out += fmt::format(
            " [{}]{}{}", in.model,
            in.tensor == job.output_name ? std::string() : fmt::format(":{}", in.tensor),
            int(i) == job.base ? "(base)" : "");
        if (!in.params.values().empty()) out += "{" + params_str(in.params) + "}";
      }
      if (!job.global.values().empty()) out += "  " + params_str(job.global);
      out += "\n";
    }
  }
  return out;
}

}  // namespace mf
