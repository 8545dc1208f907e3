"""A small synthetic Penn Action, written in both forms the reader knows, generated on first use.

A 3D stick person (:mod:`har.synthetic.person3d`) performs one of a few Penn Action classes
(:mod:`har.synthetic.motions`: jumping jacks, squats, pull-ups, forehands, golf swings, guitar strumming by default),
seen by a camera in front of it; every fifth video is portrait. Its 13 Penn joints are the person's head and
anatomical left/right shoulders, elbows, wrists, hips, knees, ankles in the official order (left before right); joints
outside the frame, and ~4 % at random (an "annotator's" occlusion), get visibility 0.

Layout under ``root``::

    official/labels/%04d.mat + official/frames/%04d/%06d.jpg          the official release
    deephar/annotations.mat + deephar/frames/... (hard links)          deephar's form, with
    deephar/penn_pred_bboxes_multitask.json                            TPAMI-style predicted boxes (jittered)
    synthetic_meta.json

The data are a function of the parameters (``seed`` included); the whole tree is written to a temporary folder and
renamed into place (:func:`har.synthetic.meta.write_generated`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from har.data.formats.penn import DEEPHAR_ANNOTATIONS, FRAMES_DIR, LABELS_DIR, PENN_CLASSES
from har.data.formats.penn_write import PennVideo, write_boxes_tpami, write_penn_deephar, write_penn_official
from har.synthetic import meta as synthetic_meta
from har.synthetic.motions import MOTIONS, render_video
from har.synthetic.person3d import J

log = logging.getLogger(__name__)

FORMAT, FORMAT_VERSION, META_FILE = "har.synthetic_penn", 1, "synthetic_meta.json"
SYNTHETIC_FORMS = ("official", "deephar")
BOXES_FILE = "penn_pred_bboxes_multitask.json"
DEFAULT_CLASSES = ("jumping_jacks", "squat", "pullup", "tennis_forehand", "golf_swing", "strum_guitar")
# The 13 Penn joints (official order) from the canonical ones.
PENN_FROM_CANONICAL = np.array([J[n] for n in (
    "head", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee",
    "r_knee", "l_ankle", "r_ankle",
)])  # fmt: skip
_OCCLUDED_RATE = 0.04


def make_params(classes: Sequence[str] = DEFAULT_CLASSES, train_per_class: int = 20, test_per_class: int = 5,
                frame_size: Sequence[int] = (160, 120), frames: Sequence[int] = (28, 56),
                seed: int = 0) -> dict:  # fmt: skip
    """Validated generator parameters (JSON-comparable)."""
    unknown = [c for c in classes if c not in PENN_CLASSES or c not in MOTIONS]
    if not classes or unknown:
        raise ValueError(f"classes {unknown or list(classes)}: expected Penn classes with a synthetic motion "
                         f"({', '.join(c for c in PENN_CLASSES if c in MOTIONS)})")  # fmt: skip
    if not (1 <= train_per_class <= 500 and 1 <= test_per_class <= 500):
        raise ValueError(f"videos per class must be in [1, 500], got {train_per_class}, {test_per_class}")
    if len(frame_size) != 2 or not all(32 <= int(v) <= 1024 for v in frame_size):
        raise ValueError(f"frame_size must be (width, height), each in [32, 1024], got {list(frame_size)}")
    if len(frames) != 2 or not 2 <= int(frames[0]) <= int(frames[1]) <= 1000:
        raise ValueError(f"frames must be (min, max) with 2 <= min <= max <= 1000, got {list(frames)}")
    return {
        "classes": list(classes),
        "train_per_class": int(train_per_class),
        "test_per_class": int(test_per_class),
        "frame_size": [int(v) for v in frame_size],
        "frames": [int(v) for v in frames],
        "seed": int(seed),
    }


def plan_videos(p: dict) -> list[tuple[int, str, bool]]:
    """(video id, class, train) per video: classes interleaved, training videos first."""
    plan, video_id = [], 1
    for train, count in ((True, p["train_per_class"]), (False, p["test_per_class"])):
        for _ in range(count):
            for name in p["classes"]:
                plan.append((video_id, name, train))
                video_id += 1
    return plan


def penn_video(video_id: int, action: str, train: bool, p: dict) -> tuple[PennVideo, list[np.ndarray]]:
    """The labels and frames of one synthetic video (a function of the parameters and ``video_id``)."""
    rng = np.random.default_rng([p["seed"], video_id])
    w, h = p["frame_size"]
    size = (h, w) if video_id % 5 == 0 else (w, h)  # every fifth video portrait
    n = int(rng.integers(p["frames"][0], p["frames"][1] + 1))
    frames, uvd = render_video(MOTIONS[action], n, size, rng)
    x, y = uvd[:, PENN_FROM_CANONICAL, 0], uvd[:, PENN_FROM_CANONICAL, 1]
    inside = (x >= 0) & (x <= size[0] - 1) & (y >= 0) & (y <= size[1] - 1)
    visible = inside & (rng.random(x.shape) >= _OCCLUDED_RATE)
    video = PennVideo(video_id, action, x, y, visible.astype(np.uint8), train, size, view="front")
    return video, frames


def _jittered_box(video: PennVideo, t: int, rng: np.random.Generator) -> list[float]:
    """A detector-like box of frame t: the joints' box grown by ~20 % and jittered, in integer pixels."""
    x1, y1, x2, y2 = video.joint_boxes()[t]
    cx, cy, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * 1.2, (y2 - y1) * 1.2
    cx, cy = cx + rng.normal(0, 0.03) * bw, cy + rng.normal(0, 0.03) * bh
    return [float(round(cx - bw / 2)), float(round(cy - bh / 2)), float(round(cx + bw / 2)), float(round(cy + bh / 2))]


