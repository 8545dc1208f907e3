"""Writers of Penn Action's two forms (the inverse of :mod:`har.data.formats.penn`), for tests and synthetic data.

They write what they are given, unvalidated, so that a test can plant a fault (a gap in ``f``, arrays of different
lengths, an unknown class). Frames are JPEGs of each video's size: grey, or whatever ``frame_image`` draws.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from har.data.formats.penn import DEEPHAR_ANNOTATIONS, FRAMES_DIR, LABELS_DIR, PENN_CLASSES, PENN_JOINTS

FrameImage = Callable[["PennVideo", int], np.ndarray]  # (video, 1-based frame number) → (H, W, 3) uint8 RGB


@dataclass
class PennVideo:
    """One video, in the official release's terms.

    Attributes:
        video_id: the number of ``frames/%04d`` and ``labels/%04d.mat``.
        action: class name (an official ``action`` string, or anything, to test an unknown class).
        x, y: (n, 13) joint coordinates, official joint order; visibility: (n, 13) 0/1.
        train: True → ``train = 1``, False → ``-1`` (official); ``sequences_tr`` / ``sequences_te`` (deephar).
        image_size: (W, H).
        view: the official ``pose`` string.
        bbox: (n, 4) [x1, y1, x2, y2]; None: the joints' extent.
        frame_numbers: deephar's ``f`` per frame (default 1..n); frames on disk follow it.
        nframes, dimensions, train_flag: written instead of the values derived from the arrays (to plant faults).
        missing_frames: frame numbers whose JPEG is not written.
    """

    video_id: int
    action: str
    x: np.ndarray
    y: np.ndarray
    visibility: np.ndarray
    train: bool = True
    image_size: tuple[int, int] = (64, 48)
    view: str = "front"
    bbox: np.ndarray | None = None
    frame_numbers: Sequence[int] | None = None
    nframes: int | None = None
    dimensions: Sequence[float] | None = None
    train_flag: float | None = None
    missing_frames: Sequence[int] = ()

    @property
    def numbers(self) -> list[int]:
        return list(self.frame_numbers) if self.frame_numbers is not None else list(range(1, len(self.x) + 1))

    def joint_boxes(self) -> np.ndarray:
        """(n, 4) boxes around each frame's visible joints (the whole frame where none is visible)."""
        w, h = self.image_size
        out = np.tile(np.array([1.0, 1.0, w, h]), (len(self.x), 1))
        for t in range(min(len(self.x), len(self.y), len(self.visibility))):  # robust to planted length faults
            seen = (np.asarray(self.visibility[t]) != 0) & (self.x[t] != 0) & (self.y[t] != 0)
            if seen.any():
                xs, ys = self.x[t][seen], self.y[t][seen]
                out[t] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        return out


def grey_frame(video: PennVideo, number: int) -> np.ndarray:
    """A plain frame of the video's size whose grey level encodes the frame number."""
    w, h = video.image_size
    return np.full((h, w, 3), (number * 5) % 256, np.uint8)


def write_frames(folder: Path, numbers: Sequence[int], image: Callable[[int], np.ndarray], pattern: str,
                 skip: Sequence[int] = ()) -> None:  # fmt: skip
    """JPEG ``folder / (pattern % n)`` for each frame number n (not those in ``skip``), from ``image(n)`` (RGB)."""
    folder.mkdir(parents=True, exist_ok=True)
    skip = set(skip)
    for n in numbers:
        if n in skip:
            continue
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image(n), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise OSError(f"cannot encode frame {n} for {folder}")
        (folder / (pattern % n)).write_bytes(buf.tobytes())


def _write_video_frames(root: Path, video: PennVideo, frame_image: FrameImage | None) -> None:
    draw = frame_image or grey_frame
    write_frames(root / FRAMES_DIR / f"{video.video_id:04d}", video.numbers, lambda n: draw(video, n), "%06d.jpg",
                 video.missing_frames)  # fmt: skip


