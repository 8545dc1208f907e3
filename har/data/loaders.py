"""The DataLoaders every har datamodule builds from its ``datasets`` dict and its loader hyper-parameters."""

from __future__ import annotations

import lightning.pytorch as pl
from torch.utils.data import DataLoader


class LoaderDataModule(pl.LightningDataModule):
    """Base of the datamodules: ``self.datasets`` maps ``train``/``val``/``test`` to datasets; the hyper-parameters
    ``batch_size``, ``num_workers``, ``pin_memory`` and ``persistent_workers`` configure the loaders (GPU nodes:
    workers > 0, pinned memory, persistent workers). Training drops the last partial batch and shuffles."""

    datasets: dict

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
