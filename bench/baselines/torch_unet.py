"""Minimal PyTorch port of diffusers' UNet2DConditionModel (SD 1.x / 2.x configs), the bench's PyTorch baseline.

Module and parameter names equal diffusers' state-dict keys (v0.25), so a diffusers `unet/` checkpoint loads with
`load_state_dict(strict=True)`. NCHW, as PyTorch does. Python stdlib + torch only (torch 1.13 has no SDPA: the
attention is diffusers' classic `AttnProcessor` path, baddbmm -> softmax -> bmm).

    cfg = json.load(open("unet/config.json"))
    unet = UNet2DConditionModel(cfg)
    unet.load_state_dict(torch.load("unet/diffusion_pytorch_model.bin"), strict=True)
    eps = unet(sample, 981, encoder_hidden_states)      # [B,4,H,W], scalar or [B] timesteps, [B,77,D]

Supported: CrossAttnDownBlock2D / DownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D / CrossAttnUpBlock2D, positional
time embedding, per-block or shared head counts, conv or linear proj_in/proj_out. Anything else in the config
(class/addition embeddings, time-scale-shift resnets, dual cross attention, ...) raises `ValueError`.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

# Config keys whose non-default values this port does not implement (value accepted, in the order checked).
_UNSUPPORTED = {
    "class_embed_type": None, "addition_embed_type": None, "encoder_hid_dim": None, "time_cond_proj_dim": None,
    "timestep_post_act": None, "time_embedding_type": "positional", "resnet_time_scale_shift": "default",
    "dual_cross_attention": False, "only_cross_attention": False, "resnet_skip_time_act": False,
    "conv_in_kernel": 3, "conv_out_kernel": 3, "attention_type": "default", "num_class_embeds": None,
    "cross_attention_norm": None, "time_embedding_dim": None, "time_embedding_act_fn": None,
    "mid_block_type": "UNetMidBlock2DCrossAttn", "act_fn": "silu", "resnet_out_scale_factor": 1.0,
    "mid_block_only_cross_attention": None, "reverse_transformer_layers_per_block": None, "dropout": 0.0,
}

_DEFAULTS = {
    "in_channels": 4, "out_channels": 4, "center_input_sample": False, "flip_sin_to_cos": True, "freq_shift": 0,
    "layers_per_block": 2, "downsample_padding": 1, "mid_block_scale_factor": 1.0, "norm_num_groups": 32,
    "norm_eps": 1e-5, "cross_attention_dim": 1280, "transformer_layers_per_block": 1, "attention_head_dim": 8,
    "num_attention_heads": None, "use_linear_projection": False, "upcast_attention": False,
}


def resolve_config(cfg):
    """Fills defaults, rejects what the port does not implement, and expands per-block lists (diffusers' rules)."""
    c = {**_DEFAULTS, **{k: v for k, v in cfg.items() if not k.startswith("_")}}
    for key, ok in _UNSUPPORTED.items():
        v = c.get(key, ok)
        if (not all(x == ok for x in v)) if isinstance(v, list) else v != ok:
            raise ValueError(f"torch_unet: config {key}={c[key]!r} is not supported (only {ok!r})")
    for key in ("down_block_types", "up_block_types", "block_out_channels"):
        if key not in c:
            raise ValueError(f"torch_unet: config lacks {key}")
    n = len(c["down_block_types"])
    # QUIRK (diffusers): `attention_head_dim` is the number of heads when `num_attention_heads` is unset.
    heads = c["num_attention_heads"] or c["attention_head_dim"]
    per_block = lambda v: list(v) if isinstance(v, (list, tuple)) else [v] * n  # noqa: E731
    c["heads"] = per_block(heads)
    c["cross_dims"] = per_block(c["cross_attention_dim"])
    c["layers"] = per_block(c["layers_per_block"])
    c["t_layers"] = per_block(c["transformer_layers_per_block"])
    return c


def timestep_embedding(t, dim, flip_sin_to_cos, shift, max_period=10000):
    """Sinusoidal embedding (diffusers get_timestep_embedding): [B] -> [B, dim]."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - shift)
    emb = t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    return F.pad(emb, (0, 1, 0, 0)) if dim % 2 else emb


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps, scale=1.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout) if temb else None
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.scale = scale

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None and temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        skip = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return (skip + h) / self.scale


class Attention(nn.Module):
    """Multi-head attention with diffusers' key names; `probs` (a list) collects the softmax probabilities."""

    def __init__(self, dim, heads, head_dim, context_dim=None, bias=False):
        super().__init__()
        inner = heads * head_dim
        self.heads, self.scale = heads, head_dim ** -0.5
        self.to_q = nn.Linear(dim, inner, bias=bias)
        self.to_k = nn.Linear(context_dim or dim, inner, bias=bias)
        self.to_v = nn.Linear(context_dim or dim, inner, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim), nn.Dropout(0.0)])
        self.probs = None

    def split(self, x):  # [B, N, h*d] -> [B*h, N, d], row = b*heads + head
        b, n, c = x.shape
        return x.reshape(b, n, self.heads, c // self.heads).permute(0, 2, 1, 3).reshape(b * self.heads, n, -1)

    def forward(self, x, context=None):
        ctx = x if context is None else context
        q, k, v = self.split(self.to_q(x)), self.split(self.to_k(ctx)), self.split(self.to_v(ctx))
        if torch.jit.is_tracing():  # ONNX export: `empty` would be exported as a constant zeros tensor
            scores = torch.bmm(q, k.transpose(-1, -2)) * self.scale
        else:
            scores = torch.baddbmm(torch.empty(q.shape[0], q.shape[1], k.shape[1], dtype=q.dtype, device=q.device),
                                   q, k.transpose(-1, -2), beta=0, alpha=self.scale)
        p = scores.softmax(dim=-1)
        if self.probs is not None:
            self.probs.append(p.detach())
        o = torch.bmm(p, v)
        bh, n, d = o.shape
        o = o.reshape(bh // self.heads, self.heads, n, d).permute(0, 2, 1, 3).reshape(bh // self.heads, n, -1)
        return self.to_out[0](o)


class GEGLU(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.proj = nn.Linear(cin, cout * 2)

    def forward(self, x):
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        return hidden * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, head_dim, context_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, head_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, head_dim, context_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, context):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class Transformer2DModel(nn.Module):
    def __init__(self, channels, heads, context_dim, groups, layers, linear):
        super().__init__()
        self.linear = linear
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        proj = (lambda: nn.Linear(channels, channels)) if linear else (lambda: nn.Conv2d(channels, channels, 1))
        self.proj_in = proj()
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(channels, heads, channels // heads, context_dim) for _ in range(layers)])
        self.proj_out = proj()

    def forward(self, x, context):
        b, c, h, w = x.shape
        y = self.norm(x)
        if not self.linear:
            y = self.proj_in(y)
        y = y.permute(0, 2, 3, 1).reshape(b, h * w, c)
        if self.linear:
            y = self.proj_in(y)
        for blk in self.transformer_blocks:
            y = blk(y, context)
        if self.linear:
            y = self.proj_out(y)
        y = y.reshape(b, h, w, c).permute(0, 3, 1, 2)
        if not self.linear:
            y = self.proj_out(y)
        return y + x


class Downsample2D(nn.Module):
    def __init__(self, channels, padding):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=padding)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)) if self.padding == 0 else x)


