"""Top-down Human3.6M frames (:class:`~har.data.formats.h36m.H36mIndex`, either form) with deephar's root crop and
depth targets.

**Crop** (deephar ``bbox.py`` ``get_crop_params``, ``human36m.py:98-104``): the square around the ground-truth root
(pa17j pelvis) projected by the frame's camera, of side ``extent_mm`` (2250) seen at the root's depth
(:func:`har.geometry.camera.root_window`); training augmentation rotates, scales (deephar 0.8–1.2), shifts and
flips it.

**Targets**: x, y in the crop as every top-down sample (``target_uv``); ``target_z`` the camera depth normalised over
``root depth ± depth_range/2·s`` (deephar ``zrange``; ``s`` the augmentation's scale, 1 at evaluation), so 0.5 is the
root's depth and :func:`har.metrics.mpjpe.absolute_depth` is the inverse at ``s = 1``. ``target_z_valid``: the joint
is valid in x, y (labelled and inside the crop) and its depth inside the range (outside it the network's depth bins
cannot express it; deephar's per-coordinate mask ``y > 0`` dropped the near side only); ``target_z`` is 0 where not
valid. A flip swaps left and right joints and keeps depths.

Per sample, for MPJPE: ``joints_world`` (J, 3) mm (NaN for joints the form lacks: mmpose's has no spine),
``camera`` (21,) serialized, ``root_depth`` (ground-truth pelvis depth, mm) and ``action`` (Human3.6M id 2..16),
never flipped or augmented. ``keypoints`` are the joints projected into the image (labelled where the form has
them).
"""

from __future__ import annotations

import numpy as np
import torch

from har.data.datasets.windowed import WindowPoseDataset, map_keypoints
from har.data.formats.h36m import H36mIndex
from har.data.transforms.augmentation import Jitter
from har.geometry.camera import root_window
from har.layouts import get_layout

DEPTH_RANGE = 2000.0  # mm: deephar's zrange = root depth ± 1000 mm
CROP_EXTENT = 2250.0  # mm at the root's depth: deephar's 2.25·max(W·f₀, H·f₁)/d for Human3.6M's 1000 px frames


def normalised_depth(depth: np.ndarray, root_depth: float, depth_range: float = DEPTH_RANGE) -> np.ndarray:
    """Camera depths (J,) mm → ``(d − (d_root − range/2)) / range`` (deephar ``human36m.py:123-124``)."""
    return (np.asarray(depth, np.float64) - (root_depth - depth_range / 2)) / depth_range


class H36mPoseDataset(WindowPoseDataset):
    """Human3.6M frames as top-down samples (see the module docstring).

    Args:
        index: an :class:`H36mIndex` (either form).
        extent_mm: window side, mm at the root's depth.
        depth_range: depth window of ``target_z``, mm (at augmentation scale 1).
        Others: as :class:`~har.data.datasets.windowed.WindowPoseDataset` (the source layout is pa17j).
    """

    def __init__(self, index: H36mIndex, image_dir, transform, dataset_id: int = 0, extent_mm: float = CROP_EXTENT,
                 depth_range: float = DEPTH_RANGE, **kwargs) -> None:  # fmt: skip
        super().__init__(index, image_dir, transform, get_layout("pa17j"), dataset_id, **kwargs)
        self.extent_mm = float(extent_mm)
        self.depth_range = float(depth_range)
        # projected once, kept in float32 (a real training split holds ~300k frames: 60 MB): < 1e-4 px, < 1e-3 mm
        self.uvd = index.joints_uvd().astype(np.float32)  # (F, 17, 3) pixels and camera depth, mm
        self.cameras = index.frame_cameras().astype(np.float32)  # (F, 21)
        labelled = index.joint_labelled[None, :] & np.isfinite(self.uvd).all(axis=-1)
        self.keypoints = np.concatenate([np.nan_to_num(self.uvd[..., :2]), labelled[..., None]], axis=-1)
        self._flip = self.layout.flip_index

    def window(self, i: int) -> tuple[np.ndarray, float]:
        f = self.cameras[i, 12:14]
        return root_window(self.uvd[i, 0].astype(np.float64), f, self.extent_mm)

    def source_keypoints(self, i: int) -> np.ndarray:
        return self.keypoints[i]

    def describe(self, i: int) -> str:
        seq = self.index.frame_seq[i]
        return f"{self.index.source}, sequence {self.index.seq_names[seq]} frame {int(self.index.frame_numbers[i])}"

    def _annotated_size(self, i: int) -> tuple[int, int] | None:
        w, h = self.index.seq_image_sizes[self.index.frame_seq[i]]
        return (int(w), int(h)) if w > 0 and h > 0 else None

    def finish(self, i: int, sample: dict, jitter: Jitter) -> None:
        root_depth = float(self.uvd[i, 0, 2])
        depth = map_keypoints(self.uvd[i, :, 2:3].astype(np.float64), self.mapping)[:, 0]
        z = normalised_depth(depth, root_depth, self.depth_range * jitter.scale)
        if jitter.flip:
            z = z[self._flip]
        z_valid = sample["target_valid"].numpy() & np.isfinite(z) & (z >= 0.0) & (z <= 1.0)
        world = map_keypoints(self.index.joints_world[i], self.mapping)
        world[self.mapping < 0] = np.nan
        sample.update(
            target_z=torch.from_numpy(np.where(z_valid, z, 0.0).astype(np.float32)),
            target_z_valid=torch.from_numpy(z_valid),
            joints_world=torch.from_numpy(world.astype(np.float32)),
            camera=torch.from_numpy(self.cameras[i].copy()),
            root_depth=torch.tensor(root_depth, dtype=torch.float32),
            action=torch.tensor(int(self.index.seq_action[self.index.frame_seq[i]]), dtype=torch.int64),
        )
