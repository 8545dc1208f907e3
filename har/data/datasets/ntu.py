"""NTU RGB+D 60 videos (:mod:`har.data.formats.ntu`, either form) as action clips with per-frame 3D pose targets.

- **Frames**: official form, decoded from ``nturgb+d_rgb/<id>_rgb.avi`` by seeking (as ``merl_videos``); deephar's
  form, the ``images-small/<id>/%05d.jpg`` files (only each crop's JPEG region decoded).
- **Joints**: deephar's ``pa20j`` / ``pa17j`` / ``pa16j`` from the 25 Kinect joints (:data:`KINECT_TO_LAYOUT`): Kinect's
  "left" joints fill deephar's "r_" slots, as deephar's ``map_from_ntu`` does. u, v (pixels of the frames read) give
  ``pose_uv``; a joint is valid where every coordinate, depth included, is > 0 (deephar's rule) and it lies inside
  the crop. Crops: one window per clip around the union of its sampled frames' joint boxes (deephar's
  ``use_gt_bbox`` takes the joints of the clip's first, middle and last frames only).
- **Depth** (:func:`har.data.formats.ntu.depth_targets`): the clip's root depth ``rootz`` is the mean depth of the
  valid root (pelvis) over the clip's sampled frames, else of all its valid joints (deephar ``ntu.py:197-202``);
  ``pose_z = (d − (rootz − 1000 mm)) / 2000 mm``. A z outside [0, 1] (a joint over a metre in front of or behind
  the root) is marked invalid here (deephar would have trained on it); a clip with no valid joint has no valid z.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from har.data.datasets.clips import ClipDataset, keypoint_boxes
from har.data.formats.ntu import (
    NtuIndex,
    depth_targets,
    keypoints_2d,
    kinect_to_layout,
    read_ntu_frames,
    valid_joints,
)
from har.data.io.images import read_bytes
from har.data.sampling import ClipSampler
from har.data.transforms.clip import ClipTransform


class NtuActionDataset(ClipDataset):
    """Videos ``videos`` of an :class:`NtuIndex` as clips; items as :class:`~har.data.datasets.clips.ClipDataset`
    describes, with ``frame_indices`` = the 1-based video frame numbers of the annotated frames read, and the pose
    keys (``pose_uv``, ``pose_valid``, ``pose_z``, ``pose_z_valid``) in ``layout``.

    Args:
        index: the NTU index (either form).
        videos: (V,) indices into ``index`` of this split's videos; labels: (V,) their classes; classes: names.
        layout: ``pa20j``, ``pa17j`` or ``pa16j``.
        depth_scale: the depth window is rootz ± 1000·``depth_scale`` mm (deephar: 1 at test time).
        sampler, transform, train: as :class:`~har.data.datasets.clips.ClipDataset`; ``roi_decode`` applies to
            deephar's JPEG frames (the official videos are decoded whole).
    """

    def __init__(self, index: NtuIndex, videos: np.ndarray, labels: np.ndarray, classes: Sequence[str], layout: str,
                 sampler: ClipSampler, transform: ClipTransform, train: bool, depth_scale: float = 1.0,
                 roi_decode: bool = True) -> None:  # fmt: skip
        super().__init__(sampler, transform, train, classes, roi_decode and index.source == "deephar")
        if len(videos) != len(labels):
            raise ValueError(f"{len(videos)} videos but {len(labels)} labels")
        self.index, self.videos, self.labels = index, np.asarray(videos), np.asarray(labels)
        self.layout, self.depth_scale = layout, depth_scale
        kinect_to_layout(index.uvd[:0], layout)  # an unknown layout fails here
        self._boxes = keypoint_boxes(keypoints_2d(index.uvd, layout))  # (N, 4) the valid joints' extent per frame

    def __len__(self) -> int:
        return len(self.videos)

    def _video(self, i: int) -> int:
        return int(self.videos[i])

    def _rows(self, i: int) -> slice:
        return self.index.frame_rows(self._video(i))

    def clip_length(self, i: int) -> int:
        return self.index.num_frames(self._video(i))

    def frame_numbers(self, i: int, positions: np.ndarray) -> np.ndarray:
        return self.index.frame_numbers[self._rows(i)][positions]

    def read_encoded(self, i: int, positions: np.ndarray) -> list[tuple[np.ndarray, str]] | None:
        if self.index.source != "deephar":
            return None
        files = self.index.frame_files(self._video(i))
        paths = [files[int(p)] for p in positions]
        return [(read_bytes(path, f"frame {path} (NTU sample {self.clip_id(i)})"), path) for path in paths]

    def read_frames(self, i: int, positions: np.ndarray) -> list[np.ndarray]:
        return read_ntu_frames(self.index, self._video(i), positions)

    def clip_boxes(self, i: int) -> np.ndarray:
        return self._boxes[self._rows(i)]

    def keypoints(self, i: int, positions: np.ndarray) -> np.ndarray:
        uvd = self.index.uvd[self._rows(i)][positions]
        out = keypoints_2d(uvd, self.layout)
        out[..., 2] *= valid_joints(kinect_to_layout(uvd, self.layout), dims=3)  # deephar: every coordinate > 0
        return out

    def pose_depth(self, i: int, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        joints = kinect_to_layout(self.index.uvd[self._rows(i)][positions], self.layout)
        z, valid, _ = depth_targets(joints, self.depth_scale)
        valid &= (z >= 0) & (z <= 1)
        return np.where(valid, z, 0.0), valid

    def label(self, i: int) -> int:
        return int(self.labels[i])

    def clip_id(self, i: int) -> str:
        return str(self.index.sample_ids[self._video(i)])
