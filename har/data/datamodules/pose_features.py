"""The datamodule of saved pose features (``data=pose_features``), the decoupled mode: the action head trained
alone on what ``python -m har.tools.extract_pose_features`` wrote (:mod:`har.data.formats.pose_features`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from har.data.datamodules.base import BaseDataModule
from har.data.datasets.pose_features import PoseFeatureDataset
from har.data.formats.merl_classes import MERL_CLASSES
from har.data.formats.pose_features import SAME_ACROSS_SPLITS, PoseFeatureFile, check_features

log = logging.getLogger(__name__)


class PoseFeatureDataModule(BaseDataModule):
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

    def build_dataset(self, name: str, train: bool) -> PoseFeatureDataset:
        file = self.load(name)
        dataset = PoseFeatureDataset(file, train)
        log.info("pose features, %s split: %d clips, %d rows (%s)", name, len(dataset.clips), len(file), file.path)
        return dataset

    def finish_setup(self, stage: str | None) -> None:
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
