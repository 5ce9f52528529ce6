// 2-D convolution (NHWC activations, HWIO or depthwise HWCM filters) forward with bias and activation, and both
// backward passes, on oneDNN. Filters stay in the tfjs layout; oneDNN picks the implementation for it.
#include "common.h"
#include <memory>
#include <optional>

namespace semedit {
namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using md = dnnl::memory::desc;

struct ConvGeom {
  int64_t n, h, w, c;        // input
  int64_t kh, kw, oc, mult;  // filter (mult: depthwise channel multiplier; 0 for a plain conv)
  int64_t oh, ow;            // output
  int64_t sh, sw, dh, dw, pt, pl, pb, pr;
  dnnl::memory::dims src() const { return {n, c, h, w}; }
  dnnl::memory::dims dst() const { return {n, oc, oh, ow}; }
  dnnl::memory::dims wei() const { return mult ? dnnl::memory::dims{c, mult, 1, kh, kw} : dnnl::memory::dims{oc, c, kh, kw}; }
  tag weiTag() const { return mult ? tag::hwigo : tag::hwio; }
  dnnl::memory::dims strides() const { return {sh, sw}; }
  dnnl::memory::dims dil() const { return {dh - 1, dw - 1}; }
  dnnl::memory::dims padL() const { return {pt, pl}; }
  dnnl::memory::dims padR() const { return {pb, pr}; }
};

// Reads xShape, wShape, yShape, strides, dilations, pads (top, left, bottom, right) starting at argument `i`
// positions given, and checks that they describe one convolution.
ConvGeom geometry(const Napi::CallbackInfo& info, const std::string& k, const dims_t& x, const dims_t& f, const dims_t& y,
                  size_t at, bool depthwise) {
  dims_t s = dimsArg(info, at, k, "strides", 2), d = dimsArg(info, at + 1, k, "dilations", 2), p = dimsArg(info, at + 2, k, "pads", 4);
  ConvGeom g{x[0], x[1], x[2], x[3], f[0], f[1], depthwise ? x[3] * f[3] : f[3], depthwise ? f[3] : 0, y[1], y[2],
             s[0], s[1], d[0], d[1], p[0], p[1], p[2], p[3]};
  if (g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1) fail(info.Env(), k, "strides and dilations must be >= 1", "E_NATIVE_ARG");
  if (f[2] != x[3])
    fail(info.Env(), k, "filter " + shapeText(f) + " expects " + std::to_string(f[2]) + " input channels, input " + shapeText(x) + " has " + std::to_string(x[3]),
         "E_NATIVE_SHAPE");
  int64_t eh = (g.kh - 1) * g.dh + 1, ew = (g.kw - 1) * g.dw + 1;
  int64_t oh = (g.h + g.pt + g.pb - eh) / g.sh + 1, ow = (g.w + g.pl + g.pr - ew) / g.sw + 1;
  if (y[0] != g.n || y[1] != oh || y[2] != ow || y[3] != g.oc)
    fail(info.Env(), k,
         "output shape " + shapeText(y) + " does not match input " + shapeText(x) + " and filter " + shapeText(f) + " (expected [" +
             std::to_string(g.n) + "," + std::to_string(oh) + "," + std::to_string(ow) + "," + std::to_string(g.oc) + "])",
         "E_NATIVE_SHAPE");
  return g;
}

// Filters are given in the tfjs layout; the primitive is asked for its preferred (blocked) layout (`any`), which
// selects oneDNN's direct JIT kernels instead of im2col + GEMM, and the filter is reordered into it per call.
md anyWeights(const ConvGeom& g) { return md(g.wei(), dt::f32, tag::any); }

// `compute`: the data type of src and weights (bf16 with bf16Compute(); dst, bias and accumulation stay f32).
// `alg`, `prop` and `layout` (of src and dst) default to the direct kernel on NHWC data, as a training forward (the
// hint the backward passes need); Winograd asks for inference and blocked layouts.
dnnl::convolution_forward::primitive_desc forwardPd(const ConvGeom& g, bool bias, const dnnl::primitive_attr& attr, dt compute = dt::f32,
                                                   dnnl::algorithm alg = dnnl::algorithm::convolution_direct,
                                                   dnnl::prop_kind prop = dnnl::prop_kind::forward_training, tag layout = tag::nhwc) {
  md src(g.src(), compute, layout), wei(g.wei(), compute, tag::any), dst(g.dst(), dt::f32, layout);
  auto desc = bias ? dnnl::convolution_forward::desc(prop, alg, src, wei, md({g.oc}, dt::f32, tag::a), dst, g.strides(), g.dil(), g.padL(), g.padR())
                   : dnnl::convolution_forward::desc(prop, alg, src, wei, dst, g.strides(), g.dil(), g.padL(), g.padR());
  return dnnl::convolution_forward::primitive_desc(desc, attr, cpuEngine());
}

// 3x3 stride-1 convolutions run as Winograd F(4x4, 3x3) where oneDNN has its jit_wino_4x3 kernel: on SD's shapes
// (64 to 1280 channels) it takes 0.4 to 0.65 of the direct kernel's time, the layout reorders included, and differs
// from it by about 4e-6 of the output's range. Elsewhere (other kernels, the 2x3 tiles that measured slower, bf16,
// filters kept at half width or not kept at all, whose transform would run per call) the direct kernel runs. The
// primitive asks for blocked src and dst layouts (`any`).
// The transformed filter is kept (4x the filter's bytes) and made on first use (60 ms for 512x512 channels), so only
// convolutions with at least this many output pixels (batch x height x width) use it: SD's 64x64 latents and the
// VAE decoder, not the UNet's 1280-channel filters at 8x8 to 32x32, where the gain is small and the memory large.
constexpr int64_t kWinogradMinPixels = 4096;
// ... and at least this many input and output channels: below it the time saved is small, while the rounding
// differs from the direct kernel's all the same (it moved SEGA's thresholded guidance on a 32-channel test UNet).
constexpr int64_t kWinogradMinChannels = 128;

std::optional<dnnl::convolution_forward::primitive_desc> winogradPd(const ConvGeom& g, bool bias, const dnnl::primitive_attr& attr) {
  if (!winogradEnabled() || bf16Compute() || g.mult || g.kh != 3 || g.kw != 3 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1) return {};
  if (g.n * g.oh * g.ow < kWinogradMinPixels || g.c < kWinogradMinChannels || g.oc < kWinogradMinChannels) return {};
  try {
    auto pd = forwardPd(g, bias, attr, dt::f32, dnnl::algorithm::convolution_winograd, dnnl::prop_kind::forward_inference, tag::any);
    if (std::string(pd.impl_info_str()).find("wino_4x3") == std::string::npos) return {};
    return pd;
  } catch (const dnnl::error&) {
    return {};
  }
}

// conv2d(x, xShape, w, wShape, y, yShape, strides, dilations, pads, bias | null, activation, alpha, depthwise, packId)
Napi::Value Conv2D(const Napi::CallbackInfo& info) {
  const std::string k = "Conv2D";
  bool depthwise = boolArg(info, 12, k, "depthwise");
  dims_t xs = dimsArg(info, 1, k, "xShape", 4), ws = dimsArg(info, 3, k, "filterShape", 4), ys = dimsArg(info, 5, k, "yShape", 4);
  float* x = floatArg(info, 0, k, "x", product(xs));
  WeightArg w = weightArg(info, 2, k, "filter", product(ws));
  float* y = floatArg(info, 4, k, "y", product(ys));
  ConvGeom g = geometry(info, k, xs, ws, ys, 6, depthwise);
  float* b = floatArg(info, 9, k, "bias", g.oc, true);
  int64_t act = intArg(info, 10, k, "activation");
  float alpha = float(numArg(info, 11, k, "alpha"));
  int64_t packId = intArg(info, 13, k, "packId");
  guarded(info.Env(), k, [&] {
    dnnl::primitive_attr attr = userScratchpad();
    dnnl::post_ops ops;
    if (!appendActivation(ops, act, alpha)) fail(info.Env(), k, "unknown activation code " + std::to_string(act));
    attr.set_post_ops(ops);
    if (w.type == dt::f32 && packId > 0) {  // not for weights widened per call: the Winograd transform would run per call too
      if (auto wino = winogradPd(g, b != nullptr, attr)) {
        md plainSrc(g.src(), dt::f32, tag::nhwc), plainDst(g.dst(), dt::f32, tag::nhwc);
        dnnl::memory in(plainSrc, cpuEngine(), x), out(plainDst, cpuEngine(), y);
        dnnl::memory src = wino->src_desc() == plainSrc ? in : dnnl::memory(wino->src_desc(), cpuEngine(), workspace(WORK_SRC, wino->src_desc().get_size()));
        dnnl::memory dst = wino->dst_desc() == plainDst ? out : dnnl::memory(wino->dst_desc(), cpuEngine(), workspace(WORK_DST, wino->dst_desc().get_size()));
        if (src != in) dnnl::reorder(in, src).execute(cpuStream(), in, src);
        std::unique_ptr<Reordered> temp;
        dnnl::memory wei = packedWeights(packId, PACK_CONV_WINOGRAD, wino->weights_desc(), md(g.wei(), dt::f32, g.weiTag()), w.data, temp);
        std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
        if (b) args[DNNL_ARG_BIAS] = dnnl::memory(wino->bias_desc(), cpuEngine(), b);
        execute<dnnl::convolution_forward>(*wino, std::move(args));
        if (dst != out) dnnl::reorder(dst, out).execute(cpuStream(), dst, out);
        cpuStream().wait();
        return;
      }
    }
    auto pd = forwardPd(g, b != nullptr, attr, bf16Compute() ? dt::bf16 : dt::f32);
    Reordered src(pd.src_desc(), md(g.src(), dt::f32, tag::nhwc), x);
    std::unique_ptr<Reordered> temp;
    dnnl::memory wei = packedWeights(packId, PACK_CONV_FORWARD, pd.weights_desc(), md(g.wei(), w.type, g.weiTag()), w.data, temp);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src.mem},
                                               {DNNL_ARG_WEIGHTS, wei},
                                               {DNNL_ARG_DST, dnnl::memory(pd.dst_desc(), cpuEngine(), y)}};
    if (b) args[DNNL_ARG_BIAS] = dnnl::memory(pd.bias_desc(), cpuEngine(), b);
    execute<dnnl::convolution_forward>(pd, std::move(args));
  });
  return info.Env().Undefined();
}

