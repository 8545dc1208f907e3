"""The MPII datamodule (``data=mpii``): either on-disk form (:mod:`har.data.formats.mpii`) as top-down samples with
deephar's crop (:class:`~har.data.datasets.mpii.MpiiPoseDataset`), scored with PCKh."""

from __future__ import annotations

from pathlib import Path

from har.data.datamodules.base import BaseDataModule, report_index
from har.data.datamodules.coco import CocoPoseDataModule
from har.data.datasets.mpii import MpiiPoseDataset
from har.data.formats.mpii import MpiiIndex, load_mpii_index
from har.data.transforms.topdown import TopDownTransform
from har.synthetic.mpii import ensure_synthetic_mpii


class MpiiDataModule(CocoPoseDataModule):
    """MPII single-person samples from ``root`` in deephar's form (``annotations.mat``) or mmpose's
    (``annotations/mpii_{train,val}.json`` + ``mpii_gt_val.mat``), images in ``root/images``.

    Samples carry the batch contract's MPII keys (``head_size``, ``crop_center``, ``crop_size``; see
    :mod:`har.data.datasets.windowed`). ``eval_sets`` is ``[("mpii", "pckh")]``.

    Args:
        root: dataset folder.
        form: ``auto`` (deephar's where both are present), ``deephar`` or ``mmpose``.
        layout: ``pa16j`` (deephar's MPII model), or ``pa17j`` to train a 3D network (spine unlabelled).
        train_split, val_split, test_split: ``train`` / ``val`` (MPII's test annotations are not public: test on val).
        padding: window side over ``200·scale`` (1.25).
        check_images: skip (and count) persons whose image file is missing, at index time.
        drop_bad_head: skip persons without a usable head box (default: in val, not in train).
        synthetic: parameters of :func:`har.synthetic.mpii.ensure_synthetic_mpii` (both forms, into ``root``).
        Others: as :class:`~har.data.datamodules.coco.CocoPoseDataModule` (``augment``, loaders, decoding).
    """

    def __init__(
        self,
        root: str,
        form: str = "auto",
        layout: str = "pa16j",
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "val",
        padding: float = 1.25,
        check_images: bool = True,
        drop_bad_head: bool | None = None,
        **kwargs,
    ) -> None:
        if layout not in ("pa16j", "pa17j"):
            raise ValueError(f"MPII samples come in pa16j (or pa17j, for a 3D network), got layout {layout!r}")
        kwargs.update(filters=None, cache=False)
        super().__init__(root, layout=layout, train_split=train_split, val_split=val_split, test_split=test_split,
                         padding=padding, **kwargs)  # fmt: skip
        self.form = form
        self.dataset_id = 0  # the `dataset` key of its samples; a mixed datamodule sets it
        self.indexes: dict[str, MpiiIndex] = {}

    synthetic_generator = staticmethod(ensure_synthetic_mpii)

    @property
    def eval_sets(self) -> list[tuple[str, str]]:
        return [("mpii", "pckh")]

    def prepare_data(self) -> None:
        BaseDataModule.prepare_data(self)  # no index cache: MPII's files are small

    readme_section = "MPII and Human3.6M"
    synthetic_experiment = "synthetic_pose3d"

    def required_paths(self, splits: set[str]) -> list[tuple[Path, str]]:
        """``root``, the annotations of the form in use (deephar's ``annotations.mat``; else, or with
        ``form=mmpose``, ``annotations/mpii_<split>.json`` per split) and ``images/``."""
        paths = [(self.root, "data.root")]
        deephar = self.root / "annotations.mat"
        if self.form == "deephar" or (self.form == "auto" and deephar.is_file()):
            paths.append((deephar, "deephar's MPII annotation file"))
        else:
            for split in dict.fromkeys(self.split_of(name) for name in ("train", "val", "test") if name in splits):
                paths.append((self.root / "annotations" / f"mpii_{split}.json", f"mmpose's MPII {split} annotations"))
        return [*paths, (self.root / "images", "the image folder")]

    def expected_layout(self) -> str:
        return (
            f"{self.root}/annotations.mat (deephar) or {self.root}/annotations/mpii_{{train,val}}.json (mmpose), "
            f"and {self.root}/images/*.jpg"
        )

    def image_dir(self, split: str) -> Path:
        return self.root / "images"

    def read_index(self, split: str) -> MpiiIndex:
        hp = self.hparams
        return load_mpii_index(self.root, split, self.form, check_images=hp.check_images,
                               drop_bad_head=hp.drop_bad_head)  # fmt: skip

    def load_index(self, split: str) -> MpiiIndex:
        if split not in self.indexes:
            index = self.read_index(split)
            report_index(index, f"mpii_{split}", self.hparams.report_dir)
            if len(index) == 0:
                raise ValueError(f"MPII split {split!r} has no person left: {index.summary()}")
            self.indexes[split] = index
        return self.indexes[split]

    def build_dataset(self, name: str, train: bool) -> MpiiPoseDataset:
        split = self.split_of(name)
        hp = self.hparams
        transform = TopDownTransform(self.layout, self.input_size, hp.padding,
                                     self.train_augmentation() if train else None)  # fmt: skip
        return MpiiPoseDataset(self.load_index(split), self.image_dir(split), transform, self.dataset_id, hp.padding,
                               max_failure_fraction=hp.max_failure_fraction, min_failures=hp.min_failures,
                               reduced_decode=hp.reduced_decode, roi_decode=hp.roi_decode)  # fmt: skip
