// oneDNN convolutions for tandem's NCHW float32 and bfloat16 tensors (bfloat16 where the CPU
// has native bf16 instructions: AVX512_BF16 or AMX; see onednn_bf16_convolution). Each primitive is
// created with format_tag::any, so oneDNN chooses the layout its fastest implementation wants
// (nChw16c and OIhw16i16o on AVX-512); a reorder then brings each operand there and the result
// back, as PyTorch's mkldnn path does. Everything that depends only on the shape (primitive
// descriptors, primitives, reorders) is built once and cached; the blocked copies and the
// scratchpad live in the thread's kernel scratch (kernels/cpu/scratch.h), which only ever grows.
#include "kernels/cpu/conv_onednn.h"

#if TANDEM_WITH_ONEDNN

#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "kernels/common/error.h"
#include "kernels/cpu/onednn_context.h"
#include "kernels/cpu/scratch.h"

namespace tandem::kernels::cpu {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

// The blocked copies of up to three operands live in the thread's kernel scratch
// (kernels/cpu/scratch.h), slots 0-2, and the scratchpad in kOnednnScratchpadSlot: a call holds
// them only while it runs, and the im2col path uses the same memory when it runs instead.

// One operand of a primitive: tandem's layout, the layout the primitive chose, and the reorder
// between them (built only when they differ).
struct Operand {
  memory::desc user, chosen;
  std::optional<dnnl::reorder> reorder;

  Operand() = default;
  Operand(const memory::desc& user_md, const memory::desc& chosen_md, bool is_input)
      : user(user_md), chosen(chosen_md) {
    if (user != chosen) {
      const auto& e = onednn_engine();
      reorder.emplace(is_input ? dnnl::reorder::primitive_desc(e, user, e, chosen)
                               : dnnl::reorder::primitive_desc(e, chosen, e, user));
    }
  }

  // The memory to hand to the primitive for an input: tandem's own, or its blocked copy.
  dnnl_memory_t input(const void* data, int slot, dnnl::stream& stream) const {
    memory& mine = onednn_thread_memory(user, const_cast<void*>(data));
    if (!reorder) return mine.get();
    memory& blocked = onednn_thread_memory(chosen, thread_scratch(slot, chosen.get_size()));
    onednn_execute<2>(*reorder, stream,
                      {{{DNNL_ARG_FROM, mine.get()}, {DNNL_ARG_TO, blocked.get()}}});
    return blocked.get();
  }
  // The memory the primitive writes an output into; finish_output copies it back when blocked.
  dnnl_memory_t output(void* data, int slot) const {
    if (!reorder) return onednn_thread_memory(user, data).get();
    return onednn_thread_memory(chosen, thread_scratch(slot, chosen.get_size())).get();
  }
  void finish_output(dnnl_memory_t written, void* data, dnnl::stream& stream) const {
    if (!reorder) return;
    memory& mine = onednn_thread_memory(user, data);
    onednn_execute<2>(*reorder, stream, {{{DNNL_ARG_FROM, written}, {DNNL_ARG_TO, mine.get()}}});
  }
};

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// The three primitives of one convolution shape (with or without bias), built together because
// the backward ones take the forward descriptor as their hint.
struct ConvPlan {
  dnnl::convolution_forward forward;
  dnnl::convolution_backward_data backward_data;
  dnnl::convolution_backward_weights backward_weights;
  Operand fwd_src, fwd_weights, fwd_dst;
  Operand bwd_diff_dst, bwd_weights, bwd_diff_src;
  Operand bww_src, bww_diff_dst, bww_diff_weights;
  memory::desc bias, fwd_scratch, bwd_scratch, bww_scratch;

  bool native = true;  // no primitive is oneDNN's reference (slow, portable C++) implementation

  ConvPlan(const Conv2dShape& s, bool has_bias, memory::data_type dt) {
    const memory::dims src{s.N, s.C, s.H, s.W}, dst{s.N, s.Co, s.oh, s.ow};
    const memory::dims weights =
        s.groups == 1 ? memory::dims{s.Co, s.C, s.kh, s.kw}
                      : memory::dims{s.groups, s.Co / s.groups, s.C / s.groups, s.kh, s.kw};
    const Tag weights_tag = s.groups == 1 ? Tag::oihw : Tag::goihw;
    const memory::dims strides{s.stride_h, s.stride_w}, dilates{s.dilation_h - 1, s.dilation_w - 1};
    // PyTorch pads both sides alike and floors the output size; oneDNN accepts the same
    // symmetric padding with the same floored size.
    const memory::dims pad{s.pad_h, s.pad_w};
    // Every operand in the tensors' type (bfloat16 in and out: oneDNN accumulates in float).
    const memory::desc src_user(src, dt, Tag::nchw), dst_user(dst, dt, Tag::nchw),
        weights_user(weights, dt, weights_tag);
    const memory::desc src_any(src, dt, Tag::any), dst_any(dst, dt, Tag::any),
        weights_any(weights, dt, Tag::any);
    bias = has_bias ? memory::desc({s.Co}, dt, Tag::x) : memory::desc();
    const auto& e = onednn_engine();
    const dnnl::primitive_attr attr = user_scratchpad();
    const auto algo = dnnl::algorithm::convolution_direct;

    const dnnl::convolution_forward::primitive_desc fwd_pd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, src_any,
                                        weights_any, bias, dst_any, strides, dilates, pad, pad),
        attr, e);
    forward = dnnl::convolution_forward(fwd_pd);
    fwd_src = Operand(src_user, fwd_pd.src_desc(), true);
    fwd_weights = Operand(weights_user, fwd_pd.weights_desc(), true);
    fwd_dst = Operand(dst_user, fwd_pd.dst_desc(), false);
    fwd_scratch = fwd_pd.scratchpad_desc();

