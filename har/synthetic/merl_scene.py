"""The synthetic MERL Shopping scene: a shopper (the stick person of :mod:`har.synthetic.person`, upright, seen from
the front or at a slight angle, with the same look in every clip of a subject) beside a shelf, the five MERL
actions as distinct motions, the rendering of a frame, and the script of a long video (segments of actions with
idle transitions). :mod:`har.synthetic.merl` writes what this renders in MERL's three forms.

One module on purpose (about 540 lines): the stage (shelf, room, products), the motions and the rendering are one
model of a shopper at a shelf; every motion reads the stage's geometry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from har.data.formats.merl_classes import MERL_CLASSES
from har.layouts import get_layout
from har.synthetic.person import (
    OCCLUDER,
    Body,
    Placement,
    Pose,
    direction,
    draw_person,
    forward_kinematics,
    joint_visibility,
    mask_box,
    randint,
    sample_pose,
    uniform,
)
from har.synthetic.scene import draw_background, draw_distractors, draw_occluder

CLASSES = MERL_CLASSES  # the order of tlabs' rows
LAYOUT = "coco17"

# Generator purposes (the second seed word), so that no two uses share a stream.
SEED_PLAN, SEED_SCENE, SEED_MOTION, SEED_ANNOT, SEED_SUBJECT, SEED_STYLE, SEED_VIDEO = range(1, 8)
_OUT = (1.0, -1.0)  # image-x direction of the shopper's left / right side (they face the camera)


# --- The shopper --------------------------------------------------------------------------------------------


@dataclass
class Figure:
    """A subject's standing build in body units (height ~1, pelvis at the origin, y down, lean 0).

    ``shoulder``/``rest`` are the (left, right) shoulders and resting wrists, ``head`` the head centre, ``l1``/``l2``
    the upper-arm and forearm lengths, ``style_seed`` seeds the subject's colours (the same in every frame).
    """

    build: Pose
    l1: float
    l2: float
    shoulder: tuple[complex, complex]
    rest: tuple[complex, complex]
    head: complex
    style_seed: tuple[int, ...]


def _c(p: np.ndarray) -> complex:
    return complex(float(p[0]), float(p[1]))


def subject_figure(seed: int, subject: int) -> Figure:
    """The build of ``subject``: ``sample_pose``'s proportions, standing, facing the camera, arms hanging."""
    rng = np.random.default_rng([seed, SEED_SUBJECT, subject])
    pose = sample_pose(rng)
    legs = (uniform(rng, 2, 9), uniform(rng, 2, 9))
    bends = (uniform(rng, -6, 6), uniform(rng, -6, 6))
    arms = (uniform(rng, 5, 13), uniform(rng, 5, 13))
    lengths = dict(pose.lengths, thigh=uniform(rng, 0.9, 1.02))
    build = replace(pose, facing=1, lean=0.0, head_tilt=0.0, head_yaw=0.0, arm_abduction=arms,
                    arm_bend=(uniform(rng, 3, 15), uniform(rng, 3, 15)), leg_abduction=legs, leg_bend=bends,
                    lengths=lengths)  # fmt: skip
    layout = get_layout(LAYOUT)
    body = forward_kinematics(build, layout)
    j = {name: _c(p) for name, p in zip(layout.joints, body.joints)}
    return Figure(
        build=build,
        l1=abs(j["l_elb"] - j["l_sho"]),
        l2=abs(j["l_wri"] - j["l_elb"]),
        shoulder=(j["l_sho"], j["r_sho"]),
        rest=(j["l_wri"], j["r_wri"]),
        head=_c(body.extra["head_centre"]),
        style_seed=(seed, SEED_STYLE, subject),
    )


