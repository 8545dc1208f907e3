"""Synthetic person-keypoints data written exactly in the COCO 2017 layout.

The project's test and demo data: articulated stick-and-capsule people (torso, head with face marks,
two-segment arms and legs) posed by a small 2D kinematic model, on cluttered backgrounds, with occluders,
truncation and unlabelled joints, written as::

    ROOT/annotations/person_keypoints_{train,val}2017.json
    ROOT/{train,val}2017/<12-digit image id>.jpg
    ROOT/synthetic_meta.json            # parameters and format version (ignored by COCO readers)

Conventions:
    * keypoints in pixels, pixel centres at integer coordinates (cv2's drawing convention). v = 0: not
      labelled (x = y = 0; also joints outside the image), 1: labelled but hidden, 2: visible. A joint is
      visible when the top-most rendered thing at its pixel is one of that joint's own parts, so occluders,
      other people and the person's own limbs hide it.
    * ``bbox`` and ``area`` describe the whole drawn person (its amodal mask, clipped to the image): bbox in
      pycocotools' mask-to-box convention ``[x0, y0, x1 - x0 + 1, y1 - y0 + 1]``, area the mask's pixel count,
      ``segmentation`` the mask's outer contours as polygons.
    * the person's left limbs have warm colours and the right ones cool colours (as ``har.layouts`` draws
      them), whichever way the person faces.
    * image ids: ``split_code * 10**7 + index + 1`` (train 1, val 2), so they are unique across splits and a
      split's ids do not depend on the other split's size; annotation ids ``split_code * 10**8 + k + 1``.

Every image is drawn from its own generator ``np.random.default_rng([seed, split_code, index])``: a dataset is
byte-identical for the same parameters, and an image does not depend on how many others were asked for.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from har.data.synthetic_meta import check_meta, ensure_generated, is_empty_dir, read_meta
from har.layouts import JointLayout, get_layout

log = logging.getLogger(__name__)

FORMAT = "har.synthetic_coco"
FORMAT_VERSION = 2  # 2: crowd regions and tiny people, as the real COCO file has
META_FILE = "synthetic_meta.json"
SPLITS = {"train": 1, "val": 2}  # split name -> split code (seeds the RNG, prefixes the ids)
ID_BLOCK = 10_000_000  # image id = code * ID_BLOCK + index + 1; annotation id = code * 10 * ID_BLOCK + k + 1
JPEG_QUALITY = 90
LAYOUT = "coco17"

OCCLUDER = 65535  # value of occluder pixels in the top-layer map (people are owner * 64 + part id)
_OUTLINE = (20, 20, 20)  # BGR of the dark outline some people get
_SHIFT = 4  # cv2 fixed-point bits: shapes are drawn with 1/16-pixel precision
_ONE = 1 << _SHIFT

# Part colours (RGB). Left = warm, right = cool (as har.layouts colours them); the two segments of a limb
# differ, so elbows and knees show as colour changes.
PART_COLORS: dict[str, tuple[int, int, int]] = {
    "torso": (0, 200, 80),
    "neck": (0, 150, 60),
    "skin": (235, 195, 160),
    "hair": (90, 60, 40),
    "nose": (170, 20, 40),
    "l_upper_arm": (255, 128, 0),
    "l_forearm": (255, 215, 0),
    "l_hand": (255, 235, 120),
    "l_thigh": (200, 30, 30),
    "l_shin": (255, 100, 130),
    "l_foot": (170, 60, 0),
    "l_eye": (200, 80, 0),
    "l_ear": (240, 130, 40),
    "r_upper_arm": (0, 150, 255),
    "r_forearm": (0, 235, 235),
    "r_hand": (120, 235, 255),
    "r_thigh": (40, 50, 200),
    "r_shin": (130, 120, 255),
    "r_foot": (0, 60, 170),
    "r_eye": (0, 70, 200),
    "r_ear": (60, 130, 240),
}

# Body proportions in units of the person's nominal standing height H.
_TORSO, _SHOULDER_HALF, _HIP_HALF, _NECK = 0.30, 0.105, 0.075, 0.1
_UPPER_ARM, _FOREARM, _THIGH, _SHIN, _FOOT = 0.17, 0.15, 0.24, 0.23, 0.055
_HEAD_RX, _HEAD_RY = 0.055, 0.07
_WIDTH = {"neck": 0.045, "upper_arm": 0.045, "forearm": 0.038, "hand": 0.026, "thigh": 0.06,
          "shin": 0.05, "foot": 0.03, "eye": 0.011, "nose": 0.012}  # fmt: skip


# --- Kinematics ---------------------------------------------------------------------------------------------


def direction(deg: float) -> complex:
    """Unit vector (x + iy) at ``deg`` degrees from straight down (+y), turning towards +x (image right).

    The kinematics use complex numbers for 2D points: a few times faster than tiny numpy arrays.
    """
    a = math.radians(deg)
    return complex(math.sin(a), math.cos(a))


# Scalar draws through rng.random(): several times cheaper than rng.uniform / rng.choice for one value, and
# the generator is called a few hundred times per image.
def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * rng.random()


def randint(rng: np.random.Generator, lo: int, hi: int) -> int:
    """An int in [lo, hi)."""
    return lo + int((hi - lo) * rng.random())


def _sign(rng: np.random.Generator, p_plus: float = 0.5) -> float:
    return 1.0 if rng.random() < p_plus else -1.0


def _pick(rng: np.random.Generator, options: tuple, probs: tuple[float, ...]):
    """One of ``options`` with the given probabilities (summing to 1)."""
    r = rng.random()
    for option, p in zip(options, probs):
        r -= p
        if r < 0:
            return option
    return options[-1]


@dataclass
class Pose:
    """Angles (degrees) and shape factors of one person, before placement in the image.

    ``facing`` is +1 when the person faces the camera (their left on the image right), -1 when seen from
    behind. Arm/leg angles are abductions from the torso axis (positive = away from the body), bends are
    signed rotations of the lower segment (positive = outwards).
    """

    facing: int
    width_scale: float
    lean: float
    head_tilt: float
    head_yaw: float
    head_scale: float
    arm_abduction: tuple[float, float]  # (left, right)
    arm_bend: tuple[float, float]
    leg_abduction: tuple[float, float]
    leg_bend: tuple[float, float]
    foot_side: tuple[float, float]  # +1 / -1: which way each foot points (outwards / inwards)
    lengths: dict[str, float]  # per-segment foreshortening factors


_ARM_MODES = ("down", "raised", "side", "cross", "free")
_ARM_PROBS = (0.3, 0.2, 0.2, 0.12, 0.18)
_LEG_MODES = ("stand", "walk", "squat", "wide", "kick")
_LEG_PROBS = (0.3, 0.25, 0.17, 0.15, 0.13)


def _sample_arm(rng: np.random.Generator, mode: str) -> tuple[float, float]:
    """(abduction, signed elbow bend) of one arm for a pose ``mode``."""
    sign = _sign(rng)
    if mode == "down":
        return uniform(rng, -5, 35), sign * uniform(rng, 0, 60)
    if mode == "raised":
        return uniform(rng, 110, 180), sign * uniform(rng, 0, 90)
    if mode == "side":
        return uniform(rng, 60, 115), sign * uniform(rng, 0, 120)
    if mode == "cross":  # hand across the chest: upper arm near the body, forearm folded inwards
        return uniform(rng, -35, 15), -uniform(rng, 60, 140)
    return uniform(rng, -40, 180), sign * uniform(rng, 0, 150)


def _sample_leg(rng: np.random.Generator, mode: str) -> tuple[float, float]:
    """(abduction, signed knee bend) of one leg for a stance ``mode``."""
    if mode == "squat":  # knees out, shins turned back towards vertical
        hip = uniform(rng, 40, 95)
        return hip, -(hip + uniform(rng, -15, 25))
    if mode == "walk":
        return uniform(rng, -20, 25), uniform(rng, -60, 60)
    if mode == "wide":
        return uniform(rng, 15, 40), uniform(rng, -30, 10)
    if mode == "kick":  # the leg raised to the side or kicked
        return uniform(rng, 30, 100), uniform(rng, -110, 30)
    return uniform(rng, -3, 12), uniform(rng, -15, 15)


def sample_pose(rng: np.random.Generator) -> Pose:
    """Random plausible pose: arms down/raised/sideways/crossing, legs standing/walking/squatting/kicking."""
    left_mode = _pick(rng, _ARM_MODES, _ARM_PROBS)
    right_mode = left_mode if rng.random() < 0.4 else _pick(rng, _ARM_MODES, _ARM_PROBS)
    (la, lb), (ra, rb) = _sample_arm(rng, left_mode), _sample_arm(rng, right_mode)
    stance = _pick(rng, _LEG_MODES, _LEG_PROBS)
    kicking = rng.random() < 0.5  # which leg kicks, in the "kick" stance; the other one stands
    left_leg = _sample_leg(rng, "stand" if stance == "kick" and not kicking else stance)
    right_leg = _sample_leg(rng, "stand" if stance == "kick" and kicking else stance)
    lengths = {k: uniform(rng, 0.8, 1.03) for k in ("upper_arm", "forearm", "shin")}
    # Squatting thighs point at the camera, so they look shorter.
    lengths["thigh"] = uniform(rng, 0.6, 0.9) if stance == "squat" else uniform(rng, 0.85, 1.03)
    lengths["torso"] = uniform(rng, 0.88, 1.05)
    return Pose(
        facing=-1 if rng.random() < 0.2 else 1,
        width_scale=uniform(rng, 0.75, 1.05),
        lean=min(20.0, max(-20.0, 8.0 * rng.standard_normal())),
        head_tilt=min(30.0, max(-30.0, 10.0 * rng.standard_normal())),
        head_yaw=uniform(rng, -45, 45),
        head_scale=uniform(rng, 0.9, 1.12),
        arm_abduction=(la, ra),
        arm_bend=(lb, rb),
        leg_abduction=(left_leg[0], right_leg[0]),
        leg_bend=(left_leg[1], right_leg[1]),
        foot_side=(_sign(rng, 0.7), _sign(rng, 0.7)),
        lengths=lengths,
    )


# Face marks: (joint, azimuth on the head (degrees, 0 = nose, + = the person's left), height and inset on
# the head ellipse, as fractions of its radii).
_FACE_MARKS = (("nose", 0, -0.15, 0.85), ("l_eye", 32, 0.2, 0.85), ("r_eye", -32, 0.2, 0.85),
               ("l_ear", 90, 0.05, 1.0), ("r_ear", -90, 0.05, 1.0))  # fmt: skip


@dataclass
class Body:
    """A posed person in body units (H = 1), pelvis at the origin, y down.

    ``joints`` (17, 2) in the layout's order; ``face_depth`` (17,) the facing of each face mark towards the
    camera (cos of its azimuth; 1 for body joints); ``extra`` named points (neck, head centre, foot tips);
    ``head_angle`` the head's tilt (degrees, image convention of cv2.ellipse), ``head_axes`` its radii.
    """

    joints: np.ndarray
    face_depth: np.ndarray
    extra: dict[str, np.ndarray]
    head_angle: float
    head_axes: tuple[float, float]
    facing: int


def forward_kinematics(pose: Pose, layout: JointLayout) -> Body:
    """Joint positions of ``pose`` (body units), built from the pelvis outwards."""
    j: dict[str, complex] = {}
    up = -direction(pose.lean)  # torso axis, pelvis -> neck
    right = 1j * up  # image-right direction of the upright body frame
    neck = _TORSO * pose.lengths["torso"] * up  # the pelvis is the origin
    extra = {"neck": neck}
    for side, s in (("l", 0), ("r", 1)):
        # The person's left is on the image right when they face the camera, on the image left from behind.
        out = (1.0 if side == "l" else -1.0) * pose.facing
        j[f"{side}_sho"] = neck + out * _SHOULDER_HALF * pose.width_scale * right
        j[f"{side}_hip"] = out * _HIP_HALF * pose.width_scale * right
        upper = pose.lean + out * pose.arm_abduction[s]
        fore = upper + out * pose.arm_bend[s]
        j[f"{side}_elb"] = j[f"{side}_sho"] + _UPPER_ARM * pose.lengths["upper_arm"] * direction(upper)
        j[f"{side}_wri"] = j[f"{side}_elb"] + _FOREARM * pose.lengths["forearm"] * direction(fore)
        thigh = pose.lean + out * pose.leg_abduction[s]
        shin = thigh + out * pose.leg_bend[s]
        j[f"{side}_knee"] = j[f"{side}_hip"] + _THIGH * pose.lengths["thigh"] * direction(thigh)
        j[f"{side}_ank"] = j[f"{side}_knee"] + _SHIN * pose.lengths["shin"] * direction(shin)
        extra[f"{side}_toe"] = j[f"{side}_ank"] + _FOOT * direction(shin + 90.0 * out * pose.foot_side[s])

    # Head: an ellipse above the neck. Face marks sit on it at an azimuth (degrees, 0 = nose) turned by the
    # head's yaw: a turned head shows one ear and hides the other, a head seen from behind hides the face.
    head_axis = pose.lean + pose.head_tilt
    head_up = -direction(head_axis)
    rx, ry = _HEAD_RX * pose.head_scale, _HEAD_RY * pose.head_scale
    centre = neck + (_NECK + 0.4 * ry) * head_up
    extra["head_centre"] = centre
    yaw = pose.head_yaw + (0.0 if pose.facing > 0 else 180.0)
    depth = {}
    for name, azimuth, height, inset in _FACE_MARKS:
        a = math.radians(azimuth + yaw)
        j[name] = centre + inset * rx * math.sin(a) * 1j * head_up + height * ry * head_up
        depth[name] = math.cos(a)
    joints = np.array([[j[n].real, j[n].imag] for n in layout.joints])
    face_depth = np.array([depth.get(n, 1.0) for n in layout.joints])
    extra_xy = {k: np.array([v.real, v.imag]) for k, v in extra.items()}
    # cv2.ellipse's angle turns the first (x) axis towards +y, the opposite sense of direction's angles.
    return Body(joints, face_depth, extra_xy, -head_axis, (rx, ry), pose.facing)


# --- Placement ----------------------------------------------------------------------------------------------


@dataclass
class Placement:
    """Similarity transform body units -> image pixels: ``p_img = scale * R(angle) @ p + offset``."""

    scale: float
    angle: float  # degrees, in the direction convention (positive turns "down" towards image right)
    offset: np.ndarray

    def apply(self, pts: np.ndarray) -> np.ndarray:
        a = math.radians(self.angle)
        c, s = math.cos(a), math.sin(a)
        rot = np.array([[c, s], [-s, c]])  # rotates direction(d) to direction(d + angle)
        return pts @ rot.T * self.scale + self.offset


def _body_extent(body: Body) -> np.ndarray:
    """Points bounding the figure (joints, foot tips, head top), body units."""
    head_top = body.extra["head_centre"] + (body.extra["head_centre"] - body.extra["neck"]) * 0.8
    return np.vstack([body.joints, body.extra["l_toe"], body.extra["r_toe"], head_top])


def _sample_placement(
    rng: np.random.Generator, extent: np.ndarray, width: int, height: int, size_range: tuple[float, float]
) -> tuple[Placement, list[float]]:
    """Scale (person height as a fraction of the image height), in-plane rotation and position for a figure
    bounded by the points ``extent`` (body units); also returns its box (x0, y0, x1, y1) in the image."""
    scale = uniform(rng, *size_range) * height
    angle = uniform(rng, -40, 40) if rng.random() < 0.9 else uniform(rng, -180, 180)
    pts = Placement(scale, angle, np.zeros(2)).apply(extent)
    lo, hi = pts.min(0), pts.max(0)
    size = np.array([width - 1, height - 1], dtype=float)
    # Keep the figure inside the image where it fits; otherwise (and sometimes on purpose) let it be cut off.
    slack = (hi - lo) * (0.3 if rng.random() < 0.15 else 0.0)
    low = -lo - slack
    high = size - hi + slack
    offset = np.where(low <= high, low + (high - low) * rng.random(2), (low + high) / 2)
    return Placement(scale, angle, offset), np.concatenate([lo + offset, hi + offset]).tolist()


# --- Rendering ----------------------------------------------------------------------------------------------


@dataclass
class Style:
    """Per-person appearance: colour jitter, brightness, line thickness, outline."""

    colors: dict[str, tuple[int, int, int]]  # BGR
    thickness: float
    outline: bool


def _sample_style(rng: np.random.Generator) -> Style:
    """The part colours with a random brightness and per-channel jitter, a skin tone, thickness, outline."""
    base = np.array([rgb[::-1] for rgb in PART_COLORS.values()], dtype=float)  # BGR
    colors = np.clip(base * uniform(rng, 0.8, 1.12) + 28.0 * (rng.random(base.shape) - 0.5), 0, 255)
    style = {name: tuple(int(v) for v in c) for name, c in zip(PART_COLORS, colors.tolist())}
    skin_tone = uniform(rng, 0.75, 1.05)
    style["skin"] = tuple(int(min(255, v * skin_tone)) for v in style["skin"])
    return Style(style, uniform(rng, 0.85, 1.2), rng.random() < 0.5)


_Point = tuple[float, float]


def _fx(pt: _Point) -> tuple[int, int]:
    """A point (Python floats: rounding numpy scalars is several times slower) in cv2 fixed point."""
    return round(pt[0] * _ONE), round(pt[1] * _ONE)


class _PersonCanvas:
    """Draws one person's parts on the colour image and on a part-id map (for the mask and visibility)."""

    def __init__(self, image: np.ndarray, style: Style, scale: float):
        self.image = image
        self.parts = np.zeros(image.shape[:2], np.uint8)
        self.style = style
        self.scale = scale
        self.part_ids: dict[str, int] = {}

    def _id(self, part: str) -> int:
        return self.part_ids.setdefault(part, len(self.part_ids) + 1)

    def _px(self, width_key: str, minimum: int = 2) -> int:
        return max(minimum, int(round(_WIDTH[width_key] * self.scale * self.style.thickness)))

    def capsule(self, part: str, a: _Point, b: _Point, width_key: str, color: str | None = None) -> None:
        """A thick line with round caps; ``color`` defaults to the part's own colour."""
        t = self._px(width_key)
        pa, pb = _fx(a), _fx(b)
        if self.style.outline:
            cv2.line(self.image, pa, pb, _OUTLINE, t + 2, cv2.LINE_AA, _SHIFT)
        cv2.line(self.image, pa, pb, self.style.colors[color or part], t, cv2.LINE_AA, _SHIFT)
        cv2.line(self.parts, pa, pb, self._id(part), t, cv2.LINE_8, _SHIFT)

    def disc(self, part: str, c: _Point, width_key: str, minimum: int = 1) -> None:
        r = self._px(width_key, minimum)
        cv2.circle(self.image, _fx(c), r * _ONE, self.style.colors[part], -1, cv2.LINE_AA, _SHIFT)
        cv2.circle(self.parts, _fx(c), r * _ONE, self._id(part), -1, cv2.LINE_8, _SHIFT)

    def ellipse(self, part: str, c: _Point, axes: tuple[float, float], angle: float, color: str) -> None:
        ax = (max(_ONE, int(round(axes[0] * _ONE))), max(_ONE, int(round(axes[1] * _ONE))))
        if self.style.outline:
            outline = (ax[0] + _ONE, ax[1] + _ONE)
            cv2.ellipse(self.image, _fx(c), outline, angle, 0, 360, _OUTLINE, -1, cv2.LINE_AA, _SHIFT)
        cv2.ellipse(self.image, _fx(c), ax, angle, 0, 360, self.style.colors[color], -1, cv2.LINE_AA, _SHIFT)
        cv2.ellipse(self.parts, _fx(c), ax, angle, 0, 360, self._id(part), -1, cv2.LINE_8, _SHIFT)

    def polygon(self, part: str, pts: np.ndarray, color: str) -> None:
        fx = np.round(pts * _ONE).astype(np.int32)
        if self.style.outline:
            cv2.polylines(self.image, [fx], True, _OUTLINE, 2, cv2.LINE_AA, _SHIFT)
        cv2.fillConvexPoly(self.image, fx, self.style.colors[color], cv2.LINE_AA, _SHIFT)
        cv2.fillConvexPoly(self.parts, fx, self._id(part), cv2.LINE_8, _SHIFT)


