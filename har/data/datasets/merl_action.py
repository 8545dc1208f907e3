"""MERL Shopping action clips of the fork's per-frame JSON (:mod:`har.data.formats.merl_action`) as samples."""

from __future__ import annotations

import numpy as np

from har.data.datasets.clips import ClipDataset
from har.data.formats.merl_action import MerlActionIndex
from har.data.io.images import decode_rgb, read_bytes
from har.data.sampling import ClipSampler
from har.data.transforms.clip import ClipTransform


class MerlActionDataset(ClipDataset):
    """Clips of a :class:`MerlActionIndex`; items as :class:`~har.data.datasets.clips.ClipDataset` describes, with
    ``frame_indices`` = positions in the clip's ordered frames and, when the index has keypoints, ``keypoints``
    (T, J, 3) in image pixels and ``keypoints_crop`` (T, J, 3) in crop pixels (joints swapped on a flip)."""

    def __init__(self, index: MerlActionIndex, sampler: ClipSampler, transform: ClipTransform, train: bool,
                 roi_decode: bool = True) -> None:  # fmt: skip
        super().__init__(sampler, transform, train, index.classes, roi_decode)
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def clip_length(self, i: int) -> int:
        return int(self.index.clip_length[i])

    def read_encoded(self, i: int, positions: np.ndarray) -> list[tuple[np.ndarray, str]]:
        first = self.index.frames(i).start
        paths = [self.index.frame_path(first + int(p)) for p in positions]
        return [(read_bytes(path, self._frame_what(i, path)), path) for path in paths]

    def read_frames(self, i: int, positions: np.ndarray) -> list[np.ndarray]:
        first = self.index.frames(i).start
        paths = {int(p): self.index.frame_path(first + int(p)) for p in np.unique(positions)}
        decoded = {p: decode_rgb(path, self._frame_what(i, path)) for p, path in paths.items()}
        return [decoded[int(p)] for p in positions]

    def _frame_what(self, i: int, path: str) -> str:
        return f"frame {path} (clip {self.clip_id(i)!r})"

    def clip_boxes(self, i: int) -> np.ndarray:
        return self.index.boxes[self.index.frames(i)]

    def label(self, i: int) -> int:
        return int(self.index.labels[i])

    def clip_id(self, i: int) -> str:
        return str(self.index.clip_ids[i])

    def keypoints(self, i: int, positions: np.ndarray) -> np.ndarray | None:
        if self.index.keypoints is None:
            return None
        return self.index.keypoints[self.index.frames(i)][positions]
