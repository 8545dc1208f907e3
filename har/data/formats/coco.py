"""COCO person-keypoints reader: a compact, validated index of person instances.

Reads ``person_keypoints_<split>.json`` as COCO 2017 writes it (the synthetic generator writes the same format),
validates every record and keeps only numpy arrays, so DataLoader workers share it without copy-on-access growth
(no per-instance Python dicts survive the load).

The built index is cached as an ``.npz`` next to the annotation file (or, where that folder is read-only, under
``$HAR_CACHE_DIR/coco_index`` / ``~/.cache/har/coco_index``), keyed by the file's size and modification time, the
joint count, the filters and :data:`CACHE_VERSION`, so a second start reads arrays instead of parsing JSON. A stale,
foreign or corrupt cache file is ignored and rebuilt.

One module on purpose (about 600 lines): the record validation, the two products built from it (the training
index and the ground truth for keypoint AP) and their cache share the record rules and the cache keying; split
apart, each part would reach into the others' internals.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import orjson

from har.utils.io import atomic_path, cache_root

log = logging.getLogger(__name__)

CACHE_FORMAT = "har.coco_index"
CACHE_VERSION = 3  # bump when the index's content or the cache layout changes: older caches are then ignored
CACHE_SUFFIX = ".har-index.npz"


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
        bad_records: list of ``(annotation id, reason)`` for malformed records (not for filtered ones); the id is -1
            where the record has no integer ``id``.
        cache_file: the index cache this index was read from or saved to (None: no cache).
        from_cache: whether it was read from ``cache_file`` rather than built from the JSON.
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
    cache_file: Path | None = None
    from_cache: bool = False

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


@dataclass
class CocoGroundTruth:
    """The ground truth of one COCO split for keypoint AP: every well-formed person record, as flat arrays.

    Unlike :class:`CocoIndex` (the instances trained on), crowd regions, records without labelled joints and tiny
    boxes stay in: COCOeval needs them as ignore regions (crowd, ``num_keypoints == 0``) and as people to find, as on
    the official file. Malformed records (the index's bad records: wrong lengths, non-numeric or non-finite values,
    empty or out-of-image boxes, missing or repeated ids) are left out, so annotation ids are unique. Values are
    float64, as in the file.

    Attributes:
        image_ids: (I,) int64 COCO image ids (unique).
        image_sizes: (I, 2) int32 (width, height).
        ann_ids: (M,) int64 annotation ids (unique).
        ann_image: (M,) int32 row of the record's image in the image arrays.
        keypoints: (M, J, 3) float64 x, y, v.
        bboxes: (M, 4) float64 x, y, w, h.
        areas: (M,) float64 ``area`` (w·h where a record has none).
        iscrowd: (M,) bool.
        skipped, bad_records: the malformed records removed, as in :class:`CocoIndex`.
    """

    ann_file: Path
    image_ids: np.ndarray
    image_sizes: np.ndarray
    ann_ids: np.ndarray
    ann_image: np.ndarray
    keypoints: np.ndarray
    bboxes: np.ndarray
    areas: np.ndarray
    iscrowd: np.ndarray
    skipped: Counter = field(default_factory=Counter)
    bad_records: list = field(default_factory=list)
    cache_file: Path | None = None
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.ann_ids)

    def summary(self) -> str:
        labelled = (self.keypoints[..., 2] > 0).any(axis=1)
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return (
            f"{self.ann_file}: {len(self)} ground-truth records for keypoint AP ({int(self.iscrowd.sum())} crowd, "
            f"{int((~labelled & ~self.iscrowd).sum())} without labelled joints)"
            + (f"; removed: {parts}" if parts else "")
        )


# --- Reading and validating the JSON ----------------------------------------------------------------------------

_IMAGE_KEYS = frozenset({"id", "file_name", "width", "height"})
_NUMBER_TYPES = frozenset({int, float, bool})  # what float() accepts among the types JSON decodes to


@contextmanager
def _gc_paused():
    """Pause the cyclic GC: parsing creates millions of containers (no cycles) and would trigger it thousands of
    times, each full pass walking everything parsed so far."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"COCO annotation file not found: {path}")
    raw = path.read_bytes()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:  # the standard parser also reads the NaN / Infinity literals Python's json.dump writes
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
    del raw
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("images"), list)
        or not isinstance(data.get("annotations"), list)
    ):
        raise ValueError(
            f"{path}: not a COCO annotation file (expected an object with 'images' and 'annotations' lists)"
        )
    return data