# Which drawn parts make a joint visible when they are the top-most thing at the joint's pixel.
_JOINT_PARTS = {
    "nose": ("nose",), "l_eye": ("l_eye",), "r_eye": ("r_eye",), "l_ear": ("l_ear",), "r_ear": ("r_ear",),
    "l_sho": ("torso", "l_upper_arm"), "r_sho": ("torso", "r_upper_arm"),
    "l_elb": ("l_upper_arm", "l_forearm"), "r_elb": ("r_upper_arm", "r_forearm"),
    "l_wri": ("l_forearm", "l_hand"), "r_wri": ("r_forearm", "r_hand"),
    "l_hip": ("torso", "l_thigh"), "r_hip": ("torso", "r_thigh"),
    "l_knee": ("l_thigh", "l_shin"), "r_knee": ("r_thigh", "r_shin"),
    "l_ank": ("l_shin", "l_foot"), "r_ank": ("r_shin", "r_foot"),
}  # fmt: skip


def _draw_limb(cv: _PersonCanvas, side: str, pts: dict[str, _Point], kind: str) -> None:
    """One arm (shoulder-elbow-wrist + hand) or leg (hip-knee-ankle + foot)."""
    if kind == "arm":
        cv.capsule(f"{side}_upper_arm", pts[f"{side}_sho"], pts[f"{side}_elb"], "upper_arm")
        cv.capsule(f"{side}_forearm", pts[f"{side}_elb"], pts[f"{side}_wri"], "forearm")
        cv.disc(f"{side}_hand", pts[f"{side}_wri"], "hand", minimum=2)
    else:
        cv.capsule(f"{side}_thigh", pts[f"{side}_hip"], pts[f"{side}_knee"], "thigh")
        cv.capsule(f"{side}_shin", pts[f"{side}_knee"], pts[f"{side}_ank"], "shin")
        cv.capsule(f"{side}_foot", pts[f"{side}_ank"], pts[f"{side}_toe"], "foot")


