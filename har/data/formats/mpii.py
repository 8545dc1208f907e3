"""MPII Human Pose (single person) in the two forms users have, read into one validated index.

**deephar** (``deephar/data/mpii.py:10-46``), under ``root``::

    annotations.mat     annot_tr, annot_val: object arrays (3, images); rows rectidxs, images, annorect
    images/<name>.jpg   the original MPII images

``rectidxs``: per image, the 1-based indices of the persons to use (MPII's single-person selection);
``images``: the file name; ``annorect``: per image, the persons, each with ``head`` [x1, y1, x2, y2], ``objpos``
[x, y], ``scale`` (person height / 200 px) and ``pose`` 2×16 (rows x, y; MPII joint order; NaN = not annotated). Read
with plain ``scipy.io.loadmat`` as deephar does; both a cell array of 1×1 structs and a struct array are accepted.

**mmpose** (``mmpose/datasets/datasets/body/mpii_dataset.py``), under ``root``::

    annotations/mpii_{train,val}.json   entries: image, center [x, y], scale (/200), joints 16×2, joints_vis 16
    annotations/mpii_gt_val.mat         headboxes_src 2×2×N ([corner, x/y, entry], in JSON order); jnt_missing
                                        16×N and pos_gt_src 16×2×N (checked against the JSON where present)
    images/<name>.jpg

**Coordinates.** Both forms store MPII's native frame: MATLAB's 1-based pixels (pixel ``i``'s centre at ``i``).
The index converts every position (keypoints, centres, head boxes) to har's 0-based pixel-centre frame
(``har/codec.py``) by subtracting 1, for both forms alike (mmpose does the same to the centre, and adds 1 to its
predictions before PCKh). Sizes, scales and head sizes are unchanged. deephar never subtracts 1; its PCKh is the
same (ground truth and predictions share one frame) and its crop sits 1 px from har's.

**Crop** (deephar ``mpii.py:104-108`` = mmpose's ``center_y += 15·scale``, box ``200·scale``, padding 1.25): the
index's ``centers`` are ``objpos`` moved down by ``15·scale``; :func:`crop_window` gives the square side
``200·scale·1.25``.

**Keypoints** are in deephar's ``pa16j`` order (``deephar/utils/pose.py``; :data:`MPII_TO_PA16J`). Neither form
stores MPII's occlusion flag, so the third column is the *labelled* flag (1 annotated, 0 not; x, y = 0 then).

One module on purpose (about 550 lines): the two forms' readers feed one validator (:class:`_Builder`) and one
index type, and every check is shared between them; the writers live in ``mpii_write.py``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import scipy.io

log = logging.getLogger(__name__)

MPII_JOINTS = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)  # fmt: skip
# deephar's pa16j.map_to_mpii: MPII joint m goes to pa16j index MPII_TO_PA16J[m] (mpii.py:130, p[map_to_mpii] = pose).
MPII_TO_PA16J = np.array([14, 12, 10, 11, 13, 15, 0, 1, 2, 3, 8, 6, 4, 5, 7, 9])
# deephar's pa16j.map_from_mpii, its inverse: pa16j joint i is MPII joint PA16J_FROM_MPII[i].
PA16J_FROM_MPII = np.array([6, 7, 8, 9, 12, 13, 11, 14, 10, 15, 2, 3, 1, 4, 0, 5])
assert (MPII_TO_PA16J[PA16J_FROM_MPII] == np.arange(16)).all()

PIXEL_STD = 200.0  # MPII scale unit: pixels per unit of scale
CENTER_SHIFT = 15.0  # objpos is moved down by this many pixels per unit of scale
CROP_PADDING = 1.25
HEAD_SIZE_FACTOR = 0.6  # head size = 0.6 × head-box diagonal (MPII's SC_BIAS; deephar calc_head_size)
SPLITS = ("train", "val")
_DEEPHAR_VARS = {"train": "annot_tr", "val": "annot_val"}


# --- Records in the files' own frame (1-based MATLAB pixels, MPII joint order): the writers' input -------------


@dataclass
class MpiiPerson:
    """One annotated person as the files store it: 1-based MATLAB pixels, MPII joint order.

    Attributes:
        objpos: (2,) rough person centre.
        scale: person height / 200 px.
        head: (4,) head box x1, y1, x2, y2.
        pose: (16, 2) joints in MPII order, NaN where not annotated; None: no pose annotation at all.
    """

    objpos: Sequence[float]
    scale: float
    head: Sequence[float]
    pose: np.ndarray | None


@dataclass
class MpiiImage:
    """An image, its persons, and which of them ``rectidxs`` selects (0-based here; written 1-based)."""

    name: str
    persons: list[MpiiPerson]
    selected: list[int]


# --- The index ---------------------------------------------------------------------------------------------------


@dataclass
class MpiiIndex:
    """Persons of one MPII split, as flat arrays in har's 0-based pixel frame.

    Attributes:
        source: the annotation file read.
        form: ``"deephar"`` or ``"mmpose"``.
        split: ``"train"`` or ``"val"``.
        image_files: (I,) image file names, relative to the image folder.
        person_image: (N,) int32 row of each person's image in ``image_files``.
        records: (N, 2) int32 where each person is in the file: deephar (image column in ``annot_*``, 0-based
            ``annorect`` index); mmpose (JSON entry index, 0).
        centers: (N, 2) float64 crop centre (``objpos`` moved down by 15·scale).
        scales: (N,) float64 MPII scale (person height / 200 px).
        head_boxes: (N, 4) float64 x1, y1, x2, y2 (NaN where the form has none, e.g. mmpose train).
        head_sizes: (N,) float64 0.6 × head-box diagonal (NaN where no head box).
        keypoints: (N, 16, 3) float32 pa16j x, y, labelled (1 / 0; x, y = 0 where 0).
        skipped: reason → persons not in the index.
        bad_records: ``(record, reason)`` of each skipped person (record as in ``records``).
        unlabelled_joints: joints of kept persons that are not annotated (labelled 0).
    """

    source: Path
    form: str
    split: str
    image_files: np.ndarray
    person_image: np.ndarray
    records: np.ndarray
    centers: np.ndarray
    scales: np.ndarray
    head_boxes: np.ndarray
    head_sizes: np.ndarray
    keypoints: np.ndarray
    skipped: Counter = field(default_factory=Counter)
    bad_records: list = field(default_factory=list)
    unlabelled_joints: int = 0

    def __len__(self) -> int:
        return len(self.scales)

    def image_file(self, i: int) -> str:
        return str(self.image_files[self.person_image[i]])

    def crop_windows(self, padding: float = CROP_PADDING) -> tuple[np.ndarray, np.ndarray]:
        """Every person's crop: centres (N, 2) and square sizes (N, 2), see :func:`crop_window`."""
        return self.centers, crop_window(self.scales, padding)

    def summary(self) -> str:
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        text = f"{self.source} ({self.form}, {self.split}): {len(self)} persons kept"
        text += f", {self.unlabelled_joints} joints not annotated (kept unlabelled)"
        return text + (f"; skipped: {parts}" if parts else "")


