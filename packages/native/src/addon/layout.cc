// Data-movement kernels: Concat, nearest-neighbour resize, and PadV2 / Slice as copies of a box of elements between
// two row-major arrays (one memcpy per innermost row, rows in parallel).
#include "common.h"
#include <cstring>

namespace semedit {
namespace {

// concat(xs, widths, rows, y): y [rows, Σ widths] from xs[i] [rows, widths[i]] (tfjs's Concat along any axis,
// viewed as 2-D: rows = the product of the dimensions before the axis). Rows are copied in parallel.
Napi::Value Concat(const Napi::CallbackInfo& info) {
  const std::string k = "Concat";
  if (!info[0].IsArray()) fail(info.Env(), k, "xs must be an array of Float32Arrays");
  auto arr = info[0].As<Napi::Array>();
  dims_t widths = dimsArg(info, 1, k, "widths", int64_t(arr.Length()), -1);  // one per input, any number of them
  int64_t rows = intArg(info, 2, k, "rows"), total = 0;
  if (rows < 0) fail(info.Env(), k, "rows must be >= 0", "E_NATIVE_SHAPE");
  std::vector<const float*> xs(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      fail(info.Env(), k, "xs[" + std::to_string(i) + "] must be a Float32Array (float32 tensor data)", "E_NATIVE_DTYPE");
    auto a = v.As<Napi::Float32Array>();
    if (int64_t(a.ElementLength()) != rows * widths[i])
      fail(info.Env(), k, "xs[" + std::to_string(i) + "] has " + std::to_string(a.ElementLength()) + " elements, its shape needs " +
                              std::to_string(rows * widths[i]), "E_NATIVE_SHAPE");
    xs[i] = a.Data();
    total += widths[i];
  }
  float* y = floatArg(info, 3, k, "y", rows * total);
#pragma omp parallel for schedule(static) if (rows * total > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = y + r * total;
    for (size_t i = 0; i < xs.size(); ++i) {
      std::memcpy(dst, xs[i] + r * widths[i], size_t(widths[i]) * sizeof(float));
      dst += widths[i];
    }
  }
  return info.Env().Undefined();
}

// resizeNearest(x, [B, H, W, C], rows, cols, y): y[b, r, c, :] = x[b, rows[r], cols[c], :] (NHWC nearest-neighbour
// resize; the caller computes the source indices with tfjs's rounding rules). Output rows are copied in parallel.
Napi::Value ResizeNearest(const Napi::CallbackInfo& info) {
  const std::string k = "ResizeNearestNeighbor";
  dims_t xs = dimsArg(info, 1, k, "xShape", 4);
  const float* x = floatArg(info, 0, k, "x", product(xs));
  auto indices = [&](size_t i, const char* name, int64_t bound) {
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      fail(info.Env(), k, std::string(name) + " must be an Int32Array", "E_NATIVE_DTYPE");
    auto a = info[i].As<Napi::Int32Array>();
    for (size_t j = 0; j < a.ElementLength(); ++j)
      if (a[j] < 0 || a[j] >= bound) fail(info.Env(), k, std::string(name) + "[" + std::to_string(j) + "] is outside the input", "E_NATIVE_SHAPE");
    return a;
  };
  auto rows = indices(2, "rows", xs[1]);
  auto cols = indices(3, "cols", xs[2]);
  const int64_t b = xs[0], c = xs[3], oh = int64_t(rows.ElementLength()), ow = int64_t(cols.ElementLength());
  float* y = floatArg(info, 4, k, "y", b * oh * ow * c);
  const int32_t* r = rows.Data();
  const int32_t* cl = cols.Data();
#pragma omp parallel for schedule(static) if (b * oh * ow * c > (1 << 16))
  for (int64_t br = 0; br < b * oh; ++br) {
    const float* src = x + ((br / oh) * xs[1] + r[br % oh]) * xs[2] * c;
    float* dst = y + br * ow * c;
    for (int64_t j = 0; j < ow; ++j) std::memcpy(dst + j * c, src + int64_t(cl[j]) * c, size_t(c) * sizeof(float));
  }
  return info.Env().Undefined();
}

// Copies the box `box` (a shape) from src at `from` to dst at `to` (per-axis offsets); src and dst are row-major
// with shapes srcShape and dstShape. Trailing axes the box spans whole in both arrays are merged into the rows.
void copyBox(const float* src, const dims_t& srcShape, const dims_t& from, float* dst, const dims_t& dstShape, const dims_t& to, const dims_t& box) {
  const size_t r = box.size();
  if (r == 0) {
    dst[0] = src[0];
    return;
  }
  size_t inner = r - 1;
  int64_t rowLen = box[inner];
  while (inner > 0 && box[inner] == srcShape[inner] && box[inner] == dstShape[inner] && from[inner] == 0 && to[inner] == 0) {
    --inner;
    rowLen *= box[inner];
  }
  dims_t sStride(r), dStride(r);
  for (int64_t i = int64_t(r) - 1, ss = 1, ds = 1; i >= 0; --i) sStride[i] = ss, dStride[i] = ds, ss *= srcShape[i], ds *= dstShape[i];
  int64_t rows = 1;
  for (size_t i = 0; i < inner; ++i) rows *= box[i];
#pragma omp parallel for schedule(static) if (rows * rowLen > (1 << 16))
  for (int64_t row = 0; row < rows; ++row) {
    int64_t so = from[inner] * sStride[inner], dOff = to[inner] * dStride[inner], rem = row;
    for (int64_t i = int64_t(inner) - 1; i >= 0; --i) {
      const int64_t idx = rem % box[i];
      rem /= box[i];
      so += (idx + from[i]) * sStride[i];
      dOff += (idx + to[i]) * dStride[i];
    }
    std::memcpy(dst + dOff, src + so, size_t(rowLen) * sizeof(float));
  }
}

// pad(x, xShape, before, after, value, y): y = x padded with `value` (tfjs's PadV2, constant mode).
Napi::Value Pad(const Napi::CallbackInfo& info) {
  const std::string k = "PadV2";
  dims_t xs = dimsArg(info, 1, k, "xShape");
  dims_t before = dimsArg(info, 2, k, "before", int64_t(xs.size())), after = dimsArg(info, 3, k, "after", int64_t(xs.size()));
  const float value = float(numArg(info, 4, k, "value"));
  dims_t ys(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    if (before[i] < 0 || after[i] < 0) fail(info.Env(), k, "paddings must be >= 0", "E_NATIVE_ARG");
    ys[i] = xs[i] + before[i] + after[i];
  }
  const float* x = floatArg(info, 0, k, "x", product(xs));
  float* y = floatArg(info, 5, k, "y", product(ys));
  const int64_t n = product(ys);
#pragma omp parallel for simd schedule(static) if (n > (1 << 17))
  for (int64_t i = 0; i < n; ++i) y[i] = value;
  if (product(xs) > 0) copyBox(x, xs, dims_t(xs.size(), 0), y, ys, before, xs);
  return info.Env().Undefined();
}

// slice(x, xShape, begin, size, y): y = x[begin : begin + size] along every axis.
Napi::Value Slice(const Napi::CallbackInfo& info) {
  const std::string k = "Slice";
  dims_t xs = dimsArg(info, 1, k, "xShape");
  dims_t begin = dimsArg(info, 2, k, "begin", int64_t(xs.size())), size = dimsArg(info, 3, k, "size", int64_t(xs.size()));
  for (size_t i = 0; i < xs.size(); ++i)
    if (begin[i] < 0 || size[i] < 0 || begin[i] + size[i] > xs[i])
      fail(info.Env(), k, "slice [" + std::to_string(begin[i]) + ", +" + std::to_string(size[i]) + ") of axis " + std::to_string(i) + " is outside " + shapeText(xs),
           "E_NATIVE_SHAPE");
  const float* x = floatArg(info, 0, k, "x", product(xs));
  float* y = floatArg(info, 4, k, "y", product(size));
  if (product(size) > 0) copyBox(x, xs, begin, y, size, dims_t(xs.size(), 0), size);
  return info.Env().Undefined();
}

}  // namespace

void registerLayout(Napi::Env env, Napi::Object exports) {
  exports.Set("concat", Napi::Function::New(env, Concat));
  exports.Set("resizeNearest", Napi::Function::New(env, ResizeNearest));
  exports.Set("pad", Napi::Function::New(env, Pad));
  exports.Set("slice", Napi::Function::New(env, Slice));
}

}  // namespace semedit
