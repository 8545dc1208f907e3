"""Rows of saved pose-feature files (:mod:`har.data.formats.pose_features`) as action-head samples."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from har.data.formats.pose_features import PoseFeatureFile


class PoseFeatureDataset(Dataset):
    """Samples of a :class:`PoseFeatureFile` (see the module docstring): one per clip (a random row of it) when
    ``train``, else one per row."""

    def __init__(self, file: PoseFeatureFile, train: bool) -> None:
        self.file, self.train = file, train
        order = np.argsort(file.videos, kind="stable")
        self.clips, starts = np.unique(file.videos[order], return_index=True)
        self.clip_rows = np.split(order, starts[1:])  # rows of each clip

    def __len__(self) -> int:
        return len(self.clips) if self.train else len(self.file)

    def __getitem__(self, i: int) -> dict:
        if self.train:
            rows = self.clip_rows[i]
            row = int(rows[torch.randint(len(rows), ()).item()]) if len(rows) > 1 else int(rows[0])
        else:
            row = i
        a = self.file.arrays()
        return {
            "y": torch.from_numpy(np.array(a["y"][row], dtype=np.float32)),
            "p": torch.from_numpy(np.array(a["p"][row], dtype=np.float32)[..., None]),
            "pooled": torch.from_numpy(np.array(a["pooled"][row], dtype=np.float32)),
            "label": torch.tensor(self.file.labels[row], dtype=torch.int64),
            "index": torch.tensor(i, dtype=torch.int64),
            "video": torch.tensor(self.file.videos[row], dtype=torch.int64),
            "clip_id": str(self.file.clip_ids[row]),
            "flipped": torch.tensor(bool(self.file.flipped[row])),
        }
