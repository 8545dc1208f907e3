"""Overlays of ``predict.py``: skeletons (joint colour fading with visibility, :func:`har.vis.draw.draw_pose`),
person boxes, and for action the predicted label with the top-k probabilities. One image per input image (its name
and format), an mp4 at the input's frame rate for a video: H.264 where this OpenCV build can encode it (browsers
play it), else MPEG-4 Part 2 (``mp4v``) with a warning saying how to convert it (:func:`open_video_writer`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from har.layouts import JointLayout
from har.predict.inputs import FrameSource, UnreadableImage
from har.vis.draw import draw_pose, line_style

log = logging.getLogger(__name__)

BOX_COLOR = (255, 255, 0)  # RGB
AUTO_CODECS = ("avc1", "mp4v")  # H.264, else MPEG-4 Part 2 (every OpenCV build with FFmpeg has it)


def open_video_writer(
    path: Path, fps: float, size: tuple[int, int], codec: str = "auto"
) -> tuple[cv2.VideoWriter, str]:
    """An open ``cv2.VideoWriter`` of an mp4 of (W, H) ``size`` frames, and its FourCC.

    ``codec="auto"``: H.264 (``avc1``) where this OpenCV build has an encoder for it, else ``mp4v`` with a warning
    (browsers do not play MPEG-4 Part 2; the pip wheels of OpenCV have no H.264 encoder). Otherwise ``codec`` is
    the FourCC to use (e.g. ``vp09``: VP9, which browsers play, slow to encode), an error if the build lacks it.
    """
    fourccs = AUTO_CODECS if codec == "auto" else (codec,)
    for fourcc in fourccs:
        level = cv2.getLogLevel()
        cv2.setLogLevel(0)  # OpenCV logs an error for each encoder it lacks: the warning below says it once
        try:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        finally:
            cv2.setLogLevel(level)
        if writer.isOpened():
            if codec == "auto" and fourcc != AUTO_CODECS[0]:
                log.warning("this OpenCV build has no H.264 encoder (the opencv-python wheels ship none): %s is "
                            "MPEG-4 Part 2 (%s), which media players play but browsers do not. For H.264: ffmpeg -i "
                            "%s -c:v libx264 -pix_fmt yuv420p %s (or predict.py video_codec=vp09: VP9, which "
                            "browsers play, slow to encode)", path, fourcc, path,
                            path.with_name(f"{path.stem}_h264.mp4"))  # fmt: skip
            return writer, fourcc
        writer.release()
    raise OSError(f"cv2.VideoWriter cannot write {path} with codec {' or '.join(fourccs)} (this OpenCV build lacks "
                  "the encoder; video_codec=auto picks one it has)")  # fmt: skip


def draw_people(image: np.ndarray, layout: JointLayout, xy: np.ndarray, vis: np.ndarray,
                boxes: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Skeletons (P, J, 2) pixels with visibilities (P, J), and optional boxes (P, 4) [x, y, w, h], on an (H, W, 3)
    uint8 RGB image (returned, the input untouched); line widths follow the image's size."""
    out = image.copy()
    thickness, _ = line_style(image.shape)
    for p in range(len(xy)):
        if boxes is not None:
            x, y, w, h = boxes[p]
            cv2.rectangle(out, (round(x), round(y)), (round(x + w - 1), round(y + h - 1)), BOX_COLOR, thickness,
                          cv2.LINE_AA)  # fmt: skip
        out = draw_pose(out, xy[p], layout, vis[p])
    return out


def draw_text_panel(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """``lines`` in a dark panel at the top left of an (H, W, 3) uint8 RGB image; the first line highlighted."""
    out = image.copy()
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.35, min(image.shape[:2]) / 500.0)
    thick = max(1, round(scale * 2))
    sizes = [cv2.getTextSize(line, font, scale, thick)[0] for line in lines]
    line_h = max(h for _, h in sizes) + round(8 * scale) + 2
    width = max(w for w, _ in sizes) + 10
    panel = out[: line_h * len(lines) + 6, :width]
    panel[:] = (panel * 0.35).astype(np.uint8)
    for k, line in enumerate(lines):
        color = (255, 255, 0) if k == 0 else (255, 255, 255)
        cv2.putText(out, line, (5, (k + 1) * line_h), font, scale, color, thick, cv2.LINE_AA)
    return out


def write_overlays(source: FrameSource, draw: Callable[[int, np.ndarray], np.ndarray], out_dir: Path,
                   unreadable: set[int] | None = None, video_codec: str = "auto") -> list[Path]:  # fmt: skip
    """Draw every frame of ``source`` (``draw(frame, rgb) → rgb``) into ``out_dir``: per image a file of the input's
    name and format (``photo.jpg`` → ``overlays/photo.jpg``: unique, as the inputs' names are), or
    ``<video stem>.mp4`` (``video_codec``: see :func:`open_video_writer`). Images in ``unreadable`` are skipped, as
    are others that cannot be read (added to it). Returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = tqdm(source.frames, desc="overlays", unit="frame", dynamic_ncols=True)
    if not source.is_video:
        written = []
        unreadable = set() if unreadable is None else unreadable
        for f in frames:
            if f.index in unreadable:
                continue
            try:
                bgr = source.read(f.index)
            except UnreadableImage:
                unreadable.add(f.index)
                continue
            rgb = draw(f.index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            path = out_dir / f.name
            if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise OSError(f"cannot write {path}")
            written.append(path)
        return written
    path = out_dir / f"{source.stem}.mp4"
    writer = None
    try:
        for f in frames:
            rgb = draw(f.index, cv2.cvtColor(source.read(f.index), cv2.COLOR_BGR2RGB))
            if writer is None:
                h, w = rgb.shape[:2]
                writer, fourcc = open_video_writer(path, source.fps, (w, h), video_codec)
                log.info("overlay video %s: %s, %.3g frames/s", path, fourcc, source.fps)
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    finally:
        if writer is not None:
            writer.release()
    return [path]
