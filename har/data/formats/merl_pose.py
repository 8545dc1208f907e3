"""MERL Shopping pose frames, as the seed's fork stored them: a list of per-person-frame records.

Each record: ``img_paths`` (file name under the image folder), ``img_width``, ``img_height``, ``image_id``,
``bbox`` [x, y, w, h], ``num_keypoints`` (unreliable, ignored), ``keypoints`` 17 × [x, y, flag]. The fork's flags:
1 = labelled; 2 with (0, 0) = absent; 0 with coordinates = present but treated as invalid. Which flags count is
configuration (:class:`MerlFlags`); all 17 joints are kept (the fork dropped the last).

Records are read from a plain JSON list by default. A pickle can run code when loaded, so reading one is an
explicit choice (``allow_pickle=True``); ``python -m har.tools.merl_pickle_to_json IN.pkl OUT.json`` converts once.

The records become a :class:`~har.data.formats.coco.CocoIndex` (one instance per record) read by the same top-down
pipeline as COCO, and a :class:`~har.data.formats.coco.CocoGroundTruth` (every well-formed record) for COCO keypoint AP.
MERL has no segmentation area: OKS uses area = w · h · 0.53 of the box (mmpose's fallback).
"""

from __future__ import annotations

import json
import logging
import math
import pickle
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from har.data.formats.coco import CocoGroundTruth, CocoIndex
from har.errors import BadInputError

log = logging.getLogger(__name__)
PICKLE_MAGIC = b"\x80"  # the first byte of a pickle of protocol 2 or later (what Python 3 writes)

AREA_FACTOR = 0.53  # OKS area of a box without segmentation: w·h·0.53 (mmpose)


@dataclass
class MerlFlags:
    """Meaning of the records' per-joint flags. Flags in neither list make the joint unlabelled."""

    visible: tuple[int, ...] = (1,)  # labelled (COCO v = 2); the fork's meaning of 1
    occluded: tuple[int, ...] = ()  # labelled but not visible (COCO v = 1); the fork had none


