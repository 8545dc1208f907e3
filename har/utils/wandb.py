"""Weights & Biases: a logger that works with or without an account, keeps its run id across resumes, and
sends tables. ``conf/logger/wandb.yaml`` builds it (``python train.py logger=wandb``)."""

from __future__ import annotations

import json
import logging
import netrc
import os
import secrets
import string
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)

RUN_FILE = "wandb_run.json"  # in the run folder: the W&B run id, so that a resumed run continues it


def has_credentials() -> bool:
    """Whether W&B can authenticate without asking: ``WANDB_API_KEY`` or ``WANDB_IDENTITY_TOKEN_FILE`` set, or an
    entry for the W&B host (``WANDB_BASE_URL``, default api.wandb.ai) in the netrc file (``$NETRC`` or ~/.netrc),
    which is where ``wandb login`` stores the key."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlsplit(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc")).expanduser()
    try:
        return netrc.netrc(str(path)).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def choose_offline(offline: bool | None = None) -> tuple[bool, str]:
    """Offline or online, and why: an explicit ``offline`` wins; else ``WANDB_MODE`` (offline, dryrun → offline;
    online → online); else online only when credentials are found. (``WANDB_MODE=disabled`` → online, so that
    nothing overrides it: wandb then logs nothing.)"""
    if offline is not None:
        return bool(offline), f"logger.wandb.offline={bool(offline)}"
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode in ("offline", "dryrun"):
        return True, f"WANDB_MODE={mode}"
    if mode == "disabled":
        return False, "WANDB_MODE=disabled"
    if mode in ("online", "run"):
        return False, f"WANDB_MODE={mode}"
    if has_credentials():
        return False, "W&B credentials found"
    return True, "no W&B credentials"


def new_run_id() -> str:
    """A fresh W&B run id (8 base-36 characters, as wandb makes them; not affected by seeding)."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def read_run_id(run_dir: str | Path) -> str | None:
    """The W&B run id recorded in a har run folder (None if that run did not log to W&B)."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("id")


@rank_zero_only
def _record_run(save_dir: Path, record: dict) -> None:
    save_dir.mkdir(parents=True, exist_ok=True)
    (save_dir / RUN_FILE).write_text(json.dumps(record, indent=1))


class BestCheckpointWandbLogger(WandbLogger):
    """:class:`WandbLogger` that uploads only the checkpoints of callbacks with a ``monitor`` (the best ones) as
    artifacts, not ``last.ckpt`` (written every N steps; it would also take the "best" alias)."""

    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        if checkpoint_callback.monitor is not None:
            super().after_save_checkpoint(checkpoint_callback)


def wandb_logger(
    save_dir: str,
    project: str = "har",
    offline: bool | None = None,
    log_model: bool | str = True,
    id: str | None = None,
    resume_from: str | None = None,
    **kwargs: Any,
) -> WandbLogger:
    """A :class:`WandbLogger` (:class:`BestCheckpointWandbLogger`) writing under ``<save_dir>/wandb/``.

    Args:
        save_dir: the run folder.
        project: W&B project.
        offline: None decides (see :func:`choose_offline`): with no credentials it logs offline and says how to sync.
        log_model: upload checkpoints as artifacts (True: at the end, "all": as they are written); online only.
        id: W&B run id to continue; None: the one recorded in ``resume_from``'s folder, else a new one.
        resume_from: the run folder being resumed (set by ``train.py`` when ``ckpt_path``/``resume`` continue a run).
        kwargs: other :class:`WandbLogger` / ``wandb.init`` arguments (name, group, tags, entity, ...).
    """
    offline, why = choose_offline(offline)
    if id is None and resume_from:
        id = read_run_id(resume_from)
        if id:
            log.info("W&B: continuing run %s of %s", id, resume_from)
    id = id or new_run_id()
    save_dir_path = Path(save_dir)
    if offline:
        pattern = save_dir_path / "wandb" / f"offline-run-*-{id}"
        # Asked for (WANDB_MODE, logger.wandb.offline): information; chosen for want of credentials: a warning.
        say = log.warning if why == "no W&B credentials" else log.info
        say("%s: logging offline to %s; sync later with `wandb sync %s`", why, pattern, pattern)
    disabled = why == "WANDB_MODE=disabled"
    if disabled:
        log.info("WANDB_MODE=disabled: nothing is logged to W&B")
    _record_run(save_dir_path, {"id": id, "project": project, "offline": offline})
    return BestCheckpointWandbLogger(
        save_dir=str(save_dir_path),
        project=project,
        offline=offline,
        log_model=False if offline or disabled else log_model,
        id=id,
        resume="allow",
        **kwargs,
    )


def wandb_loggers(trainer: Trainer) -> list[WandbLogger]:
    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


def log_table(trainer: Trainer, key: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Log a table (e.g. a confusion matrix) to the run's W&B loggers as a ``wandb.Table``, at the global step."""
    for logger in wandb_loggers(trainer):
        logger.log_table(key=key, columns=columns, data=rows, step=trainer.global_step)


@rank_zero_only
def finish_wandb(trainer: Trainer) -> None:
    """Close the W&B runs (so a next run in the same process, e.g. a sweep's trial, starts its own) and, for an
    offline run, say how to upload it."""
    for logger in wandb_loggers(trainer):
        run = logger._experiment  # None if nothing was logged
        if run is None:
            continue
        run_dir = Path(run.dir).parent
        offline = run.settings.mode in ("offline", "dryrun")
        run.finish()
        if offline:
            log.info("W&B run %s logged offline in %s; upload it with `wandb sync %s`", run.id, run_dir, run_dir)
