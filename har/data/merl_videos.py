"""MERL Shopping action clips read directly from the official release (``data=merl_videos``).

Layout under ``root``::

    Videos_MERL_Shopping_Dataset/{subject}_{session}_crop.mp4     920×680, 30 fps, ~2 minutes each
    Labels_MERL_Shopping_Dataset/{subject}_{session}_label.mat    tlabs: (5, 1) cells, one per class

- **Labels**: ``tlabs`` holds, per class in the order of :data:`~har.data.merl_classes.MERL_CLASSES`, an N × 2 array
  of [start_frame, end_frame] segments. ``frame_base=1`` (the default) reads them as MATLAB writes frame numbers:
  1-based, both ends inclusive; ``frame_base=0`` reads 0-based inclusive. (The release's numbering was not checked
  against real files here; a wrong base shows as segments ending one frame past the video, which
  ``on_segment_overflow="error"`` reports.) Internally a segment is 0-based half-open ``[start, stop)``.
- **Samples**: each labelled segment of a class in ``classes`` is one sample (``classes`` may be any subset of the
  five, in any order, in any spelling :mod:`~har.data.merl_classes` normalises). With ``background=True`` the frames
  in no segment of any class form an extra last class, ``Background``, cut into segments of ``background_length``
  frames (a shorter remainder is kept when it has at least ``background_min_length`` frames, default T).
- **Split**: by subject; the paper's split is train 1–20, validation 21–26, test 27–41 (``splits``, each a list of
  subject ids or a string like ``"1-20"`` / ``"1-5,9"``).
- **Segments beyond the video** (end past the last frame): an error naming the file, the class and the segment
  (``on_segment_overflow="error"``, the default: it usually means a wrong ``frame_base``), or ``"clip"``: cut at the
  last frame (a segment starting past it is dropped), each with a logged warning.
- **Boxes**: ``boxes_file`` (optional, JSON; relative to ``root``): video stem (``{subject}_{session}_crop``) →
  per-frame ``[x1, y1, x2, y2]`` or ``[]``/``null``. Frames without a box take the nearest frame's box within the
  segment, else the whole frame; videos missing from the file, or no file, use the whole frame.
- **Frames**: the videos' frame counts are read once at setup (``CAP_PROP_FRAME_COUNT``, verified by reading the
  last frame, corrected if the container's count is wrong). A sample decodes only its span: one seek
  (``CAP_PROP_POS_FRAMES``) to its first frame, then ``grab()`` forward, ``retrieve()`` only for the frames it uses.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from har.data.clips import ClipDataset, ClipSampler, ClipTransform, parse_box
from har.data.merl_action import ClipDataModule, check_clip_args
from har.data.merl_classes import BACKGROUND, DEFAULT_ALIASES, MERL_CLASSES, label_key, label_table

log = logging.getLogger(__name__)

VIDEOS_DIR = "Videos_MERL_Shopping_Dataset"
LABELS_DIR = "Labels_MERL_Shopping_Dataset"
PAPER_SPLITS = {"train": "1-20", "val": "21-26", "test": "27-41"}
ON_SEGMENT_OVERFLOW = ("error", "clip")

_LABEL_FILE = re.compile(r"^(\d+)_(\d+)_label\.mat$")


def parse_subjects(spec: int | str | Sequence[int | str]) -> frozenset[int]:
    """Subject ids from an int, a string of ids and inclusive ranges (``"1-20,25"``) or a list of either."""
    if isinstance(spec, bool):
        raise ValueError(f"bad subject list {spec!r}")
    if isinstance(spec, int):
        return frozenset([spec])
    if isinstance(spec, str):
        out: set[int] = set()
        for part in filter(None, (p.strip() for p in spec.split(","))):
            match = re.fullmatch(r"(\d+)\s*-\s*(\d+)|(\d+)", part)
            if match is None:
                raise ValueError(f"bad subject list {spec!r}: {part!r} is neither an id nor a range a-b")
            first, last = (int(match[1]), int(match[2])) if match[3] is None else (int(match[3]), int(match[3]))
            out.update(range(first, last + 1))
        return frozenset(out)
    return frozenset().union(*(parse_subjects(s) for s in spec))


def read_tlabs(mat_file: str | Path, frame_base: int = 1, num_classes: int = len(MERL_CLASSES)) -> list[np.ndarray]:
    """Segments of a ``*_label.mat``: per ``tlabs`` cell (class), an (N, 2) int64 array of 0-based half-open
    ``[start, stop)``. Errors name the file (and the class and segment where one is at fault)."""
    mat_file = Path(mat_file)
    try:
        mat = scipy.io.loadmat(str(mat_file))
    except Exception as e:  # scipy raises several types for unreadable files
        raise OSError(f"cannot read MATLAB label file {mat_file}: {e}") from None
    if "tlabs" not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{mat_file}: no 'tlabs' variable (found {found})")
    cells = np.asarray(mat["tlabs"], dtype=object).ravel()
    if len(cells) != num_classes:
        raise ValueError(f"{mat_file}: 'tlabs' has {len(cells)} cells, expected one per class ({num_classes})")
    out = []
    for c, cell in enumerate(cells):
        name = MERL_CLASSES[c] if c < len(MERL_CLASSES) else f"class {c}"
        try:
            arr = np.asarray(cell, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{mat_file}: tlabs cell {c} ({name}) is not numeric") from None
        if arr.size == 0:
            out.append(np.zeros((0, 2), np.int64))
            continue
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"{mat_file}: tlabs cell {c} ({name}) has shape {arr.shape}, expected N × 2")
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{mat_file}: tlabs cell {c} ({name}) holds non-integer frame numbers")
        segments = arr.astype(np.int64) - frame_base
        segments[:, 1] += 1  # inclusive end → half-open stop
        for (start, stop), written in zip(segments, arr.astype(np.int64)):
            if start < 0 or stop <= start:
                raise ValueError(f"{mat_file}: class {name}: bad segment {written.tolist()} (frame_base={frame_base})")
        out.append(segments)
    return out


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


def load_boxes_file(path: str | Path, on_bad_box: str = "error") -> dict[str, np.ndarray]:
    """Video stem → (n, 4) float32 [x1, y1, x2, y2] per frame (NaN rows: no box) from a boxes JSON."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MERL boxes file not found: {path}")
    data = json.loads(path.read_bytes())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object video stem → per-frame boxes")
    out, skipped = {}, Counter()
    for stem, boxes in data.items():
        if not isinstance(boxes, list):
            raise ValueError(f"{path}: video {stem!r}: expected a list of per-frame boxes")
        rows = [parse_box(b, f"{path}: video {stem!r}, frame {f}", on_bad_box, skipped) for f, b in enumerate(boxes)]
        out[stem] = np.array(rows, np.float32).reshape(-1, 4)
    if skipped:
        log.warning("%s: %s", path, dict(skipped))
    return out


