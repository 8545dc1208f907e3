"""What ``train.py`` and ``evaluate.py`` do, given a composed Hydra config."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import get_class, instantiate
from lightning.fabric.plugins import CheckpointIO
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from har.checkpoints import read_checkpoint, require_kind
from har.lit.common import use_onnx_runtime
from har.run.checkpoint_io import AtomicCheckpointIO
from har.run.checks import check_run_config, warn_missing_pose_checkpoint
from har.run.cli import is_global_rank_zero, prepare_evaluate
from har.run.launch import compile_model, prepare_config
from har.run.lock import hold_run_folder
from har.run.quiet import quiet_lightning
from har.run.resume import resolve_checkpoint, run_dir_of
from har.utils.io import write_json_atomic
from har.utils.resolvers import register_resolvers
from har.utils.wandb import finish_wandb

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
    """Write JSON atomically (temporary file, then rename), on global rank 0 only."""
    return write_json_atomic(path, payload)


@rank_zero_only
def _log_config(cfg: DictConfig, model: pl.LightningModule, trainer: pl.Trainer) -> None:
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    hparams = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    hparams["model/params_total"], hparams["model/params_trainable"] = params, trainable
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)
    log.info("model: %.2fM parameters (%.2fM trainable)", params / 1e6, trainable / 1e6)


def _plugins(cfg: DictConfig) -> list[Any]:
    """The trainer config's plugins, plus atomic checkpoint writes (har.run.checkpoint_io.AtomicCheckpointIO) unless one
    of them already writes checkpoints."""
    plugins = cfg.trainer.get("plugins") or []
    plugins = plugins if isinstance(plugins, ListConfig | list) else [plugins]
    plugins = [instantiate(p) if isinstance(p, DictConfig) else p for p in plugins]
    if not any(isinstance(p, CheckpointIO) for p in plugins):
        plugins.append(AtomicCheckpointIO())
    return plugins


def _build(cfg: DictConfig, stages: tuple[str, ...] = ("fit", "test")) -> tuple[pl.LightningDataModule, pl.Trainer]:
    """The datamodule (checked: har.errors.UserError for missing data, before anything is read) and the trainer."""
    prepare_config(cfg)
    quiet_lightning()
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision(cfg.get("matmul_precision", "high"))
    datamodule = instantiate(cfg.data, _convert_="all")
    if hasattr(datamodule, "check"):
        datamodule.check(stages)
    trainer = instantiate(
        cfg.trainer,
        callbacks=_instantiate_group(cfg.get("callbacks")),
        logger=_instantiate_group(cfg.get("logger")),
        plugins=_plugins(cfg),
    )
    return datamodule, trainer


def _resume_checkpoint(cfg: DictConfig) -> Path | None:
    """Resolve ``ckpt_path`` / ``resume`` (see har.run.resume) to the checkpoint to continue from; note it in the
    config and in ``<run>/resume.json``, and point a W&B logger at the continued run (same run id)."""
    hydra = HydraConfig.get() if HydraConfig.initialized() else None
    # A sweep's job continues only its own folder (a sweep re-run with the same hydra.sweep.dir), never another run.
    sweep = hydra is not None and hydra.mode == RunMode.MULTIRUN
    runs_dir = None if sweep else Path(cfg.paths.log_dir) / cfg.task_name / "runs"
    experiment = hydra.runtime.choices.get("experiment") if hydra is not None else None
    run_dir = Path(cfg.paths.output_dir)
    ckpt = resolve_checkpoint(cfg.get("ckpt_path"), cfg.get("resume"), runs_dir, run_dir, experiment)
    if ckpt is None:
        if cfg.get("resume"):
            log.info("resume=auto: no run of this experiment to continue; starting a new one")
        return None
    from_run = run_dir_of(ckpt)
    same_folder = from_run.resolve() == run_dir.resolve()
    log.info("continuing %s from %s", "this run" if same_folder else f"the run in {from_run}", ckpt)
    with open_dict(cfg):
        cfg.ckpt_path = str(ckpt)
        if cfg.get("logger") and "wandb" in cfg.logger and not cfg.logger.wandb.get("resume_from"):
            cfg.logger.wandb.resume_from = str(from_run)
    _record_resume(run_dir, ckpt, same_folder)
    return ckpt


@rank_zero_only
def _record_resume(run_dir: Path, ckpt: Path, same_folder: bool) -> None:
    """Append this resume to ``<run>/resume.json``; in the same folder, keep the CSV logger's rows so far (Lightning's
    CSVLogger would delete ``csv/metrics.csv``) as ``csv/metrics.<n>.csv``."""
    path = run_dir / "resume.json"
    history = json.loads(path.read_text()) if path.is_file() else []
    step = read_checkpoint(ckpt, mmap=True, strict=False).get("global_step")
    history.append({"ckpt_path": str(ckpt), "global_step": step, "time": time.strftime("%Y-%m-%d %H:%M:%S")})
    write_json(path, history)
    csv_file = run_dir / "csv" / "metrics.csv"
    if same_folder and csv_file.is_file():
        csv_file.replace(csv_file.with_name(f"metrics.{len(history) - 1}.csv"))


def _write_outputs(model: pl.LightningModule, metrics: dict, out_dir: Path) -> dict[str, float]:
    metrics = _float_metrics(metrics)
    write_json(out_dir / "metrics.json", metrics)
    if getattr(model, "test_predictions", None):
        write_json(out_dir / "predictions.json", model.test_predictions)
    return metrics


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (continuing a run with ``ckpt_path``/``resume``), then test the best checkpoint; write ``metrics.json``
    (and ``predictions.json``) in the run folder, which the run holds meanwhile (har.run.lock: a second run into
    it is refused)."""
    check_run_config(cfg)
    with hold_run_folder(cfg.paths.output_dir, rank_zero=is_global_rank_zero()):
        return _train(cfg)


