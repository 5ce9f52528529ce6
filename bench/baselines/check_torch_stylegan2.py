"""Checks bench/baselines/torch_stylegan2.py against the NVLabs StyleGAN2 reference fixture before the bench trusts it.

Every value (config, file names, tensor names and shapes, truncation psi, noise modes, S-space order, edits,
tolerances) comes from the fixture's fixture.json and the files it names; each check's `from` text says which stored
inputs it starts from. Image checks run through both modulated-conv paths (`fused`, the bench's, and the unfused
one, reported as `<name>@unfused`). Exits 1 when any check fails, 2 when a fixture cannot be read. The last stdout
line is a JSON summary (`{"ok": bool, "fixtures": {id: {output: maxAbsDiff}}, "skipped": {...}}`).

    /usr/bin/python3 bench/baselines/check_torch_stylegan2.py [fixture-id ...]   # default: stylegan2-nvlabs-tiny

Fixtures folder: $SEMEDIT_FIXTURES, else ../shared/fixtures from the repository root.
"""
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_check import Fixture, inputs_of, load_model, run_checks  # noqa: E402
from torch_stylegan2 import Generator  # noqa: E402


def load_generator(folder, files):
    """The generator of a fixture folder: its config.json kwargs and its weights, loaded strictly."""
    return load_model(Generator, folder, files)


def noise_mode(text):
    m = re.search(r"noise_mode='(\w+)'", text) or re.search(r"noise (const|none|random)\b", text)
    return m.group(1) if m else "const"


def stored_styles(io, order):
    return [io[f"styles.{name}"] for name in order]


class Checker:
    """Evaluates one check of the fixture: `run(chk)` returns {label: tensor} (two labels for image checks)."""

    def __init__(self, fx, g, meta):
        self.fx, self.g, self.meta = fx, g, meta
        self.io = fx.tensors("tensors")
        self.order = meta.get("style_order") or g.style_names()
        styles_inputs = [inputs_of(c["from"]) for c in fx.checks if c["output"].startswith("styles.")]
        self.styles_input = next((i[0] for i in styles_inputs if i), None)

    def both(self, name, fn):
        return {name: fn(True), f"{name}@unfused": fn(False)}

    def run(self, chk):
        name, text = chk["output"], chk["from"]
        ins, io, g = inputs_of(text), self.io, self.g
        if "G.mapping(" in text and "[b,i]" in text:
            z = io[ins[0]]
            return {name: g.mapping(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], -1)}
        if "G.mapping(" in text:
            psi = re.search(r"truncation_psi=([0-9.]+)", text)
            return {name: g.map(io[ins[0]], float(psi.group(1)) if psi else 1.0)}
        if "d/d(" in text:
            ws, r = io[ins[0]].clone().requires_grad_(True), io[ins[1]]
            (g.synthesize(ws, noise_mode(text)) * r).sum().backward()
            return {name: ws.grad}
        if "+=" in text:
            edit = next(e for e in self.meta["edits"] if e["tensor"] == name)
            styles = [s.clone() for s in stored_styles(io, self.order)]
            styles[self.order.index(edit["layer"])][:, edit["channel"]] += edit["delta"]
            return self.both(name, lambda fused: g.synthesis_from_styles(styles, noise_mode(text), fused))
        if "stored styles" in text:
            styles = stored_styles(io, self.order)
            return self.both(name, lambda fused: g.synthesis_from_styles(styles, noise_mode(text), fused))
        if "G.synthesis(" in text:
            return self.both(name, lambda fused: g.synthesize(io[ins[0]], noise_mode(text), fused))
        if "concatenated" in text:
            return {name: torch.cat(g.styles(io[(ins or [self.styles_input])[0]]), 1)}
        if name.startswith("styles."):
            return {name: g.styles(io[ins[0]])[g.style_names().index(name[len("styles."):])]}
        raise ValueError(f"check {name!r}: its 'from' text is not one this script understands: {text!r}")


def check_fixture(fid, report):
    fx = Fixture(fid)
    folder = fx.component("generator")
    g = load_generator(folder, fx.files)
    meta = fx.json("meta") if "meta" in fx.files else {}
    if meta.get("style_order") and meta["style_order"] != g.style_names():
        report.fail(fid, "style_order", f"meta.json {meta['style_order']} != the port's {g.style_names()}")
    checker = Checker(fx, g, meta)
    for chk in fx.checks:
        with torch.set_grad_enabled("d/d(" in chk["from"]):
            got = checker.run(chk)
        for label, t in got.items():
            report.compare(fid, chk["output"], t.detach(), fx.tensors(chk["file"])[chk["output"]], chk, label)


def main(argv):
    return run_checks(argv or ["stylegan2-nvlabs-tiny"], check_fixture)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
