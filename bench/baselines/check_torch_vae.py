"""Checks bench/baselines/torch_vae.py against the project's VAE reference fixture (default vae-tiny).

Names, files and tolerances come from fixture.json; each check's output is computed as its `from` text and the
fixture README define it (encoder moments, posterior, decodes). Exits 1 when a check fails, 2 when the fixture
cannot be read; the last stdout line is a JSON summary like check_torch_unet.py's.

    /usr/bin/python3 bench/baselines/check_torch_vae.py [fixture-id ...]
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_torch_unet import fixtures_dir  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402
from torch_vae import AutoencoderKL  # noqa: E402


def outputs(vae, io, scaling):
    """Every output the vae fixtures define, by name."""
    raw, moments = vae.encode_moments(io["image"])
    mean, logvar = moments.chunk(2, dim=1)
    logvar = logvar.clamp(-30.0, 20.0)
    std = torch.exp(0.5 * logvar)
    sample = mean + std * io["noise"]
    return {
        "encoder_raw_moments": raw, "quant_moments": moments, "posterior_mean": mean, "posterior_logvar": logvar,
        "posterior_std": std, "posterior_sample": sample, "pipeline_latents_scaled": sample * scaling,
        "decoded": vae.decode(io["latent_z"]), "reconstruction_from_mean": vae.decode(mean),
        "pipeline_decode_of_scaled_z": vae.decode(io["latent_z"] / scaling),
    }


def check_fixture(root, fid):
    folder = os.path.join(root, fid)
    fx = json.load(open(os.path.join(folder, "fixture.json")))
    files = fx["files"]
    vae_dir = os.path.join(folder, fx.get("components", {}).get("vae", "."))
    config = json.load(open(os.path.join(vae_dir, files["config"])))
    vae = AutoencoderKL(config).eval()
    vae.load_state_dict(read_safetensors(os.path.join(vae_dir, files["weights"])), strict=True)
    ios, results, ok = {}, {}, True
    for chk in fx["checks"]:
        name = chk["output"]
        if chk["file"] not in ios:
            io = read_safetensors(os.path.join(folder, files[chk["file"]]))
            with torch.no_grad():
                ios[chk["file"]] = (io, outputs(vae, io, config.get("scaling_factor", 0.18215)))
        io, got = ios[chk["file"]]
        want = io[name]
        diff = (got[name] - want).abs()
        passed = got[name].shape == want.shape and bool((diff <= chk["atol"] + chk["rtol"] * want.abs()).all())
        results[name] = float(diff.max())
        ok &= passed
        print(f"{'ok  ' if passed else 'FAIL'} {fid} {name} {list(want.shape)} max|diff| {results[name]:.3g} "
              f"(atol {chk['atol']}, rtol {chk['rtol']})")
    return ok, results


def main(argv):
    summary, ok = {}, True
    for fid in argv or ["vae-tiny"]:
        try:
            passed, summary[fid] = check_fixture(fixtures_dir(), fid)
        except (OSError, KeyError, ValueError, RuntimeError) as e:
            print(f"ERROR {fid}: {type(e).__name__}: {e}")
            print(json.dumps({"ok": False, "error": str(e), "fixtures": summary}))
            return 2
        ok &= passed
    print(json.dumps({"ok": ok, "torch": torch.__version__, "fixtures": summary}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
