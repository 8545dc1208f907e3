"""Person boxes and the crop windows made from them.

Two box conventions meet har at its boundary, and each is converted here and nowhere else:

- **xywh** ``[x, y, w, h]``: COCO's and MERL pose records' boxes (top-left pixel and size);
- **xyxy** ``[x1, y1, x2, y2]``: clip boxes (MERL action JSON, detector boxes, per-frame video boxes); a row of
  NaNs means "no box in this frame".

Inside har, a *window* is what a crop covers: a centre (2,) and a size (w, h) in original pixels, grown to the
crop's aspect ratio and padded (:func:`box_window`).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np


def xyxy_to_xywh(box: np.ndarray) -> np.ndarray:
    """[x1, y1, x2, y2] → [x, y, w, h] (float64)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([x1, y1, x2 - x1, y2 - y1])


def bbox_to_center_size(
    bbox_xywh: np.ndarray, aspect_ratio: float, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Crop window for a person box: centre (2,) and size (2,) = (w, h) in pixels.

    The box is grown to the crop's aspect ratio (``aspect_ratio`` = width / height) on its short side, never
    squashed, then enlarged by ``padding``.
    """
    x, y, w, h = (float(v) for v in bbox_xywh)
    center = np.array([x + (w - 1) * 0.5, y + (h - 1) * 0.5], dtype=np.float64)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    return center, np.array([w * padding, h * padding], dtype=np.float64)


def whole_frame_box(image_size: tuple[int, int]) -> np.ndarray:
    """[x1, y1, x2, y2] of a whole (W, H) frame, whose centre is the frame's centre pixel."""
    return np.array([0.0, 0.0, float(image_size[0]), float(image_size[1])])


def fill_empty_boxes(boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(N, 4) xyxy boxes with NaN rows → every row a box: the nearest frame's box (the earlier on a tie), else the
    whole (W, H) frame when no frame has one."""
    boxes = np.asarray(boxes, dtype=np.float64)
    empty = np.isnan(boxes).any(axis=1)
    if not empty.any():
        return boxes.copy()
    have = np.flatnonzero(~empty)
    if have.size == 0:
        return np.tile(whole_frame_box(image_size), (len(boxes), 1))
    missing = np.flatnonzero(empty)
    right = np.clip(np.searchsorted(have, missing), 0, have.size - 1)
    left = np.clip(right - 1, 0, have.size - 1)
    nearest = np.where(np.abs(missing - have[left]) <= np.abs(have[right] - missing), have[left], have[right])
    filled = boxes.copy()
    filled[missing] = boxes[nearest]
    return filled


def parse_box(value, where: str, on_bad_box: str, skipped: Counter) -> list[float]:
    """[x1, y1, x2, y2] of a box as JSON holds it; NaNs for none (missing, null, []) or, with ``on_bad_box="empty"``,
    a malformed one (counted in ``skipped``). A malformed box: not 4 finite numbers, or x2 ≤ x1 or y2 ≤ y1; with
    ``on_bad_box="error"`` it raises ValueError naming ``where``."""
    if value is None or (isinstance(value, list) and not value):
        return [math.nan] * 4
    problem = None
    if not isinstance(value, list) or len(value) != 4:
        problem = "not a list of 4 numbers"
    elif not all(type(v) in (int, float) and math.isfinite(v) for v in value):
        problem = "not 4 finite numbers"
    elif not (value[2] > value[0] and value[3] > value[1]):
        problem = "x2 ≤ x1 or y2 ≤ y1 (expected [x1, y1, x2, y2])"
    if problem is None:
        return [float(v) for v in value]
    if on_bad_box == "error":
        raise ValueError(f"{where}: malformed box {value!r}: {problem}")
    skipped["malformed box (treated as no box)"] += 1
    return [math.nan] * 4


def union_box(boxes: np.ndarray) -> np.ndarray:
    """Smallest [x1, y1, x2, y2] box holding every (N, 4) xyxy box."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)])


def box_window(
    box: np.ndarray, image_size: tuple[int, int], aspect_ratio: float, padding: float
) -> tuple[np.ndarray, np.ndarray]:
    """Crop window (centre (2,), size (w, h)) of an xyxy box in a (W, H) frame: grown to ``aspect_ratio`` (width /
    height), padded, and no larger than the whole frame's window (beyond it the crop would only gain empty border)."""
    center, size = bbox_to_center_size(xyxy_to_xywh(box), aspect_ratio, padding)
    _, frame_size = bbox_to_center_size(np.array([0.0, 0.0, *image_size], dtype=np.float64), aspect_ratio, 1.0)
    return center, np.minimum(size, frame_size)


def grow_to_aspect(size: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """A window size (w, h) grown on its short side to ``aspect_ratio`` (width / height), never shrunk."""
    w, h = (float(v) for v in np.asarray(size, dtype=np.float64).reshape(2))
    return np.array([max(w, h * aspect_ratio), max(h, w / aspect_ratio)], dtype=np.float64)
