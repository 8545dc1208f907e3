"""Writing output files atomically."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write JSON via a temporary file and a rename, so a crash never leaves a truncated file (dicts indented)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=1 if isinstance(payload, dict) else None))
    tmp.replace(path)
    log.info("wrote %s", path)
    return path
