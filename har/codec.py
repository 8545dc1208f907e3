"""The heat-map codec: crop pixels ↔ the network's normalised coordinates, written down once.

Crop pixels follow :mod:`har.geometry.affine` (pixel centres at integers). The network's soft-argmax reads heat
maps of ``h × w`` cells at stride ``s`` (``W = s·w``) on deephar's grid ``linspace(0, 1, w)``: cell ``i`` decodes to
``i / (w − 1)``. Cell ``i`` covers crop pixels ``s·i … s·i + s − 1``, whose centre is ``s·i + (s − 1)/2``. The codec
therefore maps

    u = (x − (s − 1)/2) / (W − s)        x = (s − 1)/2 + u · (W − s)

so that a heat map peaked at one cell decodes exactly to that cell's centre in crop pixels. deephar normalised
targets by the crop size (``u = x / W``), half a cell away from what its grid decodes; har removes that bias (the
network and its weights are unchanged; only the meaning of ``u`` in pixels differs). Joints near the crop border can
have ``u`` slightly outside ``[0, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


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
