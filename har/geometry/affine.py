"""Affine crops: one 2×3 matrix from original-image pixels to crop pixels, and what is derived from it.

**Pixels.** A pixel's centre sits at integer coordinates (OpenCV's ``warpAffine`` convention); COCO keypoints are
read in this convention, so pixel ``j`` spans ``[j - 0.5, j + 0.5]`` and a crop of width ``W`` spans
``[-0.5, W - 0.5]``.

**Crop.** One affine matrix ``M`` (2×3) maps original-image pixels to crop pixels; it carries the window's centre and
size (:mod:`har.geometry.boxes`), the rotation and the horizontal flip. Its inverse maps predictions back to the
original image, where every metric is computed. The network's normalised coordinates are the heat-map codec's
(:mod:`har.codec`).

**Reduced decoding.** A JPEG decoded at 1/r (libjpeg's DCT scaling) has pixel ``i`` covering original pixels
``r·i … r·i + r − 1``; :func:`reduced_affine` composes ``M`` with that exact change of coordinates.

**Regions.** A decoded region whose pixel (0, 0) is image pixel ``origin`` is warped with :func:`shift_affine`;
:func:`crop_source_window` says which image pixels a crop reads.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def crop_affine(
    center: np.ndarray,
    size: np.ndarray,
    output_size: tuple[int, int],
    rotation_deg: float = 0.0,
    flip: bool = False,
) -> np.ndarray:
    """2×3 matrix mapping original pixels to crop pixels.

    Args:
        center: (2,) window centre in original pixels.
        size: (2,) window (w, h) in original pixels; ``w / h`` should equal ``W / H``.
        output_size: crop (W, H).
        rotation_deg: rotation of the window (counter-clockwise in the image as seen).
        flip: mirror the crop horizontally.
    """
    out_w, out_h = output_size
    scale = out_w / float(size[0])
    theta = math.radians(rotation_deg)
    cos, sin = math.cos(theta) * scale, math.sin(theta) * scale
    # x' = R·s·(x − c) + crop centre; image y points down, so this rotation reads counter-clockwise on screen.
    m = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]], dtype=np.float64)
    m[:, 2] = np.array([(out_w - 1) * 0.5, (out_h - 1) * 0.5]) - m[:, :2] @ np.asarray(center, dtype=np.float64)
    if flip:
        m[0] = -m[0]
        m[0, 2] += out_w - 1
    return m


def shift_affine(m: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """``m`` (image → crop) for a region of the image whose pixel (0, 0) is image pixel ``origin``."""
    if not origin[0] and not origin[1]:
        return m
    out = m.copy()
    out[:, 2] += m[:, :2] @ np.asarray(origin, dtype=np.float64)
    return out


def crop_source_window(m: np.ndarray, output_size: tuple[int, int], margin: int = 3) -> tuple[int, int, int, int]:
    """The image pixels (x0, y0, x1, y1, half-open) a crop of ``m`` (image → crop, crop (W, H) = ``output_size``)
    reads: the inverse image of the crop's rectangle, grown by ``margin`` pixels for bilinear sampling and sub-pixel
    snapping. Not clipped to the image; a degenerate matrix gives a window that covers any image."""
    w, h = output_size
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]])
    xy = apply_affine(corners, invert_affine(m))
    (xa, ya), (xb, yb) = xy.min(axis=0), xy.max(axis=0)
    big = 1 << 30
    x0, y0 = (max(-big, math.floor(v) - margin) if math.isfinite(v) else -big for v in (xa, ya))
    x1, y1 = (min(big, math.ceil(v) + 1 + margin) if math.isfinite(v) else big for v in (xb, yb))
    return x0, y0, x1, y1


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2×3 affine matrix."""
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Map (..., 2) points with a 2×3 matrix."""
    return points @ m[:, :2].T + m[:, 2]


def apply_affine_torch(points: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Batched: points (B, J, 2), matrices (B, 2, 3) → (B, J, 2). Runs on the points' device, no host sync."""
    return torch.einsum("bjk,bik->bji", points, m[:, :, :2]) + m[:, None, :, 2]


def decode_reduction(m: np.ndarray, max_reduction: int = 8) -> int:
    """Largest of 1, 2, 4, 8 not above the image pixels per crop pixel of ``m`` (original → crop).

    Decoding at 1/r then keeps at least one decoded pixel per crop pixel: the crop loses no detail, and libjpeg's
    DCT scaling averages the pixels a bilinear warp would otherwise skip.
    """
    image_px_per_crop_px = 1.0 / math.sqrt(abs(m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]))
    r = 1
    while 2 * r <= min(image_px_per_crop_px, max_reduction):
        r *= 2
    return r


def reduced_affine(m: np.ndarray, reduction: int) -> np.ndarray:
    """``m`` (original → crop) for an image decoded at 1/``reduction``.

    Reduced pixel ``i`` covers original pixels ``r·i … r·i + r − 1``, whose centre is ``x = r·i + (r − 1)/2``
    (pixel centres at integers, see above); the result is ``m`` composed with that map.
    """
    if reduction == 1:
        return m
    out = m.copy()
    out[:, 2] += m[:, :2].sum(axis=1) * ((reduction - 1) / 2.0)
    out[:, :2] *= reduction
    return out
