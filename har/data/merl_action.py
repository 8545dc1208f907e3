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
  official five classes). Labels are normalised with :mod:`har.data.merl_classes`; an unknown label is an error
  naming it, the clip and the file, and so is a clip whose frames disagree.
- **Boxes**: a malformed ``person_bbox`` (not 4 finite numbers, or x2 ≤ x1 or y2 ≤ y1) is an error naming the
  record (``on_bad_box="error"``, the default: a bad box usually means a bad converter), or is treated as no box
  (``"empty"``, counted). Frames without a box take the nearest frame's box, else the whole frame
  (:func:`har.data.clips.fill_empty_boxes`).
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

import cv2
import numpy as np

from har.data.clips import ClipAugmentation, ClipDataset, ClipSampler, ClipTransform, MultiClipDataset, parse_box
from har.data.loaders import LoaderDataModule
from har.data.merl_classes import DEFAULT_ALIASES, MERL_CLASSES, label_key, label_table

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

    ``aliases`` defaults to :data:`~har.data.merl_classes.DEFAULT_ALIASES`; pass ``{}`` for none.
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


def read_frame_bytes(path: str, clip_id: str) -> np.ndarray:
    """A frame file's bytes; OSError naming the file and the clip when it is missing."""
    if not os.path.isfile(path):
        raise OSError(f"frame {path} (clip {clip_id!r}) missing")
    return np.fromfile(path, dtype=np.uint8)


