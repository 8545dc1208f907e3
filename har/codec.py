"""Coordinate conventions, written down once: image pixels, crop pixels, normalised network coordinates.

**Pixels.** A pixel's centre sits at integer coordinates (OpenCV's ``warpAffine`` convention); COCO keypoints are
read in this convention, so pixel ``j`` spans ``[j - 0.5, j + 0.5]`` and a crop of width ``W`` spans
``[-0.5, W - 0.5]``.

**Crop.** One affine matrix ``M`` (2×3) maps original-image pixels to crop pixels; it carries the box centre and
size, the rotation and the horizontal flip. Its inverse maps predictions back to the original image, where every
metric is computed.

**Normalised coordinates.** The network's soft-argmax reads heat maps of ``h × w`` cells at stride ``s``
(``W = s·w``) on deephar's grid ``linspace(0, 1, w)``: cell ``i`` decodes to ``i / (w − 1)``. Cell ``i`` covers
crop pixels ``s·i … s·i + s − 1``, whose centre is ``s·i + (s − 1)/2``. The codec therefore maps

    u = (x − (s − 1)/2) / (W − s)        x = (s − 1)/2 + u · (W − s)

so that a heat map peaked at one cell decodes exactly to that cell's centre in crop pixels. deephar normalised
targets by the crop size (``u = x / W``), half a cell away from what its grid decodes; har removes that bias (the
network and its weights are unchanged; only the meaning of ``u`` in pixels differs). Joints near the crop border can
have ``u`` slightly outside ``[0, 1]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


def bbox_to_center_size(
    bbox_xywh: np.ndarray, aspect_ratio: float, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Crop window for a person box: centre (2,) and size (2,) = (w, h) in pixels.

    The box is grown to the crop's aspect ratio (``aspect_ratio`` = width / height) on its short side, never
    squashed, then enlarged by ``padding``.
    """
    x, y, w, h = (float(v) for v in bbox_xywh)
    center = np.array([x + (w - 1) * 0.5, y + (h - 1) * 0.5], dtype=np.float64)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    return center, np.array([w * padding, h * padding], dtype=np.float64)


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


@dataclass(frozen=True)
class HeatmapCodec:
    """Maps crop pixels ↔ the network's normalised coordinates (see the module docstring).

    Attributes:
        input_size: crop (H, W) in pixels.
        stride: crop pixels per heat-map cell (8 for deephar).
    """

    input_size: tuple[int, int]
    stride: int = 8

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """(h, w) cells."""
        return self.input_size[0] // self.stride, self.input_size[1] // self.stride

    def _offset_span(self) -> tuple[float, np.ndarray]:
        offset = (self.stride - 1) / 2.0
        h, w = self.input_size
        span = np.array([w - self.stride, h - self.stride], dtype=np.float64)  # (x, y)
        return offset, span

    def encode(self, xy_crop: np.ndarray) -> np.ndarray:
        """Crop pixels (..., 2) → normalised (..., 2)."""
        offset, span = self._offset_span()
        return (xy_crop - offset) / span

    def decode(self, uv: np.ndarray) -> np.ndarray:
        """Normalised (..., 2) → crop pixels (..., 2)."""
        offset, span = self._offset_span()
        return offset + uv * span

    def decode_torch(self, uv: torch.Tensor) -> torch.Tensor:
        """Normalised (..., 2) → crop pixels (..., 2), on the tensor's device."""
        offset, span = self._offset_span()
        return offset + uv * torch.as_tensor(span, dtype=uv.dtype, device=uv.device)

    def inside(self, xy_crop: np.ndarray) -> np.ndarray:
        """Whether crop-pixel points (..., 2) fall inside the crop."""
        h, w = self.input_size
        x, y = xy_crop[..., 0], xy_crop[..., 1]
        return (x >= -0.5) & (x < w - 0.5) & (y >= -0.5) & (y < h - 0.5)
