"""PyTorch (CPU) baseline for bench/sd-kernels.ts.

Reads the case list (shapes, warmup and repetitions, chosen by the TypeScript side so both use the same ones) as
JSON from argv[1], times each case the same way (warmup runs, then the median of the timed runs) and prints one JSON
object on stdout. Thread count: whatever OMP_NUM_THREADS says (the bench sets it to the core count; PyTorch's own
default is half the cores).

Layouts are PyTorch's own: NCHW activations and OIHW kernels for conv and GroupNorm (what a diffusers UNet runs), so
each figure is what PyTorch does at that layer, not a port of our NHWC code.

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch_kernels.py '{"cases": [...]}'
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def make_case(c):
    """Returns a no-argument function that runs case `c` once (inputs created here, outside the timing)."""
    kind = c["kind"]
    if kind == "conv":
        x = torch.randn(c["batch"], c["cin"], c["h"], c["w"])
        w = torch.randn(c["cout"], c["cin"], c["k"], c["k"]) * 0.02
        b = torch.zeros(c["cout"])
        pad = c["k"] // 2
        return lambda: F.conv2d(x, w, b, padding=pad)
    if kind == "matmul":
        a = torch.randn(c["m"], c["k"])
        b = torch.randn(c["k"], c["n"])
        return lambda: a @ b
    if kind == "attention":
        # diffusers' AttnProcessor: heads folded into the batch, scores = baddbmm(q, kᵀ) · scale, softmax, bmm with v.
        bsz, n, ch, heads = c["batch"], c["tokens"], c["channels"], c["heads"]
        d = ch // heads
        q, k, v = (torch.randn(bsz, n, ch) for _ in range(3))

        def fold(t):
            return t.reshape(bsz, n, heads, d).permute(0, 2, 1, 3).reshape(bsz * heads, n, d)

        def run():
            qh, kh, vh = fold(q), fold(k), fold(v)
            empty = torch.empty(bsz * heads, n, n)
            probs = torch.baddbmm(empty, qh, kh.transpose(1, 2), beta=0, alpha=d ** -0.5).softmax(dim=-1)
            out = torch.bmm(probs, vh)
            return out.reshape(bsz, heads, n, d).permute(0, 2, 1, 3).reshape(bsz, n, ch)

        return run
    if kind == "groupnorm":
        x = torch.randn(c["batch"], c["channels"], c["h"], c["w"])
        g = torch.ones(c["channels"])
        b = torch.zeros(c["channels"])
        return lambda: F.group_norm(x, c["groups"], g, b, eps=c["eps"])
    raise ValueError(f"unknown case kind {kind!r}")


def time_case(c):
    fn = make_case(c)
    for _ in range(c["warmup"]):
        fn()
    ms = []
    for _ in range(c["reps"]):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    return {"id": c["id"], "medianMs": statistics.median(ms), "minMs": min(ms), "reps": len(ms)}


def blas_libraries():
    """The BLAS/LAPACK shared libraries this process has loaded (resolved paths): Debian's torch calls whatever
    libblas.so.3 the alternatives system points at, the reference BLAS unless OpenBLAS or BLIS is installed."""
    found = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if "blas" in path.lower() or "blis" in path.lower():
                    found.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(found)


def main():
    spec = json.loads(sys.argv[1])
    torch.manual_seed(0)
    with torch.inference_mode():
        results = [time_case(c) for c in spec["cases"]]
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "ompNumThreads": os.environ.get("OMP_NUM_THREADS"),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "blas": blas_libraries(),
        "results": results,
    }))


if __name__ == "__main__":
    main()
