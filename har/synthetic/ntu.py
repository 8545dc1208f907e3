"""A small synthetic NTU RGB+D 60, written in both forms the reader knows, generated on first use.

A 3D stick person (:mod:`har.synthetic.person3d`) performs one of a few NTU actions (:mod:`har.synthetic.motions`:
hand waving, clapping, kicking something, jump up, salute, cross hands in front by default) in front of one of three
Kinect-like cameras (camera 1 frontal, 2 and 3 turned ±30°). Each frame gives the 25 Kinect joints' u, v (pixels of
the frames written) and depth (camera depth, mm). Sample ids ``S001CcccPpppRrrrAaaa`` take training performers from
the cross-subject training subjects and test performers from the others, so ``xsub`` splits them as NTU does.

Layout under ``root``::

    official/nturgb+d_skeletons/<id>.skeleton      colorX, colorY = u, v in the video's pixels; z = depth / 1000
    official/nturgb+d_rgb/<id>_rgb.avi             MJPG, ``frame_size``
    deephar/nturgb+d_numpy/<id>.npy                frame, 75 camera-space values, u, v (× 2: "full" resolution), depth
    deephar/images-small/<id>/%05d.jpg             the same frames, ``frame_size`` (deephar halves u, v to read them)
    synthetic_meta.json
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from har.data.formats.ntu import NTU60_CLASSES, NUMPY_DIR, SKELETONS_DIR, XSUB_TRAIN_SUBJECTS, NtuSampleId
from har.data.formats.ntu_write import (
    SkeletonBody,
    deephar_npy_rows,
    kinect_joints,
    write_deephar_npy,
    write_ntu_frames,
    write_ntu_video,
    write_skeleton,
)
from har.synthetic import meta as synthetic_meta
from har.synthetic.motions import MOTIONS, Motion, background, camera_for, draw_performance, perform
from har.synthetic.person3d import KINECT_FROM_CANONICAL, draw_person3d

log = logging.getLogger(__name__)

FORMAT, FORMAT_VERSION, META_FILE = "har.synthetic_ntu", 1, "synthetic_meta.json"
SYNTHETIC_FORMS = ("official", "deephar")
DEFAULT_ACTIONS = (23, 10, 24, 27, 38, 40)  # hand waving, clapping, kicking something, jump up, salute, cross hands
CAMERA_YAW = {1: 0.0, 2: 30.0, 3: -30.0}
TRAIN_SUBJECTS = sorted(XSUB_TRAIN_SUBJECTS)
TEST_SUBJECTS = sorted(set(range(1, 41)) - XSUB_TRAIN_SUBJECTS)


def make_params(actions: Sequence[int] = DEFAULT_ACTIONS, train_per_class: int = 20, test_per_class: int = 5,
                frame_size: Sequence[int] = (192, 108), frames: Sequence[int] = (40, 70),
                seed: int = 0) -> dict:  # fmt: skip
    """Validated generator parameters (JSON-comparable)."""
    unknown = [a for a in actions if not 1 <= int(a) <= 60 or NTU60_CLASSES[int(a) - 1] not in MOTIONS]
    if not actions or unknown:
        known = [i + 1 for i, c in enumerate(NTU60_CLASSES) if c in MOTIONS]
        raise ValueError(f"actions {unknown or list(actions)}: expected NTU action ids with a motion ({known})")
    if not (1 <= train_per_class <= 120 and 1 <= test_per_class <= 120):
        raise ValueError(f"videos per class must be in [1, 120], got {train_per_class}, {test_per_class}")
    if len(frame_size) != 2 or not all(32 <= int(v) <= 1920 for v in frame_size):
        raise ValueError(f"frame_size must be (width, height), each in [32, 1920], got {list(frame_size)}")
    if len(frames) != 2 or not 2 <= int(frames[0]) <= int(frames[1]) <= 1000:
        raise ValueError(f"frames must be (min, max) with 2 <= min <= max <= 1000, got {list(frames)}")
    return {
        "actions": [int(a) for a in actions],
        "train_per_class": int(train_per_class),
        "test_per_class": int(test_per_class),
        "frame_size": [int(v) for v in frame_size],
        "frames": [int(v) for v in frames],
        "seed": int(seed),
    }


def plan_samples(p: dict) -> list[NtuSampleId]:
    """Sample ids: per action, training performances (subject, camera, replication) from the cross-subject
    training subjects, test ones from the others."""
    out = []
    for subjects, count in ((TRAIN_SUBJECTS, p["train_per_class"]), (TEST_SUBJECTS, p["test_per_class"])):
        combos = [(s, c, r) for s in subjects for r in (1, 2) for c in (1, 2, 3)]
        for action in p["actions"]:
            out += [NtuSampleId(1, c, s, r, action) for s, c, r in combos[:count]]
    return sorted(out, key=lambda x: x.name)


def render_sample(sample: NtuSampleId, p: dict) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames (each (H, W, 3) uint8 RGB) and Kinect joints' uvd (n, 25, 3) of one sample (u, v in the frames'
    pixels, depth in mm)."""
    rng = np.random.default_rng([p["seed"], sample.setup, sample.camera, sample.subject, sample.replication,
                                 sample.action])  # fmt: skip
    motion: Motion = MOTIONS[NTU60_CLASSES[sample.action - 1]]
    size = tuple(p["frame_size"])
    n = int(rng.integers(p["frames"][0], p["frames"][1] + 1))
    how = draw_performance(motion, rng)
    how = type(how)(**{**how.__dict__, "yaw": how.yaw * 0.5 + CAMERA_YAW[sample.camera]})
    camera = camera_for(size, rng)
    back = background(size, rng)
    frames, uvd = [], []
    for joints in perform(motion, how, n):
        image = back.copy()
        uvd.append(draw_person3d(image, joints, camera, how.look)[KINECT_FROM_CANONICAL])
        frames.append(image)
    return frames, np.stack(uvd)


