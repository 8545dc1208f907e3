"""Send an image to whatever loggers a run has, and keep a PNG of it in the run folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger


def epoch_file_name(kind: str, epoch: int | None, suffix: str) -> str:
    """A run folder's file name for a picture or table of a stage: ``val_confusion_epoch_003.png`` (validation
    after epoch 3, 0-based as the checkpoints' ``epoch_003.ckpt``), or without an epoch (``test_confusion.csv``:
    a test runs once, and the epoch counter then says how long training ran, not which weights are tested)."""
    return f"{kind}_epoch_{epoch:03d}{suffix}" if epoch is not None else f"{kind}{suffix}"


def log_image(
    trainer: Trainer, key: str, image: np.ndarray, step: int, png_path: str | Path | None = None
) -> Path | None:
    """Log an (H, W, 3) uint8 RGB image under ``key`` to every logger that takes images (``step``: TensorBoard's
    step and W&B's caption); also write it to ``png_path`` when given. Returns the PNG path."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, image, global_step=step, dataformats="HWC")
        elif isinstance(logger, WandbLogger):  # W&B's x axis is the global step; `step` goes in the caption
            logger.log_image(key=key, images=[image], step=trainer.global_step, caption=[f"{key} {step}"])
    if png_path is None:
        return None
    path = Path(png_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")
    return path
