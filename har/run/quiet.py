"""A run's console says what a user needs and nothing else: Lightning's messages that read as faults, or that repeat,
are silenced here by their exact text, each with the reason.

:func:`quiet_lightning` is called by the pipeline and ``predict`` in every process (DDP ranks included) before a
Trainer is built. :class:`ModelSummary` is Lightning's, without the FLOPs column and total when nothing was counted
(Lightning counts FLOPs only for a model with an ``example_input_array``; otherwise it prints a column of zeros).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from lightning.pytorch.callbacks import ModelSummary as _LightningModelSummary
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table

log = logging.getLogger(__name__)

# Warnings (by message regex), and why each is silenced.
WARNINGS = (
    # har's logged metrics (PCK, OKS AP, accuracies, their bests) are torchmetrics results computed over every rank's
    # samples, exact under DDP (har.metrics; README "exact under DDP"): Lightning cannot tell and asks for sync_dist
    # on each of them, ~30 times per DDP run. Losses (names with "loss") are not silenced: those are per-rank means.
    r"It is recommended to use `self\.log\('(?![^']*loss)[^']*', \.\.\., sync_dist=True\)`",
    # Lightning 2.6's _pytree.py calls isinstance(treespec, LeafSpec), which torch >= 2.10 deprecates; Lightning's
    # code, not har's, and harmless (printed at every sanity check).
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
# Lightning's rank-zero info lines (by prefix), and why each is silenced.
INFO_PREFIXES = (
    "\U0001f4a1 Tip:",  # product advertisements (litlogger, litmodels), not about the run
    # har's callbacks config has its own ModelSummary (max_depth=1): Lightning says it skips its default one
    "Trainer already configured with model summary callbacks",
    "TPU available:",  # "TPU available: False, using: 0 TPU cores": har runs on CPUs and GPUs
)
RANK_ZERO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _DropByPrefix(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(INFO_PREFIXES)


_FILTER = _DropByPrefix()


def quiet_lightning() -> None:
    """Install the warning and log filters (idempotent). When the root logger has handlers (Hydra configured it),
    Lightning's own console handler on the ``lightning`` logger is removed: with it every Lightning message (the
    model summary included) was printed twice, once as ``INFO: ...`` and once by the root logger's handler."""
    for pattern in WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    if logging.getLogger().handlers:
        lightning_logger = logging.getLogger("lightning")
        for handler in list(lightning_logger.handlers):
            if type(handler) is logging.StreamHandler:
                lightning_logger.removeHandler(handler)


class ModelSummary(_LightningModelSummary):
    """Lightning's model summary (callback); the FLOPs column and the ``Total Flops`` line are left out when no FLOPs
    were counted (a model without ``example_input_array``: Lightning prints zeros)."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        if total_flops:
            return _LightningModelSummary.summarize(summary_data, total_parameters, trainable_parameters, model_size,
                                                    total_training_modes, total_flops, **summarize_kwargs)  # fmt: skip
        columns = [c for c in summary_data if c[0] != "FLOPs"]
        table = _format_summary_table(total_parameters, trainable_parameters, model_size, total_training_modes, 0,
                                      *columns)  # fmt: skip
        lines = table.splitlines()
        if lines and lines[-1].endswith("Total Flops"):
            lines = lines[:-1]
        logging.getLogger("lightning.pytorch.callbacks.model_summary").info("\n" + "\n".join(lines))
