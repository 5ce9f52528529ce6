// Group normalization (and layer normalization, its one-group, one-position case) with the affine transform and an
// optional SiLU fused: x viewed as [B, S, C] with C split into G groups; statistics over (S, C/G) per (b, g),
// accumulated in double in one pass of shifted sums, then the normalization in a second pass. Also StyleGAN2's per-channel
// epilogue (scale, noise, bias, leaky ReLU, gain, clamp) in one pass.
#include "common.h"
#include <cmath>
#include <omp.h>

namespace semedit {
namespace {

// The view [B, S, C] and the groups G of a normalization, read from arguments at + 0 to at + 3 and checked.
struct NormDims {
  int64_t b, s, c, g;
};

NormDims normDims(const Napi::CallbackInfo& info, const std::string& k, size_t at) {
  NormDims d{intArg(info, at, k, "batch"), intArg(info, at + 1, k, "positions"), intArg(info, at + 2, k, "channels"), intArg(info, at + 3, k, "groups")};
  if (d.b < 0 || d.s < 0 || d.c < 1 || d.g < 1 || d.c % d.g != 0)
    fail(info.Env(), k, "groups " + std::to_string(d.g) + " do not divide " + std::to_string(d.c) + " channels", "E_NATIVE_SHAPE");
  return d;
}

// Mean and 1/std of one group's values at one position (LayerNorm's case), in two passes over data in L1.
inline void rowGroupStats(const float* xg, int64_t cg, double eps, double& m, double& r) {
  double sum = 0, sq = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < cg; ++j) sum += xg[j];
  m = sum / double(cg);
#pragma omp simd reduction(+ : sq)
  for (int64_t j = 0; j < cg; ++j) sq += (double(xg[j]) - m) * (double(xg[j]) - m);
  r = 1.0 / std::sqrt(sq / double(cg) + eps);
}

// Mean and 1/std per (row, group) of x [B, S, C] over the positions and the group's channels: per-channel sums of
// (x - K) and (x - K)^2, K = the channel's value at the first position (a shift that keeps the squares free of
// cancellation), contiguous across channels so the loops vectorize, accumulated in double per thread over chunks of
// positions. The group's centered sum of squares is then exact algebra: sum_j [S2_j - 2 d_j S1_j + n d_j^2] with
// d_j = mean_g - K_j.
void groupStatistics(const float* x, const NormDims& d, double eps, std::vector<double>& mean, std::vector<double>& rstd) {
  const auto [b, s, c, g] = d;
  const int64_t cg = c / g, count = s * cg;
  const int threads = omp_get_max_threads();
  const int64_t chunk = std::max<int64_t>(1, (s + threads - 1) / threads);
  std::vector<double> part1(size_t(threads) * size_t(b * c), 0.0), part2(size_t(threads) * size_t(b * c), 0.0);
  std::vector<double> shiftK(size_t(b * c), 0.0);
  mean.assign(size_t(b * g), 0.0);
  rstd.assign(size_t(b * g), 0.0);
  if (s > 0)
    for (int64_t row = 0; row < b; ++row)
      for (int64_t j = 0; j < c; ++j) shiftK[size_t(row * c + j)] = x[row * s * c + j];
#pragma omp parallel for schedule(static) if (b * s * c > (1 << 17))
  for (int t = 0; t < threads; ++t) {
    for (int64_t row = 0; row < b; ++row) {
      double* a1 = part1.data() + size_t(t) * size_t(b * c) + row * c;
      double* a2 = part2.data() + size_t(t) * size_t(b * c) + row * c;
      const double* kr = shiftK.data() + row * c;
      for (int64_t p = t * chunk; p < std::min(s, (t + 1) * chunk); ++p) {
        const float* xp = x + (row * s + p) * c;
#pragma omp simd
        for (int64_t j = 0; j < c; ++j) {
          const double v = double(xp[j]) - kr[j];
          a1[j] += v;
          a2[j] += v * v;
        }
      }
    }
  }
  for (int64_t row = 0; row < b; ++row)
    for (int64_t grp = 0; grp < g; ++grp) {
      std::vector<double> s1(size_t(cg), 0.0), s2(size_t(cg), 0.0);
      for (int t = 0; t < threads; ++t)
        for (int64_t j = 0; j < cg; ++j) {
          const size_t at = size_t(t) * size_t(b * c) + size_t(row * c + grp * cg + j);
          s1[size_t(j)] += part1[at];
          s2[size_t(j)] += part2[at];
        }
      double sum = 0;
      for (int64_t j = 0; j < cg; ++j) sum += shiftK[size_t(row * c + grp * cg + j)] * double(s) + s1[size_t(j)];
      const double m = count ? sum / double(count) : 0;
      double sq = 0;
      for (int64_t j = 0; j < cg; ++j) {
        const double dm = m - shiftK[size_t(row * c + grp * cg + j)];
        sq += s2[size_t(j)] - 2 * dm * s1[size_t(j)] + double(s) * dm * dm;
      }
      mean[size_t(row * g + grp)] = m;
      rstd[size_t(row * g + grp)] = 1.0 / std::sqrt((count ? std::max(0.0, sq) / double(count) : 0) + eps);
    }
}

// groupNorm(x, B, S, C, G, gamma, beta, eps, silu, y)
Napi::Value GroupNorm(const Napi::CallbackInfo& info) {
  FlushDenormals ftz;
  const std::string k = "GroupNorm";
  const NormDims dims = normDims(info, k, 1);
  const auto [b, s, c, g] = dims;
  const float* x = floatArg(info, 0, k, "x", b * s * c);
  const float* gamma = floatArg(info, 5, k, "gamma", c);
  const float* beta = floatArg(info, 6, k, "beta", c);
  const double eps = numArg(info, 7, k, "eps");
  const bool silu = boolArg(info, 8, k, "silu");
  float* y = floatArg(info, 9, k, "y", b * s * c);
  const int64_t cg = c / g;
  if (s == 1) {
    // One position per row (LayerNorm over [rows, C]): the rows are independent, so they are spread over the
    // threads, each normalizing its groups in two passes over data that stays in L1.
#pragma omp parallel for schedule(static) if (b * c > (1 << 15))
    for (int64_t row = 0; row < b; ++row) {
      const float* xr = x + row * c;
      float* yr = y + row * c;
      for (int64_t grp = 0; grp < g; ++grp) {
        double m, r;
        rowGroupStats(xr + grp * cg, cg, eps, m, r);
        for (int64_t j = grp * cg; j < (grp + 1) * cg; ++j) {
          const float v = float((double(xr[j]) - m) * r) * gamma[j] + beta[j];
          yr[j] = silu ? v / (1.f + (v >= 0.f ? expNonPositive(-v) : 1.f / expNonPositive(v))) : v;
        }
      }
    }
    return info.Env().Undefined();
  }
  // Pass 1: the statistics per (row, group).
  std::vector<double> mean, rstd;
  groupStatistics(x, dims, eps, mean, rstd);
  // Pass 2: y = (x - mean) · rstd · gamma + beta, as a per-(row, channel) scale and shift, then SiLU.
  std::vector<float> scale(size_t(b * c)), shift(size_t(b * c));
  for (int64_t row = 0; row < b; ++row)
    for (int64_t j = 0; j < c; ++j) {
      const double r = rstd[row * g + j / cg];
      scale[row * c + j] = float(r * gamma[j]);
      shift[row * c + j] = float(beta[j] - mean[row * g + j / cg] * r * gamma[j]);
    }
#pragma omp parallel for schedule(static) if (b * s * c > (1 << 17))
  for (int64_t rp = 0; rp < b * s; ++rp) {
    const int64_t row = rp / s;
    const float* xp = x + rp * c;
    float* yp = y + rp * c;
    const float* sc = scale.data() + row * c;
    const float* sh = shift.data() + row * c;
    if (silu) {
#pragma omp simd
      for (int64_t j = 0; j < c; ++j) {
        const float v = xp[j] * sc[j] + sh[j];
        const float e = v >= 0.f ? expNonPositive(-v) : 1.f / expNonPositive(v);  // exp(-v)
        yp[j] = v / (1.f + e);
      }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < c; ++j) yp[j] = xp[j] * sc[j] + sh[j];
    }
  }
  return info.Env().Undefined();
}