class Upsample2D(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x, size=None):
        if size is None:
            return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class DownBlock(nn.Module):
    """DownBlock2D, or CrossAttnDownBlock2D when `attn` (kwargs of Transformer2DModel) is given."""

    def __init__(self, cin, cout, temb, layers, groups, eps, add_down, pad, attn=None):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, temb, groups, eps) for i in range(layers)])
        if attn is not None:
            self.attentions = nn.ModuleList([Transformer2DModel(cout, **attn) for _ in range(layers)])
        self.downsamplers = nn.ModuleList([Downsample2D(cout, pad)]) if add_down else None

    def forward(self, x, temb, context):
        states = []
        for i, resnet in enumerate(self.resnets):
            x = resnet(x, temb)
            if hasattr(self, "attentions"):
                x = self.attentions[i](x, context)
            states.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            states.append(x)
        return x, states


class UpBlock(nn.Module):
    """UpBlock2D, or CrossAttnUpBlock2D when `attn` is given; resnet i takes [hidden, skip] along channels."""

    def __init__(self, cin, prev, cout, temb, layers, groups, eps, add_up, attn=None):
        super().__init__()
        self.resnets = nn.ModuleList([
            ResnetBlock2D((prev if i == 0 else cout) + (cin if i == layers - 1 else cout), cout, temb, groups, eps)
            for i in range(layers)])
        if attn is not None:
            self.attentions = nn.ModuleList([Transformer2DModel(cout, **attn) for _ in range(layers)])
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if add_up else None

    def forward(self, x, skips, temb, context, size=None):
        for i, resnet in enumerate(self.resnets):
            x = resnet(torch.cat([x, skips.pop()], dim=1), temb)
            if hasattr(self, "attentions"):
                x = self.attentions[i](x, context)
        return self.upsamplers[0](x, size) if self.upsamplers is not None else x


