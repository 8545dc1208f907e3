"""Saved pose features as action training data (``data=pose_features``): the decoupled mode's datamodule.

``python -m har.tools.extract_pose_features ... out=ROOT`` writes ``ROOT/<split>.h5`` (rows: windows of clips, and
their mirror images; see that tool). Here:

- **Reading**: a file's small per-row arrays (label, video, clip id, flipped) are read at setup; ``y``, ``p`` and
  ``pooled`` are memory-mapped (contiguous HDF5 datasets at their byte offsets; a chunked or compressed file is read
  into memory instead), lazily in each process, so DataLoader workers share the page cache and copy nothing.
- **Samples**: ``y`` (T, J, D), ``p`` (T, J, 1), ``pooled`` (T, J, C) float32, ``label``, ``index``, ``video``,
  ``clip_id``, ``flipped``. Training: one item per clip, a random row (window, mirror) of it each time, so an epoch
  sees every clip once; evaluation: every row, ``video`` = its clip, so the metrics average a clip's rows.
- **Checks** (errors name the file): the file is a pose-features file; its classes equal ``classes``; all splits
  come from the same pose checkpoint with the same T, J, D, C; and at setup, J, D, C (and T, when the model fixes
  it) equal the attached model's action network's and the model's classes equal the features'.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

log = logging.getLogger(__name__)

FORMAT = "har.pose_features"
MAPPED = ("y", "p", "pooled")
# meta key → (what it is, the model config key that must match)
SHAPE_KEYS = {
    "num_joints": ("J", "model.num_joints"),
    "dim": ("D", "model.dim"),
    "feature_channels": ("C", "model.feature_channels"),
    "num_frames": ("T", "model.action_net.num_frames"),
}
SAME_ACROSS_SPLITS = ("num_joints", "dim", "feature_channels", "num_frames", "classes")


def extract_hint(root: Path) -> str:
    return (f"extract them first: python -m har.tools.extract_pose_features ckpt_path=<pose or action checkpoint> "
            f"data=<merl_action|merl_videos|synthetic_merl_action> out={root}")  # fmt: skip


class PoseFeatureFile:
    """One split file of :mod:`har.tools.extract_pose_features`: ``meta``, per-row ``labels``, ``videos``,
    ``clip_ids``, ``flipped`` (read at once) and :meth:`arrays` (``y``, ``p``, ``pooled``, memory-mapped)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"pose features not found: {self.path}; {extract_hint(self.path.parent)}")
        try:
            f = h5py.File(self.path, "r")
        except OSError as e:
            raise ValueError(f"{self.path}: not an HDF5 file ({e})") from None
        with f:
            if "meta" not in f.attrs or any(name not in f for name in (*MAPPED, "label", "video")):
                raise ValueError(f"{self.path}: not a pose-features file (no meta attribute or no y/p/pooled/label)")
            self.meta = json.loads(f.attrs["meta"])
            if self.meta.get("format") != FORMAT:
                raise ValueError(f"{self.path}: format {self.meta.get('format')!r}, expected {FORMAT!r}")
            self.labels = f["label"][()].astype(np.int64)
            self.videos = f["video"][()].astype(np.int64)
            self.clip_ids = f["clip_id"].asstr()[()] if "clip_id" in f else self.videos.astype(str)
            self.flipped = f["flipped"][()].astype(bool) if "flipped" in f else np.zeros(len(self.labels), bool)
            # (byte offset or None, dtype, shape) of each mapped array
            self._layout = {name: (f[name].id.get_offset(), f[name].dtype, f[name].shape) for name in MAPPED}
        self._arrays: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def arrays(self) -> dict[str, np.ndarray]:
        """``y`` (N, T, J, D), ``p`` (N, T, J), ``pooled`` (N, T, J, C): memory maps, opened on first use."""
        if self._arrays is None:
            arrays = {}
            for name, (offset, dtype, shape) in self._layout.items():
                if offset is None or np.prod(shape) == 0:  # chunked or compressed: no single byte range to map
                    with h5py.File(self.path, "r") as f:
                        arrays[name] = f[name][()]
                else:
                    arrays[name] = np.memmap(self.path, dtype=dtype, mode="r", offset=offset, shape=shape)
            self._arrays = arrays
        return self._arrays

    def __getstate__(self) -> dict:
        # Workers started by pickling (spawn) map the file themselves rather than receive copies of the arrays.
        return {**self.__dict__, "_arrays": None}


def check_features(meta: dict, path: Path, classes: Sequence[str] | None = None, **expected: int | None) -> None:
    """ValueError naming ``path`` when the features' classes differ from ``classes`` or a shape (``num_joints``,
    ``dim``, ``feature_channels``, ``num_frames``) from ``expected`` (None: not checked)."""
    problems = []
    if classes is not None and list(meta["classes"]) != list(classes):
        problems.append(f"its classes are {list(meta['classes'])}, the configuration's {list(classes)}")
    for key, want in expected.items():
        name, config_key = SHAPE_KEYS[key]
        if want is not None and meta[key] != want:
            problems.append(f"{name} = {meta[key]} but the model has {want} ({config_key})")
    if problems:
        source = meta.get("pose_checkpoint", {}).get("path")
        raise ValueError(f"{path}: the pose features do not fit: {'; '.join(problems)} (extracted from {source})")