def _draw_head(cv: _PersonCanvas, pts: dict[str, _Point], body: Body, place: Placement, layout: JointLayout) -> None:
    """Neck, ears (behind or in front of the head), head ellipse, then the face marks that face the camera."""
    axes = (body.head_axes[0] * place.scale, body.head_axes[1] * place.scale)
    angle = body.head_angle - place.angle
    ear_axes = (0.35 * axes[0], 0.38 * axes[1])
    depth = dict(zip(layout.joints, body.face_depth))
    cv.capsule("neck", pts["neck"], pts["head_centre"], "neck")
    ears = [e for e in ("l_ear", "r_ear") if depth[e] > -0.35]
    for ear in ears:
        if depth[ear] < 0:  # the far ear peeks out from behind the head
            cv.ellipse(ear, pts[ear], ear_axes, angle, ear)
    cv.ellipse("head", pts["head_centre"], axes, angle, "skin" if body.facing > 0 else "hair")
    for ear in ears:
        if depth[ear] >= 0:
            cv.ellipse(ear, pts[ear], ear_axes, angle, ear)
    for mark in ("l_eye", "r_eye"):
        if depth[mark] > 0.15:
            cv.disc(mark, pts[mark], "eye")
    if depth["nose"] > 0.15:
        cv.disc("nose", pts["nose"], "nose")


