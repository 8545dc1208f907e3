"""MPJPE (deephar's protocol), P-MPJPE (mmpose's Procrustes) and the reconstruction from uv + normalised depth."""

import numpy as np
import pytest
import torch

from har.geometry.camera import Camera
from har.metrics.mpjpe import (
    MPJPE,
    absolute_depth,
    joint_errors,
    mpjpe,
    procrustes_align,
    reconstruct_world,
    root_depths,
)


def _three_frames():
    """Three 3-joint frames (root first); actions 2, 2, 3. After root subtraction the errors are
    frame 0: (0, 30, 0), frame 1: (0, 0, 0), frame 2: (0, 0, 40)."""
    gt = np.tile(np.array([[0.0, 0, 0], [100, 0, 0], [0, 100, 0]]), (3, 1, 1)) + [[[500.0, 200, 4000]]]
    pred = gt + [[[10.0, 0, 0]]]  # a global shift: removed by the root
    pred[0, 1, 2] += 30.0
    pred[2, 2] += [0.0, 40.0, 0.0]
    return pred, gt, np.array([2, 2, 3])


def test_root_relative_mpjpe_is_the_mean_over_all_frames_and_joints():
    pred, gt, actions = _three_frames()
    s = mpjpe(pred, gt, actions=actions)
    assert s["mpjpe"] == pytest.approx(70 / 9)  # root included at zero error
    assert s["mpjpe/Directions"] == pytest.approx(30 / 6) and s["mpjpe/Discussion"] == pytest.approx(40 / 3)
    assert s["mpjpe"] != pytest.approx((s["mpjpe/Directions"] + s["mpjpe/Discussion"]) / 2)  # not a mean of means
    np.testing.assert_allclose(joint_errors(pred, gt)[0], [0, 30, 0])
    np.testing.assert_allclose(joint_errors(pred, gt, alignment="none")[1], [10, 10, 10])


def test_missing_joints_are_not_counted():
    pred, gt, _ = _three_frames()
    gt[2, 2] = np.nan  # a joint the source lacks (mmpose's spine)
    mask = np.ones((3, 3), bool)
    mask[0, 1] = False
    s = mpjpe(pred, gt, mask)
    assert s["mpjpe"] == pytest.approx(0.0)  # both erring joints excluded; 7 joints at zero error
    assert np.isnan(joint_errors(pred, gt, mask)[0, 1]) and np.isnan(joint_errors(pred, gt, mask)[2, 2])
    pred[1, 2] = np.nan  # a missing prediction of a valid joint is an unbounded error
    assert joint_errors(pred, gt)[1, 2] == np.inf and joint_errors(pred, gt, alignment="procrustes")[1, 0] == np.inf
    gt[0, 0] = np.nan
    with pytest.raises(ValueError, match="needs the root joint 0"):
        joint_errors(pred, gt)


def _mmpose_similarity(source, target):
    """mmpose's compute_similarity_transform (mesh_eval.py), written out with points as columns."""
    s, t = source.T, target.T
    mu1, mu2 = s.mean(axis=1, keepdims=True), t.mean(axis=1, keepdims=True)
    x1, x2 = s - mu1, t - mu2
    u, _, vh = np.linalg.svd(x1 @ x2.T)
    z = np.eye(3)
    z[-1, -1] *= np.sign(np.linalg.det(u @ vh))
    r = vh.T @ z @ u.T
    scale = np.trace(r @ x1 @ x2.T) / np.sum(x1**2)
    return (scale * r @ s + (mu2 - scale * r @ mu1)).T


def test_p_mpjpe_removes_a_similarity_and_matches_mmpose():
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 300, (4, 17, 3))
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    similar = 1.3 * gt @ rot.T + [50.0, -20.0, 900.0]
    s = mpjpe(similar, gt)
    assert s["p_mpjpe"] == pytest.approx(0.0, abs=1e-9) and s["mpjpe"] > 100
    noisy = similar + rng.normal(0, 20, gt.shape)
    expected = np.stack([_mmpose_similarity(p, g) for p, g in zip(noisy, gt)])
    np.testing.assert_allclose(procrustes_align(noisy, gt), expected, atol=1e-9)
    mirrored = gt * [-1.0, 1.0, 1.0]  # a reflection is not a rotation: it stays an error
    assert mpjpe(mirrored, gt)["p_mpjpe"] > 50


def test_reconstruction_from_uv_and_normalised_depth_with_distortion():
    assert absolute_depth(np.array([[0.5, 1.0, 0.0]]), np.array([4000.0])).tolist() == [[4000.0, 5000.0, 3000.0]]
    R = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # world z up, camera looking along world +y
    cam = Camera(R, [0.0, -4000.0, 1000.0], [1145.0, 1144.0], [512.0, 515.0], [-0.2, 0.25, -0.003], [-0.001, 0.002])
    rng = np.random.default_rng(1)
    world = rng.normal(0, 300, (5, 17, 3)) + [0.0, 0.0, 1000.0]
    world[:, 0] = [0.0, 0.0, 1000.0]
    cams = np.tile(cam.serialize(), (5, 1))
    uvd = cam.project(world)
    root = root_depths(world, cams)
    np.testing.assert_allclose(root, uvd[:, 0, 2])
    assert root[0] == pytest.approx(4000.0)  # the root sits 4 m in front of the camera
    z_norm = (uvd[..., 2] - (root[:, None] - 1000.0)) / 2000.0  # deephar's target: root depth ± 1000 mm
    back = reconstruct_world(uvd[..., :2], z_norm, root, cams)
    np.testing.assert_allclose(back, world, atol=1e-6)
    assert mpjpe(back, world)["mpjpe"] < 1e-6
    approx = reconstruct_world(uvd[..., :2], z_norm, root, cams, method="deephar")
    assert 0 < mpjpe(approx, world)["mpjpe"] < 5.0  # deephar's one-step undistortion: mm-level errors


def test_streaming_mpjpe_equals_functional_and_counts_repeated_indices_once():
    rng = np.random.default_rng(2)
    gt = rng.normal(0, 300, (13, 17, 3))
    pred = gt + rng.normal(0, 40, gt.shape)
    actions = rng.integers(2, 17, 13)
    mask = np.ones((13, 17), bool)
    mask[:, 16] = False
    expected = mpjpe(pred, gt, mask, actions)
    metric = MPJPE()
    order = np.concatenate([np.arange(13), [0, 3, 4]])  # padded by a DistributedSampler
    for s in range(0, len(order), 5):
        i = order[s : s + 5]
        metric.update(
            torch.tensor(pred[i]), torch.tensor(gt[i]), torch.tensor(i), torch.tensor(actions[i]), torch.tensor(mask[i])
        )
    out = metric.compute()
    assert out.keys() == expected.keys()
    for k, v in expected.items():
        assert float(out[k]) == pytest.approx(v, rel=1e-6), k
    plain = MPJPE()
    plain.update(torch.tensor(pred), torch.tensor(gt), torch.arange(13))
    assert set(plain.compute()) == {"mpjpe", "p_mpjpe"}
