"""The camera model (deephar / Human3.6M): hand-computed projections, exact inverse, serialization, validation."""

import numpy as np
import pytest

from har.geometry.camera import (
    Camera,
    distort,
    project_batch,
    undistort,
    unproject_batch,
)


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


def _h36m_like() -> Camera:
    """Parameters of the order of Human3.6M's (S9, camera 54138969)."""
    return Camera(
        _rotation(1.9, -0.4, 0.3),
        [1841.1, 4955.3, 1563.4],
        [1145.0, 1143.8],
        [512.5, 515.5],
        [-0.2071, 0.2476, -0.0031],
        [-0.0009, -0.0018],
    )


def test_project_matches_hand_computed_values_with_distortion():
    # R = I, T = 0: (a, b) = (0.1, 0.05); r² = 0.0125; radial = 1.00125; tan = 0.01·0.1 + 0.02·0.05 = 0.002
    # a' = 0.1·1.00325 + 0.01·0.0125 = 0.10045; b' = 0.05·1.00325 + 0.02·0.0125 = 0.0504125
    cam = Camera(np.eye(3), [0, 0, 0], [1000, 1100], [500, 400], [0.1, 0, 0], [0.01, 0.02])
    uvd = cam.project(np.array([[100.0, 50.0, 1000.0]]))
    np.testing.assert_allclose(uvd, [[600.45, 455.45375, 1000.0]], rtol=0, atol=1e-9)


def test_project_uses_t_as_the_camera_centre_in_world():
    # x = R·(X − T): X − T = (100, 50, 1000); R turns it into (50, −100, 1000).
    R = np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    cam = Camera(R, [10, 20, 30], [1000, 1000], [0, 0], [0, 0, 0], [0, 0])
    world = np.array([110.0, 70.0, 1030.0])
    np.testing.assert_allclose(cam.world_to_camera(world), [50, -100, 1000], atol=1e-12)
    np.testing.assert_allclose(cam.project(world), [50, -100, 1000], atol=1e-9)
    np.testing.assert_allclose(cam.camera_to_world(cam.world_to_camera(world)), world, atol=1e-12)


def test_unproject_inverts_project_with_distortion_to_1e_9_pixels():
    cam = _h36m_like()
    rng = np.random.default_rng(0)
    uv = rng.uniform(0, 1000, (2000, 2))  # the whole image, corners included
    uvd = np.concatenate([uv, rng.uniform(2000, 8000, (2000, 1))], axis=1)
    world = cam.unproject(uvd)
    np.testing.assert_allclose(cam.project(world), uvd, rtol=0, atol=1e-9)
    # the documented accuracy: residual below 1e-12 in normalised image coordinates
    ab_d = (uv - cam.c) / cam.f
    assert np.abs(distort(undistort(ab_d, cam.k, cam.p), cam.k, cam.p) - ab_d).max() < 1e-12
    # and back from world points
    pts = world.reshape(40, 50, 3)
    np.testing.assert_allclose(cam.unproject(cam.project(pts)), pts, rtol=0, atol=1e-6)


def test_deephar_one_step_inverse_is_approximate_where_iterative_is_exact():
    cam = _h36m_like()
    grid = np.stack(np.meshgrid(np.linspace(0, 1000, 41), np.linspace(0, 1000, 41)), -1).reshape(-1, 2)
    uvd = np.concatenate([grid, np.full((len(grid), 1), 5000.0)], axis=1)
    off = np.abs(cam.project(cam.unproject(uvd, method="deephar")) - uvd)[:, :2].max()
    assert 0.5 < off < 1.5  # deephar's inverse_project: up to ~0.9 px off inside a 1000 × 1000 image
    np.testing.assert_allclose(cam.project(cam.unproject(uvd)), uvd, atol=1e-9)
    centre = np.array([[cam.c[0], cam.c[1], 5000.0]])  # no distortion at the principal point: both exact
    np.testing.assert_allclose(cam.project(cam.unproject(centre, method="deephar")), centre, atol=1e-9)
    with pytest.raises(ValueError, match="unknown unproject method"):
        cam.unproject(uvd, method="newton")


def test_serialize_is_deephars_21_floats_in_its_order():
    R = np.arange(9.0).reshape(3, 3) / 10
    cam = Camera(R, [9, 10, 11], [12, 13], [14, 15], [18, 19, 20], [16, 17])
    expected = np.concatenate([[0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], np.arange(9.0, 21.0)])
    np.testing.assert_array_equal(cam.serialize(), expected)  # R row-major, T, f, c, p, k
    back = Camera.deserialize(cam.serialize())
    for a, b in zip(back.params, cam.params):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(Camera.deserialize(expected[:18]).k, [0, 0, 0])  # deephar's camera without k
    with pytest.raises(ValueError, match="21"):
        Camera.deserialize(np.zeros(20))


def test_batch_projection_uses_each_samples_camera():
    cams = [_h36m_like(), Camera(np.eye(3), [0, 0, -3000], [1000, 1000], [500, 500], [0.1, 0, 0], [0, 0.001])]
    rng = np.random.default_rng(1)
    world = rng.normal(0, 300, (2, 5, 3)) + [0, 0, 1000]
    serialized = np.stack([c.serialize() for c in cams])
    uvd = project_batch(world, serialized)
    for i, cam in enumerate(cams):
        np.testing.assert_allclose(uvd[i], cam.project(world[i]), atol=1e-9)
    np.testing.assert_allclose(unproject_batch(uvd, serialized), world, atol=1e-6)


def test_mmpose_camera_entry_is_camera_to_world_in_metres():
    cam = _h36m_like()
    entry = cam.to_mmpose()
    assert entry["T"].shape == (3, 1) and entry["f"].shape == (2, 1)
    world = np.array([[100.0, -200.0, 900.0]])
    # mmpose SimpleCamera.world_to_camera (row vectors): X @ R_w2c + T_w2c, R_w2c = R, T_w2c = −Tᵀ·R
    mm = world / 1000 @ entry["R"] - entry["T"].T @ entry["R"]
    np.testing.assert_allclose(mm * 1000, cam.world_to_camera(world), atol=1e-9)
    back = Camera.from_mmpose(entry)
    for a, b in zip(back.params, cam.params):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_validation_names_each_problem():
    good = _h36m_like()
    assert good.problems() == []
    assert good.validate("S9 cam 1") is good
    skewed = Camera(np.array([[1.0, 0.1, 0], [0, 1, 0], [0, 0, 1]]), [0, 0, 0], [1, 1], [0, 0], [0, 0, 0], [0, 0])
    assert "not orthonormal" in skewed.problems()[0]
    mirrored = Camera(np.diag([1.0, 1, -1]), [0, 0, 0], [1, 1], [0, 0], [0, 0, 0], [0, 0])
    assert "reflection" in mirrored.problems()[0]
    flat = Camera(np.eye(3), [0, 0, 0], [0, 1000], [0, 0], [0, 0, 0], [0, 0])
    assert "non-positive focal length" in flat.problems()[0]
    broken = Camera(np.eye(3), [0, np.nan, 0], [1, 1], [0, 0], [0, 0, 0], [0, 0])
    with pytest.raises(ValueError, match=r"S1 cam 2: bad camera: non-finite T"):
        broken.validate("S1 cam 2")
    with pytest.raises(ValueError, match="expected 3"):
        Camera(np.eye(3), [0, 0], [1, 1], [0, 0], [0, 0, 0], [0, 0])
