"""Writing files and folders atomically: the one temporary-then-rename idiom of har.

Everything har writes that another process (a DataLoader worker, a resumed run, a second rank, a user's script) may
read while it is being written goes through :func:`atomic_path`: the content is written under a hidden temporary
name beside the target (same filesystem, unique per process and call), flushed, and renamed over the target with
``os.replace``, which is atomic on POSIX and Windows. A crash or a kill leaves either the old target or the new
one, never a truncated file; the temporary is removed on error. Leftovers of a killed process (``.<name>.tmp-*``)
are removed by :func:`remove_stale_temporaries`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TMP_MARK = ".tmp-"  # temporaries are named ".<target name>.tmp-<host>_<pid>-<random>"
_HOST = socket.gethostname().replace("-", "").replace("_", "")[:32] or "host"


def temporary_sibling(path: str | Path) -> Path:
    """A hidden name beside ``path``, unique per host, process and call (``.<name>.tmp-<host>_<pid>-<random>``); it
    never ends in the target's suffix, so nothing that globs ``*.ckpt`` or ``*.json`` sees a partial file."""
    path = Path(path)
    return path.with_name(f".{path.name}{TMP_MARK}{_HOST}_{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _fsync_dir(folder: Path) -> None:
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def cache_root() -> Path:
    """har's cache folder: ``$HAR_CACHE_DIR``, else ``~/.cache/har`` (COCO index caches, ONNX exports)."""
    root = os.environ.get("HAR_CACHE_DIR")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "har"


@contextmanager
def atomic_path(path: str | Path, durable: bool = False, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to (a file, or a folder the caller creates); on success
    it is renamed to ``path``, on any error removed.

    Args:
        durable: fsync the written file and the folder after the rename (checkpoints).
        replace: a folder target must not exist (or be empty): the rename fails rather than replace another
            process's folder, and the temporary is removed. Files are always replaced.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        if durable and tmp.is_file():
            with tmp.open("rb+") as f:
                os.fsync(f.fileno())
        if tmp.is_dir() and not replace and path.exists() and any(path.iterdir()):
            raise FileExistsError(f"{path} exists and is not empty")
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)


def write_bytes_atomic(path: str | Path, data: bytes, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write JSON atomically (dicts indented), so a crash never leaves a truncated file."""
    text = json.dumps(payload, indent=1 if isinstance(payload, dict) else None)
    write_bytes_atomic(path, text.encode())
    log.info("wrote %s", path)
    return Path(path)


def remove_stale_temporaries(folder: str | Path, max_age_s: float = 86400.0) -> int:
    """Remove temporaries (``.*.tmp-*``) left in ``folder`` by killed processes: this host's whose process is gone,
    and any (another node's on a shared disk, an older naming) not modified for ``max_age_s``. Returns how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for entry in folder.glob(f".*{TMP_MARK}*"):
        owner = entry.name.rsplit(TMP_MARK, 1)[-1].split("-", 1)[0]
        host, _, pid = owner.rpartition("_")
        try:
            age = time.time() - entry.lstat().st_mtime
        except OSError:
            continue
        dead = host == _HOST and pid.isdigit() and not _process_alive(int(pid))
        if dead or age > max_age_s:
            _remove(entry)
            removed += 1
            log.info("removed %s, left by a process that was killed while writing", entry)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
