"""Labelled segments of MERL Shopping's official videos (:mod:`har.data.formats.merl_videos`) as clip samples."""

from __future__ import annotations

import numpy as np

from har.data.datasets.clips import ClipDataset
from har.data.formats.merl_videos import MerlVideoIndex
from har.data.io.video import read_video_frames
from har.data.sampling import ClipSampler
from har.data.transforms.clip import ClipTransform


class MerlVideoDataset(ClipDataset):
    """Segments of a :class:`MerlVideoIndex`; items as :class:`~har.data.datasets.clips.ClipDataset` describes, with
    ``frame_indices`` = 0-based frame numbers in the video."""

    def __init__(self, index: MerlVideoIndex, sampler: ClipSampler, transform: ClipTransform, train: bool) -> None:
        super().__init__(sampler, transform, train, index.classes)
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def clip_length(self, i: int) -> int:
        return int(self.index.sample_stop[i] - self.index.sample_start[i])

    def frame_numbers(self, i: int, positions: np.ndarray) -> np.ndarray:
        return self.index.sample_start[i] + positions

    def read_frames(self, i: int, positions: np.ndarray) -> list[np.ndarray]:
        video = self.index.video_files[self.index.sample_video[i]]
        return read_video_frames(str(video), self.frame_numbers(i, positions), self.clip_id(i))

    def clip_boxes(self, i: int) -> np.ndarray:
        boxes = self.index.video_boxes[self.index.sample_video[i]]
        if boxes is None:
            return np.full((self.clip_length(i), 4), np.nan, np.float32)
        return boxes[self.index.sample_start[i] : self.index.sample_stop[i]]

    def label(self, i: int) -> int:
        return int(self.index.labels[i])

    def clip_id(self, i: int) -> str:
        return self.index.clip_id(i)
