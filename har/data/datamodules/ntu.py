"""The datamodule of NTU RGB+D 60 (``data=ntu``), from either form the reader (:mod:`har.data.formats.ntu`) knows:
the official ``.skeleton`` files + ``_rgb.avi`` videos, or deephar's ``.npy`` poses + ``images-small`` frames."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from har.data.datamodules.clips import ClipDataModule, check_clip_args
from har.data.datasets.ntu import NtuActionDataset
from har.data.formats.ntu import (
    IMAGES_DIR,
    KINECT_TO_LAYOUT,
    NTU60_CLASSES,
    NUMPY_DIR,
    PROTOCOLS,
    RGB_DIR,
    SKELETONS_DIR,
    SMALL_IMAGES_DIR,
    NtuIndex,
    load_ntu_deephar,
    load_ntu_skeletons,
)
from har.layouts import get_layout
from har.synthetic.ntu import SYNTHETIC_FORMS, ensure_synthetic_ntu

log = logging.getLogger(__name__)

FORMS = ("auto", "official", "deephar")
NTU_SPLITS = ("train", "test")


def detect_ntu_form(root: Path) -> str:
    """``official`` when ``root`` has ``nturgb+d_skeletons/``, else ``deephar`` when it has ``nturgb+d_numpy/``;
    FileNotFoundError naming both otherwise."""
    if (root / SKELETONS_DIR).is_dir():
        return "official"
    if (root / NUMPY_DIR).is_dir():
        return "deephar"
    raise FileNotFoundError(f"no NTU RGB+D data at {root}: neither {root / SKELETONS_DIR}/ (official release) nor "
                            f"{root / NUMPY_DIR}/ (deephar's form)")  # fmt: skip


class NtuDataModule(ClipDataModule):
    """NTU RGB+D 60 clips with per-frame 3D pose targets (see :mod:`har.data.datasets.ntu`).

    Args:
        root: the dataset folder (``nturgb+d_skeletons/`` + ``nturgb+d_rgb/``, or ``nturgb+d_numpy/`` +
            ``images-small/``).
        form: ``auto``, ``official`` or ``deephar``.
        protocol: ``xsub`` (cross-subject, deephar's) or ``xview`` (cross-view).
        layout: ``pa20j`` (deephar's NTU action model), ``pa17j`` or ``pa16j``.
        actions: the 1-based action ids (A) to keep, labels renumbered in this order; None for all 60.
        classes: the same by name (NTU's class names, :data:`~har.data.formats.ntu.NTU60_CLASSES`); when both are
            given they must name the same actions.
        splits: har split → NTU split (``train`` / ``test``; NTU has no validation split).
        annotation_stride: keep every n-th annotated frame (deephar ``master``: 2; ``cvpr18``: 1).
        small_images: deephar's form: ``images-small`` (u, v halved) or ``images``.
        body, min_tracking_state, probe_videos: official reader options
            (:func:`~har.data.formats.ntu.load_ntu_skeletons`).
        depth_scale: the depth window rootz ± 1000·scale mm.
        num_frames: T (deephar's NTU action model: 20).
        sampling, strides, eval_stride, input_size, crop, padding, augment: as
            :class:`~har.data.datamodules.penn.PennActionDataModule`.
        batch_size, num_workers, pin_memory, persistent_workers: DataLoader settings.
        test_protocol, test_clips, test_flip: the test clips; the defaults (``spread``, 1, no flip) are deephar's
            CVPR'18 NTU protocol, one centred clip per video; ``deephar`` + ``test_flip`` is its TPAMI multi-clip.
        synthetic: generator parameters of :func:`har.synthetic.ntu.ensure_synthetic_ntu`; ``root`` must then be the
            generator root's ``official`` or ``deephar`` folder. None for real data.
        roi_decode: deephar's form: decode only the part of each JPEG its crop reads.
    """

    def __init__(
        self,
        root: str,
        form: str = "auto",
        protocol: str = "xsub",
        layout: str = "pa20j",
        actions: Sequence[int] | None = None,
        classes: Sequence[str] | None = None,
        splits: Mapping[str, str] | None = None,
        annotation_stride: int = 1,
        small_images: bool = True,
        body: str = "motion",
        min_tracking_state: int = 0,
        probe_videos: bool = False,
        depth_scale: float = 1.0,
        num_frames: int = 20,
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
        test_protocol: str = "spread",
        test_clips: int = 1,
        test_flip: bool = False,
        synthetic: dict | None = None,
        roi_decode: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        hp = self.hparams
        hp.splits = dict(splits or {"train": "train", "val": "test", "test": "test"})
        hp.actions = [int(a) for a in actions] if actions is not None else None
        if classes is not None:
            unknown = [c for c in classes if c not in NTU60_CLASSES]
            if unknown:
                raise ValueError(f"classes {unknown} are not NTU-60 class names")
            by_name = [NTU60_CLASSES.index(c) + 1 for c in classes]
            if hp.actions is not None and hp.actions != by_name:
                raise ValueError(f"classes {list(classes)} (actions {by_name}) disagree with actions {hp.actions}")
            hp.actions = by_name
        hp.input_size = (int(input_size[0]), int(input_size[1]))
        if form not in FORMS:
            raise ValueError(f"NTU form {form!r}: expected one of {FORMS}")
        if protocol not in PROTOCOLS:
            raise ValueError(f"NTU protocol {protocol!r}: expected one of {PROTOCOLS}")
        if layout not in KINECT_TO_LAYOUT:
            raise ValueError(f"NTU layout {layout!r}: expected one of {sorted(KINECT_TO_LAYOUT)}")
        bad = {k: v for k, v in hp.splits.items() if v not in NTU_SPLITS}
        if bad:
            raise ValueError(f"splits {bad}: NTU has only {NTU_SPLITS}")
        if hp.actions is not None and (not hp.actions or not all(1 <= a <= 60 for a in hp.actions)):
            raise ValueError(f"actions {hp.actions}: expected NTU-60 action ids in 1..60")
        hp.classes = list(self.classes)
        check_clip_args(hp)
        self.root = Path(root)
        if synthetic is not None:
            if self.root.name not in SYNTHETIC_FORMS:
                raise ValueError(f"synthetic NTU: root must be <generator root>/official or /deephar, got {self.root}")
            self.synthetic_subdir = self.root.name
        self._index: NtuIndex | None = None

    synthetic_generator = staticmethod(ensure_synthetic_ntu)
    readme_section = "Penn Action and NTU RGB+D"
    synthetic_experiment = "synthetic_ntu"

    def required_paths(self, splits: set[str]) -> list[tuple[Path, str]]:
        """``root`` and the form's two folders (for the pre-run checks)."""
        hp = self.hparams
        form = hp.form
        if form == "auto":
            form = "deephar" if (self.root / NUMPY_DIR).is_dir() else "official"
        if form == "official":
            folders = [(SKELETONS_DIR, "the skeleton folder"), (RGB_DIR, "the video folder")]
        else:
            frames = SMALL_IMAGES_DIR if hp.small_images else IMAGES_DIR
            folders = [(NUMPY_DIR, "deephar's pose folder"), (frames, "deephar's frame folder")]
        return [(self.root, "data.root"), *((self.root / name, what) for name, what in folders)]

    def expected_layout(self) -> str:
        return (f"{self.root}/{SKELETONS_DIR}/*.skeleton + {RGB_DIR}/*_rgb.avi (official release) or "
                f"{self.root}/{NUMPY_DIR}/*.npy + {SMALL_IMAGES_DIR}/<id>/%05d.jpg (deephar's form)")  # fmt: skip

    @property
    def layout(self) -> str:
        return self.hparams.layout

    @property
    def pose_dim(self) -> int:
        return 3

    @property
    def classes(self) -> tuple[str, ...]:
        actions = self.hparams.actions
        return NTU60_CLASSES if actions is None else tuple(NTU60_CLASSES[a - 1] for a in actions)

    def index(self) -> NtuIndex:
        """The validated index (read once); skips (the 302 missing skeletons among them) counted and logged."""
        if self._index is None:
            hp = self.hparams
            form = detect_ntu_form(self.root) if hp.form == "auto" else hp.form
            if form == "official":
                self._index = load_ntu_skeletons(self.root, hp.annotation_stride, hp.body, hp.min_tracking_state,
                                                 probe_videos=hp.probe_videos)  # fmt: skip
            else:
                self._index = load_ntu_deephar(self.root, hp.annotation_stride, hp.small_images)
        return self._index

    def build_dataset(self, split: str, train: bool) -> NtuActionDataset:
        hp = self.hparams
        index = self.index()
        videos = index.split_indices(hp.splits[split], hp.protocol)
        actions = index.actions[videos]
        if hp.actions is None:
            labels = actions - 1
        else:
            keep = np.isin(actions, hp.actions)
            videos = videos[keep]
            labels = np.array([hp.actions.index(int(a)) for a in actions[keep]], np.int64)
        sampler, transform = self._clip_parts(train, get_layout(hp.layout).flip_index)
        log.info("NTU RGB+D (%s) %s split (%s): %d videos", index.source, split, hp.protocol, len(videos))
        return NtuActionDataset(index, videos, labels, self.classes, hp.layout, sampler, transform, train,
                                hp.depth_scale, hp.roi_decode)  # fmt: skip
