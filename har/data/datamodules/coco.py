"""LightningDataModule for COCO-format person keypoints (real COCO 2017, or the synthetic set in its format)."""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only

from har.data.datamodules.base import BaseDataModule, write_data_report
from har.data.datasets.topdown import TopDownPoseDataset
from har.data.formats.coco import CocoFilters, CocoGroundTruth, CocoIndex, load_coco_ground_truth, load_coco_index
from har.data.transforms.augmentation import Augmentation
from har.data.transforms.batch_photometric import BatchPhotometric
from har.data.transforms.topdown import TopDownTransform
from har.layouts import get_layout
from har.metrics.coco_ap import KeypointGroundTruth
from har.synthetic.coco import ensure_synthetic_coco
from har.utils.io import remove_stale_temporaries

log = logging.getLogger(__name__)


class CocoPoseDataModule(BaseDataModule):
    """Top-down person samples from ``ROOT/annotations/person_keypoints_<split>.json`` and ``ROOT/<split>/``.

    Args:
        root: dataset folder in the COCO 2017 layout.
        layout: joint layout name (``coco17``).
        input_size: network input (H, W), each a multiple of 32.
        batch_size: per device.
        num_workers, pin_memory, persistent_workers: DataLoader settings (GPU nodes: workers > 0, pinned memory).
        train_split, val_split, test_split: split names (``train2017``, ``val2017``; COCO tests on val).
        padding: box-to-window enlargement.
        augment: training augmentation (fields of :class:`Augmentation`), or None to disable.
        filters: instance filters (fields of :class:`CocoFilters`).
        synthetic: generator parameters: when set, ``prepare_data`` generates the synthetic set into ``root`` on first
            use (or reuses it); None for real data.
        cache: keep each split's validated index in an ``.npz`` cache next to its annotation file (see
            :func:`har.data.formats.coco.load_coco_index`), so later starts skip the JSON.
        report_dir: where rank 0 writes ``data_report_<split>.json`` (what was removed and why, every bad record);
            None: no report file. The one-line summary is logged either way.
        max_failure_fraction: tolerated fraction of image reads that fail (missing or undecodable files are logged
            and replaced by the next readable instance); past it, after at least ``min_failures`` failures, the run
            stops. 0: stop at the first unreadable image. Counted per DataLoader worker.
        min_failures: failures needed before ``max_failure_fraction`` is checked.
        reduced_decode: decode a JPEG at 1/2, 1/4 or 1/8 resolution where the crop window is that many times larger
            than the crop (exact change of coordinates; see :mod:`har.data.transforms.topdown`).
        roi_decode: decode only the part of a JPEG a crop reads (libjpeg-turbo, :mod:`har.data.io.jpeg_roi`): the same
            pixels as a whole decode, at a fraction of the cost for people smaller than their image.
    """

    def __init__(
        self,
        root: str,
        layout: str = "coco17",
        input_size: tuple[int, int] = (256, 256),
        batch_size: int = 16,
        num_workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        train_split: str = "train2017",
        val_split: str = "val2017",
        test_split: str = "val2017",
        padding: float = 1.25,
        augment: dict | None = None,
        filters: dict | None = None,
        synthetic: dict | None = None,
        cache: bool = True,
        report_dir: str | None = None,
        max_failure_fraction: float = 0.01,
        min_failures: int = 10,
        reduced_decode: bool = True,
        roi_decode: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.root = Path(root)
        self.layout = get_layout(layout)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.augment = Augmentation(**augment) if augment is not None else None
        self.batch_photometric: BatchPhotometric | None = None  # set by setup() when the ops run on the device
        self.filters = CocoFilters(**(filters or {}))
        self.indexes: dict[str, CocoIndex] = {}  # by split: val and test share val2017's
        self._ground_truths: dict[str, KeypointGroundTruth] = {}  # by split, built on first use (rank 0 only)

    synthetic_generator = staticmethod(ensure_synthetic_coco)
    readme_section = "Training on COCO"

    def required_paths(self, splits: set[str]) -> list[tuple[Path, str]]:
        """``root``, then per split its annotation file and image folder."""
        paths = [(self.root, "data.root")]
        for split in dict.fromkeys(self.split_of(name) for name in ("train", "val", "test") if name in splits):
            paths += [(self.annotation_file(split), f"the {split} annotation file"),
                      (self.image_dir(split), f"the {split} image folder")]  # fmt: skip
        return paths

    def expected_layout(self) -> str:
        hp = self.hparams
        splits = ",".join(dict.fromkeys((hp.train_split, hp.val_split, hp.test_split)))
        return f"{self.root}/annotations/person_keypoints_{{{splits}}}.json and {self.root}/{{{splits}}}/*.jpg"

    def prepare_data(self) -> None:
        super().prepare_data()
        for split in dict.fromkeys((self.hparams.train_split, self.hparams.val_split, self.hparams.test_split)):
            remove_stale_temporaries(self.annotation_file(split).parent)  # index caches of a killed writer
        if self.hparams.cache:
            # Build each split's index cache once, here (one process per node), so that every rank's setup reads
            # the cache instead of parsing the JSON: the first parse of COCO train peaks at ~2.4 GB per process.
            hp = self.hparams
            for split in dict.fromkeys((hp.train_split, hp.val_split, hp.test_split)):
                if self.annotation_file(split).is_file():
                    load_coco_index(self.annotation_file(split), self.layout.num_joints, self.filters, cache=True,
                                    verbose=False)  # fmt: skip

    def annotation_file(self, split: str) -> Path:
        return self.root / "annotations" / f"person_keypoints_{split}.json"

    def image_dir(self, split: str) -> Path:
        return self.root / split

    def split_of(self, name: str) -> str:
        """The split of dataset ``name`` ("train", "val", "test")."""
        return self.hparams[f"{name}_split"]

    def eval_split(self, stage: str) -> str:
        return self.split_of("val" if stage == "val" else "test")

    def eval_ground_truth(self, stage: str) -> KeypointGroundTruth:
        """Ground truth of COCO keypoint AP for a stage ("val" or "test"), built once per split: the split's
        well-formed records (the index's bad records removed; crowd regions and records without labelled joints
        kept, COCOeval's ignore regions)."""
        split = self.eval_split(stage)
        if split not in self._ground_truths:
            gt = self.read_ground_truth(split)
            log.info(gt.summary())
            self._ground_truths[split] = KeypointGroundTruth(gt)
        return self._ground_truths[split]

    def read_ground_truth(self, split: str) -> CocoGroundTruth:
        """Read and validate a split's ground truth (subclasses read other formats)."""
        return load_coco_ground_truth(self.annotation_file(split), self.layout.num_joints, self.hparams.cache)

    def read_index(self, split: str) -> CocoIndex:
        """Read and validate a split (subclasses read other formats into the same index)."""
        return load_coco_index(
            self.annotation_file(split), self.layout.num_joints, self.filters, self.hparams.cache, verbose=False
        )

    def load_index(self, split: str) -> CocoIndex:
        """The split's validated index, loaded once; its summary line and report come with the first load."""
        if split not in self.indexes:
            index = self.read_index(split)
            self._report(split, index)
            if len(index) == 0:
                raise ValueError(f"split {split!r} has no instance left to train or evaluate on: {index.summary()}")
            self.indexes[split] = index
        return self.indexes[split]

    @rank_zero_only
    def _report(self, split: str, index: CocoIndex) -> None:
        """Log the index's summary line and write ``data_report_<split>.json`` to ``report_dir``."""
        line = index.summary()
        if self.hparams.report_dir is not None:
            path = Path(self.hparams.report_dir) / f"data_report_{split}.json"
            report = {
                "split": split,
                "ann_file": str(index.ann_file),
                "kept": len(index),
                "removed": dict(sorted(index.skipped.items())),
                "num_bad_records": len(index.bad_records),
                "bad_records": [{"id": ann_id, "reason": reason} for ann_id, reason in index.bad_records],
                "filters": asdict(self.filters),
                "index_cache": str(index.cache_file) if index.cache_file else None,
                "from_cache": index.from_cache,
            }
            line = write_data_report(path, report, line)
        log.info(line)

    def build_dataset(self, name: str, train: bool) -> TopDownPoseDataset:
        split = self.split_of(name)
        index = self.load_index(split)
        transform = TopDownTransform(
            self.layout, self.input_size, self.hparams.padding, self.train_augmentation() if train else None
        )
        hp = self.hparams
        return TopDownPoseDataset(index, self.image_dir(split), transform, hp.max_failure_fraction, hp.min_failures,
                                  hp.reduced_decode, hp.roi_decode)  # fmt: skip

    def train_augmentation(self) -> Augmentation | None:
        """The training augmentation with the photometric placement decided (``on_device: auto`` → on the device
        when the trainer runs on an accelerator); sets ``batch_photometric`` accordingly."""
        aug = self.augment
        photometric = aug.photometric if aug is not None else None
        if photometric is None:
            self.batch_photometric = None
            return aug
        on_device = photometric.on_device
        if on_device == "auto":
            trainer = getattr(self, "trainer", None)
            on_device = trainer is not None and trainer.strategy.root_device.type != "cpu"
        elif not isinstance(on_device, bool):
            raise ValueError(f"augment.photometric.on_device must be true, false or auto, got {on_device!r}")
        self.batch_photometric = BatchPhotometric(**asdict(photometric)) if on_device else None
        return replace(aug, photometric=replace(photometric, on_device=on_device))

    def augment_batch(self, batch: dict) -> dict:
        """Training-batch augmentation on the device (the photometric ops when ``on_device``)."""
        if self.batch_photometric is not None:
            batch["image"] = self.batch_photometric(batch["image"])
        return batch

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        trainer = getattr(self, "trainer", None)
        return self.augment_batch(batch) if trainer is not None and trainer.training else batch
