"""The bench's StyleGAN2 cases on shared random weights: `stylegan2-1024` (synthesis W+ -> image, noise 'const') and
`styleclip-step` (one StyleCLIP latent-optimization step: synthesis, CLIP ViT image tower, backprop to the latent,
Adam update, then the returned image's synthesis). `setup` makes the weights, inputs and PyTorch's outputs that our
TypeScript side loads with its own loaders; `time` times PyTorch on them.

    /usr/bin/python3 bench/baselines/stylegan2_cases.py setup --spec JSON [--cache DIR]
    /usr/bin/python3 bench/baselines/stylegan2_cases.py time --case NAME [--cache DIR] [--reps N] [--warmup N]
        [--threads N] [--modconv fused|unfused]

The spec (written by bench/lib/gan-baselines.ts, so both sides share one definition) names the case, the flat
StyleGAN2 config (stylegan2-ada kwarg names), `truncation_psi`, `noise_strength`, `seed`, `modconv` (the modulated
conv path PyTorch runs: `fused`, per-sample weights as the reference runs inference, for stylegan2-1024; `unfused`,
scaled activations, for styleclip-step, where it spares the weight-gradient conv of every layer in the backward
pass and keeps the float32 gradient at float64's, which the fused path's is not), and for styleclip-step the CLIPConfig,
the token ids and the optimization settings (`steps`, `lr`, `l2_lambda`). `setup` writes, once per spec
(reused while DIR/<case>/manifest.json holds the same spec and format):

    DIR/<case>/generator/config.json          the flat config
    DIR/<case>/generator/generator.safetensors G.state_dict() in NVLabs keys (stylegan2-ada's init from the seed,
                                               noise_strength set), float32
    DIR/<case>/clip/config.json, model.safetensors
                                               styleclip-step: HF CLIPModel keys, weights 0.02*N(0,1), LayerNorm
                                               weights 1, logit_scale ln(100)
    DIR/<case>/io.safetensors                  z [1, z_dim], ws [1, num_ws, w_dim] (mapping of z, truncated), image
                                               [1, C, R, R] NCHW (PyTorch's output); styleclip-step also tokens [T, L]
                                               int32, grad [1, num_ws, w_dim] (the step's gradient), loss [1]
    DIR/<case>/manifest.json                   written last: spec, torch version, parameter counts, setup time

`time` loads the cache, runs `--warmup` untimed then `--reps` timed calls with `torch.set_num_threads(--threads)`, and
prints one JSON line (median/min ms, max abs diff against the stored output, threads, BLAS). Stdlib + torch only.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402
from sd15 import blas_libraries  # noqa: E402
from torch_clip import CLIPModel  # noqa: E402
from torch_styleclip import optimize  # noqa: E402
from torch_stylegan2 import Generator, random_state  # noqa: E402

FORMAT = 1
BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CACHE = os.path.join(BENCH, ".cache", "stylegan2")
CASES = ("stylegan2-1024", "styleclip-step")


def paths(cache, case):
    d = os.path.join(cache, case)
    return {
        "dir": d, "generator": os.path.join(d, "generator"), "clip": os.path.join(d, "clip"),
        "io": os.path.join(d, "io.safetensors"), "manifest": os.path.join(d, "manifest.json"),
    }


def read_manifest(p):
    try:
        with open(p["manifest"]) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def random_clip_state(config, seed):
    """A CLIPModel state dict: every weight and bias 0.02*N(0,1), LayerNorm weights 1, logit_scale ln(100)."""
    torch.manual_seed(seed)
    clip = CLIPModel(config)
    with torch.no_grad():
        for name, p in clip.named_parameters():
            if name == "logit_scale":
                p.fill_(math.log(100))
            elif name.endswith(".weight") and any(n in name for n in ("layer_norm", "layrnorm", "layernorm")):
                p.fill_(1)
            else:
                p.normal_(0, 0.02)
    return clip.state_dict()


def load(p, spec):
    """The cached generator (and CLIP), frozen, in eval mode."""
    with open(os.path.join(p["generator"], "config.json")) as f:
        g = Generator(json.load(f))
    g.load_state_dict(read_safetensors(os.path.join(p["generator"], "generator.safetensors")), strict=True)
    g.eval().requires_grad_(False)
    if spec["case"] != "styleclip-step":
        return g, None
    with open(os.path.join(p["clip"], "config.json")) as f:
        clip = CLIPModel(json.load(f))
    clip.load_state_dict(read_safetensors(os.path.join(p["clip"], "model.safetensors")), strict=True)
    return g, clip.eval().requires_grad_(False)


def runner(spec, g, clip, io, modconv=None):
    """The timed call of the case: () -> output image [1, C, R, R]; for styleclip-step also records the gradient.
    `modconv` (default the spec's) picks the modulated-conv path."""
    noise = spec.get("noise_mode", "const")
    fused = (modconv or spec.get("modconv", "fused")) == "fused"
    if spec["case"] != "styleclip-step":
        def synth():
            with torch.no_grad():
                return g.synthesize(io["ws"], noise, fused)
        return synth, {}
    text = clip.get_text_features(io["tokens"])  # once, as ClipTextLoss does in the TypeScript case
    extra = {}

    def record(i, r):
        extra.update(grad=r["grad"], loss=r["loss"].reshape(1))

    def step():
        return optimize(g, clip, text, io["ws"], spec.get("steps", 1), lr=spec.get("lr", 0.1),
                        l2_lambda=spec.get("l2_lambda", 0.008), observe=record, noise_mode=noise, fused=fused)[1]
    return step, extra


def setup(cache, spec):
    """Makes (or reuses) the case's cache; returns its manifest."""
    case = spec["case"]
    p = paths(cache, case)
    m = read_manifest(p)
    if m and m.get("format") == FORMAT and m.get("spec") == spec and os.path.exists(p["io"]):
        return m
    t0 = time.time()
    seed = int(spec.get("seed", 0))
    os.makedirs(p["generator"], exist_ok=True)
    with open(os.path.join(p["generator"], "config.json"), "w") as f:
        json.dump(spec["generator"], f, indent=2)
    gstate = random_state(spec["generator"], seed, spec.get("noise_strength", 0.1))
    write_safetensors(os.path.join(p["generator"], "generator.safetensors"), gstate)
    params = {"generator": sum(t.numel() for t in gstate.values())}
    if case == "styleclip-step":
        os.makedirs(p["clip"], exist_ok=True)
        config = {**spec["clip"], "model_type": "clip"}
        with open(os.path.join(p["clip"], "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        cstate = random_clip_state(config, seed + 1)
        write_safetensors(os.path.join(p["clip"], "model.safetensors"), cstate)
        params["clip"] = sum(t.numel() for t in cstate.values())
    g, clip = load(p, spec)
    z = torch.randn(1, g.cfg["z_dim"], generator=torch.Generator().manual_seed(seed + 2))
    with torch.no_grad():
        io = {"z": z, "ws": g.map(z, spec.get("truncation_psi", 1.0))}
    if case == "styleclip-step":
        io["tokens"] = torch.tensor(spec["tokens"], dtype=torch.int32)
    run, extra = runner(spec, g, clip, io)
    y = run()
    if not torch.isfinite(y).all():
        raise RuntimeError(f"stylegan2_cases.py: the random-weight {case} produced non-finite values")
    write_safetensors(p["io"], {**io, "image": y, **extra}, {"layout": "NCHW", "seed": str(seed)})
    m = {"format": FORMAT, "case": case, "spec": spec, "torch": torch.__version__, "params": params,
         "outputStd": float(y.std()), "setupS": round(time.time() - t0, 1)}
    with open(p["manifest"], "w") as f:
        json.dump(m, f, indent=2)
    return m


def time_case(cache, case, warmup, reps, threads, modconv=None):
    """Times the case on the cached weights and inputs; returns the JSON-ready result."""
    torch.set_num_threads(threads)
    p = paths(cache, case)
    m = read_manifest(p)
    if not m:
        raise RuntimeError(f"stylegan2_cases.py: no cache for {case} in {p['dir']}; run setup first")
    g, clip = load(p, m["spec"])
    io = read_safetensors(p["io"])
    modconv = modconv or m["spec"].get("modconv", "fused")
    run, _ = runner(m["spec"], g, clip, io, modconv)
    ms, y = [], None
    for i in range(warmup + reps):
        t0 = time.perf_counter()
        y = run()
        if i >= warmup:
            ms.append((time.perf_counter() - t0) * 1000)
    return {
        "case": case, "modconv": modconv, "medianMs": statistics.median(ms), "minMs": min(ms), "reps": reps,
        "warmup": warmup,
        "maxAbsDiff": float((y - io["image"]).abs().max()), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available(), "blas": blas_libraries(),
        "loadAvg": os.getloadavg()[0],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["setup", "time"])
    ap.add_argument("--spec", help="setup: the case's JSON spec")
    ap.add_argument("--case", choices=CASES)
    ap.add_argument("--cache", default=os.environ.get("SEMEDIT_GAN_CACHE", DEFAULT_CACHE))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--modconv", choices=["fused", "unfused"], help="time: override the spec's modulated-conv path")
    a = ap.parse_args()
    if a.command == "setup":
        m = setup(a.cache, json.loads(a.spec))
        out = {k: v for k, v in m.items() if k != "spec"}
    else:
        out = time_case(a.cache, a.case, a.warmup, a.reps, a.threads, a.modconv)
    print(json.dumps({"cache": os.path.abspath(a.cache), **out}))


if __name__ == "__main__":
    main()
