// Module entry of the native engine: engine and stream, argument helpers, threads, memory counters, version.
#include "common.h"
#include <omp.h>
#include <oneapi/dnnl/dnnl_version.h>
#include <sstream>
#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

namespace semedit {

namespace {
std::atomic<int64_t> g_bytes{0};
std::atomic<int64_t> g_peak{0};
}  // namespace

dnnl::engine& cpuEngine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& cpuStream() {
  static dnnl::stream s(cpuEngine());
  return s;
}

#if defined(__x86_64__) || defined(_M_X64)
FlushDenormals::FlushDenormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | 0x8040); }
FlushDenormals::~FlushDenormals() { _mm_setcsr(saved); }
void flushDenormalsOnWorkers() {
  const unsigned master = _mm_getcsr();
#pragma omp parallel
  _mm_setcsr(_mm_getcsr() | 0x8040);
  _mm_setcsr(master);
}
#else
FlushDenormals::FlushDenormals() : saved(0) {}
FlushDenormals::~FlushDenormals() {}
void flushDenormalsOnWorkers() {}
#endif

void countAlloc(int64_t bytes) {
  int64_t now = g_bytes.fetch_add(bytes) + bytes;
  int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}
int64_t allocatedBytes() { return g_bytes.load(); }

bool& bf16Compute() {
  static bool on = false;
  return on;
}
namespace {
struct Work {
  std::unique_ptr<char[]> data;
  size_t bytes = 0;
};
Work g_work[WORK_SLOTS];
}  // namespace

char* workspace(WorkSlot slot, size_t bytes) {
  Work& w = g_work[slot];
  if (bytes > w.bytes) {
    w.data.reset();  // the old buffer goes before the larger one is taken
    w.bytes = 0;
    w.data.reset(new char[bytes]);
    w.bytes = bytes;
  }
  return w.data.get();
}

int64_t workspaceBytes() {
  int64_t n = 0;
  for (const Work& w : g_work) n += int64_t(w.bytes);
  return n;
}

bool& winogradEnabled() {
  static bool on = true;
  return on;
}
int64_t peakBytes() { return g_peak.load(); }

void fail(Napi::Env env, const std::string& kernel, const std::string& what, const char* code) {
  Napi::Error err = Napi::Error::New(env, "[native " + kernel + "] " + what);
  err.Set("code", Napi::String::New(env, code));
  err.Set("kernel", Napi::String::New(env, kernel));
  throw err;
}

int64_t product(const dims_t& d) {
  int64_t p = 1;
  for (int64_t v : d) p *= v;
  return p;
}

std::string shapeText(const dims_t& d) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < d.size(); ++i) s << (i ? "," : "") << d[i];
  s << "]";
  return s.str();
}

float* floatArg(const Napi::CallbackInfo& info, size_t i, const std::string& kernel, const char* name, int64_t expect,
                bool optional) {
  Napi::Value v = info[i];
  if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    fail(info.Env(), kernel, std::string(name) + " must be a Float32Array (float32 tensor data)", "E_NATIVE_DTYPE");
  auto a = v.As<Napi::Float32Array>();
  if (expect >= 0 && int64_t(a.ElementLength()) != expect)
    fail(info.Env(), kernel,
         std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, its shape needs " + std::to_string(expect),
         "E_NATIVE_SHAPE");
  return a.Data();
}

dims_t dimsArg(const Napi::CallbackInfo& info, size_t i, const std::string& kernel, const char* name, int64_t len, int64_t maxLen) {
  Napi::Value v = info[i];
  if (!v.IsArray()) fail(info.Env(), kernel, std::string(name) + " must be an array of integers");
  auto a = v.As<Napi::Array>();
  if (len >= 0 && int64_t(a.Length()) != len)
    fail(info.Env(), kernel, std::string(name) + " must have " + std::to_string(len) + " entries, got " + std::to_string(a.Length()),
         "E_NATIVE_SHAPE");
  if (maxLen >= 0 && int64_t(a.Length()) > maxLen) fail(info.Env(), kernel, std::string(name) + " has rank above " + std::to_string(maxLen), "E_NATIVE_SHAPE");
  dims_t out(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value e = a.Get(k);
    if (!e.IsNumber()) fail(info.Env(), kernel, std::string(name) + "[" + std::to_string(k) + "] is not a number");
    double d = e.As<Napi::Number>().DoubleValue();
    if (d != double(int64_t(d)) || d < 0) fail(info.Env(), kernel, std::string(name) + "[" + std::to_string(k) + "] is not a non-negative integer");
    out[k] = int64_t(d);
  }
  return out;
}

