// Autocast regions, the cast cache and the operand casts (see autocast.h). The policy table is
// autocast_policy.cpp.
#include "framework/ops/autocast.h"

#include <utility>

#include "kernels/common/error.h"

namespace tandem::autocast {
namespace {

struct DeviceState {
  bool enabled;
  DType dtype;
};

thread_local DeviceState cpu_state{false, DType::BFloat16};
thread_local DeviceState cuda_state{false, DType::Float16};
thread_local int open_regions = 0;
thread_local bool suspended = false;
// Lower-precision copies of parameters made in the current outermost region. An entry holds the
// parameter too, so its address is not reused while the entry lives. A list searched from the
// front: a model has tens to hundreds of parameters, and a list that is cleared keeps its
// capacity, so a steady-state step allocates nothing for it (a hash map allocates per entry).
struct CachedCast {
  const TensorImpl* parameter;
  Tensor original, cast;
};
thread_local std::vector<CachedCast> cast_cache;

DeviceState& state(DeviceType device) { return device == DeviceType::CPU ? cpu_state : cuda_state; }

void refresh_active() { detail::active = !suspended && (cpu_state.enabled || cuda_state.enabled); }

// PyTorch's is_eligible: a defined floating tensor other than float64, on the region's device.
bool eligible(const Tensor& t, DeviceType device) {
  return t.defined() && is_floating(t.dtype()) && t.dtype() != DType::Float64 &&
         t.device().type == device;
}

Tensor cast_to(const Tensor& t, DType target) {
  if (t.dtype() == target) return t;
  const bool cacheable = is_half(target) && t.is_leaf() && t.requires_grad();
  if (!cacheable) return t.to(target);
  for (CachedCast& entry : cast_cache) {
    if (entry.parameter != t.impl()) continue;
    if (entry.cast.dtype() != target) entry.cast = t.to(target);
    return entry.cast;
  }
  Tensor cast = t.to(target);
  cast_cache.push_back({t.impl(), t, cast});
  return cast;
}

template <typename Range, typename Get>
std::optional<CastOperands> cast_range(OpClass op, const Range& operands, Get get) {
  // The op's device type is its first defined floating operand's.
  const Tensor* first = nullptr;
  for (const auto& o : operands)
    if (get(o).defined() && is_floating(get(o).dtype())) {
      first = &get(o);
      break;
    }
  if (!first) return std::nullopt;
  const DeviceType device = first->device().type;
  const DeviceState& st = state(device);
  if (!st.enabled) return std::nullopt;
  const Cast rule = policy(device, op);
  if (rule == Cast::Keep) return std::nullopt;
  const DType target = rule == Cast::LowerPrecision ? st.dtype : DType::Float32;
  CastOperands out;
  out.reserve(operands.size());
  for (const auto& o : operands)
    out.push_back(eligible(get(o), device) ? cast_to(get(o), target) : get(o));
  return out;
}

}  // namespace

namespace detail {
thread_local bool active = false;

std::optional<CastOperands> cast_operands(OpClass op,
                                          std::initializer_list<const Tensor*> operands) {
  return cast_range(op, operands, [](const Tensor* t) -> const Tensor& { return *t; });
}

std::optional<CastOperands> cast_operands(OpClass op, const std::vector<Tensor>& operands) {
  return cast_range(op, operands, [](const Tensor& t) -> const Tensor& { return t; });
}
}  // namespace detail

bool is_enabled(DeviceType device) { return state(device).enabled; }
DType lower_precision_dtype(DeviceType device) { return state(device).dtype; }

AutocastGuard::AutocastGuard(DeviceType device, DType dtype, bool enabled)
    : device_(device), prev_enabled_(state(device).enabled), prev_dtype_(state(device).dtype) {
  if (enabled && device == DeviceType::CPU && dtype != DType::BFloat16)
    TANDEM_FAIL("Currently, AutocastCPU only support Bfloat16 as the autocast_cpu_dtype (got ",
                dtype_name(dtype), ")");
  if (enabled && device == DeviceType::CUDA && !is_half(dtype))
    TANDEM_FAIL("In CUDA autocast, the target dtype must be float16 or bfloat16, got ",
                dtype_name(dtype));
  state(device) = {enabled, enabled ? dtype : prev_dtype_};
  ++open_regions;
  refresh_active();
}

AutocastGuard::~AutocastGuard() {
  state(device_) = {prev_enabled_, prev_dtype_};
  if (--open_regions == 0) cast_cache.clear();
  refresh_active();
}

Suspend::Suspend() : prev_(suspended) {
  suspended = true;
  refresh_active();
}

Suspend::~Suspend() {
  suspended = prev_;
  refresh_active();
}

}  // namespace tandem::autocast
