"""How runs are launched: DDP inside Hydra sweeps, checks of the trainer config, torch.compile, the sweep objective.

DDP under ``python train.py -m ...``: Lightning starts the other ranks of a job by re-running the script with its
command line, which under ``-m`` would start the whole sweep again in every rank. :class:`MultirunDDP` (a Hydra
callback, ``conf/hydra/default.yaml``) makes each job start its ranks as a single run of that job's overrides in the
job's folder, and clears the distributed state when the job ends, so the next job starts its own ranks.

torch and Lightning are imported where they are used, not with this module: Hydra imports the callback before the task
function runs, and a mistyped path is reported before they load (~2 s instead of ~10 s).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from hydra.utils import get_original_cwd, to_absolute_path
from omegaconf import DictConfig, ListConfig

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# Set in the main process by Lightning's subprocess launcher; left over, they would make the next job of a sweep
# believe its ranks were already started (LOCAL_RANK) or reuse the finished job's port.
DDP_ENV_KEYS = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def _launchers():
    """Lightning's two subprocess launcher modules (Fabric's and the Trainer's)."""
    from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
    from lightning.pytorch.strategies.launchers import subprocess_script as trainer_launcher

    return fabric_launcher, trainer_launcher


_lightning_hydra_cmd = None  # Lightning's own rank command, kept when MultirunDDP first replaces it


def multirun_rank_command(local_rank: int) -> tuple[list[str], str]:
    """Command and working directory for DDP rank ``local_rank`` of the current Hydra job. In a multirun: the
    job's own overrides (sweep values resolved) as a single run (``hydra.mode=RUN``, as search presets set MULTIRUN)
    in the job's folder; in a single run: Lightning's own command."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return (_lightning_hydra_cmd or _launchers()[0]._hydra_subprocess_cmd)(local_rank)
    import __main__  # here, as Lightning does (lightning issue 15218)

    hc = HydraConfig.get()
    script = [to_absolute_path(sys.argv[0])] if __main__.__spec__ is None else ["-m", __main__.__spec__.name]
    single_run = ["hydra.mode=RUN", f'hydra.run.dir="{hc.runtime.output_dir}"', "hydra.output_subdir=null",
                  f"hydra.job.name={hc.job.name}_ddp_rank_{local_rank}"]  # fmt: skip
    command = [sys.executable, *script, *hc.overrides.task, *single_run]
    return command, get_original_cwd()


class MultirunDDP(Callback):
    """Hydra callback: DDP jobs inside a sweep (see the module docstring). A no-op for single runs (Lightning's own
    rank command is the right one there), which therefore import neither torch nor Lightning here."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _lightning_hydra_cmd
        self._env = {k: os.environ.get(k) for k in DDP_ENV_KEYS}
        if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
            return
        fabric_launcher, trainer_launcher = _launchers()
        if _lightning_hydra_cmd is None:
            _lightning_hydra_cmd = fabric_launcher._hydra_subprocess_cmd
        # Lightning's launcher builds the ranks' command with this function (the Trainer's module imports it by name).
        trainer_launcher._hydra_subprocess_cmd = fabric_launcher._hydra_subprocess_cmd = multirun_rank_command

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        torch = sys.modules.get("torch")  # not imported: no process group to clear
        if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in getattr(self, "_env", {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def prepare_config(cfg: DictConfig) -> None:
    """Checks and adjustments of a composed run config, before anything is built: clear errors for trainer settings
    that would fail deep inside a run, and ``augmentation: false`` (debug=overfit) applied to every data config."""
    import torch

    trainer = cfg.trainer
    accelerator, devices = trainer.get("accelerator", "auto"), trainer.get("devices", 1)
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    several = len(devices) > 1 if isinstance(devices, ListConfig | list) else str(devices) not in ("1", "auto")
    if trainer.get("sync_batchnorm") and on_cpu and (several or trainer.get("num_nodes", 1) > 1):
        raise ValueError(
            "trainer.sync_batchnorm=true needs GPUs: PyTorch's SyncBatchNorm does not run on CPU processes "
            "(e.g. trainer=ddp_sim). Drop trainer.sync_batchnorm, or train on GPUs."
        )
    if trainer.get("deterministic") is True and trainer.get("benchmark"):
        # cuDNN's autotuner (trainer=gpu sets benchmark: true) may pick different kernels from run to run, and
        # PyTorch ignores cudnn.deterministic under it: a deterministic run turns it off.
        log.info("trainer.deterministic=true: trainer.benchmark (cudnn.benchmark) turned off")
        trainer.benchmark = False
    if cfg.get("augmentation", True) is False:
        for node in _data_configs(cfg.data):
            node.augment = None


def _data_configs(data: DictConfig) -> list[DictConfig]:
    """The datamodule configs in ``data`` with an ``augment`` entry: itself, or a multitask config's parts."""
    nodes = [data] if "augment" in data else []
    return nodes + [v for v in data.values() if isinstance(v, DictConfig) and "_target_" in v and "augment" in v]


def compile_model(model: torch.nn.Module, cfg: DictConfig) -> torch.nn.Module:
    """``compile.enabled=true``: compile the LightningModule's forward with torch.compile, in place
    (``nn.Module.compile``), so parameter names and checkpoints stay those of the uncompiled model (no ``_orig_mod``
    prefix) and load anywhere, compiled or not."""
    opts = cfg.get("compile") or {}
    if not opts.get("enabled", False):
        return model
    kwargs = {k: opts[k] for k in ("backend", "mode", "dynamic", "fullgraph") if opts.get(k) is not None}
    log.info("torch.compile: %s", kwargs or "defaults")
    model.compile(**kwargs)
    return model


def sweep_objective(cfg: DictConfig, metrics: dict[str, float | None]) -> float | None:
    """The value ``train.py`` returns to a sweeper: ``metrics[cfg.optimized_metric]``. A missing or non-finite value
    is an error in a sweep whose sweeper optimises it (Optuna), and a warning otherwise."""
    key = cfg.get("optimized_metric")
    if not key:
        return None
    value = metrics.get(key)
    if value is None:
        found = "missing from" if key not in metrics else "not finite in"
        message = f"optimized_metric={key!r} is {found} this run's metrics ({', '.join(sorted(metrics))})"
        if _optimising_sweep():
            raise ValueError(message + ": the sweeper has nothing to optimise")
        log.warning(message)
    return value


def _optimising_sweep() -> bool:
    if not HydraConfig.initialized():
        return False
    hc = HydraConfig.get()
    return hc.mode == RunMode.MULTIRUN and "BasicSweeper" not in str(hc.sweeper.get("_target_", ""))
