"""Minimal PyTorch port of diffusers' AutoencoderKL (SD configs), for the bench's VAE-decode baseline.

Parameter names equal diffusers' state-dict keys (new attention names to_q/to_k/to_v/to_out.0), so a diffusers
`vae/` checkpoint loads with `load_state_dict(strict=True)`; the encoder is here for that strict load and the
fixture check. NCHW. Python stdlib + torch only.

    vae = AutoencoderKL(json.load(open("vae/config.json")))
    image = vae.decode(latents)      # post_quant_conv then decoder, [B,4,h,w] -> [B,3,8h,8w], not clamped
"""
import torch
import torch.nn.functional as F
from torch import nn

from torch_unet import Downsample2D, ResnetBlock2D, Upsample2D

EPS = 1e-6  # diffusers' VAE uses GroupNorm eps 1e-6 everywhere


class VaeAttention(nn.Module):
    """Mid-block attention: one head over the h*w tokens, GroupNorm input, residual connection."""

    def __init__(self, channels, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, channels, eps=EPS)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels), nn.Dropout(0.0)])
        self.scale = channels ** -0.5

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.group_norm(x).reshape(b, c, h * w).transpose(1, 2)
        q, k, v = self.to_q(y), self.to_k(y), self.to_v(y)
        if torch.jit.is_tracing():
            scores = torch.bmm(q, k.transpose(1, 2)) * self.scale
        else:
            scores = torch.baddbmm(torch.empty(b, h * w, h * w, dtype=q.dtype), q, k.transpose(1, 2), beta=0,
                                   alpha=self.scale)
        y = self.to_out[0](torch.bmm(scores.softmax(dim=-1), v))
        return y.transpose(1, 2).reshape(b, c, h, w) + x


class MidBlock(nn.Module):
    def __init__(self, channels, groups):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, None, groups, EPS) for _ in range(2)])
        self.attentions = nn.ModuleList([VaeAttention(channels, groups)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class EncoderBlock(nn.Module):
    def __init__(self, cin, cout, layers, groups, add_down):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, None, groups, EPS)
                                      for i in range(layers)])
        self.downsamplers = nn.ModuleList([Downsample2D(cout, 0)]) if add_down else None

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        return self.downsamplers[0](x) if self.downsamplers is not None else x


class DecoderBlock(nn.Module):
    def __init__(self, cin, cout, layers, groups, add_up):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, None, groups, EPS)
                                      for i in range(layers)])
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if add_up else None

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        return self.upsamplers[0](x) if self.upsamplers is not None else x


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        boc, g, n = c["block_out_channels"], c["norm_num_groups"], len(c["block_out_channels"])
        self.conv_in = nn.Conv2d(c["in_channels"], boc[0], 3, padding=1)
        self.down_blocks = nn.ModuleList([EncoderBlock(boc[max(i - 1, 0)], boc[i], c["layers_per_block"], g, i < n - 1)
                                          for i in range(n)])
        self.mid_block = MidBlock(boc[-1], g)
        self.conv_norm_out = nn.GroupNorm(g, boc[-1], eps=EPS)
        self.conv_out = nn.Conv2d(boc[-1], 2 * c["latent_channels"], 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for blk in self.down_blocks:
            x = blk(x)
        return self.conv_out(F.silu(self.conv_norm_out(self.mid_block(x))))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        rboc, g, n = c["block_out_channels"][::-1], c["norm_num_groups"], len(c["block_out_channels"])
        self.conv_in = nn.Conv2d(c["latent_channels"], rboc[0], 3, padding=1)
        self.mid_block = MidBlock(rboc[0], g)
        self.up_blocks = nn.ModuleList([DecoderBlock(rboc[max(i - 1, 0)], rboc[i], c["layers_per_block"] + 1, g, i < n - 1)
                                        for i in range(n)])
        self.conv_norm_out = nn.GroupNorm(g, rboc[-1], eps=EPS)
        self.conv_out = nn.Conv2d(rboc[-1], c["out_channels"], 3, padding=1)

    def forward(self, z):
        x = self.mid_block(self.conv_in(z))
        for blk in self.up_blocks:
            x = blk(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    """diffusers' AutoencoderKL (SD VAE); `forward(z)` is `decode(z)` so the decoder exports to ONNX as the model."""

    def __init__(self, config):
        super().__init__()
        c = {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 1, "norm_num_groups": 32,
             "act_fn": "silu", **config}
        for key, ok in (("act_fn", "silu"), ("use_quant_conv", True), ("use_post_quant_conv", True),
                        ("mid_block_add_attention", True)):
            if c.get(key, ok) != ok:
                raise ValueError(f"torch_vae: config {key}={c[key]!r} is not supported (only {ok!r})")
        for kinds, ok in (("down_block_types", "DownEncoderBlock2D"), ("up_block_types", "UpDecoderBlock2D")):
            if any(k != ok for k in c.get(kinds, [ok])):
                raise ValueError(f"torch_vae: {kinds} {c[kinds]} (only {ok})")
        self.config = c
        latent = c["latent_channels"]
        self.encoder = Encoder(c)
        self.decoder = Decoder(c)
        self.quant_conv = nn.Conv2d(2 * latent, 2 * latent, 1)
        self.post_quant_conv = nn.Conv2d(latent, latent, 1)

    def encode_moments(self, image):
        """(encoder output, quant_conv output): the posterior's [mean, logvar] along channels."""
        raw = self.encoder(image)
        return raw, self.quant_conv(raw)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))

    def forward(self, z):
        return self.decode(z)
