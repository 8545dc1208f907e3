"""Overlays of ``predict.py``: skeletons (joint colour fading with visibility, :func:`har.vis.draw.draw_pose`),
person boxes, and for action the predicted label with the top-k probabilities. PNGs for images, an mp4 (``mp4v``,
the input's frame rate) for a video."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from har.layouts import JointLayout
from har.predict.inputs import FrameSource, UnreadableImage
from har.vis.draw import draw_pose

BOX_COLOR = (255, 255, 0)  # RGB


def draw_people(image: np.ndarray, layout: JointLayout, xy: np.ndarray, vis: np.ndarray,
                boxes: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Skeletons (P, J, 2) pixels with visibilities (P, J), and optional boxes (P, 4) [x, y, w, h], on an (H, W, 3)
    uint8 RGB image (returned, the input untouched)."""
    out = image.copy()
    scale = max(image.shape[:2]) / 400.0
    radius, thickness = max(2, round(3 * scale)), max(1, round(2 * scale))
    for p in range(len(xy)):
        if boxes is not None:
            x, y, w, h = boxes[p]
            cv2.rectangle(out, (round(x), round(y)), (round(x + w - 1), round(y + h - 1)), BOX_COLOR, 1, cv2.LINE_AA)
        out = draw_pose(out, xy[p], layout, vis[p], radius=radius, thickness=thickness)
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
                   unreadable: set[int] | None = None) -> list[Path]:  # fmt: skip
    """Draw every frame of ``source`` (``draw(frame, rgb) → rgb``) into ``out_dir``: per image a file of the input's
    name and format (``photo.jpg`` → ``overlays/photo.jpg``: unique, as the inputs' names are), or
    ``<video stem>.mp4``. Images in ``unreadable`` are skipped, as are others that cannot be read (added to it).
    Returns the files written."""
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
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), source.fps, (w, h))
                if not writer.isOpened():
                    raise OSError(f"cv2.VideoWriter cannot write {path} (mp4v)")
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    finally:
        if writer is not None:
            writer.release()
    return [path]
