"""Top-down person samples: one affine warp from the original image to the network's input crop.

A sample is a person box. Its window (the box grown to the input's aspect ratio and padded by 1.25, or with
half-body augmentation the extent of the upper- or lower-body joints) is augmented (rotation, scale, translation,
horizontal flip with the layout's flip pairs; :mod:`har.data.transforms.augmentation`), the image is warped once
(:func:`har.geometry.warp.warp_crop`) and the joints are mapped by the same matrix. Photometric augmentation then
works on the crop, so its cost does not depend on the image size. Targets follow deephar: normalised coordinates
(:mod:`har.codec`), a coordinate mask (labelled and inside the crop) and a visibility target (the same).

The hot path (measured by ``bench/pipeline.py``, figures in BENCHMARKS.md): the window is drawn before the image is
read, so a JPEG is decoded only over the crop's source window (:meth:`TopDownTransform.source_window`,
:mod:`har.data.io.jpeg_roi`) and, where the window spans at least 2, 4 or 8 image pixels per crop pixel, at 1/2, 1/4
or 1/8 resolution (:func:`har.geometry.affine.decode_reduction`); OpenCV's BGR pixels are warped and augmented as they
are, and one ``cv2.split`` into the output planes makes the (3, H, W) RGB image.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import torch

from har.codec import HeatmapCodec
from har.data.sampling import sample_rng
from har.data.transforms.augmentation import Augmentation, Jitter
from har.data.transforms.photometric import CropPhotometric
from har.geometry.affine import apply_affine, crop_affine, crop_source_window, invert_affine, reduced_affine
from har.geometry.boxes import bbox_to_center_size
from har.geometry.warp import warp_crop
from har.layouts import JointLayout

log = logging.getLogger(__name__)


class TopDownTransform:
    """Builds one sample: window → augmented affine → warped crop → photometric → targets.

    Args:
        layout: joint layout (flip pairs, upper body).
        input_size: crop (H, W).
        padding: window size over the box size.
        augment: training augmentation, or None for evaluation (centred window, no flip, no photometric).
        stride: crop pixels per heat-map cell.
    """

    def __init__(
        self,
        layout: JointLayout,
        input_size: tuple[int, int],
        padding: float = 1.25,
        augment: Augmentation | None = None,
        stride: int = 8,
    ) -> None:
        self.layout = layout
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.padding = padding
        self.augment = augment
        self.codec = HeatmapCodec(self.input_size, stride)
        self._flip_index = layout.flip_index
        self._upper = np.asarray(layout.upper_body, dtype=np.int64)
        self._lower = np.asarray(layout.lower_body, dtype=np.int64)
        photometric = augment.photometric if augment is not None else None
        # Crops stay in OpenCV's BGR order until the final split, which reorders channels for free.
        self._photometric = CropPhotometric(photometric, bgr=True) if photometric is not None else None
        if self._photometric is not None and self._photometric.empty:
            self._photometric = None  # everything runs on the device
        if augment is not None and augment.half_body_prob > 0 and not layout.upper_body:
            log.warning("layout %r defines no upper_body: half-body augmentation is off", layout.name)

    # ---- window

    def affine(
        self, bbox: np.ndarray, keypoints: np.ndarray | None = None, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, bool]:
        """Crop matrix (original → crop pixels) and flip flag of an xywh ``bbox``; with augmentation, drawn from
        ``rng`` (a fresh :func:`~har.data.sampling.sample_rng` when None). ``keypoints`` (J, 3) are needed for
        half-body windows only."""
        h, w = self.input_size
        center, size = bbox_to_center_size(bbox, w / h, self.padding)
        m, jitter = self.window_affine(center, size, keypoints, rng)
        return m, jitter.flip

    def window_affine(
        self,
        center: np.ndarray,
        size: np.ndarray,
        keypoints: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
    ) -> tuple[np.ndarray, Jitter]:
        """Crop matrix and the augmentation drawn (identity without augmentation) of a window given by its
        ``center`` (2,) and ``size`` (w, h) in original pixels, already at the crop's aspect ratio (datasets whose
        protocol defines the window itself: MPII, Human3.6M)."""
        h, w = self.input_size
        aug = self.augment
        if aug is None:
            return crop_affine(center, size, (w, h)), Jitter()
        rng = rng if rng is not None else sample_rng()
        if keypoints is not None and aug.half_body_prob > 0:
            half = aug.half_body_window(keypoints, self._upper, self._lower, w / h, rng)
            if half is not None:
                center, size = half
        jitter = aug.draw(rng)
        center, size = jitter.apply(center, size)
        return crop_affine(center, size, (w, h), jitter.rotation, jitter.flip), jitter

    # ---- pixels

    def source_window(self, m: np.ndarray, reduction: int = 1, margin: int = 3) -> tuple[int, int, int, int]:
        """The decoded pixels (x0, y0, x1, y1, half-open, at 1/``reduction``) the crop of ``m`` reads (see
        :func:`har.geometry.affine.crop_source_window`; the margin covers the sub-pixel snapping of the resize path
        too). Not clipped to the image."""
        return crop_source_window(reduced_affine(m, reduction), self.input_size[::-1], margin)

    def warp(
        self, image: np.ndarray, m: np.ndarray, reduction: int = 1, origin: tuple[int, int] = (0, 0)
    ) -> tuple[np.ndarray, np.ndarray]:
        """The crop of ``image`` (decoded at 1/``reduction``, starting at decoded pixel ``origin``) and the original →
        crop matrix it implements (:func:`har.geometry.warp.warp_crop`): build the targets from that matrix."""
        return warp_crop(image, m, self.input_size, reduction, origin)

    def photometric(self, crop: np.ndarray) -> np.ndarray:
        """Pixel-only augmentation of a BGR crop (identity without augmentation)."""
        return crop if self._photometric is None else self._photometric(crop)

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

    def __call__(
        self, image: np.ndarray, keypoints: np.ndarray, bbox: np.ndarray, rng: np.random.Generator | None = None
    ) -> dict:
        """image (H0, W0, 3) uint8 RGB; keypoints (J, 3) x, y, v in original pixels; bbox (4,) xywh."""
        m, flip = self.affine(bbox, keypoints, rng)
        crop, m = self.warp(image, m)
        return self.sample(crop, keypoints, m, flip)
