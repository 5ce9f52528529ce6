// Element-wise kernels: binary operations with numpy broadcasting, unary functions (oneDNN eltwise, plus erf),
// softmax over the last axis, and transposes (a oneDNN reorder over permuted strides).
#include "common.h"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

namespace semedit {
namespace {

using dt = dnnl::memory::data_type;
using md = dnnl::memory::desc;

// Codes shared with kernels/elementwise.ts: float ops, then comparisons (float in, bool out), then logical (bool).
enum BinaryOp { ADD = 0, SUB, MUL, DIV, MAX, MIN, SQDIFF, POW, GREATER, GREATER_EQ, LESS, LESS_EQ, EQUAL, NOT_EQUAL, AND, OR, OP_COUNT };

template <int OP>
inline float apply(float a, float b) {
  if constexpr (OP == ADD) return a + b;
  if constexpr (OP == SUB) return a - b;
  if constexpr (OP == MUL) return a * b;
  if constexpr (OP == DIV) return a / b;
  if constexpr (OP == MAX) return (std::isnan(a) || std::isnan(b)) ? NAN : (a > b ? a : b);
  if constexpr (OP == MIN) return (std::isnan(a) || std::isnan(b)) ? NAN : (a < b ? a : b);
  if constexpr (OP == SQDIFF) return (a - b) * (a - b);
  if constexpr (OP == POW) return std::pow(a, b);
  return 0.f;
}

template <int OP, typename T>
inline uint8_t compare(T a, T b) {
  if constexpr (OP == GREATER) return a > b;
  if constexpr (OP == GREATER_EQ) return a >= b;
  if constexpr (OP == LESS) return a < b;
  if constexpr (OP == LESS_EQ) return a <= b;
  if constexpr (OP == EQUAL) return a == b;
  if constexpr (OP == NOT_EQUAL) return a != b;
  if constexpr (OP == AND) return (a != 0) & (b != 0);
  if constexpr (OP == OR) return (a != 0) | (b != 0);
  return 0;
}

// The op as a function of two inputs: float results for the arithmetic codes, 0/1 bytes for the others.
template <int OP, typename T>
inline auto op(T a, T b) {
  if constexpr (OP < GREATER) return apply<OP>(a, b);
  else return compare<OP>(a, b);
}

// y = a OP b over one innermost row of y, given the row's starts in a and b (innermost strides 0 or 1).
template <int OP, typename T, typename U>
inline void binaryRow(const T* pa, const T* pb, U* py, int64_t c0, int64_t c1, int64_t ia, int64_t ib) {
  if (ia && ib) {
    for (int64_t j = c0; j < c1; ++j) py[j] = op<OP>(pa[j], pb[j]);
  } else if (ia) {
    const T vb = pb[0];
    for (int64_t j = c0; j < c1; ++j) py[j] = op<OP>(pa[j], vb);
  } else if (ib) {
    const T va = pa[0];
    for (int64_t j = c0; j < c1; ++j) py[j] = op<OP>(va, pb[j]);
  } else {
    const U v = op<OP>(pa[0], pb[0]);
    for (int64_t j = c0; j < c1; ++j) py[j] = v;
  }
}

// y = a OP b with a, b already strided to y's (merged) dims; the innermost strides are 0 or 1. Work is split into
// tasks of about 16K outputs: long rows are cut into chunks, short rows are grouped (a task walks its rows with an
// odometer, so that a per-channel scale over [H·W, C] costs no division per row).
template <int OP, typename T, typename U>
void broadcastLoop(const T* a, const T* b, U* y, const dims_t& dims, const dims_t& sa, const dims_t& sb) {
  const int r = int(dims.size());
  const int64_t inner = dims[r - 1], ia = sa[r - 1], ib = sb[r - 1];
  int64_t outer = 1;
  for (int i = 0; i < r - 1; ++i) outer *= dims[i];
  const int64_t chunk = 1 << 14;
  const int64_t perRow = (inner + chunk - 1) / chunk, rowsPerTask = inner >= chunk ? 1 : chunk / inner;
  const int64_t tasks = inner >= chunk ? outer * perRow : (outer + rowsPerTask - 1) / rowsPerTask;
#pragma omp parallel for schedule(static) if (outer * inner > (1 << 17))
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o0 = inner >= chunk ? t / perRow : t * rowsPerTask;
    const int64_t o1 = inner >= chunk ? o0 + 1 : std::min(outer, o0 + rowsPerTask);
    const int64_t c0 = inner >= chunk ? (t % perRow) * chunk : 0, c1 = inner >= chunk ? std::min(inner, c0 + chunk) : inner;
    dims_t idx(r > 1 ? r - 1 : 1, 0);
    int64_t oa = 0, ob = 0, rest = o0;
    for (int i = r - 2; i >= 0; --i) {
      idx[i] = rest % dims[i];
      rest /= dims[i];
      oa += idx[i] * sa[i];
      ob += idx[i] * sb[i];
    }
    for (int64_t o = o0; o < o1; ++o) {
      binaryRow<OP, T, U>(a + oa, b + ob, y + o * inner, c0, c1, ia, ib);
      for (int i = r - 2; i >= 0; --i) {  // next row: advance the odometer
        oa += sa[i];
        ob += sb[i];
        if (++idx[i] < dims[i]) break;
        oa -= dims[i] * sa[i];
        ob -= dims[i] * sb[i];
        idx[i] = 0;
      }
    }
  }
}

// A typed array argument of the given kind, with its element count checked.
template <typename T>
T* typedArg(const Napi::CallbackInfo& info, size_t i, const std::string& k, const char* name, int64_t expect, napi_typedarray_type type,
            const char* what) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type)
    fail(info.Env(), k, std::string(name) + " must be a " + what, "E_NATIVE_DTYPE");
  auto a = info[i].As<Napi::TypedArray>();
  if (int64_t(a.ElementLength()) != expect)
    fail(info.Env(), k, std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, its shape needs " + std::to_string(expect), "E_NATIVE_SHAPE");
  return reinterpret_cast<T*>(static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset());
}

