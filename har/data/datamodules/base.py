"""What every har datamodule shares: the DataLoaders, which datasets a stage builds, synthetic data on first use."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.data import DataLoader, Dataset

from har.errors import MissingFileError
from har.utils.io import remove_stale_temporaries

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
        line = write_data_report(path, report, line)
    log.info(line)


def write_data_report(path: Path, report: dict, line: str) -> str:
    """Write a data report (JSON) to ``path``; the summary ``line`` with where the report went (a folder that
    cannot be written is a warning, not a failed run)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1) + "\n")
        return f"{line} (report: {path})"
    except OSError as e:
        log.warning("cannot write the data report %s: %s", path, e)
        return line


def pin_memory_wanted(pin_memory: bool) -> bool:
    """Page-locked batches only where they help: copies to a CUDA device. On a CPU-only machine the GPU presets'
    ``pin_memory: true`` is dropped here rather than warned about by every DataLoader."""
    return bool(pin_memory) and torch.cuda.is_available()


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

    Checks before a run builds anything (:meth:`check`, called by ``train.py``/``evaluate.py`` right after the
    datamodule is instantiated): a subclass lists the files and folders real data needs in :meth:`required_paths`,
    describes its folder layout in :meth:`expected_layout` and names its README section in ``readme_section``;
    a missing one is a :class:`~har.errors.UserError` (one line: what is missing, the layout, what to try).
    """

    datasets: dict[str, Dataset]
    synthetic_generator: Callable[..., Path] | None = None
    synthetic_subdir: str | None = None
    readme_section: str | None = None  # the README section that describes this data's layout
    synthetic_experiment: str = "synthetic_pose"  # the experiment that runs without downloads, for error messages

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
        for folder in (root.parent, root):  # what a killed generation left (.<name>.tmp-<host>_<pid>-...)
            remove_stale_temporaries(folder)
        type(self).synthetic_generator(root, **params)

    # -- checks before a run -----------------------------------------------------------------------------------
    def required_paths(self, splits: set[str]) -> list[tuple[Path, str]]:
        """The files and folders real data needs for ``splits`` (``train``, ``val``, ``test``): (path, what it is)
        pairs, checked by :meth:`check` in this order (list the root first). None by default."""
        return []

    def expected_layout(self) -> str:
        """The folder layout real data has, in a few words for an error message (``annotations/...json, ...``)."""
        return ""

    def check(self, stages: tuple[str, ...] = ("fit", "test")) -> None:
        """Before anything is read or built: every path of :meth:`required_paths` for the stages' splits exists.
        Synthetic data (``synthetic`` set) is generated on first use and not checked. MissingFileError otherwise,
        naming the setting (``data.root``), the missing path, the layout, the README section and what to try."""
        if self.hparams.get("synthetic") is not None:
            return
        splits = {name for stage in stages for name, _ in STAGE_DATASETS.get(stage, [])}
        for path, what in self.required_paths(splits):
            if path.exists():
                continue
            root = Path(self.hparams.root)
            where = f"data.root={root}: no such folder" if path == root else f"{what} not found: {path}"
            raise MissingFileError(
                where, self.expected_layout() or None,
                f"experiment={self.synthetic_experiment} (generated data, nothing to download), or data.root=PATH",
                self.readme_section,
            )  # fmt: skip

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
            pin_memory=pin_memory_wanted(hp.pin_memory),
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