class UNetMidBlock2DCrossAttn(nn.Module):
    def __init__(self, channels, temb, groups, eps, scale, attn, t_layers=1):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, temb, groups, eps, scale) for _ in range(2)])
        self.attentions = nn.ModuleList([Transformer2DModel(channels, **{**attn, "layers": t_layers})])

    def forward(self, x, temb, context):
        x = self.resnets[0](x, temb)
        return self.resnets[1](self.attentions[0](x, context), temb)


class UNet2DConditionModel(nn.Module):
    """diffusers' UNet2DConditionModel for SD 1.x / 2.x configs; `forward(sample, timestep, context)` -> eps."""

    def __init__(self, config):
        super().__init__()
        c = self.config = resolve_config(config)
        boc, groups, eps = c["block_out_channels"], c["norm_num_groups"], c["norm_eps"]
        temb = boc[0] * 4
        def attn(kind, i, heads):  # Transformer2DModel kwargs of a CrossAttn* block, None for a plain block
            return dict(heads=heads, context_dim=c["cross_dims"][i], groups=groups, layers=c["t_layers"][i],
                        linear=c["use_linear_projection"]) if kind.startswith("CrossAttn") else None

        self.conv_in = nn.Conv2d(c["in_channels"], boc[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(boc[0], temb)
        self.down_blocks = nn.ModuleList()
        cout = boc[0]
        for i, kind in enumerate(c["down_block_types"]):
            if kind not in ("CrossAttnDownBlock2D", "DownBlock2D"):
                raise ValueError(f"torch_unet: down block {kind} is not supported")
            cin, cout = cout, boc[i]
            self.down_blocks.append(DownBlock(cin, cout, temb, c["layers"][i], groups, eps, i < len(boc) - 1,
                                              c["downsample_padding"], attn(kind, i, c["heads"][i])))
        mid_attn = attn("CrossAttn", -1, c["heads"][-1])
        mid_attn.pop("layers")
        self.mid_block = UNetMidBlock2DCrossAttn(boc[-1], temb, groups, eps, c["mid_block_scale_factor"], mid_attn,
                                                 c["t_layers"][-1])
        self.up_blocks = nn.ModuleList()
        rboc, rheads = boc[::-1], c["heads"][::-1]
        n = len(boc)
        cout = rboc[0]
        for i, kind in enumerate(c["up_block_types"]):
            if kind not in ("CrossAttnUpBlock2D", "UpBlock2D"):
                raise ValueError(f"torch_unet: up block {kind} is not supported")
            prev, cout, cin = cout, rboc[i], rboc[min(i + 1, n - 1)]
            self.up_blocks.append(UpBlock(cin, prev, cout, temb, c["layers"][::-1][i] + 1, groups, eps, i < n - 1,
                                          attn(kind, n - 1 - i, rheads[i])))
        self.conv_norm_out = nn.GroupNorm(groups, boc[0], eps=eps)
        self.conv_out = nn.Conv2d(boc[0], c["out_channels"], 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, taps=None):
        """`taps` (a dict) receives the outputs named like the fixture's `inter.*` tensors."""
        c = self.config
        t = timestep if torch.is_tensor(timestep) else torch.tensor([timestep], device=sample.device)
        t = (t[None] if t.ndim == 0 else t).expand(sample.shape[0])
        t_proj = timestep_embedding(t, c["block_out_channels"][0], c["flip_sin_to_cos"], c["freq_shift"])
        temb = self.time_embedding(t_proj.to(sample.dtype))
        if c["center_input_sample"]:
            sample = 2 * sample - 1.0
        x = self.conv_in(sample)
        tap = (lambda name, v: taps.__setitem__(name, v)) if taps is not None else (lambda name, v: None)  # noqa: E731
        tap("time_proj", t_proj)
        tap("time_embedding", temb)
        tap("conv_in", x)
        skips = [x]
        for i, block in enumerate(self.down_blocks):
            x, states = block(x, temb, encoder_hidden_states)
            skips += states
            tap(f"down_blocks.{i}", x)
        x = self.mid_block(x, temb, encoder_hidden_states)
        tap("mid_block", x)
        for i, block in enumerate(self.up_blocks):
            mine = skips[len(skips) - len(block.resnets):]
            del skips[len(skips) - len(block.resnets):]
            # diffusers' forward_upsample_size: an explicit size only when 2x does not give the skip's size
            size = tuple(skips[-1].shape[-2:]) if skips else None
            size = None if size == (2 * x.shape[-2], 2 * x.shape[-1]) else size
            x = block(x, mine, temb, encoder_hidden_states, size)
            tap(f"up_blocks.{i}", x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))
