"""Person boxes for ``predict.py``, from a JSON file in one of four layouts (recognised by their shape):

1. **COCO detections** (a detector's results file): a list of ``{"image_id", "bbox": [x, y, w, h], "score"?,
   "category_id"?, "id"?}``. Matched to frames by ``image_id`` (see :mod:`har.predict.inputs`: the number of a
   file name like COCO's ``000000000139.jpg``, else the frame number), or by ``file_name`` where a record has one.
   Records of another ``category_id`` than the person category (1) and scores below ``min_score`` are dropped.
2. **COCO annotations**: ``{"images": [{"id", "file_name"}], "annotations": [{"image_id", "bbox"}, ...]}`` (e.g.
   ``person_keypoints_val2017.json``: predict on the ground-truth boxes). Frames are matched by file name and take
   the file's image ids; ``box_id`` is the annotation's ``id``. Crowd annotations (``iscrowd``) are dropped.
3. **MERL pose records** (:mod:`har.data.formats.merl_pose`): a list of ``{"img_paths", "bbox": [x, y, w, h]}``, matched
   by the base name of ``img_paths``.
4. **MERL per-frame boxes** (:mod:`har.data.formats.merl_videos`' ``boxes_file``):
   ``{"<video stem>": [[x1, y1, x2, y2] |
   [] | null, ...]}``, one entry per frame (index 0 = frame 0), or such a list alone. The entry is the one named
   after the input's stem (a video's, or a folder's name), or the only one.

The result is, per frame, ``(N, 4)`` float64 ``[x, y, w, h]`` boxes, ``(N,)`` scores and ``(N,)`` box ids (the
record's ``id``, else its position in the file; the frame number for layout 4). Without a file, every frame has one
box: the whole frame. Errors name the file and the record.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from har.geometry.boxes import parse_box
from har.predict.inputs import FrameSource

log = logging.getLogger(__name__)

PERSON_CATEGORY = 1


@dataclass
class FrameBoxes:
    """Boxes of one frame: xywh (N, 4) float64, score (N,) float64, box_id (N,) int64."""

    xywh: np.ndarray
    score: np.ndarray
    box_id: np.ndarray

    @classmethod
    def empty(cls) -> FrameBoxes:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))

    @classmethod
    def of(cls, rows: list[tuple[list[float], float, int]]) -> FrameBoxes:
        if not rows:
            return cls.empty()
        return cls(np.array([r[0] for r in rows], np.float64).reshape(-1, 4), np.array([r[1] for r in rows], float),
                   np.array([r[2] for r in rows], np.int64))  # fmt: skip

    def __len__(self) -> int:
        return len(self.xywh)

    def best(self) -> np.ndarray:
        """[x1, y1, x2, y2] of the highest-scoring box (first on ties), NaNs without a box (action: one person)."""
        if not len(self):
            return np.full(4, np.nan)
        x, y, w, h = self.xywh[int(np.argmax(self.score))]
        return np.array([x, y, x + w, y + h])


def whole_frame(image_size: tuple[int, int]) -> FrameBoxes:
    """The box of a whole (W, H) frame, [0, 0, W, H] (its centre is the frame's centre pixel), score 1, id 0."""
    w, h = image_size
    return FrameBoxes(np.array([[0.0, 0.0, float(w), float(h)]]), np.ones(1), np.zeros(1, np.int64))


def _xywh(value, where: str) -> list[float]:
    if not (isinstance(value, list) and len(value) == 4 and all(type(v) in (int, float) for v in value)
            and all(math.isfinite(v) for v in value)):  # fmt: skip
        raise ValueError(f"{where}: bbox {value!r} is not 4 finite numbers [x, y, w, h]")
    if value[2] <= 0 or value[3] <= 0:
        raise ValueError(f"{where}: bbox {value!r} has width or height <= 0 (expected [x, y, w, h])")
    return [float(v) for v in value]


def _record(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _score(rec: dict, where: str) -> float:
    score = rec.get("score", 1.0)
    if type(score) not in (int, float) or not math.isfinite(score):
        raise ValueError(f"{where}: score {score!r} is not a finite number")
    return float(score)


def load_boxes(
    path: str | Path, source: FrameSource, min_score: float = 0.0, category_id: int | None = PERSON_CATEGORY
) -> tuple[list[FrameBoxes], dict[int, int]]:
    """Per-frame boxes of ``source`` from a boxes JSON (any of the module's four layouts).

    Returns the boxes (one :class:`FrameBoxes` per frame) and image ids taken from the file (frame → id; layout 2
    only). A file none of whose boxes match a frame of the input is an error (wrong file, or names that differ).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"boxes file not found: {path}")
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as err:
        raise ValueError(f"boxes file {path} is not JSON: {err}") from None
    rows: list[list] = [[] for _ in source.frames]
    image_ids: dict[int, int] = {}
    skipped: Counter = Counter()
    by_name = {f.name: f.index for f in source.frames}

    if isinstance(data, dict) and "annotations" in data and "images" in data:
        layout = "COCO annotations"
        frame_of_image = {}
        for k, img in enumerate(data["images"]):
            img = _record(img, f"{path}: images[{k}]")
            frame = by_name.get(Path(str(img.get("file_name", ""))).name)
            if frame is not None:
                frame_of_image[img.get("id")] = frame
                image_ids[frame] = int(img["id"])
        for k, ann in enumerate(data["annotations"]):
            where = f"{path}: annotations[{k}] (id {ann.get('id') if isinstance(ann, dict) else '?'})"
            ann = _record(ann, where)
            if ann.get("iscrowd"):
                skipped["crowd"] += 1
                continue
            frame = frame_of_image.get(ann.get("image_id"))
            if frame is None:
                skipped["image not in the input"] += 1
                continue
            rows[frame].append((_xywh(ann.get("bbox"), where), _score(ann, where), int(ann.get("id", k))))
    elif isinstance(data, list) and data and isinstance(data[0], dict) and "img_paths" in data[0]:
        layout = "MERL pose records"
        for k, rec in enumerate(data):
            where = f"{path}: record {k}"
            rec = _record(rec, where)
            frame = by_name.get(Path(str(rec.get("img_paths", ""))).name)
            if frame is None:
                skipped["image not in the input"] += 1
                continue
            rows[frame].append((_xywh(rec.get("bbox"), where), _score(rec, where), k))
    elif isinstance(data, list) and data and isinstance(data[0], dict):
        layout = "COCO detections"
        by_id: dict[int, list[int]] = {}
        for f in source.frames:
            by_id.setdefault(f.image_id, []).append(f.index)
        for k, det in enumerate(data):
            where = f"{path}: detection {k}"
            det = _record(det, where)
            if category_id is not None and det.get("category_id", category_id) != category_id:
                skipped[f"category_id != {category_id}"] += 1
                continue
            if "file_name" in det:
                frames = [by_name[n]] if (n := Path(str(det["file_name"])).name) in by_name else []
            elif "image_id" in det:
                frames = by_id.get(det["image_id"], [])
            else:
                raise ValueError(f"{where}: no image_id (or file_name)")
            if not frames:
                skipped["image not in the input"] += 1
                continue
            score = _score(det, where)
            if score < min_score:
                skipped[f"score < {min_score:g}"] += 1
                continue
            rows[frames[0]].append((_xywh(det.get("bbox"), where), score, int(det.get("id", k))))
    elif isinstance(data, (dict, list)):
        layout = "MERL per-frame boxes"
        if isinstance(data, dict):
            names = (source.stem, source.stem.removesuffix("_crop"))  # MERL: {subject}_{session}[_crop]
            if any(n in data for n in names):
                key = next(n for n in names if n in data)
            elif len(data) == 1:
                key = next(iter(data))
            else:
                raise ValueError(f"{path}: no entry {source.stem!r} for the input among {len(data)} videos "
                                 f"({', '.join(sorted(data)[:5])}, ...)")  # fmt: skip
            data = data[key]
            if not isinstance(data, list):
                raise ValueError(f"{path}: entry {key!r}: expected a list of per-frame boxes")
        if len(data) != len(source.frames):
            log.warning("%s: %d per-frame boxes for %d frames (frames without one: no box)", path, len(data),
                        len(source.frames))  # fmt: skip
        for frame, value in enumerate(data[: len(source.frames)]):
            x1, y1, x2, y2 = parse_box(value, f"{path}: frame {frame}", "error", skipped)
            if not math.isnan(x1):
                rows[frame].append(([x1, y1, x2 - x1, y2 - y1], 1.0, frame))
    else:
        raise ValueError(f"{path}: not a boxes file (expected a list or an object, see har/predict/boxes.py)")

    boxes = [FrameBoxes.of(r) for r in rows]
    matched = sum(len(b) for b in boxes)
    if matched == 0 and skipped["image not in the input"]:
        raise ValueError(f"{path} ({layout}): none of its boxes belongs to a frame of the input {source.path} "
                         f"(frames are matched by file name or image id; {dict(skipped)})")  # fmt: skip
    without = sum(1 for b in boxes if not len(b))
    log.info("%s (%s): %d boxes on %d of %d frames%s", path, layout, matched, len(boxes) - without, len(boxes),
             f"; dropped {dict(skipped)}" if skipped else "")  # fmt: skip
    return boxes, image_ids
