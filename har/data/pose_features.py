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
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from har.data.loaders import LoaderDataModule
from har.data.merl_classes import MERL_CLASSES

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


class PoseFeatureDataModule(LoaderDataModule):
    """Train, validate and test on saved pose features (see the module docstring).

    Args:
        root: the extraction's ``out`` folder.
        files: split → file (relative to ``root``): ``train``, ``val``, ``test``.
        classes: class names (label = index); must equal the features'.
        batch_size, num_workers, pin_memory, persistent_workers: DataLoader settings.
    """

    def __init__(
        self,
        root: str,
        files: Mapping[str, str] | None = None,
        classes: Sequence[str] = MERL_CLASSES,
        batch_size: int = 32,
        num_workers: int = 2,
        pin_memory: bool = True,
        persistent_workers: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.hparams.files = dict(files or {"train": "train.h5", "val": "val.h5", "test": "test.h5"})
        self.hparams.classes = list(classes)
        self.root = Path(root)
        self.datasets: dict[str, PoseFeatureDataset] = {}
        self.meta: dict | None = None  # the first file's, once set up

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.hparams.classes)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def load(self, split: str) -> PoseFeatureFile:
        """A split's file, checked against the classes and the splits read before."""
        file = PoseFeatureFile(self.root / self.hparams.files[split])
        check_features(file.meta, file.path, self.classes)
        if self.meta is None:
            self.meta = {**file.meta, "path": str(file.path)}
        else:
            differ = [k for k in SAME_ACROSS_SPLITS if file.meta[k] != self.meta[k]]
            if file.meta["pose_checkpoint"]["sha256"] != self.meta["pose_checkpoint"]["sha256"]:
                differ.append("pose checkpoint")
            if differ:
                raise ValueError(f"{file.path} and {self.meta['path']} come from different extractions ({differ} "
                                 f"differ): extract every split with one checkpoint and one data config")  # fmt: skip
        return file

    def setup(self, stage: str | None = None) -> None:
        wanted = {"fit": [("train", True), ("val", False)], "validate": [("val", False)],
                  "test": [("test", False)], "predict": [("test", False)]}  # fmt: skip
        for name, train in wanted.get(stage, wanted["fit"] + wanted["test"]):
            if name not in self.datasets:
                file = self.load(name)
                self.datasets[name] = PoseFeatureDataset(file, train)
                log.info("pose features, %s split: %d clips, %d rows (%s)", name, len(self.datasets[name].clips),
                         len(file), file.path)  # fmt: skip
        model = self.trainer.lightning_module if self.trainer is not None else None
        if model is not None:
            self.check_model(model)

    def check_model(self, model) -> None:
        """The features fit ``model`` (its ``action_net``, a DeepHARAction, and its ``classes``)."""
        net = getattr(model, "action_net", None)
        if net is None or self.meta is None:
            return
        check_features(self.meta, Path(self.meta["path"]), getattr(model, "classes", None), num_joints=net.num_joints,
                       dim=net.dim, feature_channels=net.feature_channels, num_frames=net.num_frames)  # fmt: skip
