"""Checks the PyTorch StyleCLIP baseline (torch_clip.py, torch_styleclip.py on torch_stylegan2.py) against the
reference fixtures before the bench trusts it:

- `clip-loss-tiny` (OpenAI CLIP weights, renamed by `openai_to_hf`): CLIP input resize, image and text features,
  logits, StyleCLIP's CLIP loss and its gradient with respect to the image;
- `clip-vision-tiny` (Hugging Face CLIPModel weights): vision hidden states, pooled output, embeddings, logits;
- `styleclip-optimize-tiny`: the whole latent optimization (start latent, per-step losses, gradients, Adam moments,
  latents, images) on the fixture's generator and CLIP components, through both modulated-conv paths (`fused`, and
  `unfused`, the bench's, reported as `<name>@unfused`).

Every value (configs, file names, tensor names and shapes, steps, learning rate, l2 weight, truncation, pool kernel,
Adam settings, tolerances) comes from the fixture's fixture.json and the files it names. Exits 1 when any check
fails, 2 when a fixture cannot be read. The last stdout line is a JSON summary (`{"ok": bool, "fixtures": {id:
{output: maxAbsDiff}}, "skipped": {id: {output: why}}}`).

    /usr/bin/python3 bench/baselines/check_torch_styleclip.py [fixture-id ...]
        # default: clip-loss-tiny clip-vision-tiny styleclip-optimize-tiny

Fixtures folder: $SEMEDIT_FIXTURES, else ../shared/fixtures from the repository root.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_torch_stylegan2 import load_generator  # noqa: E402
from fixture_check import Fixture, load_model, run_checks  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402
from torch_clip import CLIPModel, openai_to_hf  # noqa: E402
from torch_styleclip import clip_input, clip_loss, get_lr, optimize  # noqa: E402

OPENAI_KWARGS = {  # OpenAI CLIP constructor kwarg -> where openai_to_hf's config holds it
    "embed_dim": ("projection_dim",), "image_resolution": ("vision_config", "image_size"),
    "vision_layers": ("vision_config", "num_hidden_layers"), "vision_width": ("vision_config", "hidden_size"),
    "vision_patch_size": ("vision_config", "patch_size"), "context_length": ("text_config", "max_position_embeddings"),
    "vocab_size": ("text_config", "vocab_size"), "transformer_width": ("text_config", "hidden_size"),
    "transformer_heads": ("text_config", "num_attention_heads"),
    "transformer_layers": ("text_config", "num_hidden_layers"),
}


def load_openai_clip(folder, files):
    """An OpenAI-layout CLIP folder (clip-loss-tiny): weights renamed, config derived and checked against the
    folder's constructor kwargs (which win where they differ, e.g. the text heads)."""
    state, config = openai_to_hf(read_safetensors(os.path.join(folder, files["weights"])))
    with open(os.path.join(folder, files["config"])) as f:
        kwargs = json.load(f).get("kwargs", {})
    for k, path in OPENAI_KWARGS.items():
        if k in kwargs:
            node = config
            for p in path[:-1]:
                node = node[p]
            node[path[-1]] = kwargs[k]
    clip = CLIPModel(config)
    clip.load_state_dict(state, strict=True)
    return clip.eval().requires_grad_(False)


def load_hf_clip(folder, files):
    return load_model(CLIPModel, folder, files)


def normalized(x):
    return x / x.norm(dim=-1, keepdim=True)


def check_clip_loss(fx):
    cfg = fx.json("config")
    clip = load_openai_clip(fx.component("clip"), fx.files)
    io = fx.tensors("tensors")
    scale, kernel = cfg.get("upsample_scale_factor", 7), cfg.get("avgpool_kernel")
    image = io["image"].clone().requires_grad_(True)
    text = clip.get_text_features(io["tokens"])
    loss = clip_loss(clip, image, text, scale, kernel)
    loss.sum().backward()
    img_f = clip.get_image_features(io["clip_input"])
    return {
        "clip_input": clip_input(clip, io["image"], scale, kernel), "image_features": img_f, "text_features": text,
        "logits_per_image": clip.logits(img_f, text), "logits_per_text": clip.logits(img_f, text).t(),
        "clip_loss": loss, "grad_image": image.grad,
    }


def check_clip_vision(fx):
    clip = load_hf_clip(fx.component("clip"), fx.files)
    io = fx.tensors("io")
    states, pooled = clip.vision_model(io["pixel_values"])
    img, txt = clip.visual_projection(pooled), clip.get_text_features(io["input_ids"])
    got = {f"vision.hidden_states.{i}": s for i, s in enumerate(states)}
    got.update({
        "vision.last_hidden_state": states[-1], "vision.pooler_output": pooled, "vision.image_embeds": img,
        "clip.image_embeds_normalized": normalized(img), "clip.text_embeds_normalized": normalized(txt),
        "logits_per_image": clip.logits(img, txt), "logits_per_text": clip.logits(img, txt).t(),
    })
    return got


