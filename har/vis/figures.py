"""Figures drawn with matplotlib (Agg canvas, no pyplot, imported only when a figure is made, so that ``import
har`` stays light): the confusion matrix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def row_rates(confusion: np.ndarray) -> np.ndarray:
    """(C, C) counts (rows: true class, columns: predicted) → each row divided by its total (a row without items
    stays 0)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    return confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)


def confusion_figure(confusion: np.ndarray, classes: list[str], title: str = "",
                     mean_class_accuracy: float | None = None) -> Figure:  # fmt: skip
    """The confusion matrix as a figure read at a glance: cells coloured by the share of their true class (rows
    sum to 100 %), the count (and that share) in each cell, axis titles, each class's number of items, and in the
    title the accuracy (diagonal / total, from these counts) and, when given, the mean-class accuracy.

    Args:
        confusion: (C, C) counts; rows: true class, columns: predicted.
        classes: C class names.
        title: first title line (e.g. ``"val, epoch 3"``).
        mean_class_accuracy: shown in the title (the metric's value: see :mod:`har.metrics.classification`).
    """
    from matplotlib.figure import Figure

    counts = np.asarray(confusion, dtype=np.int64)
    n = len(classes)
    if counts.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {counts.shape} for {n} classes")
    rates = row_rates(counts)
    total, correct = int(counts.sum()), int(np.trace(counts))
    support = counts.sum(axis=1)

    side = min(14.0, max(4.5, 0.55 * n + 2.5))
    fig = Figure(figsize=(side + 1.6, side), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, format=lambda v, _: f"{v:.0%}").set_label(
        "share of the true class"
    )
    font = 9 if n <= 10 else 7 if n <= 25 else 5
    if n <= 40:  # beyond that the cells are too small for text: the colours tell
        for i in range(n):
            for j in range(n):
                if counts[i, j] == 0 and not (i == j and support[i]):  # a class never recognised shows its 0
                    continue
                text = f"{counts[i, j]}\n{rates[i, j]:.0%}" if n <= 15 else str(counts[i, j])
                color = "white" if rates[i, j] > 0.55 else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=font, color=color)
    ax.set_xticks(range(n), classes, rotation=45 if n > 3 else 0, ha="right" if n > 3 else "center",
                  fontsize=font + 1, rotation_mode="anchor")  # fmt: skip
    ax.set_yticks(range(n), [f"{name} ({s})" for name, s in zip(classes, support)], fontsize=font + 1)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (number of items)")
    summary = f"accuracy {correct / max(total, 1):.1%} ({correct}/{total})"
    if mean_class_accuracy is not None:
        summary += f", mean-class accuracy {mean_class_accuracy:.1%}"
    ax.set_title(f"{title}\n{summary}" if title else summary, fontsize=11)
    return fig


def figure_to_rgb(fig: Figure) -> np.ndarray:
    """Render a matplotlib figure (Agg) into an (H, W, 3) uint8 RGB array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.array(canvas.buffer_rgba())[..., :3]


def draw_confusion(confusion: np.ndarray, classes: list[str], title: str = "",
                   mean_class_accuracy: float | None = None) -> np.ndarray:  # fmt: skip
    """:func:`confusion_figure` as an (H, W, 3) uint8 RGB image."""
    return figure_to_rgb(confusion_figure(confusion, classes, title, mean_class_accuracy))