def _train(cfg: DictConfig) -> dict[str, float]:
    ckpt_path = _resume_checkpoint(cfg)
    stages = (("fit",) if cfg.get("train", True) else ()) + (("test",) if cfg.get("test", True) else ())
    datamodule, trainer = _build(cfg, stages)
    if cfg.get("train", True):
        warn_missing_pose_checkpoint(cfg)
    model = compile_model(instantiate(cfg.model, _convert_="all"), cfg)
    _log_config(cfg, model, trainer)

    if cfg.get("train", True):
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = dict(trainer.callback_metrics)

    if cfg.get("test", True):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if trainer.is_global_zero:  # once, not by every rank
            if not best:
                log.warning("no best checkpoint was saved; testing the current weights")
            else:
                log.info("testing the best checkpoint %s", best)
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
        metrics.update(trainer.callback_metrics)
    metrics = _write_outputs(model, metrics, Path(cfg.paths.output_dir))
    finish_wandb(trainer)
    return metrics


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test a checkpoint (a file, a run folder's ``last.ckpt``, or ``last``: the newest training run of the
    experiment) on the configured data; write ``metrics.json`` and ``predictions.json``."""
    ckpt, experiment = prepare_evaluate(cfg)  # ckpt_path given and resolved, the runtime (evaluate.py: done already)
    check_run_config(cfg)
    module_cls = get_class(cfg.model._target_)
    tool = f"evaluate.py with experiment={experiment}" if experiment else f"evaluate.py ({module_cls.__name__})"
    require_kind(read_checkpoint(ckpt, mmap=True), ckpt, (module_cls.checkpoint_kind,), tool)
    log.info("evaluating %s", ckpt)
    datamodule, trainer = _build(cfg, ("test",))
    model = module_cls.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True)
    if cfg.get("runtime", "torch") == "onnx":
        use_onnx_runtime(model, Path(cfg.paths.output_dir) / "onnx")
    trainer.test(model, datamodule=datamodule)
    return _write_outputs(model, dict(trainer.callback_metrics), Path(cfg.paths.output_dir))
