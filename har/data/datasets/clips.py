"""Action-clip datasets: a clip index (frames, boxes, labels) sampled (:mod:`har.data.sampling`) and cropped
(:mod:`har.data.transforms.clip`); subclasses per format say how long a clip is, how to read its frames and where
its boxes are. :class:`MultiClipDataset` turns an evaluation dataset into several clips per video (deephar's
enumeration, or windows spread over it)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from har.data.clip_protocol import deephar_multi_clips, multi_clip_indices
from har.data.io import jpeg_roi
from har.data.sampling import ClipSampler, multi_clip_positions, sample_rng
from har.data.transforms.clip import ClipTransform, flip_sample
from har.geometry.affine import crop_source_window
from har.geometry.boxes import fill_empty_boxes
from har.geometry.warp import warp_region


def keypoint_boxes(keypoints: np.ndarray) -> np.ndarray:
    """(N, J, 3) keypoints x, y, v → (N, 4) [x1, y1, x2, y2] boxes of each row's labelled joints (v > 0), widened to
    at least one pixel; NaN rows where none is labelled."""
    out = np.full((len(keypoints), 4), np.nan, np.float32)
    labelled = keypoints[..., 2] > 0
    rows = labelled.any(axis=1)
    if rows.any():
        xy = keypoints[rows, :, :2].astype(np.float64)
        mask = labelled[rows]
        lo = np.where(mask[..., None], xy, np.inf).min(axis=1)
        hi = np.where(mask[..., None], xy, -np.inf).max(axis=1)
        out[rows] = np.concatenate([lo, np.maximum(hi, lo + 1.0)], axis=1)
    return out


class ClipDataset(Dataset):
    """Labelled clips as samples; subclasses say how long a clip is, how to read its frames and where its boxes are.

    An item is a dict: ``frames`` (T, 3, H, W) uint8 RGB, ``label`` () int64, ``clip_id`` str, ``index`` () int64,
    ``frame_indices`` (T,) int64 (see :meth:`frame_numbers`), ``crop_to_image`` (T, 2, 3) float32 (crop pixels →
    original pixels, per frame; equal rows when ``crop="clip"``), ``flipped`` () bool; where the dataset has keypoints
    (:meth:`keypoints`), ``keypoints`` (T, J, 3) image pixels, ``keypoints_crop`` (T, J, 3) crop pixels and the pose
    targets ``pose_uv`` (T, J, 2), ``pose_valid``, ``pose_z``, ``pose_z_valid`` (T, J)
    (:func:`har.data.transforms.clip.clip_pose_targets`; depth from :meth:`pose_depth`).

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

    def pose_depth(self, i: int, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Optional depth targets of the clip at ``positions``: z (T, J) in [0, 1] and its validity (T, J) bool."""
        return None

    def __getitem__(self, i: int) -> dict:
        rng = sample_rng() if self.train else None
        return self.item(i, self.sampler(self.clip_length(i), rng), rng)

    def read_encoded(self, i: int, positions: np.ndarray) -> list[tuple[np.ndarray, str]] | None:
        """The encoded files of clip ``i``'s frames at ``positions`` with their paths, for decoding only the crop's
        region of each (see :meth:`item`), or None: frames are decoded whole by :meth:`read_frames`. Raises OSError
        naming the frame and the clip for a missing file."""
        return None

    def multi_clip_box(self, i: int, clip: int) -> np.ndarray | None:
        """A fixed person box (4,) [x1, y1, x2, y2] for clip number ``clip`` of deephar's multi-clip enumeration of
        video ``i`` (deephar's CVPR'18 Penn boxes are per test clip), or None: the frames' boxes."""
        return None

    def item(self, i: int, positions: np.ndarray, rng: np.random.Generator | None = None,
             boxes: np.ndarray | None = None) -> dict:  # fmt: skip
        """The sample of clip ``i`` at frame ``positions`` (augmented with ``rng`` when training); ``boxes`` (T, 4)
        replaces the frames' boxes (:meth:`clip_boxes`) when given."""
        keypoints = self.keypoints(i, positions)
        depth = self.pose_depth(i, positions) if keypoints is not None else None
        encoded = self.read_encoded(i, positions) if self.roi_decode else None
        sample = self._item_from_regions(i, positions, encoded, rng, keypoints, depth, boxes) if encoded else None
        if sample is None:
            frames = self.read_frames(i, positions)
            h0, w0 = frames[0].shape[:2]
            if boxes is None:
                boxes = fill_empty_boxes(self.clip_boxes(i), (w0, h0))[positions]  # filled from the whole clip's frames
            sample = self.transform(frames, boxes, rng, keypoints, depth)
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
                           rng: np.random.Generator | None, keypoints: np.ndarray | None,
                           depth: tuple[np.ndarray, np.ndarray] | None = None,
                           boxes: np.ndarray | None = None) -> dict | None:  # fmt: skip
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
        if boxes is None:
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
        return self.transform.sample(clip, affines, flipped, keypoints, depth)


