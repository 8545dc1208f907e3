"""Class-specific motions of the 3D stick person (:mod:`har.synthetic.person3d`) for the synthetic action datasets
(Penn Action, NTU RGB+D): each action swings between two key poses with a per-video period, phase, amplitude and
tempo, optionally lifting the body, and is rendered through a camera facing the person.

A video is a function of its class and a seed: :func:`perform` gives the canonical world joints per frame,
:func:`render_video` draws them (frames, and the joints' uvd: pixels and camera depth in mm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from har.synthetic.person3d import Look, Pose3D, draw_person3d, forward_kinematics, place, ring_camera, standing_height


@dataclass(frozen=True)
class Motion:
    """An action: the pose moves between ``a`` and ``b`` (blend weight ``(1 − cos φ) / 2``) with a period drawn from
    ``period`` (frames); the pelvis rises by ``lift`` mm at ``b`` (a jump, a pull-up)."""

    a: Pose3D
    b: Pose3D
    period: tuple[float, float] = (14.0, 24.0)
    lift: float = 0.0


_ARMS_FORWARD = dict(arm_raise=(90.0, 90.0), arm_swing=(85.0, 85.0), elbow=(5.0, 5.0))
MOTIONS: dict[str, Motion] = {
    # Penn Action classes
    "jumping_jacks": Motion(Pose3D(arm_raise=(15, 15), hip_abduct=(3, 3)),
                            Pose3D(arm_raise=(165, 165), elbow=(5, 5), hip_abduct=(22, 22)), (10, 16), 60.0),
    "squat": Motion(Pose3D(**_ARMS_FORWARD),
                    Pose3D(**_ARMS_FORWARD, spine_bend=30, hip_flex=(95, 95), knee=(115, 115), hip_abduct=(15, 15))),
    "pullup": Motion(Pose3D(arm_raise=(172, 172), elbow=(0, 0), knee=(35, 35), hip_flex=(10, 10)),
                     Pose3D(arm_raise=(165, 165), elbow=(130, 130), knee=(35, 35), hip_flex=(10, 10)), (16, 26),
                     320.0),
    "tennis_forehand": Motion(Pose3D(spine_twist=-35, arm_raise=(30, 80), arm_swing=(0, -70), elbow=(30, 15)),
                              Pose3D(spine_twist=35, arm_raise=(40, 95), arm_swing=(30, 80), elbow=(30, 25))),
    "golf_swing": Motion(Pose3D(spine_bend=35, spine_twist=-50, arm_raise=(60, 120), arm_swing=(70, 60),
                                elbow=(10, 10), knee=(15, 15)),
                         Pose3D(spine_bend=35, spine_twist=50, arm_raise=(120, 60), arm_swing=(60, 70),
                                elbow=(10, 10), knee=(15, 15))),
    "strum_guitar": Motion(Pose3D(arm_raise=(55, 35), arm_swing=(60, 45), elbow=(40, 70), elbow_twist=(0, 40)),
                           Pose3D(arm_raise=(55, 35), arm_swing=(60, 45), elbow=(40, 110), elbow_twist=(0, 40)),
                           (6, 10)),
    "baseball_pitch": Motion(Pose3D(spine_bend=-5, arm_raise=(40, 150), arm_swing=(20, -60), elbow=(20, 80),
                                    hip_flex=(70, 0), knee=(60, 5)),
                             Pose3D(spine_bend=35, arm_raise=(30, 120), arm_swing=(-20, 80), elbow=(20, 10),
                                    hip_flex=(-10, 30), knee=(10, 20))),
    # NTU RGB+D classes
    "hand waving": Motion(Pose3D(arm_raise=(10, 150), arm_swing=(0, 20), elbow=(10, 30)),
                          Pose3D(arm_raise=(10, 120), arm_swing=(0, 20), elbow=(10, 70)), (8, 12)),
    "clapping": Motion(Pose3D(arm_raise=(60, 60), arm_swing=(40, 40), elbow=(60, 60)),
                       Pose3D(arm_raise=(75, 75), arm_swing=(85, 85), elbow=(50, 50)), (6, 10)),
    "kicking something": Motion(Pose3D(arm_raise=(25, 25), hip_flex=(0, -15), knee=(5, 40)),
                                Pose3D(arm_raise=(35, 35), spine_bend=-10, hip_flex=(0, 80), knee=(5, 5)), (12, 20)),
    "jump up": Motion(Pose3D(arm_raise=(20, 20), spine_bend=25, hip_flex=(50, 50), knee=(80, 80)),
                      Pose3D(arm_raise=(150, 150), elbow=(10, 10)), (14, 22), 250.0),
    "salute": Motion(Pose3D(arm_raise=(10, 10)),
                     Pose3D(arm_raise=(10, 95), arm_swing=(0, 30), elbow=(10, 140), elbow_twist=(0, -60)), (20, 30)),
    "cross hands in front (say stop)": Motion(Pose3D(arm_raise=(10, 10)),
                                              Pose3D(arm_raise=(85, 85), arm_swing=(110, 110), elbow=(35, 35)),
                                              (18, 28)),
}  # fmt: skip


@dataclass(frozen=True)
class Performance:
    """How one person performs a motion in one video (drawn by :func:`draw_performance`)."""

    scale: float
    period: float
    phase: float
    amplitude: float
    yaw: float
    position: tuple[float, float]
    drift: tuple[float, float]
    look: Look


def draw_performance(motion: Motion, rng: np.random.Generator) -> Performance:
    """A random performer: size, tempo, phase, amplitude (0.8-1), facing within ±35° of the camera, a slow drift."""
    return Performance(
        scale=float(rng.uniform(0.9, 1.1)),
        period=float(rng.uniform(*motion.period)),
        phase=float(rng.uniform(0, 2 * math.pi)),
        amplitude=float(rng.uniform(0.8, 1.0)),
        yaw=float(rng.uniform(-35, 35)),
        position=(float(rng.uniform(-250, 250)), float(rng.uniform(-250, 250))),
        drift=(float(rng.uniform(-4, 4)), float(rng.uniform(-4, 4))),
        look=Look.sample(rng),
    )


def perform(motion: Motion, how: Performance, num_frames: int) -> np.ndarray:
    """(num_frames, len(JOINTS), 3) canonical world joints (mm, Human3.6M axes, the feet near the floor)."""
    rest = standing_height(forward_kinematics(Pose3D(), how.scale))
    out = []
    for t in range(num_frames):
        w = how.amplitude * (1 - math.cos(2 * math.pi * t / how.period + how.phase)) / 2
        body = forward_kinematics(motion.a.blend(motion.b, w), how.scale)
        height = max(standing_height(body), rest if motion.lift else 0.0) + w * motion.lift * how.scale
        x, y = how.position[0] + how.drift[0] * t, how.position[1] + how.drift[1] * t
        out.append(place(body, np.array([x, y, height]), how.yaw))
    return np.stack(out)


def camera_for(image_size: tuple[int, int], rng: np.random.Generator):
    """A distortion-free camera in front of the person (on the world's +y side, where a yaw-0 person faces), far
    enough that the frame's height covers 2.3-2.8 m around 1 m above the floor (a standing person with raised arms)."""
    w, h = image_size
    fov = 48.0 if w >= h else 36.0
    half_v = math.atan(math.tan(math.radians(fov) / 2) * h / w)
    radius = float(rng.uniform(1150, 1400)) / math.tan(half_v)
    return ring_camera(90.0 + float(rng.uniform(-10, 10)), image_size, radius=radius,
                       height=float(rng.uniform(900, 1300)), target=(0.0, 0.0, 1000.0), fov_deg=fov, k=(0.0, 0.0, 0.0),
                       p=(0.0, 0.0))  # fmt: skip


def background(image_size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8: a vertical gradient between two random dull colours (a wall and a floor)."""
    w, h = image_size
    top, bottom = rng.uniform(40, 150, 3), rng.uniform(40, 150, 3)
    ramp = np.linspace(0.0, 1.0, h)[:, None, None]
    return np.broadcast_to(top * (1 - ramp) + bottom * ramp, (h, w, 3)).astype(np.uint8).copy()


def render_video(motion: Motion, num_frames: int, image_size: tuple[int, int],
                 rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:  # fmt: skip
    """Frames (each (H, W, 3) uint8 RGB) of a random performance of ``motion``, and the canonical joints' uvd
    (num_frames, len(JOINTS), 3): pixels (the frames' pixel-centre frame) and camera depth in mm."""
    how = draw_performance(motion, rng)
    camera = camera_for(image_size, rng)
    world = perform(motion, how, num_frames)
    back = background(image_size, rng)
    frames, uvd = [], []
    for joints in world:
        image = back.copy()
        uvd.append(draw_person3d(image, joints, camera, how.look))
        frames.append(image)
    return frames, np.stack(uvd)
