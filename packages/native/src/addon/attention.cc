// Blocked multi-head attention softmax(q kᵀ · scale + bias) v that never holds more than one block of scores per
// thread: each task takes one (batch row, head, block of queries), computes its scores against every key, the
// softmax and the product with v, in a per-thread buffer. Heads are read in place from the [B, N, C] layout
// (channels = heads × d, as diffusers' to_q/to_k/to_v produce them): no transposes.
#include "common.h"
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace semedit {
namespace {

constexpr int64_t QUERY_BLOCK = 128;

// attention(q, k, v, bias | null, biasRows, B, Nq, Nk, C, heads, scale, y): q [B, Nq, C], k and v [B, Nk, C],
// bias [biasRows (1 or B), Nq, Nk], y [B, Nq, C].
Napi::Value Attention(const Napi::CallbackInfo& info) {
  FlushDenormals ftz;
  const std::string k = "Attention";
  int64_t b = intArg(info, 5, k, "batch"), nq = intArg(info, 6, k, "queries"), nk = intArg(info, 7, k, "keys");
  int64_t c = intArg(info, 8, k, "channels"), heads = intArg(info, 9, k, "heads");
  float scale = float(numArg(info, 10, k, "scale"));
  if (b < 0 || nq < 0 || nk < 1 || c < 1 || heads < 1 || c % heads != 0)
    fail(info.Env(), k, "bad dimensions (batch " + std::to_string(b) + ", queries " + std::to_string(nq) + ", keys " + std::to_string(nk) +
                            ", channels " + std::to_string(c) + ", heads " + std::to_string(heads) + ")", "E_NATIVE_SHAPE");
  const float* q = floatArg(info, 0, k, "q", b * nq * c);
  const float* kk = floatArg(info, 1, k, "k", b * nk * c);
  const float* v = floatArg(info, 2, k, "v", b * nk * c);
  int64_t biasRows = intArg(info, 4, k, "biasRows");
  const float* bias = floatArg(info, 3, k, "bias", biasRows * nq * nk, true);
  if (bias && biasRows != 1 && biasRows != b) fail(info.Env(), k, "bias rows must be 1 or the batch", "E_NATIVE_SHAPE");
  float* y = floatArg(info, 11, k, "y", b * nq * c);
  const int64_t d = c / heads, blocks = (nq + QUERY_BLOCK - 1) / QUERY_BLOCK, tasks = b * heads * blocks;
  const int threads = omp_get_max_threads();
  const size_t scratch = size_t(threads) * size_t(QUERY_BLOCK * nk) * sizeof(float);
  std::vector<float> buffers;
  try {
    buffers.resize(size_t(threads) * size_t(QUERY_BLOCK * nk));
  } catch (const std::bad_alloc&) {
    fail(info.Env(), k, "out of memory for the score blocks", "E_NATIVE_OOM");
  }
  countAlloc(int64_t(scratch));
  int status = 0;
#pragma omp parallel for schedule(dynamic, 1) if (b * heads * nq * nk * d > (1 << 20))
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t row = t / (heads * blocks), head = (t / blocks) % heads, q0 = (t % blocks) * QUERY_BLOCK;
    const int64_t rows = std::min(QUERY_BLOCK, nq - q0);
    float inv[QUERY_BLOCK];
    float* s = buffers.data() + size_t(omp_get_thread_num()) * size_t(QUERY_BLOCK * nk);
    const float* qb = q + (row * nq + q0) * c + head * d;
    const float* kb = kk + row * nk * c + head * d;
    const float* vb = v + row * nk * c + head * d;
    // s = scale · q_blk kᵀ  ([rows, d] × [d, Nk], row-major, k read as [Nk, d] with stride C)
    if (dnnl_sgemm('N', 'T', rows, nk, d, scale, qb, c, kb, c, 0.f, s, nk) != dnnl_success) status = 1;
    for (int64_t i = 0; i < rows; ++i) {
      float* si = s + i * nk;
      if (bias) {
        const float* bi = bias + ((biasRows == 1 ? 0 : row) * nq + q0 + i) * nk;
        for (int64_t j = 0; j < nk; ++j) si[j] += bi[j];
      }
      float mx = rowMax(si, nk);
      if (!std::isfinite(mx)) mx = 0.f;  // a row of -inf (fully masked) gives NaN as the reference does, below
      float sum = 0.f;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < nk; ++j) {
        const float e = expNonPositive(si[j] - mx);
        si[j] = e;
        sum += e;
      }
      inv[i] = 1.f / sum;
    }
    // y_blk = p v  ([rows, Nk] × [Nk, d]), written in place into y's [B, Nq, C] layout
    // the rows are normalized after the product: d multiplies a row instead of Nk
    float* yb = y + (row * nq + q0) * c + head * d;
    if (dnnl_sgemm('N', 'N', rows, d, nk, 1.f, s, nk, vb, c, 0.f, yb, c) != dnnl_success) status = 1;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < d; ++j) yb[i * c + j] *= inv[i];
  }
  countAlloc(-int64_t(scratch));
  if (status) fail(info.Env(), k, "dnnl_sgemm failed", "E_NATIVE_DNNL");
  return info.Env().Undefined();
}

}  // namespace

void registerAttention(Napi::Env env, Napi::Object exports) { exports.Set("attention", Napi::Function::New(env, Attention)); }

}  // namespace semedit
