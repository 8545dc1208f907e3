"""Send an image to whatever loggers a run has, and keep a PNG of it in the run folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger


def log_image(
    trainer: Trainer, key: str, image: np.ndarray, step: int, png_dir: str | Path | None = None
) -> Path | None:
    """Log an (H, W, 3) uint8 RGB image under ``key`` to every logger that takes images; also write it as
    ``<png_dir>/<key with / as _>_<step>.png`` when ``png_dir`` is given. Returns the PNG path."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, image, global_step=step, dataformats="HWC")
        elif isinstance(logger, WandbLogger):  # W&B's x axis is the global step; `step` goes in the caption
            logger.log_image(key=key, images=[image], step=trainer.global_step, caption=[f"{key} {step}"])
    if png_dir is None:
        return None
    path = Path(png_dir) / f"{key.replace('/', '_')}_{step:06d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path