int64_t intArg(const Napi::CallbackInfo& info, size_t i, const std::string& kernel, const char* name) {
  if (!info[i].IsNumber()) fail(info.Env(), kernel, std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int64Value();
}
double numArg(const Napi::CallbackInfo& info, size_t i, const std::string& kernel, const char* name) {
  if (!info[i].IsNumber()) fail(info.Env(), kernel, std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}
bool boolArg(const Napi::CallbackInfo& info, size_t i, const std::string& kernel, const char* name) {
  if (!info[i].IsBoolean()) fail(info.Env(), kernel, std::string(name) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

bool appendActivation(dnnl::post_ops& ops, int64_t act, float alpha) {
  using A = dnnl::algorithm;
  switch (act) {
    case ACT_NONE: return true;
    case ACT_RELU: ops.append_eltwise(1.f, A::eltwise_relu, 0.f, 0.f); return true;
    case ACT_RELU6: ops.append_eltwise(1.f, A::eltwise_clip, 0.f, 6.f); return true;
    case ACT_ELU: ops.append_eltwise(1.f, A::eltwise_elu, 1.f, 0.f); return true;
    case ACT_LEAKY: ops.append_eltwise(1.f, A::eltwise_relu, alpha, 0.f); return true;
    case ACT_SIGMOID: ops.append_eltwise(1.f, A::eltwise_logistic, 0.f, 0.f); return true;
    case ACT_SILU: ops.append_eltwise(1.f, A::eltwise_swish, 1.f, 0.f); return true;
    default: return false;
  }
}

namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dnnl_version_t* v = dnnl_version();
  Napi::Object o = Napi::Object::New(env);
  o.Set("onednn", Napi::String::New(env, std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch)));
  o.Set("isa", Napi::String::New(env, [] {
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
      case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
      case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
      case dnnl::cpu_isa::avx512_core: return "avx512_core";
      case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
      case dnnl::cpu_isa::avx2: return "avx2";
      case dnnl::cpu_isa::avx: return "avx";
      case dnnl::cpu_isa::sse41: return "sse41";
      default: return "other";
    }
  }()));
  o.Set("threads", Napi::Number::New(env, omp_get_max_threads()));
  o.Set("runtime", Napi::String::New(env, "openmp"));
  o.Set("precision", Napi::String::New(env, bf16Compute() ? "bf16" : "fp32"));
  o.Set("winograd", Napi::Boolean::New(env, winogradEnabled()));
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int64_t n = intArg(info, 0, "setThreads", "threads");
  if (n < 1 || n > 1024) fail(info.Env(), "setThreads", "threads must be in [1, 1024], got " + std::to_string(n), "E_NATIVE_ARG");
  omp_set_num_threads(int(n));
  flushDenormalsOnWorkers();
  return info.Env().Undefined();
}

// setPrecision('fp32' | 'bf16'): bf16 needs a CPU with AVX512-BF16 (or AMX).
Napi::Value SetPrecision(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) fail(info.Env(), "setPrecision", "precision must be 'fp32' or 'bf16'");
  std::string p = info[0].As<Napi::String>().Utf8Value();
  if (p != "fp32" && p != "bf16") fail(info.Env(), "setPrecision", "unknown precision '" + p + "' (fp32, bf16)");
  if (p == "bf16") {
    auto isa = dnnl::get_effective_cpu_isa();
    if (isa != dnnl::cpu_isa::avx512_core_bf16 && isa != dnnl::cpu_isa::avx512_core_amx)
      fail(info.Env(), "setPrecision", "bf16 compute needs a CPU with AVX512-BF16 or AMX", "E_NATIVE_UNSUPPORTED");
  }
  bf16Compute() = p == "bf16";
  return info.Env().Undefined();
}

// setWinograd(on): whether 3x3 stride-1 convolutions may run as Winograd (faster, ~4e-6 relative difference).
Napi::Value SetWinograd(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) fail(info.Env(), "setWinograd", "expects a boolean");
  winogradEnabled() = info[0].As<Napi::Boolean>().Value();
  return info.Env().Undefined();
}

// releaseWorkspace(): frees the work buffers kept between calls (the next kernel that needs one takes it again).
Napi::Value ReleaseWorkspace(const Napi::CallbackInfo& info) {
  for (Work& w : g_work) {
    w.data.reset();
    w.bytes = 0;
  }
  return info.Env().Undefined();
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytes", Napi::Number::New(env, double(allocatedBytes())));
  o.Set("peakBytes", Napi::Number::New(env, double(peakBytes())));
  o.Set("workspaceBytes", Napi::Number::New(env, double(workspaceBytes())));
  return o;
}

Napi::Object InitImpl(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("memory", Napi::Function::New(env, Memory));
  exports.Set("setPrecision", Napi::Function::New(env, SetPrecision));
  exports.Set("setWinograd", Napi::Function::New(env, SetWinograd));
  exports.Set("releaseWorkspace", Napi::Function::New(env, ReleaseWorkspace));
  registerPack(env, exports);
  registerConv(env, exports);
  registerMatmul(env, exports);
  registerEltwise(env, exports);
  registerReduce(env, exports);
  registerAttention(env, exports);
  registerNorm(env, exports);
  registerLayout(env, exports);
  return exports;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports);
Napi::Object Init(Napi::Env env, Napi::Object exports) { return InitImpl(env, exports); }

}  // namespace semedit

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return semedit::Init(env, exports); }

NODE_API_MODULE(semedit_native, InitModule)
