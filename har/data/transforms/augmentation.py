"""Training-time geometric augmentation, one configuration for every sample kind, and its random draw.

A :class:`GeometricAugmentation` draws a :class:`Jitter` (rotation, scale, shift, flip) from a per-sample generator
(:func:`har.data.sampling.sample_rng`); a top-down pose sample applies it to its person's window, a clip applies the
same jitter to every frame's window so the clip moves as one. :class:`Augmentation` (top-down pose) adds half-body
windows and the photometric ops on the crop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from har.data.transforms.photometric import Photometric
from har.geometry.boxes import bbox_to_center_size


@dataclass(frozen=True)
class Jitter:
    """One draw of a :class:`GeometricAugmentation` (identity by default)."""

    rotation: float = 0.0  # degrees
    scale: float = 1.0  # window size multiplier
    shift: tuple[float, float] = (0.0, 0.0)  # fraction of the (scaled) window size
    flip: bool = False

    def apply(self, center: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The window (centre (2,), size (2,)) scaled, then shifted by a fraction of the scaled size."""
        size = np.asarray(size, dtype=np.float64) * self.scale
        return np.asarray(center, dtype=np.float64) + np.asarray(self.shift) * size, size


@dataclass
class GeometricAugmentation:
    """Random rotation, scale, translation and horizontal flip of a crop window; values drawn uniformly from the
    ranges. Defaults: deephar's MPII recipe is rotation ±40°, scale {0.7, 1.0, 1.3}, flip, no translation; its action
    recipes scale {0.7, 1, 1.3}, translation ±40 px, no rotation (NTU) or ±30° (Penn). The configs set every field."""

    rotation: float = 40.0  # degrees, ± range
    rotation_prob: float = 0.6  # probability of rotating at all
    scale: tuple[float, float] = (0.75, 1.25)  # window size multiplier
    translation: float = 0.1  # ± fraction of the window size
    flip_prob: float = 0.5

    def draw(self, rng: np.random.Generator) -> Jitter:
        rotation = float(rng.uniform(-self.rotation, self.rotation)) if rng.random() < self.rotation_prob else 0.0
        shift = rng.uniform(-self.translation, self.translation, size=2)
        return Jitter(rotation, float(rng.uniform(*self.scale)), (float(shift[0]), float(shift[1])),
                      bool(rng.random() < self.flip_prob))  # fmt: skip


@dataclass
class Augmentation(GeometricAugmentation):
    """Top-down pose augmentation: the geometric one, plus half-body windows and photometric ops on the crop.

    Half-body follows mmpose 1.x ``RandomHalfBody`` (its defaults: p 0.3, at least 9 labelled joints, 2 upper / 3
    lower, upper preferred with p 0.7, padding 1.5), except that the window is centred on the joints' extent rather
    than their mean, so the chosen joints are always inside it before the random scale and shift.
    """

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

    def half_body_window(
        self, keypoints: np.ndarray, upper_body: np.ndarray, lower_body: np.ndarray, aspect_ratio: float,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
        """With probability ``half_body_prob``, the window (centre, size) of the upper or lower body's labelled
        joints (``keypoints`` (J, 3); index arrays of the layout's halves). None when not drawn, when the layout has
        no upper/lower split, or when too few joints are labelled."""
        labelled = keypoints[:, 2] > 0
        if not upper_body.size or labelled.sum() < self.half_body_min_joints:
            return None
        if rng.random() >= self.half_body_prob:
            return None
        upper, lower = upper_body[labelled[upper_body]], lower_body[labelled[lower_body]]
        min_upper, min_lower = self.half_body_min_part_joints
        upper_ok, lower_ok = upper.size >= min_upper, lower.size >= min_lower
        prefer_upper = rng.random() < self.half_body_upper_prob
        if not (upper_ok or lower_ok):
            return None
        chosen = upper if upper_ok and (prefer_upper or not lower_ok) else lower
        xy = keypoints[chosen, :2].astype(np.float64)
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        # The extent as a pixel box: bbox_to_center_size puts the centre at (x0 + x1) / 2.
        box = np.array([x0, y0, x1 - x0 + 1, y1 - y0 + 1])
        return bbox_to_center_size(box, aspect_ratio, self.half_body_padding)
