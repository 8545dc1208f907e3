"""Synthetic MERL Shopping data in the three forms users have: the fork's pose pickle, the fork's per-frame action
JSON, and the official release's videos with MATLAB labels.

A retail scene: a shopper (the stick person of :mod:`har.data.synthetic_coco`, upright, seen from the front or at a
slight angle, with the same look in every clip of a subject) stands beside a shelf (boards with rows of products,
on the left or the right of the frame) and performs the five MERL Shopping actions as distinct motions:

- ``ReachToShelf``: one hand goes from the body into the shelf (the arm extends over the clip);
- ``RetractFromShelf``: the reverse, sometimes holding a product;
- ``HandInShelf``: the hand stays inside the shelf, moving a little;
- ``InspectProduct``: a product held next to the face (one or both hands up at the head), small motion;
- ``InspectShelf``: arms down, head (and a little the torso) turned towards the shelf, scanning it.

Each clip varies the shelf side (and with it the reaching hand, the one nearer the shelf: the left hand for a shelf
on the image right), the shopper's position and size, the speed, a body sway, colours, clutter and a basket-like
occluder. Layout::

    ROOT/synthetic_meta.json                        # format, parameters, counts (ignored by readers)
    ROOT/synthetic_truth.json                       # per clip/video: shelf box, side, hand, segments (tests, debugging)
    ROOT/pose/merl_pose_{train,val,test}.pkl        # the fork's pickle: a list of per-frame records
    ROOT/pose/merl_pose_{train,val,test}.json       # the same records as a plain JSON list
    ROOT/pose/images/{subject}_{session}_crop_{start}_{end}_{Action}-{n:04d}.jpg
    ROOT/action/merl_action_{train,val,test}.json   # the fork's flat list of per-frame records
    ROOT/action/frames/<clip id>/<n>.jpg
    ROOT/videos/Videos_MERL_Shopping_Dataset/{subject}_{session}_crop.mp4
    ROOT/videos/Labels_MERL_Shopping_Dataset/{subject}_{session}_label.mat
    ROOT/videos/person_boxes.json                   # video stem -> per-frame [x1, y1, x2, y2]

Conventions:
    * Splits by subject, as in the paper: train 1-20, val 21-26, test 27-41. ``num_subjects`` subjects are taken in
      turn from the train, val and test ranges (6 -> 1, 2, 21, 22, 27, 28), so every form's splits are disjoint in
      subjects.
    * Pose and action forms hold the same clips (``clips_per_class`` per subject, session and class), each a crop
      ``[start, end]`` (1-based, inclusive) of a virtual video of the subject's session; a clip's frames are
      numbered ``n = 1 .. end - start + 1`` in both forms (``-{n:04d}.jpg``, ``{n}.jpg``).
    * Pose records (frame size ``frame_size``): ``bbox`` [x, y, w, h] floats (the drawn person's box with a
      detector-like jitter), ``keypoints`` 17 x [x, y, flag] in COCO order, with the fork's flags: 1 = labelled
      (visible), 0 with coordinates = present but hidden (by an occluder, a held product or the body), 2 with
      (0, 0) = absent (outside the image, a face mark turned away, or skipped like an annotator does);
      ``num_keypoints`` is unreliable on purpose (mostly 24, as in the fork's files, else the count of flag-1
      joints); ``image_id`` counts from 1 in each split.
    * Action records: ``image.url`` is relative to the JSON file's folder (``frames/<clip id>/<n>.jpg``): readers
      resolve relative urls against the JSON's folder and use absolute ones as they are. ``person_bbox`` is
      [x1, y1, x2, y2] or [] (about 5 % of frames). ``keypoints`` is [] as in the fork's raw files. ``id`` is
      ``{Action}_{subject}_{session}_crop_{start}_{end}_{Action}``. About one clip in ten lists its frames out of
      order (readers sort by the number in ``file_name``). One clip in six spells its ``action`` differently, all
      frames of the clip alike: ``reachtoshelf``, ``Reach To Shelf``, ``ReachShelf``; ``retract_from_shelf``,
      ``RETRACTFROMSHELF``, ``RetractShelf``; ``handinshelf``, ``Hand In Shelf``, ``HandsInShelf``;
      ``inspect-product``, ``Inspect Product``, ``InspectProducts``; ``inspectshelf``, ``INSPECT_SHELF``,
      ``Inspect shelf`` (case, space, underscore and hyphen variants, and aliases of
      :data:`har.data.merl_classes.DEFAULT_ALIASES`).
    * Videos (frame size ``video_size``, 30 fps, fourcc ``mp4v``): each about ``video_frames`` frames long, a
      sequence of labelled segments (every class at least once) separated by short background stretches where the
      shopper stands idle or moves between poses. ``tlabs`` is a (5, 1) cell array in the order ReachToShelf,
      RetractFromShelf, HandInShelf, InspectProduct, InspectShelf; each cell an N x 2 double array of
      [start_frame, end_frame], **1-based and inclusive** (MATLAB's numbering: the video's first frame is 1), no two
      segments overlapping. ``person_boxes.json`` has one box per video frame (index 0 = frame 1).

Every clip and video is drawn from its own generators seeded by ``(seed, purpose, subject, session, ...)``: the data
are identical for the same parameters, and a clip does not depend on which forms or how many clips were asked for.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import pickle
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import scipy.io
from tqdm import tqdm

from har.data import synthetic_meta
from har.data.merl_classes import MERL_CLASSES
from har.data.synthetic_coco import (
    OCCLUDER,
    Body,
    Placement,
    Pose,
    draw_background,
    direction,
    draw_distractors,
    draw_occluder,
    mask_box,
    randint,
    uniform,
    joint_visibility,
    draw_person,
    forward_kinematics,
    sample_pose,
)
from har.layouts import get_layout

log = logging.getLogger(__name__)

FORMAT = "har.synthetic_merl"
FORMAT_VERSION = 1
META_FILE = "synthetic_meta.json"
TRUTH_FILE = "synthetic_truth.json"
FORMS = ("pose", "action", "videos")
CLASSES = MERL_CLASSES  # the order of tlabs' rows
SPLIT_SUBJECTS = {"train": (1, 20), "val": (21, 26), "test": (27, 41)}  # inclusive subject ranges (the paper's)
FPS = 30
VIDEO_DIR = "Videos_MERL_Shopping_Dataset"
LABEL_DIR = "Labels_MERL_Shopping_Dataset"
LAYOUT = "coco17"

# Spellings of the action field used by some clips (see the module docstring).
LABEL_VARIANTS: dict[str, tuple[str, ...]] = {
    "ReachToShelf": ("reachtoshelf", "Reach To Shelf", "ReachShelf"),
    "RetractFromShelf": ("retract_from_shelf", "RETRACTFROMSHELF", "RetractShelf"),
    "HandInShelf": ("handinshelf", "Hand In Shelf", "HandsInShelf"),
    "InspectProduct": ("inspect-product", "Inspect Product", "InspectProducts"),
    "InspectShelf": ("inspectshelf", "INSPECT_SHELF", "Inspect shelf"),
}
_VARIANT_EVERY, _SHUFFLED_EVERY = 6, 10  # clip k (in plan order) is respelled / shuffled when k % n == n // 2
_EMPTY_BOX_RATE = 0.05  # action records with person_bbox []
_SKIP_RATE = 0.04  # labelled joints an "annotator" skipped (flag 2)

# Generator purposes (the second seed word), so that no two uses share a stream.
_PLAN, _SCENE, _MOTION, _ANNOT, _SUBJECT, _STYLE, _VIDEO = range(1, 8)

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
    rng = np.random.default_rng([seed, _SUBJECT, subject])
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
        style_seed=(seed, _STYLE, subject),
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


def _stage(seed: int, key: Sequence[int], subject: int, width: int, height: int) -> Stage:
    """The static part of a clip or video ``key``: room, shelf, the subject's placement, sway, basket."""
    rng = np.random.default_rng([seed, _SCENE, *key])
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


