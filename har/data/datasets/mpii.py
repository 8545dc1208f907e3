"""Top-down MPII samples (:class:`~har.data.formats.mpii.MpiiIndex`, either form) with deephar's / mmpose's crop.

The window (deephar ``mpii.py:104-108`` = mmpose's): the square of side ``200·scale·padding`` (padding 1.25) around
``objpos`` moved down by ``15·scale`` (the index's ``centers``), then rotated, scaled and flipped by the training
augmentation (deephar: ±40°, scale 0.7–1.3, flip with pa16j's pairs). MPII has no depth: ``target_z_valid`` is
False everywhere, and in a 3D layout (pa17j) the joint MPII lacks (``spine``) is unlabelled.

Per sample, for PCKh (``har.metrics.pckh``): ``head_size`` (0.6 × head-box diagonal, px; 0 where the form has no
head box, e.g. mmpose's train file), ``crop_center`` / ``crop_size`` (the un-augmented window, for deephar's
definition that drops joints outside it). ``bbox`` is that window too.
"""

from __future__ import annotations

import numpy as np
import torch

from har.data.datasets.windowed import WindowPoseDataset
from har.data.formats.mpii import CROP_PADDING, MpiiIndex, crop_window
from har.data.transforms.augmentation import Jitter
from har.layouts import get_layout


class MpiiPoseDataset(WindowPoseDataset):
    """MPII persons as top-down samples (see the module docstring).

    Args:
        index: an :class:`MpiiIndex` (either form).
        padding: window side over ``200·scale`` (deephar and mmpose: 1.25).
        Others: as :class:`~har.data.datasets.windowed.WindowPoseDataset` (the source layout is pa16j).
    """

    def __init__(self, index: MpiiIndex, image_dir, transform, dataset_id: int = 0, padding: float = CROP_PADDING,
                 **kwargs) -> None:  # fmt: skip
        super().__init__(index, image_dir, transform, get_layout("pa16j"), dataset_id, **kwargs)
        self.sides = crop_window(index.scales, padding)[:, 0]
        self.head_sizes = np.nan_to_num(index.head_sizes, nan=0.0).astype(np.float32)

    def window(self, i: int) -> tuple[np.ndarray, float]:
        return self.index.centers[i], float(self.sides[i])

    def source_keypoints(self, i: int) -> np.ndarray:
        return self.index.keypoints[i]

    def describe(self, i: int) -> str:
        image, person = (int(v) for v in self.index.records[i])
        return f"{self.index.source}, {self.index.form} record ({image}, {person})"

    def image_key(self, i: int) -> int:
        return int(self.index.person_image[i])

    def finish(self, i: int, sample: dict, jitter: Jitter) -> None:
        sample["head_size"] = torch.tensor(float(self.head_sizes[i]), dtype=torch.float32)