@dataclass
class Control:
    """What a motion sets in one frame: per-arm wrist targets (left, right; body units), upper-arm length factors
    (< 1: the upper arm points at the camera), held products, head yaw and roll, torso lean (degrees)."""

    wrist: tuple[complex, complex]
    upper: tuple[float, float] = (1.0, 1.0)
    hold: tuple[bool, bool] = (False, False)
    yaw: float = 0.0
    roll: float = 0.0
    lean: float = 0.0
    width: float = 1.0  # shoulder/hip width factor: < 1 when the torso turns away from the camera


def _lerp(a: Control, b: Control, w: float) -> Control:
    def mix(x, y):
        return x + (y - x) * w

    return Control(
        wrist=(mix(a.wrist[0], b.wrist[0]), mix(a.wrist[1], b.wrist[1])),
        upper=(mix(a.upper[0], b.upper[0]), mix(a.upper[1], b.upper[1])),
        hold=a.hold if w < 0.5 else b.hold,
        yaw=mix(a.yaw, b.yaw),
        roll=mix(a.roll, b.roll),
        lean=mix(a.lean, b.lean),
        width=mix(a.width, b.width),
    )


def _two_link(shoulder: complex, target: complex, l1: float, l2: float, out: float) -> tuple[complex, complex]:
    """Elbow and wrist of an arm reaching for ``target`` (clipped to the arm's reach).

    The elbow bends to the same side of the shoulder-wrist line for every target: below it when reaching out,
    outwards when the hand is at the face, so motions are continuous.
    """
    d = target - shoulder
    r = min(max(abs(d), abs(l1 - l2) + 1e-6), l1 + l2 - 1e-6)
    theta = math.degrees(math.atan2(d.real, d.imag))  # synthetic_coco's angle convention (0 = down, + to the right)
    cos_a = (l1 * l1 + r * r - l2 * l2) / (2 * l1 * r)
    alpha = math.degrees(math.acos(min(1.0, max(-1.0, cos_a))))
    return shoulder + l1 * direction(theta - out * alpha), shoulder + r * direction(theta)


def posed_body(fig: Figure, c: Control, layout) -> Body:
    """The body of ``fig`` in the frame's control: kinematics for torso, legs and head, the arms solved for the
    wrist targets."""
    width = fig.build.width_scale * c.width
    pose = replace(fig.build, lean=c.lean, head_yaw=c.yaw, head_tilt=c.roll, width_scale=width)
    body = forward_kinematics(pose, layout)
    for s, side in enumerate("lr"):
        sho = _c(body.joints[layout.index(f"{side}_sho")])
        elbow, wrist = _two_link(sho, c.wrist[s], fig.l1 * c.upper[s], fig.l2, _OUT[s])
        body.joints[layout.index(f"{side}_elb")] = (elbow.real, elbow.imag)
        body.joints[layout.index(f"{side}_wri")] = (wrist.real, wrist.imag)
    return body


# --- The scene ----------------------------------------------------------------------------------------------


@dataclass
class Stage:
    """A shopper placed beside a shelf: the static picture and what the motions need.

    ``side``: +1 shelf on the image right, -1 left; ``hand``: the reaching hand (0 left, 1 right); ``edge``: the
    shelf's inner edge (image x), ``gap``: reaching shoulder to the edge (body units, > 0 outside the shelf).
    """

    image: np.ndarray  # (H, W, 3) BGR background with the shelf
    shelf_box: tuple[float, float, float, float]  # x0, y0, x1, y1 (image px)
    side: int
    hand: int
    edge: float
    gap: float
    fig: Figure
    place: Placement
    sway: tuple[float, float, float]  # lean amplitude (deg), period (frames), phase
    basket: tuple[int, np.ndarray, float] | None  # occluder seed, position (px), size (px)
    product_color: tuple[int, int, int]


def _bright_color(rng: np.random.Generator) -> tuple[int, int, int]:
    """A saturated product colour (BGR)."""
    hsv = np.uint8([[[randint(rng, 0, 180), randint(rng, 120, 256), randint(rng, 110, 256)]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _shade(color, f: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, v * f))) for v in color)


_SHELF_COLORS = ((60, 105, 150), (150, 150, 150), (205, 210, 210), (70, 70, 75), (40, 80, 120))  # BGR


