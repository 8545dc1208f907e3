"""Multitask data: each training step takes an action-clip batch and a pose-labelled batch together.

deephar adapted its pose network to the action data by mixing pose frames into training; here a pose datamodule
(COCO, MERL pose, synthetic) runs beside an action datamodule. An epoch is one pass over the action clips; the pose
batches cycle (reshuffled each cycle, split across devices). Validation and test use the action data alone.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator

import lightning.pytorch as pl
from torch.utils.data import DataLoader, DistributedSampler


class _Cycle:
    """Iterate a DataLoader forever (setting the sampler's epoch at each pass); reports an unbounded length so a
    ``min_size`` CombinedLoader ends with the other loader."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader

    def __len__(self) -> int:
        return sys.maxsize

    def __iter__(self) -> Iterator:
        for epoch in itertools.count():
            if hasattr(self.loader.sampler, "set_epoch"):
                self.loader.sampler.set_epoch(epoch)
            yield from self.loader


class MultitaskDataModule(pl.LightningDataModule):
    """Training batches ``{"action": clip batch, "pose": pose batch}``; val/test batches are the action data's.

    Args:
        action: the action datamodule (instantiated by Hydra from its config).
        pose: the pose datamodule; its ``input_size`` must equal the action clips' (one pose network sees both).
        classes, input_size: the action data's (the config repeats them so that the model config can read
            ``data.classes`` and ``data.input_size`` whatever the data); checked.
        num_workers, persistent_workers: when set, override both datamodules' (as the debug presets do).
    """

    def __init__(
        self,
        action: pl.LightningDataModule,
        pose: pl.LightningDataModule,
        classes: list[str] | None = None,
        input_size: tuple[int, int] | None = None,
        num_workers: int | None = None,
        persistent_workers: bool | None = None,
    ) -> None:
        super().__init__()
        if tuple(action.hparams.input_size) != tuple(pose.hparams.input_size):
            raise ValueError(
                f"data.action.input_size {tuple(action.hparams.input_size)} != data.pose.input_size "
                f"{tuple(pose.hparams.input_size)}: the pose network sees both"
            )
        if classes is not None and tuple(classes) != tuple(action.classes):
            raise ValueError(f"data.classes {classes} != the action data's {action.classes}")
        self.action, self.pose = action, pose
        for key, value in (("num_workers", num_workers), ("persistent_workers", persistent_workers)):
            if value is not None:
                for dm in (action, pose):
                    dm.hparams[key] = value

    @property
    def classes(self) -> list[str]:
        return self.action.classes

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.action.hparams.input_size)

    def check(self, stages: tuple[str, ...] = ("fit", "test")) -> None:
        """The parts' checks (:meth:`har.data.datamodules.base.BaseDataModule.check`); pose frames train only."""
        self.action.check(stages)
        if "fit" in stages:
            self.pose.check(("fit",))

    def prepare_data(self) -> None:
        self.action.prepare_data()
        self.pose.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        for dm in (self.action, self.pose) if stage in (None, "fit") else (self.action,):
            dm.trainer = self.trainer
            dm.setup(stage)

    def train_dataloader(self):
        from lightning.pytorch.utilities import CombinedLoader

        pose_loader = self.pose.train_dataloader()
        if self.trainer is not None and self.trainer.world_size > 1:
            # Lightning does not reach inside our cycling wrapper: split the pose data across devices ourselves.
            sampler = DistributedSampler(
                pose_loader.dataset, num_replicas=self.trainer.world_size, rank=self.trainer.global_rank, shuffle=True
            )
            pose_loader = DataLoader(
                pose_loader.dataset,
                batch_size=pose_loader.batch_size,
                sampler=sampler,
                num_workers=pose_loader.num_workers,
                pin_memory=pose_loader.pin_memory,
                drop_last=True,
                persistent_workers=pose_loader.persistent_workers,
            )
        return CombinedLoader({"action": self.action.train_dataloader(), "pose": _Cycle(pose_loader)}, mode="min_size")

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        # Only this datamodule's hook is called: apply the pose data's device-side augmentation to its part.
        if self.trainer is not None and self.trainer.training and hasattr(self.pose, "augment_batch"):
            batch["pose"] = self.pose.augment_batch(batch["pose"])
        return batch

    def val_dataloader(self):
        return self.action.val_dataloader()

    def test_dataloader(self):
        return self.action.test_dataloader()