// The epilogue's operands, read from arguments at + 0 (x) to at + 10 (clamp): x, B, P, C, scale | null,
// noise | null, noiseRows, bias | null, alpha, gain, clamp.
struct BiasActArgs {
  int64_t b, p, c, noiseRows;
  const float *x, *scale, *noise, *bias;
  float alpha, gain, clamp;
};

BiasActArgs biasActArgs(const Napi::CallbackInfo& info, const std::string& k, size_t at) {
  BiasActArgs a{};
  a.b = intArg(info, at + 1, k, "batch"), a.p = intArg(info, at + 2, k, "positions"), a.c = intArg(info, at + 3, k, "channels");
  if (a.b < 0 || a.p < 0 || a.c < 1) fail(info.Env(), k, "bad dimensions", "E_NATIVE_SHAPE");
  a.noiseRows = intArg(info, at + 6, k, "noiseRows");
  a.x = floatArg(info, at, k, "x", a.b * a.p * a.c);
  a.scale = floatArg(info, at + 4, k, "scale", a.b * a.c, true);
  a.noise = floatArg(info, at + 5, k, "noise", a.noiseRows * a.p, true);
  if (a.noise && a.noiseRows != 1 && a.noiseRows != a.b) fail(info.Env(), k, "noise rows must be 1 or the batch", "E_NATIVE_SHAPE");
  a.bias = floatArg(info, at + 7, k, "bias", a.c, true);
  a.alpha = float(numArg(info, at + 8, k, "alpha")), a.gain = float(numArg(info, at + 9, k, "gain")), a.clamp = float(numArg(info, at + 10, k, "clamp"));
  return a;
}

