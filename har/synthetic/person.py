"""The drawn person shared by every synthetic generator: a 2D kinematic stick-and-capsule body (torso, head with face
marks, two-segment arms and legs), its random poses, placement and look, its rendering with a top-layer map (which
part of which person is the top-most drawn thing at each pixel), and the COCO-style visibility that map gives.

Conventions: pixels have their centres at integer coordinates (cv2's drawing convention); shapes are drawn in cv2's
fixed point (:data:`SHIFT` bits); the person's left limbs have warm colours and the right ones cool colours (as
:mod:`har.layouts` draws them), whichever way the person faces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from har.layouts import JointLayout

OCCLUDER = 65535  # value of occluder pixels in the top-layer map (people are owner * 64 + part id)
_OUTLINE = (20, 20, 20)  # BGR of the dark outline some people get
SHIFT = 4  # cv2 fixed-point bits: shapes are drawn with 1/16-pixel precision
ONE = 1 << SHIFT

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


def pick(rng: np.random.Generator, options: tuple, probs: tuple[float, ...]):
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
    left_mode = pick(rng, _ARM_MODES, _ARM_PROBS)
    right_mode = left_mode if rng.random() < 0.4 else pick(rng, _ARM_MODES, _ARM_PROBS)
    (la, lb), (ra, rb) = _sample_arm(rng, left_mode), _sample_arm(rng, right_mode)
    stance = pick(rng, _LEG_MODES, _LEG_PROBS)
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


def body_extent(body: Body) -> np.ndarray:
    """Points bounding the figure (joints, foot tips, head top), body units."""
    head_top = body.extra["head_centre"] + (body.extra["head_centre"] - body.extra["neck"]) * 0.8
    return np.vstack([body.joints, body.extra["l_toe"], body.extra["r_toe"], head_top])


def sample_placement(
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


def fixed_point(pt: _Point) -> tuple[int, int]:
    """A point (Python floats: rounding numpy scalars is several times slower) in cv2 fixed point."""
    return round(pt[0] * ONE), round(pt[1] * ONE)


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
        pa, pb = fixed_point(a), fixed_point(b)
        if self.style.outline:
            cv2.line(self.image, pa, pb, _OUTLINE, t + 2, cv2.LINE_AA, SHIFT)
        cv2.line(self.image, pa, pb, self.style.colors[color or part], t, cv2.LINE_AA, SHIFT)
        cv2.line(self.parts, pa, pb, self._id(part), t, cv2.LINE_8, SHIFT)

    def disc(self, part: str, c: _Point, width_key: str, minimum: int = 1) -> None:
        r = self._px(width_key, minimum)
        cv2.circle(self.image, fixed_point(c), r * ONE, self.style.colors[part], -1, cv2.LINE_AA, SHIFT)
        cv2.circle(self.parts, fixed_point(c), r * ONE, self._id(part), -1, cv2.LINE_8, SHIFT)

    def ellipse(self, part: str, c: _Point, axes: tuple[float, float], angle: float, color: str) -> None:
        ax = (max(ONE, int(round(axes[0] * ONE))), max(ONE, int(round(axes[1] * ONE))))
        if self.style.outline:
            outline = (ax[0] + ONE, ax[1] + ONE)
            cv2.ellipse(self.image, fixed_point(c), outline, angle, 0, 360, _OUTLINE, -1, cv2.LINE_AA, SHIFT)
        cv2.ellipse(self.image, fixed_point(c), ax, angle, 0, 360, self.style.colors[color], -1, cv2.LINE_AA, SHIFT)
        cv2.ellipse(self.parts, fixed_point(c), ax, angle, 0, 360, self._id(part), -1, cv2.LINE_8, SHIFT)

    def polygon(self, part: str, pts: np.ndarray, color: str) -> None:
        fx = np.round(pts * ONE).astype(np.int32)
        if self.style.outline:
            cv2.polylines(self.image, [fx], True, _OUTLINE, 2, cv2.LINE_AA, SHIFT)
        cv2.fillConvexPoly(self.image, fx, self.style.colors[color], cv2.LINE_AA, SHIFT)
        cv2.fillConvexPoly(self.parts, fx, self._id(part), cv2.LINE_8, SHIFT)


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
