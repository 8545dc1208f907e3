"""The datamodule of MERL Shopping action clips in the fork's per-frame JSON (``data=merl_action``); the format is
:mod:`har.data.formats.merl_action`'s."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from har.data.datamodules.clips import ClipDataModule, check_clip_args
from har.data.datasets.merl_action import MerlActionDataset
from har.data.formats.merl_action import load_merl_action_index
from har.data.formats.merl_classes import DEFAULT_ALIASES, MERL_CLASSES
from har.layouts import get_layout
from har.synthetic.merl import ensure_synthetic_merl

log = logging.getLogger(__name__)


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
        sampling: ``window`` (deephar) or ``subset`` (the fork), see :class:`~har.data.sampling.ClipSampler`.
        strides: training strides (``window``); eval_stride: the evaluation stride.
        crop: ``clip`` (one window per clip) or ``frame``; padding: window over box size.
        augment: training augmentation (fields of
            :class:`~har.data.transforms.augmentation.GeometricAugmentation`), or None.
        batch_size, num_workers, pin_memory, persistent_workers: DataLoader settings.
        on_missing_frame: ``error`` or ``skip``; on_bad_box: ``error`` or ``empty``.
        use_keypoints: read the records' keypoints (image pixels); keypoints_layout: their joint layout (flip pairs).
        test_clips, test_flip: multi-clip testing (:class:`~har.data.datasets.clips.MultiClipDataset`): each test
            clip as ``test_clips`` windows spread over it, and mirrored with ``test_flip``; probabilities averaged
            per clip.
        test_protocol: ``spread`` (the windows above) or ``deephar`` (deephar's clip enumeration, ``test_clips``
            unused; :class:`~har.data.datasets.clips.MultiClipDataset`).
        synthetic: generator parameters for ``har.synthetic.merl.ensure_synthetic_merl``: ``prepare_data``
            writes (or reuses) the synthetic set in ``root``'s parent, whose ``action`` folder ``root`` must be (its
            files are ``merl_action_{train,val,test}.json``); None for real data.
        roi_decode: decode only the part of each JPEG frame its crop reads (libjpeg-turbo, :mod:`har.data.io.jpeg_roi`):
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
        test_protocol: str = "spread",
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
        check_clip_args(self.hparams)

    synthetic_generator = staticmethod(ensure_synthetic_merl)
    synthetic_subdir = "action"
    readme_section = "MERL Shopping"
    synthetic_experiment = "synthetic_action"

    def required_paths(self, splits: set[str]) -> list[tuple[Path, str]]:
        """``root`` and each split's JSON file (frames are checked per record when read)."""
        files = dict.fromkeys(self.json_file(n) for n in ("train", "val", "test") if n in splits)
        return [(self.root, "data.root"), *((f, "a clip JSON file (data.files)") for f in files)]

    def expected_layout(self) -> str:
        files = ", ".join(dict.fromkeys(self.hparams.files.values()))
        return f"{self.root}/{{{files}}} (the fork's per-frame JSON, frames at each record's image.url)"

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
            layout = get_layout(hp.keypoints_layout)
            if layout.num_joints != index.keypoints.shape[1]:
                raise ValueError(f"{index.json_file}: {index.keypoints.shape[1]} joints per record, layout "
                                 f"{layout.name!r} has {layout.num_joints}")  # fmt: skip
            flip_index = layout.flip_index
        sampler, transform = self._clip_parts(train, flip_index)
        log.info("%s: %d clips, %d frames (%s split)", index.json_file, len(index), len(index.frame_files), split)
        return MerlActionDataset(index, sampler, transform, train, hp.roi_decode)