template <int OP>
void dispatch(const void* a, const void* b, void* y, const dims_t& d, const dims_t& da, const dims_t& db) {
  if constexpr (OP < GREATER) broadcastLoop<OP>(static_cast<const float*>(a), static_cast<const float*>(b), static_cast<float*>(y), d, da, db);
  else if constexpr (OP < AND) broadcastLoop<OP>(static_cast<const float*>(a), static_cast<const float*>(b), static_cast<uint8_t*>(y), d, da, db);
  else broadcastLoop<OP>(static_cast<const uint8_t*>(a), static_cast<const uint8_t*>(b), static_cast<uint8_t*>(y), d, da, db);
}

template <int... OPS>
void dispatchOp(int64_t code, const void* a, const void* b, void* y, const dims_t& d, const dims_t& da, const dims_t& db,
                std::integer_sequence<int, OPS...>) {
  ((code == OPS ? dispatch<OPS>(a, b, y, d, da, db) : void()), ...);
}

// binary(op, a, aShape, b, bShape, y, yShape): shapes of equal rank (the caller pads with leading 1s). Arithmetic
// ops take and give Float32Arrays; comparisons take Float32Arrays and give a Uint8Array (tfjs's bool); AND and OR
// take and give Uint8Arrays.
Napi::Value Binary(const Napi::CallbackInfo& info) {
  FlushDenormals ftz;
  const std::string k = "binary";
  int64_t code = intArg(info, 0, k, "op");
  if (code < 0 || code >= OP_COUNT) fail(info.Env(), k, "unknown binary op " + std::to_string(code));
  dims_t as = dimsArg(info, 2, k, "aShape"), bs = dimsArg(info, 4, k, "bShape"), ys = dimsArg(info, 6, k, "yShape");
  const bool boolIn = code >= AND, boolOut = code >= GREATER;
  const void* a = boolIn ? static_cast<const void*>(typedArg<uint8_t>(info, 1, k, "a", product(as), napi_uint8_array, "Uint8Array (bool tensor data)"))
                         : floatArg(info, 1, k, "a", product(as));
  const void* b = boolIn ? static_cast<const void*>(typedArg<uint8_t>(info, 3, k, "b", product(bs), napi_uint8_array, "Uint8Array (bool tensor data)"))
                         : floatArg(info, 3, k, "b", product(bs));
  void* y = boolOut ? static_cast<void*>(typedArg<uint8_t>(info, 5, k, "y", product(ys), napi_uint8_array, "Uint8Array (bool tensor data)"))
                    : floatArg(info, 5, k, "y", product(ys));
  if (as.size() != ys.size() || bs.size() != ys.size()) fail(info.Env(), k, "operand ranks differ from the output's", "E_NATIVE_SHAPE");
  if (ys.empty()) fail(info.Env(), k, "scalars must be passed with rank 1", "E_NATIVE_SHAPE");
  if (product(ys) == 0) return info.Env().Undefined();
  // Strides of a and b in y's dims (0 where broadcast), then merge neighbours that stay contiguous for both.
  const int r = int(ys.size());
  dims_t sa(r), sb(r);
  int64_t pa = 1, pb = 1;
  for (int i = r - 1; i >= 0; --i) {
    if ((as[i] != ys[i] && as[i] != 1) || (bs[i] != ys[i] && bs[i] != 1))
      fail(info.Env(), k, "shapes " + shapeText(as) + " and " + shapeText(bs) + " do not broadcast to " + shapeText(ys), "E_NATIVE_SHAPE");
    sa[i] = as[i] == 1 && ys[i] != 1 ? 0 : pa;
    sb[i] = bs[i] == 1 && ys[i] != 1 ? 0 : pb;
    pa *= as[i];
    pb *= bs[i];
  }
  dims_t d{ys[r - 1]}, da{sa[r - 1]}, db{sb[r - 1]};
  for (int i = r - 2; i >= 0; --i) {
    if (ys[i] == 1) continue;
    if (sa[i] == da.front() * d.front() && sb[i] == db.front() * d.front()) {
      d.front() *= ys[i];
      continue;
    }
    d.insert(d.begin(), ys[i]);
    da.insert(da.begin(), sa[i]);
    db.insert(db.begin(), sb[i]);
  }
  // The innermost stride must be 0 or 1 for the loop; a size-1 innermost dim of y makes both 1 or 0 already.
  dispatchOp(code, a, b, y, d, da, db, std::make_integer_sequence<int, OP_COUNT>{});
  return info.Env().Undefined();
}

