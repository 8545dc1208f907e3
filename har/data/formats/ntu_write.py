"""Writers of NTU RGB+D's two forms (the inverse of :mod:`har.data.formats.ntu`), for tests and synthetic data.

Official: ``nturgb+d_skeletons/<id>.skeleton`` (:func:`write_skeleton`) and ``nturgb+d_rgb/<id>_rgb.avi``
(:func:`write_ntu_video`, MJPG). deephar: ``nturgb+d_numpy/<id>.npy`` (:func:`write_deephar_npy`) and
``images-small/<id>/%05d.jpg`` (:func:`write_ntu_frames`). They write what they are given, unvalidated, so that a
test can plant faults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from har.data.formats.ntu import NUMPY_DIR, RGB_DIR, SKELETONS_DIR, SMALL_IMAGES_DIR
from har.data.formats.penn_write import write_frames

# A nominal Kinect v2 colour camera, to give synthetic joints consistent camera-space x, y and depth-map pixels.
_FOCAL, _CENTRE = 1050.0, (960.0, 540.0)


@dataclass
class SkeletonBody:
    """One body in one frame of a ``.skeleton`` file.

    Attributes:
        body_id: Kinect's 64-bit bodyID.
        joints: (25, 11) x y z depthX depthY colorX colorY orientationW X Y Z; see :func:`kinect_joints`.
        tracking: (25,) trackingState (2 = tracked).
        info: the 9 values after the bodyID (clippedEdges … trackingState).
    """

    body_id: int
    joints: np.ndarray
    tracking: np.ndarray = field(default_factory=lambda: np.full(25, 2))
    info: Sequence[float] = (0, 1, 1, 1, 1, 0, 0.1, -0.2, 2)


def kinect_joints(u: np.ndarray, v: np.ndarray, depth_mm: np.ndarray) -> np.ndarray:
    """(25, 11) joint values with colorX, colorY = u, v (1920×1080 pixels) and z = depth / 1000 (m); x, y and the
    depth-map pixels from a nominal pinhole camera; identity orientation."""
    z = np.asarray(depth_mm, np.float64) / 1000.0
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    x, y = (u - _CENTRE[0]) * z / _FOCAL, -(v - _CENTRE[1]) * z / _FOCAL
    out = np.zeros((25, 11))
    out[:, 0], out[:, 1], out[:, 2] = x, y, z
    out[:, 3], out[:, 4] = u * 512 / 1920, v * 424 / 1080
    out[:, 5], out[:, 6] = u, v
    out[:, 7] = 1.0
    return out


def skeleton_text(frames: Sequence[Sequence[SkeletonBody]]) -> str:
    """The ``.skeleton`` text of ``frames`` (per frame, its bodies)."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body in bodies:
            lines.append(" ".join([str(int(body.body_id)), *(f"{float(x):g}" for x in body.info)]))
            lines.append(str(len(body.joints)))
            for joint, state in zip(np.asarray(body.joints), np.asarray(body.tracking)):
                lines.append(" ".join([*(f"{float(x):.7g}" for x in joint), str(int(state))]))
    return "\n".join(lines) + "\n"


def write_skeleton(root: str | Path, sample_id: str, frames: Sequence[Sequence[SkeletonBody]]) -> Path:
    """``root / nturgb+d_skeletons / <sample_id>.skeleton``."""
    path = Path(root) / SKELETONS_DIR / f"{sample_id}.skeleton"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(skeleton_text(frames))
    return path


def write_ntu_video(root: str | Path, sample_id: str, num_frames: int, size: tuple[int, int] = (64, 36),
                    frame_image: Callable[[int], np.ndarray] | None = None) -> Path:  # fmt: skip
    """``root / nturgb+d_rgb / <sample_id>_rgb.avi`` (MJPG): frame n (1-based) is ``frame_image(n)`` (RGB), by
    default grey level 5·n."""
    path = Path(root) / RGB_DIR / f"{sample_id}_rgb.avi"
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, size)
    if not writer.isOpened():
        raise OSError(f"cv2.VideoWriter cannot write {path} (MJPG)")
    try:
        for n in range(1, num_frames + 1):
            image = frame_image(n) if frame_image else np.full((size[1], size[0], 3), (5 * n) % 256, np.uint8)
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def deephar_npy_rows(frame_numbers: Sequence[int], uvd: np.ndarray, xyz: np.ndarray | None = None) -> np.ndarray:
    """deephar's (n, 151) array: frame number, 75 unused values (``xyz`` (n, 25, 3) as x…, y…, z…, or zeros), then
    u (25), v (25), depth (25) from (n, 25, 3) ``uvd`` (u, v in 1920×1080 pixels, depth in mm)."""
    uvd = np.asarray(uvd, np.float64)
    n = len(uvd)
    unused = np.zeros((n, 75)) if xyz is None else np.asarray(xyz, np.float64).transpose(0, 2, 1).reshape(n, 75)
    return np.concatenate(
        [np.asarray(frame_numbers, np.float64)[:, None], unused, uvd[..., 0], uvd[..., 1], uvd[..., 2]], axis=1
    )


def write_deephar_npy(root: str | Path, sample_id: str, rows: np.ndarray) -> Path:
    """``root / nturgb+d_numpy / <sample_id>.npy`` holding ``rows`` (see :func:`deephar_npy_rows`)."""
    path = Path(root) / NUMPY_DIR / f"{sample_id}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, rows)
    return path


def write_ntu_frames(root: str | Path, sample_id: str, frame_numbers: Sequence[int], size: tuple[int, int] = (96, 54),
                     frame_image: Callable[[int], np.ndarray] | None = None, skip: Sequence[int] = (),
                     folder: str = SMALL_IMAGES_DIR) -> Path:  # fmt: skip
    """``root / images-small / <sample_id> / %05d.jpg`` for each frame number (not those in ``skip``); frame n is
    ``frame_image(n)`` (RGB), by default grey level 5·n."""
    out = Path(root) / folder / sample_id
    draw = frame_image or (lambda n: np.full((size[1], size[0], 3), (5 * n) % 256, np.uint8))
    write_frames(out, frame_numbers, draw, "%05d.jpg", skip)
    return out