def _clip_motion(rng: np.random.Generator, st: Stage, action: str) -> Motion:
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


def _sway(st: Stage, frame: int, c: Control) -> Control:
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


def _jitter_box(rng: np.random.Generator, box: np.ndarray, width: int, height: int, sd: float = 0.03) -> np.ndarray:
    """A detector-like box: each side moved by a few percent of the box size, kept inside the image."""
    size = np.array([box[2] - box[0] + 1, box[3] - box[1] + 1] * 2, dtype=np.float64)
    out = box + rng.normal(0.0, sd, 4) * size
    out[[0, 2]] = np.clip(out[[0, 2]], 0, width - 1)
    out[[1, 3]] = np.clip(out[[1, 3]], 0, height - 1)
    out[2], out[3] = max(out[2], out[0] + 2), max(out[3], out[1] + 2)
    return out


def _fork_keypoints(rng: np.random.Generator, f: Frame) -> list[list]:
    """17 x [x, y, flag] with the fork's flags: 1 visible, 0 hidden (coordinates kept), 2 absent at (0, 0)."""
    out = []
    for (x, y), v in zip(f.joints.tolist(), f.visibility.tolist()):
        if v == 0 or rng.random() < _SKIP_RATE:
            out.append([0.0, 0.0, 2])
        else:
            out.append([round(x, 3), round(y, 3), 1 if v == 2 else 0])
    return out