// select(cond, t, e, y): y = cond ? t : e, element-wise (tfjs's where, its operands already broadcast).
Napi::Value Select(const Napi::CallbackInfo& info) {
  const std::string k = "Select";
  if (!info[1].IsTypedArray()) fail(info.Env(), k, "t must be a Float32Array", "E_NATIVE_DTYPE");
  const int64_t n = int64_t(info[1].As<Napi::TypedArray>().ElementLength());
  const uint8_t* c = typedArg<uint8_t>(info, 0, k, "condition", n, napi_uint8_array, "Uint8Array (bool tensor data)");
  const float* t = floatArg(info, 1, k, "t", n);
  const float* e = floatArg(info, 2, k, "e", n);
  float* y = floatArg(info, 3, k, "y", n);
#pragma omp parallel for simd schedule(static) if (n > (1 << 17))
  for (int64_t i = 0; i < n; ++i) y[i] = c[i] ? t[i] : e[i];
  return info.Env().Undefined();
}

// The addon's unary codes (kernels/elementwise.ts), in oneDNN's eltwise algorithms; -1 is erf (not in oneDNN 2.x).
const dnnl::algorithm UNARY_ALGS[] = {dnnl::algorithm::eltwise_relu,     dnnl::algorithm::eltwise_tanh,     dnnl::algorithm::eltwise_elu,
                                      dnnl::algorithm::eltwise_square,   dnnl::algorithm::eltwise_abs,      dnnl::algorithm::eltwise_sqrt,
                                      dnnl::algorithm::eltwise_linear,   dnnl::algorithm::eltwise_soft_relu, dnnl::algorithm::eltwise_logistic,
                                      dnnl::algorithm::eltwise_exp,      dnnl::algorithm::eltwise_log,      dnnl::algorithm::eltwise_clip,
                                      dnnl::algorithm::eltwise_pow,      dnnl::algorithm::eltwise_gelu_erf};

