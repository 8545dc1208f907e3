"""Clip samples for action recognition: crop windows of a clip's frames, one affine per frame, warped frames.

- **Windows** (:func:`clip_windows`): one window per clip (the union of the sampled frames' boxes, deephar-style) or
  one per frame, grown to the input's aspect ratio and padded (:func:`har.geometry.boxes.box_window`), never larger
  than the whole frame's window. Frames without a box take the nearest frame's box, else the whole frame
  (:func:`har.geometry.boxes.fill_empty_boxes`).
- **Affines** (:func:`clip_affines`): one augmentation draw per clip
  (:class:`~har.data.transforms.augmentation.GeometricAugmentation`) applied to every frame's window, so the clip
  moves as one; the crop convention is :mod:`har.geometry.affine`'s.
- **Warping** (:func:`warp_clip`): frames → (T, 3, H, W) uint8.
- **Pose targets** (:func:`clip_pose_targets`), for clips with keypoints: ``pose_uv`` (T, J, 2) in the network's
  normalised crop coordinates (:class:`har.codec.HeatmapCodec`), ``pose_valid`` (T, J) (labelled and inside the
  crop: deephar's ``remove_outer_joints``), ``pose_z`` (T, J) and ``pose_z_valid`` (T, J) (depth targets where the
  dataset has them, e.g. NTU; zeros / False otherwise, e.g. Penn). A flip swaps left and right joints.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from har.codec import HeatmapCodec
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


def clip_pose_targets(keypoints_crop: np.ndarray, codec: HeatmapCodec,
                      depth: tuple[np.ndarray, np.ndarray] | None = None, flip: bool = False,
                      flip_index: np.ndarray | None = None) -> dict:  # fmt: skip
    """The clip's pose targets from ``keypoints_crop`` (T, J, 3) x, y (crop pixels, joints already swapped on a flip),
    v; ``depth``: optional (z (T, J), z valid (T, J)) in the source's joint order (swapped here on a flip).

    Returns float32 / bool tensors ``pose_uv`` (T, J, 2) (0 where invalid), ``pose_valid`` (T, J) (labelled, v > 0,
    and inside the crop), ``pose_z`` (T, J) (0 where invalid) and ``pose_z_valid`` (T, J) (a valid depth of a joint
    that is itself valid: deephar drops every coordinate of a joint outside the crop).
    """
    xy = keypoints_crop[..., :2].astype(np.float64)
    valid = (keypoints_crop[..., 2] > 0) & codec.inside(xy)
    uv = np.where(valid[..., None], codec.encode(xy), 0.0)
    if depth is None:
        z, z_valid = np.zeros(valid.shape), np.zeros(valid.shape, bool)
    else:
        z, z_valid = (np.asarray(a) for a in depth)
        if flip and flip_index is not None:
            z, z_valid = z[:, flip_index], z_valid[:, flip_index]
        z_valid = z_valid.astype(bool) & valid
        z = np.where(z_valid, z, 0.0)
    return {
        "pose_uv": torch.from_numpy(uv.astype(np.float32)),
        "pose_valid": torch.from_numpy(valid),
        "pose_z": torch.from_numpy(z.astype(np.float32)),
        "pose_z_valid": torch.from_numpy(z_valid),
    }


class ClipTransform:
    """Builds a clip sample: boxes → windows → one augmented affine per frame → warped frames.

    Args:
        input_size: crop (H, W).
        crop: ``clip`` (one window per clip) or ``frame`` (one per frame).
        padding: window size over the box size.
        augment: training augmentation; applied only when a ``rng`` is passed.
        flip_index: joint permutation of a horizontal flip, for clips with keypoints.
        heatmap_stride: the pose network's stride, for the normalised ``pose_uv`` (:class:`har.codec.HeatmapCodec`).
    """

    def __init__(self, input_size: tuple[int, int], crop: str = "clip", padding: float = 1.25,
                 augment: GeometricAugmentation | None = None, flip_index: np.ndarray | None = None,
                 heatmap_stride: int = 8) -> None:  # fmt: skip
        if crop not in CROPS:
            raise ValueError(f"crop {crop!r}: expected one of {CROPS}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.crop = crop
        self.padding = padding
        self.augment = augment
        self.flip_index = flip_index
        self.codec = HeatmapCodec(self.input_size, heatmap_stride)

    def plan(self, boxes: np.ndarray, image_size: tuple[int, int],
             rng: np.random.Generator | None = None) -> tuple[np.ndarray, bool]:  # fmt: skip
        """(T, 2, 3) image → crop matrices and the flip flag for boxes (T, 4) [x1, y1, x2, y2] (NaN rows filled from
        the other frames) in images of ``image_size`` (W0, H0); the augmentation is drawn from ``rng``."""
        boxes = fill_empty_boxes(boxes, image_size)
        h, w = self.input_size
        centers, sizes = clip_windows(boxes, image_size, w / h, self.padding, self.crop)
        jitter = self.augment.draw(rng) if (self.augment is not None and rng is not None) else None
        return clip_affines(centers, sizes, self.input_size, jitter), bool(jitter is not None and jitter.flip)

    def sample(self, clip: torch.Tensor, affines: np.ndarray, flipped: bool, keypoints: np.ndarray | None = None,
               depth: tuple[np.ndarray, np.ndarray] | None = None) -> dict:  # fmt: skip
        """The sample of warped frames ``clip`` (T, 3, H, W) uint8 RGB made with ``affines``; with ``keypoints``
        (T, J, 3, image pixels) also ``keypoints_crop`` and the pose targets (:func:`clip_pose_targets`, ``depth``
        its optional z and z-valid arrays)."""
        sample = {
            "frames": clip,
            "crop_to_image": torch.from_numpy(np.stack([invert_affine(m) for m in affines]).astype(np.float32)),
            "flipped": torch.tensor(flipped),
        }
        if keypoints is not None:
            kp = keypoints_to_crop(keypoints, affines, flipped, self.flip_index)
            sample["keypoints_crop"] = torch.from_numpy(kp.astype(np.float32))
            sample.update(clip_pose_targets(kp, self.codec, depth, flipped, self.flip_index))
        return sample

    def __call__(self, frames: Sequence[np.ndarray], boxes: np.ndarray, rng: np.random.Generator | None = None,
                 keypoints: np.ndarray | None = None,
                 depth: tuple[np.ndarray, np.ndarray] | None = None) -> dict:  # fmt: skip
        """frames: T arrays (H0, W0, 3) uint8 RGB; boxes: (T, 4) [x1, y1, x2, y2], NaN rows filled here from the
        other frames; keypoints: optional (T, J, 3) in image pixels; depth: optional (z, z valid), each (T, J).

        Returns ``frames`` (T, 3, H, W) uint8, ``crop_to_image`` (T, 2, 3) float32 (crop pixels → image pixels; it
        undoes the flip too), ``flipped`` () bool, and with keypoints ``keypoints_crop`` (T, J, 3) float32 and the
        pose targets (:func:`clip_pose_targets`).
        """
        h0, w0 = frames[0].shape[:2]
        affines, flipped = self.plan(boxes, (w0, h0), rng)
        return self.sample(warp_clip(frames, affines, self.input_size), affines, flipped, keypoints, depth)


def flip_sample(sample: dict, flip_index: np.ndarray | None = None) -> dict:
    """A clip sample mirrored horizontally: frames flipped, ``crop_to_image`` composed with the mirror; the pose keys
    mirrored too (crop x → W − 1 − x, normalised u → 1 − u, which the codec's pixel-centre convention makes exact),
    their joints swapped with ``flip_index`` (needed when the sample has pose keys)."""
    width = sample["frames"].shape[-1]
    m = sample["crop_to_image"].clone()  # (T, 2, 3): crop pixels → image pixels
    m[..., 2] += (width - 1) * m[..., 0]  # x = W − 1 − x' in the unflipped crop
    m[..., 0] = -m[..., 0]
    out = {**sample, "frames": sample["frames"].flip(-1), "crop_to_image": m, "flipped": torch.tensor(True)}
    if "pose_uv" not in sample and "keypoints_crop" not in sample:
        return out
    if flip_index is None:
        raise ValueError("flipping a clip sample with keypoints needs the layout's flip_index")
    swap = torch.as_tensor(np.asarray(flip_index), dtype=torch.int64)
    if "keypoints_crop" in sample:
        kp = sample["keypoints_crop"][:, swap].clone()
        kp[..., 0] = width - 1 - kp[..., 0]
        out["keypoints_crop"] = kp
    if "pose_uv" in sample:
        valid = sample["pose_valid"][:, swap]
        uv = sample["pose_uv"][:, swap].clone()
        uv[..., 0] = 1.0 - uv[..., 0]
        uv = torch.where(valid[..., None], uv, torch.zeros_like(uv))  # invalid joints stay 0
        out.update(pose_uv=uv, pose_valid=valid, pose_z=sample["pose_z"][:, swap],
                   pose_z_valid=sample["pose_z_valid"][:, swap])  # fmt: skip
    return out