def _draw_products(rng: np.random.Generator, image: np.ndarray, x0: int, x1: int, base: int, room: int) -> None:
    """A row of boxes, bottles and cans standing on a board at y = ``base``, between x0 and x1."""
    w = image.shape[1]
    x = x0 + randint(rng, 0, max(1, w // 80))
    while x < x1:
        pw = max(2, int(uniform(rng, 0.014, 0.04) * w))
        ph = max(3, int(uniform(rng, 0.45, 0.85) * room))
        right = min(x + pw, x1)
        if right - x < 2:
            break
        color = _bright_color(rng)
        kind = randint(rng, 0, 3)
        top = base - ph
        if kind == 1:  # bottle: body, neck and cap
            neck = max(1, (right - x) // 3)
            mid = (x + right) // 2
            cv2.rectangle(image, (mid - neck // 2, top), (mid + neck // 2, top + ph // 3), color, -1)
            cv2.rectangle(image, (x, top + ph // 3), (right, base), color, -1)
            cv2.rectangle(image, (mid - neck // 2, top), (mid + neck // 2, top + max(1, ph // 12)), (30, 30, 30), -1)
        else:  # box or can, with a label band
            cv2.rectangle(image, (x, top), (right, base), color, -1)
            band = top + int(ph * uniform(rng, 0.3, 0.6))
            cv2.rectangle(image, (x, band), (right, band + max(1, ph // 5)), _shade(_bright_color(rng), 1.1), -1)
            if kind == 2:
                cv2.rectangle(image, (x, top), (right, top + max(1, ph // 10)), (190, 190, 190), -1)
        x = right + randint(rng, 0, max(2, w // 250))
        if rng.random() < 0.08:  # an empty slot
            x += int(uniform(rng, 0.02, 0.06) * w)


def _draw_shelf(rng: np.random.Generator, image: np.ndarray, side: int) -> tuple[int, int, int, int]:
    """A shelf unit on one side of the image (cut by the image border): back panel, posts, boards, products.
    Returns its box (x0, y0, x1, y1)."""
    h, w = image.shape[:2]
    width = int(uniform(rng, 0.2, 0.3) * w)
    x0, x1 = (w - width, w) if side > 0 else (0, width)
    y0, y1 = int(uniform(rng, 0.02, 0.1) * h), int(uniform(rng, 0.8, 0.9) * h)
    frame = tuple(
        int(v) for v in np.clip(np.array(_SHELF_COLORS[randint(rng, 0, 5)]) + rng.integers(-20, 21, 3), 0, 255)
    )
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1), _shade(frame, uniform(rng, 0.45, 0.7)), -1)  # back panel
    post = max(2, int(0.014 * w))
    px = x0 if side > 0 else x1 - post  # the post at the shelf's inner edge
    n_boards = randint(rng, 4, 7)
    board = max(2, int(0.012 * h))
    levels = np.linspace(y0 + (y1 - y0) / n_boards, y1, n_boards).astype(int)
    inner = (x0 + post, x1) if side > 0 else (x0, x1 - post)
    previous = y0
    for level in levels:
        _draw_products(rng, image, inner[0], inner[1], int(level) - 1, int(level) - previous - board)
        cv2.rectangle(image, (x0, int(level)), (x1 - 1, int(level) + board), frame, -1)
        for _ in range(randint(rng, 1, 4)):  # price tags on the board's front
            tx = randint(rng, inner[0], max(inner[0] + 1, inner[1] - 3 * board))
            cv2.rectangle(image, (tx, int(level)), (tx + 2 * board, int(level) + board), (235, 235, 235), -1)
        previous = int(level) + board
    cv2.rectangle(image, (x0, y0 - board), (x1 - 1, y0), frame, -1)  # top board
    cv2.rectangle(image, (px, y0 - board), (px + post, y1 + board), _shade(frame, 0.85), -1)
    return x0, y0 - board, x1, y1 + board


def _draw_room(rng: np.random.Generator, width: int, height: int, side: int) -> tuple[np.ndarray, tuple]:
    """Wall, floor, clutter and the shelf; returns the image and the shelf box."""
    image = cv2.GaussianBlur(draw_background(rng, width, height), (0, 0), 1.2)  # a wall, smoother than COCO's clutter
    floor = int(uniform(rng, 0.82, 0.9) * height)
    tint = np.array(_SHELF_COLORS[randint(rng, 0, 5)], dtype=np.float32)
    image[floor:] = (0.55 * image[floor:] + 0.45 * tint * uniform(rng, 0.5, 0.9)).astype(np.uint8)
    draw_distractors(rng, image)
    box = _draw_shelf(rng, image, side)
    return image, box


def make_stage(seed: int, key: Sequence[int], subject: int, width: int, height: int) -> Stage:
    """The static part of a clip or video ``key``: room, shelf, the subject's placement, sway, basket."""
    rng = np.random.default_rng([seed, SEED_SCENE, *key])
    fig = subject_figure(seed, subject)
    side = 1 if rng.random() < 0.5 else -1
    image, box = _draw_room(rng, width, height, side)
    edge = box[0] if side > 0 else box[2]
    hand = 0 if side > 0 else 1  # the hand nearer the shelf: the shopper's left hand is on the image right
    # Size: 0.55-0.8 of the image height, feet on the floor in front of the shelf, head inside the image.
    feet = uniform(rng, 0.9, 0.98) * height
    scale = min(uniform(rng, 0.55, 0.8) * height, (feet - 0.03 * height) / 0.97)
    # Reaching shoulder: far enough from the shelf that the resting hand is 0.04-0.07 outside it, close enough that
    # the hand gets well into it (shelf_target).
    hanging = side * (fig.rest[hand].real - fig.shoulder[hand].real)  # how far out the resting hand hangs
    gap = max(0.0, hanging) + uniform(rng, 0.04, 0.07)
    sho = fig.shoulder[hand]
    pelvis_x = edge - side * gap * scale - scale * sho.real
    pelvis_y = feet - 0.46 * scale
    place = Placement(scale, 0.0, np.array([pelvis_x, pelvis_y]))
    sway = (uniform(rng, 0.4, 2.0), uniform(rng, 40, 100), uniform(rng, 0, 2 * math.pi))
    basket = None
    if rng.random() < 0.25:  # a basket or bag hanging on the other side, in front of the hip
        other = 1 - hand
        at = place.apply(np.array([[fig.rest[other].real + 0.03 * _OUT[other], fig.rest[other].imag + 0.04]]))[0]
        basket = (randint(rng, 0, 2**31), at, uniform(rng, 0.14, 0.22) * scale)
    return Stage(image, tuple(float(v) for v in box), side, hand, float(edge), gap, fig, place, sway, basket,
                 _bright_color(rng))  # fmt: skip


# --- Motions ------------------------------------------------------------------------------------------------

Motion = Callable[[float], Control]  # segment progress t in [0, 1] -> control


def _rest(st: Stage, yaw: float = 0.0) -> Control:
    return Control(wrist=st.fig.rest, yaw=yaw)


def _with(values: tuple, index: int, value) -> tuple:
    return tuple(value if i == index else v for i, v in enumerate(values))


def _easing(rng: np.random.Generator) -> Callable[[float], float]:
    """Progress 0 -> 1 over [t0, t1] (a random part of the segment), smoothstep-shaped: speed varies per clip."""
    t0, t1, gamma = uniform(rng, 0.0, 0.15), uniform(rng, 0.8, 1.0), uniform(rng, 0.8, 1.25)

    def ease(t: float) -> float:
        x = min(1.0, max(0.0, (t - t0) / (t1 - t0)))
        return (x * x * (3 - 2 * x)) ** gamma

    return ease


def shelf_target(rng: np.random.Generator, st: Stage) -> complex:
    """Where the reaching hand goes: 0.08 above to 0.14 below its shoulder, 0.06-0.16 inside the shelf (body
    units; less where the arm is too short)."""
    sho = st.fig.shoulder[st.hand]
    dy = uniform(rng, -0.08, 0.14)
    reach = 0.95 * (st.fig.l1 + st.fig.l2)
    room = math.sqrt(max(0.0, reach**2 - dy**2)) - st.gap
    depth = uniform(rng, min(0.06, room), max(min(0.06, room), min(0.16, room)))
    return complex(sho.real + st.side * (st.gap + depth), sho.imag + dy)


def _reach(rng: np.random.Generator, st: Stage, target: complex) -> Motion:
    ease, h = _easing(rng), st.hand
    lift, yaw, lean = uniform(rng, 0.02, 0.06), st.side * uniform(rng, 5, 25), -st.side * uniform(rng, 1, 4)
    start = st.fig.rest[h]

    def control(t: float) -> Control:
        p = ease(t)
        wrist = start + (target - start) * p - 1j * lift * math.sin(math.pi * p)
        return Control(wrist=_with(st.fig.rest, h, wrist), yaw=yaw * p, lean=lean * p)

    return control


def _hand_in_shelf(rng: np.random.Generator, st: Stage, target: complex) -> Motion:
    h = st.hand
    ax, ay = uniform(rng, 0.006, 0.018), uniform(rng, 0.008, 0.025)
    fx, fy, px, py = uniform(rng, 0.5, 2), uniform(rng, 0.5, 2), uniform(rng, 0, 6.3), uniform(rng, 0, 6.3)
    drift = uniform(rng, -0.03, 0.03)
    yaw, lean = st.side * uniform(rng, 5, 25), -st.side * uniform(rng, 1, 4)

    def control(t: float) -> Control:
        jitter = complex(ax * math.sin(2 * math.pi * fx * t + px), ay * math.sin(2 * math.pi * fy * t + py))
        wrist = target + jitter + 1j * drift * (t - 0.5)
        return Control(wrist=_with(st.fig.rest, h, wrist), yaw=yaw, lean=lean)

    return control


def _holding_spot(st: Stage, h: int) -> complex:
    """The hand in front of the waist, as after taking a product."""
    return st.fig.rest[h] + complex(-0.05 * _OUT[h], -0.1)


def _retract(rng: np.random.Generator, st: Stage, target: complex, hold: bool) -> Motion:
    ease, h = _easing(rng), st.hand
    end = _holding_spot(st, h) if hold else st.fig.rest[h]
    lift, yaw, lean = uniform(rng, 0.0, 0.04), st.side * uniform(rng, 5, 25), -st.side * uniform(rng, 1, 4)

    def control(t: float) -> Control:
        p = ease(t)
        wrist = target + (end - target) * p - 1j * lift * math.sin(math.pi * p)
        return Control(wrist=_with(st.fig.rest, h, wrist), hold=_with((False, False), h, hold),
                       yaw=yaw * (1 - p), lean=lean * (1 - p))  # fmt: skip

    return control


def _inspect_product(rng: np.random.Generator, st: Stage) -> Motion:
    h = st.hand
    hands = (0, 1) if rng.random() < 0.3 else (h,)
    spots = {s: st.fig.head + complex(_OUT[s] * uniform(rng, 0.05, 0.08), uniform(rng, 0.07, 0.1)) for s in hands}
    upper = {s: uniform(rng, 0.5, 0.68) for s in hands}
    amp, freq, phase = uniform(rng, 0.006, 0.02), uniform(rng, 0.5, 2), uniform(rng, 0, 6.3)
    roll = -_OUT[h] * uniform(rng, 3, 10) if len(hands) == 1 else uniform(rng, -4, 4)
    yaw, turn = uniform(rng, -10, 10), uniform(rng, 3, 12)

    def control(t: float) -> Control:
        a = 2 * math.pi * freq * t + phase
        wobble = amp * complex(math.cos(a), 0.7 * math.sin(a))
        wrist = tuple(spots[s] + wobble if s in spots else st.fig.rest[s] for s in (0, 1))
        return Control(wrist=wrist, upper=tuple(upper.get(s, 1.0) for s in (0, 1)),
                       hold=tuple(s in spots for s in (0, 1)), yaw=yaw + turn * math.sin(a), roll=roll)  # fmt: skip

    return control


def _inspect_shelf(rng: np.random.Generator, st: Stage) -> Motion:
    yaw = st.side * uniform(rng, 35, 60)
    scan, freq, phase = uniform(rng, 4, 12), uniform(rng, 0.5, 1.5), uniform(rng, 0, 6.3)
    lean, roll, width = -st.side * uniform(rng, 1, 4), uniform(rng, -5, 5), uniform(rng, 0.75, 0.9)

    def control(t: float) -> Control:
        wrist = tuple(complex(w.real * width, w.imag) for w in st.fig.rest)
        return Control(wrist=wrist, yaw=yaw + scan * math.sin(2 * math.pi * freq * t + phase), roll=roll,
                       lean=lean, width=width)  # fmt: skip

    return control


def clip_motion(rng: np.random.Generator, st: Stage, action: str) -> Motion:
    """A standalone clip of ``action``."""
    if action == "InspectProduct":
        return _inspect_product(rng, st)
    if action == "InspectShelf":
        return _inspect_shelf(rng, st)
    target = shelf_target(rng, st)
    if action == "ReachToShelf":
        return _reach(rng, st, target)
    if action == "HandInShelf":
        return _hand_in_shelf(rng, st, target)
    if action == "RetractFromShelf":
        return _retract(rng, st, target, hold=rng.random() < 0.6)
    raise ValueError(f"unknown action {action!r}")


def sway(st: Stage, frame: int, c: Control) -> Control:
    amp, period, phase = st.sway
    return replace(c, lean=c.lean + amp * math.sin(2 * math.pi * frame / period + phase))


# --- Rendering ----------------------------------------------------------------------------------------------


@dataclass
class Frame:
    """One rendered frame: BGR image, joints (17, 2) px, COCO visibility v (17,) (0 absent, 1 hidden, 2 visible)
    and the drawn person's box [x0, y0, x1, y1] (amodal, pixel-inclusive)."""

    image: np.ndarray
    joints: np.ndarray
    visibility: np.ndarray
    box: np.ndarray


def _draw_product(image: np.ndarray, top: np.ndarray, centre: np.ndarray, axis: np.ndarray, size: float,
                  color) -> None:  # fmt: skip
    """A product (a box with a label) held at ``centre``, long side along ``axis``; hides what is under it."""
    angle = math.degrees(math.atan2(axis[1], axis[0]))
    pts = cv2.boxPoints(((float(centre[0]), float(centre[1])), (size, 0.6 * size), angle))
    poly = np.round(pts).astype(np.int32)
    cv2.fillConvexPoly(image, poly, color, cv2.LINE_AA)
    mask = np.zeros(top.shape, np.uint8)
    cv2.fillConvexPoly(mask, poly, 1)
    top[mask > 0] = OCCLUDER
    stripe = ((pts[0] + pts[1]) / 2).astype(int).tolist(), ((pts[2] + pts[3]) / 2).astype(int).tolist()
    cv2.line(image, tuple(stripe[0]), tuple(stripe[1]), _shade(color, 1.5), max(1, int(size / 8)))


def render_frame(st: Stage, c: Control, layout) -> Frame:
    """Draw the shopper in control ``c`` over the stage's picture; joints, visibility and box."""
    body = posed_body(st.fig, c, layout)
    image = st.image.copy()
    joints, parts, part_ids = draw_person(np.random.default_rng(st.fig.style_seed), image, body, st.place, layout)
    top = parts.astype(np.uint16)  # the person is owner 0: top-layer values = part ids
    held = [s for s in (0, 1) if c.hold[s]]
    if held:
        wri = [joints[layout.index(f"{'lr'[s]}_wri")] for s in held]
        elb = [joints[layout.index(f"{'lr'[s]}_elb")] for s in held]
        size = 0.07 * st.place.scale
        if len(held) == 2:
            centre, axis = (wri[0] + wri[1]) / 2 - (0, 0.02 * st.place.scale), np.array([0.0, 1.0])
        else:
            axis = (wri[0] - elb[0]) / max(1e-6, float(np.linalg.norm(wri[0] - elb[0])))
            centre = wri[0] + axis * 0.45 * size
        _draw_product(image, top, centre, axis, size, st.product_color)
    if st.basket is not None:
        seed, at, size = st.basket
        draw_occluder(np.random.default_rng(seed), image, top, at, size)
    v = joint_visibility(joints, 0, body, top, part_ids, layout)
    x, y, w, h = mask_box(parts > 0, (0, 0))
    return Frame(image, joints, v, np.array([x, y, x + w - 1, y + h - 1], dtype=np.float64))


# --- Videos -------------------------------------------------------------------------------------------------


@dataclass
class Segment:
    """A stretch of a video: an action (None = background) lasting ``length`` frames."""

    action: str | None
    length: int
    motion: Motion


def _transition(a: Control, b: Control, idle: Control | None) -> Motion:
    """Background between two segments: straight from ``a`` to ``b``, or through ``idle`` (arms down)."""

    def ease(x: float) -> float:
        return x * x * (3 - 2 * x)

    def control(t: float) -> Control:
        if idle is None:
            return _lerp(a, b, ease(t))
        return _lerp(a, idle, ease(min(1.0, 2.5 * t))) if t < 0.5 else _lerp(idle, b, ease(max(0.0, 2.5 * t - 1.5)))

    return control


def video_script(rng: np.random.Generator, st: Stage, length: int, clip_frames: tuple[int, int]) -> list[Segment]:
    """Segments of a video of about ``length`` frames: episodes (InspectShelf; or Reach, [HandInShelf], Retract,
    [InspectProduct]) separated by idle stretches; the first two episodes hold every class."""
    lo, hi = clip_frames

    def reach_episode(full: bool) -> list[tuple[str, Motion]]:
        target = shelf_target(rng, st)
        hold = full or rng.random() < 0.6
        ep = [("ReachToShelf", _reach(rng, st, target))]
        if full or rng.random() < 0.7:
            ep.append(("HandInShelf", _hand_in_shelf(rng, st, target)))
        ep.append(("RetractFromShelf", _retract(rng, st, target, hold)))
        if hold and (full or rng.random() < 0.7):
            ep.append(("InspectProduct", _inspect_product(rng, st)))
        return ep

    episodes: list[list[tuple[str, Motion]]] = [[("InspectShelf", _inspect_shelf(rng, st))], reach_episode(full=True)]
    if rng.random() < 0.5:
        episodes.reverse()
    segments: list[Segment] = []
    total = 0
    previous = _rest(st, uniform(rng, -15, 15))
    while episodes or total < length:
        episode = (
            episodes.pop(0)
            if episodes
            else ([("InspectShelf", _inspect_shelf(rng, st))] if rng.random() < 0.3 else reach_episode(full=False))
        )
        for i, (action, motion) in enumerate(episode):
            # Within an episode a short move to the next segment's start; between episodes an idle stretch.
            gap = randint(rng, 2, 8) if i > 0 else randint(rng, 10, 30)
            idle = None if i > 0 else _rest(st, uniform(rng, -15, 15))
            segments.append(Segment(None, gap, _transition(previous, motion(0.0), idle)))
            n = randint(rng, lo, hi + 1)
            segments.append(Segment(action, n, motion))
            total += gap + n
            previous = motion(1.0)
    tail = randint(rng, 8, 20)
    segments.append(Segment(None, tail, _transition(previous, _rest(st), None)))
    return segments