def check_styleclip_optimize(fx):
    cfg = fx.json("config")
    args = cfg["args"]
    if args.get("id_lambda", 0) != 0:
        raise ValueError(f"id_lambda {args['id_lambda']}: the identity loss is not ported")
    gen_dir, clip_dir = fx.component("generator"), fx.component("clip")
    g = load_generator(gen_dir, Fixture(os.path.basename(gen_dir), os.path.dirname(gen_dir)).files)
    clip_fx = Fixture(os.path.basename(clip_dir), os.path.dirname(clip_dir))
    clip = load_openai_clip(clip_dir, clip_fx.files)
    io = fx.tensors("tensors")
    noise = cfg.get("generator", {}).get("noise_mode", "const").split()[0]
    psi, mean = args["truncation"], io["mean_latent"]
    w = mean + psi * (g.mapping(io["z"]) - mean)
    latent_init = w[:, None, :].repeat(1, g.num_ws, 1)
    ramp = (cfg["get_lr"]["rampdown"], cfg["get_lr"]["rampup"])
    adam = {k: v for k, v in cfg.get("adam", {}).items() if k in ("betas", "eps", "weight_decay", "amsgrad")}
    text = clip.get_text_features(io["tokens"])
    with torch.no_grad():
        img_orig = g.synthesize(io["latent_init"], noise)
    got = {
        "latent_init": latent_init, "img_orig": img_orig,
        "lr_per_step": torch.tensor([get_lr(i / args["step"], args["lr"], *ramp) for i in range(args["step"])],
                                    dtype=torch.float64),
    }
    for fused in (True, False):  # the bench's StyleCLIP step runs the unfused modulated conv
        records = []
        _, img_final = optimize(
            g, clip, text, io["latent_init"], args["step"], lr=args["lr"], l2_lambda=args["l2_lambda"],
            mode=args["mode"], scale=clip_fx.json("config").get("upsample_scale_factor", 7),
            kernel=cfg["clip_loss"]["avgpool_kernel"], lr_ramp=ramp, adam=adam,
            observe=lambda i, r: records.append(r), noise_mode=noise, fused=fused)
        stack = {k: torch.stack([r[k] for r in records]) for k in ("loss_clip", "loss_l2", "loss", "grad", "latent",
                                                                   "exp_avg", "exp_avg_sq")}
        suffix = "" if fused else "@unfused"
        got.update({f"{k}{suffix}": v for k, v in {
            "loss_clip": stack["loss_clip"], "loss_l2": stack["loss_l2"], "loss": stack["loss"],
            "grad_step0": records[0]["grad"], "grad": stack["grad"], "latent_after_step": stack["latent"],
            "adam_exp_avg": stack["exp_avg"], "adam_exp_avg_sq": stack["exp_avg_sq"],
            "img_gen_last": records[-1]["image"], "img_final": img_final,
        }.items()})
    return got


KINDS = {"clip-loss": check_clip_loss, "clip-vision": check_clip_vision, "styleclip-optimize": check_styleclip_optimize}
NOT_PORTED = {"tokens": "token ids are an input here (the tokenizer is not part of the PyTorch port)",
              "tokens_bpe": "token ids are an input here (the tokenizer is not part of the PyTorch port)"}


def check_fixture(fid, report):
    fx = Fixture(fid)
    kind = fx.fx.get("kind")
    if kind not in KINDS:
        raise ValueError(f"fixture kind {kind!r} is not one this script checks ({', '.join(KINDS)})")
    got = KINDS[kind](fx)
    for chk in fx.checks:
        name = chk["output"]
        if name in NOT_PORTED and name not in got:
            report.skip(fid, name, NOT_PORTED[name])
        elif name not in got:
            report.fail(fid, name, "no such output in the port (a check this script does not know)")
        else:
            if chk["file"] == "meta":
                want = torch.tensor(fx.json("meta")[name], dtype=torch.float64)
            else:
                want = fx.tensors(chk["file"])[name]
            for label in (name, f"{name}@unfused"):
                if label in got:
                    report.compare(fid, name, got[label].detach(), want, chk, label)


def main(argv):
    return run_checks(argv or ["clip-loss-tiny", "clip-vision-tiny", "styleclip-optimize-tiny"], check_fixture)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
