"""COCO person-keypoints reader: a compact, validated index of person instances.

Reads ``person_keypoints_<split>.json`` as COCO 2017 writes it (the synthetic generator writes the same format),
validates every record and keeps only numpy arrays, so DataLoader workers share it without copy-on-access growth
(no per-instance Python dicts survive the load).
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class CocoFilters:
    """Which instances to keep. Every removal is counted by reason."""

    drop_crowd: bool = True
    min_keypoints: int = 1  # instances with fewer labelled joints (v > 0) are dropped
    min_box_size: float = 1.0  # drop boxes whose width or height (pixels) is below this


@dataclass
class CocoIndex:
    """Person instances of one COCO split, as flat arrays.

    Attributes:
        image_ids: (I,) int64 COCO image ids.
        image_files: (I,) fixed-width str file names, relative to the image folder.
        image_sizes: (I, 2) int32 (width, height).
        ann_ids: (N,) int64 COCO annotation ids.
        ann_image: (N,) int32 row of the instance's image in the image arrays.
        bboxes: (N, 4) float32 x, y, w, h in pixels.
        keypoints: (N, J, 3) float32 x, y, v.
        areas: (N,) float32 segmentation area (COCO ``area``).
        skipped: Counter of reason → instances removed (bad records and filters).
        bad_records: list of ``(annotation id, reason)`` for malformed records (not for filtered ones).
    """

    ann_file: Path
    image_ids: np.ndarray
    image_files: np.ndarray
    image_sizes: np.ndarray
    ann_ids: np.ndarray
    ann_image: np.ndarray
    bboxes: np.ndarray
    keypoints: np.ndarray
    areas: np.ndarray
    skipped: Counter = field(default_factory=Counter)
    bad_records: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ann_ids)

    @property
    def num_joints(self) -> int:
        return self.keypoints.shape[1]

    def image_file(self, i: int) -> str:
        return str(self.image_files[self.ann_image[i]])

    def summary(self) -> str:
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return f"{self.ann_file}: {len(self)} instances kept" + (f"; removed: {parts}" if parts else "")


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"COCO annotation file not found: {path}")
    try:
        with path.open("rb") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
        data.get("annotations"), list
    ):
        raise ValueError(f"{path}: not a COCO annotation file (expected an object with 'images' and 'annotations' lists)")
    return data


def _check_record(ann: dict, num_joints: int, image_rows: dict) -> str | None:
    """Why a record is malformed, or None."""
    if ann.get("image_id") not in image_rows:
        return "unknown image_id"
    kps = ann.get("keypoints")
    if not isinstance(kps, list) or len(kps) != 3 * num_joints:
        return f"keypoints not 3x{num_joints} long"
    bbox = ann.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        return "bbox not [x, y, w, h]"
    try:
        values = [float(v) for v in (*kps, *bbox)]
    except (TypeError, ValueError):
        return "non-numeric keypoints or bbox"
    if not all(math.isfinite(v) for v in values):
        return "NaN or infinite coordinates"
    if bbox[2] <= 0 or bbox[3] <= 0:
        return "bbox width or height <= 0"
    return None


def load_coco_index(ann_file: str | Path, num_joints: int = 17, filters: CocoFilters | None = None) -> CocoIndex:
    """Read and validate a COCO person-keypoints file into a :class:`CocoIndex`.

    Malformed records (unknown image id, wrong keypoint length, bad bbox, NaN) are skipped, counted and listed in
    ``bad_records``; filtered instances (crowd, too few keypoints, tiny boxes) are counted. A missing file or a
    file that is not COCO raises an error naming it.
    """
    ann_file = Path(ann_file)
    filters = filters or CocoFilters()
    data = _load_json(ann_file)

    images = data["images"]
    image_rows = {}
    for row, img in enumerate(images):
        if not isinstance(img, dict) or not {"id", "file_name", "width", "height"} <= img.keys():
            raise ValueError(f"{ann_file}: images[{row}] lacks id, file_name, width or height")
        image_rows[img["id"]] = row

    skipped: Counter = Counter()
    bad: list = []
    kept: list[dict] = []
    for ann in data["annotations"]:
        if ann.get("category_id", 1) != 1:
            continue
        reason = _check_record(ann, num_joints, image_rows)
        if reason is not None:
            skipped[reason] += 1
            bad.append((ann.get("id"), reason))
            continue
        if filters.drop_crowd and ann.get("iscrowd", 0):
            skipped["crowd"] += 1
        elif sum(1 for v in ann["keypoints"][2::3] if v > 0) < filters.min_keypoints:
            skipped[f"fewer than {filters.min_keypoints} labelled keypoints"] += 1
        elif min(ann["bbox"][2], ann["bbox"][3]) < filters.min_box_size:
            skipped[f"box smaller than {filters.min_box_size}px"] += 1
        else:
            kept.append(ann)

    n = len(kept)
    index = CocoIndex(
        ann_file=ann_file,
        image_ids=np.array([img["id"] for img in images], dtype=np.int64),
        image_files=np.array([img["file_name"] for img in images], dtype=str),
        image_sizes=np.array([(img["width"], img["height"]) for img in images], dtype=np.int32).reshape(-1, 2),
        ann_ids=np.array([a.get("id", -1) for a in kept], dtype=np.int64),
        ann_image=np.array([image_rows[a["image_id"]] for a in kept], dtype=np.int32),
        bboxes=np.array([a["bbox"] for a in kept], dtype=np.float32).reshape(n, 4),
        keypoints=np.array([a["keypoints"] for a in kept], dtype=np.float32).reshape(n, num_joints, 3),
        areas=np.array([a.get("area", a["bbox"][2] * a["bbox"][3]) for a in kept], dtype=np.float32),
        skipped=skipped,
        bad_records=bad,
    )
    del data, kept
    log.info(index.summary())
    return index