// conv2dBackpropInput(dy, dyShape, w, wShape, dx, dxShape, strides, dilations, pads, depthwise, packId)
Napi::Value BackpropInput(const Napi::CallbackInfo& info) {
  const std::string k = "Conv2DBackpropInput";
  bool depthwise = boolArg(info, 9, k, "depthwise");
  dims_t ys = dimsArg(info, 1, k, "dyShape", 4), ws = dimsArg(info, 3, k, "filterShape", 4), xs = dimsArg(info, 5, k, "dxShape", 4);
  float* dy = floatArg(info, 0, k, "dy", product(ys));
  WeightArg w = weightArg(info, 2, k, "filter", product(ws));
  float* dx = floatArg(info, 4, k, "dx", product(xs));
  ConvGeom g = geometry(info, k, xs, ws, ys, 6, depthwise);
  int64_t packId = intArg(info, 10, k, "packId");
  guarded(info.Env(), k, [&] {
    auto hint = forwardPd(g, false, dnnl::primitive_attr());
    md src(g.src(), dt::f32, tag::nhwc), dst(g.dst(), dt::f32, tag::nhwc);
    dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, src, anyWeights(g), dst, g.strides(), g.dil(), g.padL(), g.padR());
    dnnl::convolution_backward_data::primitive_desc pd(desc, userScratchpad(), cpuEngine(), hint);
    std::unique_ptr<Reordered> temp;
    dnnl::memory wei = packedWeights(packId, PACK_CONV_BACKWARD_DATA, pd.weights_desc(), md(g.wei(), w.type, g.weiTag()), w.data, temp);
    execute<dnnl::convolution_backward_data>(pd, {{DNNL_ARG_DIFF_DST, dnnl::memory(pd.diff_dst_desc(), cpuEngine(), dy)},
                                                                {DNNL_ARG_WEIGHTS, wei},
                                                                {DNNL_ARG_DIFF_SRC, dnnl::memory(pd.diff_src_desc(), cpuEngine(), dx)}});
  });
  return info.Env().Undefined();
}

