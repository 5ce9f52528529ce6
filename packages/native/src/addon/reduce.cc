// Reductions over the middle axis of an [outer, reduce, inner] view (the caller transposes when the reduced axes
// are not contiguous): sum, mean, max, min, product. Sums accumulate in double.
#include "common.h"
#include <cmath>
#include <limits>

namespace semedit {
namespace {

enum ReduceOp { SUM = 0, MEAN, MAX, MIN, PROD };

// reduce(op, x, outer, size, inner, y)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  FlushDenormals ftz;
  const std::string k = "reduce";
  int64_t op = intArg(info, 0, k, "op");
  int64_t outer = intArg(info, 2, k, "outer"), size = intArg(info, 3, k, "size"), inner = intArg(info, 4, k, "inner");
  if (outer < 0 || size < 0 || inner < 0) fail(info.Env(), k, "negative extent", "E_NATIVE_SHAPE");
  const float* x = floatArg(info, 1, k, "x", outer * size * inner);
  float* y = floatArg(info, 5, k, "y", outer * inner);
  if (op < SUM || op > PROD) fail(info.Env(), k, "unknown reduction " + std::to_string(op));
  const int64_t tasks = outer * inner;
  if (inner == 1) {
#pragma omp parallel for schedule(static) if (outer * size > (1 << 17))
    for (int64_t o = 0; o < outer; ++o) {
      const float* p = x + o * size;
      if (op == SUM || op == MEAN) {
        double acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < size; ++j) acc += p[j];
        y[o] = float(op == MEAN ? acc / double(size) : acc);
      } else if (op == PROD) {
        double acc = 1;
        for (int64_t j = 0; j < size; ++j) acc *= p[j];
        y[o] = float(acc);
      } else {
        float acc = op == MAX ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
        bool nan = false;
        for (int64_t j = 0; j < size; ++j) {
          nan |= std::isnan(p[j]);
          acc = op == MAX ? std::max(acc, p[j]) : std::min(acc, p[j]);
        }
        y[o] = nan ? NAN : (size ? acc : acc);
      }
    }
    return info.Env().Undefined();
  }
  // inner > 1: accumulate rows of `inner` values, outer slices in parallel.
  const int64_t block = 256;
  const int64_t perOuter = (inner + block - 1) / block;
#pragma omp parallel for schedule(static) if (tasks * size > (1 << 17))
  for (int64_t t = 0; t < outer * perOuter; ++t) {
    int64_t o = t / perOuter, i0 = (t % perOuter) * block, i1 = std::min(inner, i0 + block), w = i1 - i0;
    double acc[256];
    float facc[256];
    bool nan[256];
    const float init = op == MAX ? -std::numeric_limits<float>::infinity() : op == MIN ? std::numeric_limits<float>::infinity() : 0.f;
    for (int64_t i = 0; i < w; ++i) acc[i] = op == PROD ? 1.0 : 0.0, facc[i] = init, nan[i] = false;
    for (int64_t j = 0; j < size; ++j) {
      const float* p = x + (o * size + j) * inner + i0;
      if (op == SUM || op == MEAN) {
        for (int64_t i = 0; i < w; ++i) acc[i] += p[i];
      } else if (op == PROD) {
        for (int64_t i = 0; i < w; ++i) acc[i] *= p[i];
      } else if (op == MAX) {
        for (int64_t i = 0; i < w; ++i) nan[i] |= std::isnan(p[i]), facc[i] = std::max(facc[i], p[i]);
      } else {
        for (int64_t i = 0; i < w; ++i) nan[i] |= std::isnan(p[i]), facc[i] = std::min(facc[i], p[i]);
      }
    }
    float* q = y + o * inner + i0;
    for (int64_t i = 0; i < w; ++i)
      q[i] = op == MAX || op == MIN ? (nan[i] ? NAN : facc[i]) : float(op == MEAN ? acc[i] / double(size) : acc[i]);
  }
  return info.Env().Undefined();
}

}  // namespace

void registerReduce(Napi::Env env, Napi::Object exports) { exports.Set("reduce", Napi::Function::New(env, Reduce)); }

}  // namespace semedit
