"""3D skeleton plots (matplotlib, Agg canvas, imported only when a plot is made): a predicted 3D pose against its
ground truth, and each beside its image overlay.

Coordinates are the network's normalised ones, ``(x, y, z)`` in [0, 1]: x, y across the crop, z the depth over
``root ± 1000 mm`` (0.5 = the root's depth; deephar's Human3.6M crop is about 2.25 m wide, so the three axes are
close to one scale). The plot shows x to the right, depth into the picture and image-up as up, in a fixed unit
cube, so that plots of different samples and epochs compare directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from har.layouts import JointLayout
from har.vis.draw import PREDICTION_COLOR, image_grid, overlay_tiles, with_legend

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TRUTH_3D_COLOR = "#303030"  # dark grey: the white of the 2D overlays would vanish on the plot's white
PREDICTION_3D_COLOR = tuple(c / 255 for c in PREDICTION_COLOR)


def _plot_skeleton(ax, pose: np.ndarray, valid: np.ndarray, layout: JointLayout, color, style: str, filled: bool,
                   label: str) -> None:  # fmt: skip
    """One skeleton on a 3D axis: (x, depth, −y) of normalised (x, y, z)."""
    x, y, z = pose[:, 0], pose[:, 2], 1.0 - pose[:, 1]
    first = True
    for a, b in layout.skeleton:
        if valid[a] and valid[b]:
            ax.plot([x[a], x[b]], [y[a], y[b]], [z[a], z[b]], style, color=color, linewidth=2,
                    label=label if first else None)  # fmt: skip
            first = False
    ax.scatter(x[valid], y[valid], z[valid], edgecolors=color, facecolors=color if filled else "none", s=18,
               label=None if not first else label, depthshade=False)  # fmt: skip


def skeleton_3d_figure(
    prediction: np.ndarray,
    layout: JointLayout,
    truth: np.ndarray | None = None,
    truth_valid: np.ndarray | None = None,
    title: str = "",
    size_px: int = 256,
) -> Figure:
    """A predicted skeleton (J, 3) normalised (x, y, z), magenta dashed with filled joints, against the ground
    truth (J, 3) (dark grey, solid, hollow joints) on its valid joints ``truth_valid`` (J,) (None: all; a sample
    without 3D ground truth shows the prediction alone), with a legend."""
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
    ax = fig.add_subplot(projection="3d")
    fig.subplots_adjust(left=0, right=0.95, bottom=0, top=0.92 if title else 1)  # right: room for the "up" label
    pred = np.asarray(prediction, dtype=float)
    if truth is not None:
        valid = np.ones(len(truth), bool) if truth_valid is None else np.asarray(truth_valid, bool)
        if valid.any():
            truth = np.asarray(truth, dtype=float)
            _plot_skeleton(ax, truth, valid, layout, TRUTH_3D_COLOR, "-", False, "ground truth")
    _plot_skeleton(ax, pred, np.isfinite(pred).all(axis=1), layout, PREDICTION_3D_COLOR, "--", True, "prediction")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1), ax.set_zlim(0, 1)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=12, azim=-62)
    ax.set_xlabel("x", labelpad=-12), ax.set_ylabel("depth", labelpad=-12), ax.set_zlabel("up", labelpad=-12)
    ax.tick_params(labelbottom=False, labelleft=False, labelright=False, length=0)
    ax.set_xticklabels([]), ax.set_yticklabels([]), ax.set_zticklabels([])
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


def draw_skeleton_3d(
    prediction: np.ndarray,
    layout: JointLayout,
    truth: np.ndarray | None = None,
    truth_valid: np.ndarray | None = None,
    title: str = "",
    size_px: int = 256,
) -> np.ndarray:
    """:func:`skeleton_3d_figure` as a (size_px, size_px, 3) uint8 RGB image."""
    from har.vis.figures import figure_to_rgb

    image = figure_to_rgb(skeleton_3d_figure(prediction, layout, truth, truth_valid, title, size_px))
    if image.shape[:2] != (size_px, size_px):
        image = cv2.resize(image, (size_px, size_px), interpolation=cv2.INTER_AREA)
    return image


def beside(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two (H, W, 3) uint8 images side by side, ``right`` scaled to ``left``'s height."""
    h = left.shape[0]
    if right.shape[0] != h:
        right = cv2.resize(right, (round(right.shape[1] * h / right.shape[0]), h), interpolation=cv2.INTER_AREA)
    return np.concatenate([left, right], axis=1)


def validation_overlays_3d(
    images: np.ndarray,
    prediction: np.ndarray,
    truth: np.ndarray,
    truth_valid: np.ndarray,
    layout: JointLayout,
    pose3d: np.ndarray,
    truth3d: np.ndarray,
    truth3d_valid: np.ndarray,
    visibility: np.ndarray | None = None,
    title: str = "",
    min_size: int = 256,
    ncols: int = 2,
) -> np.ndarray:
    """A grid of (image overlay | 3D plot) pairs under a legend strip.

    Args:
        images: (N, H, W, 3) uint8 RGB crops.
        prediction, truth: (N, J, 2) crop pixels; truth_valid (N, J) bool; visibility (N, J) or None.
        pose3d, truth3d: (N, J, 3) normalised (x, y, z); truth3d_valid (N, J) bool (all False: no 3D ground
            truth, e.g. an MPII sample: the plot shows the prediction alone).
    """
    tiles = overlay_tiles(images, prediction, truth, truth_valid, layout, visibility, min_size)
    pairs = []
    for k, tile in enumerate(tiles):
        note = "" if np.any(truth3d_valid[k]) else "no 3D ground truth"
        plot = draw_skeleton_3d(pose3d[k], layout, truth3d[k], truth3d_valid[k], note, size_px=tile.shape[0])
        pairs.append(beside(tile, plot))
    return with_legend(image_grid(pairs, ncols=ncols), title)