@dataclass
class MerlVideoIndex:
    """Samples (labelled segments) of a set of videos, as arrays.

    Attributes:
        classes: class names, official spellings in the configured order (label = index; ``Background`` last when
            enabled).
        video_files: (V,) str; video_frames: (V,) int64 verified frame counts.
        video_boxes: per video, (n, 4) float32 boxes (NaN rows: no box), or None (whole frame).
        sample_video, sample_start, sample_stop, labels: (S,) int64; frames ``[start, stop)`` of video
            ``sample_video``, 0-based.
        skipped: Counter of reason → segments dropped or clipped.
    """

    classes: tuple[str, ...]
    video_files: np.ndarray
    video_frames: np.ndarray
    video_boxes: list
    sample_video: np.ndarray
    sample_start: np.ndarray
    sample_stop: np.ndarray
    labels: np.ndarray
    skipped: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.labels)

    def clip_id(self, i: int) -> str:
        """``{video stem}:{first}-{last}:{class}`` (0-based inclusive frame numbers)."""
        stem = Path(str(self.video_files[self.sample_video[i]])).stem
        return f"{stem}:{self.sample_start[i]}-{self.sample_stop[i] - 1}:{self.classes[self.labels[i]]}"


def background_segments(covered: np.ndarray, length: int, min_length: int) -> list[tuple[int, int]]:
    """Runs of frames where ``covered`` is False, cut into ``[start, stop)`` pieces of ``length`` frames; a shorter
    last piece is kept when it has at least ``min_length`` frames."""
    free = np.concatenate([[False], ~covered, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(free))
    out = []
    for run_start, run_stop in zip(edges[::2], edges[1::2]):
        for start in range(int(run_start), int(run_stop), length):
            stop = min(start + length, int(run_stop))
            if stop - start >= min_length:
                out.append((start, stop))
    return out


def resolve_classes(
    classes: Sequence[str], aliases: Mapping[str, str] | None = None, background: bool = False
) -> tuple[np.ndarray, tuple[str, ...]]:
    """tlabs row → class index (-1 for a class not asked for), and the class names: the official spellings in the
    configured order, ``Background`` last when enabled."""
    table = label_table(MERL_CLASSES, DEFAULT_ALIASES if aliases is None else aliases)
    row_class = np.full(len(MERL_CLASSES), -1, np.int64)
    names = []
    for i, name in enumerate(classes):
        row = table.get(label_key(name))
        if row is None:
            raise ValueError(f"class {name!r} is not a MERL Shopping class; tlabs rows: {list(MERL_CLASSES)}")
        if row_class[row] >= 0:
            raise ValueError(f"classes {list(classes)} name {MERL_CLASSES[row]} twice")
        row_class[row] = i
        names.append(MERL_CLASSES[row])
    return row_class, tuple(names) + ((BACKGROUND,) if background else ())


def load_merl_video_index(
    root: str | Path,
    subjects: frozenset[int],
    classes: Sequence[str] = MERL_CLASSES,
    aliases: Mapping[str, str] | None = None,
    frame_base: int = 1,
    background: bool = False,
    background_length: int = 90,
    background_min_length: int = 8,
    on_segment_overflow: str = "error",
    boxes: Mapping[str, np.ndarray] | None = None,
    videos_dir: str = VIDEOS_DIR,
    labels_dir: str = LABELS_DIR,
) -> MerlVideoIndex:
    """Indexes the labelled segments of the subjects' videos (see the module docstring)."""
    if on_segment_overflow not in ON_SEGMENT_OVERFLOW:
        raise ValueError(f"on_segment_overflow {on_segment_overflow!r}: expected one of {ON_SEGMENT_OVERFLOW}")
    root = Path(root)
    label_folder, video_folder = root / labels_dir, root / videos_dir
    if not label_folder.is_dir():
        raise FileNotFoundError(f"MERL label folder not found: {label_folder}")
    row_class, out_classes = resolve_classes(classes, aliases, background)

    label_files = []
    for path in sorted(label_folder.glob("*_label.mat")):
        match = _LABEL_FILE.match(path.name)
        if match is None:
            log.warning("%s: not named {subject}_{session}_label.mat; ignored", path)
        elif int(match[1]) in subjects:
            label_files.append((int(match[1]), int(match[2]), path))
    label_files.sort()
    if not label_files:
        raise FileNotFoundError(
            f"no {{subject}}_{{session}}_label.mat for subjects {sorted(subjects)} in {label_folder}"
        )

    skipped: Counter = Counter()
    video_files, video_frames, video_boxes = [], [], []
    sample_video, sample_start, sample_stop, labels = [], [], [], []
    for subject, session, mat_file in label_files:
        video = video_folder / f"{subject}_{session}_crop.mp4"
        if not video.is_file():
            raise FileNotFoundError(f"video {video} not found (labels: {mat_file})")
        num_frames, _, _ = probe_video(video)
        v = len(video_files)
        covered = np.zeros(num_frames, bool)
        for row, segments in enumerate(read_tlabs(mat_file, frame_base)):
            for start, stop in segments.tolist():
                if stop > num_frames:
                    written = [start + frame_base, stop - 1 + frame_base]
                    what = (f"{mat_file}: class {MERL_CLASSES[row]}: segment {written} (frame_base={frame_base}) "
                            f"ends beyond the video's {num_frames} frames ({video})")  # fmt: skip
                    if on_segment_overflow == "error":
                        raise ValueError(what)
                    if start >= num_frames:
                        log.warning("%s: dropped", what)
                        skipped["segment beyond the video (dropped)"] += 1
                        continue
                    log.warning("%s: cut at the last frame", what)
                    skipped["segment beyond the video (cut)"] += 1
                    stop = num_frames
                covered[start:stop] = True
                if row_class[row] >= 0:
                    sample_video.append(v), sample_start.append(start), sample_stop.append(stop)
                    labels.append(int(row_class[row]))
        if background:
            for start, stop in background_segments(covered, background_length, background_min_length):
                sample_video.append(v), sample_start.append(start), sample_stop.append(stop)
                labels.append(len(out_classes) - 1)
        video_files.append(str(video))
        video_frames.append(num_frames)
        video_boxes.append(_video_boxes(boxes, video, subject, session, num_frames, skipped))
    if skipped:
        log.warning("%s: %s", label_folder, dict(skipped))
    if not labels:
        raise ValueError(f"{label_folder}: no labelled segment of {list(classes)} for subjects {sorted(subjects)}")
    return MerlVideoIndex(
        classes=out_classes,
        video_files=np.array(video_files, dtype=str),
        video_frames=np.array(video_frames, np.int64),
        video_boxes=video_boxes,
        sample_video=np.array(sample_video, np.int64),
        sample_start=np.array(sample_start, np.int64),
        sample_stop=np.array(sample_stop, np.int64),
        labels=np.array(labels, np.int64),
        skipped=skipped,
    )


def _video_boxes(boxes: Mapping | None, video: Path, subject: int, session: int, num_frames: int,
                 skipped: Counter) -> np.ndarray | None:  # fmt: skip
    """The video's per-frame boxes from a boxes mapping, resized to its frame count; None when it has none."""
    if boxes is None:
        return None
    found = boxes.get(video.stem, boxes.get(f"{subject}_{session}"))
    if found is None:
        skipped["video without boxes (whole frame)"] += 1
        return None
    if len(found) != num_frames:
        log.warning("boxes of %s: %d rows for %d frames (missing rows: no box)", video, len(found), num_frames)
        found = np.concatenate([found[:num_frames], np.full((max(0, num_frames - len(found)), 4), np.nan, np.float32)])
    return found


class MerlVideoDataset(ClipDataset):
    """Segments of a :class:`MerlVideoIndex`; items as :class:`~har.data.clips.ClipDataset` describes, with
    ``frame_indices`` = 0-based frame numbers in the video."""

    def __init__(self, index: MerlVideoIndex, sampler: ClipSampler, transform: ClipTransform, train: bool) -> None:
        super().__init__(sampler, transform, train, index.classes)
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def clip_length(self, i: int) -> int:
        return int(self.index.sample_stop[i] - self.index.sample_start[i])

    def frame_numbers(self, i: int, positions: np.ndarray) -> np.ndarray:
        return self.index.sample_start[i] + positions

    def read_frames(self, i: int, positions: np.ndarray) -> list[np.ndarray]:
        video = self.index.video_files[self.index.sample_video[i]]
        return read_video_frames(str(video), self.frame_numbers(i, positions), self.clip_id(i))

    def clip_boxes(self, i: int) -> np.ndarray:
        boxes = self.index.video_boxes[self.index.sample_video[i]]
        if boxes is None:
            return np.full((self.clip_length(i), 4), np.nan, np.float32)
        return boxes[self.index.sample_start[i] : self.index.sample_stop[i]]

    def label(self, i: int) -> int:
        return int(self.index.labels[i])

    def clip_id(self, i: int) -> str:
        return self.index.clip_id(i)


class MerlVideoDataModule(ClipDataModule):
    """Clips of the official MERL Shopping release (see the module docstring).

    Args:
        root: folder holding ``Videos_MERL_Shopping_Dataset`` and ``Labels_MERL_Shopping_Dataset``.
        splits: split → subjects (list of ids or ``"a-b,c"``); the paper's by default.
        classes: classes to sample (names of ``tlabs`` rows, any spelling).
        aliases: extra spellings (alias → class name), added to ``DEFAULT_ALIASES``.
        frame_base: 1 (MATLAB, 1-based inclusive) or 0.
        background: add the ``Background`` class; background_length, background_min_length: its segments.
        on_segment_overflow: ``error`` or ``clip``.
        boxes_file: person boxes JSON (relative to ``root``), or None for whole frames; on_bad_box: ``error``/``empty``.
        num_frames, input_size, sampling, strides, eval_stride, crop, padding, augment: as
            :class:`~har.data.merl_action.MerlActionDataModule`.
        batch_size, num_workers, pin_memory, persistent_workers: DataLoader settings.
        videos_dir, labels_dir: the release's folder names.
        test_clips, test_flip: multi-clip testing (:class:`~har.data.clips.MultiClipDataset`): each test clip as
            ``test_clips`` windows spread over it, and mirrored with ``test_flip``; probabilities averaged per clip.
        synthetic: generator parameters for ``har.data.synthetic_merl.ensure_synthetic_merl``: ``prepare_data``
            writes (or reuses) the synthetic set in ``root``'s parent, whose ``videos`` folder ``root`` must be (its
            boxes: ``boxes_file=person_boxes.json``); None for real data.
    """

    def __init__(
        self,
        root: str,
        splits: Mapping[str, int | str | Sequence[int | str]] | None = None,
        classes: Sequence[str] = MERL_CLASSES,
        aliases: Mapping[str, str] | None = None,
        frame_base: int = 1,
        background: bool = False,
        background_length: int = 90,
        background_min_length: int | None = None,
        on_segment_overflow: str = "error",
        boxes_file: str | None = None,
        on_bad_box: str = "error",
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
        videos_dir: str = VIDEOS_DIR,
        labels_dir: str = LABELS_DIR,
        test_clips: int = 1,
        test_flip: bool = False,
        synthetic: dict | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.hparams.splits = dict(splits or PAPER_SPLITS)
        self.hparams.classes = list(classes)
        self.hparams.aliases = {**DEFAULT_ALIASES, **(aliases or {})}  # extra spellings on top of the defaults
        self.hparams.input_size = (int(input_size[0]), int(input_size[1]))
        if frame_base not in (0, 1):
            raise ValueError(f"frame_base {frame_base!r}: expected 0 or 1")
        if on_segment_overflow not in ON_SEGMENT_OVERFLOW:
            raise ValueError(f"on_segment_overflow {on_segment_overflow!r}: expected one of {ON_SEGMENT_OVERFLOW}")
        self.subjects = {split: parse_subjects(spec) for split, spec in self.hparams.splits.items()}
        _, self._classes = resolve_classes(self.hparams.classes, self.hparams.aliases, background)
        check_clip_args(self.hparams)
        self.root = Path(root)
        self.datasets = {}
        self._boxes: dict[str, np.ndarray] | None = None

    def prepare_data(self) -> None:
        if self.hparams.synthetic is not None:
            from har.data.synthetic_merl import ensure_synthetic_merl

            if self.root.name != "videos":
                raise ValueError(f"synthetic data: root must be <generator root>/videos, got {self.root}")
            ensure_synthetic_merl(self.root.parent, **self.hparams.synthetic)

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    def build_dataset(self, split: str, train: bool) -> MerlVideoDataset:
        hp = self.hparams
        if hp.boxes_file is not None and self._boxes is None:
            self._boxes = load_boxes_file(self.root / hp.boxes_file, hp.on_bad_box)
        min_length = hp.background_min_length if hp.background_min_length is not None else hp.num_frames
        index = load_merl_video_index(self.root, self.subjects[split], hp.classes, hp.aliases, hp.frame_base,
                                      hp.background, hp.background_length, min_length, hp.on_segment_overflow,
                                      self._boxes, hp.videos_dir, hp.labels_dir)  # fmt: skip
        sampler, transform = self._clip_parts(train)
        log.info("MERL videos, %s split: %d segments of %d videos", split, len(index), len(index.video_files))
        return MerlVideoDataset(index, sampler, transform, train)
