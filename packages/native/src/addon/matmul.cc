// Batched matrix multiplication with transposes, batch broadcasting, a broadcast bias and an activation, on
// oneDNN. Transposes are expressed as strides: no copy.
#include "common.h"
#include <cmath>

namespace semedit {
namespace {

using dt = dnnl::memory::data_type;
using md = dnnl::memory::desc;

// A [batch, rows, cols] operand stored as [batch, cols, rows] when `transposed`.
md operand(int64_t batch, int64_t rows, int64_t cols, bool transposed, dt type = dt::f32) {
  return transposed ? md({batch, rows, cols}, type, {rows * cols, 1, rows}) : md({batch, rows, cols}, type, {rows * cols, cols, 1});
}

// y = act(y): the fused activations of a GEMM done without a oneDNN primitive.
void activate(float* y, int64_t n, int64_t act, float alpha) {
  if (act == ACT_NONE) return;
#pragma omp parallel for simd schedule(static) if (n > (1 << 17))
  for (int64_t i = 0; i < n; ++i) {
    const float v = y[i];
    switch (act) {
      case ACT_RELU: y[i] = v > 0.f ? v : 0.f; break;
      case ACT_RELU6: y[i] = v < 0.f ? 0.f : (v > 6.f ? 6.f : v); break;
      case ACT_ELU: y[i] = v > 0.f ? v : std::expm1(v); break;
      case ACT_LEAKY: y[i] = v > 0.f ? v : alpha * v; break;
      case ACT_SIGMOID: y[i] = 1.f / (1.f + std::exp(-v)); break;
      case ACT_SILU: y[i] = v / (1.f + std::exp(-v)); break;
      default: break;
    }
  }
}

// fp32: one dnnl_sgemm per batch matrix (about 3x oneDNN's matmul primitive at SD's linear-layer shapes here), the
// bias broadcast into y first (beta = 1), the activation after.
void sgemmBatched(const float* a, const dims_t& as, const float* b, const dims_t& bs, float* y, int64_t batch, int64_t m, int64_t n, int64_t k,
                  bool ta, bool tb, const float* bias, const dims_t& biasShape, int64_t act, float alpha) {
  if (bias) {
    for (int64_t i = 0; i < batch; ++i)
      for (int64_t r = 0; r < m; ++r) {
        const float* br = bias + (biasShape[0] == 1 ? 0 : i) * biasShape[1] * biasShape[2] + (biasShape[1] == 1 ? 0 : r) * biasShape[2];
        float* yr = y + (i * m + r) * n;
        if (biasShape[2] == 1) std::fill(yr, yr + n, br[0]);
        else std::copy(br, br + n, yr);
      }
  }
  for (int64_t i = 0; i < batch; ++i) {
    const float* ai = a + (as[0] == 1 ? 0 : i) * m * k;
    const float* bi = b + (bs[0] == 1 ? 0 : i) * k * n;
    if (dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.f, ai, ta ? m : k, bi, tb ? k : n, bias ? 1.f : 0.f, y + i * m * n, n) != dnnl_success)
      throw dnnl::error(dnnl_runtime_error, "dnnl_sgemm failed");
  }
  activate(y, batch * m * n, act, alpha);
}

// matmul(a, aShape[3], b, bShape[3], y, yShape[3], transposeA, transposeB, bias | null, biasShape[3] | null,
//        activation, alpha, packIdB). Shapes are as stored; y is [max(batchA, batchB), M, N]. With bf16Compute(),
// a and b are converted to bf16 (b kept converted under packIdB when > 0); y, bias and accumulation stay f32.
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  const std::string k = "BatchMatMul";
  dims_t as = dimsArg(info, 1, k, "aShape", 3), bs = dimsArg(info, 3, k, "bShape", 3), ys = dimsArg(info, 5, k, "yShape", 3);
  float* a = floatArg(info, 0, k, "a", product(as));
  WeightArg b = weightArg(info, 2, k, "b", product(bs));
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
  if (act < ACT_NONE || act > ACT_SILU) fail(info.Env(), k, "unknown activation code " + std::to_string(act));
  if (!bf16Compute()) {
    guarded(info.Env(), k, [&] {
      // b in half-width storage: widened to float32 for the call (a counted temporary)
      std::unique_ptr<Reordered> wide;
      if (b.type != dt::f32) {
        md plain({product(bs)}, dt::f32, dnnl::memory::format_tag::a);
        wide = std::make_unique<Reordered>(plain, md({product(bs)}, b.type, dnnl::memory::format_tag::a), b.data);
      }
      const float* bf = wide ? static_cast<const float*>(wide->mem.get_data_handle()) : static_cast<const float*>(b.data);
      sgemmBatched(a, as, bf, bs, y, batch, m, n, ka, ta, tb, bias, biasShape, act, alpha);
    });
    return info.Env().Undefined();
  }
  guarded(info.Env(), k, [&] {
    dnnl::primitive_attr attr = userScratchpad();
    dnnl::post_ops ops;
    if (!appendActivation(ops, act, alpha)) fail(info.Env(), k, "unknown activation code " + std::to_string(act));
    attr.set_post_ops(ops);
    md amd = operand(as[0], m, ka, ta), bmd = operand(bs[0], kb, n, tb, b.type), ymd({batch, m, n}, dt::f32, {m * n, n, 1});
    md acmp({as[0], m, ka}, dt::bf16, dnnl::memory::format_tag::abc);
    // b in bf16, in the layout the primitive prefers, kept under packIdB (weights are reused every call).
    md bcmp({bs[0], kb, n}, dt::bf16, dnnl::memory::format_tag::any);
    auto desc = bias ? dnnl::matmul::desc(acmp, bcmp, md(biasShape, dt::f32, {biasShape[1] * biasShape[2], biasShape[2], 1}), ymd)
                     : dnnl::matmul::desc(acmp, bcmp, ymd);
    dnnl::matmul::primitive_desc pd(desc, attr, cpuEngine());
    Reordered src(pd.src_desc(), amd, a);
    std::unique_ptr<Reordered> temp;
    dnnl::memory wei = packedWeights(packId, PACK_MATMUL_B, pd.weights_desc(), bmd, b.data, temp);
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
