"""Photometric augmentation of a whole batch on the training device, after the host-to-device copy.

The same ops as the worker-side pipeline of :func:`har.data.transforms.photometric.build_photometric` (brightness/contrast,
per-channel gamma, hue/saturation matrix, blur or noise), with the same parameter ranges and probabilities, drawn
per sample. On a GPU node the DataLoader workers are what limits throughput (8 GPUs share one machine's cores),
while these ops cost the GPU microseconds per batch: moving them off the workers is har's default for COCO
(``augment.photometric.on_device: true``; ``bench/pipeline.py`` measures both placements).

Differences from the worker-side ops, all deliberate:

* one float pass, rounded to uint8 once at the end (the worker rounds after every op);
* noise is fresh Gaussian noise per pixel (the worker adds a shifted window of a fixed field, for speed);
* JPEG re-compression needs an encoder and stays in the worker (so it comes before the other ops there).

Every parameter is drawn on the batch's device: no host synchronisation inside the training step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)  # R, G, B


def hue_saturation_matrix(hue_deg: torch.Tensor, sat: torch.Tensor) -> torch.Tensor:
    """(B,) hue rotations in degrees about the grey axis and (B,) saturation factors about luma → (B, 3, 3) RGB
    colour matrices (the matrix of :class:`har.data.transforms.photometric.HueSaturation`)."""
    t = torch.deg2rad(hue_deg)
    c, s, k = torch.cos(t), torch.sin(t) / math.sqrt(3.0), (1.0 - torch.cos(t)) / 3.0
    rotate = torch.stack(
        [torch.stack([c + k, k - s, k + s], -1), torch.stack([k + s, c + k, k - s], -1),
         torch.stack([k - s, k + s, c + k], -1)], -2)  # fmt: skip
    # Constants filled on the device (torch.tensor(list) would be a host-to-device copy in every step).
    luma = torch.stack([torch.full_like(sat, w) for w in _LUMA], -1)  # (B, 3)
    eye = torch.eye(3, device=hue_deg.device, dtype=hue_deg.dtype)
    saturate = sat[:, None, None] * eye + (1.0 - sat)[:, None, None] * luma[:, None, :]
    return saturate @ rotate


def box_blur(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Mean over ``kernel`` × ``kernel`` windows of (B, C, H, W), borders mirrored (OpenCV's default border)."""
    pad = kernel // 2
    return F.avg_pool2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), kernel, stride=1)


class BatchPhotometric:
    """Pixel-only augmentation of (B, 3, H, W) uint8 RGB batches on their device; returns uint8.

    Args mirror :class:`har.data.transforms.photometric.Photometric` (``jpeg_*`` are ignored here: see the module docstring).
    """

    def __init__(
        self,
        brightness: float = 0.2,
        contrast: float = 0.2,
        brightness_contrast_prob: float = 0.5,
        gamma: float = 0.1,
        gamma_prob: float = 0.5,
        hue: float = 10.0,
        saturation: float = 0.2,
        hue_saturation_prob: float = 0.5,
        blur_noise_prob: float = 0.1,
        noise_std: float = 0.03,
        blur_kernels: tuple[int, ...] = (3, 5),
        **_worker_only,
    ) -> None:
        self.brightness, self.contrast, self.bc_prob = brightness, contrast, brightness_contrast_prob
        self.gamma, self.gamma_prob = gamma, gamma_prob
        self.hue, self.saturation, self.hs_prob = hue, saturation, hue_saturation_prob
        self.blur_noise_prob, self.noise_std, self.blur_kernels = blur_noise_prob, noise_std, tuple(blur_kernels)

    def draw(self, b: int, device: torch.device, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Per-sample parameters for a batch of ``b``, drawn on ``device``: ``*_on`` (B,) bool masks, ``alpha``,
        ``beta`` (B,) (contrast factor, brightness shift in [0, 255] units), ``gamma`` (B, 3) RGB, ``hue`` (B,)
        degrees, ``sat`` (B,), ``degrade`` (B,) in [0, 1): < 0.5 noise, else blur with ``blur_kernels`` in equal
        shares."""

        def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand((b, *shape), device=device, generator=generator)

        return {
            "bc_on": u(0, 1) < self.bc_prob,
            "alpha": 1.0 + u(-self.contrast, self.contrast),
            "beta": 255.0 * u(-self.brightness, self.brightness),
            "gamma_on": u(0, 1) < self.gamma_prob,
            "gamma": u(1.0 - self.gamma, 1.0 + self.gamma, 3),
            "hs_on": u(0, 1) < self.hs_prob,
            "hue": u(-self.hue, self.hue),
            "sat": u(1.0 - self.saturation, 1.0 + self.saturation),
            "degrade_on": u(0, 1) < self.blur_noise_prob,
            "degrade": u(0, 1),
        }

    def apply(self, images: torch.Tensor, params: dict[str, torch.Tensor],
              generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
        """(B, 3, H, W) uint8 RGB and :meth:`draw`'s parameters → (B, 3, H, W) uint8."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"BatchPhotometric expects (B, 3, H, W) images, got {tuple(images.shape)}")
        x = images.float()

        def per_sample(t: torch.Tensor) -> torch.Tensor:  # (B,) or (B, C) → broadcastable over (B, C, H, W)
            return t.reshape(t.shape[0], -1, 1, 1)

        # albumentations' RandomBrightnessContrast on uint8: x * alpha + beta, clipped.
        bc = (x * per_sample(params["alpha"]) + per_sample(params["beta"])).clamp(0, 255)
        x = torch.where(per_sample(params["bc_on"]), bc, x)
        # deephar's "chpower": each channel to its own power.
        x = torch.where(per_sample(params["gamma_on"]), 255.0 * (x / 255.0).pow(per_sample(params["gamma"])), x)
        m = hue_saturation_matrix(params["hue"], params["sat"])  # (B, 3, 3)
        x = torch.where(per_sample(params["hs_on"]), torch.einsum("bij,bjhw->bihw", m, x).clamp(0, 255), x)
        if self.blur_noise_prob > 0:
            # One of noise or blur, half and half, as albumentations' OneOf of the worker pipeline.
            which = per_sample(params["degrade"])
            noise = torch.randn(x.shape, device=x.device, generator=generator) * (self.noise_std * 255.0)
            out = torch.where(which < 0.5, (x + noise).clamp(0, 255), x)
            step = 0.5 / len(self.blur_kernels)
            for i, k in enumerate(self.blur_kernels):
                pick = (which >= 0.5 + i * step) & (which < 0.5 + (i + 1) * step)
                out = torch.where(pick, box_blur(x, k), out)
            x = torch.where(per_sample(params["degrade_on"]), out, x)
        return x.round_().to(torch.uint8)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment (B, 3, H, W) uint8 RGB images with freshly drawn per-sample parameters."""
        return self.apply(images, self.draw(images.shape[0], images.device, generator), generator)
