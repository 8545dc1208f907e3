"""A 3D stick person for the 3D synthetic datasets (Human3.6M-like frames, NTU-like skeletons): a skeleton posed by a
small kinematic model in millimetres, seen through a pinhole camera with lens distortion (:mod:`har.geometry.camera`),
drawn as depth-sorted capsules.

**Joints.** One canonical set (:data:`JOINTS`) from which every format's skeleton is read by a table:
:data:`H36M_FROM_CANONICAL` (Human3.6M's 32 joints, ``pose3d``'s order), :data:`KINECT_FROM_CANONICAL` (NTU's 25
Kinect joints). Sides are anatomical: ``l_*`` is the person's own left (their left hand is on the image's right when
they face the camera), as Human3.6M and the Kinect name them; the format readers apply deephar's own mappings.

**Frames.** World coordinates are Human3.6M's: millimetres, z up, the floor at z = 0. A body frame has x = the
person's left, y = up, z = forward; the kinematics work there and :func:`place` puts the body into the world.

**Drawing.** Limbs are thick lines whose width follows the perspective (``f · width / depth``), drawn far to near so
nearer limbs hide farther ones; the colours are har's (left warm, right cool, centre green) and get brighter as a part
comes nearer the camera than the pelvis, a depth cue the network can learn from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from har.geometry.camera import Camera

JOINTS = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "r_toe", "l_hip", "l_knee", "l_ankle", "l_toe",
    "spine", "thorax", "neck", "head", "head_top",
    "l_clavicle", "l_shoulder", "l_elbow", "l_wrist", "l_hand", "l_thumb",
    "r_clavicle", "r_shoulder", "r_elbow", "r_wrist", "r_hand", "r_thumb",
)  # fmt: skip
J = {name: i for i, name in enumerate(JOINTS)}

# Human3.6M's 32 joints (har.data.formats.h36m.H36M_JOINTS) from the canonical ones; the "Site" end points repeat their
# parent's neighbour (a toe's site is the toe, the head's site is the head top, as deephar's pa17j reads it).
H36M_FROM_CANONICAL = np.array([J[n] for n in (
    "pelvis", "r_hip", "r_knee", "r_ankle", "r_toe", "r_toe", "l_hip", "l_knee", "l_ankle", "l_toe", "l_toe",
    "spine", "thorax", "neck", "head", "head_top", "l_clavicle", "l_shoulder", "l_elbow", "l_wrist", "l_thumb",
    "l_thumb", "l_hand", "l_hand", "r_clavicle", "r_shoulder", "r_elbow", "r_wrist", "r_thumb", "r_thumb", "r_hand",
    "r_hand",
)])  # fmt: skip
# NTU's 25 Kinect v2 joints (har.data.formats.ntu.KINECT_JOINTS) from the canonical ones.
KINECT_FROM_CANONICAL = np.array([J[n] for n in (
    "pelvis", "spine", "neck", "head", "l_shoulder", "l_elbow", "l_wrist", "l_hand", "r_shoulder", "r_elbow",
    "r_wrist", "r_hand", "l_hip", "l_knee", "l_ankle", "l_toe", "r_hip", "r_knee", "r_ankle", "r_toe", "thorax",
    "l_hand", "l_thumb", "r_hand", "r_thumb",
)])  # fmt: skip

# Segment lengths (mm) of a 1.75 m person; a subject scales them.
BONES = {
    "pelvis_spine": 230.0, "spine_thorax": 200.0, "thorax_neck": 110.0, "neck_head": 110.0, "head_top": 110.0,
    "clavicle": 170.0, "upper_arm": 290.0, "forearm": 260.0, "hand": 90.0, "hip": 95.0, "thigh": 440.0,
    "shin": 430.0, "foot": 140.0,
}  # fmt: skip
# Drawn widths (mm) of the capsules.
WIDTHS = {"torso": 120.0, "upper_arm": 80.0, "forearm": 65.0, "hand": 45.0, "thigh": 110.0, "shin": 85.0,
          "foot": 55.0, "neck": 70.0, "head": 190.0}  # fmt: skip

_LEFT, _RIGHT, _CENTRE = np.array((255, 128, 0)), np.array((0, 160, 255)), np.array((0, 200, 80))  # RGB
# (from, to, width key, colour): what is drawn, as capsules between canonical joints.
SEGMENTS = (
    ("pelvis", "spine", "torso", _CENTRE), ("spine", "thorax", "torso", _CENTRE), ("thorax", "neck", "neck", _CENTRE),
    ("l_hip", "r_hip", "thigh", _CENTRE), ("l_clavicle", "r_clavicle", "upper_arm", _CENTRE),
    ("l_clavicle", "l_shoulder", "upper_arm", _LEFT), ("l_shoulder", "l_elbow", "upper_arm", _LEFT),
    ("l_elbow", "l_wrist", "forearm", _LEFT * 0.8 + 40), ("l_wrist", "l_hand", "hand", _LEFT * 0.6 + 90),
    ("r_clavicle", "r_shoulder", "upper_arm", _RIGHT), ("r_shoulder", "r_elbow", "upper_arm", _RIGHT),
    ("r_elbow", "r_wrist", "forearm", _RIGHT * 0.8 + 40), ("r_wrist", "r_hand", "hand", _RIGHT * 0.6 + 90),
    ("l_hip", "l_knee", "thigh", _LEFT * 0.7), ("l_knee", "l_ankle", "shin", _LEFT * 0.9 + 25),
    ("l_ankle", "l_toe", "foot", _LEFT * 0.5),
    ("r_hip", "r_knee", "thigh", _RIGHT * 0.7), ("r_knee", "r_ankle", "shin", _RIGHT * 0.9 + 25),
    ("r_ankle", "r_toe", "foot", _RIGHT * 0.5),
)  # fmt: skip


def _rot(axis: str, deg: float) -> np.ndarray:
    """3×3 rotation about a body axis by ``deg`` degrees (right-handed)."""
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


@dataclass(frozen=True)
class Pose3D:
    """Joint angles (degrees) of a person in its body frame (x = its left, y = up, z = forward).

    ``arm_*``/``leg_*`` are (left, right) pairs. An arm's direction: ``arm_raise`` from hanging down (0) through
    horizontal (90) to up (180), ``arm_swing`` forwards (+) or backwards around the vertical, ``elbow`` the bend
    (0 = straight), ``elbow_twist`` the bend plane. A leg: ``hip_flex`` forward (+), ``hip_abduct`` outward (+),
    ``knee`` the bend (backwards). ``spine_bend`` forward (+), ``spine_side`` towards the person's left (+).
    """

    spine_bend: float = 0.0
    spine_side: float = 0.0
    spine_twist: float = 0.0
    head_yaw: float = 0.0
    head_pitch: float = 0.0
    arm_raise: tuple[float, float] = (10.0, 10.0)
    arm_swing: tuple[float, float] = (0.0, 0.0)
    elbow: tuple[float, float] = (10.0, 10.0)
    elbow_twist: tuple[float, float] = (0.0, 0.0)
    hip_flex: tuple[float, float] = (0.0, 0.0)
    hip_abduct: tuple[float, float] = (5.0, 5.0)
    knee: tuple[float, float] = (5.0, 5.0)

    def blend(self, other: Pose3D, w: float) -> Pose3D:
        """The pose ``w`` of the way from this one to ``other`` (angles interpolated linearly)."""
        out = {}
        for name in self.__dataclass_fields__:
            a, b = getattr(self, name), getattr(other, name)
            out[name] = tuple(x + w * (y - x) for x, y in zip(a, b)) if isinstance(a, tuple) else a + w * (b - a)
        return Pose3D(**out)


def sample_pose3d(rng: np.random.Generator) -> Pose3D:
    """A random plausible pose: arms anywhere from hanging to raised, legs standing, stepping, kneeling or kicking."""

    def u(lo: float, hi: float) -> float:
        return float(lo + (hi - lo) * rng.random())

    stance = rng.random()
    if stance < 0.5:  # standing
        flex, abduct, knee = (u(-15, 20), u(-15, 20)), (u(0, 15), u(0, 15)), (u(0, 20), u(0, 20))
    elif stance < 0.75:  # a step or a kick
        front = u(20, 80)
        flex, abduct, knee = (front, u(-25, 0)), (u(0, 20), u(0, 10)), (u(0, 70), u(0, 30))
        if rng.random() < 0.5:
            flex, knee = flex[::-1], knee[::-1]
    else:  # squatting or kneeling
        f = u(50, 100)
        flex, abduct, knee = (f + u(-10, 10), f + u(-10, 10)), (u(5, 30), u(5, 30)), (f + u(10, 40), f + u(10, 40))
    return Pose3D(
        spine_bend=u(-10, 35),
        spine_side=u(-15, 15),
        spine_twist=u(-30, 30),
        head_yaw=u(-50, 50),
        head_pitch=u(-25, 25),
        arm_raise=(u(0, 175), u(0, 175)),
        arm_swing=(u(-60, 80), u(-60, 80)),
        elbow=(u(0, 140), u(0, 140)),
        elbow_twist=(u(-90, 90), u(-90, 90)),
        hip_flex=flex,
        hip_abduct=abduct,
        knee=knee,
    )


def forward_kinematics(pose: Pose3D, scale: float = 1.0) -> np.ndarray:
    """Canonical joints (len(JOINTS), 3) in mm in the body frame, the pelvis at the origin."""
    b = {k: v * scale for k, v in BONES.items()}
    out = np.zeros((len(JOINTS), 3))
    up = np.array([0.0, 1.0, 0.0])
    torso = _rot("y", pose.spine_twist * 0.5) @ _rot("z", -pose.spine_side) @ _rot("x", pose.spine_bend * 0.5)
    out[J["spine"]] = torso @ up * b["pelvis_spine"]
    chest = torso @ _rot("y", pose.spine_twist * 0.5) @ _rot("x", pose.spine_bend * 0.5)
    out[J["thorax"]] = out[J["spine"]] + chest @ up * b["spine_thorax"]
    out[J["neck"]] = out[J["thorax"]] + chest @ up * b["thorax_neck"]
    head = chest @ _rot("y", pose.head_yaw) @ _rot("x", pose.head_pitch)
    out[J["head"]] = out[J["neck"]] + head @ up * b["neck_head"]
    out[J["head_top"]] = out[J["head"]] + head @ up * b["head_top"]
    for k, side in enumerate((1.0, -1.0)):  # left (+x), right (−x)
        s = "l_" if side > 0 else "r_"
        clavicle = out[J["thorax"]] + chest @ np.array([side, 0.3, 0.0]) / math.hypot(1.0, 0.3) * b["clavicle"]
        out[J[s + "clavicle"]] = (out[J["thorax"]] + clavicle) / 2
        out[J[s + "shoulder"]] = clavicle
        # The upper arm: hanging (−y), raised sideways (outwards in x) by arm_raise, swung forwards around y.
        arm = chest @ _rot("y", side * -pose.arm_swing[k]) @ _rot("z", side * pose.arm_raise[k])
        upper = arm @ -up
        out[J[s + "elbow"]] = clavicle + upper * b["upper_arm"]
        # The forearm bends forwards (towards +z of the arm frame), the bend plane turned by elbow_twist.
        bend = arm @ _rot("y", side * pose.elbow_twist[k]) @ _rot("x", -pose.elbow[k])
        fore = bend @ -up
        out[J[s + "wrist"]] = out[J[s + "elbow"]] + fore * b["forearm"]
        out[J[s + "hand"]] = out[J[s + "wrist"]] + fore * b["hand"]
        out[J[s + "thumb"]] = out[J[s + "wrist"]] + (fore + bend @ np.array([0.0, 0.0, 0.8])) * 0.45 * b["hand"]
        hip = np.array([side * b["hip"], -0.25 * b["hip"], 0.0])
        out[J[s + "hip"]] = hip
        thigh = _rot("z", side * pose.hip_abduct[k]) @ _rot("x", -pose.hip_flex[k])
        out[J[s + "knee"]] = hip + thigh @ -up * b["thigh"]
        shin = thigh @ _rot("x", pose.knee[k])
        out[J[s + "ankle"]] = out[J[s + "knee"]] + shin @ -up * b["shin"]
        out[J[s + "toe"]] = out[J[s + "ankle"]] + shin @ np.array([0.0, -0.35, 1.0]) / math.hypot(1, 0.35) * b["foot"]
    return out


def place(body: np.ndarray, position: np.ndarray, yaw_deg: float) -> np.ndarray:
    """Body-frame joints (N, 3) → world (Human3.6M axes: z up), the pelvis at ``position`` (x, y, z mm), facing
    ``yaw_deg`` (0: the world's +y)."""
    to_world = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]) * np.array([[-1.0], [1.0], [1.0]])
    # body (x left, y up, z forward) → world (x, y forward, z up); a person facing +y has its left at −x.
    yaw = _rot("z", yaw_deg)
    return (body @ to_world.T) @ yaw.T + np.asarray(position, np.float64)