def _numeric_array(values: list) -> np.ndarray | None:
    """``np.array(values)`` when every leaf is a number (dtype bool/int/float), else None (strings, None, ragged)."""
    try:
        arr = np.array(values)
    except (ValueError, TypeError, OverflowError):
        return None
    return arr if arr.dtype.kind in "biuf" else None


def _number_rows(values: list, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of ``width`` numbers as one array, checked.

    Returns ``(array (n, width), shape_ok, numeric_ok)``: ``shape_ok`` where the value is a list of ``width`` items,
    ``numeric_ok`` where those items are all numbers. Rows failing either are zeros in the array. The common case (all
    rows fine) is a single numpy conversion; rows are inspected one by one only when that fails.
    """
    n = len(values)
    try:  # fast path: every value has `width` items, all numbers
        if n and (np.fromiter(map(len, values), np.int64, n) == width).all():
            arr = _numeric_array(values)  # None for a str or an object of `width` items (not numbers)
            if arr is not None and arr.shape == (n, width):
                return arr, np.ones(n, bool), np.ones(n, bool)
    except TypeError:  # a value without a length (None, a number)
        pass
    shape_ok = np.fromiter((type(v) is list and len(v) == width for v in values), bool, n)
    out = np.zeros((n, width), np.float64)
    numeric = np.zeros(n, bool)
    for i in np.flatnonzero(shape_ok):
        row = values[i]
        if all(type(x) in _NUMBER_TYPES for x in row):
            try:
                out[i] = row
                numeric[i] = True
            except OverflowError:  # an integer too large for a float
                pass
    return out, shape_ok, numeric


def _int_ids(values: list) -> tuple[np.ndarray, np.ndarray]:
    """Integer ids as int64 (-1 for a missing or non-integer id), and where the id is an integer."""
    arr = _numeric_array(values)
    if arr is not None and arr.dtype.kind in "iu" and arr.ndim == 1:
        return arr.astype(np.int64), np.ones(len(values), bool)
    ok = np.fromiter((type(v) is int and -(2**63) <= v < 2**63 for v in values), bool, len(values))
    return np.array([v if good else -1 for v, good in zip(values, ok)], np.int64), ok


def _float_values(values: list) -> np.ndarray:
    """Numbers as float64, NaN for a missing or non-numeric value."""
    arr = _numeric_array(values)
    if arr is not None and arr.ndim == 1:
        return arr.astype(np.float64)
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if type(v) in _NUMBER_TYPES:
            with suppress(OverflowError):  # an integer too large for a float
                out[i] = v
    return out


def _flags(values: list) -> np.ndarray:
    """Truth of each value, as bool."""
    arr = _numeric_array(values)
    if arr is not None and arr.ndim == 1:
        return arr != 0
    return np.fromiter(map(bool, values), bool, len(values))


def _image_rows(image_rows: dict, image_ids: list) -> np.ndarray:
    """Row of each annotation's image, -1 where the id is unknown."""
    get = image_rows.get
    try:
        return np.array([get(i, -1) for i in image_ids], np.int64)
    except TypeError:  # an unhashable image_id (a list or an object)
        return np.array([get(i, -1) if i.__hash__ is not None else -1 for i in image_ids], np.int64)


class _Records(NamedTuple):
    """The person records of a file after validation: every record, good or not."""

    image_ids: np.ndarray  # (I,) int64
    image_files: np.ndarray  # (I,) str
    image_sizes: np.ndarray  # (I, 2) int32 (width, height)
    anns: list  # (n,) the person annotations, {} for one that is not an object
    ok: np.ndarray  # (n,) bool: well formed
    rows: np.ndarray  # (n,) int64 image row, -1 for an unknown image_id
    ann_ids: np.ndarray  # (n,) int64, -1 where missing
    kps: np.ndarray  # (n, 3J) numbers as parsed (int64 where all are integers, else float64), zeros where bad
    box: np.ndarray  # (n, 4) likewise
    skipped: Counter  # malformed records by reason
    bad: list  # (annotation id, reason) of each malformed record

    def areas(self, at: np.ndarray) -> np.ndarray:
        """(len(at),) float64 ``area`` of the records ``at``, w·h of the box where a record has no usable area."""
        areas = _float_values([self.anns[i].get("area") for i in at.tolist()])
        return np.where(np.isfinite(areas), areas, self.box[at, 2] * self.box[at, 3])


def _validate(ann_file: Path, data: dict, num_joints: int) -> _Records:
    images = data["images"]
    for row, img in enumerate(images):
        if type(img) is not dict or not img.keys() >= _IMAGE_KEYS:
            raise ValueError(f"{ann_file}: images[{row}] lacks id, file_name, width or height")
    try:
        image_rows = {img["id"]: row for row, img in enumerate(images)}
        image_ids = np.array([img["id"] for img in images], dtype=np.int64)
        image_files = np.array([img["file_name"] for img in images], dtype=str)
        image_sizes = np.array([(img["width"], img["height"]) for img in images], dtype=np.int32).reshape(-1, 2)
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"{ann_file}: images need integer id, width and height and a file_name ({e})") from None
    if len(image_rows) != len(images):
        raise ValueError(f"{ann_file}: {len(images) - len(image_rows)} duplicate image ids in images")

    # Person annotations (category 1, or none given); anything that is not an object is kept to be reported.
    anns = [a for a in data["annotations"] if type(a) is not dict or a.get("category_id", 1) == 1]
    n = len(anns)
    not_object = np.fromiter((type(a) is not dict for a in anns), bool, n)
    if not_object.any():
        anns = [a if type(a) is dict else {} for a in anns]

    rows = _image_rows(image_rows, [a.get("image_id") for a in anns])
    kps, kps_shape, kps_numeric = _number_rows([a.get("keypoints") for a in anns], 3 * num_joints)
    box, box_shape, box_numeric = _number_rows([a.get("bbox") for a in anns], 4)
    ann_ids, has_id = _int_ids([a.get("id") for a in anns])
    shaped = kps_shape & box_shape
    finite = np.isfinite(kps).all(axis=1) & np.isfinite(box).all(axis=1)
    size = image_sizes[np.maximum(rows, 0)] if len(images) else np.zeros((n, 2))
    x, y, w, h = box.T
    # In the order the reasons are reported: a bad record gets the first that applies (each mask need only be right
    # where the earlier ones are false).
    checks = [
        ("annotation is not an object", not_object),
        ("unknown image_id", rows < 0),
        (f"keypoints not 3x{num_joints} long", ~kps_shape),
        ("bbox not [x, y, w, h]", ~box_shape),
        ("non-numeric keypoints or bbox", shaped & ~(kps_numeric & box_numeric)),
        ("NaN or infinite coordinates", ~finite),
        ("bbox width or height <= 0", (w <= 0) | (h <= 0)),
        # an image of unknown size (0: MERL pose records may lack one) has no outside
        (
            "bbox wholly outside the image",
            ((x >= size[:, 0]) & (size[:, 0] > 0))
            | ((y >= size[:, 1]) & (size[:, 1] > 0))
            | (x + w <= 0)
            | (y + h <= 0),
        ),
        ("annotation id missing or not an integer", ~has_id),
    ]
    code = np.zeros(n, np.int8)  # 1 + index into `checks`; 0 = fine. Assigned from the last check to the first.
    for k in range(len(checks) - 1, -1, -1):
        code[checks[k][1]] = k + 1
    # Annotation ids must be unique (COCOeval looks records up by id): the first good record with an id keeps it.
    good = np.flatnonzero(code == 0)
    first = np.unique(ann_ids[good], return_index=True)[1]
    code[np.setdiff1d(good, good[first], assume_unique=True)] = len(checks) + 1
    reasons = [None, *(reason for reason, _ in checks), "duplicate annotation id"]

    bad_at = np.flatnonzero(code)
    bad_reasons = [reasons[c] for c in code[bad_at].tolist()]
    return _Records(image_ids, image_files, image_sizes, anns, code == 0, rows, ann_ids, kps, box,
                    Counter(bad_reasons), list(zip(ann_ids[bad_at].tolist(), bad_reasons)))  # fmt: skip


