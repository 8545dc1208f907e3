"""Mixed 2D/3D pose training (``data=mpii_h36m``, ``data=synthetic_pose3d``): every training batch holds a fixed
number of samples of each dataset, all in one 3D layout; each dataset is validated on its own split.

deephar's ``BatchLoader`` (``deephar/data/loader.py:147-198``) given a list of datasets concatenates, per batch,
``batch_size[k]`` samples of dataset ``k``, each drawn from its own shuffled key queue; its epoch is the longest
dataset's pass (``max_k ceil(len_k / batch_size_k)``). Its TPAMI 3D baseline mixes 14 MPII + 14 Human3.6M (+ 2 Penn
+ 2 NTU) in ``pa17j``, MPII's missing depth and spine masked per coordinate. Here: a
:class:`MixedBatchSampler` over a ``ConcatDataset`` of the children's training sets, any number of datasets.

**Validation**: a *list* of loaders, one per dataset in ``eval_sets`` order, so Lightning's ``dataloader_idx`` is the
dataset id; every sample also carries ``dataset`` (that id). Each loader is a plain one (Lightning adds its
DistributedSampler under DDP, padding with repeats): ``index`` is unique within a dataset, so metrics that drop
repeated indices per dataset are exact.

**DDP (training)**: Lightning re-creates :class:`MixedBatchSampler` with its DistributedSampler as ``sampler``; the
batch sampler reads the number of processes and the rank from it and gives each process its own slice of every
step's draw (``counts`` samples of each dataset per process), the same number of batches on every process.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import lightning.pytorch as pl
import numpy as np
from torch.utils.data import BatchSampler, ConcatDataset, DataLoader, Sampler

from har.data.datamodules.base import pin_memory_wanted


class EpochSampler(Sampler[int]):
    """``0 … n − 1`` in order, with the epoch Lightning sets on a batch sampler's ``sampler`` at each epoch start
    (``set_epoch``): the place :class:`MixedBatchSampler` reads its epoch from on one process."""

    def __init__(self, n: int) -> None:
        self.n, self.epoch = int(n), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


class MixedBatchSampler(BatchSampler):
    """Batches of a ``ConcatDataset`` holding ``counts[k]`` samples of part ``k`` each, in part order.

    Each part is drawn without replacement from its own shuffled queue, refilled with a new permutation when
    exhausted (deephar's key queues), seeded by ``(seed, epoch, part)``. The epoch is ``sampler``'s: Lightning calls
    ``set_epoch`` on a batch sampler's ``sampler`` (an :class:`EpochSampler`, or its DistributedSampler under DDP)
    at each epoch start; :meth:`set_epoch` sets it too.

    Args:
        sampler: its ``num_replicas`` and ``rank`` (Lightning's DistributedSampler under DDP; otherwise one process)
            and its ``epoch`` are read.
        sizes: the parts' lengths (``ConcatDataset`` order).
        counts: samples of each part per batch (per process).
        num_batches: batches per epoch; None: the longest part's pass, ``max_k ceil(size_k / (counts_k · P))`` for
            ``P`` processes (deephar's epoch).
        seed: base of the shuffles (the same on every process).
        drop_last: unused (every batch is full); kept for Lightning's batch-sampler interface.
    """

    def __init__(self, sampler: Sampler | None, sizes: Sequence[int], counts: Sequence[int],
                 num_batches: int | None = None, seed: int = 0, drop_last: bool = True) -> None:  # fmt: skip
        counts = [int(c) for c in counts]
        sizes = [int(s) for s in sizes]
        if len(sizes) != len(counts) or not sizes:
            raise ValueError(f"one count per dataset: {len(counts)} counts for {len(sizes)} datasets")
        if any(c < 0 for c in counts) or sum(counts) == 0:
            raise ValueError(f"counts must be ≥ 0 with at least one sample per batch, got {counts}")
        if any(s == 0 and c > 0 for s, c in zip(sizes, counts)):
            raise ValueError(f"a dataset with no sample cannot give {counts} per batch (sizes {sizes})")
        super().__init__(sampler if sampler is not None else EpochSampler(sum(sizes)), sum(counts), drop_last)
        self.sizes, self.counts, self.seed = sizes, counts, int(seed)
        self.num_replicas = int(getattr(sampler, "num_replicas", 1))
        self.rank = int(getattr(sampler, "rank", 0))
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        if num_batches is None:
            num_batches = max(math.ceil(s / (c * self.num_replicas)) for s, c in zip(sizes, counts) if c > 0)
        if int(num_batches) < 1:
            raise ValueError(f"num_batches must be ≥ 1, got {num_batches}")
        self.num_batches = int(num_batches)

    @property
    def epoch(self) -> int:
        return int(getattr(self.sampler, "epoch", 0))

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return self.num_batches

    def _stream(self, part: int) -> Iterator[int]:
        """Part ``part``'s indices (within the part), one shuffled pass after another."""
        rng = np.random.default_rng([self.seed, self.epoch, part])
        while True:
            yield from rng.permutation(self.sizes[part]).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        streams = [self._stream(k) for k in range(len(self.sizes))]
        for _ in range(self.num_batches):
            batch = []
            for k, (stream, count) in enumerate(zip(streams, self.counts)):
                step = [next(stream) for _ in range(count * self.num_replicas)]  # every process's draw, in order
                mine = step[self.rank * count : (self.rank + 1) * count]
                batch.extend(int(self.offsets[k]) + i for i in mine)
            yield batch


class MixedDataModule(pl.LightningDataModule):
    """Training batches mixing several pose datamodules; validation and test on each one's own split.

    Args:
        datasets: name → pose datamodule (MPII, Human3.6M, ...; instantiated by Hydra), in ``eval_sets`` order.
            Each must produce the batch contract's keys (``har.data.datasets.windowed``) in ``layout``.
        batch_counts: name → samples of that dataset per training batch (deephar: 14 MPII + 14 Human3.6M), or one
            number for every dataset (deephar's ``BatchLoader`` with an int ``batch_size``).
        layout: the one joint layout of every dataset (``pa17j``).
        input_size: the one crop size (H, W) of every dataset.
        num_batches: training batches per epoch; None: the longest dataset's pass (deephar).
        seed: base of the training shuffles.
        num_workers, pin_memory, persistent_workers: the training loader's; ``num_workers`` and
            ``persistent_workers`` also override every child's (their validation loaders), as the debug presets do.
    """

    def __init__(
        self,
        datasets: Mapping[str, pl.LightningDataModule],
        batch_counts: Mapping[str, int] | int,
        layout: str = "pa17j",
        input_size: Sequence[int] = (256, 256),
        num_batches: int | None = None,
        seed: int = 0,
        num_workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = True,
    ) -> None:
        super().__init__()
        self.members = dict(datasets)
        if isinstance(batch_counts, int):
            batch_counts = dict.fromkeys(self.members, batch_counts)
        if set(batch_counts) != set(self.members):
            raise ValueError(f"batch_counts names {sorted(batch_counts)} != datasets {sorted(self.members)}")
        self.counts = [int(batch_counts[name]) for name in self.members]
        self.layout_name = layout
        self.input_size = (int(input_size[0]), int(input_size[1]))
        for k, (name, dm) in enumerate(self.members.items()):
            if dm.layout.name != layout:
                raise ValueError(f"data.datasets.{name}.layout is {dm.layout.name!r}, the mixed layout is {layout!r}")
            if tuple(dm.input_size) != self.input_size:
                raise ValueError(f"data.datasets.{name}.input_size {tuple(dm.input_size)} != {self.input_size}")
            dm.dataset_id = k
            dm.hparams["num_workers"] = num_workers
            dm.hparams["persistent_workers"] = persistent_workers
        self.num_batches, self.seed = num_batches, int(seed)
        self.loader_args = {"num_workers": num_workers, "pin_memory": pin_memory_wanted(pin_memory),
                            "persistent_workers": persistent_workers and num_workers > 0}  # fmt: skip
        self.datasets: dict = {}

    @property
    def layout(self):
        """The joint layout every sample is in."""
        return next(iter(self.members.values())).layout

    @property
    def eval_sets(self) -> list[tuple[str, str]]:
        """(name, metric) of each dataset, in ``dataset`` id order."""
        return [(name, dm.eval_sets[0][1]) for name, dm in self.members.items()]

    def check(self, stages: tuple[str, ...] = ("fit", "test")) -> None:
        """Every member's checks (:meth:`BaseDataModule.check`): missing data is one line naming the member's files."""
        for dm in self.members.values():
            if hasattr(dm, "check"):
                dm.check(stages)

    def prepare_data(self) -> None:
        for dm in self.members.values():
            dm.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        for dm in self.members.values():
            dm.trainer = self.trainer
            dm.setup(stage)
        if stage in (None, "fit") and "train" not in self.datasets:
            self.datasets["train"] = ConcatDataset([dm.datasets["train"] for dm in self.members.values()])

    def train_dataloader(self) -> DataLoader:
        train = self.datasets["train"]
        sizes = [len(d) for d in train.datasets]
        sampler = MixedBatchSampler(EpochSampler(len(train)), sizes, self.counts, self.num_batches, self.seed)
        return DataLoader(train, batch_sampler=sampler, **self.loader_args)

    def val_dataloader(self) -> list[DataLoader]:
        return [dm.val_dataloader() for dm in self.members.values()]

    def test_dataloader(self) -> list[DataLoader]:
        return [dm.test_dataloader() for dm in self.members.values()]

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """Training: each child's device-side augmentation (photometric ops on GPU runs) on its own rows."""
        trainer = getattr(self, "trainer", None)
        if trainer is None or not trainer.training:
            return batch
        for k, dm in enumerate(self.members.values()):
            if getattr(dm, "batch_photometric", None) is not None:
                rows = batch["dataset"] == k
                if rows.any():
                    batch["image"][rows] = dm.batch_photometric(batch["image"][rows])
        return batch
