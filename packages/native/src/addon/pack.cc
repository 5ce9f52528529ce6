// Data reordered into the layout a oneDNN primitive prefers: per call (Reordered), or kept for a tensor the
// JavaScript side names by an id until it releases that id (packedWeights; filters and matmul weights are immutable
// tfjs data). Every buffer is counted. Also: weights in half-width storage (bf16 or fp16 bits) and their conversions.
#include "common.h"
#ifdef __F16C__
#include <immintrin.h>
#endif

namespace semedit {

Reordered::Reordered(const dnnl::memory::desc& want, const dnnl::memory::desc& have, void* data) {
  if (want == have) {
    mem = dnnl::memory(have, cpuEngine(), data);
    return;
  }
  storage.resize(want.get_size());
  countAlloc(int64_t(storage.size()));
  mem = dnnl::memory(want, cpuEngine(), storage.data());
  dnnl::memory src(have, cpuEngine(), data);
  dnnl::reorder(src, mem).execute(cpuStream(), src, mem);
  cpuStream().wait();
}

Reordered::~Reordered() { countAlloc(-int64_t(storage.size())); }

namespace {

struct Packed {
  dnnl::memory::desc desc;
  std::vector<char> storage;
  ~Packed() { countAlloc(-int64_t(storage.size())); }
};

std::unordered_map<int64_t, std::unique_ptr<Packed>>& packedCache() {
  static std::unordered_map<int64_t, std::unique_ptr<Packed>> cache;
  return cache;
}

dnnl::memory::data_type halfType(Napi::Env env, const std::string& kernel, const Napi::Value& v) {
  const std::string f = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (f == "bf16") return dnnl::memory::data_type::bf16;
  if (f == "fp16") return dnnl::memory::data_type::f16;
  fail(env, kernel, "half-width format must be 'bf16' or 'fp16'", "E_NATIVE_ARG");
}

Napi::Uint16Array bitsArg(const Napi::CallbackInfo& info, const Napi::Value& v, const std::string& kernel, const char* name, int64_t expect) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array)
    fail(info.Env(), kernel, std::string(name) + " must be a Uint16Array (half-width bits)", "E_NATIVE_DTYPE");
  auto a = v.As<Napi::Uint16Array>();
  if (expect >= 0 && int64_t(a.ElementLength()) != expect)
    fail(info.Env(), kernel, std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, expected " + std::to_string(expect),
         "E_NATIVE_SHAPE");
  return a;
}

// Converts n values between float32 and a half-width type, rounding to nearest even. fp16 goes through the F16C
// instructions where the build has them (oneDNN 2.6 converts fp16 with a reference kernel, about 70x slower);
// everything else through a oneDNN reorder.
void convert(void* from, dnnl::memory::data_type fromType, void* to, dnnl::memory::data_type toType, int64_t n) {
  if (n == 0) return;
#ifdef __F16C__
  using dt = dnnl::memory::data_type;
  if (fromType == dt::f16 || toType == dt::f16) {
    const int64_t vecs = n / 8;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t v = 0; v < vecs; ++v) {
      if (fromType == dt::f16) {
        __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(from) + v * 8));
        _mm256_storeu_ps(static_cast<float*>(to) + v * 8, _mm256_cvtph_ps(h));
      } else {
        __m256 f = _mm256_loadu_ps(static_cast<const float*>(from) + v * 8);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(to) + v * 8), _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
      }
    }
    for (int64_t i = vecs * 8; i < n; ++i) {
      if (fromType == dt::f16) static_cast<float*>(to)[i] = _cvtsh_ss(static_cast<const uint16_t*>(from)[i]);
      else static_cast<uint16_t*>(to)[i] = _cvtss_sh(static_cast<const float*>(from)[i], _MM_FROUND_TO_NEAREST_INT);
    }
    return;
  }
#endif
  dnnl::memory src(dnnl::memory::desc({n}, fromType, dnnl::memory::format_tag::a), cpuEngine(), from);
  dnnl::memory dst(dnnl::memory::desc({n}, toType, dnnl::memory::format_tag::a), cpuEngine(), to);
  dnnl::reorder(src, dst).execute(cpuStream(), src, dst);
  cpuStream().wait();
}

// toHalf(x: Float32Array, format, bits: Uint16Array): bits = x rounded to bf16 or fp16 (fp16 saturates to ±inf
// past 65504, as a cast does).
Napi::Value ToHalf(const Napi::CallbackInfo& info) {
  const std::string k = "toHalf";
  float* x = floatArg(info, 0, k, "x", -1);
  auto type = halfType(info.Env(), k, info[1]);
  auto bits = bitsArg(info, info[2], k, "bits", int64_t(info[0].As<Napi::Float32Array>().ElementLength()));
  guarded(info.Env(), k, [&] { convert(x, dnnl::memory::data_type::f32, bits.Data(), type, int64_t(bits.ElementLength())); });
  return info.Env().Undefined();
}

