"""A minimal PyTorch StyleGAN2 generator in the NVLabs stylegan2-ada-pytorch key layout (the bench's baseline).

Written from the algorithm, with semedit's TypeScript generator (packages/core/src/stylegan2/) as the spec:
mapping Z -> W (equalized-lr FC layers, truncation toward `w_avg`), W+ -> S (every layer's `affine`), and the
'skip' synthesis network (modulated 3x3 convs with demodulation, noise, bias + leaky ReLU, ToRGB skips with FIR
upsampling). Every tensor is float32 NCHW; the parameter names are a `G.state_dict()`'s (`mapping.fc0.weight`,
`synthesis.b8.conv0.affine.bias`, `synthesis.b4.const`, `*.resample_filter`, ...), so `load_state_dict(strict=True)`
checks a checkpoint key by key.

Modulated convs run the way the reference runs them at inference: `fused=True` scales the weights per sample and
runs one grouped conv (transposed, stride 2, for the upsampling conv); `fused=False` scales the activations, runs one
shared conv and scales the output (the path semedit's TypeScript takes). Both give the same result.

    G = Generator(config)                      # config: the nested kwargs of fixture config.json, or a flat dict
    ws = G.mapping(z, psi=0.7)                 # [B, num_ws, w_dim]
    img = G.synthesis(ws, noise_mode="const")  # [B, img_channels, R, R]
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)
FLAT_KEYS = {
    "z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "num_layers", "embed_features", "layer_features",
    "activation", "lr_multiplier", "w_avg_beta", "channel_base", "channel_max", "num_fp16_res", "conv_clamp",
    "architecture", "resample_filter", "use_noise", "fp16_channels_last", "channels",
}


def resolve_config(config):
    """Flattens stylegan2-ada's nested kwargs (`mapping_kwargs`, `synthesis_kwargs`; or a `{"kwargs": ...}` file)
    and fills the defaults: returns a dict with the block plan (`resolutions`, `channels`, `num_ws`)."""
    kw = dict(config.get("kwargs", config))
    for nested in ("mapping_kwargs", "synthesis_kwargs"):
        kw.update(kw.pop(nested, None) or {})
    unknown = set(kw) - FLAT_KEYS
    if unknown:
        raise ValueError(f"torch_stylegan2: unknown config keys {sorted(unknown)}")
    if kw.get("c_dim", 0) != 0:
        raise ValueError("torch_stylegan2: conditional generators (c_dim > 0) are not ported")
    if kw.get("architecture", "skip") != "skip" or kw.get("activation", "lrelu") != "lrelu":
        raise ValueError("torch_stylegan2: only architecture 'skip' with lrelu is ported")
    res = int(kw["img_resolution"])
    log2 = int(round(math.log2(res)))
    if 2 ** log2 != res or res < 4:
        raise ValueError(f"torch_stylegan2: img_resolution must be a power of two >= 4, got {res}")
    resolutions = [2 ** i for i in range(2, log2 + 1)]
    base, cmax = kw.get("channel_base", 32768), kw.get("channel_max", 512)
    table = kw.get("channels")
    channels = [int(table[str(r)]) if table else min(base // r, cmax) for r in resolutions]
    w_dim = int(kw["w_dim"])
    return {
        "z_dim": int(kw["z_dim"]), "w_dim": w_dim, "img_resolution": res,
        "img_channels": int(kw.get("img_channels", 3)),
        "num_layers": int(kw.get("num_layers", 8)), "layer_features": int(kw.get("layer_features") or w_dim),
        "lr_multiplier": float(kw.get("lr_multiplier", 0.01)), "conv_clamp": kw.get("conv_clamp"),
        "resample_filter": list(kw.get("resample_filter", [1, 3, 3, 1])), "use_noise": bool(kw.get("use_noise", True)),
        "resolutions": resolutions, "channels": channels, "num_ws": 2 * log2 - 2,
    }


def fir_filter(taps):
    """The normalized 2-D FIR filter outer(taps, taps) / sum."""
    t = torch.tensor(taps, dtype=torch.float32)
    f = torch.outer(t, t)
    return f / f.sum()


def upfirdn2d(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1.0):
    """Upsample by zero insertion, pad (negative crops) `pad = (x0, x1, y0, y1)`, convolve every channel with the
    2-D FIR filter `f` scaled by `gain` (a true convolution: the filter is flipped for conv2d), keep every
    `down`-th pixel. x: [B, C, H, W]."""
    b, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(b, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(b, c, h * up, w * up)
    x0, x1, y0, y1 = pad
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]
    k = (f * gain).flip([0, 1]).to(x.dtype)
    x = F.conv2d(x, k[None, None].expand(c, 1, *k.shape), groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2d(x, f, up=2):
    """x `up` times larger with the FIR filter (gain up^2), padded so the output is exactly up*H x up*W."""
    fh, fw = f.shape
    pad = ((fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2)
    return upfirdn2d(x, f, up=up, pad=pad, gain=up * up)


def modulated_conv2d(x, weight, styles, demodulate=True, up=1, f=None, fused=True):
    """Karras et al. 2020 eqs. 1-3: w' = s_i * w (modulation), sigma_j = sqrt(sum_{i,k} w'^2 + 1e-8), w'' = w' / sigma_j
    (demodulation), applied per sample. `up=2` is the transposed conv (stride 2, weight not flipped) followed by the
    FIR filter with gain 4 (stylegan2-ada's conv2d_resample). x: [B, I, H, W], weight [O, I, k, k], styles [B, I]."""
    b, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    pad = kh // 2
    if fused:
        wm = weight[None] * styles[:, None, :, None, None]  # [B, O, I, k, k]
        if demodulate:
            wm = wm * (wm.square().sum([2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
        xg = x.reshape(1, b * cin, h, w)
        if up == 1:
            y = F.conv2d(xg, wm.reshape(b * cout, cin, kh, kw), padding=pad, groups=b)
        else:
            wt = wm.transpose(1, 2).reshape(b * cin, cout, kh, kw)  # conv_transpose2d: [in, out/groups, k, k]
            y = _up_conv(xg, wt, f, up, pad, b)
        return y.reshape(b, cout, y.shape[2], y.shape[3])
    xs = x * styles[:, :, None, None]
    y = F.conv2d(xs, weight, padding=pad) if up == 1 else _up_conv(xs, weight.transpose(0, 1), f, up, pad, 1)
    if not demodulate:
        return y
    d = (styles.square() @ weight.square().sum([2, 3]).t() + 1e-8).rsqrt()  # [B, O]
    return y * d[:, :, None, None]


def _up_conv(x, wt, f, up, pad, groups):
    """Transposed conv (stride `up`) then the FIR filter: the padding bookkeeping of conv2d_resample."""
    kh, kw = wt.shape[2:]
    fh, fw = f.shape
    px0 = pad + (fw + up - 1) // 2 - (kw - 1)
    px1 = pad + (fw - up) // 2 - (kw - up)
    py0 = pad + (fh + up - 1) // 2 - (kh - 1)
    py1 = pad + (fh - up) // 2 - (kh - up)
    pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
    y = F.conv_transpose2d(x, wt, stride=up, padding=[pyt, pxt], groups=groups)
    return upfirdn2d(y, f, pad=(px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt), gain=up * up)


class FullyConnected(nn.Module):
    """Equalized-lr linear layer: y = x (W * lr / sqrt(in))^T + b * lr, then lrelu(0.2) * sqrt(2) if asked."""

    def __init__(self, fin, fout, lr_multiplier=1.0, lrelu=False, bias_init=0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fout, fin) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((fout,), float(bias_init)))
        self.weight_gain, self.bias_gain, self.lrelu = lr_multiplier / math.sqrt(fin), lr_multiplier, lrelu

    def forward(self, x):
        y = torch.addmm(self.bias * self.bias_gain, x, (self.weight * self.weight_gain).t())
        return F.leaky_relu(y, 0.2) * SQRT2 if self.lrelu else y


class Mapping(nn.Module):
    """Z -> W: normalize_2nd_moment(z) then `num_layers` lrelu FC layers; `w_avg` is the truncation centre."""

    def __init__(self, cfg):
        super().__init__()
        feats = [cfg["z_dim"]] + [cfg["layer_features"]] * (cfg["num_layers"] - 1) + [cfg["w_dim"]]
        for i in range(cfg["num_layers"]):
            setattr(self, f"fc{i}", FullyConnected(feats[i], feats[i + 1], cfg["lr_multiplier"], lrelu=True))
        self.num_layers = cfg["num_layers"]
        self.register_buffer("w_avg", torch.zeros(cfg["w_dim"]))

    def forward(self, z):
        x = z * (z.square().mean(dim=-1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally upsampling x2) + noise + bias, lrelu * sqrt(2), clamped to +-conv_clamp."""

    def __init__(self, cin, cout, w_dim, res, up, cfg):
        super().__init__()
        self.affine = FullyConnected(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, 3, 3))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.register_buffer("resample_filter", fir_filter(cfg["resample_filter"]))
        self.use_noise, self.up, self.clamp = cfg["use_noise"], up, cfg["conv_clamp"]
        if self.use_noise:
            self.register_buffer("noise_const", torch.randn(res, res))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x, style, noise_mode="const", fused=True):
        y = modulated_conv2d(x, self.weight, style, up=self.up, f=self.resample_filter, fused=fused)
        if self.use_noise and noise_mode == "const":
            y = y + self.noise_const * self.noise_strength
        elif self.use_noise and noise_mode == "random":
            y = y + torch.randn(y.shape[0], 1, y.shape[2], y.shape[3]) * self.noise_strength
        y = F.leaky_relu(y + self.bias[None, :, None, None], 0.2) * SQRT2
        return y.clamp(-self.clamp, self.clamp) if self.clamp is not None else y


class ToRGB(nn.Module):
    """1x1 modulated conv without demodulation (styles times 1/sqrt(in)) + bias, clamped."""

    def __init__(self, cin, cout, w_dim, clamp):
        super().__init__()
        self.affine = FullyConnected(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.weight_gain, self.clamp = 1 / math.sqrt(cin), clamp

    def forward(self, x, style, fused=True):
        y = modulated_conv2d(x, self.weight, style * self.weight_gain, demodulate=False, fused=fused)
        y = y + self.bias[None, :, None, None]
        return y.clamp(-self.clamp, self.clamp) if self.clamp is not None else y


class SynthesisBlock(nn.Module):
    """One resolution: `const` (4x4 block) or `conv0` (upsampling), then `conv1`, and the ToRGB skip."""

    def __init__(self, cin, cout, res, cfg):
        super().__init__()
        self.register_buffer("resample_filter", fir_filter(cfg["resample_filter"]))
        w = cfg["w_dim"]
        if res == 4:
            self.const = nn.Parameter(torch.randn(cout, 4, 4))
        else:
            self.conv0 = SynthesisLayer(cin, cout, w, res, 2, cfg)
        self.conv1 = SynthesisLayer(cout, cout, w, res, 1, cfg)
        self.torgb = ToRGB(cout, cfg["img_channels"], w, cfg["conv_clamp"])


class Synthesis(nn.Module):
    """The blocks `b4 ... b{img_resolution}`; `layers` lists (block, layer name, W+ row) in S order."""

    def __init__(self, cfg):
        super().__init__()
        self.layers = []
        for k, (res, cout) in enumerate(zip(cfg["resolutions"], cfg["channels"])):
            cin = cfg["channels"][k - 1] if k else cout
            setattr(self, f"b{res}", SynthesisBlock(cin, cout, res, cfg))
            if k == 0:
                rows = [("conv1", 0), ("torgb", 1)]
            else:
                rows = [("conv0", 2 * k - 1), ("conv1", 2 * k), ("torgb", 2 * k + 1)]
            self.layers += [(f"b{res}", name, row) for name, row in rows]


class Generator(nn.Module):
    """mapping + synthesis with stylegan2-ada's parameter names. Weights start as stylegan2-ada initializes them
    (FC `randn / lr_multiplier`, affine bias 1, other biases 0, conv `randn`, noise strength 0, `w_avg` 0)."""

    def __init__(self, config):
        super().__init__()
        self.cfg = cfg = resolve_config(config)
        self.num_ws = cfg["num_ws"]
        self.mapping = Mapping(cfg)
        self.synthesis = Synthesis(cfg)

    def map(self, z, psi=1.0):
        """`G.mapping(z, truncation_psi=psi)`: W repeated to num_ws rows, `w_avg + psi * (w - w_avg)`."""
        w = self.mapping(z)
        if psi != 1:
            w = self.mapping.w_avg + psi * (w - self.mapping.w_avg)
        return w[:, None, :].repeat(1, self.num_ws, 1)

    def style_names(self):
        """S-space layer names in order (`synthesis.b4.conv1`, `synthesis.b4.torgb`, `synthesis.b8.conv0`, ...)."""
        return [f"synthesis.{b}.{name}" for b, name, _ in self.synthesis.layers]

    def styles(self, ws):
        """W+ [B, num_ws, w_dim] -> every layer's affine output in S order (ToRGB before its weight gain)."""
        return [getattr(getattr(self.synthesis, b), name).affine(ws[:, row]) for b, name, row in self.synthesis.layers]

    def synthesis_from_styles(self, styles, noise_mode="const", fused=True):
        """S codes -> image [B, img_channels, R, R]."""
        x = img = None
        for (b, name, _), s in zip(self.synthesis.layers, styles):
            block = getattr(self.synthesis, b)
            if name == "torgb":
                y = block.torgb(x, s, fused=fused)
                img = y if img is None else upsample2d(img, block.resample_filter) + y
                continue
            if x is None:
                x = block.const[None].repeat(s.shape[0], 1, 1, 1)
            x = getattr(block, name)(x, s, noise_mode, fused)
        return img

    def synthesize(self, ws, noise_mode="const", fused=True):
        """`G.synthesis(ws, noise_mode)`: W+ [B, num_ws, w_dim] -> image [B, img_channels, R, R]."""
        return self.synthesis_from_styles(self.styles(ws), noise_mode, fused)


def random_state(config, seed, noise_strength=0.1):
    """A Generator's state dict at stylegan2-ada's initialization from `seed`, with every `noise_strength` set (0 in
    the reference init; nonzero makes the noise path cost what it costs with trained weights)."""
    torch.manual_seed(seed)
    g = Generator(config)
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(noise_strength)
    return g.state_dict()