// conv2dBackpropFilter(x, xShape, dy, dyShape, dw, wShape, strides, dilations, pads, depthwise)
Napi::Value BackpropFilter(const Napi::CallbackInfo& info) {
  const std::string k = "Conv2DBackpropFilter";
  bool depthwise = boolArg(info, 9, k, "depthwise");
  dims_t xs = dimsArg(info, 1, k, "xShape", 4), ys = dimsArg(info, 3, k, "dyShape", 4), ws = dimsArg(info, 5, k, "filterShape", 4);
  float* x = floatArg(info, 0, k, "x", product(xs));
  float* dy = floatArg(info, 2, k, "dy", product(ys));
  float* dw = floatArg(info, 4, k, "dw", product(ws));
  ConvGeom g = geometry(info, k, xs, ws, ys, 6, depthwise);
  guarded(info.Env(), k, [&] {
    auto hint = forwardPd(g, false, dnnl::primitive_attr());
    md src(g.src(), dt::f32, tag::nhwc), user(g.wei(), dt::f32, g.weiTag()), dst(g.dst(), dt::f32, tag::nhwc);
    dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, src, anyWeights(g), dst, g.strides(), g.dil(), g.padL(), g.padR());
    dnnl::convolution_backward_weights::primitive_desc pd(desc, userScratchpad(), cpuEngine(), hint);
    const bool direct = pd.diff_weights_desc() == user;
    std::vector<char> tmp(direct ? 0 : pd.diff_weights_desc().get_size());
    countAlloc(int64_t(tmp.size()));
    dnnl::memory out = direct ? dnnl::memory(user, cpuEngine(), dw) : dnnl::memory(pd.diff_weights_desc(), cpuEngine(), tmp.data());
    execute<dnnl::convolution_backward_weights>(pd, {{DNNL_ARG_SRC, dnnl::memory(pd.src_desc(), cpuEngine(), x)},
                                                                   {DNNL_ARG_DIFF_DST, dnnl::memory(pd.diff_dst_desc(), cpuEngine(), dy)},
                                                                   {DNNL_ARG_DIFF_WEIGHTS, out}});
    if (!direct) {
      dnnl::memory u(user, cpuEngine(), dw);
      dnnl::reorder(out, u).execute(cpuStream(), out, u);
      cpuStream().wait();
    }
    countAlloc(-int64_t(tmp.size()));
  });
  return info.Env().Undefined();
}

}  // namespace

void registerConv(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2d", Napi::Function::New(env, Conv2D));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, BackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, BackpropFilter));
}

}  // namespace semedit
