"""SD 1.5 UNet step and VAE decode with random weights: the shared weights, inputs and PyTorch reference output
for the bench's baselines (PyTorch, onnxruntime-node, and our tfjs backends through `loadUNet` / the VAE loader),
and the PyTorch timing.

    /usr/bin/python3 bench/baselines/sd15.py setup [--model unet|vae] [--cache DIR] [--seed N] [--no-onnx] [--config F]
    OMP_NUM_THREADS=2 /usr/bin/python3 bench/baselines/sd15.py time [--model unet|vae] [--cache DIR] [--reps N] [--warmup N]

`setup` writes, once per model (reused while `<model>-manifest.json` matches the seed, config and format version):

    DIR/unet/config.json                    runwayml/stable-diffusion-v1-5 unet/config.json
    DIR/unet/diffusion_pytorch_model.bin    torch.save(state_dict): diffusers keys, float32, 3.4 GB
    DIR/unet-io.safetensors                 sample [2,4,64,64] NCHW, timestep [2] f32, encoder_hidden_states [2,77,768],
                                            noise_pred [2,4,64,64] NCHW (this port's float32 output)
    DIR/onnx/unet.onnx (+ external data)    fixed shapes, inputs sample/timestep/encoder_hidden_states -> noise_pred
    DIR/unet-manifest.json                  written last: what is there, seeds, torch version, export time
    DIR/vae/..., vae-io.safetensors, onnx/vae.onnx, vae-manifest.json
                                            the SD VAE (vae/config.json), whole AutoencoderKL saved; timed and
                                            exported: decode, latents [1,4,64,64] -> image [1,3,512,512] NCHW

Weights: PyTorch's default init from `--seed` (Linear/Conv U(+-1/sqrt(fan_in)), norms 1/0): every residual branch
then keeps unit scale, so activations stay finite and O(1) and no denormals slow the kernels. `time` loads the
cache, runs `--warmup` untimed steps then `--reps` timed ones, and prints one JSON line (median/min ms, max abs diff
against the stored output, threads, BLAS). Default DIR: bench/.cache/sd15 (gitignored). Stdlib + torch only.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402
from torch_unet import UNet2DConditionModel  # noqa: E402
from torch_vae import AutoencoderKL  # noqa: E402

FORMAT = 1
BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CACHE = os.path.join(BENCH, ".cache", "sd15")
OPSET = 17  # the newest opset torch 1.13's exporter supports (LayerNormalization is native from 17)

# runwayml/stable-diffusion-v1-5 unet/config.json (the keys as diffusers 0.6 wrote them).
SD15_UNET = {
    "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.6.0", "act_fn": "silu", "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": False, "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
    "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
# runwayml/stable-diffusion-v1-5 vae/config.json.
SD_VAE = {
    "_class_name": "AutoencoderKL", "_diffusers_version": "0.6.0", "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4, "in_channels": 3,
    "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3, "sample_size": 512,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
BATCH, TOKENS, TIMESTEP = 2, 77, 981  # one classifier-free-guidance step, as bench/sd.ts times it


def unet_inputs(cfg, seed):
    g = torch.Generator().manual_seed(seed + 1)
    size = cfg["sample_size"]
    return {
        "sample": torch.randn(BATCH, cfg["in_channels"], size, size, generator=g),
        "timestep": torch.full((BATCH,), float(TIMESTEP)),
        "encoder_hidden_states": torch.randn(BATCH, TOKENS, cfg["cross_attention_dim"], generator=g),
    }


def vae_inputs(cfg, seed):
    g = torch.Generator().manual_seed(seed + 1)
    size = cfg["sample_size"] // 2 ** (len(cfg["block_out_channels"]) - 1)
    return {"latents": torch.randn(1, cfg["latent_channels"], size, size, generator=g)}


# Per model: default config, module class, input maker, input names (forward's argument order), output name.
MODELS = {
    "unet": {"config": SD15_UNET, "cls": UNet2DConditionModel, "inputs": unet_inputs,
             "names": ["sample", "timestep", "encoder_hidden_states"], "output": "noise_pred"},
    "vae": {"config": SD_VAE, "cls": AutoencoderKL, "inputs": vae_inputs, "names": ["latents"],
            "output": "image"},  # AutoencoderKL.forward is decode
}


def paths(cache, model="unet"):
    return {
        "config": os.path.join(cache, model, "config.json"),
        "weights": os.path.join(cache, model, "diffusion_pytorch_model.bin"),
        "io": os.path.join(cache, f"{model}-io.safetensors"),
        "onnx": os.path.join(cache, "onnx", f"{model}.onnx"),
        "manifest": os.path.join(cache, f"{model}-manifest.json"),
    }


def read_manifest(cache, model):
    try:
        with open(paths(cache, model)["manifest"]) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_model(p, model):
    with open(p["config"]) as f:
        m = MODELS[model]["cls"](json.load(f))
    m.load_state_dict(torch.load(p["weights"], map_location="cpu"), strict=True)
    return m.eval()


def export_onnx(module, inputs, output, path):
    """Fixed-shape ONNX export; over 2 GB of weights, torch writes them as external data beside the model."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(module, tuple(inputs.values()), path, opset_version=OPSET, do_constant_folding=True,
                          input_names=list(inputs), output_names=[output])


