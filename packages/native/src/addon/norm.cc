// Group normalization (and layer normalization, its one-group, one-position case) with the affine transform and an
// optional SiLU fused: x viewed as [B, S, C] with C split into G groups; statistics over (S, C/G) per (b, g),
// accumulated in double in two passes (mean, then the centered sum of squares).
#include "common.h"
#include <cmath>

namespace semedit {
namespace {

// groupNorm(x, B, S, C, G, gamma, beta, eps, silu, y)
Napi::Value GroupNorm(const Napi::CallbackInfo& info) {
  const std::string k = "GroupNorm";
  int64_t b = intArg(info, 1, k, "batch"), s = intArg(info, 2, k, "positions"), c = intArg(info, 3, k, "channels"), g = intArg(info, 4, k, "groups");
  if (b < 0 || s < 0 || c < 1 || g < 1 || c % g != 0)
    fail(info.Env(), k, "groups " + std::to_string(g) + " do not divide " + std::to_string(c) + " channels", "E_NATIVE_SHAPE");
  const float* x = floatArg(info, 0, k, "x", b * s * c);
  const float* gamma = floatArg(info, 5, k, "gamma", c);
  const float* beta = floatArg(info, 6, k, "beta", c);
  const double eps = numArg(info, 7, k, "eps");
  const bool silu = boolArg(info, 8, k, "silu");
  float* y = floatArg(info, 9, k, "y", b * s * c);
  const int64_t cg = c / g, count = s * cg;
#pragma omp parallel for schedule(static) if (b * s * c > (1 << 17))
  for (int64_t t = 0; t < b * g; ++t) {
    const int64_t row = t / g, grp = t % g;
    const float* xb = x + row * s * c + grp * cg;
    double sum = 0;
    for (int64_t p = 0; p < s; ++p) {
      const float* xp = xb + p * c;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < cg; ++j) sum += xp[j];
    }
    const double mean = count ? sum / double(count) : 0;
    double sq = 0;
    for (int64_t p = 0; p < s; ++p) {
      const float* xp = xb + p * c;
#pragma omp simd reduction(+ : sq)
      for (int64_t j = 0; j < cg; ++j) {
        const double dv = double(xp[j]) - mean;
        sq += dv * dv;
      }
    }
    const float m = float(mean), rstd = float(1.0 / std::sqrt((count ? sq / double(count) : 0) + eps));
    const float* gg = gamma + grp * cg;
    const float* bb = beta + grp * cg;
    for (int64_t p = 0; p < s; ++p) {
      const float* xp = xb + p * c;
      float* yp = y + row * s * c + p * c + grp * cg;
      for (int64_t j = 0; j < cg; ++j) {
        const float v = (xp[j] - m) * rstd * gg[j] + bb[j];
        yp[j] = silu ? v / (1.f + std::exp(-v)) : v;
      }
    }
  }
  return info.Env().Undefined();
}

}  // namespace

void registerNorm(Napi::Env env, Napi::Object exports) { exports.Set("groupNorm", Napi::Function::New(env, GroupNorm)); }

}  // namespace semedit