// biasAct(x, B, P, C, scale | null, noise | null, noiseRows, bias | null, alpha, gain, clamp, y): StyleGAN2's
// per-layer epilogue in one pass over x [B, P, C]: z = x · scale[b, c] + noise[b | 0, p] + bias[c];
// y = clamp(leakyRelu(z, alpha) · gain) (alpha 1: linear; clamp < 0: none).
Napi::Value BiasAct(const Napi::CallbackInfo& info) {
  FlushDenormals ftz;
  const std::string k = "BiasAct";
  const auto [b, p, c, noiseRows, x, scale, noise, bias, alpha, gain, clamp] = biasActArgs(info, k, 0);
  float* y = floatArg(info, 11, k, "y", b * p * c);
  std::vector<float> zeros(size_t(c), 0.f), ones(size_t(c), 1.f);
  const float* bi = bias ? bias : zeros.data();
#pragma omp parallel for schedule(static) if (b * p * c > (1 << 16))
  for (int64_t bp = 0; bp < b * p; ++bp) {
    const int64_t row = bp / p;
    const float* sc = scale ? scale + row * c : ones.data();
    const float n = noise ? noise[(noiseRows == 1 ? 0 : row) * p + bp % p] : 0.f;
    const float* xr = x + bp * c;
    float* yr = y + bp * c;
#pragma omp simd
    for (int64_t j = 0; j < c; ++j) {
      const float z = xr[j] * sc[j] + n + bi[j];
      float v = (z > 0.f ? z : z * alpha) * gain;
      if (clamp >= 0.f) v = v < -clamp ? -clamp : (v > clamp ? clamp : v);
      yr[j] = v;
    }
  }
  return info.Env().Undefined();
}

