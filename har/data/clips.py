"""Video clips for action recognition: which frames, which crop window, one affine per frame, warped frames.

Pure pieces shared by the MERL datamodules (:mod:`har.data.merl_action`, :mod:`har.data.merl_videos`):

- **Frame sampling** (:class:`ClipSampler`): ``window`` is deephar's (``get_clip_frame_index``): T frames with stride
  s from a random start in training, the centred start in evaluation; a video too short for s gets the largest
  stride that fits, and one shorter than T is stretched by 1.5^n with the indices floored (frames repeat, never an
  index error). deephar lowered s to ``n // T``; here to the largest s with ``s·(T − 1) + 1 ≤ n``. ``subset`` is
  the seed fork's: a random ordered subset of T frames (short clips padded with random repeats, sorted); in
  evaluation its deterministic counterpart, T frames spread evenly over the clip.
- **Boxes** ([x1, y1, x2, y2] pixels, NaN rows = no box): :func:`fill_empty_boxes` gives a frame without a box the
  box of the nearest frame with one, else the whole frame.
- **Windows** (:func:`clip_windows`): one window per clip (the union of the sampled frames' boxes, deephar-style) or
  one per frame, grown to the input's aspect ratio and padded (:func:`har.codec.bbox_to_center_size`), never
  larger than the whole frame's window.
- **Affines** (:func:`clip_affines`): one augmentation draw per clip (scale, translation, rotation, horizontal flip)
  applied to every frame's window, so the clip moves as one; the crop convention is :mod:`har.codec`'s.
- **Warping** (:func:`warp_clip`): frames → (T, 3, H, W) uint8.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from har.codec import bbox_to_center_size, crop_affine, crop_source_window, invert_affine, shift_affine
from har.data import jpeg_roi

cv2.setNumThreads(1)  # one thread per DataLoader worker; parallelism comes from the workers

SAMPLINGS = ("window", "subset")
CROPS = ("clip", "frame")


def sample_rng() -> np.random.Generator:
    """A generator for one training sample, seeded from torch's RNG.

    torch's RNG is seeded per DataLoader worker and per epoch (and by ``seed_everything``), and advances in the main
    process, so draws differ across workers, epochs and samples, with or without workers, and are reproducible.
    """
    return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))


# ---------------------------------------------------------------------------------------------------------------
# Frame sampling


def window_indices(length: int, num_frames: int, stride: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """deephar's clip: ``num_frames`` indices into ``range(length)`` with ``stride``; (T,) int64, non-decreasing.

    The start is random (``rng``) or centred (``rng=None``). Too short for the stride: the largest stride that fits.
    Shorter than T: the index range is stretched by the smallest 1.5^n that fits T frames, indices floored.
    """
    if length < 1:
        raise ValueError(f"cannot sample a clip from {length} frames")
    if num_frames < 1 or stride < 1:
        raise ValueError(f"num_frames ({num_frames}) and stride ({stride}) must be ≥ 1")
    coef = 1.0
    while coef * length < num_frames:
        coef *= 1.5
    span_length = length * coef  # the (stretched) index range
    if num_frames > 1:
        stride = max(1, min(stride, int((span_length - 1) // (num_frames - 1))))
    span = stride * (num_frames - 1) + 1
    max_start = int(span_length - span)
    start = int(rng.integers(max_start + 1)) if rng is not None else max_start // 2
    index = start + stride * np.arange(num_frames, dtype=np.float64)
    if coef > 1:
        index = np.floor(index / coef)
    return np.minimum(index, length - 1).astype(np.int64)


def subset_indices(length: int, num_frames: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """The fork's clip: a random ordered subset of ``num_frames`` indices (``rng``), or, with ``rng=None``, T indices
    spread evenly and centred over the clip. Short clips: every frame once plus random repeats, sorted.
    """
    if length < 1:
        raise ValueError(f"cannot sample a clip from {length} frames")
    if rng is None:
        return np.floor((np.arange(num_frames) + 0.5) * (length / num_frames)).astype(np.int64)
    if length >= num_frames:
        index = rng.choice(length, size=num_frames, replace=False)
    else:
        index = np.concatenate([np.arange(length), rng.integers(length, size=num_frames - length)])
    return np.sort(index).astype(np.int64)


@dataclass
class ClipSampler:
    """Picks T frame positions in a clip of ``length`` frames.

    Attributes:
        num_frames: T.
        sampling: ``window`` (deephar) or ``subset`` (the fork); see the module docstring.
        strides: training strides (``window``), one drawn uniformly per sample (deephar's Penn AR: {1, 2, 3}).
        eval_stride: the evaluation stride (``window``; deephar's Penn/NTU AR test value: 2).
    """

    num_frames: int = 8
    sampling: str = "window"
    strides: Sequence[int] = (1, 2, 3)
    eval_stride: int = 2

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling {self.sampling!r}: expected one of {SAMPLINGS}")
        if self.num_frames < 1 or not self.strides or min(self.strides) < 1 or self.eval_stride < 1:
            raise ValueError(f"bad clip sampler {self}: num_frames and strides must be ≥ 1")
        self.strides = tuple(int(s) for s in self.strides)

    def __call__(self, length: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """(T,) int64 sorted positions in ``range(length)``; random with ``rng`` (training), else deterministic."""
        if self.sampling == "subset":
            return subset_indices(length, self.num_frames, rng)
        stride = self.eval_stride if rng is None else int(rng.choice(self.strides))
        return window_indices(length, self.num_frames, stride, rng)


# ---------------------------------------------------------------------------------------------------------------
# Boxes and windows


def whole_frame_box(image_size: tuple[int, int]) -> np.ndarray:
    """[x1, y1, x2, y2] of a whole (W, H) frame, whose centre is the frame's centre pixel."""
    return np.array([0.0, 0.0, float(image_size[0]), float(image_size[1])])


def fill_empty_boxes(boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(N, 4) boxes with NaN rows → every row a box: the nearest frame's box (the earlier on a tie), else the whole
    (W, H) frame when no frame has one."""
    boxes = np.asarray(boxes, dtype=np.float64)
    empty = np.isnan(boxes).any(axis=1)
    if not empty.any():
        return boxes.copy()
    have = np.flatnonzero(~empty)
    if have.size == 0:
        return np.tile(whole_frame_box(image_size), (len(boxes), 1))
    missing = np.flatnonzero(empty)
    right = np.clip(np.searchsorted(have, missing), 0, have.size - 1)
    left = np.clip(right - 1, 0, have.size - 1)
    nearest = np.where(np.abs(missing - have[left]) <= np.abs(have[right] - missing), have[left], have[right])
    filled = boxes.copy()
    filled[missing] = boxes[nearest]
    return filled


def parse_box(value, where: str, on_bad_box: str, skipped: Counter) -> list[float]:
    """[x1, y1, x2, y2] of a box as JSON holds it; NaNs for none (missing, null, []) or, with ``on_bad_box="empty"``,
    a malformed one (counted in ``skipped``). A malformed box: not 4 finite numbers, or x2 ≤ x1 or y2 ≤ y1; with
    ``on_bad_box="error"`` it raises ValueError naming ``where``."""
    if value is None or (isinstance(value, list) and not value):
        return [math.nan] * 4
    problem = None
    if not isinstance(value, list) or len(value) != 4:
        problem = "not a list of 4 numbers"
    elif not all(type(v) in (int, float) and math.isfinite(v) for v in value):
        problem = "not 4 finite numbers"
    elif not (value[2] > value[0] and value[3] > value[1]):
        problem = "x2 ≤ x1 or y2 ≤ y1 (expected [x1, y1, x2, y2])"
    if problem is None:
        return [float(v) for v in value]
    if on_bad_box == "error":
        raise ValueError(f"{where}: malformed box {value!r}: {problem}")
    skipped["malformed box (treated as no box)"] += 1
    return [math.nan] * 4


def union_box(boxes: np.ndarray) -> np.ndarray:
    """Smallest [x1, y1, x2, y2] box holding every (N, 4) box."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)])


def box_window(
    box: np.ndarray, image_size: tuple[int, int], aspect_ratio: float, padding: float
) -> tuple[np.ndarray, np.ndarray]:
    """Crop window (centre (2,), size (w, h)) of an [x1, y1, x2, y2] box in a (W, H) frame: grown to
    ``aspect_ratio`` (width / height), padded, and no larger than the whole frame's window (beyond it the crop
    would only gain empty border)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    center, size = bbox_to_center_size(np.array([x1, y1, x2 - x1, y2 - y1]), aspect_ratio, padding)
    _, frame_size = bbox_to_center_size(np.array([0.0, 0.0, *image_size], dtype=np.float64), aspect_ratio, 1.0)
    return center, np.minimum(size, frame_size)


def clip_windows(
    boxes: np.ndarray, image_size: tuple[int, int], aspect_ratio: float, padding: float = 1.25, crop: str = "clip"
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a clip's frames: centres (T, 2) and sizes (T, 2).

    ``crop="clip"``: one window for all frames, from the union of the (T, 4) boxes; ``"frame"``: one per box.
    """
    if crop not in CROPS:
        raise ValueError(f"crop {crop!r}: expected one of {CROPS}")
    if crop == "clip":
        center, size = box_window(union_box(boxes), image_size, aspect_ratio, padding)
        return np.tile(center, (len(boxes), 1)), np.tile(size, (len(boxes), 1))
    windows = [box_window(b, image_size, aspect_ratio, padding) for b in boxes]
    return np.stack([c for c, _ in windows]), np.stack([s for _, s in windows])


# ---------------------------------------------------------------------------------------------------------------
# Augmentation and affines


@dataclass
class ClipAugmentation:
    """Training-time geometric augmentation of a clip: one draw per clip, the same for all its frames.

    Values are drawn uniformly from the ranges. deephar's action recipes: scale {0.7, 1, 1.3}, translation ±40 px,
    no rotation (NTU) or ±30° (Penn pose); the defaults here are small, as a clip's window already holds its motion.
    """

    rotation: float = 10.0  # degrees, ± range
    rotation_prob: float = 0.5  # probability of rotating at all
    scale: tuple[float, float] = (0.85, 1.15)  # window size multiplier
    translation: float = 0.05  # ± fraction of the window size
    flip_prob: float = 0.5


@dataclass(frozen=True)
class ClipJitter:
    """One clip's draw of :class:`ClipAugmentation`."""

    rotation: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)  # fraction of the window size
    flip: bool = False

    @classmethod
    def draw(cls, aug: ClipAugmentation, rng: np.random.Generator) -> ClipJitter:
        rotation = float(rng.uniform(-aug.rotation, aug.rotation)) if rng.random() < aug.rotation_prob else 0.0
        shift = rng.uniform(-aug.translation, aug.translation, size=2)
        return cls(rotation, float(rng.uniform(*aug.scale)), (float(shift[0]), float(shift[1])),
                   bool(rng.random() < aug.flip_prob))  # fmt: skip


def clip_affines(
    centers: np.ndarray, sizes: np.ndarray, input_size: tuple[int, int], jitter: ClipJitter | None = None
) -> np.ndarray:
    """(T, 2, 3) image → crop matrices for windows (T, 2) centres and (T, 2) sizes, one ``jitter`` for all frames.

    ``input_size`` is the crop (H, W).
    """
    jitter = jitter or ClipJitter()
    out_h, out_w = input_size
    mats = []
    for center, size in zip(centers, sizes):
        size = np.asarray(size, dtype=np.float64) * jitter.scale
        center = np.asarray(center, dtype=np.float64) + np.asarray(jitter.shift) * size
        mats.append(crop_affine(center, size, (out_w, out_h), jitter.rotation, jitter.flip))
    return np.stack(mats)


def warp_clip(frames: Sequence[np.ndarray], affines: np.ndarray, input_size: tuple[int, int]) -> torch.Tensor:
    """Frames (each (H0, W0, 3) uint8) warped by (T, 2, 3) affines into a (T, 3, H, W) uint8 tensor."""
    out_h, out_w = input_size
    crops = [
        cv2.warpAffine(f, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        for f, m in zip(frames, affines)
    ]
    return torch.from_numpy(np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2)))


def keypoints_to_crop(
    keypoints: np.ndarray, affines: np.ndarray, flip: bool, flip_index: np.ndarray | None
) -> np.ndarray:
    """(T, J, 3) x, y, v in image pixels → (T, J, 3) in crop pixels; when the clip is flipped, left and right joints
    are swapped with ``flip_index`` (see :attr:`har.layouts.JointLayout.flip_index`) so joint j stays joint j."""
    xy = np.einsum("tjk,tik->tji", keypoints[..., :2].astype(np.float64), affines[:, :, :2]) + affines[:, None, :, 2]
    out = np.concatenate([xy, keypoints[..., 2:3].astype(np.float64)], axis=-1)
    if flip and flip_index is not None:
        out = out[:, flip_index]
    return out


# ---------------------------------------------------------------------------------------------------------------
# One sample


class ClipTransform:
    """Builds a clip sample: boxes → windows → one augmented affine per frame → warped frames.

    Args:
        input_size: crop (H, W).
        crop: ``clip`` (one window per clip) or ``frame`` (one per frame).
        padding: window size over the box size.
        augment: training augmentation; applied only when a ``rng`` is passed.
        flip_index: joint permutation of a horizontal flip, for clips with keypoints.
    """

    def __init__(self, input_size: tuple[int, int], crop: str = "clip", padding: float = 1.25,
                 augment: ClipAugmentation | None = None, flip_index: np.ndarray | None = None) -> None:  # fmt: skip
        if crop not in CROPS:
            raise ValueError(f"crop {crop!r}: expected one of {CROPS}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.crop = crop
        self.padding = padding
        self.augment = augment
        self.flip_index = flip_index

    def plan(self, boxes: np.ndarray, image_size: tuple[int, int],
             rng: np.random.Generator | None = None) -> tuple[np.ndarray, bool]:  # fmt: skip
        """(T, 2, 3) image → crop matrices and the flip flag for boxes (T, 4) [x1, y1, x2, y2] (NaN rows filled from
        the other frames) in images of ``image_size`` (W0, H0); the augmentation is drawn from ``rng``."""
        boxes = fill_empty_boxes(boxes, image_size)
        h, w = self.input_size
        centers, sizes = clip_windows(boxes, image_size, w / h, self.padding, self.crop)
        jitter = ClipJitter.draw(self.augment, rng) if (self.augment is not None and rng is not None) else None
        return clip_affines(centers, sizes, self.input_size, jitter), bool(jitter is not None and jitter.flip)

    def sample(self, clip: torch.Tensor, affines: np.ndarray, flipped: bool,
               keypoints: np.ndarray | None = None) -> dict:  # fmt: skip
        """The sample of warped frames ``clip`` (T, 3, H, W) uint8 RGB made with ``affines``."""
        sample = {
            "frames": clip,
            "crop_to_image": torch.from_numpy(np.stack([invert_affine(m) for m in affines]).astype(np.float32)),
            "flipped": torch.tensor(flipped),
        }
        if keypoints is not None:
            kp = keypoints_to_crop(keypoints, affines, flipped, self.flip_index)
            sample["keypoints_crop"] = torch.from_numpy(kp.astype(np.float32))
        return sample

    def __call__(self, frames: Sequence[np.ndarray], boxes: np.ndarray, rng: np.random.Generator | None = None,
                 keypoints: np.ndarray | None = None) -> dict:  # fmt: skip
        """frames: T arrays (H0, W0, 3) uint8 RGB; boxes: (T, 4) [x1, y1, x2, y2], NaN rows filled here from the
        other frames; keypoints: optional (T, J, 3) in image pixels.

        Returns ``frames`` (T, 3, H, W) uint8, ``crop_to_image`` (T, 2, 3) float32 (crop pixels → image pixels; it
        undoes the flip too), ``flipped`` () bool, and with keypoints ``keypoints_crop`` (T, J, 3) float32.
        """
        h0, w0 = frames[0].shape[:2]
        affines, flipped = self.plan(boxes, (w0, h0), rng)
        return self.sample(warp_clip(frames, affines, self.input_size), affines, flipped, keypoints)


def warp_region(region: np.ndarray, origin: tuple[int, int], m: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """A frame region (h, w, C) uint8 whose pixel (0, 0) is image pixel ``origin``, warped by the image → crop
    affine ``m`` into an (H, W, C) crop: what warping the whole frame gives, when the region holds the pixels
    :func:`har.codec.crop_source_window` names."""
    out_h, out_w = input_size
    return cv2.warpAffine(region, shift_affine(m, origin), (out_w, out_h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)  # fmt: skip


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
        """The transform's sample from the JPEG regions its crops read (libjpeg-turbo, :mod:`har.data.jpeg_roi`):
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


def multi_clip_positions(length: int, num_frames: int, stride: int, num_clips: int) -> list[np.ndarray]:
    """``num_clips`` windows of ``num_frames`` at ``stride``, their starts spread evenly from the first frame to
    the last start that fits (deephar's multi-clip test: windows at regular offsets over the video). A clip too
    short for more than one window gives its centred window ``num_clips`` times."""
    one = window_indices(length, num_frames, stride)
    span = int(one[-1] - one[0]) + 1
    last_start = length - span
    if num_clips <= 1 or last_start <= 0:
        return [one] * max(1, num_clips)
    return [one - one[0] + int(round(s)) for s in np.linspace(0, last_start, num_clips)]


def flip_sample(sample: dict) -> dict:
    """A clip sample mirrored horizontally: frames flipped, ``crop_to_image`` composed with the mirror."""
    width = sample["frames"].shape[-1]
    m = sample["crop_to_image"].clone()  # (T, 2, 3): crop pixels → image pixels
    m[..., 2] += (width - 1) * m[..., 0]  # x = W − 1 − x' in the unflipped crop
    m[..., 0] = -m[..., 0]
    return {**sample, "frames": sample["frames"].flip(-1), "crop_to_image": m, "flipped": torch.tensor(True)}


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
