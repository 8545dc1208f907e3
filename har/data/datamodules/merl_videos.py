"""The datamodule of MERL Shopping's official release (``data=merl_videos``): mp4 videos and MATLAB labels, read by
:mod:`har.data.formats.merl_videos`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from har.data.datamodules.clips import ClipDataModule, check_clip_args
from har.data.datasets.merl_videos import MerlVideoDataset
from har.data.formats.merl_classes import DEFAULT_ALIASES, MERL_CLASSES
from har.data.formats.merl_videos import (
    LABELS_DIR,
    ON_SEGMENT_OVERFLOW,
    PAPER_SPLITS,
    VIDEOS_DIR,
    load_boxes_file,
    load_merl_video_index,
    parse_subjects,
    resolve_classes,
)
from har.synthetic.merl import ensure_synthetic_merl

log = logging.getLogger(__name__)


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
            :class:`~har.data.datamodules.merl_action.MerlActionDataModule`.
        batch_size, num_workers, pin_memory, persistent_workers: DataLoader settings.
        videos_dir, labels_dir: the release's folder names.
        test_clips, test_flip: multi-clip testing (:class:`~har.data.datasets.clips.MultiClipDataset`): each test
            clip as ``test_clips`` windows spread over it, and mirrored with ``test_flip``; probabilities averaged
            per clip.
        test_protocol: ``spread`` (the windows above) or ``deephar`` (deephar's clip enumeration, ``test_clips``
            unused; :class:`~har.data.datasets.clips.MultiClipDataset`).
        synthetic: generator parameters for ``har.synthetic.merl.ensure_synthetic_merl``: ``prepare_data``
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
        test_protocol: str = "spread",
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
        self._boxes: dict[str, np.ndarray] | None = None

    synthetic_generator = staticmethod(ensure_synthetic_merl)
    synthetic_subdir = "videos"
    readme_section = "MERL Shopping"
    synthetic_experiment = "synthetic_action"

    def required_paths(self, splits: set[str]) -> list[tuple[Path, str]]:
        """``root``, the release's video and label folders, the boxes file when one is set."""
        hp = self.hparams
        paths = [(self.root, "data.root"), (self.root / hp.videos_dir, "the video folder (data.videos_dir)"),
                 (self.root / hp.labels_dir, "the label folder (data.labels_dir)")]  # fmt: skip
        if hp.boxes_file is not None:
            paths.append((self.root / hp.boxes_file, "the person boxes file (data.boxes_file)"))
        return paths

    def expected_layout(self) -> str:
        hp = self.hparams
        return f"{self.root}/{hp.videos_dir}/*.mp4 and {self.root}/{hp.labels_dir}/*_label.mat (the official release)"

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