def read_frame(path: str, clip_id: str) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB; OSError naming the file and the clip when it cannot be read."""
    data = read_frame_bytes(path, clip_id)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise OSError(f"frame {path} (clip {clip_id!r}) cannot be decoded")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class MerlActionDataset(ClipDataset):
    """Clips of a :class:`MerlActionIndex`; items as :class:`~har.data.clips.ClipDataset` describes, with
    ``frame_indices`` = positions in the clip's ordered frames and, when the index has keypoints, ``keypoints``
    (T, J, 3) in image pixels and ``keypoints_crop`` (T, J, 3) in crop pixels (joints swapped on a flip)."""

    def __init__(self, index: MerlActionIndex, sampler: ClipSampler, transform: ClipTransform, train: bool,
                 roi_decode: bool = True) -> None:  # fmt: skip
        super().__init__(sampler, transform, train, index.classes, roi_decode)
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def clip_length(self, i: int) -> int:
        return int(self.index.clip_length[i])

    def read_encoded(self, i: int, positions: np.ndarray) -> list[tuple[np.ndarray, str]]:
        first = self.index.frames(i).start
        paths = [self.index.frame_path(first + int(p)) for p in positions]
        return [(read_frame_bytes(path, self.clip_id(i)), path) for path in paths]

    def read_frames(self, i: int, positions: np.ndarray) -> list[np.ndarray]:
        first = self.index.frames(i).start
        decoded = {int(p): read_frame(self.index.frame_path(first + p), self.clip_id(i)) for p in np.unique(positions)}
        return [decoded[int(p)] for p in positions]

    def clip_boxes(self, i: int) -> np.ndarray:
        return self.index.boxes[self.index.frames(i)]

    def label(self, i: int) -> int:
        return int(self.index.labels[i])

    def clip_id(self, i: int) -> str:
        return str(self.index.clip_ids[i])

    def keypoints(self, i: int, positions: np.ndarray) -> np.ndarray | None:
        if self.index.keypoints is None:
            return None
        return self.index.keypoints[self.index.frames(i)][positions]


def check_clip_args(hp: Mapping) -> None:
    """Fails at construction, not at setup, on bad sampling/crop/augmentation arguments."""
    ClipSampler(hp["num_frames"], hp["sampling"], tuple(hp["strides"]), hp["eval_stride"])
    ClipTransform(hp["input_size"], hp["crop"], hp["padding"])
    if hp["augment"] is not None:
        ClipAugmentation(**hp["augment"])


class ClipDataModule(LoaderDataModule):
    """What the clip datamodules share: sampler and transform from their arguments, and the DataLoaders.

    Subclasses define ``classes`` and ``build_dataset(split, train)``; ``setup`` builds the stage's splits into
    ``self.datasets`` ("train", "val", "test"; predict uses "test").
    """

    datasets: dict[str, ClipDataset]

    def _clip_parts(self, train: bool, flip_index: np.ndarray | None = None) -> tuple[ClipSampler, ClipTransform]:
        hp = self.hparams
        sampler = ClipSampler(hp.num_frames, hp.sampling, tuple(hp.strides), hp.eval_stride)
        augment = ClipAugmentation(**hp.augment) if (train and hp.augment is not None) else None
        return sampler, ClipTransform(hp.input_size, hp.crop, hp.padding, augment, flip_index)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names (label = index), known before ``setup``."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def build_dataset(self, split: str, train: bool) -> ClipDataset:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        wanted = {"fit": [("train", True), ("val", False)], "validate": [("val", False)],
                  "test": [("test", False)], "predict": [("test", False)]}  # fmt: skip
        for name, train in wanted.get(stage, wanted["fit"] + wanted["test"]):
            if name not in self.datasets:
                self.datasets[name] = self.build_dataset(name, train)
        test_clips, test_flip = self.hparams.get("test_clips", 1), self.hparams.get("test_flip", False)
        if "test" in self.datasets and (test_clips > 1 or test_flip) and not isinstance(self.datasets["test"],
                                                                                        MultiClipDataset):  # fmt: skip
            self.datasets["test"] = MultiClipDataset(self.datasets["test"], test_clips, test_flip)


class MerlActionDataModule(ClipDataModule):
    """Clips of the fork's action JSON files (see the module docstring).

    Args:
        root: folder of the JSON files (``${paths.data_dir}/merl/action``).
        files: split → JSON file (relative to ``root``, or absolute): ``train``, ``val``, ``test`` (default
            ``merl_action_{split}.json``, as ``conf/data/merl_action.yaml``).
        classes: class names (label = index); the official five by default (the fork's own: ``FORK_CLASSES``).
        aliases: extra label spellings (alias → class name), added to ``DEFAULT_ALIASES``.
        label_source: ``action`` or ``id_suffix``.
        num_frames: T.
        input_size: crop (H, W).
        sampling: ``window`` (deephar) or ``subset`` (the fork), see :class:`~har.data.clips.ClipSampler`.
        strides: training strides (``window``); eval_stride: the evaluation stride.
        crop: ``clip`` (one window per clip) or ``frame``; padding: window over box size.
        augment: training augmentation (fields of :class:`~har.data.clips.ClipAugmentation`), or None.
        batch_size, num_workers, pin_memory, persistent_workers: DataLoader settings.
        on_missing_frame: ``error`` or ``skip``; on_bad_box: ``error`` or ``empty``.
        use_keypoints: read the records' keypoints (image pixels); keypoints_layout: their joint layout (flip pairs).
        test_clips, test_flip: multi-clip testing (:class:`~har.data.clips.MultiClipDataset`): each test clip as
            ``test_clips`` windows spread over it, and mirrored with ``test_flip``; probabilities averaged per clip.
        synthetic: generator parameters for ``har.data.synthetic_merl.ensure_synthetic_merl``: ``prepare_data``
            writes (or reuses) the synthetic set in ``root``'s parent, whose ``action`` folder ``root`` must be (its
            files are ``merl_action_{train,val,test}.json``); None for real data.
        roi_decode: decode only the part of each JPEG frame its crop reads (libjpeg-turbo, :mod:`har.data.jpeg_roi`):
            the same samples as whole frames give, faster; frames that are not plain JPEGs are decoded whole.
    """

    def __init__(
        self,
        root: str,
        files: Mapping[str, str] | None = None,
        classes: Sequence[str] = MERL_CLASSES,
        aliases: Mapping[str, str] | None = None,
        label_source: str = "action",
        num_frames: int = 8,
        input_size: tuple[int, int] = (256, 256),
        sampling: str = "window",
        strides: Sequence[int] = (1, 2, 3),
        eval_stride: int = 2,
        crop: str = "clip",
        padding: float = 1.25,
        augment: dict | None = None,
        batch_size: int = 8,
        num_workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        on_missing_frame: str = "error",
        on_bad_box: str = "error",
        use_keypoints: bool = False,
        keypoints_layout: str | None = None,
        test_clips: int = 1,
        test_flip: bool = False,
        synthetic: dict | None = None,
        roi_decode: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.hparams.files = dict(files or {s: f"merl_action_{s}.json" for s in ("train", "val", "test")})
        self.hparams.classes = list(classes)
        self.hparams.aliases = {**DEFAULT_ALIASES, **(aliases or {})}  # extra spellings on top of the defaults
        self.hparams.input_size = (int(input_size[0]), int(input_size[1]))
        self.root = Path(root)
        self.datasets = {}
        check_clip_args(self.hparams)

    def prepare_data(self) -> None:
        if self.hparams.synthetic is not None:
            from har.data.synthetic_merl import ensure_synthetic_merl

            if self.root.name != "action":
                raise ValueError(f"synthetic data: root must be <generator root>/action, got {self.root}")
            ensure_synthetic_merl(self.root.parent, **self.hparams.synthetic)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.hparams.classes)

    def json_file(self, split: str) -> Path:
        return self.root / self.hparams.files[split]

    def build_dataset(self, split: str, train: bool) -> MerlActionDataset:
        hp = self.hparams
        index = load_merl_action_index(self.json_file(split), hp.classes, hp.aliases, hp.label_source,
                                       hp.on_missing_frame, hp.on_bad_box, hp.use_keypoints)  # fmt: skip
        flip_index = None
        if index.keypoints is not None:
            if hp.keypoints_layout is None:
                raise ValueError(f"{index.json_file} has keypoints: set keypoints_layout (its flip pairs)")
            from har.layouts import get_layout

            layout = get_layout(hp.keypoints_layout)
            if layout.num_joints != index.keypoints.shape[1]:
                raise ValueError(f"{index.json_file}: {index.keypoints.shape[1]} joints per record, layout "
                                 f"{layout.name!r} has {layout.num_joints}")  # fmt: skip
            flip_index = layout.flip_index
        sampler, transform = self._clip_parts(train, flip_index)
        log.info("%s: %d clips, %d frames (%s split)", index.json_file, len(index), len(index.frame_files), split)
        return MerlActionDataset(index, sampler, transform, train, hp.roi_decode)
