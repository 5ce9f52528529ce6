// Shared helpers of the native engine: argument checking that turns bad input into a JavaScript error (never a
// crash), oneDNN engine/stream singletons, and the counter of the addon's own allocations.
#pragma once
#include <napi.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <memory>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace semedit {

using dims_t = std::vector<int64_t>;

dnnl::engine& cpuEngine();
dnnl::stream& cpuStream();

// Bytes the addon holds for itself (oneDNN scratchpads, packed weights); read by memory().
void countAlloc(int64_t bytes);
int64_t allocatedBytes();
int64_t peakBytes();

// A typed error message with the kernel's name, thrown as a JavaScript Error whose `code` is given.
[[noreturn]] void fail(Napi::Env env, const std::string& kernel, const std::string& what, const char* code = "E_NATIVE_ARG");

// A Float32Array argument (or null when `optional`), with its element count checked against `expect` (< 0: any).
float* floatArg(const Napi::CallbackInfo& info, size_t i, const std::string& kernel, const char* name, int64_t expect,
                bool optional = false);
// An array of non-negative integers argument (a shape, strides, ...), with its length checked when `len` >= 0 and
// bounded by `maxLen` (oneDNN's largest rank by default; < 0: unbounded, for lists that are not shapes).
dims_t dimsArg(const Napi::CallbackInfo& info, size_t i, const std::string& kernel, const char* name, int64_t len = -1,
               int64_t maxLen = DNNL_MAX_NDIMS);
int64_t intArg(const Napi::CallbackInfo& info, size_t i, const std::string& kernel, const char* name);
// A filter or weight-matrix operand: a Float32Array, or weights kept in half-width storage as
// { bits: Uint16Array, format: 'bf16' | 'fp16' } (see toHalf). Its element count is checked against `expect`.
// fp16 bits are widened to a float32 copy owned here (oneDNN 2.6 reorders fp16 with a slow reference kernel);
// bf16 bits are read by oneDNN directly.
struct WeightArg {
  void* data;
  dnnl::memory::data_type type;
  std::shared_ptr<std::vector<float>> wide;
  ~WeightArg();
};
WeightArg weightArg(const Napi::CallbackInfo& info, size_t i, const std::string& kernel, const char* name, int64_t expect);
double numArg(const Napi::CallbackInfo& info, size_t i, const std::string& kernel, const char* name);
bool boolArg(const Napi::CallbackInfo& info, size_t i, const std::string& kernel, const char* name);
int64_t product(const dims_t& d);
std::string shapeText(const dims_t& d);

// Denormal floats flushed to zero (FTZ, DAZ) while a kernel runs, on the calling thread, as inference engines do:
// arithmetic on denormals is about 100x slower on x86. The OpenMP workers are set once (setThreads); the calling
// thread is JavaScript's, whose floating-point mode is restored when the kernel returns.
struct FlushDenormals {
  unsigned saved;
  FlushDenormals();
  ~FlushDenormals();
};
// Sets FTZ/DAZ on every OpenMP worker (called when the pool is sized).
void flushDenormalsOnWorkers();

// Runs a oneDNN call and rethrows its errors as JavaScript errors naming the kernel.
template <typename F>
void guarded(Napi::Env env, const std::string& kernel, F&& f) {
  FlushDenormals ftz;
  try {
    f();
  } catch (const dnnl::error& e) {
    fail(env, kernel, std::string("oneDNN: ") + e.what() + " (status " + std::to_string(int(e.status)) + ")", "E_NATIVE_DNNL");
  } catch (const std::bad_alloc&) {
    fail(env, kernel, "out of memory", "E_NATIVE_OOM");
  }
}