// biasActGrad(dy, x, B, P, C, scale | null, noise | null, noiseRows, bias | null, alpha, gain, clamp, dx, dscale | null,
// dnoise | null, dbias | null): the gradients of BiasAct (those asked for: non-null) in one pass, recomputing z from x: dz = dy · gain · (z > 0 ?
// 1 : alpha), zeroed where the clamp was active (|output| > clamp); dx = dz · scale; dscale[b, c] = Σ_p dz · x;
// dnoise[b | 0, p] = Σ_c dz (over the batch too when the noise has one row); dbias[c] = Σ_{b, p} dz.
Napi::Value BiasActGrad(const Napi::CallbackInfo& info) {
  FlushDenormals ftz;
  const std::string k = "BiasActGrad";
  const auto [b, p, c, noiseRows, x, scale, noise, bias, alpha, gain, clamp] = biasActArgs(info, k, 1);
  const float* dy = floatArg(info, 0, k, "dy", b * p * c);
  float* dx = floatArg(info, 12, k, "dx", b * p * c, true);
  float* dscale = floatArg(info, 13, k, "dscale", b * c, true);
  float* dnoise = floatArg(info, 14, k, "dnoise", noiseRows * p, true);
  float* dbias = floatArg(info, 15, k, "dbias", c, true);
  if ((dscale && !scale) || (dnoise && !noise) || (dbias && !bias)) fail(info.Env(), k, "a gradient was asked for a part that is absent", "E_NATIVE_ARG");
  std::vector<float> zeros(size_t(c), 0.f), ones(size_t(c), 1.f);
  const float* bi = bias ? bias : zeros.data();
  // Per-pixel sums over channels for every batch row (reduced over the batch below when the noise has one row), and
  // per-thread partial sums for dscale and dbias.
  std::vector<float> pixel(dnoise ? size_t(b * p) : 0);
  const int threads = omp_get_max_threads();
  std::vector<double> partScale(dscale ? size_t(threads) * size_t(b * c) : 0), partBias(dbias ? size_t(threads) * size_t(c) : 0);
  const bool parallel = b * p * c > (1 << 16);
#pragma omp parallel if (parallel)
  {
    const int t = omp_get_thread_num();
    double* ps = dscale ? partScale.data() + size_t(t) * size_t(b * c) : nullptr;
    double* pb = dbias ? partBias.data() + size_t(t) * size_t(c) : nullptr;
    std::vector<float> rowScale(size_t(c), 0.f), rowBias(size_t(c), 0.f);
    int64_t current = -1;
    auto flush = [&]() {
      if (current < 0) return;
      if (ps)
        for (int64_t j = 0; j < c; ++j) ps[current * c + j] += rowScale[size_t(j)];
      if (pb)
        for (int64_t j = 0; j < c; ++j) pb[j] += rowBias[size_t(j)];
      std::fill(rowScale.begin(), rowScale.end(), 0.f);
      std::fill(rowBias.begin(), rowBias.end(), 0.f);
    };
#pragma omp for schedule(static)
    for (int64_t bp = 0; bp < b * p; ++bp) {
      const int64_t row = bp / p;
      if (row != current || (bp % 64) == 0) {  // float partials per stretch of 64 pixels, summed in double
        flush();
        current = row;
      }
      const float* sc = scale ? scale + row * c : ones.data();
      const float n = noise ? noise[(noiseRows == 1 ? 0 : row) * p + bp % p] : 0.f;
      const float* xr = x + bp * c;
      const float* dyr = dy + bp * c;
      float* dxr = dx ? dx + bp * c : nullptr;
      float* rs = rowScale.data();
      float* rb = rowBias.data();
      float sum = 0.f;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < c; ++j) {
        const float z = xr[j] * sc[j] + n + bi[j];
        const bool pos = z > 0.f;
        float d = dyr[j];
        if (clamp >= 0.f) {
          const float o = (pos ? z : z * alpha) * gain;
          d = (o >= -clamp && o <= clamp) ? d : 0.f;
        }
        const float dz = (pos ? d : d * alpha) * gain;
        if (dx) dxr[j] = dz * sc[j];
        rs[j] += dz * xr[j];
        rb[j] += dz;
        sum += dz;
      }
      if (dnoise) pixel[size_t(bp)] = sum;
    }
    flush();
  }
  if (dscale) {
    for (int64_t i = 0; i < b * c; ++i) {
      double v = 0;
      for (int t = 0; t < threads; ++t) v += partScale[size_t(t) * size_t(b * c) + size_t(i)];
      dscale[i] = float(v);
    }
  }
  if (dbias) {
    for (int64_t j = 0; j < c; ++j) {
      double v = 0;
      for (int t = 0; t < threads; ++t) v += partBias[size_t(t) * size_t(c) + size_t(j)];
      dbias[j] = float(v);
    }
  }
  if (dnoise) {
    if (noiseRows == b) {
      std::copy(pixel.begin(), pixel.end(), dnoise);
    } else {
      for (int64_t q = 0; q < p; ++q) {
        float v = 0.f;
        for (int64_t r = 0; r < b; ++r) v += pixel[size_t(r * p + q)];
        dnoise[q] = v;
      }
    }
  }
  return info.Env().Undefined();
}

