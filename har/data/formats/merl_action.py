"""MERL Shopping action clips from the seed fork's per-frame JSON (``data=merl_action``).

The file is a flat list of frame records::

    {"action": "LookatShelf", "id": "LookatShelf_33_1_crop_3243_3374_InspectProduct", "keypoints": [],
     "image": {"url": "<frame jpg>", "file_name": "2.jpg", "width": 920, "height": 680},
     "person_bbox": [x1, y1, x2, y2]}                                 # or [] / null: no box for this frame

- **Clips**: records are grouped by ``id`` (clips in order of first appearance); a clip's frames are sorted by the
  frame number in ``file_name`` (the last integer of its stem; of the url's name when there is no ``file_name``)
  when every frame has one, else kept in file order.
- **Frames**: a relative ``image.url`` resolves against the JSON file's folder; an absolute one is used as is. A
  frame file missing at setup is an error naming it, the clip and the JSON file, or, with
  ``on_missing_frame="skip"``, a counted skip (a clip left with no frame is still an error). A frame that cannot be
  decoded when read is an error naming it and the clip.
- **Labels**: ``action`` (``label_source="action"``), or the last ``_``-separated token of ``id``
  (``label_source="id_suffix"``: the fork's ids end with the official MERL class, so its files can be read with the
  official five classes). Labels are normalised with :mod:`har.data.formats.merl_classes`; an unknown label is an error
  naming it, the clip and the file, and so is a clip whose frames disagree.
- **Boxes**: a malformed ``person_bbox`` (not 4 finite numbers, or x2 ≤ x1 or y2 ≤ y1) is an error naming the
  record (``on_bad_box="error"``, the default: a bad box usually means a bad converter), or is treated as no box
  (``"empty"``, counted). Frames without a box take the nearest frame's box, else the whole frame
  (:func:`har.geometry.boxes.fill_empty_boxes`).
- **Keypoints** (``use_keypoints=True``, off by default: the fork's raw files have none): each record's
  ``keypoints`` as J × [x, y, v] (or 3J numbers) in original-image pixels; records without keypoints get v = 0.

The index keeps only arrays (frame paths, boxes, clip offsets, labels): no per-frame dicts survive the load.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from har.data.formats.merl_classes import DEFAULT_ALIASES, MERL_CLASSES, label_key, label_table
from har.geometry.boxes import parse_box

log = logging.getLogger(__name__)

LABEL_SOURCES = ("action", "id_suffix")
ON_MISSING_FRAME = ("error", "skip")
ON_BAD_BOX = ("error", "empty")

_LAST_INT = re.compile(r"(\d+)(?!.*\d)")


@dataclass
class MerlActionIndex:
    """Clips of one JSON file as flat arrays; clip ``c``'s frames are rows ``clip_start[c] : clip_start[c] +
    clip_length[c]`` of the frame arrays, in frame order.

    Attributes:
        json_file: the file read.
        classes: class names (label = index).
        clip_ids: (C,) str.
        labels: (C,) int64.
        clip_start, clip_length: (C,) int64.
        frame_root: the frames' common folder.
        frame_files: (N,) bytes frame paths relative to ``frame_root`` (UTF-8 / file-system encoding: a quarter of
            numpy's fixed-width str; see :meth:`frame_path`).
        boxes: (N, 4) float32 [x1, y1, x2, y2] pixels, NaN rows for frames without a box.
        keypoints: (N, J, 3) float32 x, y, v in image pixels, or None.
        skipped: Counter of reason → frames dropped or boxes emptied.
    """

    json_file: Path
    classes: tuple[str, ...]
    clip_ids: np.ndarray
    labels: np.ndarray
    clip_start: np.ndarray
    clip_length: np.ndarray
    frame_root: str
    frame_files: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray | None = None
    skipped: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.clip_ids)

    def frame_path(self, row: int) -> str:
        """Path of frame ``row`` (a row of the frame arrays)."""
        return os.path.join(self.frame_root, os.fsdecode(self.frame_files[row]))

    def frames(self, c: int) -> slice:
        """Rows of clip ``c`` in the frame arrays."""
        start = int(self.clip_start[c])
        return slice(start, start + int(self.clip_length[c]))


def _read_records(json_file: Path) -> list:
    if not json_file.is_file():
        raise FileNotFoundError(f"MERL action file not found: {json_file}")
    try:
        records = json.loads(json_file.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{json_file}: not valid JSON ({e})") from None
    if not isinstance(records, list):
        raise ValueError(f"{json_file}: expected a list of frame records, got {type(records).__name__}")
    if not records:
        raise ValueError(f"{json_file}: no frame records (an empty list): no clip to read")
    return records


def _parse_keypoints(value, where: str) -> np.ndarray | None:
    """(J, 3) float array of a record's keypoints, None when it has none."""
    if value is None or (isinstance(value, list) and not value):
        return None
    try:
        kp = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError(f"{where}: keypoints are not numbers") from None
    if kp.ndim == 1 and kp.size % 3 == 0:
        kp = kp.reshape(-1, 3)
    if kp.ndim != 2 or kp.shape[1] != 3:
        raise ValueError(f"{where}: keypoints of shape {kp.shape}: expected J × [x, y, v]")
    return kp


def _class_of(label: str, table: Mapping[str, int]) -> int | str:
    """A label's class index, or its key when it is unknown (two spellings of one class are one label)."""
    key = label_key(label)
    return table.get(key, key)


def _frame_number(name: str) -> int | None:
    match = _LAST_INT.search(Path(name).stem)
    return int(match.group(1)) if match else None


def load_merl_action_index(
    json_file: str | Path,
    classes: Sequence[str] = MERL_CLASSES,
    aliases: Mapping[str, str] | None = None,
    label_source: str = "action",
    on_missing_frame: str = "error",
    on_bad_box: str = "error",
    use_keypoints: bool = False,
) -> MerlActionIndex:
    """Reads a fork-format action JSON into a :class:`MerlActionIndex` (see the module docstring for the rules).

    ``aliases`` defaults to :data:`~har.data.formats.merl_classes.DEFAULT_ALIASES`; pass ``{}`` for none.
    """
    if label_source not in LABEL_SOURCES:
        raise ValueError(f"label_source {label_source!r}: expected one of {LABEL_SOURCES}")
    if on_missing_frame not in ON_MISSING_FRAME:
        raise ValueError(f"on_missing_frame {on_missing_frame!r}: expected one of {ON_MISSING_FRAME}")
    if on_bad_box not in ON_BAD_BOX:
        raise ValueError(f"on_bad_box {on_bad_box!r}: expected one of {ON_BAD_BOX}")
    json_file = Path(json_file)
    classes = tuple(classes)
    table = label_table(classes, DEFAULT_ALIASES if aliases is None else aliases)
    records = _read_records(json_file)
    folder = Path(os.path.abspath(json_file.parent))
    skipped: Counter = Counter()

    # One pass over the records: per clip, lists of (frame number, path, box, keypoints).
    clips: dict[str, dict] = {}
    for r, rec in enumerate(records):
        where = f"{json_file}: record {r}"
        if not isinstance(rec, dict):
            raise ValueError(f"{where}: not an object")
        clip_id, image = rec.get("id"), rec.get("image")
        if not isinstance(clip_id, str | int) or isinstance(clip_id, bool):
            raise ValueError(f"{where}: missing or bad 'id' {clip_id!r}")
        clip_id = str(clip_id)
        where = f"{where} (clip {clip_id!r})"
        if not isinstance(image, dict) or not isinstance(image.get("url"), str) or not image["url"]:
            raise ValueError(f"{where}: missing 'image.url'")
        label = rec.get("action") if label_source == "action" else clip_id.rsplit("_", 1)[-1]
        if not isinstance(label, str):
            raise ValueError(f"{where}: missing or bad 'action' {label!r}")
        url = Path(image["url"])
        path = url if url.is_absolute() else folder / url
        name = image.get("file_name") if isinstance(image.get("file_name"), str) else url.name
        clip = clips.setdefault(clip_id, {"label": label, "number": [], "path": [], "box": [], "kp": []})
        if _class_of(label, table) != _class_of(clip["label"], table):
            raise ValueError(f"{where}: label {label!r} differs from the clip's earlier label {clip['label']!r}")
        clip["number"].append(_frame_number(name))
        clip["path"].append(str(path))
        clip["box"].append(parse_box(rec.get("person_bbox"), where, on_bad_box, skipped))
        if use_keypoints:
            clip["kp"].append(_parse_keypoints(rec.get("keypoints"), where))

    num_joints = {kp.shape[0] for c in clips.values() for kp in c["kp"] if kp is not None}
    if len(num_joints) > 1:
        raise ValueError(f"{json_file}: records have keypoints of different joint counts {sorted(num_joints)}")
    num_joints = num_joints.pop() if num_joints else None

    clip_ids, labels, lengths, paths, boxes, keypoints = [], [], [], [], [], []
    first_missing = None
    for clip_id, clip in clips.items():
        index = table.get(label_key(clip["label"]))
        if index is None:
            raise ValueError(
                f"{json_file}: clip {clip_id!r}: unknown action label {clip['label']!r} "
                f"(label_source={label_source!r}); classes: {list(classes)} (add it to the classes or the aliases)"
            )
        numbers = clip["number"]
        order = np.arange(len(numbers))
        if all(n is not None for n in numbers):
            order = np.argsort(np.array(numbers), kind="stable")
        keep = []
        for i in order:
            if os.path.isfile(clip["path"][i]):
                keep.append(i)
            elif on_missing_frame == "error":
                raise FileNotFoundError(f"{json_file}: clip {clip_id!r}: frame file not found: {clip['path'][i]}")
            else:
                skipped["missing frame file"] += 1
                first_missing = first_missing or clip["path"][i]
        if not keep:
            raise ValueError(f"{json_file}: clip {clip_id!r} has no frames left: all its frame files are missing")
        clip_ids.append(clip_id)
        labels.append(index)
        lengths.append(len(keep))
        paths.extend(clip["path"][i] for i in keep)
        boxes.extend(clip["box"][i] for i in keep)
        if num_joints is not None:
            empty = np.zeros((num_joints, 3))
            keypoints.extend(empty if clip["kp"][i] is None else clip["kp"][i] for i in keep)
    if skipped:
        log.warning("%s: skipped %s (first missing frame: %s)", json_file, dict(skipped), first_missing)

    lengths = np.array(lengths, np.int64)
    frame_root = os.path.commonpath([os.path.dirname(p) for p in paths])
    cut = len(os.path.join(frame_root, ""))  # the paths below are absolute, so each starts with frame_root + sep
    return MerlActionIndex(
        json_file=json_file,
        classes=classes,
        clip_ids=np.array(clip_ids, dtype=str),
        labels=np.array(labels, np.int64),
        clip_start=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
        clip_length=lengths,
        frame_root=frame_root,
        frame_files=np.array([os.fsencode(p[cut:]) for p in paths]),
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        keypoints=np.stack(keypoints).astype(np.float32) if num_joints is not None else None,
        skipped=skipped,
    )