// exp(x) for x <= 0 (softmax arguments), to about 2e-7 relative: 2^n · p(r), p a degree-6 minimax polynomial of
// 2^r on [-0.5, 0.5]. Written so that the compiler vectorizes the loop that calls it.
inline float expNonPositive(float x) {
  x = std::max(x, -87.0f);
  const float t = x * 1.4426950408889634f;
  const float n = (t + 12582912.0f) - 12582912.0f;  // round to nearest
  const float r = t - n;
  float p = 1.5353362e-4f;
  p = p * r + 1.3398874e-3f;
  p = p * r + 9.6184374e-3f;
  p = p * r + 5.5503325e-2f;
  p = p * r + 2.4022648e-1f;
  p = p * r + 6.9314720e-1f;
  p = p * r + 1.0f;
  int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// The largest of n floats (-inf for n = 0; NaNs are skipped, and give NaN later through the exponentials). Spread
// over 64 lanes so that the compiler vectorizes it: a std::max chain does not vectorize and costs 4 cycles a float.
inline float rowMax(const float* x, int64_t n) {
  constexpr int LANES = 64;
  float m[LANES];
  for (int l = 0; l < LANES; ++l) m[l] = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int l = 0; l < LANES; ++l) m[l] = x[j + l] > m[l] ? x[j + l] : m[l];
  float mx = m[0];
  for (int l = 1; l < LANES; ++l) mx = m[l] > mx ? m[l] : mx;
  for (; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
  return mx;
}

// A post-op activation code shared with the TypeScript side (kernels/activation.ts).
enum Activation { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU6 = 2, ACT_ELU = 3, ACT_LEAKY = 4, ACT_SIGMOID = 5, ACT_SILU = 6 };
// Appends the activation as an eltwise post-op; returns false for an unknown code.
bool appendActivation(dnnl::post_ops& ops, int64_t act, float alpha);

// A primitive attribute with a user-managed scratchpad, so the addon can allocate (and count) it.
inline dnnl::primitive_attr userScratchpad() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

// Work buffers kept between kernel calls, one per use inside a call, each at the largest size asked so far and never
// zero-filled: a Winograd convolution's scratchpad alone is 650 MB at 512 channels and 256x256, and allocating it
// per call (page faults, zeroing) cost more than the convolution. Kernels run one at a time on the JavaScript
// thread. Counted apart from the addon's other bytes (workspaceBytes) and freed by releaseWorkspace.
enum WorkSlot { WORK_SCRATCHPAD = 0, WORK_SRC = 1, WORK_DST = 2, WORK_SLOTS = 3 };
char* workspace(WorkSlot slot, size_t bytes);
int64_t workspaceBytes();

// Executes primitive P of descriptor `pd` with its scratchpad in the workspace.
template <typename P, typename PD>
void execute(const PD& pd, std::unordered_map<int, dnnl::memory> args) {
  size_t bytes = pd.scratchpad_desc().get_size();
  if (bytes) args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(pd.scratchpad_desc(), cpuEngine(), workspace(WORK_SCRATCHPAD, bytes));
  P(pd).execute(cpuStream(), args);
  cpuStream().wait();
}

// Data reordered into another layout for one call (counted while it lives).
struct Reordered {
  dnnl::memory mem;
  std::vector<char> storage;
  Reordered(const dnnl::memory::desc& want, const dnnl::memory::desc& have, void* data);
  ~Reordered();
};

// Which use of a tensor a kept layout is for.
enum PackPass { PACK_CONV_FORWARD = 0, PACK_CONV_BACKWARD_DATA = 1, PACK_MATMUL_B = 2, PACK_CONV_WINOGRAD = 3, PACK_PASSES = 4 };

// `have` (at `data`) in layout `want`: the kept copy for (id, pass), made now if needed (id > 0), or a per-call
// reorder held by `temp` (id 0), or the data itself when the layouts agree.
dnnl::memory packedWeights(int64_t id, int pass, const dnnl::memory::desc& want, const dnnl::memory::desc& have, void* data,
                           std::unique_ptr<Reordered>& temp);

// Whether convolutions and matmuls compute in bf16 (fp32 accumulation, fp32 outputs); set by setPrecision.
bool& bf16Compute();

// Whether 3x3 stride-1 convolutions may run as Winograd (conv.cc); set by setWinograd, on by default.
bool& winogradEnabled();

void registerPack(Napi::Env env, Napi::Object exports);
void registerConv(Napi::Env env, Napi::Object exports);
void registerMatmul(Napi::Env env, Napi::Object exports);
void registerEltwise(Napi::Env env, Napi::Object exports);
void registerReduce(Napi::Env env, Napi::Object exports);
void registerAttention(Napi::Env env, Napi::Object exports);
void registerNorm(Napi::Env env, Napi::Object exports);
void registerLayout(Napi::Env env, Napi::Object exports);

}  // namespace semedit
