"""What the action-clip datamodules share: sampler and transform from their arguments, multi-clip testing."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from har.data.datamodules.base import BaseDataModule
from har.data.datasets.clips import ClipDataset, MultiClipDataset
from har.data.sampling import ClipSampler
from har.data.transforms.augmentation import GeometricAugmentation
from har.data.transforms.clip import ClipTransform


def check_clip_args(hp: Mapping) -> None:
    """Fails at construction, not at setup, on bad sampling/crop/augmentation arguments."""
    ClipSampler(hp["num_frames"], hp["sampling"], tuple(hp["strides"]), hp["eval_stride"])
    ClipTransform(hp["input_size"], hp["crop"], hp["padding"])
    if hp["augment"] is not None:
        GeometricAugmentation(**hp["augment"])


class ClipDataModule(BaseDataModule):
    """What the clip datamodules share: sampler and transform from their arguments, and the DataLoaders.

    Subclasses define ``classes`` and ``build_dataset(split, train)``; ``setup`` builds the stage's splits into
    ``self.datasets`` ("train", "val", "test"; predict uses "test").
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

    def build_dataset(self, name: str, train: bool) -> ClipDataset:
        raise NotImplementedError

    def finish_setup(self, stage: str | None) -> None:
        test_clips, test_flip = self.hparams.get("test_clips", 1), self.hparams.get("test_flip", False)
        if "test" in self.datasets and (test_clips > 1 or test_flip) and not isinstance(self.datasets["test"],
                                                                                        MultiClipDataset):  # fmt: skip
            self.datasets["test"] = MultiClipDataset(self.datasets["test"], test_clips, test_flip)
