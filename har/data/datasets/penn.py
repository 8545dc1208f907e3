"""Penn Action videos (:mod:`har.data.formats.penn`, either form) as action clips with per-frame 2D pose targets.

Joints are deephar's ``pa16j`` (Penn joint k → pa16j index 3 + k, ``map_to_pa13j``): Penn's **"left_*" joints fill
pa16j's "r_*" slots** and right → ``l_*``, exactly as deephar maps them (its released Penn weights expect it);
pelvis, thorax and neck (pa16j 0-2) are never labelled. ``pose_z`` is 0 and ``pose_z_valid`` False (2D data).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from har.data.datasets.clips import ClipDataset
from har.data.formats.penn import PennIndex
from har.data.io.images import decode_rgb, read_bytes
from har.data.sampling import ClipSampler
from har.data.transforms.clip import ClipTransform


class PennActionDataset(ClipDataset):
    """Videos ``videos`` of a :class:`PennIndex` as clips; items as :class:`~har.data.datasets.clips.ClipDataset`
    describes, with ``frame_indices`` = the 1-based Penn frame numbers and the pose keys (``pose_uv`` …, pa16j).

    Args:
        index: the Penn Action index (either form).
        videos: (V,) indices into ``index`` of this split's videos.
        labels: (V,) class of each (after any class subsetting); classes: their names.
        boxes: (N, 4) per-frame person boxes aligned with ``index``'s frames (NaN: none, filled from the nearest
            frame, else the whole frame).
        sampler, transform, train, roi_decode: as :class:`~har.data.datasets.clips.ClipDataset`.
        multi_clip_boxes: (index video, clip number) → (4,) box of that clip of deephar's multi-clip enumeration
            (deephar's CVPR'18 boxes), used by :class:`~har.data.datasets.clips.MultiClipDataset`'s ``deephar``
            protocol.
    """

    def __init__(self, index: PennIndex, videos: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                 boxes: np.ndarray, sampler: ClipSampler, transform: ClipTransform, train: bool,
                 roi_decode: bool = True,
                 multi_clip_boxes: dict[tuple[int, int], np.ndarray] | None = None) -> None:  # fmt: skip
        super().__init__(sampler, transform, train, classes, roi_decode)
        if len(videos) != len(labels):
            raise ValueError(f"{len(videos)} videos but {len(labels)} labels")
        if len(boxes) != len(index.frame_numbers):
            raise ValueError(f"{len(boxes)} boxes for the index's {len(index.frame_numbers)} frames")
        self.index, self.videos, self.labels, self.boxes = index, np.asarray(videos), np.asarray(labels), boxes
        self.multi_clip_boxes = multi_clip_boxes or {}

    def __len__(self) -> int:
        return len(self.videos)

    def _rows(self, i: int) -> slice:
        return self.index.frame_rows(int(self.videos[i]))

    def clip_length(self, i: int) -> int:
        return self.index.num_frames(int(self.videos[i]))

    def frame_numbers(self, i: int, positions: np.ndarray) -> np.ndarray:
        return self.index.frame_numbers[self._rows(i)][positions]

    def _paths(self, i: int, positions: np.ndarray) -> list[str]:
        files = self.index.frame_files(int(self.videos[i]))
        return [files[int(p)] for p in positions]

    def read_encoded(self, i: int, positions: np.ndarray) -> list[tuple[np.ndarray, str]]:
        return [(read_bytes(path, self._what(i, path)), path) for path in self._paths(i, positions)]

    def read_frames(self, i: int, positions: np.ndarray) -> list[np.ndarray]:
        decoded: dict[str, np.ndarray] = {}
        out = []
        for path in self._paths(i, positions):
            if path not in decoded:
                decoded[path] = decode_rgb(path, self._what(i, path))
            out.append(decoded[path])
        return out

    def _what(self, i: int, path: str) -> str:
        return f"frame {path} (Penn Action video {self.clip_id(i)})"

    def clip_boxes(self, i: int) -> np.ndarray:
        return self.boxes[self._rows(i)]

    def multi_clip_box(self, i: int, clip: int) -> np.ndarray | None:
        return self.multi_clip_boxes.get((int(self.videos[i]), int(clip)))

    def keypoints(self, i: int, positions: np.ndarray) -> np.ndarray:
        return self.index.keypoints[self._rows(i)][positions]

    def label(self, i: int) -> int:
        return int(self.labels[i])

    def clip_id(self, i: int) -> str:
        return f"{int(self.index.video_ids[int(self.videos[i])]):04d}"