def _build_index(ann_file: Path, data: dict, num_joints: int, filters: CocoFilters) -> CocoIndex:
    r = _validate(ann_file, data, num_joints)
    kps, box, skipped = r.kps, r.box, r.skipped
    # Filters, in order: an instance is counted under the first one that removes it.
    ok = r.ok
    crowd = ok & _flags([a.get("iscrowd", 0) for a in r.anns]) if filters.drop_crowd else ok & False
    rest = ok & ~crowd
    few = rest & ((kps[:, 2::3] > 0).sum(axis=1) < filters.min_keypoints)
    rest &= ~few
    tiny = rest & (np.minimum(box[:, 2], box[:, 3]) < filters.min_box_size)
    kept = np.flatnonzero(rest & ~tiny)
    for reason, mask in (
        ("crowd", crowd),
        (f"fewer than {filters.min_keypoints} labelled keypoints", few),
        (f"box smaller than {filters.min_box_size}px", tiny),
    ):
        if count := int(mask.sum()):
            skipped[reason] = count

    return CocoIndex(
        ann_file=ann_file,
        image_ids=r.image_ids,
        image_files=r.image_files,
        image_sizes=r.image_sizes,
        ann_ids=r.ann_ids[kept],
        ann_image=r.rows[kept].astype(np.int32),
        bboxes=box[kept].astype(np.float32),
        keypoints=kps[kept].astype(np.float32).reshape(len(kept), num_joints, 3),
        areas=r.areas(kept).astype(np.float32),
        skipped=skipped,
        bad_records=r.bad,
    )


