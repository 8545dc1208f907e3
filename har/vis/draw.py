"""Drawing: skeletons on images (joint colours from the layout, visibility as shading) and image grids."""

from __future__ import annotations

import cv2
import numpy as np

from har.layouts import JointLayout


def draw_pose(
    image: np.ndarray,
    keypoints: np.ndarray,
    layout: JointLayout,
    visibility: np.ndarray | None = None,
    radius: int = 3,
    thickness: int = 2,
) -> np.ndarray:
    """Draw one skeleton.

    Args:
        image: (H, W, 3) uint8 RGB; not modified.
        keypoints: (J, 2) pixels.
        visibility: (J,) in [0, 1]: a joint's colour fades toward grey as it drops; None draws all fully.
    """
    out = image.copy()
    vis = np.ones(len(keypoints)) if visibility is None else np.clip(np.asarray(visibility, dtype=float), 0, 1)
    colors = np.array(layout.colors or [(255, 255, 255)] * layout.num_joints, dtype=float)
    grey = np.array([128.0, 128.0, 128.0])
    shade = [tuple(int(c) for c in grey + (col - grey) * v) for col, v in zip(colors, vis)]
    pts = [(int(round(x)), int(round(y))) for x, y in np.asarray(keypoints, dtype=float)]
    for a, b in layout.skeleton:
        color = shade[b] if min(vis[a], vis[b]) == vis[b] else shade[a]
        cv2.line(out, pts[a], pts[b], color, thickness, cv2.LINE_AA)
    for p, color in zip(pts, shade):
        cv2.circle(out, p, radius, color, -1, cv2.LINE_AA)
        cv2.circle(out, p, radius, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def image_grid(images: list[np.ndarray], ncols: int = 4, pad: int = 2) -> np.ndarray:
    """Tile equally sized (H, W, 3) images into one image, row-major."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    h, w = images[0].shape[:2]
    nrows = -(-len(images) // ncols)
    ncols = min(ncols, len(images))
    grid = np.zeros((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = img
    return grid
