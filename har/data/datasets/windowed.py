"""Top-down samples whose crop window the dataset's protocol defines (MPII's centre and scale, Human3.6M's root
window), and the keys every MPII / Human3.6M / mixed sample carries so that their batches collate together.

The pixels go through the COCO pipeline unchanged (:class:`~har.data.datasets.topdown.TopDownPoseDataset`: ROI and
reduced JPEG decoding, one warp, failure counting); only the window differs: it comes from the protocol
(:meth:`WindowPoseDataset.window`) instead of a person box, is grown to the crop's aspect ratio, then augmented
(:meth:`~har.data.transforms.topdown.TopDownTransform.window_affine`).

**The contract** (``docs/architecture.md``): besides the top-down keys (``image``, ``target_uv``, ``target_valid``,
``crop_to_image``, ``flipped``, ``keypoints``, ``bbox``, ``index``), every sample has ``dataset`` (int64, the
dataset's position in the datamodule's ``eval_sets``), ``target_z`` (J,) float32 and ``target_z_valid`` (J,) bool,
the PCKh keys ``head_size``, ``crop_center`` (2,), ``crop_size`` and the MPJPE keys ``joints_world`` (J, 3) mm,
``camera`` (21,), ``root_depth`` mm, ``action`` (int64, -1 none): zeros / False / -1 where they do not apply
(:func:`contract_defaults`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from har.data.datasets.topdown import TopDownPoseDataset
from har.data.io import images
from har.data.transforms.augmentation import Jitter
from har.data.transforms.topdown import TopDownTransform
from har.geometry.boxes import grow_to_aspect
from har.geometry.camera import SERIALIZED_SIZE
from har.layouts import JointLayout


def joint_map(source: JointLayout, target: JointLayout) -> np.ndarray:
    """Per ``target`` joint, the index of the ``source`` joint of the same name (-1 where the source lacks it):
    MPII's pa16j in the mixed pa17j layout leaves ``spine`` missing."""
    return np.array([source.joints.index(n) if n in source.joints else -1 for n in target.joints], np.int64)


def map_keypoints(keypoints: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Keypoints (Js, C) → (len(mapping), C) by :func:`joint_map`'s ``mapping``; missing joints all zeros
    (unlabelled)."""
    out = np.zeros((len(mapping), keypoints.shape[1]), keypoints.dtype)
    have = mapping >= 0
    out[have] = keypoints[mapping[have]]
    return out


def contract_defaults(num_joints: int, dataset_id: int) -> dict[str, torch.Tensor]:
    """The MPII / Human3.6M keys with their "does not apply" values (module docstring)."""
    return {
        "dataset": torch.tensor(int(dataset_id), dtype=torch.int64),
        "target_z": torch.zeros(num_joints, dtype=torch.float32),
        "target_z_valid": torch.zeros(num_joints, dtype=torch.bool),
        "head_size": torch.tensor(0.0, dtype=torch.float32),
        "crop_center": torch.zeros(2, dtype=torch.float32),
        "crop_size": torch.tensor(0.0, dtype=torch.float32),
        "joints_world": torch.zeros(num_joints, 3, dtype=torch.float32),
        "camera": torch.zeros(SERIALIZED_SIZE, dtype=torch.float32),
        "root_depth": torch.tensor(0.0, dtype=torch.float32),
        "action": torch.tensor(-1, dtype=torch.int64),
    }


def xywh_of_window(center: np.ndarray, side: float) -> np.ndarray:
    """[x, y, w, h] (float32) of a square of ``side`` pixels centred at ``center``."""
    return np.array([center[0] - side / 2, center[1] - side / 2, side, side], np.float32)


class WindowPoseDataset(TopDownPoseDataset):
    """Top-down samples of an index whose protocol gives each sample's crop window.

    Subclasses implement :meth:`window`, :meth:`source_keypoints`, :meth:`describe`, and add their keys in
    :meth:`finish`. The index needs ``image_file(i)`` and ``len()``.

    Args:
        index: the samples (an ``MpiiIndex`` or ``H36mIndex``).
        image_dir: folder the index's image paths are relative to.
        transform: the top-down transform of the *output* layout (augmented when training).
        source_layout: the layout of the index's keypoints; mapped by name to ``transform.layout``.
        dataset_id: the ``dataset`` key of every sample.
        max_failure_fraction, min_failures, reduced_decode, roi_decode: as
            :class:`~har.data.datasets.topdown.TopDownPoseDataset`.
    """

    def __init__(self, index, image_dir: str | Path, transform: TopDownTransform, source_layout: JointLayout,
                 dataset_id: int = 0, max_failure_fraction: float = 0.01, min_failures: int = 10,
                 reduced_decode: bool = True, roi_decode: bool = True) -> None:  # fmt: skip
        super().__init__(index, image_dir, transform, max_failure_fraction, min_failures, reduced_decode, roi_decode)
        self.layout = transform.layout
        self.mapping = joint_map(source_layout, self.layout)
        self.dataset_id = int(dataset_id)

    # -- what a subclass defines -------------------------------------------------------------------------------
    def window(self, i: int) -> tuple[np.ndarray, float]:
        """The protocol's square window of sample ``i``: centre (2,) and side, original pixels."""
        raise NotImplementedError

    def source_keypoints(self, i: int) -> np.ndarray:
        """Sample ``i``'s keypoints (Js, 3) x, y, labelled in the index's layout, original pixels."""
        raise NotImplementedError

    def describe(self, i: int) -> str:
        """How messages name sample ``i``'s record."""
        raise NotImplementedError

    def finish(self, i: int, sample: dict, jitter: Jitter) -> None:
        """Add the dataset's own keys to sample ``i`` (``jitter``: the augmentation drawn)."""

    # -- reading -------------------------------------------------------------------------------------------------
    def _read(self, i: int) -> tuple[np.ndarray, str]:
        path = self.image_dir / self.index.image_file(i)
        what = f"image {path} ({self.describe(i)})"
        return images.read_bytes(path, what), what

    def _annotated_size(self, i: int) -> tuple[int, int] | None:
        return None

    def image_key(self, i: int) -> int:
        return int(i)

    def load(self, i: int, rng: np.random.Generator | None = None) -> dict:
        t = self.transform
        keypoints = map_keypoints(self.source_keypoints(i).astype(np.float32), self.mapping)
        center, side = self.window(i)
        h, w = t.input_size
        m, jitter = t.window_affine(center, grow_to_aspect((side, side), w / h), keypoints, rng)
        image, reduction, origin = self.decode_window(i, m)
        crop, m = t.warp(image, m, reduction, origin)
        sample = t.sample(crop, keypoints, m, jitter.flip, bgr=True)
        sample.update(contract_defaults(self.layout.num_joints, self.dataset_id))
        sample.update(
            keypoints=torch.from_numpy(keypoints),
            bbox=torch.from_numpy(xywh_of_window(center, side)),
            index=torch.tensor(i),
            crop_center=torch.from_numpy(np.asarray(center, np.float32)),
            crop_size=torch.tensor(float(side), dtype=torch.float32),
        )
        self.finish(i, sample, jitter)
        return sample
