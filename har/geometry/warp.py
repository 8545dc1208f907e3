"""Resampling an image (or a decoded region of it) into a crop: the one place pixels are warped.

:func:`warp_crop` is what every top-down sample uses: a rotated window is warped by ``cv2.warpAffine``; an unrotated
one (evaluation, and the unrotated training samples) is moved and resized by less than one decoded pixel so that its
edges fall on decoded pixel edges, then resampled by ``cv2.resize`` of that region, 2-3× cheaper than warpAffine;
the matrix returned is the exact one ``cv2.resize`` implements, so targets built from it stay exact.
"""

from __future__ import annotations

import cv2
import numpy as np

from har.geometry.affine import reduced_affine, shift_affine, unreduced_affine

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
    resize_unrotated: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The crop (H, W, C) of ``image`` (decoded at 1/``reduction``) under ``m`` (original → crop; ``input_size`` =
    (H, W)), in the image's channel order, and the original → crop matrix it implements: build targets from it.

    ``image`` may be a region of the decoded image whose pixel (0, 0) is decoded pixel ``origin``; it must hold every
    pixel of the crop's source window that lies inside the image (what lies outside reads as 0).
    """
    mr = reduced_affine(m, reduction)  # decoded pixels → crop
    if resize_unrotated and m[0, 1] == 0 and m[1, 0] == 0:
        resized = resize_window(image, mr, input_size, origin)
        if resized is not None:
            crop, snapped = resized
            return crop, unreduced_affine(snapped, reduction)
    return warp_region(image, origin, mr, input_size), m


def resize_window(
    image: np.ndarray, mr: np.ndarray, input_size: tuple[int, int], origin: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, np.ndarray] | None:
    """cv2.resize of the pixel-aligned region nearest to the window of ``mr`` (decoded pixels → crop; ``image``
    starts at decoded pixel ``origin``): the crop and the decoded → crop matrix it implements, or None where
    warpAffine is cheaper. The region is chosen in decoded pixels, so it does not depend on ``origin``."""
    snapped = np.zeros((2, 3))
    start, length, mirrored = [0, 0], [0, 0], [False, False]
    for axis, size in enumerate(input_size[::-1]):  # x then y
        a, c = mr[axis, axis], mr[axis, 2]
        if a < 0:  # mirrored: x_crop = size - 1 - (|a| X + c')
            a, c, mirrored[axis] = -a, size - 1 - c, True
        centre = ((size - 1) / 2.0 - c) / a  # decoded pixel at the crop centre
        n = max(1, round(size / a))
        x0 = round(centre - (n - 1) / 2.0)
        # cv2.resize samples region pixel (x + 0.5) n / size - 0.5 for crop pixel x.
        a2 = size / n
        c2 = a2 * (0.5 - x0) - 0.5
        snapped[axis, axis], snapped[axis, 2] = (-a2, size - 1 - c2) if mirrored[axis] else (a2, c2)
        start[axis], length[axis] = x0 - origin[axis], n  # in the array's pixels
    (x0, y0), (rw, rh) = start, length
    ih, iw = image.shape[:2]
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + rw, iw), min(y0 + rh, ih)
    if (xa, ya, xb, yb) == (x0, y0, x0 + rw, y0 + rh):
        region = image[y0:yb, x0:xb]
    elif rw * rh > 4 * input_size[0] * input_size[1]:
        return None  # padding a large region costs more than warpAffine
    elif xa >= xb or ya >= yb:
        region = np.zeros((rh, rw, *image.shape[2:]), dtype=image.dtype)
    else:
        region = cv2.copyMakeBorder(image[ya:yb, xa:xb], ya - y0, y0 + rh - yb, xa - x0, x0 + rw - xb,
                                    cv2.BORDER_CONSTANT, value=0)  # fmt: skip
    crop = cv2.resize(region, input_size[::-1], interpolation=cv2.INTER_LINEAR)
    if any(mirrored):
        crop = cv2.flip(crop, {(True, False): 1, (False, True): 0, (True, True): -1}[tuple(mirrored)])
    return crop, snapped
