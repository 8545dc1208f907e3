"""The datamodule of MERL Shopping pose frames (``data=merl_pose``): the fork's records
(:mod:`har.data.formats.merl_pose`) through the COCO top-down pipeline."""

from __future__ import annotations

from pathlib import Path

from har.data.datamodules.base import BaseDataModule
from har.data.datamodules.coco import CocoPoseDataModule
from har.data.formats.coco import CocoGroundTruth, CocoIndex
from har.data.formats.merl_pose import MerlFlags, load_merl_pose_ground_truth, load_merl_pose_index
from har.synthetic.merl import ensure_synthetic_merl


class MerlPoseDataModule(CocoPoseDataModule):
    """MERL pose frames through the COCO top-down pipeline: ``root/<files[split]>`` records, ``root/<image_dir>``
    images. Takes every :class:`~har.data.datamodules.coco.CocoPoseDataModule` argument (splits are ``train``,
    ``val``, ``test``), plus:

    Args:
        files: split → records file relative to ``root`` (``.json``; ``.pkl`` only with ``allow_pickle``).
        image_dir: image folder relative to ``root``.
        allow_pickle: read pickles (they can run code: only for files you trust).
        flags: :class:`MerlFlags` fields: which record flags mean labelled-visible / labelled-occluded.
        synthetic: parameters of :func:`har.synthetic.merl.ensure_synthetic_merl`; ``root`` must then be the
            generated set's ``pose`` folder.
    """

    def __init__(
        self,
        root: str,
        files: dict[str, str] | None = None,
        image_dir: str = "images",
        allow_pickle: bool = False,
        flags: dict | None = None,
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "test",
        **kwargs,
    ) -> None:
        super().__init__(root, train_split=train_split, val_split=val_split, test_split=test_split, **kwargs)
        self.files = dict(files or {s: f"merl_pose_{s}.json" for s in ("train", "val", "test")})
        self.flags = MerlFlags(**{k: tuple(v) for k, v in (flags or {}).items()})

    synthetic_generator = staticmethod(ensure_synthetic_merl)
    synthetic_subdir = "pose"

    readme_section = "MERL Shopping"

    def required_paths(self, splits: set[str]) -> list[tuple[Path, str]]:
        """``root``, each split's records file, the image folder."""
        names = [n for n in ("train", "val", "test") if n in splits]
        records = dict.fromkeys(self.annotation_file(self.split_of(n)) for n in names)
        return [(self.root, "data.root"), *((f, "a records file (data.files)") for f in records),
                (self.root / self.hparams.image_dir, "the image folder (data.image_dir)")]  # fmt: skip

    def expected_layout(self) -> str:
        files = ", ".join(dict.fromkeys(self.files.values()))
        return f"{self.root}/{{{files}}} (pose records, JSON) and {self.root}/{self.hparams.image_dir}/"

    def prepare_data(self) -> None:
        BaseDataModule.prepare_data(self)  # no index cache to build: MERL records are small

    def annotation_file(self, split: str) -> Path:
        if split not in self.files:
            raise KeyError(f"data.files has no entry for split {split!r} (has {sorted(self.files)})")
        return self.root / self.files[split]

    def image_dir(self, split: str) -> Path:
        return self.root / self.hparams.image_dir

    def read_index(self, split: str) -> CocoIndex:
        return load_merl_pose_index(
            self.annotation_file(split), self.layout.num_joints, self.flags, self.hparams.allow_pickle,
            self.filters.min_keypoints,
        )  # fmt: skip

    def read_ground_truth(self, split: str) -> CocoGroundTruth:
        """MERL has no COCO file: the ground truth is the split's well-formed records (area = w·h·0.53)."""
        return load_merl_pose_ground_truth(self.annotation_file(split), self.layout.num_joints, self.flags,
                                           self.hparams.allow_pickle)  # fmt: skip
