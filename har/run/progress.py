"""Progress for terminals and for log files: carriage-return bars on a terminal, one line every N steps elsewhere.

In a SLURM or CI log a tqdm bar is thousands of carriage-return updates on one "line". :func:`progress_bar`
(the ``callbacks.progress_bar`` config) chooses: ``mode: auto`` gives Lightning's :class:`TQDMProgressBar` when
stdout is a terminal and :class:`LineProgress` otherwise; ``bar`` / ``lines`` force one.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)
MODES = ("auto", "bar", "lines")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class LineProgress(ProgressBar):
    """Logs one line every ``every_n_steps`` training steps (epoch, step in epoch / total, global step, steps per
    second, the progress-bar metrics), one at each epoch end with the validation metrics, and one per finished
    validation or test run. Rank 0 only; nothing during the sanity check."""

    def __init__(self, every_n_steps: int = 50) -> None:
        super().__init__()
        if int(every_n_steps) < 1:
            raise ValueError(f"every_n_steps={every_n_steps!r}: expected an integer >= 1")
        self.every_n_steps = int(every_n_steps)
        self._enabled = True
        self._t0 = time.monotonic()
        self._step0 = 0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> str:
        metrics = self.get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return " ".join(f"{k}={_fmt(v)}" for k, v in metrics.items())

    @rank_zero_only
    def _line(self, text: str) -> None:
        if self._enabled:
            log.info(text)

    def on_train_epoch_start(self, trainer: pl.Trainer, *_: Any) -> None:
        self._t0, self._step0 = time.monotonic(), trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:  # fmt: skip
        n = batch_idx + 1
        total = self.total_train_batches
        last = not math.isinf(total) and n == int(total)
        if n % self.every_n_steps and not last:
            return
        rate = (trainer.global_step - self._step0) / max(time.monotonic() - self._t0, 1e-9)
        of = "" if math.isinf(total) else f"/{int(total)}"
        self._line(f"epoch {trainer.current_epoch} step {n}{of} (global {trainer.global_step}, {rate:.2f} steps/s) "
                   f"{self._metrics(trainer, pl_module)}".rstrip())  # fmt: skip

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._line(f"validation, epoch {trainer.current_epoch}: {self._metrics(trainer, pl_module)}".rstrip())

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._line(f"test: {self._metrics(trainer, pl_module)}".rstrip())


def progress_bar(mode: str = "auto", refresh_rate: int = 10, every_n_steps: int = 50) -> ProgressBar:
    """The progress callback: ``auto`` → :class:`TQDMProgressBar` (``refresh_rate``) when stdout is a terminal,
    else :class:`LineProgress` (``every_n_steps``); ``bar`` / ``lines`` force one."""
    if mode not in MODES:
        raise ValueError(f"callbacks.progress_bar.mode={mode!r}: expected one of {', '.join(MODES)}")
    lines = mode == "lines" or (mode == "auto" and not sys.stdout.isatty())
    return LineProgress(every_n_steps) if lines else TQDMProgressBar(refresh_rate=refresh_rate)
