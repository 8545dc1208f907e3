"""What every synthetic generator shares: the meta file that marks a generated folder, its parameter check, the
atomic write of a whole dataset (a temporary folder renamed into place) and the reuse of an existing one."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from har.utils.io import atomic_path, remove_stale_temporaries

log = logging.getLogger(__name__)


def read_meta(root: str | Path, meta_file: str, fmt: str) -> dict | None:
    """The meta of a folder written by the generator of format ``fmt``, or None."""
    try:
        meta = json.loads((Path(root) / meta_file).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == fmt else None


def check_meta(root: Path, meta: dict | None, params: dict, version: int, meta_file: str, what: str) -> dict:
    """Raise unless ``meta`` (of ``root``) records ``params`` at format ``version``; return it.

    A folder without the meta is not ours (FileExistsError: never touched); other parameters are a ValueError that
    lists them. ``what`` names the data in messages ("a har synthetic dataset").
    """
    if meta is None:
        raise FileExistsError(
            f"{root} exists but is not {what} (no valid {meta_file}); refusing to touch it. "
            "Point the synthetic data root at another folder."
        )
    have = dict(meta.get("params", {}), version=meta.get("version"))
    want = dict(params, version=version)
    diff = {k: (have.get(k), want[k]) for k in want if have.get(k) != want[k]}
    if diff:
        listed = ", ".join(f"{k}: existing {a!r} != requested {b!r}" for k, (a, b) in diff.items())
        raise ValueError(
            f"{root} holds {what} made with different parameters ({listed}); delete it yourself or choose another root"
        )
    return meta


def write_generated(
    root: Path, write: Callable[[Path], dict], meta: dict, meta_file: str, what: str, logger: logging.Logger = log
) -> Path:
    """Generate a dataset into ``root`` (missing or empty) atomically: ``write(folder)`` fills a temporary sibling
    folder and returns entries for the meta file (``meta`` plus them is written as ``meta_file``); the folder is
    then renamed to ``root``. An interrupted run leaves no ``root`` behind, and the next start removes what a killed
    one left (:func:`har.utils.io.remove_stale_temporaries`)."""
    root = Path(root)
    if root.exists() and not is_empty_dir(root):
        raise FileExistsError(f"{root} exists and is not empty; refusing to write {what} into it")
    root.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(root.parent)
    start = time.perf_counter()
    with atomic_path(root, replace=False) as tmp:
        tmp.mkdir()
        extra = write(tmp)
        (tmp / meta_file).write_text(json.dumps({**meta, **extra}, indent=2) + "\n")
    logger.info("wrote %s at %s in %.1f s", what, root, time.perf_counter() - start)
    return root


def is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def ensure_generated(
    root: Path, generate, check_existing, read_meta_fn, what: str, logger: logging.Logger = log
) -> Path:
    """Reuse ``root`` if it holds complete data made with the same parameters (``check_existing`` raises
    otherwise), else ``generate()`` it; reuse is logged to the generator's ``logger``. Never deletes or overwrites
    an existing folder."""
    if root.exists() and not is_empty_dir(root):
        check_existing(root)
        logger.info("using existing %s at %s", what, root)
        return root
    try:
        return generate()
    except OSError:
        # Another process (e.g. another DDP rank) may have finished the same data first.
        if root.exists() and read_meta_fn(root) is not None:
            check_existing(root)
            logger.info("using existing %s at %s", what, root)
            return root
        raise