def _torso_polygon(pts: dict[str, _Point], scale: float) -> np.ndarray:
    """Quadrilateral from the shoulders to the hips, widened a little past the joints."""
    quad = np.array([pts["l_sho"], pts["r_sho"], pts["r_hip"], pts["l_hip"]])
    centre = quad.mean(0)
    grow = 1.0 + 0.025 * scale / max(1.0, np.linalg.norm(quad - centre, axis=1).mean())
    return centre + (quad - centre) * grow


def draw_person(
    rng: np.random.Generator, image: np.ndarray, body: Body, place: Placement, layout: JointLayout
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Render one person onto ``image``. Returns (joints (17, 2) px, part-id map (H, W) uint8, part ids)."""
    joints = place.apply(body.joints)
    extra = place.apply(np.stack(list(body.extra.values())))
    pts = dict(zip((*layout.joints, *body.extra), (*joints.tolist(), *extra.tolist())))
    cv = _PersonCanvas(image, _sample_style(rng), place.scale)
    # Far side first so the near side overlaps it; legs, then torso, then arms in front of it, then the head.
    sides = ("l", "r") if rng.random() < 0.5 else ("r", "l")
    for side in sides:
        _draw_limb(cv, side, pts, "leg")
    cv.polygon("torso", _torso_polygon(pts, place.scale), "torso")
    for side in sides:
        _draw_limb(cv, side, pts, "arm")
    _draw_head(cv, pts, body, place, layout)
    return joints, cv.parts, cv.part_ids


def draw_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Smooth colour blobs (a coarse random grid, upsampled) plus a tiled fine noise texture."""
    base = 40 + 180 * rng.random((randint(rng, 3, 12), randint(rng, 3, 12), 3))
    grey = base.mean(axis=2, keepdims=True)
    base = grey + (base - grey) * uniform(rng, 0.15, 0.6)  # muted colours, so the people stand out
    amp = randint(rng, 4, 25)
    base = np.clip(base - amp / 2, 0, 255)  # the noise below is non-negative: centre it
    img = cv2.resize(base.astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    tile = rng.integers(0, amp + 1, size=(32, 32, 3), dtype=np.uint8)
    noise = np.tile(tile, (height // 32 + 1, width // 32 + 1, 1))[:height, :width]
    return cv2.add(img, noise)


def _muted_color(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = (255 * rng.random(3)).tolist()
    m = (r + g + b) / 3
    return int(0.5 * (r + m)), int(0.5 * (g + m)), int(0.5 * (b + m))


def draw_distractors(rng: np.random.Generator, image: np.ndarray) -> None:
    """Lines, polylines, circles, rectangles and ellipses in muted colours (clutter that is not a limb)."""
    h, w = image.shape[:2]
    for _ in range(randint(rng, 3, 13)):
        kind = randint(rng, 0, 5)
        color = _muted_color(rng)
        p0, p1 = (randint(rng, 0, w), randint(rng, 0, h)), (randint(rng, 0, w), randint(rng, 0, h))
        if kind == 0:
            cv2.line(image, p0, p1, color, randint(rng, 1, 6), cv2.LINE_AA)
        elif kind == 1:
            poly = (rng.random((randint(rng, 3, 7), 2)) * (w, h)).astype(np.int32)
            cv2.polylines(image, [poly], rng.random() < 0.5, color, randint(rng, 1, 4), cv2.LINE_AA)
        elif kind == 2:
            radius = randint(rng, 4, max(5, min(h, w) // 6))
            thickness = _pick(rng, (-1, 1, 2, 3), (0.4, 0.2, 0.2, 0.2))
            cv2.circle(image, p0, radius, color, thickness, cv2.LINE_AA)
        elif kind == 3:
            cv2.rectangle(image, p0, p1, color, _pick(rng, (-1, 1, 2), (0.4, 0.3, 0.3)), cv2.LINE_AA)
        else:
            axes = (randint(rng, 4, max(5, w // 5)), randint(rng, 4, max(5, h // 5)))
            cv2.ellipse(image, p0, axes, uniform(rng, 0, 180), 0, 360, color, -1, cv2.LINE_AA)


def draw_occluder(rng: np.random.Generator, image: np.ndarray, top: np.ndarray, at: np.ndarray, size: float) -> None:
    """A hatched rectangle or ellipse near ``at``; marks its pixels in the top-layer map ``top``."""
    h, w = image.shape[:2]
    c = at + (rng.random(2) - 0.5) * 0.6 * size
    half = (0.35 + 0.4 * rng.random(2)) * size
    x0, y0 = (max(0, int(v)) for v in np.floor(c - half.max() - 1))
    x1, y1 = min(w, int(c[0] + half.max()) + 2), min(h, int(c[1] + half.max()) + 2)
    if x1 <= x0 or y1 <= y0:
        return
    c = c - (x0, y0)  # drawn in the occluder's own window of the image
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    if rng.random() < 0.5:
        p0, p1 = _fx((c - half).tolist()), _fx((c + half).tolist())
        cv2.rectangle(mask, p0, p1, 255, -1, cv2.LINE_8, _SHIFT)
    else:
        ax = (int(half[0] * _ONE), int(half[1] * _ONE))
        cv2.ellipse(mask, _fx(c.tolist()), ax, uniform(rng, 0, 180), 0, 360, 255, -1, cv2.LINE_8, _SHIFT)
    # Hatching, so an occluder is a texture rather than a flat limb-like blob.
    patch = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    patch[:] = _muted_color(rng)
    step = randint(rng, 3, 8)
    patch[:, ::step] = _muted_color(rng)
    if rng.random() < 0.5:
        patch[::step] = _muted_color(rng)
    inside = mask > 0
    image[y0:y1, x0:x1][inside] = patch[inside]
    top[y0:y1, x0:x1][inside] = OCCLUDER


# --- Annotation ---------------------------------------------------------------------------------------------


def joint_visibility(
    joints: np.ndarray, owner: int, body: Body, top: np.ndarray, part_ids: dict[str, int], layout: JointLayout
) -> np.ndarray:
    """COCO v per joint: 0 outside the image or a face mark turned fully away, 2 where one of the joint's own
    parts is the top-most drawn thing at its pixel, else 1 (occluded by an occluder, a person or itself)."""
    h, w = top.shape
    v = np.zeros(len(joints), np.int64)
    for k, (name, (x, y)) in enumerate(zip(layout.joints, joints.tolist())):
        if not (0 <= x <= w - 1 and 0 <= y <= h - 1) or body.face_depth[k] < -0.5:
            continue
        own = {owner * 64 + part_ids[p] for p in _JOINT_PARTS[name] if p in part_ids}
        v[k] = 2 if int(top[int(round(y)), int(round(x))]) in own else 1
    return v


def mask_box(mask: np.ndarray, origin: tuple[int, int]) -> list[float] | None:
    """pycocotools' mask -> [x, y, w, h] (``mask`` is a window of the image at ``origin``); None if empty."""
    cols, rows = np.flatnonzero(mask.any(0)), np.flatnonzero(mask.any(1))
    if cols.size == 0:
        return None
    x0, y0 = origin[0] + int(cols[0]), origin[1] + int(rows[0])
    return [float(x0), float(y0), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)]


def _mask_polygons(mask: np.ndarray, origin: tuple[int, int]) -> list[list[float]]:
    """Outer contours of a mask window as COCO polygons in image pixels (simplified to ~1 px)."""
    contours, _ = cv2.findContours(mask.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        c = cv2.approxPolyDP(c, 1.0, True).reshape(-1, 2) + origin
        if len(c) >= 3:
            polys.append([float(v) for v in c.reshape(-1).tolist()])
    return polys


def _person_record(joints: np.ndarray, v: np.ndarray, mask: np.ndarray, origin: tuple[int, int]) -> dict | None:
    """COCO fields of one drawn person (ids left to the caller); ``mask`` is its window of the image at
    ``origin``. None when nothing of the person is in the image."""
    box = mask_box(mask, origin)
    if box is None:
        return None
    kps = []
    for (x, y), vis in zip(joints.tolist(), v.tolist()):
        kps += [round(x, 2), round(y, 2), vis] if vis > 0 else [0.0, 0.0, 0]
    return {
        "category_id": 1,
        "segmentation": _mask_polygons(mask, origin),
        "area": float(np.count_nonzero(mask)),
        "bbox": box,
        "iscrowd": 0,
        "num_keypoints": int(np.count_nonzero(v)),
        "keypoints": kps,
    }


def _num_people(rng: np.random.Generator, max_people: int) -> int:
    """~2% empty images; otherwise mostly one person, sometimes up to ``max_people``."""
    if rng.random() < 0.02 or max_people == 0:
        return 0
    crowd = [0.5**k for k in range(max_people - 1)]  # 2, 3, ... people share 35%, halving each step
    probs = (0.65 if crowd else 1.0, *(0.35 * c / sum(crowd) for c in crowd))
    return _pick(rng, tuple(range(1, max_people + 1)), probs)


def _boxes_overlap(a: list[float], b: list[float]) -> float:
    """Intersection over the smaller box, boxes as (x0, y0, x1, y1)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(small, 1e-6)


def render_image(
    rng: np.random.Generator, width: int, height: int, max_people: int, layout: JointLayout
) -> tuple[np.ndarray, list[dict]]:
    """One BGR image (height, width, 3) uint8 and its person annotations (without ids)."""
    image = draw_background(rng, width, height)
    draw_distractors(rng, image)
    n = _num_people(rng, max_people)
    size_range = (0.3, 0.95) if n == 1 else (0.25, 0.65)
    # The top-most thing drawn at each pixel: person index * 64 + part id, or OCCLUDER.
    top = np.zeros((height, width), np.uint16)
    people, boxes = [], []
    for owner in range(n):
        body = forward_kinematics(sample_pose(rng), layout)
        # Limit heavy overlaps (keep the least overlapping of a few tries), so that a top-down crop still
        # shows one main person.
        best, extent = None, _body_extent(body)
        for _ in range(8):
            place, box = _sample_placement(rng, extent, width, height, size_range)
            overlap = max((_boxes_overlap(box, b) for b in boxes), default=0.0)
            if best is None or overlap < best[0]:
                best = (overlap, place, box)
            if overlap < 0.3:
                break
        _, place, box = best
        boxes.append(box)
        joints, parts, part_ids = draw_person(rng, image, body, place, layout)
        # Work in the person's window: the extent box grown by the widest part (head sides, ears, hands).
        pad = 0.15 * place.scale + 4
        x0, y0 = max(0, int(box[0] - pad)), max(0, int(box[1] - pad))
        x1, y1 = min(width, int(box[2] + pad) + 1), min(height, int(box[3] + pad) + 1)
        window = parts[y0:y1, x0:x1]
        mask = window > 0
        top[y0:y1, x0:x1][mask] = owner * 64 + window[mask]
        people.append((joints, body, mask, (x0, y0), part_ids, place.scale))
    for joints, *_, scale in people:
        for _ in range(rng.binomial(2, 0.25)):
            at = joints[randint(rng, 0, len(joints))]
            draw_occluder(rng, image, top, at, uniform(rng, 0.08, 0.22) * scale)
    records = []
    for owner, (joints, body, mask, origin, part_ids, _) in enumerate(people):
        v = joint_visibility(joints, owner, body, top, part_ids, layout)
        v[(v > 0) & (rng.random(len(v)) < 0.03)] = 0  # annotators skip some joints (v = 0, as in COCO)
        rec = _person_record(joints, v, mask, origin)
        if rec is not None:
            records.append(rec)
    if rng.random() < 0.25:
        image = cv2.GaussianBlur(image, (3, 3), 0)
    return image, records


def _add_coco_quirks(rng: np.random.Generator, image: np.ndarray, num_joints: int) -> list[dict]:
    """Annotations the real COCO file has and a reader must filter: a crowd region (iscrowd = 1, no keypoints)
    drawn as a cluster of small blobs on ~3% of images, and a tiny person (box under 8 px, one or two labelled
    joints) on ~3%. Drawn onto ``image``; returns their records."""
    height, width = image.shape[:2]
    records = []
    if rng.random() < 0.03:
        w, h = round(uniform(rng, 0.2, 0.4) * width, 2), round(uniform(rng, 0.1, 0.2) * height, 2)
        x, y = round(uniform(rng, 0, width - w), 2), round(uniform(rng, 0, height - h), 2)
        for _ in range(randint(rng, 5, 12)):
            cx, cy = uniform(rng, x, x + w), uniform(rng, y + h * 0.3, y + h)
            axes = (max(1, int(w * 0.04)), max(2, int(h * 0.3)))
            cv2.ellipse(image, (int(cx), int(cy)), axes, 0, 0, 360, _muted_color(rng), -1)
        records.append({"category_id": 1, "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                        "area": w * h, "bbox": [x, y, w, h],
                        "iscrowd": 1, "num_keypoints": 0, "keypoints": [0.0, 0.0, 0] * num_joints})  # fmt: skip
    if rng.random() < 0.03:
        w, h = round(uniform(rng, 2.0, 5.0), 2), round(uniform(rng, 4.0, 7.5), 2)
        x, y = round(uniform(rng, 0, width - w), 2), round(uniform(rng, 0, height - h), 2)
        cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + h)), _muted_color(rng), -1)
        kps = [0.0, 0.0, 0] * num_joints
        for j in (0, 5)[: randint(rng, 1, 3)]:  # nose, then left shoulder
            kps[3 * j : 3 * j + 3] = [round(x + w / 2, 2), round(y + (1 + j) * h / 8, 2), 2]
        records.append({"category_id": 1, "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                        "area": w * h, "bbox": [x, y, w, h],
                        "iscrowd": 0, "num_keypoints": sum(1 for v in kps[2::3] if v), "keypoints": kps})  # fmt: skip
    return records


# --- Dataset writing ----------------------------------------------------------------------------------------


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"JPEG encoding failed for {path}")
    path.write_bytes(buf.tobytes())


def coco_category(layout: JointLayout) -> dict:
    """COCO's person category: joint names as COCO spells them and its 1-based skeleton."""
    words = {"l": "left", "r": "right", "sho": "shoulder", "elb": "elbow", "wri": "wrist", "ank": "ankle"}
    names = ["_".join(words.get(w, w) for w in j.split("_")) for j in layout.joints]
    return {
        "supercategory": "person",
        "id": 1,
        "name": "person",
        "keypoints": names,
        "skeleton": [[a + 1, b + 1] for a, b in layout.skeleton],
    }


def _generate_split(out: Path, split: str, num: int, params: dict, progress: bool) -> dict:
    """Render and write the images of one split; return its COCO dict."""
    layout = get_layout(LAYOUT)
    code = SPLITS[split]
    img_dir = out / f"{split}2017"
    img_dir.mkdir(parents=True)
    images, annotations = [], []
    for index in tqdm(range(num), desc=f"synthetic {split}", disable=not progress, unit="img"):
        rng = np.random.default_rng([params["seed"], code, index])
        width, height = (int(v) for v in rng.integers(params["min_size"], params["max_size"] + 1, size=2))
        image, records = render_image(rng, width, height, params["max_people"], layout)
        records += _add_coco_quirks(rng, image, len(layout.joints))
        image_id = code * ID_BLOCK + index + 1
        file_name = f"{image_id:012d}.jpg"
        _write_jpeg(img_dir / file_name, image)
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        for rec in records:
            ann_id = code * 10 * ID_BLOCK + len(annotations) + 1
            annotations.append({"id": ann_id, "image_id": image_id, **rec})
    return {
        "info": {
            "description": "har synthetic person keypoints (COCO 2017 format)",
            "version": str(FORMAT_VERSION),
            "year": 2017,
            "contributor": "har.data.synthetic_coco",
            "date_created": "",
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [coco_category(layout)],
    }


def _params(num_train: int, num_val: int, seed: int, min_size: int, max_size: int, max_people: int) -> dict:
    if not (0 <= num_train < ID_BLOCK and 0 <= num_val < ID_BLOCK):
        raise ValueError(f"num_train and num_val must be in [0, {ID_BLOCK}), got {num_train}, {num_val}")
    if not (16 <= min_size <= max_size):
        raise ValueError(f"need 16 <= min_size <= max_size, got {min_size}, {max_size}")
    if not (0 <= max_people <= 20):
        raise ValueError(f"max_people must be in [0, 20], got {max_people}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    names = ("num_train", "num_val", "seed", "min_size", "max_size", "max_people")
    return dict(zip(names, map(int, (num_train, num_val, seed, min_size, max_size, max_people))))


def generate_synthetic_coco(
    root: str | Path,
    num_train: int = 2000,
    num_val: int = 200,
    seed: int = 0,
    min_size: int = 192,
    max_size: int = 320,
    max_people: int = 3,
    progress: bool = True,
) -> Path:
    """Write a synthetic COCO-format person-keypoints dataset to ``root`` (missing or empty).

    The dataset is built in a temporary sibling folder and renamed into place at the end, so an interrupted
    run leaves no ``root`` behind. Returns ``root``.
    """
    root = Path(root)
    params = _params(num_train, num_val, seed, min_size, max_size, max_people)
    if root.exists() and not is_empty_dir(root):
        raise FileExistsError(f"{root} exists and is not empty; use ensure_synthetic_coco to reuse it")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    log.info("generating synthetic COCO dataset at %s (%d train, %d val images)", root, num_train, num_val)
    try:
        (tmp / "annotations").mkdir(parents=True)
        counts = {}
        for split, num in (("train", params["num_train"]), ("val", params["num_val"])):
            coco = _generate_split(tmp, split, num, params, progress)
            (tmp / "annotations" / f"person_keypoints_{split}2017.json").write_text(json.dumps(coco))
            counts[split] = {"images": len(coco["images"]), "annotations": len(coco["annotations"])}
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "params": params, "counts": counts}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp, root)  # atomic; fails if another process filled root meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote synthetic dataset at %s in %.1f s", root, time.perf_counter() - start)
    return root


def _read_meta(root: Path) -> dict | None:
    return read_meta(root, META_FILE, FORMAT)


def _check_existing(root: Path, params: dict) -> None:
    """Raise unless ``root`` holds a complete synthetic dataset made with ``params``."""
    meta = check_meta(root, _read_meta(root), params, FORMAT_VERSION, META_FILE, "a har synthetic dataset")
    for split in SPLITS:
        ann = root / "annotations" / f"person_keypoints_{split}2017.json"
        img_dir = root / f"{split}2017"
        n_img = sum(1 for _ in img_dir.glob("*.jpg")) if img_dir.is_dir() else 0
        if not ann.is_file() or n_img != meta["counts"][split]["images"]:
            raise ValueError(
                f"synthetic dataset at {root} is incomplete ({ann.name} or {img_dir.name}/ images missing); "
                "delete it yourself or choose another root"
            )


def ensure_synthetic_coco(
    root: str | Path,
    num_train: int = 2000,
    num_val: int = 200,
    seed: int = 0,
    min_size: int = 192,
    max_size: int = 320,
    max_people: int = 3,
    progress: bool = True,
) -> Path:
    """Reuse the synthetic dataset at ``root`` if it was made with these parameters, else generate it.

    Never deletes or overwrites an existing folder: a non-synthetic folder or different parameters raise.
    """
    root = Path(root)
    params = _params(num_train, num_val, seed, min_size, max_size, max_people)
    return ensure_generated(
        root,
        lambda: generate_synthetic_coco(root, **params, progress=progress),
        lambda r: _check_existing(r, params),
        _read_meta,
        "synthetic dataset",
        log,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic COCO-format person-keypoints dataset.")
    parser.add_argument("root", type=Path, help="folder to create (or reuse, if made with the same params)")
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--num-val", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-size", type=int, default=192)
    parser.add_argument("--max-size", type=int, default=320)
    parser.add_argument("--max-people", type=int, default=3)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ensure_synthetic_coco(
        args.root, num_train=args.num_train, num_val=args.num_val, seed=args.seed, min_size=args.min_size,
        max_size=args.max_size, max_people=args.max_people, progress=not args.no_progress,
    )  # fmt: skip


if __name__ == "__main__":
    main()