def setup(cache, seed, onnx=True, config=None, model="unet"):
    """Makes (or reuses) the cache; returns its manifest. `config` replaces SD 1.5's (tests use a tiny one)."""
    spec = MODELS[model]
    config = config or spec["config"]
    p = paths(cache, model)
    m = read_manifest(cache, model)
    same = m and m["format"] == FORMAT and m["seed"] == seed and m["config"] == config
    if same and all(os.path.exists(p[k]) for k in ("weights", "io")):
        if m.get("onnx") or not onnx:
            return m
    else:
        m = None
    t0 = time.time()
    if m is None:
        os.makedirs(os.path.dirname(p["config"]), exist_ok=True)
        torch.manual_seed(seed)
        net = spec["cls"](config).eval()
        with open(p["config"], "w") as f:
            json.dump(config, f, indent=2)
        torch.save(net.state_dict(), p["weights"])
        inputs = spec["inputs"](config, seed)
        with torch.no_grad():
            y = net(*inputs.values())
        if not torch.isfinite(y).all():
            raise RuntimeError(f"sd15.py: the random-weight {model} produced non-finite values")
        write_safetensors(p["io"], {**inputs, spec["output"]: y}, {"layout": "NCHW", "seed": str(seed)})
        m = {"format": FORMAT, "model": model, "seed": seed, "torch": torch.__version__, "config": config,
             "params": sum(t.numel() for t in net.state_dict().values()), "outputStd": float(y.std()),
             "setupS": round(time.time() - t0, 1), "onnx": None}
    else:
        net = load_model(p, model)
    if onnx:
        t1 = time.time()
        try:
            io = read_safetensors(p["io"])
            export_onnx(net, {k: io[k] for k in spec["names"]}, spec["output"], p["onnx"])
            m.update(onnx={"file": os.path.relpath(p["onnx"], cache), "opset": OPSET,
                           "exportS": round(time.time() - t1, 1)}, onnxError=None)
        except Exception as e:  # noqa: BLE001 - reported, the torch baseline stays usable
            m.update(onnx=None, onnxError=f"{type(e).__name__}: {e}")
    with open(p["manifest"], "w") as f:
        json.dump(m, f, indent=2)
    return m


def blas_libraries():
    """BLAS libraries mapped into this process (Debian's torch uses the system libblas.so.3)."""
    try:
        with open("/proc/self/maps") as maps:
            return sorted({ln.split()[-1] for ln in maps if "blas" in ln.split()[-1].lower()})
    except OSError:
        return []


def time_step(cache, warmup, reps, model="unet"):
    """Times one forward (UNet step / VAE decode) on the cached weights and inputs; returns the JSON-ready result."""
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(os.cpu_count() or 1)
    spec, p = MODELS[model], paths(cache, model)
    net = load_model(p, model)
    io = read_safetensors(p["io"])
    args = [io[k] for k in spec["names"]]
    ms, y = [], None
    with torch.no_grad():
        for i in range(warmup + reps):
            t0 = time.perf_counter()
            y = net(*args)
            if i >= warmup:
                ms.append((time.perf_counter() - t0) * 1000)
    return {
        "medianMs": statistics.median(ms), "minMs": min(ms), "reps": reps, "warmup": warmup,
        "maxAbsDiff": float((y - io[spec["output"]]).abs().max()), "torch": torch.__version__, "model": model,
        "threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available(), "blas": blas_libraries(),
        "loadAvg": os.getloadavg()[0],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["setup", "time"])
    ap.add_argument("--model", choices=list(MODELS), default="unet")
    ap.add_argument("--cache", default=os.environ.get("SEMEDIT_SD15_CACHE", DEFAULT_CACHE))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-onnx", action="store_true")
    ap.add_argument("--config", help="a diffusers config.json to use instead of SD 1.5's (tests)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()
    if a.command == "setup":
        config = json.load(open(a.config)) if a.config else None
        m = setup(a.cache, a.seed, onnx=not a.no_onnx, config=config, model=a.model)
        out = {k: v for k, v in m.items() if k != "config"}
    else:
        out = time_step(a.cache, a.warmup, a.reps, a.model)
    print(json.dumps({"cache": os.path.abspath(a.cache), **out}))


if __name__ == "__main__":
    main()
