"""The 3D stick person of the 3D synthetic datasets: kinematics keep bone lengths, sides and axes are the formats',
the camera sees what it looks at, and drawing follows the projection."""

from __future__ import annotations

import numpy as np
import pytest

from har.data.formats.h36m import H36M_JOINTS
from har.data.formats.ntu import KINECT_JOINTS
from har.synthetic.person3d import (
    BONES,
    H36M_FROM_CANONICAL,
    JOINTS,
    KINECT_FROM_CANONICAL,
    J,
    Pose3D,
    draw_person3d,
    forward_kinematics,
    place,
    ring_camera,
    sample_pose3d,
    standing_height,
)


@pytest.mark.parametrize("seed", range(5))
def test_every_pose_keeps_the_bone_lengths(seed):
    body = forward_kinematics(sample_pose3d(np.random.default_rng(seed)), scale=1.1)
    for a, b, bone in (("l_shoulder", "l_elbow", "upper_arm"), ("r_elbow", "r_wrist", "forearm"),
                       ("l_hip", "l_knee", "thigh"), ("r_knee", "r_ankle", "shin"), ("neck", "head", "neck_head"),
                       ("pelvis", "spine", "pelvis_spine")):  # fmt: skip
        assert np.linalg.norm(body[J[a]] - body[J[b]]) == pytest.approx(1.1 * BONES[bone])


def test_the_rest_pose_stands_upright_with_its_left_side_on_plus_x():
    body = forward_kinematics(Pose3D(arm_raise=(0, 0), elbow=(0, 0), hip_abduct=(0, 0), knee=(0, 0)))
    assert np.allclose(body[J["pelvis"]], 0)
    assert body[J["head_top"], 1] > body[J["neck"], 1] > body[J["thorax"], 1] > 0  # up is +y
    assert body[J["l_shoulder"], 0] > 0 > body[J["r_shoulder"], 0]  # the person's left is +x
    # hanging arms and straight legs: wrists straight below the shoulders, ankles below the hips
    for s in "lr":
        assert np.allclose(body[J[f"{s}_wrist"], [0, 2]], body[J[f"{s}_shoulder"], [0, 2]], atol=1e-9)
        assert body[J[f"{s}_ankle"], 1] == pytest.approx(body[J[f"{s}_hip"], 1] - BONES["thigh"] - BONES["shin"])


def test_a_person_facing_plus_y_has_its_left_at_minus_x_and_stands_on_the_floor():
    body = forward_kinematics(Pose3D())
    world = place(body, (100.0, 200.0, standing_height(body)), yaw_deg=0.0)
    assert world[J["l_shoulder"], 0] < 100.0 < world[J["r_shoulder"], 0]
    assert world[J["head_top"], 2] > 1500.0  # z is up, in mm
    assert world[:, 2].min() == pytest.approx(30.0, abs=1e-6)  # the lowest foot point 30 mm above the floor
    turned = place(body, (0.0, 0.0, 0.0), yaw_deg=90.0)  # facing −x now: its left towards −y
    assert turned[J["l_shoulder"], 1] < 0 < turned[J["r_shoulder"], 1]


def test_a_ring_camera_sees_its_target_at_the_image_centre():
    cam = ring_camera(30.0, (320, 240), radius=4000.0, height=1500.0, target=(0.0, 0.0, 1000.0), k=(0, 0, 0), p=(0, 0))
    assert np.linalg.norm(cam.T[:2]) == pytest.approx(4000.0)
    (u, v, d) = cam.project(np.array([[0.0, 0.0, 1000.0]]))[0]
    assert (u, v) == pytest.approx((159.5, 119.5)) and d == pytest.approx(np.hypot(4000.0, 500.0))
    (_, v_up, _) = cam.project(np.array([[0.0, 0.0, 1500.0]]))[0]
    assert v_up < v  # higher in the world is higher in the image


def test_drawing_follows_the_projection():
    rng = np.random.default_rng(3)
    body = forward_kinematics(sample_pose3d(rng))
    world = place(body, (0.0, 0.0, standing_height(body)), 40.0)
    cam = ring_camera(200.0, (200, 200))
    image = np.zeros((200, 200, 3), np.uint8)
    uvd = draw_person3d(image, world, cam)
    np.testing.assert_allclose(uvd, cam.project(world))
    for name in ("pelvis", "l_knee", "r_elbow", "head"):
        u, v = np.round(uvd[J[name], :2]).astype(int)
        assert image[v - 1 : v + 2, u - 1 : u + 2].any(), name  # something is drawn at every joint
    assert (image.any(axis=2).mean()) < 0.2  # and not the whole frame


def test_format_tables_pick_the_joints_their_names_say():
    canonical = {
        "Hips": "pelvis", "RightUpLeg": "r_hip", "LeftLeg": "l_knee", "Spine": "spine", "Spine1": "thorax",
        "Neck": "neck", "Head": "head", "LeftArm": "l_shoulder", "RightForeArm": "r_elbow", "LeftHand": "l_wrist",
    }  # fmt: skip
    for h36m_name, name in canonical.items():
        assert JOINTS[H36M_FROM_CANONICAL[H36M_JOINTS.index(h36m_name)]] == name
    kinect = {"base of the spine": "pelvis", "left shoulder": "l_shoulder", "right knee": "r_knee",
              "spine": "thorax", "left hand": "l_hand", "tip of the right hand": "r_hand"}  # fmt: skip
    for kinect_name, name in kinect.items():
        assert JOINTS[KINECT_FROM_CANONICAL[KINECT_JOINTS.index(kinect_name)]] == name
    assert len(H36M_FROM_CANONICAL) == 32 and len(KINECT_FROM_CANONICAL) == 25


def test_colour_is_the_only_left_right_cue_so_a_mirror_contradicts_it():
    """Left limbs are warm and right ones cool from the front and from behind, and the head (no face) looks the same
    both ways: the colours are the only way to tell the sides, which is why the synthetic 3D datasets' configs turn
    the flip augmentation off (a mirrored crop shows warm limbs labelled right)."""
    body = forward_kinematics(Pose3D(arm_raise=(0, 0), elbow=(0, 0), hip_abduct=(0, 0), knee=(0, 0)))
    heads = []
    for yaw in (0.0, 180.0):  # facing the camera, then its back to it
        world = place(body, (0.0, 0.0, standing_height(body)), yaw)
        cam = ring_camera(90.0, (200, 200), fov_deg=30.0)  # in front of a person facing +y
        image = np.zeros((200, 200, 3), np.uint8)
        uvd = draw_person3d(image, world, cam)
        for side, warm in (("l", True), ("r", False)):
            u, v = np.round((uvd[J[f"{side}_shoulder"], :2] + uvd[J[f"{side}_elbow"], :2]) / 2).astype(int)
            r, _, b = image[v, u].astype(int)
            assert (r > b + 60) if warm else (b > r + 60), (yaw, side, image[v, u])
        u, v = np.round(uvd[J["head"], :2]).astype(int)
        heads.append(image[v - 2 : v + 3, u - 2 : u + 3].reshape(-1, 3).astype(int))
    assert np.abs(heads[0].mean(0) - heads[1].mean(0)).max() < 8  # no face: front and back heads alike
