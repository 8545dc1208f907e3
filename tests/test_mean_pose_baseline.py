"""The mean-pose baseline: the training split's mean camera-frame root-relative pose, placed at each validation
frame's root and scored with the MPJPE code, by hand on the tiny synthetic Human3.6M set; the command prints the
table and a JSON line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from har.data.formats.h36m import load_h36m_index
from har.tools.mean_pose_baseline import baseline_scores, main, mean_relative_pose


def test_mean_relative_pose_skips_missing_joints():
    poses = np.zeros((3, 2, 3))
    poses[:, 1] = [[1, 0, 0], [3, 0, 0], [np.nan, 0, 0]]
    poses[2, 0] = 10.0  # the root moves: relative poses are taken per frame
    mean = mean_relative_pose(poses)
    np.testing.assert_allclose(mean, [[0, 0, 0], [2, 0, 0]])


def test_baseline_error_is_the_distance_to_the_mean_pose(tiny_h36m):
    train = load_h36m_index(tiny_h36m, "train", "deephar", subjects=[1, 5, 6, 7, 8], frame_step=1)
    val = load_h36m_index(tiny_h36m, "val", "deephar", subjects=[9, 11], frame_step=1)
    scores = baseline_scores(train, val)
    cam_train, cam_val = train.joints_camera(), val.joints_camera()
    mean = (cam_train - cam_train[:, :1]).mean(axis=0)
    by_hand = np.linalg.norm((cam_val - cam_val[:, :1]) - mean, axis=-1).mean()  # root joint included, at 0 error
    assert scores["mpjpe"] == pytest.approx(by_hand, rel=1e-9)
    assert 0 < scores["p_mpjpe"] < scores["mpjpe"]
    assert scores["val_frames"] == len(val) and scores["train_frames"] == len(train)
    assert any(k.startswith("mpjpe/") for k in scores)


def test_command_prints_the_table_and_json(tiny_h36m, tmp_path, capsys, monkeypatch):
    # As a user's shell: HAR_ROOT unset (train.py, evaluate.py ... and tests/conftest.py set it; conf/paths reads it
    # even with HAR_DATA_DIR set), the data found through HAR_DATA_DIR as the README says.
    monkeypatch.delenv("HAR_ROOT")
    monkeypatch.setenv("HAR_DATA_DIR", str(tiny_h36m.parent))
    out = tmp_path / "baseline.json"
    main(["data=synthetic_h36m", "data.synthetic=null", "data.frame_step.val=1",
          "--json", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert "all frames" in printed and "MPJPE" in printed
    result = json.loads(out.read_text())
    assert json.loads(printed.strip().splitlines()[-1]) == result
    assert result["h36m"]["mpjpe"] > 0 and result["h36m"]["val_frames"] > 0
