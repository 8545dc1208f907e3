"""What the action-clip datamodules share: sampler and transform from their arguments, multi-clip testing."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from har.data.datamodules.base import BaseDataModule
from har.data.datasets.clips import TEST_PROTOCOLS, ClipDataset, MultiClipDataset
from har.data.sampling import ClipSampler
from har.data.transforms.augmentation import GeometricAugmentation
from har.data.transforms.clip import ClipTransform


def check_clip_args(hp: Mapping) -> None:
    """Fails at construction, not at setup, on bad sampling/crop/augmentation arguments."""
    ClipSampler(hp["num_frames"], hp["sampling"], tuple(hp["strides"]), hp["eval_stride"])
    ClipTransform(hp["input_size"], hp["crop"], hp["padding"])
    if hp["augment"] is not None:
        GeometricAugmentation(**hp["augment"])
    if hp.get("test_protocol", "spread") not in TEST_PROTOCOLS:
        raise ValueError(f"test_protocol {hp['test_protocol']!r}: expected one of {TEST_PROTOCOLS}")


class ClipDataModule(BaseDataModule):
    """What the clip datamodules share: sampler and transform from their arguments, and the DataLoaders.

    Subclasses define ``classes`` and ``build_dataset(split, train)``; ``setup`` builds the stage's splits into
    ``self.datasets`` ("train", "val", "test"; predict uses "test"). The test split becomes a
    :class:`MultiClipDataset` when the hyper-parameters ask for it: ``test_protocol="deephar"`` (deephar's clip
    enumeration), or ``test_clips > 1`` / ``test_flip`` with the default ``"spread"``.
    """

    datasets: dict[str, ClipDataset]

    def _clip_parts(self, train: bool, flip_index: np.ndarray | None = None) -> tuple[ClipSampler, ClipTransform]:
        hp = self.hparams
        sampler = ClipSampler(hp.num_frames, hp.sampling, tuple(hp.strides), hp.eval_stride)
        augment = GeometricAugmentation(**hp.augment) if (train and hp.augment is not None) else None
        return sampler, ClipTransform(hp.input_size, hp.crop, hp.padding, augment, flip_index)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names (label = index), known before ``setup``."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def layout(self) -> str | None:
        """The joint layout of the samples' pose keys (``pose_uv`` …), None where they have none."""
        return self.hparams.get("keypoints_layout") if self.hparams.get("use_keypoints") else None

    @property
    def pose_dim(self) -> int:
        """2 (x, y targets) or 3 (x, y, z: ``pose_z`` carries depth)."""
        return 2

    def build_dataset(self, name: str, train: bool) -> ClipDataset:
        raise NotImplementedError

    def finish_setup(self, stage: str | None) -> None:
        hp = self.hparams
        test_clips, test_flip = hp.get("test_clips", 1), hp.get("test_flip", False)
        protocol = hp.get("test_protocol", "spread")
        wanted = test_clips > 1 or test_flip or protocol == "deephar"
        if "test" in self.datasets and wanted and not isinstance(self.datasets["test"], MultiClipDataset):
            self.datasets["test"] = MultiClipDataset(self.datasets["test"], test_clips, test_flip, protocol)
