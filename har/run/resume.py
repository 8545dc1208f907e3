"""Which checkpoint a training run continues from: ``ckpt_path=PATH``, ``ckpt_path=last`` or ``resume=auto``.

Run folders are ``<log_dir>/<task_name>/runs/<time>/`` with ``checkpoints/last.ckpt`` and Hydra's record of the
run (``.hydra/hydra.yaml``, where the chosen experiment is). ``ckpt_path=last`` and ``resume=auto`` continue the
newest run of the experiment *in its own folder* (``train.py`` sets ``hydra.run.dir`` to it, see
:func:`continue_in_run_folder`), so checkpoints, best-model tracking and logs carry on there; an explicit
``ckpt_path=PATH`` starts a new run folder from that checkpoint's training state.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from har.errors import BadInputError, MissingFileError

log = logging.getLogger(__name__)

LAST = "last.ckpt"


def run_dir_of(ckpt: str | Path) -> Path:
    """The run folder a checkpoint belongs to: ``<run>/checkpoints/x.ckpt`` → ``<run>``."""
    ckpt = Path(ckpt)
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def run_experiment(run_dir: str | Path) -> str | None:
    """The ``experiment`` a run folder was trained with (from ``.hydra/hydra.yaml``), None if not recorded."""
    path = Path(run_dir) / ".hydra" / "hydra.yaml"
    if not path.is_file():
        return None
    try:
        choices = yaml.safe_load(path.read_text())["hydra"]["runtime"]["choices"]
    except (yaml.YAMLError, KeyError, TypeError):
        return None
    return choices.get("experiment")


def find_last_checkpoint(runs_dir: str | Path | None, experiment: str | None = None) -> Path | None:
    """The newest (by modification time) ``<runs_dir>/*/checkpoints/last.ckpt`` of a run of ``experiment``
    (any run when ``experiment`` is None); None if there is none."""
    if runs_dir is None or not Path(runs_dir).is_dir():
        return None
    found = [
        ckpt
        for ckpt in Path(runs_dir).glob(f"*/checkpoints/{LAST}")
        if ckpt.is_file() and (experiment is None or run_experiment(ckpt.parent.parent) == experiment)
    ]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def checkpoint_error(path: str | Path) -> str | None:
    """Why ``path`` cannot be continued from (empty, truncated, not a PyTorch checkpoint), or None if it loads."""
    from har.checkpoints import read_checkpoint  # torch: only when a run is continued

    try:
        read_checkpoint(path, mmap=True, strict=False)
    except (OSError, ValueError) as err:  # CheckpointError (a ValueError), a file that went away
        return str(err)
    return None


def _by_mtime(paths) -> list[Path]:
    stamped = []
    for path in paths:
        try:
            stamped.append((path.stat().st_mtime, path))
        except OSError:
            continue
    return [p for _, p in sorted(stamped, key=lambda t: t[0], reverse=True)]


def resume_candidates(runs_dir: str | Path | None, run_dir: str | Path | None, experiment: str | None) -> list[Path]:
    """What ``ckpt_path=last`` / ``resume=auto`` may continue from, best first: this run folder's checkpoints when
    it has a ``last.ckpt`` (a job restarted in its folder), newest first; then the checkpoints of the runs of
    ``experiment`` under ``runs_dir`` whose newest run has a ``last.ckpt``, newest first."""
    own = Path(run_dir) / "checkpoints" if run_dir is not None else None
    candidates = _by_mtime(own.glob("*.ckpt")) if own is not None and (own / LAST).is_file() else []
    newest = find_last_checkpoint(runs_dir, experiment)
    if newest is not None:
        runs = [c.parent.parent for c in Path(runs_dir).glob(f"*/checkpoints/{LAST}")
                if experiment is None or run_experiment(c.parent.parent) == experiment]  # fmt: skip
        others = _by_mtime(c for run in runs for c in (run / "checkpoints").glob("*.ckpt"))
        candidates += [c for c in others if c not in candidates]
    return candidates


def newest_loadable(candidates: list[Path], quiet: bool = False) -> tuple[Path | None, list[str]]:
    """The first of ``candidates`` that loads, and a line for each one skipped before it (logged as warnings
    unless ``quiet``): a corrupt newest ``last.ckpt`` falls back to the newest checkpoint that loads."""
    skipped = []
    for path in candidates:
        error = checkpoint_error(path)
        if error is None:
            if skipped and not quiet:
                for line in skipped:
                    log.warning("cannot continue from %s; continuing from %s instead, the newest checkpoint that "
                                "loads", line, path)  # fmt: skip
            return path, skipped
        skipped.append(error if str(path) in error else f"{path}: {error}")  # the error names the file
    for line in [] if quiet else skipped:
        log.warning("cannot continue from %s", line)
    return None, skipped


def wants_resume(ckpt_path: str | None, resume: str | bool | None) -> bool:
    """Whether the config asks to continue the newest run (``ckpt_path=last``, or ``resume=auto`` without a path)."""
    if resume not in (None, False, True, "auto"):
        raise ValueError(f"resume={resume!r}: use resume=auto (continue the newest run if there is one) or no resume")
    return str(ckpt_path) == "last" or (ckpt_path is None and resume in (True, "auto"))