def write_penn_official(root: str | Path, videos: Sequence[PennVideo], frames: bool = True,
                        frame_image: FrameImage | None = None) -> Path:  # fmt: skip
    """``labels/%04d.mat`` (action, pose, x, y, visibility, train, bbox, dimensions [H W n], nframes) and, with
    ``frames``, ``frames/%04d/%06d.jpg`` under ``root``."""
    root = Path(root)
    (root / LABELS_DIR).mkdir(parents=True, exist_ok=True)
    for v in videos:
        n = len(v.x)
        w, h = v.image_size
        scipy.io.savemat(
            str(root / LABELS_DIR / f"{v.video_id:04d}.mat"),
            {
                "action": v.action,
                "pose": v.view,
                "x": np.asarray(v.x, np.float64),
                "y": np.asarray(v.y, np.float64),
                "visibility": np.asarray(v.visibility, bool),
                "train": np.float64(v.train_flag if v.train_flag is not None else (1 if v.train else -1)),
                "bbox": np.asarray(v.bbox if v.bbox is not None else v.joint_boxes(), np.float64),
                "dimensions": np.asarray(v.dimensions if v.dimensions is not None else [h, w, n], np.float64),
                "nframes": np.float64(v.nframes if v.nframes is not None else n),
            },
        )
        if frames:
            _write_video_frames(root, v, frame_image)
    return root


def _struct_array(records: Sequence[Mapping]) -> np.ndarray:
    """A MATLAB 1 × n struct array (what ``savemat`` writes as one) of ``records``, each a dict of the same fields."""
    fields = list(records[0]) if records else ["idx"]
    arr = np.zeros((1, len(records)), dtype=[(k, object) for k in fields])
    for i, record in enumerate(records):
        for k in fields:
            arr[0, i][k] = record[k]
    return arr


def deephar_sequence(video: PennVideo, classes: Sequence[str] = PENN_CLASSES) -> dict:
    """deephar's record of a video: ``idx``, ``action_id`` (1-based; 0 for a name not in ``classes``), ``frames``."""
    w, h = video.image_size
    frames = [
        {"f": f, "w": w, "h": h, "pose": np.stack([video.x[t], video.y[t]]).astype(np.float64),
         "visible": np.asarray(video.visibility[t], np.uint8)}
        for t, f in enumerate(video.numbers)
    ]  # fmt: skip
    action_id = classes.index(video.action) + 1 if video.action in classes else 0
    return {"idx": video.video_id, "action_id": action_id, "frames": _struct_array(frames)}


def write_penn_deephar(
    root: str | Path,
    videos: Sequence[PennVideo],
    classes: Sequence[str] = PENN_CLASSES,
    joint_labels: Sequence[str] = PENN_JOINTS,
    frames: bool = True,
    frame_image: FrameImage | None = None,
    records: Sequence[dict] | None = None,
) -> Path:
    """deephar's ``annotations.mat`` (``sequences_tr`` from the ``train`` videos, ``sequences_te`` from the others, in
    the given order; ``action_labels``, ``joint_labels``) and, with ``frames``, ``frames/%04d/%06d.jpg``.

    ``records``: per video, the sequence record to write instead of :func:`deephar_sequence` (to plant faults).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = list(records) if records is not None else [deephar_sequence(v, classes) for v in videos]
    scipy.io.savemat(
        str(root / DEEPHAR_ANNOTATIONS),
        {
            "sequences_tr": _struct_array([r for r, v in zip(rows, videos) if v.train]),
            "sequences_te": _struct_array([r for r, v in zip(rows, videos) if not v.train]),
            "action_labels": np.array(list(classes), dtype=object),
            "joint_labels": np.array(list(joint_labels), dtype=object),
        },
    )
    if frames:
        for v in videos:
            _write_video_frames(root, v, frame_image)
    return root


def write_boxes_tpami(path: str | Path, test: Mapping[tuple[int, int], Sequence[float]],
                      train: Mapping[tuple[int, int], Sequence[float]]) -> Path:  # fmt: skip
    """deephar's TPAMI box JSON: ``[test, train, valid]``, each ``'%d.%d' % (sequence, frame)`` → [x1, y1, x2, y2]."""
    path = Path(path)
    as_json = [{f"{s}.{f}": [float(c) for c in box] for (s, f), box in d.items()} for d in (test, train, {})]
    path.write_text(json.dumps(as_json))
    return path


def write_boxes_cvpr18(path: str | Path, boxes: Mapping[tuple[int, int, int, int], Sequence[float]]) -> Path:
    """deephar's CVPR'18 box JSON: ``'%04d.%d.%03d.%d' % (sequence, subsampling, clip, flip)`` → [x1, y1, x2, y2]."""
    path = Path(path)
    path.write_text(
        json.dumps({"{:04d}.{:d}.{:03d}.{:d}".format(*key): [float(c) for c in box] for key, box in boxes.items()})
    )
    return path
