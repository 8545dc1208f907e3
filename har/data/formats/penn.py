"""Penn Action → a validated per-video index (numpy only), from either form a user has.

**Official release** (``Penn_Action.tar.gz``, https://www.cis.upenn.edu/~kostas/Penn_Action.tar.gz)::

    frames/0001/000001.jpg ...        RGB frames, 1-based, at most 640×480 (portrait videos exist)
    labels/0001.mat                   action (str), pose (view str), x, y (nframes×13), visibility (nframes×13),
                                      train (1 / −1), bbox (nframes×4), dimensions [H W nframes], nframes

**deephar's form** (``datasets/PennAction/`` of dluvizon/deephar): the same ``frames/`` folder, plus
``annotations.mat`` (release v0.3 ``penn_annotations.mat``): ``sequences_tr`` / ``sequences_te`` (per sequence
``idx`` → ``frames/%04d``, ``action_id`` 1-based into ``action_labels``, ``frames`` with ``f`` (→ ``%06d.jpg``),
``w``, ``h``, ``pose`` 2×13, ``visible`` 13), ``action_labels``, ``joint_labels``; and, optionally, predicted person
boxes: :func:`read_boxes_tpami` (``penn_pred_bboxes_multitask.json``) and :func:`read_boxes_cvpr18`
(``penn_pred_bboxes_16f.json``).

**Joints → pa16j, as deephar maps them**: row k of the 13 goes to pa16j index 3 + k (``map_to_pa13j``,
``deephar/utils/pose.py``; ``pennaction.py:224-234``). The official order is head, left_shoulder, right_shoulder,
left_elbow, …, right_ankle, so Penn's **"left_*" joints become pa16j "r_*"** (and right → ``l_*``): deephar's released
Penn weights expect this, so both forms are read the same way. Whether Penn's "left" means the person's left (then
deephar swaps sides) or the viewer's was not checked here. pelvis, thorax and neck (pa16j 0-2) are always unlabelled.

**Which joints are labelled** (``v`` of the (x, y, v) keypoints, COCO's meaning, so har's ``v > 0`` test works):
deephar keeps a joint when its visibility flag is set and neither coordinate is 0 (``p[v == 0] = nan``,
``p[p == 0] = nan``); those get v = 2. The rest get v = 0 and x = y = 0, except that ``keep_occluded=True`` keeps
joints with coordinates but visibility 0 as v = 1 (labelled, not visible; deephar drops them). A coordinate equal to 0
marks a missing joint in deephar's rule, which this reader follows by default (``zero_is_missing=True``): if Penn's
coordinates are MATLAB pixel positions (1-based, the image spanning 0.5 … W + 0.5), 0 lies outside the image and can
only be a placeholder. The release's README says neither how missing joints are written nor the pixel origin, and
real files were not opened here. ``zero_is_missing=False`` keeps a joint at x = 0 (or y = 0) as labelled.
Coordinates are kept as written (deephar never shifts them).

**Skips** (counted in ``skipped``, each listed in ``bad_records`` with file, record and reason; nothing is silently
dropped): unreadable or incomplete label records, an unknown class name (official) or an ``action_id`` outside
``action_labels`` (deephar), arrays whose lengths disagree with ``nframes``, a bad ``train`` flag, frame gaps (a
missing frame file, or non-consecutive ``f``), frame sizes that differ within a video (deephar). A portrait video
(H > W) is a normal video: ``image_sizes`` holds (W, H) from ``dimensions`` [H W n] or ``w``/``h``. An official
``bbox`` with a row count other than ``nframes`` does not drop the video: the missing rows are "no box" (NaN),
counted under ``notes``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io

log = logging.getLogger(__name__)

# The 15 ``action`` strings of the official label files, sorted (the order of deephar's 15-way output by every
# deephar user's class list seen; deephar itself reads the names from ``action_labels``).
PENN_CLASSES = (
    "baseball_pitch", "baseball_swing", "bench_press", "bowl", "clean_and_jerk", "golf_swing", "jump_rope",
    "jumping_jacks", "pullup", "pushup", "situp", "squat", "strum_guitar", "tennis_forehand", "tennis_serve",
)  # fmt: skip
# The official joint order (dreamdragon/PennAction README).
PENN_JOINTS = (
    "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
PENN_TO_PA16J = np.arange(3, 16)  # Penn joint k → pa16j index 3 + k (deephar's map_to_pa13j)
NUM_PA16J = 16

LABELS_DIR, FRAMES_DIR, DEEPHAR_ANNOTATIONS = "labels", "frames", "annotations.mat"
SPLITS = ("train", "test")
_FRAME_FILE = re.compile(r"^(\d{6})\.jpg$")


@dataclass
class PennIndex:
    """Penn Action videos as flat arrays; frames of video i are rows ``frame_offsets[i]:frame_offsets[i + 1]``.

    Attributes:
        root: the dataset folder; source: ``official`` or ``deephar``.
        classes: class names, label = index (official: :data:`PENN_CLASSES`; deephar: its ``action_labels``).
        video_ids: (V,) int64 Penn video number (``frames/%04d``).
        records: (V,) int64 where the video sits in its source: the video number (official), or its 0-based
            position in ``sequences_tr`` / ``sequences_te`` (deephar; the key of its box JSONs).
        labels: (V,) int64; splits: (V,) str ``train`` / ``test``; views: (V,) str (``""`` in deephar's form).
        image_sizes: (V, 2) int32 (W, H).
        frame_offsets: (V + 1,) int64.
        frame_numbers: (N,) int64 1-based frame numbers (``%06d.jpg``).
        keypoints: (N, 16, 3) float32 pa16j x, y (pixels, as written), v (2 labelled and visible, 1 labelled and
            occluded with ``keep_occluded``, 0 unlabelled with x = y = 0).
        boxes: (N, 4) float32 [x1, y1, x2, y2] per frame (official ``bbox``); NaN rows: none (always in deephar's
            form, whose boxes come from :func:`read_boxes_tpami`).
        joint_names: the 13 source joint names (deephar's ``joint_labels``, or :data:`PENN_JOINTS`).
        skipped: Counter reason → videos skipped; bad_records: ``(where, reason)`` per skipped video.
        notes: Counter of anomalies that did not drop a video.
    """

    root: Path
    source: str
    classes: tuple[str, ...]
    video_ids: np.ndarray
    records: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    views: np.ndarray
    image_sizes: np.ndarray
    frame_offsets: np.ndarray
    frame_numbers: np.ndarray
    keypoints: np.ndarray
    boxes: np.ndarray
    joint_names: tuple[str, ...] = PENN_JOINTS
    skipped: Counter = field(default_factory=Counter)
    bad_records: list = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.video_ids)

    def num_frames(self, i: int) -> int:
        return int(self.frame_offsets[i + 1] - self.frame_offsets[i])

    def frame_rows(self, i: int) -> slice:
        """Rows of video ``i`` in the per-frame arrays."""
        return slice(int(self.frame_offsets[i]), int(self.frame_offsets[i + 1]))

    def frame_files(self, i: int) -> list[str]:
        """Paths of video ``i``'s frames, in order."""
        folder = self.root / FRAMES_DIR / f"{self.video_ids[i]:04d}"
        return [str(folder / f"{n:06d}.jpg") for n in self.frame_numbers[self.frame_rows(i)].tolist()]

    def split_indices(self, split: str) -> np.ndarray:
        """Indices of the videos of ``split`` (``train`` or ``test``)."""
        if split not in SPLITS:
            raise ValueError(f"Penn Action split {split!r}: expected one of {SPLITS}")
        return np.flatnonzero(self.splits == split)

    def summary(self) -> str:
        counts = ", ".join(f"{(self.splits == s).sum()} {s}" for s in SPLITS)
        text = (
            f"Penn Action ({self.source}) {self.root}: {len(self)} videos ({counts}), {len(self.frame_numbers)} frames"
        )
        if self.skipped:
            text += "; skipped: " + ", ".join(f"{n} {r}" for r, n in sorted(self.skipped.items()))
        if self.notes:
            text += "; notes: " + ", ".join(f"{n} {r}" for r, n in sorted(self.notes.items()))
        return text


class _Skip(Exception):
    """A video to skip: ``reason`` (the Counter key) and ``detail`` (for bad_records)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail or reason


def penn_keypoints(
    x: np.ndarray, y: np.ndarray, visible: np.ndarray, zero_is_missing: bool = True, keep_occluded: bool = False
) -> np.ndarray:
    """(T, 13) x, y, visibility → (T, 16, 3) pa16j keypoints x, y, v (see the module docstring for v)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    present = np.isfinite(x) & np.isfinite(y)
    if zero_is_missing:
        present &= (x != 0) & (y != 0)
    seen = np.asarray(visible) != 0
    v = np.where(present & seen, 2, np.where(present & keep_occluded, 1, 0))
    out = np.zeros((len(x), NUM_PA16J, 3), np.float32)
    out[:, PENN_TO_PA16J, 0] = np.where(v > 0, x, 0)
    out[:, PENN_TO_PA16J, 1] = np.where(v > 0, y, 0)
    out[:, PENN_TO_PA16J, 2] = v
    return out


def _text(value) -> str:
    """A MATLAB char array (or a cell holding one) as str."""
    arr = np.asarray(value)
    while arr.dtype == object and arr.size == 1:
        arr = np.asarray(arr.item())
    if arr.dtype.kind != "U":
        raise ValueError(f"expected text, got {arr.dtype} {arr.shape}")
    return "".join(arr.ravel().tolist()).strip()


def _scalar(value, what: str) -> float:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1:
        raise _Skip("malformed record", f"{what} has {arr.size} values, expected 1")
    return float(arr.item())


def _frame_numbers_on_disk(folder: Path) -> set[int] | None:
    """The frame numbers of ``folder``'s ``%06d.jpg`` files (one directory listing), None if it is not a folder."""
    try:
        with os.scandir(folder) as entries:
            return {int(m[1]) for e in entries if (m := _FRAME_FILE.match(e.name))}
    except (FileNotFoundError, NotADirectoryError):
        return None


def _check_frames(root: Path, video_id: int, numbers: np.ndarray) -> None:
    folder = root / FRAMES_DIR / f"{video_id:04d}"
    on_disk = _frame_numbers_on_disk(folder)
    if on_disk is None:
        raise _Skip("missing frame files", f"frame folder {folder} not found")
    missing = [n for n in numbers.tolist() if n not in on_disk]
    if missing:
        raise _Skip("missing frame files", f"{len(missing)} frames missing in {folder}, first {missing[0]:06d}.jpg")


@dataclass
class _Video:
    video_id: int
    record: int
    label: int
    split: str
    view: str
    size: tuple[int, int]
    numbers: np.ndarray
    keypoints: np.ndarray
    boxes: np.ndarray


def _build(root: Path, source: str, classes, videos: list[_Video], joint_names, skipped, bad, notes) -> PennIndex:
    counts = np.array([len(v.numbers) for v in videos], np.int64)
    index = PennIndex(
        root=root,
        source=source,
        classes=tuple(classes),
        video_ids=np.array([v.video_id for v in videos], np.int64),
        records=np.array([v.record for v in videos], np.int64),
        labels=np.array([v.label for v in videos], np.int64),
        splits=np.array([v.split for v in videos], dtype="<U5"),
        views=np.array([v.view for v in videos], dtype=str),
        image_sizes=np.array([v.size for v in videos], np.int32).reshape(-1, 2),
        frame_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        frame_numbers=np.concatenate([v.numbers for v in videos] or [np.zeros(0, np.int64)]).astype(np.int64),
        keypoints=np.concatenate([v.keypoints for v in videos] or [np.zeros((0, NUM_PA16J, 3), np.float32)]),
        boxes=np.concatenate([v.boxes for v in videos] or [np.zeros((0, 4), np.float32)]).astype(np.float32),
        joint_names=tuple(joint_names),
        skipped=skipped,
        bad_records=bad,
        notes=notes,
    )
    log.log(logging.WARNING if skipped else logging.INFO, "%s", index.summary())
    return index


# --- the official release -----------------------------------------------------------------------------------------


def _official_video(path: Path, root: Path, zero_is_missing: bool, keep_occluded: bool, check_frames: bool,
                    notes: Counter) -> _Video:  # fmt: skip
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises several types for unreadable files
        raise _Skip("unreadable label file", f"cannot read: {e}") from None
    missing = [k for k in ("action", "x", "y", "visibility", "train", "dimensions", "nframes") if k not in mat]
    if missing:
        raise _Skip("malformed record", f"missing variables {missing}")
    try:
        action = _text(mat["action"])
        view = _text(mat["pose"]) if "pose" in mat else ""
    except ValueError as e:
        raise _Skip("malformed record", f"action/pose: {e}") from None
    if action not in PENN_CLASSES:
        raise _Skip("unknown class", f"unknown class {action!r} (known: {', '.join(PENN_CLASSES)})")
    n = _scalar(mat["nframes"], "nframes")
    dims = np.asarray(mat["dimensions"], np.float64).ravel()
    if n != int(n) or n < 1 or dims.size != 3:
        raise _Skip("malformed record", f"nframes {n} / dimensions {dims.tolist()} (expected [H W nframes])")
    n = int(n)
    shapes = {k: np.shape(mat[k]) for k in ("x", "y", "visibility")}
    if any(s != (n, 13) for s in shapes.values()) or dims[2] != n:
        raise _Skip("mismatched array lengths", f"nframes {n}, dimensions {dims.tolist()}, shapes {shapes}")
    height, width = dims[0], dims[1]
    if not (height >= 1 and width >= 1):
        raise _Skip("malformed record", f"dimensions {dims.tolist()}: H and W must be >= 1")
    train = _scalar(mat["train"], "train")
    if train not in (1.0, -1.0):
        raise _Skip("bad train flag", f"train = {train:g}, expected 1 or -1")
    video_id = int(path.stem)
    numbers = np.arange(1, n + 1, dtype=np.int64)
    if check_frames:
        _check_frames(root, video_id, numbers)
    boxes = np.full((n, 4), np.nan, np.float32)
    if "bbox" in mat:
        bbox = np.asarray(mat["bbox"], np.float64)
        bbox = bbox.reshape(-1, 4) if bbox.size % 4 == 0 else np.zeros((0, 4))
        if len(bbox) != n:
            notes["bbox rows != nframes (missing rows: no box)"] += 1
            log.warning("%s: bbox has %d rows for %d frames; missing rows have no box", path, len(bbox), n)
        rows = bbox[:n]
        ok = np.isfinite(rows).all(1) & (rows[:, 2] > rows[:, 0]) & (rows[:, 3] > rows[:, 1])
        boxes[: len(rows)][ok] = rows[ok]
        if (~ok).any():
            notes["empty or malformed bbox rows (no box)"] += int((~ok).sum())
    keypoints = penn_keypoints(mat["x"], mat["y"], mat["visibility"], zero_is_missing, keep_occluded)
    split = "train" if train == 1 else "test"
    return _Video(video_id, video_id, PENN_CLASSES.index(action), split, view, (int(width), int(height)), numbers,
                  keypoints, boxes)  # fmt: skip


def load_penn_official(
    root: str | Path, zero_is_missing: bool = True, keep_occluded: bool = False, check_frames: bool = True
) -> PennIndex:
    """Index the official release under ``root`` (``labels/*.mat`` + ``frames/``); see the module docstring.

    Args:
        zero_is_missing: a coordinate equal to 0 marks the joint unlabelled (deephar's rule).
        keep_occluded: keep joints whose visibility is 0 as v = 1 (deephar drops them).
        check_frames: require every frame file (one directory listing per video); False for pose-only use.
    """
    root = Path(root)
    folder = root / LABELS_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"Penn Action label folder not found: {folder}")
    files = sorted(p for p in folder.glob("*.mat") if p.stem.isdigit())
    if not files:
        raise FileNotFoundError(f"no NNNN.mat label file in {folder}")
    videos, skipped, bad, notes = [], Counter(), [], Counter()
    for path in files:
        try:
            videos.append(_official_video(path, root, zero_is_missing, keep_occluded, check_frames, notes))
        except _Skip as s:
            skipped[s.reason] += 1
            bad.append((str(path), s.detail))
            log.warning("skipping %s: %s", path, s.detail)
    return _build(root, "official", PENN_CLASSES, videos, PENN_JOINTS, skipped, bad, notes)


# --- deephar's annotations.mat -------------------------------------------------------------------------------------


def _deephar_video(seq, record: int, split: str, root: Path, num_classes: int, zero_is_missing: bool,
                   keep_occluded: bool, check_frames: bool) -> _Video:  # fmt: skip
    try:
        video_id, action_id = seq.idx, seq.action_id
        frames = np.atleast_1d(seq.frames)
    except AttributeError as e:
        raise _Skip("malformed record", f"{e}") from None
    video_id, action_id = _scalar(video_id, "idx"), _scalar(action_id, "action_id")
    if not (video_id == int(video_id) and video_id >= 1):
        raise _Skip("malformed record", f"idx {video_id:g} is not a video number >= 1")
    if not (action_id == int(action_id) and 1 <= action_id <= num_classes):
        raise _Skip("unknown class", f"action_id {action_id:g} outside action_labels 1..{num_classes}")
    if len(frames) == 0:
        raise _Skip("malformed record", "no frame")
    try:
        numbers = np.array([_scalar(fr.f, "f") for fr in frames], np.int64)
        sizes = np.array([(_scalar(fr.w, "w"), _scalar(fr.h, "h")) for fr in frames], np.int64)
        pose = np.stack([np.asarray(fr.pose, np.float64) for fr in frames])
        visible = np.stack([np.asarray(fr.visible, np.float64).ravel() for fr in frames])
    except AttributeError as e:
        raise _Skip("malformed record", f"frame field: {e}") from None
    except ValueError as e:
        raise _Skip("mismatched array lengths", f"frame arrays: {e}") from None
    if pose.shape[1:] != (2, 13) or visible.shape[1:] != (13,):
        raise _Skip("mismatched array lengths", f"pose {pose.shape[1:]} / visible {visible.shape[1:]}, expected "
                    "(2, 13) / (13,)")  # fmt: skip
    if (np.diff(numbers) != 1).any() or numbers[0] < 1:
        gap = int(np.flatnonzero(np.diff(numbers) != 1)[0]) if len(numbers) > 1 else 0
        raise _Skip("frame gap", f"frame numbers f not consecutive from >= 1 (at frame {gap}: "
                    f"{numbers[gap:gap + 2].tolist()})")  # fmt: skip
    if (sizes != sizes[0]).any() or (sizes[0] < 1).any():
        raise _Skip("frame sizes differ", f"w, h not constant and positive: {np.unique(sizes, axis=0).tolist()}")
    if check_frames:
        _check_frames(root, int(video_id), numbers)
    keypoints = penn_keypoints(pose[:, 0], pose[:, 1], visible, zero_is_missing, keep_occluded)
    size = (int(sizes[0, 0]), int(sizes[0, 1]))
    return _Video(int(video_id), record, int(action_id) - 1, split, "", size, numbers, keypoints,
                  np.full((len(numbers), 4), np.nan, np.float32))  # fmt: skip


def load_penn_deephar(
    root: str | Path,
    annotations: str = DEEPHAR_ANNOTATIONS,
    zero_is_missing: bool = True,
    keep_occluded: bool = False,
    check_frames: bool = True,
) -> PennIndex:
    """Index deephar's ``annotations.mat`` (``sequences_tr`` → train, ``sequences_te`` → test) and ``frames/``.

    Read as deephar reads it (``loadmat(struct_as_record=False, squeeze_me=True)``, ``pennaction.py:13-21``).
    Arguments as :func:`load_penn_official`. ``records`` are positions in ``sequences_tr`` / ``sequences_te``.
    """
    root = Path(root)
    path = root / annotations
    if not path.is_file():
        raise FileNotFoundError(f"deephar Penn Action annotations not found: {path}")
    try:
        mat = scipy.io.loadmat(str(path), struct_as_record=False, squeeze_me=True)
    except Exception as e:
        raise OSError(f"cannot read {path}: {e}") from None
    missing = [k for k in ("sequences_tr", "sequences_te", "action_labels") if k not in mat]
    if missing:
        raise ValueError(f"{path}: not deephar's Penn annotations, missing {missing}")
    classes = [str(c).strip() for c in np.atleast_1d(mat["action_labels"]).tolist()]
    joints = [str(c).strip() for c in np.atleast_1d(mat.get("joint_labels", np.array(PENN_JOINTS))).tolist()]
    if len(joints) != 13:
        raise ValueError(f"{path}: joint_labels has {len(joints)} names, expected 13")
    videos, skipped, bad = [], Counter(), []
    for split, key in (("train", "sequences_tr"), ("test", "sequences_te")):
        for record, seq in enumerate(np.atleast_1d(mat[key]).tolist()):
            where = f"{path}: {key}[{record}]"
            try:
                videos.append(_deephar_video(seq, record, split, root, len(classes), zero_is_missing,
                                             keep_occluded, check_frames))  # fmt: skip
            except _Skip as s:
                skipped[s.reason] += 1
                bad.append((where, s.detail))
                log.warning("skipping %s: %s", where, s.detail)
    return _build(root, "deephar", classes, videos, joints, skipped, bad, Counter())


# --- deephar's predicted-box JSONs -----------------------------------------------------------------------------------

_CVPR18_KEY = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.([01])$")


def _box(value, where: str) -> np.ndarray:
    """[x1, y1, x2, y2] as (4,) float64; ValueError naming ``where`` when it is not one."""
    arr = np.asarray(value, dtype=object)
    try:
        box = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: box {value!r} is not 4 numbers") from None
    if arr.shape != (4,) or not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"{where}: box {value!r} is not [x1, y1, x2, y2] with x2 > x1, y2 > y1")
    return box