def write_forms(folder: Path, p: dict) -> dict:
    """Both forms under ``folder``; returns the meta's counts."""
    official, deephar = folder / "official", folder / "deephar"
    size = tuple(p["frame_size"])
    samples = plan_samples(p)
    total = 0
    for sample in samples:
        frames, uvd = render_sample(sample, p)
        n = len(frames)
        total += n
        body_id = 72057594037900000 + sample.subject
        write_skeleton(official, sample.name,
                       [[SkeletonBody(body_id, kinect_joints(f[:, 0], f[:, 1], f[:, 2]))] for f in uvd])  # fmt: skip
        write_ntu_video(official, sample.name, n, size, lambda k, frames=frames: frames[k - 1])
        numbers = np.arange(1, n + 1)
        full = uvd.copy()
        full[..., :2] *= 2  # deephar's u, v are in 1920×1080 pixels, halved for images-small
        write_deephar_npy(deephar, sample.name, deephar_npy_rows(numbers, full))
        write_ntu_frames(deephar, sample.name, numbers, size, lambda k, frames=frames: frames[k - 1])
    train = sum(s.subject in XSUB_TRAIN_SUBJECTS for s in samples)
    return {"counts": {"train": train, "test": len(samples) - train, "frames": total}}


def generate_synthetic_ntu(root: str | Path, **params) -> Path:
    """Write a synthetic NTU RGB+D (both forms) to ``root`` (missing or empty); arguments: :func:`make_params`."""
    p = make_params(**params)
    log.info("generating synthetic NTU RGB+D at %s (%d actions)", root, len(p["actions"]))
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "params": p}
    return synthetic_meta.write_generated(Path(root), lambda f: write_forms(f, p), meta, META_FILE,
                                          "synthetic NTU RGB+D", log)  # fmt: skip


def read_meta(root: str | Path) -> dict | None:
    """The generator's meta of ``root``, or None if it is not a synthetic NTU folder."""
    return synthetic_meta.read_meta(root, META_FILE, FORMAT)


def _check_existing(root: Path, p: dict) -> None:
    meta = synthetic_meta.check_meta(root, read_meta(root), p, FORMAT_VERSION, META_FILE, "har synthetic NTU RGB+D")
    expected = meta["counts"]["train"] + meta["counts"]["test"]
    have = (len(list((root / "official" / SKELETONS_DIR).glob("*.skeleton"))),
            len(list((root / "deephar" / NUMPY_DIR).glob("*.npy"))))  # fmt: skip
    if have != (expected, expected):
        raise ValueError(f"synthetic NTU RGB+D at {root} is incomplete ({have} of {expected} skeleton / npy files); "
                         "delete it yourself or choose another root")  # fmt: skip


def ensure_synthetic_ntu(root: str | Path, **params) -> Path:
    """Reuse the synthetic NTU RGB+D at ``root`` if made with these parameters, else generate it. Never deletes or
    overwrites an existing folder."""
    root, p = Path(root), make_params(**params)
    return synthetic_meta.ensure_generated(root, lambda: generate_synthetic_ntu(root, **p),
                                           lambda r: _check_existing(r, p), read_meta, "synthetic NTU RGB+D",
                                           log)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    d = make_params()
    parser = argparse.ArgumentParser(description="Write a synthetic NTU RGB+D (official and deephar forms).")
    parser.add_argument("root", type=Path)
    parser.add_argument("--actions", type=int, nargs="+", default=d["actions"])
    parser.add_argument("--train-per-class", type=int, default=d["train_per_class"])
    parser.add_argument("--test-per-class", type=int, default=d["test_per_class"])
    parser.add_argument("--frame-size", type=int, nargs=2, default=d["frame_size"], metavar=("W", "H"))
    parser.add_argument("--frames", type=int, nargs=2, default=d["frames"], metavar=("MIN", "MAX"))
    parser.add_argument("--seed", type=int, default=d["seed"])
    a = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ensure_synthetic_ntu(a.root, actions=a.actions, train_per_class=a.train_per_class, test_per_class=a.test_per_class,
                         frame_size=a.frame_size, frames=a.frames, seed=a.seed)  # fmt: skip
    print(json.dumps(read_meta(a.root)["counts"]))


if __name__ == "__main__":
    main()