def resolve_checkpoint(
    ckpt_path: str | None,
    resume: str | bool | None,
    runs_dir: str | Path | None,
    run_dir: str | Path | None,
    experiment: str | None = None,
    quiet: bool = False,
) -> Path | None:
    """The checkpoint to continue training from, or None to start fresh.

    Args:
        ckpt_path: None; a checkpoint file; a run folder (its ``checkpoints/last.ckpt``); or ``last``: this run
            folder's ``checkpoints/last.ckpt`` if it has one (a job restarted in its folder), else the newest
            ``last.ckpt`` of a run of ``experiment`` under ``runs_dir``; an error if there is none.
        resume: ``auto`` (or true): as ``ckpt_path=last`` when ``ckpt_path`` is None, but start fresh when there
            is nothing to continue (for jobs that may be preempted and restarted). None/false: off.
        runs_dir: where the task's run folders are (``<log_dir>/<task_name>/runs``); None: only ``run_dir``.
        run_dir: this run's folder (None if not known yet).
        experiment: the experiment being trained; only runs of it are continued (None: any run).
        quiet: do not log the checkpoints skipped because they do not load (the caller reports them).

    A newest checkpoint that does not load (truncated, empty, foreign) is skipped with a warning for the newest one
    that does (:func:`newest_loadable`); ``ckpt_path=last`` with none that loads is an error naming the newest.
    """
    if not wants_resume(ckpt_path, resume):
        if ckpt_path is None:
            return None
        path = Path(ckpt_path)
        if path.is_dir():
            path = next((p for p in (path / "checkpoints" / LAST, path / LAST) if p.is_file()), None)
            if path is None:
                raise MissingFileError(
                    f"ckpt_path={ckpt_path}: a folder with no checkpoints/{LAST} in it",
                    hint="ckpt_path=<a .ckpt file in it>",
                )
        elif not path.is_file():
            raise MissingFileError(
                f"ckpt_path={ckpt_path}: checkpoint not found",
                hint="ckpt_path=PATH (a .ckpt file or a run folder), or ckpt_path=last",
            )
        return path
    candidates = resume_candidates(runs_dir, run_dir, experiment)
    found, skipped = newest_loadable(candidates, quiet)
    if found is None and skipped and str(ckpt_path) == "last":
        raise BadInputError(f"ckpt_path=last: no checkpoint loads ({len(skipped)} tried; the newest: {skipped[0]})",
                            hint="ckpt_path=PATH (a checkpoint that loads), or a run without ckpt_path")  # fmt: skip
    if found is None and str(ckpt_path) == "last":
        which = f"of experiment {experiment!r} " if experiment else ""
        where = f"under {runs_dir} " if runs_dir is not None else f"in {run_dir} "
        raise MissingFileError(
            f"ckpt_path=last: no run {which}{where}has checkpoints/{LAST}",
            hint="training one first (python train.py experiment=NAME), or ckpt_path=PATH (a .ckpt file or a run "
            "folder)",
        )
    return found


def continue_in_run_folder(argv: list[str], config_dir: str | Path, config_name: str = "train") -> list[str]:
    """A ``train.py`` command line that continues a run in that run's own folder: when the composed config asks for
    ``ckpt_path=last`` or ``resume=auto`` and there is a run to continue, ``hydra.run.dir=<its folder>`` is added.
    Unchanged: sweeps and other flags (``-m``, ``--cfg``), an explicit ``hydra.run.dir``, nothing to continue (the
    run itself then starts fresh or says what is missing), and a command line that does not compose (Hydra then
    reports it). A UserError when the run folder is held by a live run (:mod:`har.run.lock`)."""
    args = argv[1:]
    if any(a.startswith("-") for a in args) or any(a.lstrip("+").startswith("hydra.run.dir=") for a in args):
        return argv
    from hydra import compose, initialize_config_dir

    overrides = [a for a in args if not a.lstrip("+~").startswith("hydra.")]
    try:
        with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
        if not wants_resume(cfg.get("ckpt_path"), cfg.get("resume")):
            return argv
        runs_dir = Path(cfg.paths.log_dir) / cfg.task_name / "runs"
        experiment = cfg.hydra.runtime.choices.get("experiment")
    except Exception as e:  # noqa: BLE001 - the run reports a bad command line or config, with Hydra's message
        log.debug("continue_in_run_folder: %r", e)
        return argv
    # The folder of the newest checkpoint that loads (the run reports those skipped): a run whose checkpoints are
    # all corrupt is not chosen, so Hydra does not overwrite its .hydra/ record.
    ckpt, _ = newest_loadable(resume_candidates(runs_dir, None, experiment), quiet=True)
    if ckpt is None:
        return argv
    from har.run.lock import check_run_folder_free

    check_run_folder_free(run_dir_of(ckpt))  # a live run writing it: refused before Hydra writes into it
    return [*argv, f"hydra.run.dir='{run_dir_of(ckpt)}'"]