def standing_height(body: np.ndarray) -> float:
    """How far the pelvis is above the lowest foot point (mm): place the pelvis this high to stand on the floor."""
    return float(-min(body[J["l_ankle"], 1], body[J["r_ankle"], 1], body[J["l_toe"], 1], body[J["r_toe"], 1])) + 30.0


def ring_camera(azimuth_deg: float, image_size: tuple[int, int], radius: float = 4500.0, height: float = 1500.0,
                target: tuple[float, float, float] = (0.0, 0.0, 1000.0), fov_deg: float = 48.0,
                k: tuple[float, float, float] = (-0.2, 0.24, -0.0025),
                p: tuple[float, float] = (-0.0009, -0.0029)) -> Camera:  # fmt: skip
    """A Human3.6M-like camera on a ring around the capture volume (``radius`` mm from its axis, ``height`` mm up),
    looking at ``target``, for images of ``image_size`` (W, H) with a horizontal field of view ``fov_deg``; the
    default distortion is of the order of Human3.6M's camera 1."""
    a = math.radians(azimuth_deg)
    centre = np.array([radius * math.cos(a), radius * math.sin(a), height])
    forward = np.asarray(target, np.float64) - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])  # camera axes (x right, y down, z forward) in world coordinates
    w, h = image_size
    f = (w / 2) / math.tan(math.radians(fov_deg) / 2)
    return Camera(R=R, T=centre, f=np.array([f, f]), c=np.array([(w - 1) / 2, (h - 1) / 2]), k=np.array(k),
                  p=np.array(p))  # fmt: skip


