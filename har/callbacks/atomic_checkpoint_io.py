"""Checkpoints written atomically: a killed process never leaves a truncated ``.ckpt``.

Lightning's own writer (``_atomic_save``) goes through an fsspec transaction that, on a local disk, writes to a
temporary file in the *system* temp folder and then ``shutil.move``s it: when that folder is on another
filesystem (``/tmp`` on tmpfs, checkpoints on a scratch disk: the usual cluster layout) the move is a copy, and a
kill during the copy leaves a truncated checkpoint. Here the temporary file sits beside the target (same
filesystem), is flushed to disk, then renamed over it with ``os.replace``, which is atomic on POSIX and Windows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO


def temporary_path(path: str | Path) -> Path:
    """Where ``path`` is written before the rename: a hidden file beside it whose name does not end in ``.ckpt``
    (so nothing that globs ``*.ckpt`` ever sees a partial file). A leftover from a killed process is simply
    overwritten by the next save."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` atomically: temporary file beside it, fsync, ``os.replace``, fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    with tmp.open("wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class AtomicCheckpointIO(TorchCheckpointIO):
    """:class:`TorchCheckpointIO` whose local writes are atomic (see the module's docstring); remote paths
    (``s3://`` ...) keep Lightning's fsspec writer, whose object-store uploads are atomic already."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_torch_save(checkpoint, path)