def _link_tree(src: Path, dst: Path) -> None:
    """``dst`` holds hard links (copies where links fail) of ``src``'s files."""
    for folder, _, files in os.walk(src):
        target = dst / Path(folder).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            try:
                os.link(Path(folder) / name, target / name)
            except OSError:
                shutil.copyfile(Path(folder) / name, target / name)


def write_forms(folder: Path, p: dict) -> dict:
    """Both forms under ``folder``; returns the meta's counts."""
    official, deephar = folder / "official", folder / "deephar"
    videos, boxes = [], {True: {}, False: {}}
    position = {True: 0, False: 0}
    for video_id, action, train in plan_videos(p):
        video, frames = penn_video(video_id, action, train, p)
        write_penn_official(official, [video], frame_image=lambda v, n, frames=frames: frames[n - 1])
        rng = np.random.default_rng([p["seed"], video_id, 1])
        for t in range(len(frames)):
            boxes[train][(position[train], t)] = _jittered_box(video, t, rng)
        position[train] += 1
        videos.append(video)
    _link_tree(official / FRAMES_DIR, deephar / FRAMES_DIR)
    write_penn_deephar(deephar, videos, frames=False)
    write_boxes_tpami(deephar / BOXES_FILE, boxes[False], boxes[True])
    return {"counts": {"train": sum(v.train for v in videos), "test": sum(not v.train for v in videos),
                       "frames": sum(len(v.x) for v in videos)}}  # fmt: skip


def generate_synthetic_penn(root: str | Path, **params) -> Path:
    """Write a synthetic Penn Action (both forms) to ``root`` (missing or empty); arguments: :func:`make_params`."""
    p = make_params(**params)
    log.info("generating synthetic Penn Action at %s (%d classes)", root, len(p["classes"]))
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "params": p}
    return synthetic_meta.write_generated(Path(root), lambda f: write_forms(f, p), meta, META_FILE,
                                          "synthetic Penn Action", log)  # fmt: skip


def read_meta(root: str | Path) -> dict | None:
    """The generator's meta of ``root``, or None if it is not a synthetic Penn Action folder."""
    return synthetic_meta.read_meta(root, META_FILE, FORMAT)


def _check_existing(root: Path, p: dict) -> None:
    meta = synthetic_meta.check_meta(root, read_meta(root), p, FORMAT_VERSION, META_FILE, "har synthetic Penn Action")
    expected = meta["counts"]["train"] + meta["counts"]["test"]
    labels = len(list((root / "official" / LABELS_DIR).glob("*.mat")))
    if labels != expected or not (root / "deephar" / DEEPHAR_ANNOTATIONS).is_file():
        raise ValueError(f"synthetic Penn Action at {root} is incomplete ({labels} of {expected} label files, "
                         f"deephar/{DEEPHAR_ANNOTATIONS}); delete it yourself or choose another root")  # fmt: skip


def ensure_synthetic_penn(root: str | Path, **params) -> Path:
    """Reuse the synthetic Penn Action at ``root`` if made with these parameters, else generate it. Never deletes or
    overwrites an existing folder."""
    root, p = Path(root), make_params(**params)
    return synthetic_meta.ensure_generated(root, lambda: generate_synthetic_penn(root, **p),
                                           lambda r: _check_existing(r, p), read_meta, "synthetic Penn Action",
                                           log)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    d = make_params()
    parser = argparse.ArgumentParser(description="Write a synthetic Penn Action (official and deephar forms).")
    parser.add_argument("root", type=Path)
    parser.add_argument("--classes", nargs="+", default=d["classes"])
    parser.add_argument("--train-per-class", type=int, default=d["train_per_class"])
    parser.add_argument("--test-per-class", type=int, default=d["test_per_class"])
    parser.add_argument("--frame-size", type=int, nargs=2, default=d["frame_size"], metavar=("W", "H"))
    parser.add_argument("--frames", type=int, nargs=2, default=d["frames"], metavar=("MIN", "MAX"))
    parser.add_argument("--seed", type=int, default=d["seed"])
    a = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ensure_synthetic_penn(
        a.root,
        classes=a.classes,
        train_per_class=a.train_per_class,
        test_per_class=a.test_per_class,
        frame_size=a.frame_size,
        frames=a.frames,
        seed=a.seed,
    )
    print(json.dumps(read_meta(a.root)["counts"]))


if __name__ == "__main__":
    main()