@dataclass(frozen=True)
class Look:
    """How a person is drawn: a colour tint and a width factor."""

    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    width: float = 1.0

    @staticmethod
    def sample(rng: np.random.Generator) -> Look:
        return Look(tuple(float(v) for v in 0.8 + 0.4 * rng.random(3)), float(0.85 + 0.3 * rng.random()))


def draw_person3d(image: np.ndarray, world: np.ndarray, camera: Camera, look: Look = Look()) -> np.ndarray:
    """Draw canonical world joints (len(JOINTS), 3) seen by ``camera`` into ``image`` (H, W, 3) uint8 RGB, in place.

    Returns the joints' uvd (len(JOINTS), 3): pixels and camera depth (mm). Parts behind the camera are not drawn.
    """
    uvd = camera.project(world)
    f = float(np.mean(camera.f))
    root_depth = uvd[J["pelvis"], 2]
    shift = 8  # cv2 fixed point: 1/256 px
    parts = []
    for a, b, width_key, colour in SEGMENTS:
        za, zb = uvd[J[a], 2], uvd[J[b], 2]
        if min(za, zb) <= 50.0:
            continue
        parts.append(((za + zb) / 2, uvd[J[a], :2], uvd[J[b], :2], WIDTHS[width_key] * look.width, colour))
    head = uvd[J["head"]]
    if head[2] > 50.0:
        parts.append((head[2], head[:2], head[:2], WIDTHS["head"] * look.width, np.array((235, 195, 160))))
    for depth, pa, pb, width, colour in sorted(parts, key=lambda q: -q[0]):  # far to near
        near = float(np.clip((root_depth - depth) / 600.0, -1.0, 1.0))  # nearer than the pelvis: brighter
        rgb = np.clip(np.asarray(colour, np.float64) * np.asarray(look.tint) * (1.0 + 0.35 * near) + 25 * near, 0, 255)
        thickness = max(1, int(round(f * width / depth)))
        p0 = tuple(int(round(v * (1 << shift))) for v in pa)
        p1 = tuple(int(round(v * (1 << shift))) for v in pb)
        if any(abs(v) > 2**30 for v in (*p0, *p1)):
            continue
        if pa is pb:
            cv2.circle(image, p0, int(round(thickness / 2 * (1 << shift))), rgb.tolist(), -1, cv2.LINE_AA, shift)
        else:
            cv2.line(image, p0, p1, rgb.tolist(), thickness, cv2.LINE_AA, shift)
    return uvd