def read_records(path: str | Path, allow_pickle: bool = False) -> list:
    """The list of records in a ``.json`` file, or in a ``.pkl`` file when ``allow_pickle`` is set."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MERL pose annotation file not found: {path}")
    if path.suffix in (".pkl", ".pickle"):
        if not allow_pickle:
            raise BadInputError(
                f"{path} is a pickle, which can run code when loaded",
                hint=f"converting it once: python -m har.tools.merl_pickle_to_json {path} OUT.json (then "
                "data.files.<split>=OUT.json), or data.allow_pickle=true if you trust the file",
                section="MERL Shopping",
            )
        # Every time: a pickle runs whatever code it holds; the converted JSON is the safe path.
        log.warning(
            "%s: reading a pickle (data.allow_pickle=true): it can run code when loaded; only for a file you trust. "
            "Convert it once: python -m har.tools.merl_pickle_to_json %s OUT.json", path, path,
        )  # fmt: skip
        with path.open("rb") as f:
            records = pickle.load(f)  # noqa: S301 - explicit, documented opt-in
    else:
        data = path.read_bytes()
        if data[:1] == PICKLE_MAGIC:
            raise BadInputError(
                f"{path} is a pickle (named {path.suffix or 'without a suffix'}), not JSON",
                hint=f"converting it: python -m har.tools.merl_pickle_to_json {path} OUT.json, or renaming it to "
                ".pkl with data.allow_pickle=true if you trust the file",
                section="MERL Shopping",
            )
        try:
            records = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a list of MERL pose records, got {type(records).__name__}")
    return records


def _is_seq(value) -> bool:
    return isinstance(value, list | tuple | np.ndarray)  # pickles written by numpy code hold arrays


def _check(rec, num_joints: int) -> str | None:
    """Why a record is malformed, or None."""
    if not isinstance(rec, dict):
        return "not a dict"
    missing = [k for k in ("img_paths", "bbox", "keypoints") if k not in rec]
    if missing:
        return f"missing {', '.join(missing)}"
    kps, bbox = rec["keypoints"], rec["bbox"]
    if not _is_seq(kps) or len(kps) != num_joints or not all(_is_seq(k) and len(k) == 3 for k in kps):
        return f"keypoints not {num_joints} entries of [x, y, flag]"
    if not _is_seq(bbox) or len(bbox) != 4:
        return "bbox not [x, y, w, h]"
    try:
        values = [float(v) for v in (*bbox, *(c for k in kps for c in k))]
    except (TypeError, ValueError):
        return "non-numeric keypoints or bbox"
    if not all(math.isfinite(v) for v in values):
        return "NaN or infinite values"
    if bbox[2] <= 0 or bbox[3] <= 0:
        return "bbox width or height <= 0"
    return None


def _read_split(
    path: Path, num_joints: int, flags: MerlFlags, allow_pickle: bool
) -> tuple[CocoGroundTruth, np.ndarray]:
    """Every well-formed record of a split as a :class:`CocoGroundTruth` (bad records skipped, counted, listed), and
    the (I,) image file of each of its images."""
    records = read_records(path, allow_pickle)
    skipped: Counter = Counter()
    bad: list = []
    kept: list[tuple[int, dict]] = []
    for i, rec in enumerate(records):
        reason = _check(rec, num_joints)
        if reason is not None:
            skipped[reason] += 1
            bad.append((i, reason))
        else:
            kept.append((i, rec))

    n = len(kept)
    kps = np.zeros((n, num_joints, 3), dtype=np.float64)
    for row, (_, rec) in enumerate(kept):
        raw = np.asarray(rec["keypoints"], dtype=np.float64)
        v = np.where(np.isin(raw[:, 2], flags.visible), 2, np.where(np.isin(raw[:, 2], flags.occluded), 1, 0))
        kps[row, :, :2] = np.where(v[:, None] > 0, raw[:, :2], 0.0)
        kps[row, :, 2] = v

    files = sorted({str(rec["img_paths"]) for _, rec in kept})
    row_of = {f: r for r, f in enumerate(files)}
    sizes = {str(rec["img_paths"]): (rec.get("img_width", 0), rec.get("img_height", 0)) for _, rec in kept}
    ids = {str(rec["img_paths"]): rec.get("image_id", i + 1) for i, rec in kept}
    image_ids = np.array([ids[f] for f in files], dtype=np.int64)
    if len(np.unique(image_ids)) != len(files):  # COCOeval would merge the people of images sharing an id
        log.warning("%s: image_id is not one per image file; numbering the %d images 1..%d", path, len(files),
                    len(files))  # fmt: skip
        image_ids = np.arange(1, len(files) + 1, dtype=np.int64)
    bboxes = np.array([np.asarray(rec["bbox"], dtype=np.float64) for _, rec in kept], dtype=np.float64).reshape(-1, 4)
    gt = CocoGroundTruth(
        ann_file=path,
        image_ids=image_ids,
        image_sizes=np.array([sizes[f] for f in files], dtype=np.int32).reshape(-1, 2),
        ann_ids=np.array([i + 1 for i, _ in kept], dtype=np.int64),  # 1-based record position in the file
        ann_image=np.array([row_of[str(rec["img_paths"])] for _, rec in kept], dtype=np.int32),
        keypoints=kps,
        bboxes=bboxes,
        areas=bboxes[:, 2] * bboxes[:, 3] * AREA_FACTOR,
        iscrowd=np.zeros(n, bool),
        skipped=skipped,
        bad_records=bad,
    )
    return gt, np.array(files, dtype=str)


def load_merl_pose_index(
    path: str | Path, num_joints: int = 17, flags: MerlFlags | None = None, allow_pickle: bool = False,
    min_keypoints: int = 1,
) -> CocoIndex:  # fmt: skip
    """Validate the records of one split into a :class:`CocoIndex`; bad records are skipped, counted, listed."""
    gt, files = _read_split(Path(path), num_joints, flags or MerlFlags(), allow_pickle)
    skipped = Counter(gt.skipped)
    enough = (gt.keypoints[:, :, 2] > 0).sum(1) >= min_keypoints
    if (~enough).any():
        skipped[f"fewer than {min_keypoints} labelled keypoints"] += int((~enough).sum())
    index = CocoIndex(
        ann_file=gt.ann_file,
        image_ids=gt.image_ids,
        image_files=files,
        image_sizes=gt.image_sizes,
        ann_ids=gt.ann_ids[enough],
        ann_image=gt.ann_image[enough],
        bboxes=gt.bboxes[enough].astype(np.float32),
        keypoints=gt.keypoints[enough].astype(np.float32),
        areas=gt.areas[enough].astype(np.float32),
        skipped=skipped,
        bad_records=list(gt.bad_records),
    )
    log.info(index.summary())
    return index


def load_merl_pose_ground_truth(
    path: str | Path, num_joints: int = 17, flags: MerlFlags | None = None, allow_pickle: bool = False
) -> CocoGroundTruth:
    """The ground truth of COCO keypoint AP for one split: every well-formed record (those with no labelled joint
    too, COCOeval's ignore regions), area = w·h·0.53 of the box, the same records removed as by the index."""
    return _read_split(Path(path), num_joints, flags or MerlFlags(), allow_pickle)[0]
