"""Pixel-only augmentation of a warped crop (albumentations; targets are untouched) and its configuration.

The ops are cheap: look-up tables, 3×3 colour matrices and saturating adds on the crop (albumentations'
``HueSaturationValue`` and ``GaussNoise`` cost 15-60× more on a 256² crop and are not used). On GPU nodes all but
JPEG re-compression can run per batch on the device instead (:mod:`har.data.transforms.batch_photometric`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch


@dataclass
class Photometric:
    """Pixel-only augmentation of the warped crop; each op is applied with its own probability.

    Sources of the defaults: brightness/contrast are albumentations' ``RandomBrightnessContrast`` defaults;
    per-channel gamma 0.9-1.1 is deephar's "chpower" (deephar applies it to every sample); blur with p = 0.1
    follows RTMPose's recipe; hue ±10°, saturation ±20 %, noise and JPEG quality are har's mild choices.
    """

    brightness: float = 0.2  # ± shift, fraction of the value range
    contrast: float = 0.2  # ± relative contrast change
    brightness_contrast_prob: float = 0.5
    gamma: float = 0.1  # per-channel gamma drawn from [1 - gamma, 1 + gamma] (deephar "chpower")
    gamma_prob: float = 0.5
    hue: float = 10.0  # ± degrees of hue rotation
    saturation: float = 0.2  # ± relative saturation change
    hue_saturation_prob: float = 0.5
    blur_noise_prob: float = 0.1  # one of: box blur 3-5 px, additive Gaussian noise
    noise_std: float = 0.03  # fraction of the value range
    jpeg_quality: tuple[int, int] = (40, 90)
    jpeg_prob: float = 0.1
    # Run the ops other than JPEG re-compression on the training device, per batch after the host-to-device copy
    # (har.data.transforms.batch_photometric), instead of in the DataLoader workers: the workers are what limits a GPU node.
    # "auto": on the device when the trainer runs on an accelerator, else in the workers (the datamodule decides;
    # a transform used on its own treats "auto" as the workers).
    on_device: bool | str = False


class ChannelGamma(A.ImageOnlyTransform):
    """deephar's "chpower": each channel raised to its own power from [1 - gamma, 1 + gamma] (one LUT pass)."""

    def __init__(self, gamma: float = 0.1, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.gamma = gamma

    def get_params(self) -> dict[str, Any]:
        return {"gammas": self.random_generator.uniform(1.0 - self.gamma, 1.0 + self.gamma, size=3)}

    def apply(self, img: np.ndarray, gammas: np.ndarray, **params: Any) -> np.ndarray:
        x = np.linspace(0.0, 1.0, 256)[:, None]
        lut = np.rint(np.power(x, gammas[None, :]) * 255.0).astype(np.uint8)  # (256, 3)
        return cv2.LUT(img, lut.reshape(256, 1, 3))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("gamma",)


class HueSaturation(A.ImageOnlyTransform):
    """Hue rotation about the grey axis and saturation scaling about luma, as one 3×3 colour matrix.

    A linear stand-in for albumentations' ``HueSaturationValue`` (an HSV round trip, ~15× slower on a crop).
    ``bgr``: the images are in OpenCV's channel order.
    """

    _LUMA = np.array([0.299, 0.587, 0.114])  # R, G, B

    def __init__(self, hue: float = 10.0, saturation: float = 0.2, bgr: bool = False, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.hue, self.saturation, self.bgr = hue, saturation, bgr

    def get_params(self) -> dict[str, Any]:
        rng = self.random_generator
        return {"hue": rng.uniform(-self.hue, self.hue), "sat": rng.uniform(1 - self.saturation, 1 + self.saturation)}

    def apply(self, img: np.ndarray, hue: float, sat: float, **params: Any) -> np.ndarray:
        t = math.radians(hue)
        c, s, k = math.cos(t), math.sin(t) / math.sqrt(3.0), (1.0 - math.cos(t)) / 3.0
        rotate = np.array([[c + k, k - s, k + s], [k + s, c + k, k - s], [k - s, k + s, c + k]])  # about (1,1,1)
        saturate = sat * np.eye(3) + (1.0 - sat) * self._LUMA[None, :]  # rows keep luma, scale chroma
        rgb = saturate @ rotate
        return cv2.transform(img, (rgb[::-1, ::-1] if self.bgr else rgb).astype(np.float32))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("hue", "saturation", "bgr")


class FieldNoise(A.ImageOnlyTransform):
    """Additive Gaussian noise: a random window of a noise field drawn once per process, added with saturation.

    Drawing fresh Gaussian noise per crop (albumentations' ``GaussNoise``) costs ~2 ms on a 256² crop; a shifted
    window of a fixed field, added or subtracted, costs ~0.03 ms and is as good for augmentation.
    """

    _MARGIN = 64  # window offsets per axis

    def __init__(self, std: float = 0.03, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.std = std
        self._field: tuple[np.ndarray, np.ndarray] | None = None  # (positive, negative) parts, uint8

    def _noise(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        need = (shape[0] + self._MARGIN, shape[1] + self._MARGIN, *shape[2:])
        if self._field is None or any(a < b for a, b in zip(self._field[0].shape, need)):
            noise = np.random.default_rng(0).normal(0.0, self.std * 255.0, need)
            self._field = (np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8))
        return self._field

    def get_params(self) -> dict[str, Any]:
        return {"offset": self.random_generator.integers(0, self._MARGIN, size=2), "sign": self.py_random.random()}

    def apply(self, img: np.ndarray, offset: np.ndarray, sign: float, **params: Any) -> np.ndarray:
        pos, neg = self._noise(img.shape)
        (y, x), (h, w) = offset, img.shape[:2]
        if sign < 0.5:
            pos, neg = neg, pos
        out = cv2.add(img, pos[y : y + h, x : x + w])
        return cv2.subtract(out, neg[y : y + h, x : x + w], dst=out)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("std",)


def build_photometric(cfg: Photometric, bgr: bool = False) -> A.Compose:
    """The photometric pipeline for uint8 crops, RGB or (``bgr``) BGR; pixel-only: targets are untouched.

    Only the hue/saturation matrix depends on the channel order (the other ops treat channels alike or draw them
    independently; ``ImageCompression`` hands the array to ``cv2.imencode``, which reads it as BGR). With
    ``cfg.on_device`` only JPEG re-compression stays here (the rest is :mod:`har.data.transforms.batch_photometric`).
    """
    jpeg = A.ImageCompression(quality_range=tuple(cfg.jpeg_quality), p=cfg.jpeg_prob)
    if cfg.on_device is True:
        return A.Compose([jpeg] if jpeg.p > 0 else [])
    ops = [
        A.RandomBrightnessContrast(cfg.brightness, cfg.contrast, p=cfg.brightness_contrast_prob),
        ChannelGamma(cfg.gamma, p=cfg.gamma_prob),
        HueSaturation(cfg.hue, cfg.saturation, bgr=bgr, p=cfg.hue_saturation_prob),
        A.OneOf([A.Blur(blur_limit=(3, 5)), FieldNoise(cfg.noise_std)], p=cfg.blur_noise_prob),
        jpeg,
    ]
    return A.Compose([op for op in ops if op.p > 0])


class CropPhotometric:
    """The photometric pipeline of a :class:`Photometric` config applied to uint8 crops (BGR when ``bgr``).

    albumentations draws from its own generator, seeded from ``torch.initial_seed()`` in each process: runs are
    reproducible, DataLoader workers get different streams, and the geometric draws (a separate generator per
    sample) are untouched, so the targets do not depend on whether photometric augmentation is on.
    """

    def __init__(self, cfg: Photometric, bgr: bool = False) -> None:
        self.compose = build_photometric(cfg, bgr)
        self._seed: tuple[int, int] | None = None

    @property
    def empty(self) -> bool:
        """Nothing to do here (every op runs on the device)."""
        return not self.compose.transforms

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        key = (os.getpid(), torch.initial_seed())
        if key != self._seed:
            self.compose.set_random_seed(key[1] % 2**32)
            self._seed = key
        return self.compose(image=crop)["image"]
