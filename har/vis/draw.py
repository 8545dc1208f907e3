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


def draw_confusion(confusion: np.ndarray, classes: list[str], cell: int = 44) -> np.ndarray:
    """Confusion matrix (rows: true class, columns: predicted) as an RGB image: counts in cells shaded by the
    row-normalised rate, class names on the left and, numbered, on the top."""
    n = len(classes)
    confusion = np.asarray(confusion)
    rates = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    label_w = 8 * max(len(c) for c in classes) + 30
    image = np.full((n * cell + 30, label_w + n * cell + 4, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i, name in enumerate(classes):
        cv2.putText(image, f"{i} {name}", (4, 30 + i * cell + cell // 2 + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(image, str(i), (label_w + i * cell + cell // 2 - 4, 20), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        for j in range(n):
            x0, y0 = label_w + j * cell, 30 + i * cell
            shade = int(255 * (1 - rates[i, j]))
            color = (shade, shade, 255) if i != j else (shade, 255, shade)
            cv2.rectangle(image, (x0, y0), (x0 + cell - 2, y0 + cell - 2), color, -1)
            text_color = (0, 0, 0) if rates[i, j] < 0.6 else (255, 255, 255)
            cv2.putText(image, str(int(confusion[i, j])), (x0 + 6, y0 + cell // 2 + 4), font, 0.4, text_color, 1,
                        cv2.LINE_AA)  # fmt: skip
    return image
