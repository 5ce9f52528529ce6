// Data reordered into the layout a oneDNN primitive prefers: per call (Reordered), or kept for a tensor the
// JavaScript side names by an id until it releases that id (packedWeights; filters and matmul weights are immutable
// tfjs data). Every buffer is counted.
#include "common.h"

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

// release(packId): drops every layout kept for that id.
Napi::Value Release(const Napi::CallbackInfo& info) {
  int64_t id = intArg(info, 0, "release", "packId");
  for (int pass = 0; pass < PACK_PASSES; ++pass) packedCache().erase(id * PACK_PASSES + pass);
  return info.Env().Undefined();
}

}  // namespace

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

void registerPack(Napi::Env env, Napi::Object exports) { exports.Set("release", Napi::Function::New(env, Release)); }

}  // namespace semedit
