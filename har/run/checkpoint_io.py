"""Checkpoints written atomically: a killed process never leaves a truncated ``.ckpt``.

Lightning's own writer (``_atomic_save``) goes through an fsspec transaction that, on a local disk, writes to a
temporary file in the *system* temp folder and then ``shutil.move``s it: when that folder is on another
filesystem (``/tmp`` on tmpfs, checkpoints on a scratch disk: the usual cluster layout) the move is a copy, and a
kill during the copy leaves a truncated checkpoint. Here the temporary file sits beside the target (same
filesystem, named uniquely per process, so two runs writing one folder never share it), is flushed to disk, then
renamed over it with ``os.replace``, which is atomic on POSIX and Windows. This is a checkpoint-IO plugin (added to
every trainer by :mod:`har.run.pipeline`), not a callback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from har.utils.io import atomic_path, remove_stale_temporaries


def atomic_torch_save(obj: Any, path: Any) -> None:
    """``torch.save`` to ``path`` atomically and durably (temporary file beside it, fsync, ``os.replace``, fsync the
    folder; :func:`har.utils.io.atomic_path`)."""
    remove_stale_temporaries(Path(path).parent)  # what a killed writer left (its process is gone)
    with atomic_path(path, durable=True) as tmp, tmp.open("wb") as f:
        torch.save(obj, f)


class AtomicCheckpointIO(TorchCheckpointIO):
    """:class:`TorchCheckpointIO` whose local writes are atomic (see the module's docstring); remote paths
    (``s3://`` ...) keep Lightning's fsspec writer, whose object-store uploads are atomic already."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_torch_save(checkpoint, path)