// fromHalf(bits: Uint16Array, format, y: Float32Array): y = the float32 values of the bits.
Napi::Value FromHalf(const Napi::CallbackInfo& info) {
  const std::string k = "fromHalf";
  auto type = halfType(info.Env(), k, info[1]);
  float* y = floatArg(info, 2, k, "y", -1);
  auto bits = bitsArg(info, info[0], k, "bits", int64_t(info[2].As<Napi::Float32Array>().ElementLength()));
  guarded(info.Env(), k, [&] { convert(bits.Data(), type, y, dnnl::memory::data_type::f32, int64_t(bits.ElementLength())); });
  return info.Env().Undefined();
}

// detach(x: Float32Array): frees x's memory now (its buffer is detached: x reads as empty afterwards). For arrays
// the engine owns alone, whose data moved into half-width storage; the garbage collector would free them late.
Napi::Value Detach(const Napi::CallbackInfo& info) {
  floatArg(info, 0, "detach", "x", -1);
  auto buffer = info[0].As<Napi::Float32Array>().ArrayBuffer();
  if (!buffer.IsDetached()) buffer.Detach();
  return info.Env().Undefined();
}

// release(packId): drops every layout kept for that id.
Napi::Value Release(const Napi::CallbackInfo& info) {
  int64_t id = intArg(info, 0, "release", "packId");
  for (int pass = 0; pass < PACK_PASSES; ++pass) packedCache().erase(id * PACK_PASSES + pass);
  return info.Env().Undefined();
}

}  // namespace

WeightArg weightArg(const Napi::CallbackInfo& info, size_t i, const std::string& kernel, const char* name, int64_t expect) {
  Napi::Value v = info[i];
  if (v.IsTypedArray()) return {floatArg(info, i, kernel, name, expect), dnnl::memory::data_type::f32, nullptr};
  if (!v.IsObject()) fail(info.Env(), kernel, std::string(name) + " must be a Float32Array or { bits, format }", "E_NATIVE_DTYPE");
  auto o = v.As<Napi::Object>();
  auto type = halfType(info.Env(), kernel, o.Get("format"));
  uint16_t* bits = bitsArg(info, o.Get("bits"), kernel, name, expect).Data();
  if (type == dnnl::memory::data_type::bf16) return {bits, type, nullptr};
  auto wide = std::make_shared<std::vector<float>>();
  try {
    wide->resize(size_t(expect));
  } catch (const std::bad_alloc&) {
    fail(info.Env(), kernel, std::string("out of memory widening ") + name, "E_NATIVE_OOM");
  }
  countAlloc(int64_t(wide->size() * sizeof(float)));
  convert(bits, type, wide->data(), dnnl::memory::data_type::f32, expect);
  return {wide->data(), dnnl::memory::data_type::f32, wide};
}

WeightArg::~WeightArg() {
  if (wide && wide.use_count() == 1) countAlloc(-int64_t(wide->size() * sizeof(float)));
}

dnnl::memory packedWeights(int64_t id, int pass, const dnnl::memory::desc& want, const dnnl::memory::desc& have, void* data,
                           std::unique_ptr<Reordered>& temp) {
  if (want == have) return dnnl::memory(have, cpuEngine(), data);
  if (id <= 0) {
    temp = std::make_unique<Reordered>(want, have, data);
    return temp->mem;
  }
  auto& slot = packedCache()[id * PACK_PASSES + pass];
  if (!slot || !(slot->desc == want)) {
    auto p = std::make_unique<Packed>();
    p->desc = want;
    p->storage.resize(want.get_size());
    countAlloc(int64_t(p->storage.size()));
    dnnl::memory src(have, cpuEngine(), data), dst(want, cpuEngine(), p->storage.data());
    dnnl::reorder(src, dst).execute(cpuStream(), src, dst);
    cpuStream().wait();
    slot = std::move(p);
  }
  return dnnl::memory(want, cpuEngine(), slot->storage.data());
}

void registerPack(Napi::Env env, Napi::Object exports) {
  exports.Set("release", Napi::Function::New(env, Release));
  exports.Set("toHalf", Napi::Function::New(env, ToHalf));
  exports.Set("fromHalf", Napi::Function::New(env, FromHalf));
  exports.Set("detach", Napi::Function::New(env, Detach));
}

}  // namespace semedit
