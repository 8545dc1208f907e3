"""Top-down person samples: one affine warp from the original image to the network's input crop.

A sample is a person box: its window (box grown to the input's aspect ratio, padded by 1.25) is augmented
(rotation, scale, translation, horizontal flip with the layout's flip pairs), warped once with ``cv2.warpAffine``
and the joints mapped by the same matrix. Targets follow deephar: normalised coordinates (see :mod:`har.codec`),
a coordinate mask (labelled and inside the crop) and a visibility target (the same).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from har.codec import HeatmapCodec, apply_affine, bbox_to_center_size, crop_affine, invert_affine
from har.data.coco import CocoIndex
from har.layouts import JointLayout

log = logging.getLogger(__name__)

cv2.setNumThreads(1)  # one thread per DataLoader worker; parallelism comes from the workers


@dataclass
class Augmentation:
    """Training-time geometric augmentation. Values are drawn uniformly from the ranges.

    deephar's MPII recipe used rotation ±40°, scale {0.7, 1.0, 1.3}, flip, no translation.
    """

    rotation: float = 40.0  # degrees, ± range
    rotation_prob: float = 0.6  # probability of rotating at all
    scale: tuple[float, float] = (0.75, 1.25)  # window size multiplier
    translation: float = 0.1  # ± fraction of the window size
    flip_prob: float = 0.5


class TopDownTransform:
    """Builds one sample: window → augmented affine → warped crop and targets.

    Args:
        layout: joint layout (flip pairs).
        input_size: crop (H, W).
        padding: window size over the box size.
        augment: training augmentation, or None for evaluation (centred window, no flip).
    """

    def __init__(self, layout: JointLayout, input_size: tuple[int, int], padding: float = 1.25,
                 augment: Augmentation | None = None, stride: int = 8) -> None:  # fmt: skip
        self.layout = layout
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.padding = padding
        self.augment = augment
        self.codec = HeatmapCodec(self.input_size, stride)
        self._flip_index = layout.flip_index

    def affine(self, bbox: np.ndarray) -> tuple[np.ndarray, bool]:
        """Crop matrix for a box, with augmentation drawn from numpy's global RNG (seeded per worker)."""
        h, w = self.input_size
        center, size = bbox_to_center_size(bbox, w / h, self.padding)
        rotation, flip = 0.0, False
        aug = self.augment
        if aug is not None:
            if np.random.rand() < aug.rotation_prob:
                rotation = np.random.uniform(-aug.rotation, aug.rotation)
            size = size * np.random.uniform(*aug.scale)
            center = center + np.random.uniform(-aug.translation, aug.translation, size=2) * size
            flip = bool(np.random.rand() < aug.flip_prob)
        return crop_affine(center, size, (w, h), rotation, flip), flip

    def __call__(self, image: np.ndarray, keypoints: np.ndarray, bbox: np.ndarray) -> dict:
        """image (H0, W0, 3) uint8 RGB; keypoints (J, 3) x, y, v in original pixels; bbox (4,) xywh."""
        m, flip = self.affine(bbox)
        crop = cv2.warpAffine(image, m, self.input_size[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

        xy = apply_affine(keypoints[:, :2].astype(np.float64), m)
        labelled = keypoints[:, 2] > 0
        if flip:
            xy, labelled = xy[self._flip_index], labelled[self._flip_index]
        valid = labelled & self.codec.inside(xy)
        uv = np.where(valid[:, None], self.codec.encode(xy), 0.0)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))),  # (3, H, W) uint8
            "target_uv": torch.from_numpy(uv.astype(np.float32)),  # (J, 2)
            "target_valid": torch.from_numpy(valid),  # (J,) bool: labelled and inside the crop
            # crop pixels → original pixels; undoes the flip too, so predictions must be un-permuted (see flipped)
            "crop_to_image": torch.from_numpy(invert_affine(m).astype(np.float32)),  # (2, 3)
            "flipped": torch.tensor(flip),
        }


class TopDownPoseDataset(Dataset):
    """Person instances of a :class:`CocoIndex` as top-down samples.

    Each item is a dict of tensors: ``image`` (3, H, W) uint8 RGB, the targets of :class:`TopDownTransform`, and
    what evaluation needs in original pixels: ``keypoints`` (J, 3), ``bbox`` (4,), ``area``, ``image_id``,
    ``ann_id``, ``index``.
    """

    def __init__(self, index: CocoIndex, image_dir: str | Path, transform: TopDownTransform) -> None:
        self.index = index
        self.image_dir = Path(image_dir)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.index)

    def read_image(self, i: int) -> np.ndarray:
        path = self.image_dir / self.index.image_file(i)
        data = np.fromfile(path, dtype=np.uint8) if path.is_file() else None
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
        if image is None:
            reason = "missing" if data is None else "cannot be decoded"
            raise OSError(f"image {path} (annotation id {int(self.index.ann_ids[i])}) {reason}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def __getitem__(self, i: int) -> dict:
        idx = self.index
        sample = self.transform(self.read_image(i), idx.keypoints[i], idx.bboxes[i])
        sample.update(
            keypoints=torch.from_numpy(idx.keypoints[i]),
            bbox=torch.from_numpy(idx.bboxes[i]),
            area=torch.tensor(float(idx.areas[i])),
            image_id=torch.tensor(int(idx.image_ids[idx.ann_image[i]])),
            ann_id=torch.tensor(int(idx.ann_ids[i])),
            index=torch.tensor(i),
        )
        return sample