TEST_PROTOCOLS = ("spread", "deephar")


class MultiClipDataset(Dataset):
    """Multi-clip testing: every video of an evaluation :class:`ClipDataset` as several clips (and their mirror images
    with ``flip``), for metrics that fuse a video's clip scores before the argmax.

    Protocols (the clips' stride is the sampler's ``eval_stride`` s, T its ``num_frames``):

    - ``deephar``: deephar's enumeration (:func:`har.data.clip_protocol.deephar_multi_clips`): clips start every
      ``int(T / 2) + s − 1`` frames while ``start + T·s ≤ n``; a video with no such clip (``n < T·s``) is scored on
      one clip, deephar's centred single clip (stride lowered, frames repeated when ``n < T``), flagged ``short``
      (deephar gives it no clip and counts it correct: a metric's reproduction flag may do that with ``short``).
      ``num_clips`` is unused. Where the base dataset has a box per clip (:meth:`ClipDataset.multi_clip_box`, deephar's
      CVPR'18 Penn boxes), the clip and its mirror are cropped around it.
    - ``spread``: ``num_clips`` windows spread evenly over the video (:func:`har.data.sampling.multi_clip_positions`);
      ``short`` where the window had to lower its stride or repeat frames (``n < (T − 1)·s + 1``).

    Each item is the base sample plus ``index`` (item number), ``video`` (the base dataset's index of the video,
    unique in the split), ``clip`` (clip number in the video) and ``short`` () bool; items run video by video, clip by
    clip, the unflipped clip before its mirror.
    """

    def __init__(self, base: ClipDataset, num_clips: int = 1, flip: bool = False, protocol: str = "spread") -> None:
        if num_clips < 1:
            raise ValueError(f"num_clips must be >= 1, got {num_clips}")
        if protocol not in TEST_PROTOCOLS:
            raise ValueError(f"multi-clip protocol {protocol!r}: expected one of {TEST_PROTOCOLS}")
        self.base, self.num_clips, self.flip, self.protocol = base, num_clips, flip, protocol
        self.num_frames, self.stride = int(base.sampler.num_frames), int(base.sampler.eval_stride)
        counts, short = [], []
        for video in range(len(base)):
            n = base.clip_length(video)
            if protocol == "deephar":
                k = len(deephar_multi_clips(n, self.num_frames, self.stride))
                counts.append(max(k, 1))
                short.append(k == 0)
            else:
                counts.append(num_clips)
                short.append(n < (self.num_frames - 1) * self.stride + 1)
        mirrors = 2 if flip else 1
        self.clips_per_video = np.asarray(counts, np.int64)
        self.short = np.asarray(short, bool)
        self._offsets = np.concatenate([[0], np.cumsum(self.clips_per_video * mirrors)]).astype(np.int64)
        self._mirrors = mirrors

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def positions(self, video: int, clip: int) -> np.ndarray:
        """(T,) frame positions of clip ``clip`` of ``video``."""
        n = self.base.clip_length(video)
        if self.protocol == "spread":
            return multi_clip_positions(n, self.num_frames, self.stride, self.num_clips)[clip]
        return multi_clip_indices(n, self.num_frames, self.stride, short_video="pad")[clip]

    def __getitem__(self, k: int) -> dict:
        if not 0 <= k < len(self):
            raise IndexError(f"item {k} outside a multi-clip dataset of {len(self)}")
        video = int(np.searchsorted(self._offsets, k, side="right") - 1)
        clip, mirrored = divmod(int(k - self._offsets[video]), self._mirrors)
        positions = self.positions(video, clip)
        box = None
        if self.protocol == "deephar" and not self.short[video]:
            box = getattr(self.base, "multi_clip_box", lambda *_: None)(video, clip)
        if box is None:
            sample = self.base.item(video, positions)
        else:
            sample = self.base.item(video, positions, boxes=np.tile(np.asarray(box, np.float64), (len(positions), 1)))
        if mirrored:
            transform = getattr(self.base, "transform", None)
            sample = flip_sample(sample, getattr(transform, "flip_index", None))
        return {
            **sample,
            "index": torch.tensor(k, dtype=torch.int64),
            "video": torch.tensor(video, dtype=torch.int64),
            "clip": torch.tensor(clip, dtype=torch.int64),
            "short": torch.tensor(bool(self.short[video])),
        }
