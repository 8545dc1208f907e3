"""Pictures: the confusion matrix figure (row-normalised, counts, axis titles, accuracy), validation overlays that
tell the ground truth from the prediction, line widths that follow the image, and the run folder's file names."""

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from har.codec import HeatmapCodec
from har.layouts import COCO17
from har.lit.action import ClipActionModule
from har.lit.pose import PoseModule
from har.vis.draw import (
    GROUND_TRUTH_COLOR,
    PREDICTION_COLOR,
    draw_prediction_and_truth,
    line_style,
    validation_overlays,
)
from har.vis.figures import confusion_figure, draw_confusion, figure_to_rgb

CLASSES = ["walk", "run", "jump"]
# rows: true class; 8 items, 5 right; "jump" never recognised
CONFUSION = np.array([[3, 1, 0], [0, 2, 0], [2, 0, 0]])


def _close_to(image: np.ndarray, color: tuple[int, int, int], tol: int = 40) -> np.ndarray:
    return (np.abs(image.astype(int) - color) <= tol).all(axis=-1)


def test_confusion_figure_is_row_normalised_with_counts_axis_titles_and_accuracy():
    fig = confusion_figure(CONFUSION, CLASSES, "val, epoch 3", mean_class_accuracy=7 / 12)
    (ax, _colorbar) = fig.axes
    np.testing.assert_allclose(ax.images[0].get_array(), [[0.75, 0.25, 0], [0, 1, 0], [1, 0, 0]])
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel().startswith("true class")
    assert ax.get_title() == "val, epoch 3\naccuracy 62.5% (5/8), mean-class accuracy 58.3%"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["walk (4)", "run (2)", "jump (2)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    # every non-zero count with its share of the row, and the 0 of a class never recognised; no empty cells
    assert cells == {(0, 0): "3\n75%", (0, 1): "1\n25%", (1, 1): "2\n100%", (2, 0): "2\n100%", (2, 2): "0\n0%"}

    rgb = figure_to_rgb(fig)
    assert rgb.dtype == np.uint8 and rgb.shape[2] == 3

    def pixel(row: int, col: int) -> np.ndarray:  # a cell's colour, 10 px off its centre (beside the text)
        x, y = ax.transData.transform((col - 0.3, row))
        return rgb[int(rgb.shape[0] - y), int(x)].astype(int)

    full, quarter, empty = pixel(1, 1), pixel(0, 1), pixel(0, 2)
    assert full[2] > full[0] + 80  # one blue scale for every cell (no BGR colour in an RGB image)
    assert empty.min() > 240 and full.sum() < quarter.sum() < empty.sum()  # darker = larger share
    assert np.array_equal(draw_confusion(CONFUSION, CLASSES, "val, epoch 3", 7 / 12), rgb)


def test_confusion_figure_of_many_classes_keeps_the_colours_and_drops_the_text():
    n = 60
    fig = confusion_figure(np.eye(n, dtype=int) * 5, [f"action {i}" for i in range(n)])
    assert not fig.axes[0].texts and fig.axes[0].get_title() == "accuracy 100.0% (300/300)"
    with pytest.raises(ValueError, match="shape"):
        confusion_figure(CONFUSION, CLASSES[:2])


def test_validation_overlay_draws_truth_and_prediction_apart_under_a_legend():
    """Black 64×64 crops, the ground truth on the column x = 16, the prediction on x = 44: white pixels lie on the
    truth, magenta ones on the prediction (after the 4× enlargement to 256 px); unlabelled truth is not drawn."""
    truth = np.stack([np.full(17, 16.0), np.linspace(6, 58, 17)], axis=1)
    prediction = truth + [28.0, 0.0]
    images = np.zeros((2, 64, 64, 3), np.uint8)
    valid = np.array([np.ones(17, bool), np.zeros(17, bool)])
    out = validation_overlays(images, prediction[None].repeat(2, 0), truth[None].repeat(2, 0), valid, COCO17,
                              title="val, epoch 0", ncols=2)  # fmt: skip
    pad, tile = 2, 256
    legend = out.shape[0] - (tile + 2 * pad)
    assert out.shape[1] == 2 * tile + 3 * pad and legend in (24, 48)  # one or two lines of legend
    strip = out[:legend]
    assert _close_to(strip, PREDICTION_COLOR).sum() > 10 and _close_to(strip, GROUND_TRUTH_COLOR, 20).sum() > 10

    first, second = (out[legend + pad : legend + pad + tile, pad + k * (tile + pad) :][:, :tile] for k in (0, 1))
    to_tile = lambda x: (x + 0.5) * 4 - 0.5  # noqa: E731
    white_columns = _close_to(first, GROUND_TRUTH_COLOR, 20).sum(axis=0)  # the skeletons are vertical lines
    magenta_columns = _close_to(first, PREDICTION_COLOR).sum(axis=0)  # (and the errors thin horizontal ones)
    assert (
        abs(white_columns.argmax() - to_tile(16)) <= 6 and abs(magenta_columns.argmax() - to_tile(44)) <= 6
    )  # ±radius
    assert white_columns[int(to_tile(44))] == 0 and magenta_columns[int(to_tile(16))] < 10
    assert not _close_to(second, GROUND_TRUTH_COLOR, 20).any() and _close_to(second, PREDICTION_COLOR).sum() > 100


def test_line_width_follows_the_image_size():
    assert line_style((120, 160)) == (1, 3) and line_style((1080, 1920)) == (7, 9)
    for size, expected in ((128, 1), (1024, 6)):
        image = np.zeros((size, size, 3), np.uint8)
        x = size // 2
        truth = np.stack([np.full(17, float(x)), np.linspace(size * 0.1, size * 0.9, 17)], axis=1)
        drawn = draw_prediction_and_truth(image, truth + [size / 4, 0], truth, COCO17)
        row = drawn[int(size * 0.325)]  # across the vertical ground-truth line, midway between two joints
        assert _close_to(row, GROUND_TRUTH_COLOR, 30).sum() == pytest.approx(expected, abs=1)


class _Trainer(SimpleNamespace):
    """What the modules' picture logging reads of a Trainer."""

    def __init__(self, root, epoch):
        super().__init__(is_global_zero=True, default_root_dir=str(root), loggers=[], global_step=0,
                         current_epoch=epoch, sanity_checking=False)  # fmt: skip


def test_confusion_files_name_the_epoch_that_ran_and_the_test_none(tmp_path):
    """Validation after epoch 1 → ``val_confusion_epoch_001.{csv,png}``; a test after 2 epochs of training →
    ``test_confusion.{csv,png}`` (not ``epoch002``: no such epoch ran)."""
    module = ClipActionModule()
    module.init_heads(CLASSES, None, num_blocks=4)
    module._trainer = _Trainer(tmp_path, 1)
    module._log_confusion("val", CONFUSION, 0.5)
    module._trainer = _Trainer(tmp_path, 2)
    module._log_confusion("test", CONFUSION, 0.5)
    names = sorted(p.name for p in (tmp_path / "confusion").iterdir())
    assert names == ["test_confusion.csv", "test_confusion.png", "val_confusion_epoch_001.csv",
                     "val_confusion_epoch_001.png"]  # fmt: skip
    rows = (tmp_path / "confusion" / "test_confusion.csv").read_text().splitlines()
    assert rows == ["true \\ predicted,walk,run,jump", "walk,3,1,0", "run,0,2,0", "jump,2,0,0"]
    png = cv2.imread(str(tmp_path / "confusion" / "val_confusion_epoch_001.png"))
    assert png is not None and png.shape[0] > 300


def test_pose_validation_overlays_show_the_ground_truth_and_name_the_epoch(tmp_path):
    module = PoseModule(net={"num_joints": 17, "num_blocks": 1, "width": 32, "input_size": [64, 64]},
                        optimizer={"_target_": "torch.optim.SGD", "lr": 0.1})  # fmt: skip
    module._trainer = _Trainer(tmp_path, 4)
    codec = HeatmapCodec((64, 64))
    truth = np.stack([np.full(17, 16.0), np.linspace(6, 58, 17)], axis=1)
    module._overlay_batch = {
        "image": torch.zeros(2, 3, 64, 64, dtype=torch.uint8),
        "pose": torch.from_numpy(codec.encode(truth + [28.0, 0.0])).float()[None].repeat(2, 1, 1),
        "vis": torch.ones(2, 17),
        "target_uv": torch.from_numpy(codec.encode(truth)).float()[None].repeat(2, 1, 1),
        "target_valid": torch.ones(2, 17, dtype=torch.bool),
    }
    module._log_overlays()
    (png,) = (tmp_path / "overlays").iterdir()
    assert png.name == "val_overlays_epoch_004.png"
    rgb = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
    assert _close_to(rgb[60:], GROUND_TRUTH_COLOR, 20).sum() > 500 and _close_to(rgb[60:], PREDICTION_COLOR).sum() > 500
