"""Drawing with OpenCV on (H, W, 3) uint8 RGB images: skeletons (joint colours from the layout, visibility as
shading), a prediction against its ground truth in two distinct styles, legends, image grids.

Line widths follow the image's size (:func:`line_style`); every line has a dark outline so that it stands out from
the picture, whose own colours may be those of the layout (the synthetic people are drawn in them).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from har.layouts import JointLayout

GROUND_TRUTH_COLOR = (255, 255, 255)  # RGB: white
PREDICTION_COLOR = (255, 0, 255)  # RGB: magenta, in no layout's colours
OUTLINE_COLOR = (0, 0, 0)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def line_style(shape: tuple[int, ...]) -> tuple[int, int]:
    """(line thickness, joint radius) in pixels for an image of this (H, W, ...) shape: 1 px per 160 px of its
    shorter side (at least 1), joints a little wider."""
    thickness = max(1, round(min(shape[:2]) / 160))
    return thickness, thickness + 2


def _points(keypoints: np.ndarray) -> list[tuple[int, int]]:
    return [(int(round(x)), int(round(y))) for x, y in np.asarray(keypoints, dtype=float)[:, :2]]


def _line(image: np.ndarray, a: tuple[int, int], b: tuple[int, int], color, thickness: int) -> None:
    cv2.line(image, a, b, OUTLINE_COLOR, thickness + 2, cv2.LINE_AA)
    cv2.line(image, a, b, color, thickness, cv2.LINE_AA)


def _joint(image: np.ndarray, p: tuple[int, int], color, radius: int, thickness: int, filled: bool) -> None:
    """A filled dot with a dark rim, or a ring (``filled=False``) on a dark ring."""
    if filled:
        cv2.circle(image, p, radius, color, -1, cv2.LINE_AA)
        cv2.circle(image, p, radius, OUTLINE_COLOR, 1, cv2.LINE_AA)
    else:
        cv2.circle(image, p, radius, OUTLINE_COLOR, thickness + 2, cv2.LINE_AA)
        cv2.circle(image, p, radius, color, thickness, cv2.LINE_AA)


def draw_pose(
    image: np.ndarray,
    keypoints: np.ndarray,
    layout: JointLayout,
    visibility: np.ndarray | None = None,
    radius: int | None = None,
    thickness: int | None = None,
) -> np.ndarray:
    """Draw one skeleton in the layout's joint colours (left warm, right cool).

    Args:
        image: (H, W, 3) uint8 RGB; not modified.
        keypoints: (J, 2) pixels.
        visibility: (J,) in [0, 1]: a joint's colour fades toward grey as it drops; None draws all fully.
        radius, thickness: joint radius and line width; None: from the image's size (:func:`line_style`).
    """
    out = image.copy()
    default_thickness, default_radius = line_style(image.shape)
    thickness = default_thickness if thickness is None else thickness
    radius = default_radius if radius is None else radius
    vis = np.ones(len(keypoints)) if visibility is None else np.clip(np.asarray(visibility, dtype=float), 0, 1)
    colors = np.array(layout.colors or [(255, 255, 255)] * layout.num_joints, dtype=float)
    grey = np.array([128.0, 128.0, 128.0])
    shade = [tuple(int(c) for c in grey + (col - grey) * v) for col, v in zip(colors, vis)]
    pts = _points(keypoints)
    for a, b in layout.skeleton:
        _line(out, pts[a], pts[b], shade[b] if vis[b] <= vis[a] else shade[a], thickness)
    for p, color in zip(pts, shade):
        _joint(out, p, color, radius, thickness, filled=True)
    return out


def draw_prediction_and_truth(
    image: np.ndarray,
    prediction: np.ndarray,
    truth: np.ndarray,
    layout: JointLayout,
    truth_valid: np.ndarray | None = None,
    visibility: np.ndarray | None = None,
    thickness: int | None = None,
) -> np.ndarray:
    """A predicted skeleton against its ground truth, in two styles that neither share nor borrow the layout's
    colours: ground truth white with ring joints, prediction magenta with filled joints (a ring where its predicted
    visibility is below 0.5), and a thin magenta line from each labelled joint to its prediction (the error).

    Args:
        image: (H, W, 3) uint8 RGB; not modified.
        prediction, truth: (J, 2) pixels.
        truth_valid: (J,) bool, which ground-truth joints are labelled (None: all).
        visibility: (J,) predicted visibility in [0, 1] (None: all visible).
        thickness: line width; None: from the image's size (:func:`line_style`).
    """
    out = image.copy()
    t, radius = line_style(image.shape)
    t = t if thickness is None else thickness
    radius = max(radius, t + 2)
    valid = np.ones(len(truth), bool) if truth_valid is None else np.asarray(truth_valid, bool)
    vis = np.ones(len(prediction)) if visibility is None else np.asarray(visibility, dtype=float)
    gt, pred = _points(truth), _points(prediction)
    for j in np.flatnonzero(valid):  # errors first: under both skeletons
        cv2.line(out, gt[j], pred[j], PREDICTION_COLOR, 1, cv2.LINE_AA)
    for a, b in layout.skeleton:
        if valid[a] and valid[b]:
            _line(out, gt[a], gt[b], GROUND_TRUTH_COLOR, t)
    for j in np.flatnonzero(valid):
        _joint(out, gt[j], GROUND_TRUTH_COLOR, radius, max(1, t // 2 + 1), filled=False)
    for a, b in layout.skeleton:
        _line(out, pred[a], pred[b], PREDICTION_COLOR, t)
    for p, v in zip(pred, vis):
        _joint(out, p, PREDICTION_COLOR, max(2, radius - 1), max(1, t // 2 + 1), filled=v >= 0.5)
    return out


def legend_strip(width: int, entries: list[tuple[str, tuple[int, int, int], str]], title: str = "",
                 line_height: int = 28) -> np.ndarray:  # fmt: skip
    """A dark (H, width, 3) uint8 RGB strip: ``title``, then per entry a swatch and its label, wrapped onto as many
    lines of ``line_height`` pixels as the width needs. An entry is ``(label, colour, style)``, style
    ``"line-dot"`` / ``"line-ring"`` (a line ending in a filled / hollow joint), ``"dot"`` or ``"ring"``."""
    h = line_height
    scale, thick = h / 56, max(1, round(h / 28))
    t, r = max(1, h // 14), max(3, h // 6)
    items = [(title, None, "")] if title else []
    items += entries
    # lay out: (line, x) of each item, wrapping where the next one would not fit
    placed, line, x = [], 0, 8
    for label, color, style in items:
        swatch = (h if style.startswith("line") else 0) + (2 * r + 8 if color is not None else 0)
        w = swatch + cv2.getTextSize(label, FONT, scale, thick)[0][0]
        if x > 8 and x + w > width - 8:
            line, x = line + 1, 8
        placed.append((line, x))
        x += w + 18
    strip = np.full(((line + 1) * h, width, 3), 32, np.uint8)
    for (label, color, style), (k, x) in zip(items, placed):
        mid, base = k * h + h // 2, k * h + h // 2 + round(9 * scale)
        if color is not None:
            if style.startswith("line"):
                _line(strip, (x, mid), (x + h, mid), color, t)
                x += h
            _joint(strip, (x + r, mid), color, r, t, filled=style.endswith("dot"))
            x += 2 * r + 8
        text_color = (255, 255, 255) if color is None else (235, 235, 235)
        cv2.putText(strip, label, (x, base), FONT, scale, text_color, thick, cv2.LINE_AA)
    return strip


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


def overlay_tiles(
    images: np.ndarray,
    prediction: np.ndarray,
    truth: np.ndarray,
    truth_valid: np.ndarray,
    layout: JointLayout,
    visibility: np.ndarray | None = None,
    min_size: int = 256,
) -> list[np.ndarray]:
    """Each crop with its prediction against the ground truth (:func:`draw_prediction_and_truth`). Crops smaller
    than ``min_size`` are enlarged by a whole factor so that lines and joints stay legible; the pictures are dimmed
    a little so that the drawing stands out.

    Args:
        images: (N, H, W, 3) uint8 RGB crops.
        prediction, truth: (N, J, 2) crop pixels; truth_valid (N, J) bool; visibility (N, J) or None.
    """
    images = np.asarray(images)
    n, h, w = images.shape[:3]
    factor = max(1, math.ceil(min_size / max(h, w)))
    vis = np.ones(np.shape(prediction)[:2]) if visibility is None else visibility
    tiles = []
    for k in range(n):
        tile = images[k]
        if factor > 1:
            tile = cv2.resize(tile, (w * factor, h * factor), interpolation=cv2.INTER_LINEAR)
        tile = (tile.astype(np.float32) * 0.7).astype(np.uint8)
        # pixel centres: crop pixel x is enlarged pixel (x + 0.5)·factor − 0.5
        to_tile = lambda xy: (np.asarray(xy, dtype=float) + 0.5) * factor - 0.5  # noqa: E731
        tiles.append(draw_prediction_and_truth(tile, to_tile(prediction[k]), to_tile(truth[k]), layout,
                                               truth_valid[k], vis[k]))  # fmt: skip
    return tiles


OVERLAY_LEGEND = [("ground truth", GROUND_TRUTH_COLOR, "line-ring"), ("prediction", PREDICTION_COLOR, "line-dot"),
                  ("predicted visibility < 0.5", PREDICTION_COLOR, "ring")]  # fmt: skip


def with_legend(grid: np.ndarray, title: str = "", entries=None) -> np.ndarray:
    """``grid`` under a legend strip (:func:`legend_strip`; ``entries`` default: the overlays' legend)."""
    entries = OVERLAY_LEGEND if entries is None else entries
    strip = legend_strip(grid.shape[1], entries, title, line_height=max(24, min(40, grid.shape[1] // 24)))
    return np.concatenate([strip, grid], axis=0)


def validation_overlays(
    images: np.ndarray,
    prediction: np.ndarray,
    truth: np.ndarray,
    truth_valid: np.ndarray,
    layout: JointLayout,
    visibility: np.ndarray | None = None,
    title: str = "",
    min_size: int = 256,
    ncols: int = 4,
) -> np.ndarray:
    """A grid of :func:`overlay_tiles` under a legend strip; arguments as there. Returns (H', W', 3) uint8 RGB."""
    tiles = overlay_tiles(images, prediction, truth, truth_valid, layout, visibility, min_size)
    return with_legend(image_grid(tiles, ncols=ncols), title)
