"""LightningDataModule for COCO-format person keypoints (real COCO 2017, or the synthetic set in its format)."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from har.data.coco import CocoFilters, load_coco_index
from har.data.topdown import Augmentation, TopDownPoseDataset, TopDownTransform
from har.layouts import get_layout

log = logging.getLogger(__name__)


class CocoPoseDataModule(pl.LightningDataModule):
    """Top-down person samples from ``ROOT/annotations/person_keypoints_<split>.json`` and ``ROOT/<split>/``.

    Args:
        root: dataset folder in the COCO 2017 layout.
        layout: joint layout name (``coco17``).
        input_size: network input (H, W), each a multiple of 32.
        batch_size: per device.
        num_workers, pin_memory, persistent_workers: DataLoader settings (GPU nodes: workers > 0, pinned memory).
        train_split, val_split, test_split: split names (``train2017``, ``val2017``; COCO tests on val).
        padding: box-to-window enlargement.
        augment: training augmentation (fields of :class:`Augmentation`), or None to disable.
        filters: instance filters (fields of :class:`CocoFilters`).
        synthetic: generator parameters: when set, ``prepare_data`` generates the synthetic set into ``root`` on first
            use (or reuses it); None for real data.
    """

    def __init__(
        self,
        root: str,
        layout: str = "coco17",
        input_size: tuple[int, int] = (256, 256),
        batch_size: int = 16,
        num_workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        train_split: str = "train2017",
        val_split: str = "val2017",
        test_split: str = "val2017",
        padding: float = 1.25,
        augment: dict | None = None,
        filters: dict | None = None,
        synthetic: dict | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.root = Path(root)
        self.layout = get_layout(layout)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.augment = Augmentation(**augment) if augment is not None else None
        self.filters = CocoFilters(**(filters or {}))
        self.datasets: dict[str, TopDownPoseDataset] = {}

    def prepare_data(self) -> None:
        if self.hparams.synthetic is not None:
            from har.data.synthetic_coco import ensure_synthetic_coco

            ensure_synthetic_coco(self.root, **self.hparams.synthetic)

    def annotation_file(self, split: str) -> Path:
        return self.root / "annotations" / f"person_keypoints_{split}.json"

    def eval_annotation_file(self, stage: str) -> Path:
        """Ground truth scored by COCO keypoint AP for a stage ("val" or "test")."""
        return self.annotation_file(self.hparams.val_split if stage == "val" else self.hparams.test_split)

    def build_dataset(self, split: str, train: bool) -> TopDownPoseDataset:
        index = load_coco_index(self.annotation_file(split), self.layout.num_joints, self.filters)
        transform = TopDownTransform(
            self.layout, self.input_size, self.hparams.padding, self.augment if train else None
        )
        return TopDownPoseDataset(index, self.root / split, transform)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        wanted = {"fit": [("train", hp.train_split, True), ("val", hp.val_split, False)],
                  "validate": [("val", hp.val_split, False)],
                  "test": [("test", hp.test_split, False)],
                  "predict": [("test", hp.test_split, False)]}  # fmt: skip
        for name, split, train in wanted.get(stage, wanted["fit"] + wanted["test"]):
            if name not in self.datasets:
                self.datasets[name] = self.build_dataset(split, train)

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        hp = self.hparams
        return DataLoader(
            self.datasets[name],
            batch_size=hp.batch_size,
            shuffle=shuffle,
            drop_last=shuffle,
            num_workers=hp.num_workers,
            pin_memory=hp.pin_memory,
            persistent_workers=hp.persistent_workers and hp.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
