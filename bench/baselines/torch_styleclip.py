"""StyleCLIP latent optimization in PyTorch (the bench's `styleclip-step` baseline), on torch_stylegan2's generator and
torch_clip's CLIP. Written from the algorithm as semedit's `optimizeLatent` (packages/edit/src/styleclip/) states it:

    loss = sum_i CLIP(G(w_i), text) + l2_lambda * sum (w - w_init)^2        CLIP(x, t) = 1 - logits_per_image / 100

CLIP's input is the generator image upsampled x7 (nearest) and average-pooled to CLIP's size, fed as it is (no
mean/std normalization). torch.optim.Adam (betas 0.9/0.999, eps 1e-8) updates the W+ latent with the learning rate
`get_lr(step / steps)`: a linear warm-up over the first 5 % and a cosine ramp-down over the last 25 %. The generator
and CLIP are frozen (`requires_grad_(False)`): only the latent gets a gradient.
"""
import math

import torch
import torch.nn.functional as F


def get_lr(t, initial, rampdown=0.25, rampup=0.05):
    """StyleCLIP's schedule at progress t in [0, 1]."""
    ramp = min(1.0, (1.0 - t) / rampdown)
    return initial * (0.5 - 0.5 * math.cos(ramp * math.pi)) * min(1.0, t / rampup)


def clip_input(clip, img, scale=7, kernel=None):
    """Generator images [N, 3, H, W] -> CLIP input [N, 3, S, S]: nearest x`scale`, then AvgPool2d(kernel) with
    kernel = H * scale / S by default."""
    size = clip.config["vision"]["image_size"]
    if kernel is None:
        if (img.shape[2] * scale) % size:
            raise ValueError(f"cannot map {img.shape[2]} px to CLIP's {size} px with x{scale} upsampling")
        kernel = img.shape[2] * scale // size
    return F.avg_pool2d(F.interpolate(img, scale_factor=scale, mode="nearest"), kernel)


def clip_loss(clip, img, text_features, scale=7, kernel=None):
    """StyleCLIP's CLIPLoss: 1 - logits_per_image / 100, [N_images, N_texts]."""
    return 1 - clip.logits(clip.get_image_features(clip_input(clip, img, scale, kernel)), text_features) / 100


def optimize(G, clip, text_features, latent_init, steps, lr=0.1, l2_lambda=0.008, mode="edit", scale=7, kernel=None,
             lr_ramp=(0.25, 0.05), adam=None, observe=None, noise_mode="const", fused=True):
    """Runs `steps` optimization steps from `latent_init` [B, num_ws, w_dim]; returns (latent, image of the final
    latent). `observe(step, record)` sees each step's tensors: image, loss_clip, loss_l2, loss, grad (before the
    update), latent, exp_avg, exp_avg_sq (after it)."""
    latent_init = latent_init.detach()
    latent = latent_init.clone().requires_grad_(True)
    opt = torch.optim.Adam([latent], lr=lr, **(adam or {}))
    for i in range(steps):
        opt.param_groups[0]["lr"] = get_lr(i / steps, lr, *lr_ramp)
        img = G.synthesize(latent, noise_mode, fused)
        c_loss = clip_loss(clip, img, text_features, scale, kernel).mean(1).sum()
        l2 = (latent_init - latent).square().sum()
        loss = c_loss + l2_lambda * l2 if mode == "edit" else c_loss
        opt.zero_grad()
        loss.backward()
        grad = latent.grad.detach().clone() if observe else None
        opt.step()
        if observe:
            state = opt.state[latent]
            observe(i, {
                "image": img.detach(), "loss_clip": c_loss.detach(), "loss_l2": l2.detach(), "loss": loss.detach(),
                "grad": grad, "latent": latent.detach().clone(), "exp_avg": state["exp_avg"].clone(),
                "exp_avg_sq": state["exp_avg_sq"].clone(), "lr": opt.param_groups[0]["lr"],
            })
    with torch.no_grad():
        return latent.detach(), G.synthesize(latent, noise_mode, fused)
