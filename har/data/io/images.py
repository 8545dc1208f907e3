"""Image files: read, decode whole, at 1/2, 1/4 or 1/8 resolution, or only the region a crop reads.

The frame convention: annotations are taken to be in the image as stored when its size is the annotation file's
width × height (what COCO's annotation tool showed), and in the EXIF-oriented image when only that one has the
annotation file's size; any other size is an :class:`ImageReadError` naming both sizes. Where the annotation file
gives no size, the image as stored. Corrupt data inside a crop's window (which libjpeg fills in) is reported to the
caller; a file that ends before the window's rows, or that cannot be decoded at all, is an ImageReadError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from har.data.io import jpeg_roi

cv2.setNumThreads(1)  # one thread per DataLoader worker; parallelism comes from the workers

DECODE_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                8: cv2.IMREAD_REDUCED_COLOR_8}  # fmt: skip


class ImageReadError(OSError):
    """An image file that is missing or cannot be decoded; the message names the file (and the record)."""


def is_jpeg(data: np.ndarray) -> bool:
    """Whether encoded bytes start with a JPEG's SOI marker."""
    return data.size > 3 and data[0] == 0xFF and data[1] == 0xD8 and data[2] == 0xFF


def read_bytes(path: str | Path, what: str) -> np.ndarray:
    """A file's bytes (uint8); ImageReadError "<what> missing" / "unreadable" otherwise."""
    try:
        return np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        reason = "missing" if isinstance(err, FileNotFoundError) else f"unreadable ({err.strerror})"
        raise ImageReadError(f"{what} {reason}") from None


def decode_rgb(path: str | Path, what: str) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB (EXIF orientation applied); ImageReadError naming ``what``."""
    data = read_bytes(path, what)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageReadError(f"{what} cannot be decoded")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_whole(data: np.ndarray, what: str, annotated: tuple[int, int] | None,
                 reduction: int = 1) -> tuple[np.ndarray, int]:  # fmt: skip
    """The whole image, BGR, at 1/``reduction`` where the file is a JPEG, in the annotations' frame (module
    docstring; ``annotated`` = the annotation file's (width, height), or None). Returns the image and the reduction
    applied (1 for other formats, and for an image stored transposed)."""
    if reduction > 1 and not is_jpeg(data):
        reduction = 1
    image = cv2.imdecode(data, DECODE_FLAGS[reduction] | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
    if image is None:
        raise ImageReadError(f"{what} cannot be decoded")
    if annotated is None:  # no size to check against: the image as stored
        return image, reduction
    width, height = annotated
    expected = (-(-height // reduction), -(-width // reduction))
    if image.shape[:2] == expected:
        return image, reduction
    if image.shape[:2] == expected[::-1]:  # stored transposed: the annotations follow the EXIF orientation
        oriented = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if oriented is not None and oriented.shape[:2] == (height, width):
            return oriented, 1
    h, w = image.shape[:2]
    raise ImageReadError(
        f"{what} is {w * reduction}x{h * reduction} pixels but the annotation file gives {width}x{height}"
        if reduction == 1
        else f"{what} decodes at 1/{reduction} to {w}x{h} pixels, not the {expected[1]}x{expected[0]} of the "
        f"annotation file's {width}x{height}"
    )


@dataclass
class DecodedWindow:
    """The pixels a crop reads: ``image`` (BGR) at 1/``reduction``, whose pixel (0, 0) is decoded pixel ``origin``;
    ``corrupt``: libjpeg's first corrupt-data warning inside the window, or "" (libjpeg filled it in)."""

    image: np.ndarray
    reduction: int
    origin: tuple[int, int] = (0, 0)
    corrupt: str = ""


def decode_window(
    data: np.ndarray,
    what: str,
    annotated: tuple[int, int] | None,
    reduction: int,
    source_window: Callable[[int], tuple[int, int, int, int]],
    region_decoder: jpeg_roi.RegionDecoder | None,
) -> DecodedWindow:
    """The pixels of ``data`` a crop reads: with a ``region_decoder`` and a plain JPEG, only the window
    ``source_window(reduction)`` (decoded pixels, half-open) by libjpeg-turbo, into the decoder's reused buffer (warp
    or copy it before the next call); otherwise the whole image (:func:`decode_whole`). Same pixels either way."""
    if region_decoder is not None and is_jpeg(data) and jpeg_roi.load() is not None:
        window = source_window(reduction)
        try:
            try:
                roi = region_decoder(data, window, reduction)
            except jpeg_roi.OrientedJpeg as err:
                if annotated not in (None, err.stored_size):
                    raise  # the whole-image path applies the orientation
                roi = region_decoder(data, window, reduction, check_orientation=False)
        except jpeg_roi.JpegDecodeError as err:
            raise ImageReadError(f"{what} cannot be decoded ({err})") from None
        except (jpeg_roi.OrientedJpeg, jpeg_roi.UnsupportedJpeg):
            pass  # CMYK, or annotations in the EXIF-oriented frame: decoded whole below
        else:
            if annotated not in (None, roi.stored_size):
                (w, h), (width, height) = roi.stored_size, annotated
                raise ImageReadError(f"{what} is {w}x{h} pixels but the annotation file gives {width}x{height}")
            return DecodedWindow(roi.image, reduction, roi.origin, roi.warning if roi.warnings else "")
    image, reduction = decode_whole(data, what, annotated, reduction)
    return DecodedWindow(image, reduction)