def _build_ground_truth(ann_file: Path, data: dict, num_joints: int) -> CocoGroundTruth:
    r = _validate(ann_file, data, num_joints)
    at = np.flatnonzero(r.ok)
    return CocoGroundTruth(
        ann_file=ann_file,
        image_ids=r.image_ids,
        image_sizes=r.image_sizes,
        ann_ids=r.ann_ids[at],
        ann_image=r.rows[at].astype(np.int32),
        keypoints=r.kps[at].astype(np.float64).reshape(len(at), num_joints, 3),
        bboxes=r.box[at].astype(np.float64),
        areas=r.areas(at),
        iscrowd=_flags([r.anns[i].get("iscrowd", 0) for i in at.tolist()]),
        skipped=r.skipped,
        bad_records=r.bad,
    )


# --- The cache --------------------------------------------------------------------------------------------------

_ARRAYS = ("image_ids", "image_files", "image_sizes", "ann_ids", "ann_image", "bboxes", "keypoints", "areas")
_GT_ARRAYS = ("image_ids", "image_sizes", "ann_ids", "ann_image", "keypoints", "bboxes", "areas", "iscrowd")
GT_CACHE_FORMAT = "har.coco_ground_truth"
_KINDS = {CocoIndex: (CACHE_FORMAT, _ARRAYS), CocoGroundTruth: (GT_CACHE_FORMAT, _GT_ARRAYS)}  # what a cache holds


def default_cache_dir() -> Path:
    """Where index caches go when the annotation folder is read-only: ``$HAR_CACHE_DIR/coco_index``, else
    ``~/.cache/har/coco_index``."""
    return cache_root() / "coco_index"


