// mergeforge as a library: plan a recipe, report what it leaves out, merge it into a directory
// with a progress line per tenth. Built as build/mergeforge-api-example:
//   build/mergeforge-api-example examples/linear.yml build/example-api
#include <cstdio>
#include <mergeforge/api.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s RECIPE OUT_DIR\n", argv[0]);
    return 2;
  }
  try {
    mf::MergeOptions options;
    options.max_memory = 512ull << 20;
    const mf::Plan plan = mf::plan_recipe_file(argv[1], options);  // every user error is here
    std::printf("%zu tensors, %llu bytes to write\n", plan.tensor_count(),
                static_cast<unsigned long long>(plan.output_bytes()));
    const mf::MergeResult result = mf::merge(plan, argv[2], [](const mf::Event& e) {
      if (e.kind == mf::Event::Kind::Warning)
        std::fprintf(stderr, "warning: %s\n", e.message.c_str());
      if (e.kind == mf::Event::Kind::Progress &&
          e.tensors_done * 10 / e.tensors_total != (e.tensors_done - 1) * 10 / e.tensors_total)
        std::printf("%zu/%zu tensors\n", e.tensors_done, e.tensors_total);
    });
    std::printf("merged %zu tensors into %s in %.2f s\n", result.tensors_written, argv[2],
                result.seconds);
    return 0;
  } catch (const mf::Error& e) {
    // The place as fields, for programs; the message names it for people.
    std::fprintf(stderr, "%s (%s line %lld, tensor `%s`)\n", e.what(), e.context().file.c_str(),
                 static_cast<long long>(e.context().line), e.context().tensor.c_str());
    return mf::exit_status(e.code());
  }
}
