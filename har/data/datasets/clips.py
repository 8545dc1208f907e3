"""Action-clip datasets: a clip index (frames, boxes, labels) sampled (:mod:`har.data.sampling`) and cropped
(:mod:`har.data.transforms.clip`); subclasses per format say how long a clip is, how to read its frames and where
its boxes are. :class:`MultiClipDataset` turns an evaluation dataset into several windows per clip."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from har.data.io import jpeg_roi
from har.data.sampling import ClipSampler, multi_clip_positions, sample_rng
from har.data.transforms.clip import ClipTransform, flip_sample
from har.geometry.affine import crop_source_window
from har.geometry.boxes import fill_empty_boxes
from har.geometry.warp import warp_region


class ClipDataset(Dataset):
    """Labelled clips as samples; subclasses say how long a clip is, how to read its frames and where its boxes are.

    An item is a dict: ``frames`` (T, 3, H, W) uint8 RGB, ``label`` () int64, ``clip_id`` str, ``index`` () int64,
    ``frame_indices`` (T,) int64 (see :meth:`frame_numbers`), ``crop_to_image`` (T, 2, 3) float32 (crop pixels →
    original pixels, per frame; equal rows when ``crop="clip"``), ``flipped`` () bool.

    Args:
        sampler: frame positions of a clip.
        transform: windows, augmentation and warping; augmentation runs only when ``train``.
        train: random sampling and augmentation (a fresh :func:`sample_rng` per item), else deterministic.
        classes: class names, index = label.
        roi_decode: decode only each frame's crop region where :meth:`read_encoded` gives the frames' JPEG bytes
            (the same samples, faster; see :meth:`item`); datasets that cannot (videos) decode whole frames.
    """

    def __init__(self, sampler: ClipSampler, transform: ClipTransform, train: bool, classes: Sequence[str],
                 roi_decode: bool = False) -> None:  # fmt: skip
        self.sampler = sampler
        self.transform = transform
        self.train = train
        self.classes = tuple(classes)
        self.roi_decode = roi_decode
        self._decode_region = jpeg_roi.RegionDecoder()
        if roi_decode:
            jpeg_roi.load()  # build (if needed) and load here, before DataLoader workers start; warns if it can't

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def clip_length(self, i: int) -> int:
        """Frames in clip ``i``."""
        raise NotImplementedError

    def read_frames(self, i: int, positions: np.ndarray) -> list[np.ndarray]:
        """Frames at sorted ``positions`` (repeats allowed) of clip ``i``, each (H0, W0, 3) uint8 RGB."""
        raise NotImplementedError

    def clip_boxes(self, i: int) -> np.ndarray:
        """(length, 4) [x1, y1, x2, y2] person boxes of clip ``i``, NaN rows where a frame has none."""
        raise NotImplementedError

    def label(self, i: int) -> int:
        raise NotImplementedError

    def clip_id(self, i: int) -> str:
        raise NotImplementedError

    def frame_numbers(self, i: int, positions: np.ndarray) -> np.ndarray:
        """What ``frame_indices`` reports for ``positions``: positions in the clip unless a subclass says otherwise."""
        return positions

    def keypoints(self, i: int, positions: np.ndarray) -> np.ndarray | None:
        """Optional (T, J, 3) keypoints in image pixels at ``positions``."""
        return None

    def __getitem__(self, i: int) -> dict:
        rng = sample_rng() if self.train else None
        return self.item(i, self.sampler(self.clip_length(i), rng), rng)

    def read_encoded(self, i: int, positions: np.ndarray) -> list[tuple[np.ndarray, str]] | None:
        """The encoded files of clip ``i``'s frames at ``positions`` with their paths, for decoding only the crop's
        region of each (see :meth:`item`), or None: frames are decoded whole by :meth:`read_frames`. Raises OSError
        naming the frame and the clip for a missing file."""
        return None

    def item(self, i: int, positions: np.ndarray, rng: np.random.Generator | None = None) -> dict:
        """The sample of clip ``i`` at frame ``positions`` (augmented with ``rng`` when training)."""
        keypoints = self.keypoints(i, positions)
        encoded = self.read_encoded(i, positions) if self.roi_decode else None
        sample = self._item_from_regions(i, positions, encoded, rng, keypoints) if encoded else None
        if sample is None:
            frames = self.read_frames(i, positions)
            h0, w0 = frames[0].shape[:2]
            boxes = fill_empty_boxes(self.clip_boxes(i), (w0, h0))[positions]  # filled from the whole clip's frames
            sample = self.transform(frames, boxes, rng, keypoints)
        if keypoints is not None:
            sample["keypoints"] = torch.from_numpy(keypoints.astype(np.float32))
        sample.update(
            label=torch.tensor(self.label(i), dtype=torch.int64),
            clip_id=self.clip_id(i),
            index=torch.tensor(i, dtype=torch.int64),
            frame_indices=torch.from_numpy(np.asarray(self.frame_numbers(i, positions), dtype=np.int64)),
        )
        return sample

    def _item_from_regions(self, i: int, positions: np.ndarray, encoded: list[tuple[np.ndarray, str]],
                           rng: np.random.Generator | None, keypoints: np.ndarray | None) -> dict | None:  # fmt: skip
        """The transform's sample from the JPEG regions its crops read (libjpeg-turbo, :mod:`har.data.io.jpeg_roi`):
        the same sample as from whole frames. None, before anything is drawn from ``rng``, where a frame is not a
        plain JPEG (another format, CMYK, an EXIF orientation) or the decoder is unavailable: decode whole then."""
        if jpeg_roi.load() is None:
            return None
        try:
            infos = [jpeg_roi.jpeg_info(data) for data, _ in encoded]
        except jpeg_roi.JpegDecodeError:
            return None  # not a JPEG, or a broken one: the whole-frame path decodes it or names it
        if any(info.orientation > 1 or not info.supported for info in infos):
            return None
        image_size = infos[0].size
        boxes = fill_empty_boxes(self.clip_boxes(i), image_size)[positions]
        affines, flipped = self.transform.plan(boxes, image_size, rng)
        out_h, out_w = self.transform.input_size
        crops = []
        for (data, path), m in zip(encoded, affines):
            try:
                roi = self._decode_region(data, crop_source_window(m, (out_w, out_h)), check_orientation=False)
            except jpeg_roi.JpegDecodeError as err:
                raise OSError(f"frame {path} (clip {self.clip_id(i)!r}) cannot be decoded ({err})") from None
            crops.append(warp_region(roi.image, roi.origin, m, (out_h, out_w)))
        clip = torch.from_numpy(np.ascontiguousarray(np.stack(crops)[..., ::-1].transpose(0, 3, 1, 2)))  # BGR → RGB
        return self.transform.sample(clip, affines, flipped, keypoints)


class MultiClipDataset(Dataset):
    """Multi-clip testing: every clip of an evaluation :class:`ClipDataset` as ``num_clips`` windows (and their
    mirror images with ``flip``); each item carries ``video``, the clip's index, so that metrics average the class
    probabilities of a video's items before the argmax (deephar multiplied them instead; averaging is the mmaction2
    convention)."""

    def __init__(self, base: ClipDataset, num_clips: int = 1, flip: bool = False) -> None:
        if num_clips < 1:
            raise ValueError(f"num_clips must be >= 1, got {num_clips}")
        self.base, self.num_clips, self.flip = base, num_clips, flip
        self.per_video = num_clips * (2 if flip else 1)

    def __len__(self) -> int:
        return len(self.base) * self.per_video

    def __getitem__(self, k: int) -> dict:
        video, j = divmod(k, self.per_video)
        clip, mirrored = divmod(j, 2) if self.flip else (j, 0)
        stride = self.base.sampler.eval_stride
        positions = multi_clip_positions(self.base.clip_length(video), self.base.sampler.num_frames, stride,
                                         self.num_clips)[clip]  # fmt: skip
        sample = self.base.item(video, positions)
        if mirrored:
            sample = flip_sample(sample)
        return {**sample, "index": torch.tensor(k, dtype=torch.int64), "video": torch.tensor(video, dtype=torch.int64)}
