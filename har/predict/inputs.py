"""What ``predict.py`` reads: an image, a folder of images, or a video, as a sequence of frames.

Frames are numbered 0, 1, ... (a folder's images in sorted file-name order; a video's frames in decoding order). A
frame's ``image_id`` (the COCO results' key) is the number in its file name when the name is all digits (COCO's
``000000000139.jpg`` → 139), else its frame number. Frames are read as OpenCV gives them: (H, W, 3) uint8 BGR. A
GIF is one image, its first frame (an animated GIF's other frames are left out, with a warning).
"""

from __future__ import annotations

import logging
import os
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from har.data.io.video import probe_video_info

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


class UnreadableImage(ValueError):
    """An input image that cannot be read or decoded; the message names the file. A folder's prediction skips
    such images (counted and logged); an input with nothing readable is an error."""


@dataclass(frozen=True)
class Frame:
    """One input frame: its number, name (file name, or ``<video stem>_<number>``) and COCO image id."""

    index: int
    name: str
    image_id: int


def _image_id(stem: str, index: int) -> int:
    return int(stem) if stem.isdigit() else index


class FrameSource:
    """Frames of one input. ``frames`` lists them; ``read(i)`` decodes frame ``i`` (BGR); ``is_video`` says
    whether overlays go to an mp4."""

    path: Path
    frames: list[Frame]
    is_video: bool = False
    fps: float = 30.0

    @property
    def stem(self) -> str:
        return self.path.stem

    def __len__(self) -> int:
        return len(self.frames)

    def read(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def frame_size(self) -> tuple[int, int]:
        """(W, H) of the first frame."""
        h, w = self.read(0).shape[:2]
        return w, h

    def encoded(self, i: int) -> np.ndarray | None:
        """The frame's encoded file bytes (images; for reduced-resolution JPEG decoding), None for video."""
        return None


class ImageSource(FrameSource):
    """One image file, or the images of a folder (not recursive), sorted by file name."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            entries = sorted(p for p in self.path.iterdir() if p.is_file() and not p.name.startswith("."))
            files = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
            if not files:
                raise ValueError(f"input folder {self.path} holds no image ({', '.join(IMAGE_SUFFIXES)})")
            others = Counter(
                p.suffix.lower() or "(no suffix)" for p in entries if p.suffix.lower() not in IMAGE_SUFFIXES
            )
            if others:
                log.info("%s: %d images; left out %d other files (%s)", self.path, len(files), sum(others.values()),
                         ", ".join(f"{n} {suffix}" for suffix, n in others.most_common()))  # fmt: skip
        else:
            files = [self.path]
        for gif in (p for p in files if p.suffix.lower() == ".gif"):
            frames = cv2.imcount(str(gif))
            if frames > 1:
                log.warning("%s is an animated GIF of %d frames: predicting on its first frame only (for all of "
                            "them, convert it to a video)", gif, frames)  # fmt: skip
        self.files = files
        self.frames = [Frame(i, f.name, _image_id(f.stem, i)) for i, f in enumerate(files)]

    def encoded(self, i: int) -> np.ndarray:
        """The file's bytes. Raises :class:`UnreadableImage`."""
        try:
            return np.fromfile(self.files[i], dtype=np.uint8)
        except OSError as err:
            raise UnreadableImage(f"cannot read image {self.files[i]}: {err.strerror or err}") from None

    def read(self, i: int) -> np.ndarray:
        """The decoded image, BGR. Raises :class:`UnreadableImage`."""
        data = self.encoded(i)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None:
            raise UnreadableImage(f"image {self.files[i]} cannot be decoded")
        return image


class VideoSource(FrameSource):
    """A video file, decoded with OpenCV. Reads forward from the last position (grab/retrieve), seeks only
    backwards or far ahead, and keeps the last ``cache`` decoded frames (overlapping action windows read each frame
    once). The capture opens lazily, so a dataset holding a source can go to DataLoader workers."""

    is_video = True

    def __init__(self, path: str | Path, cache: int = 32) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"input video not found: {self.path}")
        count, self.width, self.height, fps = probe_video_info(self.path)
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
        self.frames = [Frame(i, f"{self.path.stem}_{i:06d}", i) for i in range(count)]
        self._cache_size = max(1, int(cache))
        self._cap = None
        self._pid = None  # process that opened the capture: a forked DataLoader worker opens its own
        self._position = 0  # index of the frame the next grab() returns
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.update(_cap=None, _pid=None, _position=0, _cache=OrderedDict())
        return state

    def frame_size(self) -> tuple[int, int]:
        return self.width, self.height

    def read(self, i: int) -> np.ndarray:
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        if not 0 <= i < len(self.frames):
            raise IndexError(f"video {self.path}: frame {i} out of range (0..{len(self.frames) - 1})")
        if self._pid != os.getpid():
            self.__dict__.update(self.__getstate__())  # never use a capture inherited through fork
        if self._cap is None:
            self._cap = cv2.VideoCapture(str(self.path))
            self._pid, self._position = os.getpid(), 0
        if i < self._position or i > self._position + 2 * self._cache_size:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            self._position = i
        while self._position <= i:
            if not self._cap.grab():
                raise OSError(f"video {self.path}: cannot read frame {self._position}")
            self._position += 1
        ok, frame = self._cap.retrieve()
        if not ok:
            raise OSError(f"video {self.path}: cannot decode frame {i}")
        self._cache[i] = frame
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return frame

    def close(self) -> None:
        if self._cap is not None and self._pid == os.getpid():
            self._cap.release()
        self.__dict__.update(self.__getstate__())


def open_input(path: str | Path) -> FrameSource:
    """An image, a folder of images, or a video (by suffix). Errors name the path."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoSource(path)
    raise ValueError(
        f"input {path}: not an image ({', '.join(IMAGE_SUFFIXES)}), a video ({', '.join(VIDEO_SUFFIXES)}) or a folder"
    )
