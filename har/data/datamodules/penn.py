"""The datamodule of Penn Action (``data=penn_action``), from either form the reader
(:mod:`har.data.formats.penn`) knows: the official release (``labels/*.mat`` + ``frames/``) or deephar's
``annotations.mat`` + ``frames/`` with its predicted-box JSONs."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from har.data.clip_protocol import deephar_multi_clips
from har.data.datamodules.clips import ClipDataModule, check_clip_args
from har.data.datasets.clips import keypoint_boxes
from har.data.datasets.penn import PennActionDataset
from har.data.formats.penn import (
    DEEPHAR_ANNOTATIONS,
    FRAMES_DIR,
    LABELS_DIR,
    PennIndex,
    load_penn_deephar,
    load_penn_official,
    read_boxes_cvpr18,
    read_boxes_tpami,
)
from har.layouts import get_layout
from har.synthetic.penn import SYNTHETIC_FORMS, ensure_synthetic_penn

log = logging.getLogger(__name__)

FORMS = ("auto", "official", "deephar")
BOX_SOURCES = ("auto", "annotation", "joints", "predicted", "frame")
PENN_SPLITS = ("train", "test")
CVPR18_CLIP_FRAMES = 16  # the clips of deephar's penn_pred_bboxes_16f.json


def detect_penn_form(root: Path, annotations: str = DEEPHAR_ANNOTATIONS) -> str:
    """``official`` when ``root`` has ``labels/``, else ``deephar`` when it has ``annotations``; FileNotFoundError
    naming both otherwise."""
    if (root / LABELS_DIR).is_dir():
        return "official"
    if (root / annotations).is_file():
        return "deephar"
    raise FileNotFoundError(f"no Penn Action data at {root}: neither {root / LABELS_DIR}/ (official release) nor "
                            f"{root / annotations} (deephar's form)")  # fmt: skip


def cvpr18_clip_boxes(path: str | Path, index: PennIndex, subsampling: int = 2) -> dict[tuple[int, int], np.ndarray]:
    """deephar's CVPR'18 clip boxes (unflipped) as (index video, clip number) → (4,) box, for the test videos."""
    clips = read_boxes_cvpr18(path)
    out = {}
    for v in np.flatnonzero(index.splits == "test"):
        for (record, s, k, flip), box in clips.items():
            if record == index.records[v] and s == subsampling and flip == 0:
                out[(int(v), k)] = box
    return out


def cvpr18_frame_boxes(path: str | Path, index: PennIndex, subsampling: int = 2,
                       num_frames: int = CVPR18_CLIP_FRAMES) -> np.ndarray:  # fmt: skip
    """Per-frame boxes (N, 4) from deephar's CVPR'18 clip boxes (``penn_pred_bboxes_16f.json``, test videos only):
    a frame takes the union of the unflipped boxes of the clips (:func:`~har.data.clip_protocol.deephar_multi_clips`,
    T = ``num_frames``, stride ``subsampling``) that hold it; NaN where no clip does. deephar used each clip's box for
    that clip alone (:func:`cvpr18_clip_boxes`, used for deephar's multi-clip test); a union per frame is what other
    clips (training, single-clip evaluation) can use."""
    clips = cvpr18_clip_boxes(path, index, subsampling)
    out = np.full((len(index.frame_numbers), 4), np.nan, np.float32)
    for v in np.flatnonzero(index.splits == "test"):
        rows = index.frame_rows(int(v))
        for k, positions in enumerate(deephar_multi_clips(index.num_frames(int(v)), num_frames, subsampling)):
            box = clips.get((int(v), k))
            if box is None:
                continue
            for p in np.unique(positions):
                cur = out[rows.start + p]
                out[rows.start + p] = box if np.isnan(cur).any() else [*np.minimum(cur[:2], box[:2]),
                                                                        *np.maximum(cur[2:], box[2:])]  # fmt: skip
    return out


class PennActionDataModule(ClipDataModule):
    """Penn Action clips with per-frame 2D pose targets (pa16j; see :mod:`har.data.datasets.penn`).

    Args:
        root: the dataset folder (``frames/`` plus ``labels/`` or deephar's ``annotations.mat``).
        form: ``auto`` (``labels/`` → official, else ``annotations.mat`` → deephar), ``official`` or ``deephar``.
        annotations: deephar's annotation file name, relative to ``root``.
        predicted_boxes: deephar's predicted-box JSON (relative to ``root`` or absolute), either key format: the
            TPAMI list ``[test, train, valid]`` of ``'%d.%d'`` per-frame boxes, or the CVPR'18 dict of
            ``'%04d.%d.%03d.%d'`` clip boxes: deephar's multi-clip test crops each clip around its own box (with
            ``num_frames`` 16 and ``eval_stride`` = ``cvpr18_subsampling``, deephar's setting); other clips use the
            per-frame unions of :func:`cvpr18_frame_boxes`. None for none. deephar's form only.
        cvpr18_subsampling: the subsampling of a CVPR'18 box file's keys (deephar: 2).
        boxes: the person box of each frame: ``annotation`` (the official ``bbox``), ``joints`` (the labelled joints'
            extent, deephar's GT box), ``predicted`` (``predicted_boxes``), ``frame`` (whole frames), or ``auto``
            (official: annotation; deephar: predicted when given, else joints). Frames without a box take the joints'
            box, else the nearest frame's, else the whole frame.
        classes: the class names to keep (labels renumbered in this order), None for all of the index's classes.
        splits: har split → Penn split (Penn has ``train`` and ``test`` only; deephar validates on nothing).
        zero_is_missing, keep_occluded: reader options (:func:`har.data.formats.penn.load_penn_official`).
        num_frames: T (deephar's Penn action model: 16).
        sampling, strides, eval_stride: :class:`~har.data.sampling.ClipSampler` (``deephar``: deephar's clips).
        input_size, crop, padding, augment: :class:`~har.data.transforms.clip.ClipTransform` (``padding`` 1.5:
            deephar's GT box × 1.5).
        batch_size, num_workers, pin_memory, persistent_workers: DataLoader settings.
        test_protocol, test_clips, test_flip: multi-clip testing (:class:`~har.data.datasets.clips.MultiClipDataset`):
            ``deephar`` enumerates deephar's clips (with their mirror images when ``test_flip``).
        synthetic: generator parameters of :func:`har.synthetic.penn.ensure_synthetic_penn`; ``root`` must then be
            the generator root's ``official`` or ``deephar`` folder. None for real data.
        roi_decode: decode only the part of each JPEG its crop reads.
    """

    def __init__(
        self,
        root: str,
        form: str = "auto",
        annotations: str = DEEPHAR_ANNOTATIONS,
        predicted_boxes: str | None = None,
        cvpr18_subsampling: int = 2,
        boxes: str = "auto",
        classes: Sequence[str] | None = None,
        splits: Mapping[str, str] | None = None,
        zero_is_missing: bool = True,
        keep_occluded: bool = False,
        num_frames: int = 16,
        input_size: tuple[int, int] = (256, 256),
        sampling: str = "deephar",
        strides: Sequence[int] = (1, 2, 3),
        eval_stride: int = 2,
        crop: str = "clip",
        padding: float = 1.5,
        augment: dict | None = None,
        batch_size: int = 8,
        num_workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        test_protocol: str = "deephar",
        test_clips: int = 1,
        test_flip: bool = True,
        synthetic: dict | None = None,
        roi_decode: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        hp = self.hparams
        hp.splits = dict(splits or {"train": "train", "val": "test", "test": "test"})
        hp.classes = list(classes) if classes is not None else None
        hp.input_size = (int(input_size[0]), int(input_size[1]))
        if form not in FORMS:
            raise ValueError(f"Penn Action form {form!r}: expected one of {FORMS}")
        if boxes not in BOX_SOURCES:
            raise ValueError(f"boxes {boxes!r}: expected one of {BOX_SOURCES}")
        bad = {k: v for k, v in hp.splits.items() if v not in PENN_SPLITS}
        if bad:
            raise ValueError(f"splits {bad}: Penn Action has only {PENN_SPLITS}")
        check_clip_args(hp)
        self.root = Path(root)
        if synthetic is not None:
            if self.root.name not in SYNTHETIC_FORMS:
                raise ValueError(f"synthetic Penn Action: root must be <generator root>/official or /deephar, "
                                 f"got {self.root}")  # fmt: skip
            self.synthetic_subdir = self.root.name
        self._index: PennIndex | None = None
        self._boxes: np.ndarray | None = None
        self._clip_boxes: dict[tuple[int, int], np.ndarray] = {}

    synthetic_generator = staticmethod(ensure_synthetic_penn)
    readme_section = "Penn Action and NTU RGB+D"
    synthetic_experiment = "synthetic_penn"

    def required_paths(self, splits: set[str]) -> list[tuple[Path, str]]:
        """``root``, ``frames/``, the form's labels (``labels/`` or deephar's annotation file) and the predicted-box
        file when one is set (for the pre-run checks)."""
        hp = self.hparams
        paths = [(self.root, "data.root"), (self.root / FRAMES_DIR, "the frames folder")]
        form = hp.form
        if form == "auto":
            form = "deephar" if (self.root / hp.annotations).is_file() else "official"
        if form == "official":
            paths.append((self.root / LABELS_DIR, "the label folder (official release)"))
        else:
            paths.append((self.root / hp.annotations, "deephar's annotation file (data.annotations)"))
        if hp.predicted_boxes is not None:
            box_file = Path(hp.predicted_boxes)
            paths.append(
                (box_file if box_file.is_absolute() else self.root / box_file, "the box file (data.predicted_boxes)")
            )
        return paths

    def expected_layout(self) -> str:
        return (f"{self.root}/labels/%04d.mat + frames/%04d/%06d.jpg (official release) or "
                f"{self.root}/{self.hparams.annotations} + frames/ (deephar's form)")  # fmt: skip

    @property
    def layout(self) -> str:
        return "pa16j"

    @property
    def pose_dim(self) -> int:
        return 2

    @property
    def classes(self) -> tuple[str, ...]:
        if self.hparams.classes is not None:
            return tuple(self.hparams.classes)
        return self.index().classes

    def index(self) -> PennIndex:
        """The validated index (read once), skips counted and logged by the reader."""
        if self._index is None:
            hp = self.hparams
            form = detect_penn_form(self.root, hp.annotations) if hp.form == "auto" else hp.form
            if form == "official":
                self._index = load_penn_official(self.root, hp.zero_is_missing, hp.keep_occluded)
            else:
                self._index = load_penn_deephar(self.root, hp.annotations, hp.zero_is_missing, hp.keep_occluded)
            self._boxes = self._frame_boxes(self._index)
        return self._index

    def _frame_boxes(self, index: PennIndex) -> np.ndarray:
        hp = self.hparams
        source = hp.boxes
        if source == "auto":
            source = "annotation" if index.source == "official" else ("predicted" if hp.predicted_boxes else "joints")
        joints = keypoint_boxes(index.keypoints)
        if source == "frame":
            return np.full_like(joints, np.nan)
        if source == "joints":
            return joints
        if source == "annotation":
            if index.source != "official":
                raise ValueError(f"{self.root}: boxes=annotation needs the official release (deephar's "
                                 "annotations.mat has no boxes): use joints or predicted")  # fmt: skip
            boxes = index.boxes
        else:
            if hp.predicted_boxes is None:
                raise ValueError("boxes=predicted needs predicted_boxes (deephar's box JSON)")
            path = Path(hp.predicted_boxes)
            path = path if path.is_absolute() else self.root / path
            boxes = self._read_predicted(path, index)
        missing = np.isnan(boxes).any(axis=1)
        if missing.any():
            log.info("%d of %d Penn Action frames have no %s box: the joints' box is used", int(missing.sum()),
                     len(boxes), source)  # fmt: skip
        return np.where(missing[:, None], joints, boxes).astype(np.float32)

    def _read_predicted(self, path: Path, index: PennIndex) -> np.ndarray:
        hp = self.hparams
        text = path.read_text()[:1] if path.is_file() else ""
        if text == "{":  # CVPR'18: a dict of clip boxes
            if hp.num_frames == CVPR18_CLIP_FRAMES and hp.eval_stride == hp.cvpr18_subsampling:
                self._clip_boxes = cvpr18_clip_boxes(path, index, hp.cvpr18_subsampling)
            else:
                log.warning("%s: clip boxes of %d frames at stride %d, clips here are %d at %d: deephar's multi-clip "
                            "test uses per-frame unions of them", path, CVPR18_CLIP_FRAMES, hp.cvpr18_subsampling,
                            hp.num_frames, hp.eval_stride)  # fmt: skip
            return cvpr18_frame_boxes(path, index, hp.cvpr18_subsampling)
        boxes, counts = read_boxes_tpami(path, index)  # raises on a missing or malformed file
        if counts:
            log.info("%s: %s", path, dict(counts))
        return boxes

    def build_dataset(self, split: str, train: bool) -> PennActionDataset:
        hp = self.hparams
        index = self.index()
        videos = index.split_indices(hp.splits[split])
        labels = index.labels[videos]
        if hp.classes is not None:
            unknown = [c for c in hp.classes if c not in index.classes]
            if unknown:
                raise ValueError(f"{self.root}: classes {unknown} are not Penn Action classes of this index "
                                 f"({', '.join(index.classes)})")  # fmt: skip
            names = [index.classes[k] for k in labels]
            keep = np.array([n in hp.classes for n in names], bool)
            videos, labels = videos[keep], np.array([hp.classes.index(n) for n in np.array(names)[keep]], np.int64)
        sampler, transform = self._clip_parts(train, get_layout("pa16j").flip_index)
        counts = Counter(labels.tolist())
        log.info("Penn Action (%s) %s split: %d videos of %d classes", index.source, split, len(videos), len(counts))
        return PennActionDataset(index, videos, labels, self.classes, self._boxes, sampler, transform, train,
                                 hp.roi_decode, self._clip_boxes)  # fmt: skip
