"""Checks bench/baselines/torch_unet.py against the project's UNet reference fixtures before the bench trusts it.

Every value (config, file names, tensor names and shapes, tolerances) comes from the fixture's fixture.json and the
files it names; nothing about the fixture's sizes is written here. Exits 1 when any check fails, 2 when a fixture
cannot be read. The last stdout line is a JSON summary (`{"ok": bool, "fixtures": {id: {output: maxAbsDiff}}}`).

    /usr/bin/python3 bench/baselines/check_torch_unet.py [fixture-id ...]   # default: unet-tiny unet-tiny-sd2

Fixtures folder: $SEMEDIT_FIXTURES, else ../shared/fixtures from the repository root.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors  # noqa: E402
from torch_unet import UNet2DConditionModel  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fixtures_dir():
    return os.environ.get("SEMEDIT_FIXTURES") or os.path.join(REPO, "..", "shared", "fixtures")


def timestep_arg(io, name):
    """The timestep as the reference passed it: a python int for a 1-element tensor, int64 when integral."""
    t = io[name]
    if t.numel() == 1 and float(t[0]).is_integer():
        return int(t[0])
    return t.long() if torch.equal(t, t.round()) else t


def pick_timestep(io, text, checks):
    """The io timestep tensor a check's `from` text names ("timesteps_vector", "scalar-timestep run", or "same
    call as <another check's output>")."""
    for other in checks:
        if f"same call as {other['output']}" in text:
            return pick_timestep(io, other["from"], checks)
    names = [k for k in io if k.startswith("timestep")]
    for k in names:
        if k in text:
            return k
    for k in names:
        if f"{k.split('_')[-1]}-timestep" in text:
            return k
    raise ValueError(f"no timestep input named in {text!r} (inputs {names})")


def run(unet, io, meta, t_name, dtype):
    """One forward pass; returns {name: tensor} with `noise`, `inter.*` taps and `attn_probs.*` captures."""
    captures = meta.get("attn_capture", {})
    modules = dict(unet.named_modules())
    for path in captures.values():
        modules[path].probs = []
    taps = {}
    m = unet.to(dtype)
    with torch.no_grad():
        y = m(io["sample"].to(dtype), timestep_arg(io, t_name), io["encoder_hidden_states"].to(dtype), taps=taps)
    got = {"noise": y, **{f"inter.{k}": v for k, v in taps.items()}}
    for name, path in captures.items():
        got[name] = modules[path].probs[0]
        modules[path].probs = None
    return got


def check_fixture(root, fid):
    folder = os.path.join(root, fid)
    fx = json.load(open(os.path.join(folder, "fixture.json")))
    files = fx["files"]
    unet_dir = os.path.join(folder, fx.get("components", {}).get("unet", "."))
    config = json.load(open(os.path.join(unet_dir, files["config"])))
    meta = json.load(open(os.path.join(folder, files["meta"]))) if "meta" in files else {}
    unet = UNet2DConditionModel(config)
    state = read_safetensors(os.path.join(unet_dir, files["weights"]))
    unet.load_state_dict(state, strict=True)  # raises on any missing/unexpected key or shape mismatch
    unet.eval()
    runs, results, ok = {}, {}, True
    for chk in fx["checks"]:
        name, text = chk["output"], chk["from"]
        io = runs.setdefault("io", read_safetensors(os.path.join(folder, files[chk["file"]])))
        t_name = pick_timestep(io, text, fx["checks"])
        dtype = torch.float64 if "float64" in text else torch.float32
        key = (t_name, dtype)
        if key not in runs:
            runs[key] = run(unet, io, meta, t_name, dtype)
        got = runs[key]["noise" if name.startswith("noise_pred") else name].float()
        want = io[name]
        if tuple(got.shape) != tuple(want.shape):
            print(f"FAIL {fid} {name}: shape {tuple(got.shape)} != {tuple(want.shape)}")
            ok = False
            continue
        diff = (got - want).abs()
        passed = bool((diff <= chk["atol"] + chk["rtol"] * want.abs()).all())
        results[name] = float(diff.max())
        ok &= passed
        print(f"{'ok  ' if passed else 'FAIL'} {fid} {name} {list(want.shape)} max|diff| {results[name]:.3g} "
              f"(atol {chk['atol']}, rtol {chk['rtol']}; run t={t_name}, {str(dtype).split('.')[-1]})")
    return ok, results


def main(argv):
    ids = argv or ["unet-tiny", "unet-tiny-sd2"]
    root = fixtures_dir()
    torch.manual_seed(0)
    summary, ok = {}, True
    for fid in ids:
        try:
            passed, results = check_fixture(root, fid)
        except (OSError, KeyError, ValueError) as e:
            print(f"ERROR {fid}: {type(e).__name__}: {e}")
            print(json.dumps({"ok": False, "error": str(e), "fixtures": summary}))
            return 2
        summary[fid] = results
        ok &= passed
    print(json.dumps({"ok": ok, "torch": torch.__version__, "fixtures": summary}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