def _digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _cache_key(
    ann_file: Path, stat: os.stat_result, num_joints: int, filters: CocoFilters | None, kind: type = CocoIndex
) -> tuple[str, list[Path]]:
    """The key stored in (and checked against) a cache file, and the cache's paths in the order they are tried.

    The file name is ``<annotation file name>.<hash of size, mtime>-<hash of settings>.har-index.npz``, so caches of
    other settings (and the ground truth's, ``kind`` :class:`CocoGroundTruth`) live side by side and those of an
    earlier state of the file can be recognised and removed.
    """
    source = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    config = {"format": _KINDS[kind][0], "version": CACHE_VERSION, "num_joints": num_joints,
              "filters": asdict(filters) if filters else None}  # fmt: skip
    key = json.dumps({"file": ann_file.name, **source, **config}, sort_keys=True)
    name = f"{ann_file.name}.{_digest(json.dumps(source, sort_keys=True), 10)}-"
    name += f"{_digest(json.dumps(config, sort_keys=True), 10)}{CACHE_SUFFIX}"
    return key, [ann_file.parent / name, default_cache_dir() / _digest(str(ann_file.parent.resolve()), 16) / name]


def cache_paths(ann_file: str | Path, num_joints: int = 17, filters: CocoFilters | None = None) -> list[Path]:
    """Where the index cache of ``ann_file`` is looked for, in order: next to it, then in :func:`default_cache_dir`
    (in a folder named from a hash of the annotation folder's absolute path). Caches are written to the first
    writable one."""
    ann_file = Path(ann_file)
    return _cache_key(ann_file, ann_file.stat(), num_joints, filters or CocoFilters())[1]


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically: into a temporary sibling, then renamed over it."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _remove_stale(path: Path, ann_file: Path) -> None:
    """Delete caches of ``ann_file`` in ``path``'s folder made from another state of the file (best effort)."""
    prefix = f"{ann_file.name}."
    source = path.name[len(prefix) :].split("-", 1)[0]
    for other in path.parent.glob(f"*{CACHE_SUFFIX}"):
        if other.name.startswith(prefix) and other.name[len(prefix) :].split("-", 1)[0] != source:
            with suppress(OSError):
                other.unlink()


def _write_cache(index: CocoIndex | CocoGroundTruth, key: str, paths: list[Path]) -> Path | None:
    arrays = {name: getattr(index, name) for name in _KINDS[type(index)][1]}
    arrays.update(
        key=np.array(key),
        skipped_reasons=np.array(list(index.skipped), dtype=str),
        skipped_counts=np.array(list(index.skipped.values()), dtype=np.int64),
        bad_ids=np.array([i for i, _ in index.bad_records], dtype=np.int64),
        bad_reasons=np.array([r for _, r in index.bad_records], dtype=str),
    )
    failures = []
    for path in paths:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _save_npz(path, arrays)
        except OSError as e:
            failures.append(f"{path.parent}: {e.strerror or e}")
            continue
        _remove_stale(path, index.ann_file)
        return path
    log.warning("cannot write the COCO index cache (%s); continuing without it", "; ".join(failures))
    return None


def _check_cached(a: dict[str, np.ndarray], num_joints: int, kind: type = CocoIndex) -> None:
    """Raise ValueError unless the arrays read from a cache form a consistent index (or ground truth)."""
    n, i = len(a["ann_ids"]), len(a["image_ids"])
    expected = {
        "image_ids": ("i", (i,)),
        **({"image_files": ("U", (i,))} if kind is CocoIndex else {"iscrowd": ("b", (n,))}),
        "image_sizes": ("i", (i, 2)),
        "ann_ids": ("i", (n,)),
        "ann_image": ("i", (n,)),
        "bboxes": ("f", (n, 4)),
        "keypoints": ("f", (n, num_joints, 3)),
        "areas": ("f", (n,)),
        "skipped_counts": ("i", (len(a["skipped_reasons"]),)),
        "bad_ids": ("i", (len(a["bad_reasons"]),)),
    }
    for name, (kind, shape) in expected.items():
        if a[name].dtype.kind != kind or a[name].shape != shape:
            raise ValueError(f"{name} has dtype {a[name].dtype} and shape {a[name].shape}")
    if n and (a["ann_image"].min() < 0 or a["ann_image"].max() >= i):
        raise ValueError("ann_image points outside the image table")