# --- Clip plan (pose and action forms) ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClipSpec:
    """One clip: a crop [start, end] (1-based, inclusive) of a virtual video of ``subject``'s ``session``."""

    subject: int
    session: int
    action: str  # canonical class name
    k: int  # the clip's number among the subject/session/class clips
    start: int
    end: int
    split: str
    spelling: str  # the action field's spelling in the action JSON
    shuffled: bool  # action JSON lists its frames out of order

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def stem(self) -> str:
        return f"{self.subject}_{self.session}_crop_{self.start}_{self.end}_{self.action}"

    @property
    def clip_id(self) -> str:
        return f"{self.action}_{self.stem}"

    @property
    def key(self) -> tuple[int, int, int, int]:
        return self.subject, self.session, CLASSES.index(self.action), self.k


def split_of(subject: int) -> str:
    for split, (lo, hi) in SPLIT_SUBJECTS.items():
        if lo <= subject <= hi:
            return split
    raise ValueError(f"subject {subject} is in no split (subjects are 1-41)")


def default_subjects(num_subjects: int) -> list[int]:
    """``num_subjects`` subject ids taken in turn from the train, val and test ranges, sorted."""
    pools = {s: list(range(lo, hi + 1)) for s, (lo, hi) in SPLIT_SUBJECTS.items()}
    chosen: list[int] = []
    while len(chosen) < num_subjects:
        for pool in pools.values():
            if pool and len(chosen) < num_subjects:
                chosen.append(pool.pop(0))
    return sorted(chosen)


