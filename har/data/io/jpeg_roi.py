"""Region-of-interest JPEG decoding: only the rows and columns a crop needs (libjpeg-turbo, through ctypes).

A COCO person covers a fraction of its image, so decoding the whole JPEG for one top-down crop wastes most of the
decode, the largest cost of a training sample. ``har/data/io/_native/roi_jpeg.c`` decodes a region with libjpeg-turbo's
``jpeg_skip_scanlines`` (rows above it: entropy decoding only) and ``jpeg_crop_scanline`` (columns outside it: no
IDCT, upsampling or colour conversion), stops after its last row, and combines with DCT scaling (1/2, 1/4, 1/8) as
``cv2.IMREAD_REDUCED_COLOR_*`` does. The pixels are those of a full decode: libjpeg-turbo's integer IDCT and fancy
upsampling are what OpenCV's JPEG decoder uses (tested pixel for pixel against ``cv2.imdecode``).

The library is compiled from source against the system's libjpeg-turbo: ``make install`` does it, or
``python -m har.data.io.jpeg_roi`` (needs a C compiler, ``jpeglib.h`` and ``libjpeg.so``: Debian/Ubuntu package
``libjpeg62-turbo-dev`` or ``libjpeg-turbo8-dev``). Where it is missing and cannot be built, :func:`load` says why
once and returns None, and the data pipeline decodes whole images with OpenCV: slower, same crops.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from har.utils.io import atomic_path

log = logging.getLogger(__name__)

NATIVE_DIR = Path(__file__).with_name("_native")
SOURCE = NATIVE_DIR / "roi_jpeg.c"
LIBRARY = NATIVE_DIR / "libhar_roi_jpeg.so"

_OK, _ERROR, _CAPACITY, _UNSUPPORTED, _ORIENTED = range(5)
_INFO_LEN = 10
_ERR_LEN = 256
_EDGE = 2  # columns decoded beyond each cropped side, then dropped (see decode_roi)
_FIRST_BUFFER_SIDE = 4096  # pixels: the first buffer's largest width and height


class JpegDecodeError(ValueError):
    """The JPEG data cannot be decoded (libjpeg's message), or it ends before the region's rows."""


class JpegRoiUnavailable(RuntimeError):
    """The native decoder is neither built nor buildable here (the message says why)."""


@dataclass
class RoiImage:
    """A decoded region of a JPEG.

    Attributes:
        image: (h, w, 3) uint8 BGR, C-contiguous: the region's pixels.
        origin: (x, y) of ``image[0, 0]`` in the decoded image's pixels (scaled by 1/``reduction``).
        decoded_size: (width, height) of the whole image at 1/``reduction``.
        stored_size: (width, height) as stored in the file (before DCT scaling and EXIF orientation).
        reduction: the DCT scaling denominator applied (1, 2, 4 or 8).
        warnings: libjpeg's corrupt-data warnings met while decoding the region (libjpeg fills such data in).
        warning: the first of them, or "".
    """

    image: np.ndarray
    origin: tuple[int, int]
    decoded_size: tuple[int, int]
    stored_size: tuple[int, int]
    reduction: int
    warnings: int = 0
    warning: str = ""


class OrientedJpeg(Exception):
    """The JPEG has an EXIF orientation other than 1 (``orientation``); nothing was decoded."""

    def __init__(self, orientation: int, stored_size: tuple[int, int]) -> None:
        super().__init__(f"EXIF orientation {orientation}")
        self.orientation, self.stored_size = orientation, stored_size


class UnsupportedJpeg(Exception):
    """A JPEG libjpeg cannot turn into BGR by itself (CMYK, YCCK): decode it another way."""


def build(force: bool = False, quiet: bool = False) -> Path:
    """Compile :data:`SOURCE` into :data:`LIBRARY` (atomically: concurrent builds do not collide).

    Raises JpegRoiUnavailable with the compiler's message when it cannot be built.
    """
    if LIBRARY.exists() and not force and LIBRARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return LIBRARY
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise JpegRoiUnavailable("no C compiler (cc or gcc) to build the ROI JPEG decoder")
    with atomic_path(LIBRARY) as tmp:
        cmd = [cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(SOURCE), "-ljpeg"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise JpegRoiUnavailable(
                f"building the ROI JPEG decoder failed ({' '.join(cmd)}): {res.stderr.strip()[-600:]} — it needs "
                "libjpeg-turbo's headers and library (Debian/Ubuntu: libjpeg62-turbo-dev or libjpeg-turbo8-dev)"
            )
    if not quiet:
        log.info("built %s", LIBRARY)
    return LIBRARY


_lib: ctypes.CDLL | None = None
_unavailable: str | None = None


def load(build_if_missing: bool = True) -> ctypes.CDLL | None:
    """The native library (built first if missing and ``build_if_missing``), or None with one warning saying why."""
    global _lib, _unavailable
    if _lib is not None or _unavailable is not None:
        return _lib
    try:
        if not LIBRARY.exists() or LIBRARY.stat().st_mtime < SOURCE.stat().st_mtime:
            if not build_if_missing:
                raise JpegRoiUnavailable(f"{LIBRARY} is not built (make install, or python -m har.data.io.jpeg_roi)")
            build()
        lib = ctypes.CDLL(str(LIBRARY))
        fn = lib.har_roi_decode
        _ = lib.har_jpeg_info
    except (OSError, AttributeError, JpegRoiUnavailable) as err:
        _unavailable = str(err)
        log.warning("ROI JPEG decoding is off, whole images are decoded instead (slower, same crops): %s", err)
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                   ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_char_p,
                   ctypes.c_int]  # fmt: skip
    lib.har_jpeg_info.restype = ctypes.c_int
    lib.har_jpeg_info.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    _lib = lib
    return lib


def available() -> bool:
    """Whether :func:`decode_roi` can run here (builds the library on first call if needed)."""
    return load() is not None


def unavailable_reason() -> str | None:
    """Why the native decoder is off, after :func:`load` failed; None otherwise."""
    load()
    return _unavailable


@dataclass(frozen=True)
class JpegInfo:
    """What a JPEG's header says: ``size`` (width, height) as stored, EXIF ``orientation`` (0 when absent), and
    whether :func:`decode_roi` can decode it (``supported``: not CMYK/YCCK)."""

    size: tuple[int, int]
    orientation: int
    supported: bool


def jpeg_info(data: np.ndarray) -> JpegInfo:
    """The header of the JPEG bytes ``data`` (microseconds: nothing is decoded). Raises JpegDecodeError."""
    lib = load()
    if lib is None:
        raise JpegRoiUnavailable(_unavailable or "ROI JPEG decoder unavailable")
    data = np.ascontiguousarray(data, dtype=np.uint8)
    info = np.zeros(_INFO_LEN, dtype=np.int32)
    err = ctypes.create_string_buffer(_ERR_LEN)
    if lib.har_jpeg_info(data.ctypes.data, data.size, info.ctypes.data, err, _ERR_LEN) != _OK:
        raise JpegDecodeError(err.value.decode(errors="replace") or "libjpeg error")
    return JpegInfo((int(info[0]), int(info[1])), int(info[8]), bool(info[2]))


def decode_roi(
    data: np.ndarray,
    roi: tuple[int, int, int, int],
    reduction: int = 1,
    check_orientation: bool = True,
    scratch: np.ndarray | None = None,
) -> RoiImage:
    """Decode columns ``[x0, x1)`` and rows ``[y0, y1)`` (``roi``, pixels of the image at 1/``reduction``) of the
    JPEG bytes ``data`` (uint8). The region is clipped to the image; the columns decoded may start up to one iMCU
    (8-32 px) before ``x0``, as ``RoiImage.origin`` says. A region wholly outside the image comes back as the
    nearest edge pixels (never empty); their values may differ from a whole decode's, which does not matter to a
    crop whose window lies outside the image, since it reads none of them.

    ``scratch`` (1-D uint8, C-contiguous): decode into it when large enough, so that a caller decoding many regions
    reuses one buffer (fresh large buffers cost page faults); the image is then a view of it, valid until the next
    call with the same scratch.

    Raises JpegDecodeError (corrupt data or a file that ends before the region's rows), OrientedJpeg (EXIF
    orientation other than 1 and ``check_orientation``), UnsupportedJpeg (CMYK/YCCK), JpegRoiUnavailable.
    """
    lib = load()
    if lib is None:
        raise JpegRoiUnavailable(_unavailable or "ROI JPEG decoder unavailable")
    if reduction not in (1, 2, 4, 8):
        raise ValueError(f"reduction must be 1, 2, 4 or 8, got {reduction}")
    data = np.ascontiguousarray(data, dtype=np.uint8)
    x0, y0, x1, y1 = (int(v) for v in roi)
    # Fancy (triangle-filter) upsampling of subsampled chroma at a cropped edge sees no neighbour column, so the
    # outermost decoded columns can differ from a full decode: decode _EDGE more on each side and drop them.
    x0, x1 = x0 - _EDGE, x1 + _EDGE
    # iMCU alignment moves x0 left by < 32 px (h_samp 4 at full scale); the clipped region is never larger. The
    # first buffer is capped (a degenerate window may span billions of pixels before clipping); a region larger
    # than it gets the size it needs from the header alone (HAR_CAPACITY), then a second call.
    width = min(max(x1 - x0, 1), _FIRST_BUFFER_SIDE) + 32
    height = min(max(y1 - y0, 1), _FIRST_BUFFER_SIDE)
    info = np.zeros(_INFO_LEN, dtype=np.int32)
    err = ctypes.create_string_buffer(_ERR_LEN)
    for _ in range(2):
        need = height * width * 3
        out = scratch if scratch is not None and scratch.size >= need else np.empty(need, dtype=np.uint8)
        code = lib.har_roi_decode(data.ctypes.data, data.size, reduction, x0, y0, x1, y1, int(check_orientation),
                                  out.ctypes.data, out.size, info.ctypes.data, err, _ERR_LEN)  # fmt: skip
        if code != _CAPACITY:
            break
        width, height = int(info[6]), int(info[7])
    stored = (int(info[0]), int(info[1]))
    if code == _ERROR:
        raise JpegDecodeError(err.value.decode(errors="replace") or "libjpeg error")
    if code == _ORIENTED:
        raise OrientedJpeg(int(info[8]), stored)
    if code == _UNSUPPORTED:
        raise UnsupportedJpeg("CMYK/YCCK JPEG")
    if code != _OK:
        raise RuntimeError(f"har_roi_decode returned {code}")
    w, h = int(info[6]), int(info[7])
    warnings = int(info[9])
    message = err.value.decode(errors="replace")
    if warnings < 0:
        raise JpegDecodeError(f"truncated file: the data ends before the crop's rows ({message})")
    image = out[: h * w * 3].reshape(h, w, 3)
    ox, oy, full_w = int(info[4]), int(info[5]), int(info[2])
    left = _EDGE if ox > 0 else 0  # edges of the image itself are exact
    right = _EDGE if ox + w < full_w else 0
    if w - left - right < 1:  # a region wholly outside the image, clamped to its edge: no pixel of it is read
        left = right = 0
    if left or right:
        image = image[:, left : w - right]
    return RoiImage(image, (ox + left, oy), (full_w, int(info[3])), stored, reduction, warnings, message)


class RegionDecoder:
    """:func:`decode_roi` into one buffer reused from call to call (grown when a region needs more): a fresh
    buffer of hundreds of KB per sample costs page faults, at times as much as the decode. A region it returns is a
    view of that buffer, valid until the next call: warp (or copy) it first. One per process: DataLoader workers
    each get their own copy of the dataset holding it."""

    def __init__(self) -> None:
        self._buffer: np.ndarray | None = None

    def __call__(self, data: np.ndarray, roi: tuple[int, int, int, int], reduction: int = 1,
                 check_orientation: bool = True) -> RoiImage:  # fmt: skip
        out = decode_roi(data, roi, reduction, check_orientation, scratch=self._buffer)
        if out.image.base is not self._buffer:  # decoded into a new, larger buffer: keep that one
            self._buffer = out.image.base
        return out


def main(argv: list[str] | None = None) -> int:
    """``python -m har.data.io.jpeg_roi [--force]``: build the native decoder and say where it is."""
    import argparse

    p = argparse.ArgumentParser(description="Build har's ROI JPEG decoder (libjpeg-turbo).")
    p.add_argument("--force", action="store_true", help="rebuild even when up to date")
    p.add_argument("--optional", action="store_true", help="exit 0 with a warning when it cannot be built")
    args = p.parse_args(argv)
    try:
        path = build(force=args.force, quiet=True)
    except JpegRoiUnavailable as err:
        print(f"har: {err}", file=sys.stderr)
        if args.optional:
            print("har: ROI JPEG decoding will be off (whole images decoded: slower, same crops)", file=sys.stderr)
            return 0
        return 1
    print(f"har: ROI JPEG decoder: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
