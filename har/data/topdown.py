"""Top-down person samples: one affine warp from the original image to the network's input crop.

A sample is a person box. Its window (the box grown to the input's aspect ratio and padded by 1.25, or with
half-body augmentation the extent of the upper- or lower-body joints) is augmented (rotation, scale,
translation, horizontal flip with the layout's flip pairs), the image is warped once with ``cv2.warpAffine`` and
the joints are mapped by the same matrix. Photometric augmentation (albumentations, pixel-only) then works on the
crop, so its cost does not depend on the image size. Targets follow deephar: normalised coordinates (see
:mod:`har.codec`), a coordinate mask (labelled and inside the crop) and a visibility target (the same).

The hot path (measured by ``bench/pipeline.py``, figures in BENCHMARKS.md):

* a JPEG is decoded only over the crop's source window (:meth:`TopDownTransform.source_window`) by libjpeg-turbo's
  row skipping and column cropping (:mod:`har.data.jpeg_roi`); the pixels, and so the samples, are those of a whole
  decode (tested), and the warp takes the region's origin into its matrix;
* the window is drawn before the image is read; where it spans at least 2, 4 or 8 image pixels per crop pixel, a
  JPEG is decoded at 1/2, 1/4 or 1/8 resolution by libjpeg's DCT scaling (``cv2.IMREAD_REDUCED_COLOR_*``) and
  the warp matrix is composed with the exact reduced → original change of coordinates (:func:`reduced_affine`);
  the targets use the original matrix, so they do not change;
* OpenCV's BGR decode is warped and augmented as it is; one ``cv2.split`` into the output planes makes the
  (3, H, W) RGB image (a numpy transpose copy costs ~15× more, and no ``cvtColor`` is needed);
* unrotated windows (evaluation, 40 % of training samples) are resampled by ``cv2.resize`` of a pixel-aligned
  region, 2-3× cheaper than ``cv2.warpAffine`` (see :meth:`TopDownTransform.warp`);
* photometric ops are look-up tables, 3×3 colour matrices and saturating adds on the crop (albumentations'
  ``HueSaturationValue`` and ``GaussNoise`` cost 15-60× more on a 256² crop and are not used).

An image that is missing or cannot be decoded is logged, counted and replaced by the next readable sample;
past ``max_failure_fraction`` of failed reads the dataset raises (see :class:`TopDownPoseDataset`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from har.codec import (
    HeatmapCodec,
    apply_affine,
    bbox_to_center_size,
    crop_affine,
    crop_source_window,
    invert_affine,
    shift_affine,
)
from har.data import jpeg_roi
from har.data.coco import CocoIndex
from har.layouts import JointLayout

log = logging.getLogger(__name__)

cv2.setNumThreads(1)  # one thread per DataLoader worker; parallelism comes from the workers


# --------------------------------------------------------------------------------------------------------------
# Configuration


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
    # (har.data.batch_photometric), instead of in the DataLoader workers: the workers are what limits a GPU node.
    # "auto": on the device when the trainer runs on an accelerator, else in the workers (the datamodule decides;
    # a transform used on its own treats "auto" as the workers).
    on_device: bool | str = False


@dataclass
class Augmentation:
    """Training-time augmentation. Values are drawn uniformly from the ranges.

    deephar's MPII recipe used rotation ±40°, scale {0.7, 1.0, 1.3}, flip, no translation. Half-body follows
    mmpose 1.x ``RandomHalfBody`` (its defaults: p 0.3, at least 9 labelled joints, 2 upper / 3 lower, upper
    preferred with p 0.7, padding 1.5), except that the window is centred on the joints' extent rather than
    their mean, so the chosen joints are always inside it before the random scale and shift.
    """

    rotation: float = 40.0  # degrees, ± range
    rotation_prob: float = 0.6  # probability of rotating at all
    scale: tuple[float, float] = (0.75, 1.25)  # window size multiplier
    translation: float = 0.1  # ± fraction of the window size
    flip_prob: float = 0.5
    half_body_prob: float = 0.3  # crop the upper or the lower body only (layout.upper_body); 0 disables
    half_body_min_joints: int = 9  # labelled joints the instance needs for a half-body window
    half_body_min_part_joints: tuple[int, int] = (2, 3)  # labelled (upper, lower) joints a half needs
    half_body_upper_prob: float = 0.7  # chance of preferring the upper half when both qualify
    half_body_padding: float = 1.5  # window over the half's joint extent (then grown to the aspect ratio)
    photometric: Photometric | None = None  # pixel-only ops on the crop; conf/data/coco.yaml turns them on

    def __post_init__(self) -> None:
        # From Hydra the nested group arrives as a mapping.
        if isinstance(self.photometric, Mapping):
            self.photometric = Photometric(**self.photometric)


# --------------------------------------------------------------------------------------------------------------
# Photometric ops: cheap albumentations transforms for the crop


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
    ``cfg.on_device`` only JPEG re-compression stays here (the rest is :mod:`har.data.batch_photometric`).
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


# --------------------------------------------------------------------------------------------------------------
# Reduced-resolution decoding

_DECODE_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}  # fmt: skip


def decode_reduction(m: np.ndarray, max_reduction: int = 8) -> int:
    """Largest of 1, 2, 4, 8 not above the image pixels per crop pixel of ``m`` (original → crop).

    Decoding at 1/r then keeps at least one decoded pixel per crop pixel: the crop loses no detail, and libjpeg's
    DCT scaling averages the pixels a bilinear warp would otherwise skip.
    """
    image_px_per_crop_px = 1.0 / math.sqrt(abs(m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]))
    r = 1
    while 2 * r <= min(image_px_per_crop_px, max_reduction):
        r *= 2
    return r


def reduced_affine(m: np.ndarray, reduction: int) -> np.ndarray:
    """``m`` (original → crop) for an image decoded at 1/``reduction``.

    Reduced pixel ``i`` covers original pixels ``r·i … r·i + r − 1``, whose centre is ``x = r·i + (r − 1)/2``
    (pixel centres at integers, :mod:`har.codec`); the result is ``m`` composed with that map.
    """
    if reduction == 1:
        return m
    out = m.copy()
    out[:, 2] += m[:, :2].sum(axis=1) * ((reduction - 1) / 2.0)
    out[:, :2] *= reduction
    return out


def unreduced_affine(mr: np.ndarray, reduction: int) -> np.ndarray:
    """Inverse of :func:`reduced_affine`: the original → crop matrix of a reduced-image → crop matrix ``mr``."""
    if reduction == 1:
        return mr
    out = mr.copy()
    out[:, :2] /= reduction
    out[:, 2] -= out[:, :2].sum(axis=1) * ((reduction - 1) / 2.0)
    return out


def _is_jpeg(data: np.ndarray) -> bool:
    return data.size > 3 and data[0] == 0xFF and data[1] == 0xD8 and data[2] == 0xFF


class ImageReadError(OSError):
    """An image file that is missing or cannot be decoded; the message names the file and the annotation id."""


# --------------------------------------------------------------------------------------------------------------
# One sample


class TopDownTransform:
    """Builds one sample: window → augmented affine → warped crop → photometric → targets.

    Args:
        layout: joint layout (flip pairs, upper body).
        input_size: crop (H, W).
        padding: window size over the box size.
        augment: training augmentation, or None for evaluation (centred window, no flip, no photometric).
        stride: crop pixels per heat-map cell.
        resize_unrotated: resample unrotated windows with ``cv2.resize`` of a pixel-aligned region (see
            :meth:`warp`) instead of ``cv2.warpAffine``.
    """

    def __init__(
        self,
        layout: JointLayout,
        input_size: tuple[int, int],
        padding: float = 1.25,
        augment: Augmentation | None = None,
        stride: int = 8,
        resize_unrotated: bool = True,
    ) -> None:
        self.layout = layout
        self.resize_unrotated = resize_unrotated
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.padding = padding
        self.augment = augment
        self.codec = HeatmapCodec(self.input_size, stride)
        self._flip_index = layout.flip_index
        self._upper = np.asarray(layout.upper_body, dtype=np.int64)
        self._lower = np.asarray(layout.lower_body, dtype=np.int64)
        photometric = augment.photometric if augment is not None else None
        # Crops stay in OpenCV's BGR order until the final split, which reorders channels for free.
        self._photometric = build_photometric(photometric, bgr=True) if photometric is not None else None
        if self._photometric is not None and not self._photometric.transforms:
            self._photometric = None  # everything runs on the device
        self._photometric_seed: tuple[int, int] | None = None
        if augment is not None and augment.half_body_prob > 0 and not layout.upper_body:
            log.warning("layout %r defines no upper_body: half-body augmentation is off", layout.name)

    # ---- window

    def half_body_window(self, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """With probability ``half_body_prob``, the window (centre, size) of the upper or lower body's joints.

        None when not drawn, when the layout has no upper/lower split, or when too few joints are labelled.
        """
        aug = self.augment
        labelled = keypoints[:, 2] > 0
        if not self._upper.size or labelled.sum() < aug.half_body_min_joints:
            return None
        if np.random.rand() >= aug.half_body_prob:
            return None
        upper, lower = self._upper[labelled[self._upper]], self._lower[labelled[self._lower]]
        min_upper, min_lower = aug.half_body_min_part_joints
        upper_ok, lower_ok = upper.size >= min_upper, lower.size >= min_lower
        prefer_upper = np.random.rand() < aug.half_body_upper_prob
        if not (upper_ok or lower_ok):
            return None
        chosen = upper if upper_ok and (prefer_upper or not lower_ok) else lower
        xy = keypoints[chosen, :2].astype(np.float64)
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        h, w = self.input_size
        # The extent as a pixel box: bbox_to_center_size puts the centre at (x0 + x1) / 2.
        return bbox_to_center_size(np.array([x0, y0, x1 - x0 + 1, y1 - y0 + 1]), w / h, aug.half_body_padding)

    def affine(self, bbox: np.ndarray, keypoints: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
        """Crop matrix (original → crop pixels) and flip flag, augmentation drawn from numpy's global RNG.

        ``keypoints`` (J, 3) are needed for half-body windows only.
        """
        h, w = self.input_size
        center, size = bbox_to_center_size(bbox, w / h, self.padding)
        rotation, flip = 0.0, False
        aug = self.augment
        if aug is not None:
            if keypoints is not None and aug.half_body_prob > 0:
                half = self.half_body_window(keypoints)
                if half is not None:
                    center, size = half
            if np.random.rand() < aug.rotation_prob:
                rotation = np.random.uniform(-aug.rotation, aug.rotation)
            size = size * np.random.uniform(*aug.scale)
            center = center + np.random.uniform(-aug.translation, aug.translation, size=2) * size
            flip = bool(np.random.rand() < aug.flip_prob)
        return crop_affine(center, size, (w, h), rotation, flip), flip

    # ---- pixels

    def source_window(self, m: np.ndarray, reduction: int = 1, margin: int = 3) -> tuple[int, int, int, int]:
        """The decoded pixels (x0, y0, x1, y1, half-open, at 1/``reduction``) the crop of ``m`` reads (see
        :func:`har.codec.crop_source_window`; the margin covers the sub-pixel snapping of :meth:`warp`'s resize
        path too). Not clipped to the image."""
        return crop_source_window(reduced_affine(m, reduction), self.input_size[::-1], margin)

    def warp(
        self, image: np.ndarray, m: np.ndarray, reduction: int = 1, origin: tuple[int, int] = (0, 0)
    ) -> tuple[np.ndarray, np.ndarray]:
        """The crop (H, W, C) of ``image`` (decoded at 1/``reduction``), in the image's channel order, and the
        original → crop matrix it implements: build the targets from that matrix.

        ``image`` may be a region of the decoded image whose pixel (0, 0) is decoded pixel ``origin``; it must hold
        every pixel of :meth:`source_window` that lies inside the image (what lies outside the image reads as 0).

        A rotated window is warped by ``cv2.warpAffine`` with ``m`` itself. An unrotated window (evaluation, and
        the unrotated training samples) is moved and resized by less than one decoded pixel so that its edges fall
        on decoded pixel edges, then resampled by ``cv2.resize`` of that region (2-3x cheaper than warpAffine);
        the matrix returned is the exact one ``cv2.resize`` implements.
        """
        mr = reduced_affine(m, reduction)  # decoded pixels → crop
        if self.resize_unrotated and m[0, 1] == 0 and m[1, 0] == 0:
            resized = self._resize_window(image, mr, origin)
            if resized is not None:
                crop, snapped = resized
                return crop, unreduced_affine(snapped, reduction)
        crop = cv2.warpAffine(image, shift_affine(mr, origin), self.input_size[::-1], flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)  # fmt: skip
        return crop, m

    def _resize_window(
        self, image: np.ndarray, mr: np.ndarray, origin: tuple[int, int] = (0, 0)
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """cv2.resize of the pixel-aligned region nearest to the window of ``mr`` (decoded pixels → crop; ``image``
        starts at decoded pixel ``origin``): the crop and the decoded → crop matrix it implements, or None where
        warpAffine is cheaper. The region is chosen in decoded pixels, so it does not depend on ``origin``."""
        snapped = np.zeros((2, 3))
        start, length, mirrored = [0, 0], [0, 0], [False, False]
        for axis, size in enumerate(self.input_size[::-1]):  # x then y
            a, c = mr[axis, axis], mr[axis, 2]
            if a < 0:  # mirrored: x_crop = size - 1 - (|a| X + c')
                a, c, mirrored[axis] = -a, size - 1 - c, True
            centre = ((size - 1) / 2.0 - c) / a  # decoded pixel at the crop centre
            n = max(1, round(size / a))
            x0 = round(centre - (n - 1) / 2.0)
            # cv2.resize samples region pixel (x + 0.5) n / size - 0.5 for crop pixel x.
            a2 = size / n
            c2 = a2 * (0.5 - x0) - 0.5
            snapped[axis, axis], snapped[axis, 2] = (-a2, size - 1 - c2) if mirrored[axis] else (a2, c2)
            start[axis], length[axis] = x0 - origin[axis], n  # in the array's pixels
        (x0, y0), (rw, rh) = start, length
        ih, iw = image.shape[:2]
        xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + rw, iw), min(y0 + rh, ih)
        if (xa, ya, xb, yb) == (x0, y0, x0 + rw, y0 + rh):
            region = image[y0:yb, x0:xb]
        elif rw * rh > 4 * self.input_size[0] * self.input_size[1]:
            return None  # padding a large region costs more than warpAffine
        elif xa >= xb or ya >= yb:
            region = np.zeros((rh, rw, *image.shape[2:]), dtype=image.dtype)
        else:
            region = cv2.copyMakeBorder(image[ya:yb, xa:xb], ya - y0, y0 + rh - yb, xa - x0, x0 + rw - xb,
                                        cv2.BORDER_CONSTANT, value=0)  # fmt: skip
        crop = cv2.resize(region, self.input_size[::-1], interpolation=cv2.INTER_LINEAR)
        if any(mirrored):
            crop = cv2.flip(crop, {(True, False): 1, (False, True): 0, (True, True): -1}[tuple(mirrored)])
        return crop, snapped

    def photometric(self, crop: np.ndarray) -> np.ndarray:
        """Pixel-only augmentation of a BGR crop (identity without augmentation).

        albumentations draws from its own generator, seeded from ``torch.initial_seed()`` in each process: runs
        are reproducible, DataLoader workers get different streams, and numpy's global stream (geometry) is
        untouched, so the targets do not depend on whether photometric augmentation is on.
        """
        if self._photometric is None:
            return crop
        key = (os.getpid(), torch.initial_seed())
        if key != self._photometric_seed:
            self._photometric.set_random_seed(key[1] % 2**32)
            self._photometric_seed = key
        return self._photometric(image=crop)["image"]

    def to_chw_rgb(self, crop: np.ndarray, bgr: bool) -> torch.Tensor:
        """(H, W, 3) uint8 → (3, H, W) uint8 RGB tensor, by one ``cv2.split`` into the output planes."""
        out = np.empty((3, *crop.shape[:2]), dtype=np.uint8)
        cv2.split(crop, [out[2], out[1], out[0]] if bgr else [out[0], out[1], out[2]])
        return torch.from_numpy(out)

    # ---- targets

    def targets(self, keypoints: np.ndarray, m: np.ndarray, flip: bool) -> dict:
        """deephar targets for keypoints (J, 3) under the crop matrix ``m``."""
        xy = apply_affine(keypoints[:, :2].astype(np.float64), m)
        labelled = keypoints[:, 2] > 0
        if flip:
            xy, labelled = xy[self._flip_index], labelled[self._flip_index]
        valid = labelled & self.codec.inside(xy)
        uv = np.where(valid[:, None], self.codec.encode(xy), 0.0)
        return {
            "target_uv": torch.from_numpy(uv.astype(np.float32)),  # (J, 2)
            "target_valid": torch.from_numpy(valid),  # (J,) bool: labelled and inside the crop
            # crop pixels → original pixels; undoes the flip too, so predictions must be un-permuted (see flipped)
            "crop_to_image": torch.from_numpy(invert_affine(m).astype(np.float32)),  # (2, 3)
            "flipped": torch.tensor(flip),
        }

    def sample(self, crop: np.ndarray, keypoints: np.ndarray, m: np.ndarray, flip: bool, bgr: bool = False) -> dict:
        """A warped crop (H, W, 3) uint8 (BGR if ``bgr``) and its matrix → photometric, image tensor and targets."""
        if self._photometric is not None:
            if not bgr:
                crop, bgr = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), True
            crop = self.photometric(crop)
        out = self.targets(keypoints, m, flip)
        out["image"] = self.to_chw_rgb(crop, bgr)  # (3, H, W) uint8 RGB
        return out

    def __call__(self, image: np.ndarray, keypoints: np.ndarray, bbox: np.ndarray) -> dict:
        """image (H0, W0, 3) uint8 RGB; keypoints (J, 3) x, y, v in original pixels; bbox (4,) xywh."""
        m, flip = self.affine(bbox, keypoints)
        crop, m = self.warp(image, m)
        return self.sample(crop, keypoints, m, flip)


# --------------------------------------------------------------------------------------------------------------
# Dataset


class TopDownPoseDataset(Dataset):
    """Person instances of a :class:`CocoIndex` as top-down samples.

    Each item is a dict of tensors: ``image`` (3, H, W) uint8 RGB, the targets of :class:`TopDownTransform`, and
    what evaluation needs in original pixels: ``keypoints`` (J, 3), ``bbox`` (4,), ``area``, ``image_id``,
    ``ann_id``, ``index`` (the instance actually returned, which differs from the one asked for when its image
    could not be read).

    Unreadable images: a missing or undecodable image is logged (once per file), counted, and the next instance
    whose image reads is returned instead (deterministic). ``attempts`` and ``failures`` count image reads in
    this process: every DataLoader worker has its own copy of the dataset and so its own counters and its own
    stopping decision, which is enough to stop a run. Once ``failures >= min_failures`` and
    ``failures / attempts > max_failure_fraction`` a RuntimeError stops the run; ``max_failure_fraction = 0``
    stops at the first unreadable image.

    Args:
        index: the instances.
        image_dir: folder the index's file names are relative to.
        transform: builds the sample.
        max_failure_fraction: tolerated fraction of failed image reads.
        min_failures: failures needed before the fraction is checked (one bad image early on is not a trend).
        reduced_decode: decode JPEGs at 1/2, 1/4 or 1/8 resolution when the window allows it (see
            :func:`decode_reduction`).
        roi_decode: decode only the JPEG region the crop reads (:mod:`har.data.jpeg_roi`; the same pixels as a
            whole decode). Off, or where the native decoder is unavailable, images are decoded whole.
    """

    def __init__(self, index: CocoIndex, image_dir: str | Path, transform: TopDownTransform,
                 max_failure_fraction: float = 0.01, min_failures: int = 10,
                 reduced_decode: bool = True, roi_decode: bool = True) -> None:  # fmt: skip
        if not 0.0 <= max_failure_fraction <= 1.0:
            raise ValueError(f"max_failure_fraction must be in [0, 1], got {max_failure_fraction}")
        self.index = index
        self.image_dir = Path(image_dir)
        self.transform = transform
        self.max_failure_fraction = float(max_failure_fraction)
        self.min_failures = int(min_failures)
        self.reduced_decode = reduced_decode
        self.roi_decode = roi_decode
        self.attempts = 0
        self.corrupt_reads = 0  # reads whose window held corrupt JPEG data (decoded with libjpeg's fill-in)
        self._corrupt_images: set[int] = set()
        self._decode_region = jpeg_roi.RegionDecoder()
        if roi_decode:
            jpeg_roi.load()  # build (if needed) and load here, before DataLoader workers start; warns if it can't
        self.failures = 0
        self.failed_examples: list[str] = []  # the first few failure messages, for the stop message
        self._failed_images: set[int] = set()  # rows of the index's images that failed here (logged once each)

    def __len__(self) -> int:
        return len(self.index)

    def _read(self, i: int) -> tuple[np.ndarray, str]:
        """Instance ``i``'s image file as bytes, and how messages name it. Raises ImageReadError."""
        path = self.image_dir / self.index.image_file(i)
        what = f"image {path} (annotation id {int(self.index.ann_ids[i])})"
        try:
            return np.fromfile(path, dtype=np.uint8), what
        except OSError as err:
            reason = "missing" if isinstance(err, FileNotFoundError) else f"unreadable ({err.strerror})"
            raise ImageReadError(f"{what} {reason}") from None

    def _annotated_size(self, i: int) -> tuple[int, int] | None:
        """The annotation file's (width, height) of instance ``i``'s image; None where it gives none (0)."""
        w, h = self.index.image_sizes[self.index.ann_image[i]]
        return (int(w), int(h)) if w > 0 and h > 0 else None

    def decode_image(self, i: int, reduction: int = 1) -> tuple[np.ndarray, int]:
        """Instance ``i``'s whole image, BGR (OpenCV's order), decoded at 1/``reduction`` where the file is a JPEG.

        Returns the image and the reduction actually applied (1 for other formats). Raises ImageReadError.
        """
        data, what = self._read(i)
        return self._decode_whole(i, data, what, reduction)

    def _decode_whole(self, i: int, data: np.ndarray, what: str, reduction: int) -> tuple[np.ndarray, int]:
        """Whole-image decode in the frame of the annotation file's width and height (see :meth:`decode_window`)."""
        if reduction > 1 and not _is_jpeg(data):
            reduction = 1
        flags = _DECODE_FLAGS[reduction] | cv2.IMREAD_IGNORE_ORIENTATION
        image = cv2.imdecode(data, flags) if data.size else None
        if image is None:
            raise ImageReadError(f"{what} cannot be decoded")
        annotated = self._annotated_size(i)
        if annotated is None:  # no size to check against: the image as stored
            return image, reduction
        width, height = annotated
        expected = (-(-height // reduction), -(-width // reduction))
        if image.shape[:2] == expected:
            return image, reduction
        if image.shape[:2] == expected[::-1]:  # stored transposed: the annotations follow the EXIF orientation
            oriented = cv2.imdecode(data, cv2.IMREAD_COLOR)
            if oriented is not None and oriented.shape[:2] == (height, width):
                return oriented, 1
        h, w = image.shape[:2]
        raise ImageReadError(
            f"{what} is {w * reduction}x{h * reduction} pixels but the annotation file gives {width}x{height}"
            if reduction == 1
            else f"{what} decodes at 1/{reduction} to {w}x{h} pixels, not the {expected[1]}x{expected[0]} of the "
            f"annotation file's {width}x{height}"
        )

    def decode_window(self, i: int, m: np.ndarray) -> tuple[np.ndarray, int, tuple[int, int]]:
        """The pixels instance ``i``'s crop (matrix ``m``, original → crop) reads, BGR.

        Returns ``(image, reduction, origin)``: the decoded pixels (at 1/``reduction``, see ``reduced_decode``) and
        the decoded pixel that ``image[0, 0]`` is, for :meth:`TopDownTransform.warp`. With ``roi_decode`` a JPEG
        is decoded only over the crop's source window (:mod:`har.data.jpeg_roi`), otherwise whole. The region lives
        in a buffer the next call reuses: warp (or copy) it before decoding the next one.

        Frame: the annotations are taken to be in the image as stored when its size is the annotation file's
        width × height (what COCO's annotation tool showed), and in the EXIF-oriented image when only that one has
        the annotation file's size; any other size is an ImageReadError naming both sizes. Where the annotation
        file gives no size (0), the image as stored. Corrupt data inside the window (which libjpeg fills in) is
        logged once per image; a file that ends before the window's rows, or that cannot be decoded at all, is an
        ImageReadError.
        """
        reduction = decode_reduction(m) if self.reduced_decode else 1
        data, what = self._read(i)
        if self.roi_decode and _is_jpeg(data) and jpeg_roi.load() is not None:
            window = self.transform.source_window(m, reduction)
            annotated = self._annotated_size(i)
            try:
                try:
                    roi = self._decode_region(data, window, reduction)
                except jpeg_roi.OrientedJpeg as err:
                    if annotated not in (None, err.stored_size):
                        raise  # the whole-image path applies the orientation
                    roi = self._decode_region(data, window, reduction, check_orientation=False)
            except jpeg_roi.JpegDecodeError as err:
                raise ImageReadError(f"{what} cannot be decoded ({err})") from None
            except (jpeg_roi.OrientedJpeg, jpeg_roi.UnsupportedJpeg):
                pass  # CMYK, or annotations in the EXIF-oriented frame: decoded whole below
            else:
                if annotated not in (None, roi.stored_size):
                    (w, h), (width, height) = roi.stored_size, annotated
                    raise ImageReadError(f"{what} is {w}x{h} pixels but the annotation file gives {width}x{height}")
                if roi.warnings:
                    self._log_corrupt(i, what, roi.warning)
                return roi.image, reduction, roi.origin
        image, reduction = self._decode_whole(i, data, what, reduction)
        return image, reduction, (0, 0)

    def _log_corrupt(self, i: int, what: str, message: str) -> None:
        self.corrupt_reads += 1
        image = int(self.index.ann_image[i])
        if image not in self._corrupt_images:
            self._corrupt_images.add(image)
            log.warning("%s: corrupt JPEG data inside the crop's window, filled in by libjpeg (%s)", what, message)

    def load(self, i: int) -> dict:
        """Instance ``i`` as a sample, without the failure handling of ``__getitem__``."""
        idx, t = self.index, self.transform
        keypoints, bbox = idx.keypoints[i], idx.bboxes[i]
        m, flip = t.affine(bbox, keypoints)
        image, reduction, origin = self.decode_window(i, m)
        crop, m = t.warp(image, m, reduction, origin)
        sample = t.sample(crop, keypoints, m, flip, bgr=True)
        sample.update(
            keypoints=torch.from_numpy(keypoints),
            bbox=torch.from_numpy(bbox),
            area=torch.tensor(float(idx.areas[i])),
            image_id=torch.tensor(int(idx.image_ids[idx.ann_image[i]])),
            ann_id=torch.tensor(int(idx.ann_ids[i])),
            index=torch.tensor(i),
        )
        return sample

    def __getitem__(self, i: int) -> dict:
        n = len(self)
        for k in range(n):
            j = (i + k) % n
            self.attempts += 1
            try:
                return self.load(j)
            except ImageReadError as err:
                self._record_failure(j, err)
        raise RuntimeError(f"no image under {self.image_dir} could be read ({n} tried): {self.failed_examples}")

    def _record_failure(self, i: int, err: ImageReadError) -> None:
        self.failures += 1
        if len(self.failed_examples) < 5:
            self.failed_examples.append(str(err))
        fraction = self.failures / self.attempts
        if self.max_failure_fraction == 0 or (
            self.failures >= self.min_failures and fraction > self.max_failure_fraction
        ):
            examples = "; ".join(self.failed_examples)
            raise RuntimeError(
                f"{self.failures} of {self.attempts} image reads failed in this process ({fraction:.1%}, more than "
                f"data.max_failure_fraction={self.max_failure_fraction:g}). Examples: {examples}. Fix or remove "
                "those images, or raise data.max_failure_fraction to tolerate them."
            ) from err
        if self.index.ann_image[i] not in self._failed_images:
            self._failed_images.add(int(self.index.ann_image[i]))
            log.warning("%s; using the next readable instance instead (%d of %d reads failed in this process)",
                        err, self.failures, self.attempts)  # fmt: skip
