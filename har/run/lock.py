"""One live run per run folder: ``<run>/.run.lock`` holds the host, process id and start time of the run writing it.

Two runs writing one folder (``ckpt_path=last`` twice, an explicit ``hydra.run.dir``) would overwrite each other's
checkpoints and logs. A run takes the lock before it writes anything of its own (:func:`hold_run_folder`); a second
run finds it held by a live process and is refused with one line (:class:`~har.errors.UserError`). A lock left by a
killed run (its process gone, on this host) is stale and taken over. A lock of another host cannot be checked: it is
honoured, and the message says which file to delete if that run is gone. Only global rank 0 takes it (the other
ranks of a DDP run write into the folder of their rank 0).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from har.errors import UserError
from har.utils.io import _process_alive, write_bytes_atomic

log = logging.getLogger(__name__)

LOCK_NAME = ".run.lock"
HOST = socket.gethostname()


def lock_holder(run_dir: str | Path) -> dict | None:
    """The live holder of ``run_dir``'s lock ({host, pid, started}), None when there is no lock or it is stale (its
    process, on this host, is gone; an unreadable lock counts as stale)."""
    path = Path(run_dir) / LOCK_NAME
    try:
        holder = json.loads(path.read_text())
        host, pid = holder["host"], int(holder["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host == HOST and (pid == os.getpid() or not _process_alive(pid)):
        return None
    return holder


def check_run_folder_free(run_dir: str | Path) -> None:
    """UserError when a live run holds ``run_dir`` (see the module docstring)."""
    holder = lock_holder(run_dir)
    if holder is None:
        return
    where = "" if holder["host"] == HOST else f" on host {holder['host']}"
    gone = "" if holder["host"] == HOST else f"; if that run is gone, delete {Path(run_dir) / LOCK_NAME}"
    raise UserError(
        f"{run_dir} is in use: a run (process {holder['pid']}{where}, started {holder.get('started', '?')}) is "
        f"writing it{gone}",
        hint="again once it has finished, or a new run (without ckpt_path=last / hydra.run.dir)",
    )


@contextmanager
def hold_run_folder(run_dir: str | Path, rank_zero: bool = True) -> Iterator[None]:
    """Hold ``run_dir``'s lock while the block runs (global rank 0 only: ``rank_zero``); refused (UserError) if a
    live run holds it; a stale lock is taken over (and said so)."""
    if not rank_zero:
        yield
        return
    run_dir = Path(run_dir)
    path = run_dir / LOCK_NAME
    check_run_folder_free(run_dir)
    if path.exists():
        log.info("%s: taking over the lock of a run that is no longer running", run_dir)
    mine = {"host": HOST, "pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_bytes_atomic(path, json.dumps(mine).encode())
    try:
        yield
    finally:
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
