"""Video files: frame count, size and rate from one open, and frames decoded by seeking (``predict.py``, MERL's
official videos, NTU's ``.avi``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)


def probe_video(path: str | Path) -> tuple[int, int, int]:
    """(frame count, width, height) of a video; the container's count is checked by reading the last frame.

    OSError naming the file when it cannot be opened or has no readable frame.
    """
    return probe_video_info(path)[:3]


def probe_video_info(path: str | Path) -> tuple[int, int, int, float]:
    """:func:`probe_video` and the container's frame rate (0.0 when it states none), from one open of the file."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise OSError(f"cannot open video {path}")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))

        checked, last_ok = count, False
        for _ in range(8):  # the last frame, a few steps back when the container over-counts
            if checked <= 0:
                break
            cap.set(cv2.CAP_PROP_POS_FRAMES, checked - 1)
            if last_ok := cap.grab():
                break
            checked -= 1
        if last_ok:
            while cap.grab():  # under-counted: frames after the reported last one
                checked += 1
        else:  # no usable count: count by decoding from the start
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            checked = 0
            while cap.grab():
                checked += 1
        if checked == 0:
            raise OSError(f"video {path} has no readable frame")
        if checked != count:
            log.warning("video %s: container says %d frames, %d are readable", path, count, checked)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return checked, width, height, fps
    finally:
        cap.release()


def read_video_frames(path: str | Path, frame_numbers: Sequence[int], clip_id: str = "") -> list[np.ndarray]:
    """Frames (each (H, W, 3) uint8 RGB) at sorted 0-based ``frame_numbers`` (repeats allowed) of a video.

    Seeks once to the first, then walks forward: ``grab()`` for every frame, ``retrieve()`` only for those wanted.
    """
    wanted = np.unique(np.asarray(frame_numbers, dtype=np.int64))
    cap = cv2.VideoCapture(str(path))
    decoded: dict[int, np.ndarray] = {}
    try:
        if not cap.isOpened():
            raise OSError(f"cannot open video {path} (clip {clip_id!r})")
        position = int(wanted[0])
        if position > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, position)
        for target in wanted.tolist():
            while position <= target:
                if not cap.grab():
                    raise OSError(f"video {path} (clip {clip_id!r}): cannot read frame {position}")
                position += 1
            ok, frame = cap.retrieve()
            if not ok:
                raise OSError(f"video {path} (clip {clip_id!r}): cannot decode frame {target}")
            decoded[target] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
    return [decoded[int(n)] for n in frame_numbers]
