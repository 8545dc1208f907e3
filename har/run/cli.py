"""What the entry scripts (``train.py``, ``evaluate.py``, ``predict.py``) share around their Hydra task function.

- :func:`run_main` runs the ``@hydra.main`` function; before it, ``train.py``'s ``ckpt_path=last`` / ``resume=auto``
  is pointed at the run folder it continues (:func:`har.run.resume.continue_in_run_folder`).
- :func:`user_errors` wraps a task function's body: a :class:`~har.errors.UserError` (a missing dataset or
  checkpoint, a wrong value) is printed as one line on stderr and the process exits with status 2; the traceback
  only with ``HYDRA_FULL_ERROR=1``. A run that fails before writing anything of its own leaves no run folder
  behind (only Hydra's ``.hydra/`` and the log were there).

Nothing here imports torch or Lightning: the scripts import them inside the task function, after Hydra has composed
the config, so that a typo (``experiment=nope``) is reported at once.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig

from har.errors import EXIT_USER_ERROR, UserError

log = logging.getLogger(__name__)

HYDRA_RECORDS = {".hydra"}  # what Hydra writes into a run folder before the task function runs (and *.log)


def full_error() -> bool:
    """Whether ``HYDRA_FULL_ERROR=1`` asks for full tracebacks."""
    return os.environ.get("HYDRA_FULL_ERROR", "") == "1"


def is_global_rank_zero() -> bool:
    """Whether this process is global rank 0 (or not part of a distributed job), from the launchers' variables."""
    return all(os.environ.get(k, "0") == "0" for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def report(err: UserError) -> None:
    """Print a UserError as one line on stderr."""
    print(f"error: {err.one_line()}", file=sys.stderr, flush=True)


def remove_if_unused(run_dir: str | Path) -> bool:
    """Remove ``run_dir`` when it holds only what Hydra writes before a run starts (``.hydra/``, ``*.log``): the
    record of a run that failed before writing anything. A folder with anything else (a checkpoint, metrics, a
    continued run's files) is kept. Returns whether it was removed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not is_global_rank_zero():
        return False
    entries = list(run_dir.iterdir())
    if any(e.name not in HYDRA_RECORDS and not (e.is_file() and e.suffix == ".log") for e in entries):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    return True


def _single_run() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN


@contextmanager
def user_errors(cfg: DictConfig) -> Iterator[None]:
    """Run a task function's body: a UserError becomes one line and exit status 2 (in a single run; a sweep's job
    lets Hydra record it as failed); any failure removes a run folder that holds nothing of the run
    (:func:`remove_if_unused`)."""
    try:
        yield
    except BaseException as err:
        out = (cfg.get("paths") or {}).get("output_dir") if isinstance(cfg, DictConfig) else None
        if out and _single_run() and remove_if_unused(out):
            log.debug("removed the unused run folder %s", out)
        if isinstance(err, UserError) and not full_error() and _single_run():
            report(err)
            sys.exit(EXIT_USER_ERROR)
        raise


def run_main(main: Callable[[], object], continue_config: tuple[Path, str] | None = None) -> None:
    """Run an ``@hydra.main`` function. ``continue_config``: (config folder, config name) of a script whose
    ``ckpt_path=last`` / ``resume=auto`` continue a run in its own folder (``train.py``); the checks made there (a
    run folder held by a live run, no checkpoint that loads) are reported as one line too."""
    if continue_config is not None:
        from har.run.lock import check_run_folder_free
        from har.run.resume import continue_in_run_folder

        try:
            # An explicit run folder held by a live run: refused before Hydra writes into it. Not in the other ranks
            # of a DDP run: Lightning starts them with the folder of their rank 0, which holds its lock.
            for arg in sys.argv[1:] if is_global_rank_zero() else ():
                if arg.lstrip("+").startswith("hydra.run.dir="):
                    check_run_folder_free(arg.split("=", 1)[1].strip("'\""))
            sys.argv = continue_in_run_folder(sys.argv, *continue_config)
        except UserError as err:
            if full_error():
                raise
            report(err)
            sys.exit(EXIT_USER_ERROR)
    main()


def prepare_evaluate(cfg: DictConfig) -> tuple[Path, str | None]:
    """``evaluate.py``'s checks before torch and Lightning load (a mistyped path is reported in ~2 s, not after ~10 s
    of imports): ``ckpt_path`` given and resolved (a file, a run folder, or ``last``: the newest training run of the
    experiment; ``cfg.ckpt_path`` becomes the file), the runtime. UserErrors. Returns the checkpoint and the
    experiment's name (None outside Hydra). The checkpoint's contents (its kind, whether it loads) are checked by
    :func:`har.run.pipeline.evaluate`, which calls this too (for callers other than evaluate.py)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from har.run.checks import check_runtime
    from har.run.resume import resolve_checkpoint

    if not cfg.get("ckpt_path"):
        raise UserError("evaluate.py needs a checkpoint", "ckpt_path=PATH (a checkpoint written by train.py or a "
                        "converter), a run folder, or `last` (the newest training run of this experiment)",
                        "evaluate.py ckpt_path=last experiment=NAME", "Training and evaluating")  # fmt: skip
    check_runtime(cfg, "evaluate.py")
    hydra = HydraConfig.get() if HydraConfig.initialized() else None
    experiment = hydra.runtime.choices.get("experiment") if hydra is not None else None
    ckpt = resolve_checkpoint(str(cfg.ckpt_path), None, Path(cfg.paths.log_dir) / "train" / "runs", None, experiment)
    if str(cfg.ckpt_path) != str(ckpt):
        with open_dict(cfg):
            cfg.ckpt_path = str(ckpt)
    return ckpt, experiment


