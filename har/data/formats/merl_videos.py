"""MERL Shopping action clips read directly from the official release (``data=merl_videos``).

Layout under ``root``::

    Videos_MERL_Shopping_Dataset/{subject}_{session}_crop.mp4     920×680, 30 fps, ~2 minutes each
    Labels_MERL_Shopping_Dataset/{subject}_{session}_label.mat    tlabs: (5, 1) cells, one per class

- **Labels**: ``tlabs`` holds, per class in the order of :data:`~har.data.formats.merl_classes.MERL_CLASSES`, an
  N × 2 array of [start_frame, end_frame] segments. ``frame_base=1`` (the default) reads them as MATLAB writes frame numbers:
  1-based, both ends inclusive; ``frame_base=0`` reads 0-based inclusive. (The release's numbering was not checked
  against real files here; a wrong base shows as segments ending one frame past the video, which
  ``on_segment_overflow="error"`` reports.) Internally a segment is 0-based half-open ``[start, stop)``.
- **Samples**: each labelled segment of a class in ``classes`` is one sample (``classes`` may be any subset of the
  five, in any order, in any spelling :mod:`~har.data.formats.merl_classes` normalises). With ``background=True`` the
  frames in no segment of any class form an extra last class, ``Background``, cut into segments of ``background_length``
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

import numpy as np
import scipy.io

from har.data.formats.merl_classes import BACKGROUND, DEFAULT_ALIASES, MERL_CLASSES, label_key, label_table
from har.data.io.video import probe_video
from har.geometry.boxes import parse_box

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