    const dnnl::convolution_backward_data::primitive_desc bwd_pd(
        dnnl::convolution_backward_data::desc(algo, src_any, weights_any, dst_any, strides, dilates,
                                              pad, pad),
        attr, e, fwd_pd);
    backward_data = dnnl::convolution_backward_data(bwd_pd);
    bwd_diff_dst = Operand(dst_user, bwd_pd.diff_dst_desc(), true);
    bwd_weights = Operand(weights_user, bwd_pd.weights_desc(), true);
    bwd_diff_src = Operand(src_user, bwd_pd.diff_src_desc(), false);
    bwd_scratch = bwd_pd.scratchpad_desc();

    const dnnl::convolution_backward_weights::primitive_desc bww_pd(
        dnnl::convolution_backward_weights::desc(algo, src_any, weights_any, dst_any, strides,
                                                 dilates, pad, pad),
        attr, e, fwd_pd);
    backward_weights = dnnl::convolution_backward_weights(bww_pd);
    bww_src = Operand(src_user, bww_pd.src_desc(), true);
    bww_diff_dst = Operand(dst_user, bww_pd.diff_dst_desc(), true);
    bww_diff_weights = Operand(weights_user, bww_pd.diff_weights_desc(), false);
    bww_scratch = bww_pd.scratchpad_desc();
    for (const char* impl :
         {fwd_pd.impl_info_str(), bwd_pd.impl_info_str(), bww_pd.impl_info_str()})
      if (std::string_view(impl).find("ref") != std::string_view::npos) native = false;
  }
};

memory::data_type onednn_type(DType dtype) {
  return dtype == DType::BFloat16 ? memory::data_type::bf16 : memory::data_type::f32;
}

// The cached plan of a shape, or null when oneDNN has no primitive for it (bfloat16 on a CPU
// without bf16 support); `fail` turns that into an error naming the shape.
const ConvPlan* find_plan(const Conv2dShape& s, bool has_bias, DType dtype, bool fail) {
  static std::mutex mutex;
  using Key = std::tuple<Conv2dShape, bool, DType>;
  // Never destroyed, as every cache a kernel reads: a stream thread of the emulated device may
  // still run a kernel while the process exits.
  static auto& plans = *new std::map<Key, std::unique_ptr<ConvPlan>>();
  static auto& refused = *new std::map<Key, std::string>();  // no primitive for these, and why
  std::lock_guard<std::mutex> lock(mutex);
  const Key key{s, has_bias, dtype};
  std::unique_ptr<ConvPlan>& plan = plans[key];
  if (!plan && !refused.count(key)) {
    try {
      plan = std::make_unique<ConvPlan>(s, has_bias, onednn_type(dtype));
    } catch (const dnnl::error& e) {
      refused[key] = e.what();
    }
  }
  if (!plan) {
    plans.erase(key);
    if (fail)
      TANDEM_FAIL("oneDNN convolution: no ", dtype_name(dtype), " primitive for input (", s.N, ", ",
                  s.C, ", ", s.H, ", ", s.W, "), weight (", s.Co, ", ", s.C / s.groups, ", ", s.kh,
                  ", ", s.kw, "): ", refused[key]);
    return nullptr;
  }
  return plan.get();
}

const ConvPlan& plan_for(const Conv2dShape& s, bool has_bias, DType dtype) {
  return *find_plan(s, has_bias, dtype, /*fail=*/true);
}

dnnl_memory_t scratchpad(const memory::desc& md) {
  return onednn_thread_memory(md, thread_scratch(kOnednnScratchpadSlot, md.get_size())).get();
}

}  // namespace

bool onednn_available() { return true; }

bool onednn_bf16_convolution(const Conv2dShape& s) {
  const ConvPlan* with_bias = find_plan(s, true, DType::BFloat16, false);
  const ConvPlan* without = find_plan(s, false, DType::BFloat16, false);
  return with_bias && without && with_bias->native && without->native;
}

