"""predict.py with a 3D checkpoint (depth bins): each person's normalised depth, its root-relative millimetres and,
given a root depth and a focal length, camera-frame millimetres; each overlay gets a 3D plot beside it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from har.lit.pose import PoseModule
from tests.test_predict import SGD, _randomise, _save, run_predict

NET3D = {"num_joints": 17, "num_blocks": 1, "num_context_per_joint": 0, "depth_bins": 4, "width": 32,
         "input_size": [64, 64]}  # fmt: skip


@pytest.fixture(scope="module")
def pose3d_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    module = PoseModule(net=NET3D, optimizer=SGD, layout="pa17j")
    _randomise(module, module.net)
    return _save(module, tmp_path_factory.mktemp("ckpt") / "pose3d.ckpt", {"padding": 1.25, "input_size": [64, 64]})


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for name, (h, w) in {"a.jpg": (120, 90), "b.png": (80, 100)}.items():
        cv2.imwrite(str(folder / name), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return folder


def test_3d_predictions_write_depth_and_camera_millimetres(pose3d_ckpt, images, tmp_path):
    files = run_predict(tmp_path, f"ckpt_path={pose3d_ckpt}", f"input={images}", "pose3d.root_depth=4000",
                        "pose3d.focal=500")  # fmt: skip
    records = json.loads(files["predictions"].read_text())
    assert [r["file_name"] for r in records] == ["a.jpg", "b.png"]
    for r, (w, h) in zip(records, [(90, 120), (100, 80)]):
        z, rel = np.array(r["depth_norm"]), np.array(r["depth_mm"])
        assert z.shape == (17,) and ((z >= 0) & (z <= 1)).all()
        np.testing.assert_allclose(rel, 2000.0 * (z - 0.5), atol=0.06)
        xyz = np.array(r["joints_camera_mm"]).reshape(17, 3)
        xy = np.array(r["keypoints"]).reshape(17, 3)[:, :2]
        np.testing.assert_allclose(xyz[:, 2], 4000.0 + rel, atol=0.06)
        centre = np.array([(w - 1) / 2, (h - 1) / 2])
        np.testing.assert_allclose(xyz[:, :2], (xy - centre) * xyz[:, 2:] / 500.0, atol=0.2)
    # Each overlay: the image, then its 3D plot (as tall as the image) beside it.
    for path, (h, w) in zip(sorted(files["overlays"]), [(120, 90), (80, 100)]):
        overlay = cv2.imread(str(path))
        assert overlay.shape[0] == h and overlay.shape[1] == w + h


def test_without_a_root_depth_only_the_relative_depth_is_written(pose3d_ckpt, images, tmp_path):
    files = run_predict(tmp_path, f"ckpt_path={pose3d_ckpt}", f"input={images}", "overlays=false")
    record = json.loads(files["predictions"].read_text())[0]
    assert {"depth_norm", "depth_mm"} <= record.keys() and "joints_camera_mm" not in record


def test_a_root_depth_without_a_focal_length_is_an_error(pose3d_ckpt, images, tmp_path):
    with pytest.raises(ValueError, match="pose3d.focal"):
        run_predict(tmp_path, f"ckpt_path={pose3d_ckpt}", f"input={images}", "pose3d.root_depth=4000")
