"""What every har datamodule shares: the DataLoaders, which datasets a stage builds, synthetic data on first use."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.data import DataLoader, Dataset

log = logging.getLogger(__name__)

# stage → the datasets it needs: (name, built for training). Predict uses the test split.
STAGE_DATASETS: dict[str, list[tuple[str, bool]]] = {
    "fit": [("train", True), ("val", False)],
    "validate": [("val", False)],
    "test": [("test", False)],
    "predict": [("test", False)],
}


@rank_zero_only
def report_index(index, name: str, report_dir: str | None) -> None:
    """Log a format index's ``summary()`` and, with ``report_dir``, write ``data_report_<name>.json`` there: what was
    kept, skipped per reason and every bad record (indexes with ``source``, ``skipped`` and ``bad_records``)."""
    line = index.summary()
    if report_dir is not None:
        path = Path(report_dir) / f"data_report_{name}.json"
        report = {
            "source": str(index.source),
            "kept": len(index),
            "removed": dict(sorted(index.skipped.items())),
            "num_bad_records": len(index.bad_records),
            "bad_records": [[str(v) for v in r] for r in index.bad_records],
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=1) + "\n")
            line += f" (report: {path})"
        except OSError as e:
            log.warning("cannot write the data report %s: %s", path, e)
    log.info(line)


class BaseDataModule(pl.LightningDataModule):
    """Base of the datamodules.

    Subclasses implement :meth:`build_dataset` (``"train"``, ``"val"`` or ``"test"``); :meth:`setup` builds the
    stage's datasets once into ``self.datasets`` and then calls :meth:`finish_setup`. The hyper-parameters
    ``batch_size``, ``num_workers``, ``pin_memory`` and ``persistent_workers`` configure the loaders (GPU nodes:
    workers > 0, pinned memory, persistent workers); training drops the last partial batch and shuffles.

    Synthetic data: a subclass that sets ``synthetic_generator`` (a function ``(root, **params)`` that writes, or
    reuses, a generated dataset) gets it called by :meth:`prepare_data` with the ``synthetic`` hyper-parameter,
    when that is not None. With ``synthetic_subdir`` set, the generator writes several forms into ``root``'s parent
    and ``root`` must be its ``synthetic_subdir`` folder.
    """

    datasets: dict[str, Dataset]
    synthetic_generator: Callable[..., Path] | None = None
    synthetic_subdir: str | None = None

    def __init__(self) -> None:
        super().__init__()
        self.datasets = {}

    # -- data ------------------------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        params = self.hparams.get("synthetic")
        if params is None or self.synthetic_generator is None:
            return
        root = Path(self.hparams.root)
        if self.synthetic_subdir is not None:
            if root.name != self.synthetic_subdir:
                raise ValueError(f"synthetic data: root must be <generator root>/{self.synthetic_subdir}, got {root}")
            root = root.parent
        type(self).synthetic_generator(root, **params)

    def build_dataset(self, name: str, train: bool) -> Dataset:
        """The dataset ``name`` ("train", "val", "test"), augmented when ``train``."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        wanted = STAGE_DATASETS.get(stage, STAGE_DATASETS["fit"] + STAGE_DATASETS["test"])
        for name, train in wanted:
            if name not in self.datasets:
                self.datasets[name] = self.build_dataset(name, train)
        self.finish_setup(stage)

    def finish_setup(self, stage: str | None) -> None:
        """Called at the end of :meth:`setup` (wrap a dataset, check the model); nothing by default."""

    # -- loaders ---------------------------------------------------------------------------------------------
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

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
