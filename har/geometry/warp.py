"""Resampling an image (or a decoded region of it) into a crop: the one place pixels are warped.

:func:`warp_crop` is what every top-down sample uses: the window, rotated or not, is warped by ``cv2.warpAffine``
(bilinear) from the decoded image or region. (Unrotated windows were once resampled by ``cv2.resize`` of a
pixel-aligned region instead; ``bench/pipeline.py`` measured no gain beyond the run-to-run spread on an idle machine,
in training or evaluation, and it was removed: BENCHMARKS.md, "Data pipeline".)
"""

from __future__ import annotations

import cv2
import numpy as np

from har.geometry.affine import reduced_affine, shift_affine

cv2.setNumThreads(1)  # one thread per DataLoader worker; parallelism comes from the workers


def warp_region(region: np.ndarray, origin: tuple[int, int], m: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """A region (h, w, C) uint8 whose pixel (0, 0) is image pixel ``origin``, warped by the image → crop affine
    ``m`` into an (H, W, C) crop (``input_size`` = (H, W)): what warping the whole image gives, when the region
    holds the pixels :func:`har.geometry.affine.crop_source_window` names (outside the image reads as 0)."""
    out_h, out_w = input_size
    return cv2.warpAffine(region, shift_affine(m, origin), (out_w, out_h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)  # fmt: skip


def warp_crop(
    image: np.ndarray,
    m: np.ndarray,
    input_size: tuple[int, int],
    reduction: int = 1,
    origin: tuple[int, int] = (0, 0),
) -> tuple[np.ndarray, np.ndarray]:
    """The crop (H, W, C) of ``image`` (decoded at 1/``reduction``) under ``m`` (original → crop; ``input_size`` =
    (H, W)), in the image's channel order, and the original → crop matrix it implements (``m``): build targets from
    it.

    ``image`` may be a region of the decoded image whose pixel (0, 0) is decoded pixel ``origin``; it must hold every
    pixel of the crop's source window that lies inside the image (what lies outside reads as 0).
    """
    return warp_region(image, origin, reduced_affine(m, reduction), input_size), m
