"""The Human3.6M datamodule (``data=h36m``): either on-disk form (:mod:`har.data.formats.h36m`) as top-down frames
with deephar's root crop and depth targets (:class:`~har.data.datasets.h36m.H36mPoseDataset`), scored with MPJPE."""

from __future__ import annotations

from pathlib import Path

from har.data.datamodules.base import BaseDataModule, report_index
from har.data.datamodules.coco import CocoPoseDataModule
from har.data.datasets.h36m import CROP_EXTENT, DEPTH_RANGE, H36mPoseDataset
from har.data.formats.h36m import FRAME_STEP, SPLIT_SUBJECTS, H36mIndex, load_h36m_index
from har.data.transforms.topdown import TopDownTransform
from har.synthetic.h36m import ensure_synthetic_h36m


class H36mDataModule(CocoPoseDataModule):
    """Human3.6M frames from ``root`` in deephar's form (``annotations.mat`` + ``images/<sequence>/%05d.jpg``) or
    mmpose's (``annotation_body3d/`` + ``images/S1/...``).

    Samples carry the batch contract's MPJPE keys (``joints_world``, ``camera``, ``root_depth``, ``action``) and
    depth targets (``target_z``, ``target_z_valid``); see :mod:`har.data.datasets.h36m`. ``eval_sets`` is
    ``[("h36m", "mpjpe")]``; the layout is pa17j.

    Args:
        root: dataset folder.
        form: ``auto`` (deephar's where both are present), ``deephar`` or ``mmpose``.
        fps: mmpose's annotation folder, ``fps50`` (every frame) or ``fps10``.
        subjects: split → subjects (deephar's protocol 1: train 1, 5, 6, 7, 8; val 9, 11).
        frame_step: split → keep frames ``(f − 1) % step == 0`` (deephar: every 5th train, every 64th val).
        allow_missing_joints: read mmpose's 17 joints, which lack deephar's spine (left unlabelled, NaN in
            ``joints_world``); without it that form is refused.
        check_images: skip (and count) frames whose image is missing and sequences without an image folder.
        extent_mm: crop side at the root's depth (deephar ≈ 2250 mm).
        depth_range: ``target_z`` spans root depth ± depth_range / 2 (deephar 2000 mm).
        synthetic: parameters of :func:`har.synthetic.h36m.ensure_synthetic_h36m` (both forms, into ``root``).
        Others: as :class:`~har.data.datamodules.coco.CocoPoseDataModule` (``augment``, loaders, decoding).
    """

    def __init__(
        self,
        root: str,
        form: str = "auto",
        fps: int = 50,
        layout: str = "pa17j",
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "val",
        subjects: dict[str, list[int]] | None = None,
        frame_step: dict[str, int] | None = None,
        allow_missing_joints: bool = False,
        check_images: bool = True,
        extent_mm: float = CROP_EXTENT,
        depth_range: float = DEPTH_RANGE,
        **kwargs,
    ) -> None:
        if layout != "pa17j":
            raise ValueError(f"Human3.6M samples come in deephar's pa17j layout, got layout {layout!r}")
        kwargs.update(filters=None, cache=False)
        super().__init__(root, layout=layout, train_split=train_split, val_split=val_split, test_split=test_split,
                         **kwargs)  # fmt: skip
        self.form = form
        self.subjects = {k: list(v) for k, v in (subjects or SPLIT_SUBJECTS).items()}
        self.frame_step = dict(frame_step or FRAME_STEP)
        self.dataset_id = 0  # the `dataset` key of its samples; a mixed datamodule sets it
        self.indexes: dict[str, H36mIndex] = {}

    synthetic_generator = staticmethod(ensure_synthetic_h36m)

    @property
    def eval_sets(self) -> list[tuple[str, str]]:
        return [("h36m", "mpjpe")]

    def prepare_data(self) -> None:
        BaseDataModule.prepare_data(self)

    readme_section = "MPII and Human3.6M"
    synthetic_experiment = "synthetic_pose3d"

    def required_paths(self, splits: set[str]) -> list[tuple[Path, str]]:
        """``root``, the annotations of the form in use (deephar's ``annotations.mat``; else, or with
        ``form=mmpose``, ``annotation_body3d/fps<N>/`` and its ``cameras.pkl``) and ``images/``."""
        paths = [(self.root, "data.root")]
        deephar = self.root / "annotations.mat"
        if self.form == "deephar" or (self.form == "auto" and deephar.is_file()):
            paths.append((deephar, "deephar's Human3.6M annotation file"))
        else:
            body3d = self.root / "annotation_body3d"
            paths += [(body3d / f"fps{self.hparams.fps}", "mmpose's Human3.6M annotation folder"),
                      (body3d / "cameras.pkl", "mmpose's camera file")]  # fmt: skip
        return [*paths, (self.root / "images", "the image folder")]

    def expected_layout(self) -> str:
        return (
            f"{self.root}/annotations.mat (deephar) or {self.root}/annotation_body3d/fps{{50,10}}/h36m_*.npz + "
            f"cameras.pkl (mmpose), and {self.root}/images/"
        )

    def image_dir(self, split: str) -> Path:
        return self.root / "images"

    def read_index(self, split: str) -> H36mIndex:
        hp = self.hparams
        kwargs = {"subjects": self.subjects.get(split), "frame_step": self.frame_step.get(split),
                  "check_images": hp.check_images}  # fmt: skip
        form = self.form
        if form == "auto":  # load_h36m_index's choice, resolved here for the mmpose-only argument
            form = "deephar" if (self.root / "annotations.mat").is_file() else "mmpose"
        if form == "mmpose":
            kwargs["allow_missing_joints"] = hp.allow_missing_joints
        return load_h36m_index(self.root, split, form, hp.fps, **kwargs)

    def load_index(self, split: str) -> H36mIndex:
        if split not in self.indexes:
            index = self.read_index(split)
            report_index(index, f"h36m_{split}", self.hparams.report_dir)
            if len(index) == 0:
                raise ValueError(f"Human3.6M split {split!r} has no frame left: {index.summary()}")
            self.indexes[split] = index
        return self.indexes[split]

    def build_dataset(self, name: str, train: bool) -> H36mPoseDataset:
        split = self.split_of(name)
        hp = self.hparams
        transform = TopDownTransform(self.layout, self.input_size, hp.padding,
                                     self.train_augmentation() if train else None)  # fmt: skip
        return H36mPoseDataset(self.load_index(split), self.image_dir(split), transform, self.dataset_id,
                               hp.extent_mm, hp.depth_range, max_failure_fraction=hp.max_failure_fraction,
                               min_failures=hp.min_failures, reduced_decode=hp.reduced_decode,
                               roi_decode=hp.roi_decode)  # fmt: skip
