"""Top-down pose samples of a person-instance index (:class:`~har.data.formats.coco.CocoIndex`: COCO, MERL pose)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from har.data.datasets.failures import ReadFailures
from har.data.formats.coco import CocoIndex
from har.data.io import images, jpeg_roi
from har.data.io.images import ImageReadError
from har.data.sampling import sample_rng
from har.data.transforms.topdown import TopDownTransform
from har.geometry.affine import decode_reduction

log = logging.getLogger(__name__)


class TopDownPoseDataset(Dataset):
    """Person instances of a :class:`CocoIndex` as top-down samples.

    Each item is a dict of tensors: ``image`` (3, H, W) uint8 RGB, the targets of :class:`TopDownTransform`, and
    what evaluation needs in original pixels: ``keypoints`` (J, 3), ``bbox`` (4,), ``area``, ``image_id``,
    ``ann_id``, ``index`` (the instance actually returned, which differs from the one asked for when its image
    could not be read).

    Unreadable images: a missing or undecodable image is logged (once per file), counted, and the next instance
    whose image reads is returned instead (deterministic); past ``max_failure_fraction`` of failed reads (after at
    least ``min_failures``) the run stops (:class:`~har.data.datasets.failures.ReadFailures`).

    Args:
        index: the instances.
        image_dir: folder the index's file names are relative to.
        transform: builds the sample (augmented when it has an augmentation).
        max_failure_fraction: tolerated fraction of failed image reads.
        min_failures: failures needed before the fraction is checked (one bad image early on is not a trend).
        reduced_decode: decode JPEGs at 1/2, 1/4 or 1/8 resolution when the window allows it (see
            :func:`~har.geometry.affine.decode_reduction`).
        roi_decode: decode only the JPEG region the crop reads (:mod:`har.data.io.jpeg_roi`; the same pixels as a
            whole decode). Off, or where the native decoder is unavailable, images are decoded whole.
    """

    def __init__(self, index: CocoIndex, image_dir: str | Path, transform: TopDownTransform,
                 max_failure_fraction: float = 0.01, min_failures: int = 10,
                 reduced_decode: bool = True, roi_decode: bool = True) -> None:  # fmt: skip
        self.index = index
        self.image_dir = Path(image_dir)
        self.transform = transform
        self.reads = ReadFailures(max_failure_fraction, min_failures)
        self.reduced_decode = reduced_decode
        self.roi_decode = roi_decode
        self.corrupt_reads = 0  # reads whose window held corrupt JPEG data (decoded with libjpeg's fill-in)
        self._corrupt_images: set[int] = set()
        self._decode_region = jpeg_roi.RegionDecoder() if roi_decode else None
        if roi_decode:
            jpeg_roi.load()  # build (if needed) and load here, before DataLoader workers start; warns if it can't

    @property
    def failures(self) -> int:
        return self.reads.failures

    @property
    def attempts(self) -> int:
        return self.reads.attempts

    def __len__(self) -> int:
        return len(self.index)

    def _read(self, i: int) -> tuple[np.ndarray, str]:
        """Instance ``i``'s image file as bytes, and how messages name it. Raises ImageReadError."""
        path = self.image_dir / self.index.image_file(i)
        what = f"image {path} (annotation id {int(self.index.ann_ids[i])})"
        return images.read_bytes(path, what), what

    def _annotated_size(self, i: int) -> tuple[int, int] | None:
        """The annotation file's (width, height) of instance ``i``'s image; None where it gives none (0)."""
        w, h = self.index.image_sizes[self.index.ann_image[i]]
        return (int(w), int(h)) if w > 0 and h > 0 else None

    def decode_image(self, i: int, reduction: int = 1) -> tuple[np.ndarray, int]:
        """Instance ``i``'s whole image, BGR, at 1/``reduction`` where the file is a JPEG, in the annotations' frame
        (:mod:`har.data.io.images`). Returns the image and the reduction applied. Raises ImageReadError."""
        data, what = self._read(i)
        return images.decode_whole(data, what, self._annotated_size(i), reduction)

    def decode_window(self, i: int, m: np.ndarray) -> tuple[np.ndarray, int, tuple[int, int]]:
        """The pixels instance ``i``'s crop (matrix ``m``, original → crop) reads, BGR: ``(image, reduction,
        origin)`` for :meth:`TopDownTransform.warp` (see :func:`har.data.io.images.decode_window`). The region lives
        in a buffer the next call reuses: warp (or copy) it before decoding the next one."""
        reduction = decode_reduction(m) if self.reduced_decode else 1
        data, what = self._read(i)
        window = images.decode_window(data, what, self._annotated_size(i), reduction,
                                      lambda r: self.transform.source_window(m, r), self._decode_region)  # fmt: skip
        if window.corrupt:
            self._log_corrupt(i, what, window.corrupt)
        return window.image, window.reduction, window.origin

    def image_key(self, i: int) -> int:
        """Which image instance ``i`` reads (failed and corrupt reads are logged once per image)."""
        return int(self.index.ann_image[i])

    def _log_corrupt(self, i: int, what: str, message: str) -> None:
        self.corrupt_reads += 1
        image = self.image_key(i)
        if image not in self._corrupt_images:
            self._corrupt_images.add(image)
            log.warning("%s: corrupt JPEG data inside the crop's window, filled in by libjpeg (%s)", what, message)

    def load(self, i: int, rng: np.random.Generator | None = None) -> dict:
        """Instance ``i`` as a sample (augmented from ``rng`` when the transform augments), without the failure
        handling of ``__getitem__``."""
        idx, t = self.index, self.transform
        keypoints, bbox = idx.keypoints[i], idx.bboxes[i]
        m, flip = t.affine(bbox, keypoints, rng)
        image, reduction, origin = self.decode_window(i, m)
        crop, m = t.warp(image, m, reduction, origin)
        sample = t.sample(crop, keypoints, m, flip, bgr=True)
        sample.update(
            keypoints=torch.from_numpy(keypoints),
            bbox=torch.from_numpy(bbox),
            area=torch.tensor(float(idx.areas[i])),
            image_id=torch.tensor(int(idx.image_ids[idx.ann_image[i]])),
            ann_id=torch.tensor(int(idx.ann_ids[i])),
            index=torch.tensor(i),
        )
        return sample

    def __getitem__(self, i: int) -> dict:
        rng = sample_rng() if self.transform.augment is not None else None
        n = len(self)
        for k in range(n):
            j = (i + k) % n
            self.reads.attempt()
            try:
                return self.load(j, rng)
            except ImageReadError as err:
                self.reads.record(self.image_key(j), err)
        raise RuntimeError(f"no image under {self.image_dir} could be read ({n} tried): {self.reads.examples}")