def _read_cache(
    path: Path, key: str, ann_file: Path, num_joints: int, kind: type = CocoIndex
) -> CocoIndex | CocoGroundTruth | None:
    """The index (or ground truth: ``kind``) stored at ``path`` if it is a readable cache made with ``key``, else
    None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"][()]) != key:
                log.info("ignoring the COCO index cache %s: made for another file state or settings", path)
                return None
            a = {name: z[name] for name in z.files}
        _check_cached(a, num_joints, kind)
    except Exception as e:  # any unreadable, truncated or inconsistent file: rebuild rather than trust it
        log.warning("ignoring the unreadable COCO index cache %s (%s: %s); rebuilding it", path, type(e).__name__, e)
        return None
    return kind(
        ann_file=ann_file,
        **{name: a[name] for name in _KINDS[kind][1]},
        skipped=Counter(dict(zip(a["skipped_reasons"].tolist(), a["skipped_counts"].tolist()))),
        bad_records=list(zip(a["bad_ids"].tolist(), a["bad_reasons"].tolist())),
        cache_file=path,
        from_cache=True,
    )


def _load(ann_file: Path, num_joints: int, filters: CocoFilters | None, cache: bool, kind: type):
    """The index (or ground truth: ``kind``) of ``ann_file``, from its cache or built (and cached)."""
    if not ann_file.is_file():
        raise FileNotFoundError(f"COCO annotation file not found: {ann_file}")
    index = None
    if cache:
        stat = ann_file.stat()  # before reading: a file changed while being read is then keyed by its old state
        key, paths = _cache_key(ann_file, stat, num_joints, filters, kind)
        index = next((i for p in paths if (i := _read_cache(p, key, ann_file, num_joints, kind)) is not None), None)
    if index is None:
        with _gc_paused():
            data = _load_json(ann_file)
            if kind is CocoIndex:
                index = _build_index(ann_file, data, num_joints, filters)
            else:
                index = _build_ground_truth(ann_file, data, num_joints)
            del data
        if cache:
            after = ann_file.stat()
            if (after.st_size, after.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                index.cache_file = _write_cache(index, key, paths)
            else:
                log.warning("%s changed while being read; not caching its index", ann_file)
    return index


def load_coco_index(
    ann_file: str | Path,
    num_joints: int = 17,
    filters: CocoFilters | None = None,
    cache: bool = True,
    verbose: bool = True,
) -> CocoIndex:
    """Read and validate a COCO person-keypoints file into a :class:`CocoIndex`.

    Malformed records (unknown image id, wrong keypoint length, bad bbox, non-numeric values, NaN) are skipped, counted
    and listed in ``bad_records``; filtered instances (crowd, too few keypoints, tiny boxes) are counted. A missing file
    or a file that is not COCO raises an error naming it.

    Args:
        cache: read the index from its cache when one matches the file (size, mtime), ``num_joints`` and ``filters``;
            otherwise build it and save the cache (see :func:`cache_paths`). False: always build, write nothing.
        verbose: log the one-line summary at INFO (else DEBUG), for callers that report it themselves.
    """
    index = _load(Path(ann_file), num_joints, filters or CocoFilters(), cache, CocoIndex)
    source = f" (index cache {index.cache_file})" if index.from_cache else ""
    log.log(logging.INFO if verbose else logging.DEBUG, "%s%s", index.summary(), source)
    return index


def load_coco_ground_truth(ann_file: str | Path, num_joints: int = 17, cache: bool = True) -> CocoGroundTruth:
    """Read and validate a COCO person-keypoints file into a :class:`CocoGroundTruth` for keypoint AP: the same
    validation as :func:`load_coco_index` (the same records removed), none of its filters. Cached like the index
    (``cache``), in a file of its own."""
    gt = _load(Path(ann_file), num_joints, None, cache, CocoGroundTruth)
    log.debug("%s", gt.summary())
    return gt