def _read_json(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"box file not found: {path}")
    try:
        return path, json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def read_boxes_tpami(path: str | Path, index: PennIndex) -> tuple[np.ndarray, Counter]:
    """Per-frame boxes of deephar's TPAMI JSON (``penn_pred_bboxes_multitask.json``) aligned with ``index``'s frames.

    The file is a list ``[test, train, valid]`` of dicts ``'%d.%d' % (sequence position, frame position)`` →
    [x1, y1, x2, y2] (``exp/pennaction/predict_bboxes.py:53-78``); positions are 0-based in ``sequences_te`` /
    ``sequences_tr`` and in ``seq.frames``. Returns (N, 4) float32 (NaN rows: no box in the file) and a Counter of
    frames without a box. A malformed box raises ValueError naming the file and key. Needs a deephar-form index.
    """
    if index.source != "deephar":
        raise ValueError("deephar's box files are keyed by positions in annotations.mat: load the index with "
                         "load_penn_deephar")  # fmt: skip
    path, data = _read_json(path)
    if not isinstance(data, list) or len(data) < 2 or not all(isinstance(d, dict) for d in data[:2]):
        raise ValueError(f"{path}: expected a list [test, train, valid] of dicts '%d.%d' → box (deephar TPAMI)")
    out = np.full((len(index.frame_numbers), 4), np.nan, np.float32)
    counts = Counter()
    for i in range(len(index)):
        boxes = data[0] if index.splits[i] == "test" else data[1]
        for j, row in enumerate(range(index.frame_offsets[i], index.frame_offsets[i + 1])):
            key = f"{index.records[i]}.{j}"
            if key in boxes:
                out[row] = _box(boxes[key], f"{path}: {index.splits[i]} key {key!r}")
            else:
                counts["frames without a box"] += 1
    return out, counts


def read_boxes_cvpr18(path: str | Path) -> dict[tuple[int, int, int, int], np.ndarray]:
    """deephar's CVPR'18 clip boxes (``penn_pred_bboxes_16f.json``): ``(test sequence position, subsampling, clip
    index, flip)`` → (4,) [x1, y1, x2, y2], from keys ``'%04d.%d.%03d.%d'``
    (``exp/common/penn_tools.py:85-175@cvpr18``).

    The clip index counts the clips of :func:`har.data.clip_protocol.deephar_multi_clips` (16 frames, stride 2).
    A malformed key or box raises ValueError naming the file and key.
    """
    path, data = _read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict '%04d.%d.%03d.%d' → box (deephar CVPR'18)")
    out = {}
    for key, value in data.items():
        m = _CVPR18_KEY.match(key)
        if m is None:
            raise ValueError(f"{path}: key {key!r} is not 'sequence.subsampling.clip.flip' ('%04d.%d.%03d.%d')")
        out[tuple(int(g) for g in m.groups())] = _box(value, f"{path}: key {key!r}")
    return out