def person_center(objpos: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Crop centres (N, 2): ``objpos`` (N, 2) moved down by 15·scale (deephar ``mpii.py:105``)."""
    centers = np.array(objpos, np.float64, ndmin=2)
    centers[:, 1] += CENTER_SHIFT * np.asarray(scales, np.float64)
    return centers


def crop_window(scales: np.ndarray, padding: float = CROP_PADDING) -> np.ndarray:
    """Square crop sizes (N, 2) = ``200·scale·padding`` (deephar ``mpii.py:104,107``: 250·scale at test time);
    with :attr:`MpiiIndex.centers` they are ``har.codec.crop_affine``'s ``center`` and ``size``."""
    side = PIXEL_STD * padding * np.asarray(scales, np.float64).reshape(-1)
    return np.stack([side, side], axis=1)


def crop_box(centers: np.ndarray, scales: np.ndarray, padding: float = CROP_PADDING) -> np.ndarray:
    """Crop boxes (N, 4) x1, y1, x2, y2 (deephar ``objposwin_to_bbox``)."""
    half = crop_window(scales, padding) / 2
    centers = np.asarray(centers, np.float64).reshape(-1, 2)
    return np.concatenate([centers - half, centers + half], axis=1)


def head_size(head_boxes: np.ndarray) -> np.ndarray:
    """0.6 × the diagonal of head boxes (..., 4) x1, y1, x2, y2 (deephar ``calc_head_size``, MPII's SC_BIAS)."""
    boxes = np.asarray(head_boxes, np.float64)
    return HEAD_SIZE_FACTOR * np.linalg.norm(boxes[..., 2:4] - boxes[..., 0:2], axis=-1)


# --- Building the index from person rows (shared by both readers) -------------------------------------------------


class _Builder:
    """Collects validated persons, counts skips, and makes the :class:`MpiiIndex`."""

    def __init__(self, image_root, check_images: bool, drop_bad_head: bool | None, split: str) -> None:
        self.rows: list[tuple] = []
        self.images: dict[str, int] = {}
        self.skipped: Counter = Counter()
        self.bad: list = []
        # PCKh needs a head size; training does not (deephar trains on every selected person)
        self.drop_bad_head = split != "train" if drop_bad_head is None else drop_bad_head
        self.present = None
        if check_images:
            if image_root is None or not Path(image_root).is_dir():
                raise FileNotFoundError(f"MPII image folder not found: {image_root}")
            self.present = set(os.listdir(image_root))

    def skip(self, record: tuple[int, int], reason: str) -> None:
        self.skipped[reason] += 1
        self.bad.append((record, reason))

    def add(self, record, image: str, objpos, scale: float, head, pose_xy: np.ndarray, labelled: np.ndarray) -> None:
        """One person in the file's frame (1-based): ``pose_xy`` (16, 2) and ``labelled`` (16,) in MPII order;
        ``head`` (4,) or None (the form has no head boxes)."""
        objpos = np.asarray(objpos, np.float64)
        if not (np.all(np.isfinite(objpos)) and np.isfinite(scale) and scale > 0):
            return self.skip(record, "no person centre or scale")
        if not labelled.any():
            return self.skip(record, "no labelled joint")
        if head is not None:
            head = np.asarray(head, np.float64)
            if self.drop_bad_head and not (np.all(np.isfinite(head)) and head_size(head) > 0):
                return self.skip(record, "bad head box (zero size or not finite)")
        if self.present is not None and image not in self.present:
            return self.skip(record, "image file missing")
        self.rows.append(
            (record, self.images.setdefault(image, len(self.images)), objpos, scale, head, pose_xy, labelled)
        )

    def build(self, source: Path, form: str, split: str) -> MpiiIndex:
        n = len(self.rows)
        cols = list(zip(*self.rows)) if n else [()] * 7
        # 1-based MATLAB pixels → har's 0-based frame
        objpos = np.array(cols[2], np.float64).reshape(n, 2) - 1.0
        scales = np.array(cols[3], np.float64).reshape(n)
        head_boxes = np.array([np.full(4, np.nan) if h is None else h for h in cols[4]], np.float64).reshape(n, 4) - 1
        xy = np.array(cols[5], np.float64).reshape(n, 16, 2) - 1.0
        labelled = np.array(cols[6], bool).reshape(n, 16)
        keypoints = np.zeros((n, 16, 3), np.float32)
        # deephar mpii.py:130: p[map_to_mpii] = pose
        keypoints[:, MPII_TO_PA16J, :2] = np.where(labelled[..., None], xy, 0.0)
        keypoints[:, MPII_TO_PA16J, 2] = labelled
        index = MpiiIndex(
            source=source,
            form=form,
            split=split,
            image_files=np.array(list(self.images), dtype=str),
            person_image=np.array([r[1] for r in self.rows], np.int32),
            records=np.array([r[0] for r in self.rows], np.int32).reshape(n, 2),
            centers=person_center(objpos, scales).reshape(n, 2),
            scales=scales,
            head_boxes=head_boxes,
            head_sizes=head_size(head_boxes),
            keypoints=keypoints,
            skipped=self.skipped,
            bad_records=self.bad,
            unlabelled_joints=int((keypoints[:, :, 2] == 0).sum()),
        )
        log.info("%s", index.summary())
        return index


# --- deephar's annotations.mat -------------------------------------------------------------------------------------


def _loadmat(path: Path, what: str, **kwargs) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return scipy.io.loadmat(str(path), **kwargs)
    except Exception as e:  # scipy raises several types for unreadable files
        raise ValueError(f"cannot read {what} {path}: {e}") from None


def _unwrap(value):
    """The array inside MATLAB cell wrappers (object arrays of one element)."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.flat[0]
    return value


def _numbers(value, where: str, name: str) -> np.ndarray:
    value = _unwrap(value)
    try:
        return np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {name} is not numeric ({type(value).__name__})") from None


def _string(value, where: str) -> str:
    value = _unwrap(value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "U" and value.size == 1:
        value = str(value.flat[0])
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: image name is not a string ({value!r})")
    return value


def _persons(annorect, where: str) -> list:
    """The persons of one ``annorect`` entry, each a record with fields head, objpos, scale, pose.

    Accepts a cell array of 1×1 structs (what deephar's ``annorect[i][idx, 0]['head'][0, 0]`` indexes) and a
    struct array."""
    if isinstance(annorect, np.ndarray) and annorect.size == 0:
        return []
    if isinstance(annorect, np.void) or (isinstance(annorect, np.ndarray) and annorect.dtype.names):
        people = [annorect] if isinstance(annorect, np.void) else list(annorect.ravel())
    elif isinstance(annorect, np.ndarray) and annorect.dtype == object:
        people = [_unwrap(p) for p in annorect.ravel()]
        people = [p.flat[0] if isinstance(p, np.ndarray) and p.dtype.names and p.size == 1 else p for p in people]
    else:
        raise ValueError(f"{where}: annorect is not a struct array or a cell array of structs ({type(annorect)})")
    for j, p in enumerate(people):
        names = p.dtype.names if isinstance(p, np.void) else None
        missing = {"head", "objpos", "scale", "pose"} - set(names or ())
        if missing:
            raise ValueError(f"{where}, person {j + 1}: annorect lacks field(s) {sorted(missing)}")
    return people


def _sized(value: np.ndarray, size: int, where: str, name: str) -> np.ndarray:
    """``value`` raveled, NaN where the field is empty; ValueError where it has another number of values."""
    value = value.ravel()
    if value.size == 0:
        return np.full(size, np.nan)
    if value.size != size:
        raise ValueError(f"{where}: {name} has {value.size} values, expected {size}")
    return value


def read_mpii_deephar(
    mat_file: str | Path,
    split: str,
    image_root: str | Path | None = None,
    check_images: bool = False,
    drop_bad_head: bool | None = None,
) -> MpiiIndex:
    """Read deephar's MPII ``annotations.mat`` (``annot_tr`` → train, ``annot_val`` → val) into an index.

    Only the persons ``rectidxs`` selects are kept (the others are counted); a person with no ``pose``, with no
    annotated joint, without centre/scale, or (``drop_bad_head``; default: for val, not train) with a head box of
    zero size is skipped and counted; NaN joints are kept as unlabelled joints. ``check_images``: skip persons
    whose image is not in ``image_root``. Malformed content (missing variables, wrong shapes, indices out of
    range) raises ValueError naming the file and the record.
    """
    mat_file = Path(mat_file)
    if split not in _DEEPHAR_VARS:
        raise ValueError(f"MPII split must be one of {SPLITS} (deephar's file has no test split), got {split!r}")
    var = _DEEPHAR_VARS[split]
    mat = _loadmat(mat_file, "deephar MPII annotation file")
    if var not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{mat_file}: no {var!r} variable (found {found}); expected deephar's annot_tr/annot_val")
    annot = mat[var]
    if not (isinstance(annot, np.ndarray) and annot.dtype == object and annot.ndim == 2 and annot.shape[0] >= 3):
        shape = getattr(annot, "shape", None)
        raise ValueError(f"{mat_file}: {var} must be a 3 × images cell array (rectidxs, images, annorect), got {shape}")
    builder = _Builder(image_root, check_images, drop_bad_head, split)
    for col in range(annot.shape[1]):
        where = f"{mat_file}: {var} image {col}"
        name = _string(annot[1, col], where)
        where += f" ({name})"
        rect = _numbers(annot[0, col], where, "rectidxs").ravel()
        if rect.size and not (np.all(np.isfinite(rect)) and np.all(rect == np.round(rect))):
            raise ValueError(f"{where}: rectidxs must be integers, got {rect.tolist()}")
        people = _persons(annot[2, col], where)
        selected = rect.astype(np.int64)
        if np.any((selected < 1) | (selected > len(people))):
            raise ValueError(f"{where}: rectidxs {selected.tolist()} out of range 1..{len(people)} (1-based)")
        kept: dict[int, None] = {}  # selected persons, 1-based, in rectidxs order, each once
        for idx in selected.tolist():
            if idx in kept:
                builder.skip((col, idx - 1), "repeated rectidxs entry")
            kept[idx] = None
        for j in range(len(people)):
            if j + 1 not in kept:
                builder.skip((col, j), "person not selected by rectidxs")
        for idx in kept:
            j = int(idx) - 1  # deephar mpii.py:29: "Convert idx from Matlab"
            p = people[j]
            pwhere = f"{where}, person {j + 1}"
            head = _sized(_numbers(p["head"], pwhere, "head"), 4, pwhere, "head")
            objpos = _sized(_numbers(p["objpos"], pwhere, "objpos"), 2, pwhere, "objpos")
            scale = _sized(_numbers(p["scale"], pwhere, "scale"), 1, pwhere, "scale")
            pose = _numbers(p["pose"], pwhere, "pose")
            if pose.size == 0:
                builder.skip((col, j), "no pose annotation")
                continue
            if pose.shape != (2, 16):  # deephar mpii.py:131 reads pose.T as 16 (x, y) points
                raise ValueError(f"{pwhere}: pose has shape {pose.shape}, expected 2 × 16 (rows x, y)")
            xy = pose.T
            builder.add((col, j), name, objpos, float(scale[0]), head, xy, np.isfinite(xy).all(axis=1))
    return builder.build(mat_file, "deephar", split)


# --- mmpose's mpii_{split}.json + mpii_gt_val.mat ---------------------------------------------------------------


def _load_json_list(json_file: Path) -> list:
    if not json_file.is_file():
        raise FileNotFoundError(f"mmpose MPII annotation file not found: {json_file}")
    raw = json_file.read_bytes()
    try:
        entries = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:  # the standard parser also reads the NaN / Infinity literals Python's json.dump writes
            entries = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{json_file}: not valid JSON ({e})") from None
    if not isinstance(entries, list):
        raise ValueError(f"{json_file}: expected a list of person entries (mmpose's MPII format)")
    return entries


def _entry_arrays(json_file: Path, entries: list) -> tuple[list, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """image names, centres (n, 2), scales (n,), joints (n, 16, 2), joints_vis (n, 16) of the JSON entries; the
    first malformed entry raises ValueError naming it."""
    n = len(entries)
    try:
        images = [e["image"] for e in entries]
        arrays = [np.array([e[k] for e in entries], np.float64) for k in ("center", "scale", "joints", "joints_vis")]
        shapes = [(n, 2), (n,), (n, 16, 2), (n, 16)]
        if all(a.shape == s for a, s in zip(arrays, shapes)) and all(type(i) is str for i in images):
            return images, *arrays
    except (KeyError, TypeError, ValueError):  # a missing key, a ragged or non-numeric list: find the entry below
        pass
    keys = {"image", "center", "scale", "joints", "joints_vis"}
    for i, e in enumerate(entries):
        try:
            ok = (
                isinstance(e, dict)
                and keys <= e.keys()
                and isinstance(e["image"], str)
                and np.asarray(e["center"], np.float64).shape == (2,)
                and np.size(e["scale"]) == 1
                and np.asarray(e["joints"], np.float64).shape == (16, 2)
                and np.asarray(e["joints_vis"], np.float64).shape == (16,)
            )
        except (TypeError, ValueError):
            ok = False
        if not ok:
            image = e.get("image") if isinstance(e, dict) else None
            raise ValueError(
                f"{json_file}: entry {i} ({image!r}) needs image (str), center [x, y], scale (a "
                "number), joints 16 × 2 and joints_vis (16)"
            )
    raise ValueError(f"{json_file}: entries do not form arrays")  # unreachable: some entry failed above


def _read_headboxes(
    headbox_file: Path, json_file: Path, n: int, joints: np.ndarray, vis: np.ndarray, check_gt: bool
) -> np.ndarray:
    """Head boxes (n, 4) x1, y1, x2, y2 (1-based) from ``headboxes_src``, checked against the JSON."""
    mat = _loadmat(headbox_file, "mmpose MPII head-box file")
    if "headboxes_src" not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{headbox_file}: no 'headboxes_src' variable (found {found})")
    hb = np.asarray(mat["headboxes_src"], np.float64)
    if hb.ndim != 3 or hb.shape[:2] != (2, 2):
        raise ValueError(f"{headbox_file}: headboxes_src has shape {hb.shape}, expected 2 × 2 × N")
    if hb.shape[2] != n:
        raise ValueError(
            f"{headbox_file}: {hb.shape[2]} head boxes for {n} entries of {json_file}; the boxes are "
            "matched to the JSON by position, so the two files must come from the same split"
        )
    if check_gt and "jnt_missing" in mat:
        missing = np.asarray(mat["jnt_missing"])
        if missing.shape != (16, n):
            raise ValueError(f"{headbox_file}: jnt_missing has shape {missing.shape}, expected 16 × {n}")
        differ = np.flatnonzero(((missing.T == 0) != (vis > 0)).any(axis=1))
        if differ.size:
            raise ValueError(
                f"{headbox_file}: jnt_missing disagrees with joints_vis of {json_file} at entries "
                f"{differ[:5].tolist()} ({differ.size} in all); pass check_gt=False to ignore"
            )
        if "pos_gt_src" in mat:
            pos = np.asarray(mat["pos_gt_src"], np.float64)
            if pos.shape != (16, 2, n):
                raise ValueError(f"{headbox_file}: pos_gt_src has shape {pos.shape}, expected 16 × 2 × {n}")
            far = np.abs(pos.transpose(2, 0, 1) - joints).max(axis=2) > 1.0
            differ = np.flatnonzero((far & (missing.T == 0)).any(axis=1))
            if differ.size:
                raise ValueError(
                    f"{headbox_file}: pos_gt_src differs from the joints of {json_file} by more than "
                    f"1 px at entries {differ[:5].tolist()} ({differ.size} in all); pass check_gt=False "
                    "to ignore"
                )
    # mmpose mpii_dataset.py:152: transpose [2, 0, 1] → (N, corner, x/y)
    return hb.transpose(2, 0, 1).reshape(n, 4)


def read_mpii_mmpose(
    json_file: str | Path,
    headbox_file: str | Path | None = None,
    split: str | None = None,
    image_root: str | Path | None = None,
    check_images: bool = False,
    drop_bad_head: bool | None = None,
    check_gt: bool = True,
) -> MpiiIndex:
    """Read mmpose's ``mpii_{split}.json`` (and, for PCKh, ``mpii_gt_val.mat``'s head boxes) into an index.

    Entries whose ``center`` is −1 (no centre), with no visible-flagged joint, or (``drop_bad_head``; default: for
    val, not train) with a head box of zero size are skipped and counted; joints with ``joints_vis`` 0 are kept
    unlabelled. The head-box file is indexed in JSON order: its count must equal the JSON's, and where it holds
    ``jnt_missing`` / ``pos_gt_src`` they must agree with ``joints_vis`` / ``joints`` (``check_gt``). ``split``
    defaults to the file name's.
    """
    json_file = Path(json_file)
    if not json_file.is_file():
        raise FileNotFoundError(f"mmpose MPII annotation file not found: {json_file}")
    entries = _load_json_list(json_file)
    n = len(entries)
    images, centers, scales, joints, vis = _entry_arrays(json_file, entries)
    if split is None:
        split = json_file.stem.removeprefix("mpii_")
    heads = None
    if headbox_file is not None:
        heads = _read_headboxes(Path(headbox_file), json_file, n, joints, vis, check_gt)
    builder = _Builder(image_root, check_images, drop_bad_head, split)
    labelled = vis > 0
    bad = np.flatnonzero((labelled & ~np.isfinite(joints).all(axis=2)).any(axis=1))
    if bad.size:
        raise ValueError(f"{json_file}: entry {bad[0]} ({images[bad[0]]}): a labelled joint has non-finite coordinates")
    centers[(centers == -1).all(axis=1)] = np.nan  # mmpose mpii_dataset.py:170: center −1 = no centre
    for i in range(n):
        builder.add(
            (i, 0), images[i], centers[i], scales[i], None if heads is None else heads[i], joints[i], labelled[i]
        )
    return builder.build(json_file, "mmpose", split)


def load_mpii_index(root: str | Path, split: str, form: str = "auto", **kwargs) -> MpiiIndex:
    """The index of ``split`` under a dataset ``root`` in either form (module docstring); ``form="auto"`` picks the
    one present (deephar's where both are). Images are looked for in ``root/images``. ``kwargs`` go to the reader."""
    root = Path(root)
    deephar_file = root / "annotations.mat"
    json_file = root / "annotations" / f"mpii_{split}.json"
    if form == "auto":
        if not deephar_file.is_file() and not json_file.is_file():
            raise FileNotFoundError(
                f"no MPII annotations under {root}: expected {deephar_file} (deephar) or {json_file} (mmpose)"
            )
        form = "deephar" if deephar_file.is_file() else "mmpose"
        if deephar_file.is_file() and json_file.is_file():
            log.info("%s holds both MPII forms; reading deephar's (pass form='mmpose' for the other)", root)
    kwargs.setdefault("image_root", root / "images")
    if form == "deephar":
        return read_mpii_deephar(deephar_file, split, **kwargs)
    if form == "mmpose":
        headbox_file = root / "annotations" / f"mpii_gt_{split}.mat"
        return read_mpii_mmpose(json_file, headbox_file if headbox_file.is_file() else None, split, **kwargs)
    raise ValueError(f"unknown MPII form {form!r}: 'auto', 'deephar' or 'mmpose'")
