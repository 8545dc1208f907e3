"""Clip samples for action recognition: crop windows of a clip's frames, one affine per frame, warped frames.

- **Windows** (:func:`clip_windows`): one window per clip (the union of the sampled frames' boxes, deephar-style) or
  one per frame, grown to the input's aspect ratio and padded (:func:`har.geometry.boxes.box_window`), never larger
  than the whole frame's window. Frames without a box take the nearest frame's box, else the whole frame
  (:func:`har.geometry.boxes.fill_empty_boxes`).
- **Affines** (:func:`clip_affines`): one augmentation draw per clip
  (:class:`~har.data.transforms.augmentation.GeometricAugmentation`) applied to every frame's window, so the clip
  moves as one; the crop convention is :mod:`har.geometry.affine`'s.
- **Warping** (:func:`warp_clip`): frames → (T, 3, H, W) uint8.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from har.data.transforms.augmentation import GeometricAugmentation, Jitter
from har.geometry.affine import crop_affine, invert_affine
from har.geometry.boxes import box_window, fill_empty_boxes, union_box
from har.geometry.warp import warp_region

CROPS = ("clip", "frame")


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


def clip_affines(
    centers: np.ndarray, sizes: np.ndarray, input_size: tuple[int, int], jitter: Jitter | None = None
) -> np.ndarray:
    """(T, 2, 3) image → crop matrices for windows (T, 2) centres and (T, 2) sizes, one ``jitter`` for all frames.

    ``input_size`` is the crop (H, W).
    """
    jitter = jitter or Jitter()
    out_h, out_w = input_size
    mats = []
    for center, size in zip(centers, sizes):
        center, size = jitter.apply(center, size)
        mats.append(crop_affine(center, size, (out_w, out_h), jitter.rotation, jitter.flip))
    return np.stack(mats)


def warp_clip(frames: Sequence[np.ndarray], affines: np.ndarray, input_size: tuple[int, int]) -> torch.Tensor:
    """Frames (each (H0, W0, 3) uint8) warped by (T, 2, 3) affines into a (T, 3, H, W) uint8 tensor."""
    crops = [warp_region(f, (0, 0), m, input_size) for f, m in zip(frames, affines)]
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
                 augment: GeometricAugmentation | None = None, flip_index: np.ndarray | None = None) -> None:  # fmt: skip
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
        jitter = self.augment.draw(rng) if (self.augment is not None and rng is not None) else None
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


def flip_sample(sample: dict) -> dict:
    """A clip sample mirrored horizontally: frames flipped, ``crop_to_image`` composed with the mirror."""
    width = sample["frames"].shape[-1]
    m = sample["crop_to_image"].clone()  # (T, 2, 3): crop pixels → image pixels
    m[..., 2] += (width - 1) * m[..., 0]  # x = W − 1 − x' in the unflipped crop
    m[..., 0] = -m[..., 0]
    return {**sample, "frames": sample["frames"].flip(-1), "crop_to_image": m, "flipped": torch.tensor(True)}
