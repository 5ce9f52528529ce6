// Batched matrix multiplication with transposes, batch broadcasting, a broadcast bias and an activation, on
// oneDNN. Transposes are expressed as strides: no copy.
#include "common.h"

namespace semedit {
namespace {

using dt = dnnl::memory::data_type;
using md = dnnl::memory::desc;

// A [batch, rows, cols] operand stored as [batch, cols, rows] when `transposed`.
md operand(int64_t batch, int64_t rows, int64_t cols, bool transposed) {
  return transposed ? md({batch, rows, cols}, dt::f32, {rows * cols, 1, rows}) : md({batch, rows, cols}, dt::f32, {rows * cols, cols, 1});
}

// matmul(a, aShape[3], b, bShape[3], y, yShape[3], transposeA, transposeB, bias | null, biasShape[3] | null,
//        activation, alpha, packIdB). Shapes are as stored; y is [max(batchA, batchB), M, N]. With bf16Compute(),
// a and b are converted to bf16 (b kept converted under packIdB when > 0); y, bias and accumulation stay f32.
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  const std::string k = "BatchMatMul";
  dims_t as = dimsArg(info, 1, k, "aShape", 3), bs = dimsArg(info, 3, k, "bShape", 3), ys = dimsArg(info, 5, k, "yShape", 3);
  float* a = floatArg(info, 0, k, "a", product(as));
  float* b = floatArg(info, 2, k, "b", product(bs));
  float* y = floatArg(info, 4, k, "y", product(ys));
  bool ta = boolArg(info, 6, k, "transposeA"), tb = boolArg(info, 7, k, "transposeB");
  int64_t m = ta ? as[2] : as[1], ka = ta ? as[1] : as[2];
  int64_t kb = tb ? bs[2] : bs[1], n = tb ? bs[1] : bs[2];
  if (ka != kb)
    fail(info.Env(), k, "inner dimensions differ: a " + shapeText(as) + (ta ? " (transposed)" : "") + " and b " + shapeText(bs) + (tb ? " (transposed)" : ""),
         "E_NATIVE_SHAPE");
  if (as[0] != bs[0] && as[0] != 1 && bs[0] != 1)
    fail(info.Env(), k, "batch sizes " + std::to_string(as[0]) + " and " + std::to_string(bs[0]) + " do not broadcast", "E_NATIVE_SHAPE");
  int64_t batch = std::max(as[0], bs[0]);
  if (ys[0] != batch || ys[1] != m || ys[2] != n)
    fail(info.Env(), k, "output shape " + shapeText(ys) + " should be [" + std::to_string(batch) + "," + std::to_string(m) + "," + std::to_string(n) + "]",
         "E_NATIVE_SHAPE");
  float* bias = nullptr;
  dims_t biasShape;
  if (!info[8].IsNull() && !info[8].IsUndefined()) {
    biasShape = dimsArg(info, 9, k, "biasShape", 3);
    for (int i = 0; i < 3; ++i)
      if (biasShape[i] != 1 && biasShape[i] != ys[i])
        fail(info.Env(), k, "bias shape " + shapeText(biasShape) + " does not broadcast to " + shapeText(ys), "E_NATIVE_SHAPE");
    bias = floatArg(info, 8, k, "bias", product(biasShape));
  }
  int64_t act = intArg(info, 10, k, "activation");
  float alpha = float(numArg(info, 11, k, "alpha"));
  int64_t packId = intArg(info, 12, k, "packIdB");
  if (batch == 0 || m == 0 || n == 0) return info.Env().Undefined();
  if (ka == 0) fail(info.Env(), k, "the inner dimension is empty (handled by the caller)", "E_NATIVE_SHAPE");
  guarded(info.Env(), k, [&] {
    dnnl::primitive_attr attr = userScratchpad();
    dnnl::post_ops ops;
    if (!appendActivation(ops, act, alpha)) fail(info.Env(), k, "unknown activation code " + std::to_string(act));
    attr.set_post_ops(ops);
    md amd = operand(as[0], m, ka, ta), bmd = operand(bs[0], kb, n, tb), ymd({batch, m, n}, dt::f32, {m * n, n, 1});
    const bool half = bf16Compute();
    md acmp = half ? md({as[0], m, ka}, dt::bf16, dnnl::memory::format_tag::abc) : amd;
    md bcmp = half ? md({bs[0], kb, n}, dt::bf16, dnnl::memory::format_tag::any) : bmd;
    auto desc = bias ? dnnl::matmul::desc(acmp, bcmp, md(biasShape, dt::f32, {biasShape[1] * biasShape[2], biasShape[2], 1}), ymd)
                     : dnnl::matmul::desc(acmp, bcmp, ymd);
    dnnl::matmul::primitive_desc pd(desc, attr, cpuEngine());
    Reordered src(pd.src_desc(), amd, a);
    std::unique_ptr<Reordered> temp;
    dnnl::memory wei = half ? packedWeights(packId, PACK_MATMUL_B, pd.weights_desc(), bmd, b, temp) : dnnl::memory(bmd, cpuEngine(), b);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src.mem},
                                               {DNNL_ARG_WEIGHTS, wei},
                                               {DNNL_ARG_DST, dnnl::memory(ymd, cpuEngine(), y)}};
    if (bias) args[DNNL_ARG_BIAS] = dnnl::memory(pd.bias_desc(), cpuEngine(), bias);
    execute<dnnl::matmul>(pd, std::move(args));
  });
  return info.Env().Undefined();
}

}  // namespace

void registerMatmul(Napi::Env env, Napi::Object exports) { exports.Set("matmul", Napi::Function::New(env, MatMul)); }

}  // namespace semedit