// groupNormGrad(dy, x, B, S, C, G, gamma, beta, eps, silu, dx | null, dgamma | null, dbeta | null): the gradients of
// GroupNorm (those asked for), recomputing the statistics as the forward does and, with SiLU, the pre-activation:
// d = dy · σ(y)(1 + y(1 - σ(y))) or dy; dbeta = Σ d; dgamma = Σ d·x̂; dx = rstd · (d·γ - mean_g(d·γ) - x̂ · mean_g(d·γ·x̂)).
// Rows (S = 1, LayerNorm) are independent and spread over the threads; otherwise the positions are.

inline float normD(float dy, float xh, float gamma, float beta, bool silu) {
  if (!silu) return dy;
  const float y = xh * gamma + beta;
  const float sg = 1.f / (1.f + (y >= 0.f ? expNonPositive(-y) : 1.f / expNonPositive(y)));
  return dy * sg * (1.f + y * (1.f - sg));
}

Napi::Value GroupNormGrad(const Napi::CallbackInfo& info) {
  FlushDenormals ftz;
  const std::string k = "GroupNormGrad";
  const NormDims dims = normDims(info, k, 2);
  const auto [b, s, c, g] = dims;
  const int64_t n = b * s * c, cg = c / g;
  const float* dy = floatArg(info, 0, k, "dy", n);
  const float* x = floatArg(info, 1, k, "x", n);
  const float* gamma = floatArg(info, 6, k, "gamma", c);
  const float* beta = floatArg(info, 7, k, "beta", c);
  const double eps = numArg(info, 8, k, "eps");
  const bool silu = boolArg(info, 9, k, "silu");
  float* dx = floatArg(info, 10, k, "dx", n, true);
  float* dgamma = floatArg(info, 11, k, "dgamma", c, true);
  float* dbeta = floatArg(info, 12, k, "dbeta", c, true);
  const int threads = omp_get_max_threads();
  const bool parallel = n > (1 << 16);
  const double count = double(std::max<int64_t>(1, s * cg));
  // Per (row, channel): the statistics of its group, as floats (x̂ = (x - mean) · rstd).
  std::vector<float> meanC(size_t(b * c)), rstdC(size_t(b * c));
  std::vector<double> tg(size_t(threads) * size_t(c), 0.0), tb(size_t(threads) * size_t(c), 0.0);  // per-thread dgamma, dbeta
  std::vector<double> sumD(size_t(b * c), 0.0), sumDX(size_t(b * c), 0.0);  // per (row, channel): Σ_p d, Σ_p d·x̂
  if (s == 1) {
#pragma omp parallel if (parallel)
    {
      const int t = omp_get_thread_num();
      double* pg = tg.data() + size_t(t) * size_t(c);
      double* pb = tb.data() + size_t(t) * size_t(c);
      std::vector<float> d(static_cast<size_t>(c)), xh(static_cast<size_t>(c));
#pragma omp for schedule(static)
      for (int64_t row = 0; row < b; ++row) {
        const float* xr = x + row * c;
        const float* dyr = dy + row * c;
        float* md = meanC.data() + row * c;
        float* rd = rstdC.data() + row * c;
        for (int64_t grp = 0; grp < g; ++grp) {
          double m, r;
          rowGroupStats(xr + grp * cg, cg, eps, m, r);
          for (int64_t j = grp * cg; j < (grp + 1) * cg; ++j) md[j] = float(m), rd[j] = float(r);
          double a = 0, a2 = 0;
          for (int64_t j = grp * cg; j < (grp + 1) * cg; ++j) {
            xh[size_t(j)] = (xr[j] - md[j]) * rd[j];
            d[size_t(j)] = normD(dyr[j], xh[size_t(j)], gamma[j], beta[j], silu);
            pb[j] += d[size_t(j)];
            pg[j] += double(d[size_t(j)]) * xh[size_t(j)];
            a += double(d[size_t(j)]) * gamma[j];
            a2 += double(d[size_t(j)]) * gamma[j] * xh[size_t(j)];
          }
          if (!dx) continue;
          const float ma = float(a / count), mb = float(a2 / count);
          for (int64_t j = grp * cg; j < (grp + 1) * cg; ++j) dx[row * c + j] = rd[j] * (d[size_t(j)] * gamma[j] - ma - xh[size_t(j)] * mb);
        }
      }
    }
  } else {
    std::vector<double> mean, rstd;
    groupStatistics(x, dims, eps, mean, rstd);
    for (int64_t row = 0; row < b; ++row)
      for (int64_t j = 0; j < c; ++j) meanC[size_t(row * c + j)] = float(mean[size_t(row * g + j / cg)]), rstdC[size_t(row * c + j)] = float(rstd[size_t(row * g + j / cg)]);
    // Σ_p d and Σ_p d·x̂ per (row, channel), per thread, then over the threads.
    std::vector<double> pd(size_t(threads) * size_t(b * c), 0.0), pdx(size_t(threads) * size_t(b * c), 0.0);
#pragma omp parallel if (parallel)
    {
      const int t = omp_get_thread_num();
      double* ad = pd.data() + size_t(t) * size_t(b * c);
      double* adx = pdx.data() + size_t(t) * size_t(b * c);
#pragma omp for schedule(static)
      for (int64_t rp = 0; rp < b * s; ++rp) {
        const int64_t row = rp / s;
        const float* md = meanC.data() + row * c;
        const float* rd = rstdC.data() + row * c;
        const float* xr = x + rp * c;
        const float* dyr = dy + rp * c;
        double* rowD = ad + row * c;
        double* rowDX = adx + row * c;
        for (int64_t j = 0; j < c; ++j) {
          const float xh = (xr[j] - md[j]) * rd[j];
          const float d = normD(dyr[j], xh, gamma[j], beta[j], silu);
          rowD[j] += d;
          rowDX[j] += double(d) * xh;
        }
      }
    }
    for (int t = 0; t < threads; ++t)
      for (int64_t i = 0; i < b * c; ++i) sumD[size_t(i)] += pd[size_t(t) * size_t(b * c) + size_t(i)], sumDX[size_t(i)] += pdx[size_t(t) * size_t(b * c) + size_t(i)];
    for (int64_t row = 0; row < b; ++row)
      for (int64_t j = 0; j < c; ++j) tb[size_t(j)] += sumD[size_t(row * c + j)], tg[size_t(j)] += sumDX[size_t(row * c + j)];
    if (dx) {
      std::vector<float> ma(size_t(b * c)), mb(size_t(b * c));
      for (int64_t row = 0; row < b; ++row)
        for (int64_t grp = 0; grp < g; ++grp) {
          double a = 0, a2 = 0;
          for (int64_t j = grp * cg; j < (grp + 1) * cg; ++j) a += gamma[j] * sumD[size_t(row * c + j)], a2 += gamma[j] * sumDX[size_t(row * c + j)];
          for (int64_t j = grp * cg; j < (grp + 1) * cg; ++j) ma[size_t(row * c + j)] = float(a / count), mb[size_t(row * c + j)] = float(a2 / count);
        }
#pragma omp parallel for schedule(static) if (parallel)
      for (int64_t rp = 0; rp < b * s; ++rp) {
        const int64_t row = rp / s;
        const float *md = meanC.data() + row * c, *rd = rstdC.data() + row * c, *a = ma.data() + row * c, *a2 = mb.data() + row * c;
        const float* xr = x + rp * c;
        const float* dyr = dy + rp * c;
        float* dxr = dx + rp * c;
        for (int64_t j = 0; j < c; ++j) {
          const float xh = (xr[j] - md[j]) * rd[j];
          dxr[j] = rd[j] * (normD(dyr[j], xh, gamma[j], beta[j], silu) * gamma[j] - a[j] - xh * a2[j]);
        }
      }
    }
  }
  for (int64_t j = 0; j < c; ++j) {
    double vg = 0, vb = 0;
    for (int t = 0; t < threads; ++t) vg += tg[size_t(t) * size_t(c) + size_t(j)], vb += tb[size_t(t) * size_t(c) + size_t(j)];
    if (dgamma) dgamma[j] = float(vg);
    if (dbeta) dbeta[j] = float(vb);
  }
  return info.Env().Undefined();
}

}  // namespace

void registerNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("groupNorm", Napi::Function::New(env, GroupNorm));
  exports.Set("biasAct", Napi::Function::New(env, BiasAct));
  exports.Set("biasActGrad", Napi::Function::New(env, BiasActGrad));
  exports.Set("groupNormGrad", Napi::Function::New(env, GroupNormGrad));
}

}  // namespace semedit
