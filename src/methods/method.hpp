// The merge-method interface. A method is a description (name, paper, parameters, input contract)
// plus a kernel that merges one tensor. The YAML validator, the planner and `mergeforge methods`
// all read the same description, so a parameter is declared once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor_stream.hpp"

namespace mf {

enum class ParamType { Float, Int, Bool };

enum class ParamScope {
  Global,      // one value per tensor (top-level / slice / module `parameters`)
  PerModel,    // one value per input model, the base included (a model's own `parameters`, then the
               // global levels)
  PerNonBase,  // like PerModel, but never resolved for the base model (a task-vector weight)
};

struct ParamSpec {
  std::string name;
  ParamType type;
  ParamScope scope;
  std::optional<double> default_value;  // nullopt: required (Bool: 0 / 1)
  std::string help;
};

// What the method does with `base_model`.
enum class BaseRole {
  Input,     // base-agnostic: a configured base is an ordinary input (linear, passthrough, karcher)
  Required,  // the base is required and treated specially (task arithmetic family, slerp, ...)
  Optional,  // used when given (multislerp, nuslerp)
};

// What to do with a tensor that only some inputs have (COMPAT.md, "Tensors present in only some
// inputs").
enum class PartialInputs {
  MergePresent,  // merge the inputs that have it; an error if the base is missing
  PassSingle,    // a single present input passes through; more than one but not all: an error
  PassBaseOnly,  // only when the single present input is the base
  BaseOrOmit,    // the base alone passes through; otherwise the tensor is omitted with a warning
};

struct MethodInfo {
  std::string name;
  std::string paper_url;  // empty when there is no paper
  std::string summary;
  std::vector<ParamSpec> params;
  BaseRole base = BaseRole::Input;
  int min_models = 1;   // inputs other than the base
  int max_models = -1;  // -1: no limit
  PartialInputs partial = PartialInputs::MergePresent;

  const ParamSpec* find_param(std::string_view name) const;
};

// Resolved parameter values for one tensor, by name. Bools are 0 / 1, ints are integral doubles.
class Params {
 public:
  void set(std::string name, double value) { values_[std::move(name)] = value; }
  bool has(std::string_view name) const { return values_.find(name) != values_.end(); }
  // The value of a declared parameter; the planner guarantees every declared parameter is present.
  double get(std::string_view name) const;
  bool flag(std::string_view name) const { return get(name) != 0.0; }
  const std::map<std::string, double, std::less<>>& values() const { return values_; }

 private:
  std::map<std::string, double, std::less<>> values_;
};

// One tensor to merge, as every kernel sees it: what the planner resolved for it.
struct TensorArgs {
  std::string_view tensor_name;    // the output tensor's name
  std::span<const int64_t> shape;  // identical for every input and the output
  int base = -1;  // index of the base model among the inputs, -1 when absent or BaseRole::Input
  std::span<const Params> per_input;  // PerModel parameters, one entry per input (base included)
  const Params* global = nullptr;     // Global parameters
  uint64_t seed = 0;                  // random methods: key of the counter-based generator

  size_t input_count() const { return per_input.size(); }
  size_t numel() const {
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    return n;
  }
};

// A whole tensor in memory. Inputs are the models that have this tensor, in recipe order, already
// converted to the compute type T (float, or double for float64 recipes). The kernel may overwrite
// the input buffers: they are scratch owned by the caller and discarded afterwards.
template <class T>
struct MergeArgs : TensorArgs {
  std::span<T* const> inputs;  // numel() elements each
  T* out = nullptr;            // numel() elements
  // Streaming kernels run over these arrays in chunks of about this many elements (0: a default);
  // tests vary it to show that chunking changes nothing.
  size_t chunk_elements = 0;
  // TensorStream::scratch_bytes of those chunks; tests lower it to take the kernels' low-memory
  // ways (della ranking its lines again in the output pass).
  size_t scratch_bytes = size_t(1) << 30;
};

class MergeMethod {
 public:
  virtual ~MergeMethod() = default;
  virtual const MethodInfo& info() const = 0;
  // Plan-time checks of resolved parameters beyond their types (ranges, combinations). Throws
  // Error(ErrorCode::InvalidConfig) with a message; the planner adds the YAML location and tensor
  // name.
  virtual void check(const Params& global, std::span<const Params> per_input, int base) const {}
  virtual void merge(const MergeArgs<float>& args) const = 0;
  virtual void merge(const MergeArgs<double>& args) const = 0;
  // Memory a whole-tensor merge() of `shape` over `inputs` inputs allocates beyond the input and
  // output buffers the executor holds (values of `value_bytes`: 4 for float, 8 for double). The
  // memory budget counts it, so a method with scratch (an SVD, a sort) stays within
  // --max-memory. Streaming kernels get their scratch from the stream (TensorStream).
  virtual uint64_t scratch_bytes(std::span<const int64_t> shape, size_t inputs,
                                 size_t value_bytes) const {
    return 0;
  }

  // Streaming kernels see a tensor chunk by chunk (core/tensor_stream.hpp), so the executor
  // never holds it whole; the others get whole tensors through merge().
  virtual bool streams() const { return false; }
  // Elements that must share a chunk (della ranks whole rows); 1 for elementwise kernels.
  virtual size_t chunk_granule(std::span<const int64_t> shape) const { return 1; }
  virtual void merge_stream(const TensorArgs& args, TensorStream<float>& stream) const;
  virtual void merge_stream(const TensorArgs& args, TensorStream<double>& stream) const;
};

// Implements both merge() overloads with one member template `template <class T> void run(const
// MergeArgs<T>&) const` of Derived.
template <class Derived>
class MethodWithKernel : public MergeMethod {
 public:
  void merge(const MergeArgs<float>& args) const override {
    static_cast<const Derived*>(this)->run(args);
  }
  void merge(const MergeArgs<double>& args) const override {
    static_cast<const Derived*>(this)->run(args);
  }
};

// Runs a streaming kernel over whole tensors in memory, in chunks of args.chunk_elements.
template <class T>
void merge_in_chunks(const MergeMethod& method, const MergeArgs<T>& args);

// Implements a streaming method from one member template of Derived, `template <class T> void
// stream(const TensorArgs&, TensorStream<T>&) const`; merge() streams the in-memory tensors.
template <class Derived>
class StreamingKernel : public MergeMethod {
 public:
  bool streams() const override { return true; }
  void merge(const MergeArgs<float>& args) const override { merge_in_chunks(*this, args); }
  void merge(const MergeArgs<double>& args) const override { merge_in_chunks(*this, args); }
  void merge_stream(const TensorArgs& args, TensorStream<float>& stream) const override {
    static_cast<const Derived*>(this)->stream(args, stream);
  }
  void merge_stream(const TensorArgs& args, TensorStream<double>& stream) const override {
    static_cast<const Derived*>(this)->stream(args, stream);
  }
};

}  // namespace mf