def prepare_predict(cfg: DictConfig) -> None:
    """``predict.py``'s checks before anything is loaded: ``ckpt_path`` resolved as ``evaluate.py`` does (a file, a
    run folder, or ``last``: the newest training run's ``last.ckpt``), ``input`` and ``boxes`` exist. UserErrors."""
    from omegaconf import open_dict

    from har.errors import MissingFileError
    from har.run.checks import check_runtime
    from har.run.resume import resolve_checkpoint

    if not cfg.get("ckpt_path"):
        raise UserError("predict.py needs a checkpoint", "ckpt_path=PATH (a pose or action checkpoint), a run "
                        "folder, or `last` (the newest training run)", section="Inference")  # fmt: skip
    if not cfg.get("input"):
        raise UserError("predict.py needs an input", "input=PATH (an image, a folder of images, or a video)",
                        section="Inference")  # fmt: skip
    check_runtime(cfg, "predict.py")
    ckpt = resolve_checkpoint(str(cfg.ckpt_path), None, Path(cfg.paths.log_dir) / "train" / "runs", None)
    if str(cfg.ckpt_path) != str(ckpt):
        log.info("ckpt_path=%s: %s", cfg.ckpt_path, ckpt)
        with open_dict(cfg):
            cfg.ckpt_path = str(ckpt)
    for key, what in (("input", "an image, a folder of images, or a video"), ("boxes", "a boxes JSON file")):
        if cfg.get(key) is not None and not Path(str(cfg[key])).exists():
            raise MissingFileError(f"{key}={cfg[key]}: not found", what, section="Inference")


def run_tool(main: Callable[..., object], *args: object) -> None:
    """Run a command-line tool's ``main`` (``python -m har.tools.X``): a UserError (a missing, empty, truncated,
    foreign or other-task checkpoint, a missing input) is one line on stderr and exit status 2; the traceback only
    with ``HYDRA_FULL_ERROR=1``."""
    try:
        main(*args)
    except UserError as err:
        if full_error():
            raise
        report(err)
        sys.exit(EXIT_USER_ERROR)
