"""Shared pieces of the baseline fixture checks (check_torch_stylegan2.py, check_torch_styleclip.py): where the
fixtures are, reading a fixture folder (fixture.json, the files it names, its components), comparing one output
with the fixture's own atol/rtol, and the JSON summary line the tests read."""
import json
import os
import re

import torch

from safetensors_io import read_safetensors

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fixtures_dir():
    """$SEMEDIT_FIXTURES, else ../shared/fixtures from the repository root."""
    return os.environ.get("SEMEDIT_FIXTURES") or os.path.join(REPO, "..", "shared", "fixtures")


class Fixture:
    """One fixture folder: `fx` is fixture.json; `json(key)` / `tensors(key)` read the file fixture.json names under
    `files[key]`; `component(name)` is the folder of a component (`"generator": "../stylegan2-nvlabs-tiny"`)."""

    def __init__(self, fid, root=None):
        self.id = fid
        self.folder = os.path.join(root or fixtures_dir(), fid)
        with open(os.path.join(self.folder, "fixture.json")) as f:
            self.fx = json.load(f)
        self.files = self.fx["files"]
        self._cache = {}

    def component(self, name):
        return os.path.normpath(os.path.join(self.folder, self.fx.get("components", {}).get(name, ".")))

    def path(self, key, folder=None):
        return os.path.join(folder or self.folder, self.files[key])

    def json(self, key, folder=None):
        with open(self.path(key, folder)) as f:
            return json.load(f)

    def tensors(self, key):
        if key not in self._cache:
            self._cache[key] = read_safetensors(self.path(key))
        return self._cache[key]

    @property
    def checks(self):
        return self.fx["checks"]


def inputs_of(text):
    """The input names a check's `from` text lists before '->' ("wplus, grad_weight_img -> ..." -> [wplus, ...])."""
    head = text.split("->")[0] if "->" in text else ""
    return [s.strip() for s in head.split(",") if re.fullmatch(r"[\w.*\[\]]+", s.strip())]


class Report:
    """Collects `compare` results; `summary()` is the JSON the last stdout line carries."""

    def __init__(self):
        self.ok, self.results, self.skipped = True, {}, {}

    def compare(self, fid, name, got, want, chk, label=None):
        key = label or name
        got, want = torch.as_tensor(got).double(), torch.as_tensor(want).double()
        if tuple(got.shape) != tuple(want.shape):
            print(f"FAIL {fid} {key}: shape {tuple(got.shape)} != {tuple(want.shape)}")
            self.ok = False
            self.results.setdefault(fid, {})[key] = None
            return False
        diff = (got - want).abs()
        passed = bool((diff <= chk["atol"] + chk["rtol"] * want.abs()).all())
        d = float(diff.max()) if diff.numel() else 0.0
        self.results.setdefault(fid, {})[key] = d
        self.ok &= passed
        print(f"{'ok  ' if passed else 'FAIL'} {fid} {key} {list(want.shape)} max|diff| {d:.3g} "
              f"(atol {chk['atol']}, rtol {chk['rtol']})")
        return passed

    def skip(self, fid, name, why):
        self.skipped.setdefault(fid, {})[name] = why
        print(f"skip {fid} {name}: {why}")

    def fail(self, fid, name, why):
        self.ok = False
        self.results.setdefault(fid, {})[name] = None
        print(f"FAIL {fid} {name}: {why}")

    def summary(self, **extra):
        return json.dumps({"ok": self.ok, "torch": torch.__version__, **extra, "fixtures": self.results,
                           "skipped": self.skipped})


def run_checks(ids, check_fixture):
    """Runs check_fixture(id, report) for each fixture id with a seeded torch; prints the JSON summary last.
    Returns the exit status: 0 when every check passed, 1 when one failed, 2 when a fixture could not be read."""
    torch.manual_seed(0)
    report = Report()
    for fid in ids:
        try:
            check_fixture(fid, report)
        except (OSError, KeyError, ValueError, StopIteration) as e:
            print(f"ERROR {fid}: {type(e).__name__}: {e}")
            report.ok = False
            print(report.summary(error=f"{fid}: {type(e).__name__}: {e}"))
            return 2
    print(report.summary())
    return 0 if report.ok else 1


def load_model(cls, folder, files):
    """A model of a fixture folder: cls built from its config.json, its weights loaded strictly, in eval mode."""
    with open(os.path.join(folder, files["config"])) as f:
        model = cls(json.load(f))
    model.load_state_dict(read_safetensors(os.path.join(folder, files["weights"])), strict=True)
    return model.eval().requires_grad_(False)
