"""What ``train.py`` and ``evaluate.py`` do, given a composed Hydra config."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import get_class, instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from har.utils.resolvers import register_resolvers

log = logging.getLogger(__name__)
register_resolvers()


def _instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every entry with a ``_target_`` of a config group such as ``callbacks`` or ``logger``."""
    if not cfg:
        return []
    return [instantiate(c) for c in cfg.values() if isinstance(c, DictConfig) and "_target_" in c]


def _float_metrics(metrics: dict) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        value = float(value.item() if isinstance(value, torch.Tensor) else value)
        out[key] = value if math.isfinite(value) else None
    return dict(sorted(out.items()))


@rank_zero_only
def write_json(path: str | Path, payload: Any) -> Path:
    """Write JSON atomically (temporary file, then rename), so a crash never leaves a truncated file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=1 if isinstance(payload, dict) else None))
    tmp.replace(path)
    log.info("wrote %s", path)
    return path


@rank_zero_only
def _log_config(cfg: DictConfig, model: pl.LightningModule, trainer: pl.Trainer) -> None:
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    hparams = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    hparams["model/params_total"], hparams["model/params_trainable"] = params, trainable
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)
    log.info("model: %.2fM parameters (%.2fM trainable)", params / 1e6, trainable / 1e6)


def _build(cfg: DictConfig) -> tuple[pl.LightningDataModule, pl.Trainer]:
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision(cfg.get("matmul_precision", "high"))
    datamodule = instantiate(cfg.data, _convert_="all")
    trainer = instantiate(
        cfg.trainer, callbacks=_instantiate_group(cfg.get("callbacks")), logger=_instantiate_group(cfg.get("logger"))
    )
    return datamodule, trainer


def _write_outputs(model: pl.LightningModule, metrics: dict, out_dir: Path) -> dict[str, float]:
    metrics = _float_metrics(metrics)
    write_json(out_dir / "metrics.json", metrics)
    if getattr(model, "test_predictions", None):
        write_json(out_dir / "predictions.json", model.test_predictions)
    return metrics


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit, then test the best checkpoint; write ``metrics.json`` (and ``predictions.json``) in the run folder."""
    datamodule, trainer = _build(cfg)
    model = instantiate(cfg.model, _convert_="all")
    _log_config(cfg, model, trainer)

    if cfg.get("train", True):
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    metrics = dict(trainer.callback_metrics)

    if cfg.get("test", True):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if not best:
            log.warning("no best checkpoint was saved; testing the current weights")
        else:
            log.info("testing the best checkpoint %s", best)
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
        metrics.update(trainer.callback_metrics)
    return _write_outputs(model, metrics, Path(cfg.paths.output_dir))


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test a checkpoint on the configured data; write ``metrics.json`` and ``predictions.json``."""
    if not cfg.get("ckpt_path"):
        raise ValueError("evaluate.py needs ckpt_path=PATH (a checkpoint written by train.py or a converter)")
    ckpt = Path(cfg.ckpt_path)
    if not ckpt.is_file():
        raise FileNotFoundError(f"checkpoint not found: {ckpt}")
    datamodule, trainer = _build(cfg)
    module_cls = get_class(cfg.model._target_)
    model = module_cls.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True)
    trainer.test(model, datamodule=datamodule)
    return _write_outputs(model, dict(trainer.callback_metrics), Path(cfg.paths.output_dir))