// unary(alg, alpha, beta, x, y): alg indexes UNARY_ALGS, or is -1 for erf.
Napi::Value Unary(const Napi::CallbackInfo& info) {
  FlushDenormals ftz;
  const std::string k = "unary";
  int64_t alg = intArg(info, 0, k, "alg");
  float alpha = float(numArg(info, 1, k, "alpha")), beta = float(numArg(info, 2, k, "beta"));
  Napi::Value xv = info[3];
  if (!xv.IsTypedArray()) fail(info.Env(), k, "x must be a Float32Array", "E_NATIVE_DTYPE");
  int64_t n = int64_t(xv.As<Napi::TypedArray>().ElementLength());
  const float* x = floatArg(info, 3, k, "x", n);
  float* y = floatArg(info, 4, k, "y", n);
  if (alg < -1 || alg >= int64_t(sizeof(UNARY_ALGS) / sizeof(UNARY_ALGS[0]))) fail(info.Env(), k, "unknown unary code " + std::to_string(alg));
  if (n == 0) return info.Env().Undefined();
  if (alg == -1) {
    // erf(x) = sign(x) (1 - t p(t) exp(-x²)), t = 1 / (1 + 0.3275911 |x|) (Abramowitz & Stegun 7.1.26, absolute
    // error below 1.5e-7), vectorizable unlike std::erf.
#pragma omp parallel for simd schedule(static) if (n > (1 << 17))
    for (int64_t i = 0; i < n; ++i) {
      const float a = std::fabs(x[i]), t = 1.f / (1.f + 0.3275911f * a);
      const float p = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
      const float e = 1.f - p * expNonPositive(-a * a);
      y[i] = std::isnan(x[i]) ? x[i] : std::copysign(e, x[i]);
    }
    return info.Env().Undefined();
  }
  guarded(info.Env(), k, [&] {
    md d({n}, dt::f32, dnnl::memory::format_tag::a);
    dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, UNARY_ALGS[alg], d, alpha, beta);
    dnnl::eltwise_forward::primitive_desc pd(desc, userScratchpad(), cpuEngine());
    execute<dnnl::eltwise_forward>(pd, {{DNNL_ARG_SRC, dnnl::memory(d, cpuEngine(), const_cast<float*>(x))}, {DNNL_ARG_DST, dnnl::memory(d, cpuEngine(), y)}});
  });
  return info.Env().Undefined();
}

// softmax(x, rows, cols, y): softmax over the last axis of a [rows, cols] view.
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const std::string k = "Softmax";
  int64_t rows = intArg(info, 1, k, "rows"), cols = intArg(info, 2, k, "cols");
  const float* x = floatArg(info, 0, k, "logits", rows * cols);
  float* y = floatArg(info, 3, k, "y", rows * cols);
  if (rows * cols == 0) return info.Env().Undefined();
  guarded(info.Env(), k, [&] {
    md d({rows, cols}, dt::f32, dnnl::memory::format_tag::ab);
    dnnl::softmax_forward::desc desc(dnnl::prop_kind::forward_inference, d, 1);
    dnnl::softmax_forward::primitive_desc pd(desc, userScratchpad(), cpuEngine());
    execute<dnnl::softmax_forward>(pd, {{DNNL_ARG_SRC, dnnl::memory(d, cpuEngine(), const_cast<float*>(x))}, {DNNL_ARG_DST, dnnl::memory(d, cpuEngine(), y)}});
  });
  return info.Env().Undefined();
}

// transpose(x, xShape, perm, y)
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  const std::string k = "Transpose";
  dims_t xs = dimsArg(info, 1, k, "xShape");
  dims_t perm = dimsArg(info, 2, k, "perm", int64_t(xs.size()));
  const float* x = floatArg(info, 0, k, "x", product(xs));
  float* y = floatArg(info, 3, k, "y", product(xs));
  const int r = int(xs.size());
  std::vector<bool> seen(r, false);
  for (int64_t p : perm) {
    if (p >= r || seen[p]) fail(info.Env(), k, "perm " + shapeText(perm) + " is not a permutation of " + std::to_string(r) + " axes");
    seen[p] = true;
  }
  if (product(xs) == 0 || r == 0) return info.Env().Undefined();
  dims_t strides(r), ydims(r), ystr(r);
  for (int64_t i = r - 1, s = 1; i >= 0; --i) strides[i] = s, s *= xs[i];
  for (int i = 0; i < r; ++i) ydims[i] = xs[perm[i]], ystr[i] = strides[perm[i]];
  guarded(info.Env(), k, [&] {
    dims_t dstr(r);
    for (int64_t i = r - 1, p = 1; i >= 0; --i) dstr[i] = p, p *= ydims[i];
    md src(ydims, dt::f32, ystr), dst(ydims, dt::f32, dstr);
    dnnl::memory sm(src, cpuEngine(), const_cast<float*>(x)), dm(dst, cpuEngine(), y);
    dnnl::reorder(sm, dm).execute(cpuStream(), sm, dm);
    cpuStream().wait();
  });
  return info.Env().Undefined();
}

}  // namespace

void registerEltwise(Napi::Env env, Napi::Object exports) {
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("transpose", Napi::Function::New(env, Transpose));
  exports.Set("select", Napi::Function::New(env, Select));
}

}  // namespace semedit