LibraryVersion onednn_version() {
  LibraryVersion v;
  v.name = "oneDNN";
  v.built = dotted(DNNL_VERSION_MAJOR, DNNL_VERSION_MINOR, DNNL_VERSION_PATCH);
  const dnnl_version_t* running = dnnl_version();
  const char* isa = "";
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41:
      isa = " (SSE4.1)";
      break;
    case dnnl_cpu_isa_avx:
      isa = " (AVX)";
      break;
    case dnnl_cpu_isa_avx2:
      isa = " (AVX2)";
      break;
    case dnnl_cpu_isa_avx2_vnni:
      isa = " (AVX2 VNNI)";
      break;
    case dnnl_cpu_isa_avx512_core:
      isa = " (AVX-512)";
      break;
    case dnnl_cpu_isa_avx512_core_vnni:
      isa = " (AVX-512 VNNI)";
      break;
    case dnnl_cpu_isa_avx512_core_bf16:
      isa = " (AVX-512 BF16)";
      break;
    case dnnl_cpu_isa_avx512_core_amx:
      isa = " (AMX)";
      break;
    default:
      break;
  }
  v.running = dotted(running->major, running->minor, running->patch) + isa;
  v.location = loaded_from(&dnnl_version);
  return v;
}

void onednn_conv2d_forward(const Conv2dShape& s, DType dtype, const void* x, const void* w,
                           const void* bias, void* y) {
  const ConvPlan& p = plan_for(s, bias != nullptr, dtype);
  dnnl::stream& stream = onednn_thread_stream();
  const dnnl_memory_t dst = p.fwd_dst.output(y, 2);
  std::array<dnnl_exec_arg_t, 5> args{{{DNNL_ARG_SRC, p.fwd_src.input(x, 0, stream)},
                                       {DNNL_ARG_WEIGHTS, p.fwd_weights.input(w, 1, stream)},
                                       {DNNL_ARG_DST, dst},
                                       {DNNL_ARG_SCRATCHPAD, scratchpad(p.fwd_scratch)},
                                       {}}};
  if (bias) args[4] = {DNNL_ARG_BIAS, onednn_thread_memory(p.bias, const_cast<void*>(bias)).get()};
  onednn_execute(p.forward, stream, args, bias ? 5 : 4);
  p.fwd_dst.finish_output(dst, y, stream);
  stream.wait();
}

void onednn_conv2d_backward_input(const Conv2dShape& s, DType dtype, const void* grad_y,
                                  const void* w, void* grad_x) {
  const ConvPlan& p = plan_for(s, false, dtype);
  dnnl::stream& stream = onednn_thread_stream();
  const dnnl_memory_t diff_src = p.bwd_diff_src.output(grad_x, 2);
  onednn_execute<4>(p.backward_data, stream,
                    {{{DNNL_ARG_DIFF_DST, p.bwd_diff_dst.input(grad_y, 0, stream)},
                      {DNNL_ARG_WEIGHTS, p.bwd_weights.input(w, 1, stream)},
                      {DNNL_ARG_DIFF_SRC, diff_src},
                      {DNNL_ARG_SCRATCHPAD, scratchpad(p.bwd_scratch)}}});
  p.bwd_diff_src.finish_output(diff_src, grad_x, stream);
  stream.wait();
}

void onednn_conv2d_backward_weight(const Conv2dShape& s, DType dtype, const void* x,
                                   const void* grad_y, void* grad_w) {
  const ConvPlan& p = plan_for(s, false, dtype);
  dnnl::stream& stream = onednn_thread_stream();
  const dnnl_memory_t diff_weights = p.bww_diff_weights.output(grad_w, 2);
  onednn_execute<4>(p.backward_weights, stream,
                    {{{DNNL_ARG_SRC, p.bww_src.input(x, 0, stream)},
                      {DNNL_ARG_DIFF_DST, p.bww_diff_dst.input(grad_y, 1, stream)},
                      {DNNL_ARG_DIFF_WEIGHTS, diff_weights},
                      {DNNL_ARG_SCRATCHPAD, scratchpad(p.bww_scratch)}}});
  p.bww_diff_weights.finish_output(diff_weights, grad_w, stream);
  stream.wait();
}

}  // namespace tandem::kernels::cpu

#else  // !TANDEM_WITH_ONEDNN

#include "kernels/common/error.h"

namespace tandem::kernels::cpu {

bool onednn_available() { return false; }
bool onednn_bf16_convolution(const Conv2dShape&) { return false; }

LibraryVersion onednn_version() { return {"oneDNN", "-", "not built in", ""}; }

void onednn_conv2d_forward(const Conv2dShape&, DType, const void*, const void*, const void*,
                           void*) {
  TANDEM_FAIL("oneDNN convolution: this build has no oneDNN (TANDEM_ONEDNN=OFF)");
}
void onednn_conv2d_backward_input(const Conv2dShape&, DType, const void*, const void*, void*) {
  TANDEM_FAIL("oneDNN convolution: this build has no oneDNN (TANDEM_ONEDNN=OFF)");
}
void onednn_conv2d_backward_weight(const Conv2dShape&, DType, const void*, const void*, void*) {
  TANDEM_FAIL("oneDNN convolution: this build has no oneDNN (TANDEM_ONEDNN=OFF)");
}

}  // namespace tandem::kernels::cpu

#endif
