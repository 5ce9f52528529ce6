"""A minimal PyTorch CLIP (text and ViT image towers, projections, logit scale) with Hugging Face `CLIPModel`
state-dict keys (`text_model.*`, `vision_model.*`, `visual_projection.weight`, `text_projection.weight`,
`logit_scale`), for the StyleCLIP baseline of the bench.

Written from the architecture, with semedit's TypeScript CLIP (packages/core/src/clip/) as the spec: pre-LayerNorm
transformer layers (LayerNorm eps from the config, attention with q scaled by head_dim^-0.5, MLP fc1 -> activation ->
fc2), a causal mask in the text tower, the text feature read at each row's EOS token (transformers' rule: the first
`eos_token_id`, or the argmax id when `eos_token_id` is the legacy 2), and the image feature from the class token
after `post_layernorm`. `openai_to_hf` renames an OpenAI CLIP state dict (`visual.*`, `transformer.resblocks.*`)
into these keys and derives its config the way OpenAI's `build_model` does.

    clip = CLIPModel(config_json)                      # a CLIPConfig dict (`text_config`, `vision_config`, ...)
    clip.load_state_dict(state, strict=True)
    clip.get_image_features(pixels)                    # [N, projection_dim], pixels NCHW
"""
import math
import re

import torch
import torch.nn.functional as F
from torch import nn

ACTS = {
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
}
TEXT_DEFAULTS = {"vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12,
                 "num_attention_heads": 8, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                 "layer_norm_eps": 1e-5, "eos_token_id": 49407}
VISION_DEFAULTS = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                   "num_channels": 3, "image_size": 224, "patch_size": 32, "hidden_act": "quick_gelu",
                   "layer_norm_eps": 1e-5}


def resolve(config):
    """transformers' defaults under a CLIPConfig dict: {"text": {...}, "vision": {...}, "projection_dim": int}."""
    text = {**TEXT_DEFAULTS, **(config.get("text_config") or {}), **(config.get("text_config_dict") or {})}
    vision = {**VISION_DEFAULTS, **(config.get("vision_config") or {}), **(config.get("vision_config_dict") or {})}
    return {"text": text, "vision": vision, "projection_dim": int(config.get("projection_dim", 512))}


class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads, self.scale = heads, (width // heads) ** -0.5
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(width, width) for _ in range(4))

    def forward(self, x, mask=None):
        b, n, c = x.shape
        h, d = self.heads, c // self.heads

        def split(t):  # [B, N, C] -> [B*h, N, d]
            return t.reshape(b, n, h, d).transpose(1, 2).reshape(b * h, n, d)

        q, k, v = split(self.q_proj(x) * self.scale), split(self.k_proj(x)), split(self.v_proj(x))
        scores = torch.bmm(q, k.transpose(1, 2))
        if mask is not None:
            scores = scores + mask
        out = torch.bmm(scores.softmax(dim=-1), v)
        return self.out_proj(out.reshape(b, h, n, d).transpose(1, 2).reshape(b, n, c))


class MLP(nn.Module):
    def __init__(self, width, hidden, act):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(width, hidden), nn.Linear(hidden, width), ACTS[act]

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        w, eps = c["hidden_size"], c["layer_norm_eps"]
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(w, eps=eps), nn.LayerNorm(w, eps=eps)
        self.self_attn = Attention(w, c["num_attention_heads"])
        self.mlp = MLP(w, c["intermediate_size"], c["hidden_act"])

    def forward(self, x, mask=None):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(c) for _ in range(c["num_hidden_layers"]))

    def forward(self, x, mask=None):
        states = [x]
        for layer in self.layers:
            states.append(layer(states[-1], mask))
        return states


class TextEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_embedding = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embedding = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])


class TextTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embeddings, self.encoder = TextEmbeddings(c), Encoder(c)
        self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, ids):
        """ids [B, L] (int) -> pooled [B, C] at each row's EOS."""
        ids = ids.long()
        n = ids.shape[1]
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding.weight[:n]
        causal = torch.full((n, n), float("-inf")).triu(1)
        x = self.final_layer_norm(self.encoder(x, causal)[-1])
        eos = self.c.get("eos_token_id")
        at = ids.argmax(-1) if eos in (None, 2) else (ids == eos).int().argmax(-1)
        return x[torch.arange(x.shape[0]), at]


class VisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        w, p = c["hidden_size"], c["patch_size"]
        self.class_embedding = nn.Parameter(torch.randn(w))
        self.patch_embedding = nn.Conv2d(c["num_channels"], w, p, stride=p, bias=False)
        self.position_embedding = nn.Embedding((c["image_size"] // p) ** 2 + 1, w)

    def forward(self, pixels):
        x = self.patch_embedding(pixels).flatten(2).transpose(1, 2)  # [B, patches, C]
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        return torch.cat([cls, x], 1) + self.position_embedding.weight


class VisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        w, eps = c["hidden_size"], c["layer_norm_eps"]
        self.embeddings, self.encoder = VisionEmbeddings(c), Encoder(c)
        self.pre_layrnorm, self.post_layernorm = nn.LayerNorm(w, eps=eps), nn.LayerNorm(w, eps=eps)

    def forward(self, pixels):
        """pixels [B, 3, S, S] -> (hidden states: pre_layrnorm output then every layer's, pooled [B, C])."""
        states = self.encoder(self.pre_layrnorm(self.embeddings(pixels)))
        return states, self.post_layernorm(states[-1][:, 0])


class CLIPModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = cfg = resolve(config)
        d = cfg["projection_dim"]
        self.text_model, self.vision_model = TextTransformer(cfg["text"]), VisionTransformer(cfg["vision"])
        self.visual_projection = nn.Linear(cfg["vision"]["hidden_size"], d, bias=False)
        self.text_projection = nn.Linear(cfg["text"]["hidden_size"], d, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.get("logit_scale_init_value", 2.6592))))

    def load_state_dict(self, state, strict=True):
        """As nn.Module's, with `logit_scale` accepted as [] or [1] (both occur in HF checkpoints)."""
        state = dict(state)
        if "logit_scale" in state:
            state["logit_scale"] = state["logit_scale"].reshape([])
        return super().load_state_dict(state, strict=strict)

    def get_text_features(self, ids):
        return self.text_projection(self.text_model(ids))

    def get_image_features(self, pixels):
        return self.visual_projection(self.vision_model(pixels)[1])

    def logits(self, image_features, text_features):
        """exp(logit_scale) * normalized image features @ normalized text features^T: [N_images, N_texts]."""
        img = image_features / image_features.norm(dim=-1, keepdim=True)
        txt = text_features / text_features.norm(dim=-1, keepdim=True)
        return self.logit_scale.exp() * img @ txt.t()


def openai_to_hf(state):
    """An OpenAI CLIP state dict -> (HF `CLIPModel` state dict, CLIPConfig dict), widths and depths read from the
    tensors as OpenAI's `build_model` reads them (heads = width / 64; quick_gelu; EOS = the argmax token)."""
    out, layers = {}, {"visual.transformer": 0, "transformer": 0}
    tower = {"visual.transformer": "vision_model.encoder", "transformer": "text_model.encoder"}
    names = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2",
             "attn.out_proj": "self_attn.out_proj"}
    direct = {
        "visual.class_embedding": "vision_model.embeddings.class_embedding",
        "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
        "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
        "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
        "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
        "visual.ln_post.weight": "vision_model.post_layernorm.weight",
        "visual.ln_post.bias": "vision_model.post_layernorm.bias",
        "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
        "positional_embedding": "text_model.embeddings.position_embedding.weight",
        "ln_final.weight": "text_model.final_layer_norm.weight", "ln_final.bias": "text_model.final_layer_norm.bias",
        "logit_scale": "logit_scale",
    }
    for key, t in state.items():
        if key in ("input_resolution", "context_length", "vocab_size"):
            continue  # JIT checkpoints' extra entries, dropped by build_model too
        if key in direct:
            out[direct[key]] = t
        elif key == "visual.proj":
            out["visual_projection.weight"] = t.t().contiguous()
        elif key == "text_projection":
            out["text_projection.weight"] = t.t().contiguous()
        else:
            m = re.fullmatch(r"(visual\.transformer|transformer)\.resblocks\.(\d+)\.(.+)[._](weight|bias)", key)
            if not m:
                raise KeyError(f"openai_to_hf: unexpected key {key}")
            prefix, i, part, kind = m.groups()
            layers[prefix] = max(layers[prefix], int(i) + 1)
            base = f"{tower[prefix]}.layers.{i}"
            if part == "attn.in_proj":
                for name, chunk in zip(("q_proj", "k_proj", "v_proj"), t.chunk(3, dim=0)):
                    out[f"{base}.self_attn.{name}.{kind}"] = chunk.contiguous()
            else:
                out[f"{base}.{names[part]}.{kind}"] = t
    vw, tw = state["visual.conv1.weight"].shape[0], state["ln_final.weight"].shape[0]
    patch = state["visual.conv1.weight"].shape[-1]
    grid = round(math.sqrt(state["visual.positional_embedding"].shape[0] - 1))
    mlp = {p: state[f"{p}.resblocks.0.mlp.c_fc.weight"].shape[0] for p in layers}
    config = {
        "projection_dim": state["text_projection"].shape[1],
        "text_config": {"vocab_size": state["token_embedding.weight"].shape[0], "hidden_size": tw,
                        "intermediate_size": mlp["transformer"], "num_hidden_layers": layers["transformer"],
                        "num_attention_heads": tw // 64, "eos_token_id": None,
                        "max_position_embeddings": state["positional_embedding"].shape[0]},
        "vision_config": {"hidden_size": vw, "intermediate_size": mlp["visual.transformer"],
                          "num_hidden_layers": layers["visual.transformer"], "num_attention_heads": vw // 64,
                          "image_size": patch * grid, "patch_size": patch},
    }
    return out, config