def plan_clips(params: dict) -> list[ClipSpec]:
    """The clips of the pose and action forms, in writing order (subject, session, then shuffled classes)."""
    lo, hi = params["clip_frames"]
    specs = []
    for subject in default_subjects(params["num_subjects"]):
        for session in range(1, params["sessions"] + 1):
            rng = np.random.default_rng([params["seed"], _PLAN, subject, session])
            order = [(a, k) for k in range(params["clips_per_class"]) for a in CLASSES]
            order = [order[i] for i in rng.permutation(len(order))]
            cursor = randint(rng, 30, 300)
            for action, k in order:
                start = cursor + randint(rng, 15, 120)
                end = start + randint(rng, lo, hi + 1) - 1
                cursor = end
                n = len(specs)
                spelling = action
                if n % _VARIANT_EVERY == _VARIANT_EVERY // 2:
                    variants = LABEL_VARIANTS[action]
                    spelling = variants[(n // _VARIANT_EVERY) % len(variants)]
                shuffled = n % _SHUFFLED_EVERY == _SHUFFLED_EVERY // 2
                specs.append(ClipSpec(subject, session, action, k, start, end, split_of(subject), spelling, shuffled))
    return specs


def render_clip(spec: ClipSpec, frame_size: tuple[int, int], seed: int) -> tuple[Stage, Iterator[Frame]]:
    """The stage of a clip and a generator of its frames."""
    st = _stage(seed, (0, *spec.key), spec.subject, *frame_size)
    motion = _clip_motion(np.random.default_rng([seed, _MOTION, *spec.key]), st, spec.action)
    layout = get_layout(LAYOUT)

    def frames() -> Iterator[Frame]:
        for i in range(spec.length):
            t = i / max(1, spec.length - 1)
            yield render_frame(st, _sway(st, spec.start + i, motion(t)), layout)

    return st, frames()


def _truth(st: Stage) -> dict:
    return {"shelf_box": list(st.shelf_box), "shelf_side": "right" if st.side > 0 else "left",
            "hand": "left" if st.hand == 0 else "right", "person_height_px": round(st.place.scale, 1)}  # fmt: skip


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_clip_forms(root: str | Path, params: dict, forms: Sequence[str] = ("pose", "action"),
                     progress: bool = True) -> tuple[dict, dict]:  # fmt: skip
    """Render the planned clips once and write them as the pose form (``root/pose``) and/or the action form
    (``root/action``). ``params`` as :func:`make_params` returns. Returns (counts per form and split, truth)."""
    root = Path(root)
    width, height = params["frame_size"]
    seed = params["seed"]
    specs = plan_clips(params)
    splits = tuple(SPLIT_SUBJECTS)
    pose = {s: [] for s in splits}
    action = {s: [] for s in splits}
    if "pose" in forms:
        (root / "pose" / "images").mkdir(parents=True)
    if "action" in forms:
        (root / "action" / "frames").mkdir(parents=True)
    truth = {}
    for spec in tqdm(specs, desc="synthetic MERL clips", disable=not progress, unit="clip"):
        st, frames = render_clip(spec, (width, height), seed)
        truth[spec.clip_id] = {"split": spec.split, "action": spec.action, "spelling": spec.spelling,
                               "frames": spec.length, **_truth(st)}  # fmt: skip
        rng = np.random.default_rng([seed, _ANNOT, *spec.key])
        clip_records = []
        if "action" in forms:
            (root / "action" / "frames" / spec.clip_id).mkdir()
        for n, f in enumerate(frames, start=1):
            ok, buf = cv2.imencode(".jpg", f.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                raise OSError(f"JPEG encoding failed for clip {spec.clip_id} frame {n}")
            box = _jitter_box(rng, f.box, width, height)
            keypoints = _fork_keypoints(rng, f)
            empty_box = rng.random() < _EMPTY_BOX_RATE
            num_kp = 24 if rng.random() < 0.7 else sum(k[2] == 1 for k in keypoints)
            if "pose" in forms:
                name = f"{spec.stem}-{n:04d}.jpg"
                (root / "pose" / "images" / name).write_bytes(buf.tobytes())
                xywh = [round(float(v), 3) for v in (box[0], box[1], box[2] - box[0], box[3] - box[1])]
                pose[spec.split].append({"img_paths": name, "img_width": width, "img_height": height,
                                         "image_id": len(pose[spec.split]) + 1, "bbox": xywh,
                                         "num_keypoints": num_kp, "keypoints": keypoints})  # fmt: skip
            if "action" in forms:
                frame_file = root / "action" / "frames" / spec.clip_id / f"{n}.jpg"
                if "pose" in forms:  # the same bytes: share the file where the filesystem allows
                    _link_or_copy(root / "pose" / "images" / name, frame_file)
                else:
                    frame_file.write_bytes(buf.tobytes())
                clip_records.append({
                    "action": spec.spelling, "keypoints": [], "id": spec.clip_id,
                    "image": {"url": f"frames/{spec.clip_id}/{n}.jpg", "file_name": f"{n}.jpg", "width": width,
                              "height": height},
                    "person_bbox": [] if empty_box else [round(float(v), 3) for v in box],
                })  # fmt: skip
        if spec.shuffled:
            clip_records = [clip_records[i] for i in rng.permutation(len(clip_records))]
        action[spec.split].extend(clip_records)
    counts = {}
    if "pose" in forms:
        for split in splits:
            with (root / "pose" / f"merl_pose_{split}.pkl").open("wb") as fh:
                pickle.dump(pose[split], fh, protocol=4)
            (root / "pose" / f"merl_pose_{split}.json").write_text(json.dumps(pose[split]))
        counts["pose"] = {s: len(pose[s]) for s in splits}
    if "action" in forms:
        for split in splits:
            (root / "action" / f"merl_action_{split}.json").write_text(json.dumps(action[split]))
        counts["action"] = {s: {"records": len(action[s]), "clips": len({r["id"] for r in action[s]})}
                            for s in splits}  # fmt: skip
    return counts, truth


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


def _video_subjects(params: dict) -> list[tuple[int, int]]:
    return [(s, k) for s in default_subjects(params["num_subjects"]) for k in range(1, params["sessions"] + 1)]


def write_videos_form(root: str | Path, params: dict, progress: bool = True) -> tuple[dict, dict]:
    """Write the official-release form (``root/videos``). ``params`` as :func:`make_params` returns.
    Returns (per video stem: split and frame count, truth)."""
    out = Path(root) / "videos"
    (out / VIDEO_DIR).mkdir(parents=True)
    (out / LABEL_DIR).mkdir()
    width, height = params["video_size"]
    seed = params["seed"]
    layout = get_layout(LAYOUT)
    counts, truth, boxes_out = {}, {}, {}
    for subject, session in tqdm(_video_subjects(params), desc="synthetic MERL videos", disable=not progress,
                                 unit="video"):  # fmt: skip
        stem = f"{subject}_{session}"
        st = _stage(seed, (1, subject, session), subject, width, height)
        rng = np.random.default_rng([seed, _VIDEO, subject, session])
        length = int(params["video_frames"] * uniform(rng, 0.8, 1.2))
        segments = video_script(rng, st, length, tuple(params["clip_frames"]))
        box_rng = np.random.default_rng([seed, _ANNOT, 1000 + subject, session])
        path = out / VIDEO_DIR / f"{stem}_crop.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (width, height))
        if not writer.isOpened():
            raise OSError(f"cv2.VideoWriter cannot write {path} (mp4v)")
        tlabs: dict[str, list[list[int]]] = {a: [] for a in CLASSES}
        frame, boxes = 0, []
        try:
            for seg in segments:
                if seg.action is not None:
                    tlabs[seg.action].append([frame + 1, frame + seg.length])  # 1-based, inclusive
                for i in range(seg.length):
                    t = i / max(1, seg.length - 1) if seg.action is not None else (i + 1) / (seg.length + 1)
                    f = render_frame(st, _sway(st, frame, seg.motion(t)), layout)
                    writer.write(f.image)
                    boxes.append([round(float(v), 2) for v in _jitter_box(box_rng, f.box, width, height, 0.015)])
                    frame += 1
        finally:
            writer.release()
        cells = np.empty((len(CLASSES), 1), dtype=object)
        for i, a in enumerate(CLASSES):
            cells[i, 0] = np.array(tlabs[a], dtype=np.float64).reshape(-1, 2)
        scipy.io.savemat(str(out / LABEL_DIR / f"{stem}_label.mat"), {"tlabs": cells})
        boxes_out[stem] = boxes
        counts[stem] = {"split": split_of(subject), "num_frames": frame}
        truth[stem] = {"num_frames": frame, "segments": {a: tlabs[a] for a in CLASSES}, **_truth(st)}
    (out / "person_boxes.json").write_text(json.dumps(boxes_out))
    return counts, truth


# --- Dataset writing ----------------------------------------------------------------------------------------


def make_params(
    forms: Sequence[str] = FORMS,
    num_subjects: int = 6,
    clips_per_class: int = 3,
    sessions: int = 1,
    frame_size: Sequence[int] = (920, 680),
    clip_frames: Sequence[int] = (12, 40),
    video_size: Sequence[int] = (368, 272),
    video_frames: int = 300,
    seed: int = 0,
) -> dict:
    """Validated generator parameters (JSON-comparable: lists, forms in canonical order)."""
    unknown = set(forms) - set(FORMS)
    if not forms or unknown:
        raise ValueError(f"forms must be a non-empty subset of {FORMS}, got {list(forms)}")
    if not 1 <= num_subjects <= 41:
        raise ValueError(f"num_subjects must be in [1, 41], got {num_subjects}")
    if not (1 <= clips_per_class <= 1000 and 1 <= sessions <= 9):
        raise ValueError(f"need 1 <= clips_per_class <= 1000 and 1 <= sessions <= 9, got {clips_per_class}, {sessions}")
    for name, size in (("frame_size", frame_size), ("video_size", video_size)):
        if len(size) != 2 or not all(64 <= int(v) <= 4096 for v in size):
            raise ValueError(f"{name} must be (width, height), each in [64, 4096], got {list(size)}")
    if any(int(v) % 2 for v in video_size):
        raise ValueError(f"video_size must be even (mp4v), got {list(video_size)}")
    if len(clip_frames) != 2 or not 4 <= int(clip_frames[0]) <= int(clip_frames[1]) <= 500:
        raise ValueError(f"clip_frames must be (min, max) with 4 <= min <= max <= 500, got {list(clip_frames)}")
    if not 1 <= video_frames <= 100_000:
        raise ValueError(f"video_frames must be in [1, 100000], got {video_frames}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return {
        "forms": [f for f in FORMS if f in forms],
        "num_subjects": int(num_subjects),
        "clips_per_class": int(clips_per_class),
        "sessions": int(sessions),
        "frame_size": [int(v) for v in frame_size],
        "clip_frames": [int(v) for v in clip_frames],
        "video_size": [int(v) for v in video_size],
        "video_frames": int(video_frames),
        "seed": int(seed),
    }


def generate_synthetic_merl(
    root: str | Path,
    forms: Sequence[str] = FORMS,
    num_subjects: int = 6,
    clips_per_class: int = 3,
    sessions: int = 1,
    frame_size: Sequence[int] = (920, 680),
    clip_frames: Sequence[int] = (12, 40),
    video_size: Sequence[int] = (368, 272),
    video_frames: int = 300,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Write synthetic MERL Shopping data to ``root`` (missing or empty).

    Args:
        forms: which of ``pose``, ``action``, ``videos`` to write.
        num_subjects: subjects, taken in turn from the train, val and test ranges (see :func:`default_subjects`).
        clips_per_class: pose/action clips per subject, session and class.
        sessions: sessions (videos) per subject.
        frame_size: (width, height) of the pose/action frames; clip_frames: (min, max) frames per clip.
        video_size: (width, height) of the videos (even); video_frames: about how many frames per video.
        seed: the data are a function of the parameters.

    The data are built in a temporary sibling folder and renamed into place at the end, so an interrupted run
    leaves no ``root`` behind. Returns ``root``.
    """
    root = Path(root)
    p = make_params(forms, num_subjects, clips_per_class, sessions, frame_size, clip_frames, video_size,
                    video_frames, seed)  # fmt: skip
    if root.exists() and not synthetic_meta.is_empty_dir(root):
        raise FileExistsError(f"{root} exists and is not empty; use ensure_synthetic_merl to reuse it")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    log.info("generating synthetic MERL Shopping data at %s (forms %s)", root, ", ".join(p["forms"]))
    try:
        tmp.mkdir()
        counts, truth = {}, {}
        clip_forms = [f for f in p["forms"] if f in ("pose", "action")]
        if clip_forms:
            c, truth["clips"] = write_clip_forms(tmp, p, clip_forms, progress)
            counts.update(c)
        if "videos" in p["forms"]:
            counts["videos"], truth["videos"] = write_videos_form(tmp, p, progress)
        (tmp / TRUTH_FILE).write_text(json.dumps(truth))
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "params": p, "counts": counts,
                "frame_numbers": "1-based, inclusive"}  # fmt: skip
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp, root)  # atomic; fails if another process filled root meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote synthetic MERL data at %s in %.1f s", root, time.perf_counter() - start)
    return root


def read_meta(root: str | Path) -> dict | None:
    """The generator's meta of ``root``, or None if it is not a synthetic MERL folder."""
    return synthetic_meta.read_meta(root, META_FILE, FORMAT)


def _check_existing(root: Path, params: dict) -> None:
    """Raise unless ``root`` holds complete synthetic MERL data made with ``params``."""
    meta = synthetic_meta.check_meta(
        root, read_meta(root), params, FORMAT_VERSION, META_FILE, "har synthetic MERL data"
    )
    counts, missing = meta["counts"], []
    for split in SPLIT_SUBJECTS:
        if "pose" in counts:
            missing += [f for f in (f"pose/merl_pose_{split}.pkl", f"pose/merl_pose_{split}.json")
                        if not (root / f).is_file()]  # fmt: skip
        if "action" in counts and not (root / "action" / f"merl_action_{split}.json").is_file():
            missing.append(f"action/merl_action_{split}.json")
    if "pose" in counts:
        n = sum(1 for _ in (root / "pose" / "images").glob("*.jpg")) if (root / "pose" / "images").is_dir() else 0
        if n != sum(counts["pose"].values()):
            missing.append("pose/images/*.jpg")
    if "action" in counts:
        frames = root / "action" / "frames"
        n = sum(1 for _ in frames.glob("*/*.jpg")) if frames.is_dir() else 0
        if n != sum(c["records"] for c in counts["action"].values()):
            missing.append("action/frames/*/*.jpg")
    for stem in counts.get("videos", {}):
        missing += [f for f in (f"videos/{VIDEO_DIR}/{stem}_crop.mp4", f"videos/{LABEL_DIR}/{stem}_label.mat")
                    if not (root / f).is_file()]  # fmt: skip
    if missing:
        raise ValueError(
            f"synthetic MERL data at {root} are incomplete ({', '.join(missing[:5])} missing); "
            "delete them yourself or choose another root"
        )


def ensure_synthetic_merl(
    root: str | Path,
    forms: Sequence[str] = FORMS,
    num_subjects: int = 6,
    clips_per_class: int = 3,
    sessions: int = 1,
    frame_size: Sequence[int] = (920, 680),
    clip_frames: Sequence[int] = (12, 40),
    video_size: Sequence[int] = (368, 272),
    video_frames: int = 300,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Reuse the synthetic MERL data at ``root`` if made with these parameters, else generate them (arguments as
    :func:`generate_synthetic_merl`).

    Never deletes or overwrites an existing folder: a non-synthetic folder or different parameters raise.
    """
    root = Path(root)
    p = make_params(forms, num_subjects, clips_per_class, sessions, frame_size, clip_frames, video_size,
                    video_frames, seed)  # fmt: skip
    return synthetic_meta.ensure_generated(
        root,
        lambda: generate_synthetic_merl(root, progress=progress, **p),
        lambda r: _check_existing(r, p),
        read_meta,
        "synthetic MERL data",
        log,
    )


def main(argv: list[str] | None = None) -> None:
    d = make_params()
    parser = argparse.ArgumentParser(description="Write synthetic MERL Shopping data (pose, action, videos forms).")
    parser.add_argument("root", type=Path, help="folder to create (or reuse, if made with the same params)")
    parser.add_argument("--forms", nargs="+", choices=FORMS, default=list(FORMS))
    parser.add_argument("--num-subjects", type=int, default=d["num_subjects"])
    parser.add_argument("--clips-per-class", type=int, default=d["clips_per_class"])
    parser.add_argument("--sessions", type=int, default=d["sessions"])
    parser.add_argument("--frame-size", type=int, nargs=2, default=d["frame_size"], metavar=("W", "H"))
    parser.add_argument("--clip-frames", type=int, nargs=2, default=d["clip_frames"], metavar=("MIN", "MAX"))
    parser.add_argument("--video-size", type=int, nargs=2, default=d["video_size"], metavar=("W", "H"))
    parser.add_argument("--video-frames", type=int, default=d["video_frames"])
    parser.add_argument("--seed", type=int, default=d["seed"])
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ensure_synthetic_merl(
        args.root, forms=args.forms, num_subjects=args.num_subjects, clips_per_class=args.clips_per_class,
        sessions=args.sessions, frame_size=args.frame_size, clip_frames=args.clip_frames,
        video_size=args.video_size, video_frames=args.video_frames, seed=args.seed, progress=not args.no_progress,
    )  # fmt: skip


if __name__ == "__main__":
    main()
