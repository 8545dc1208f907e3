"""A small synthetic MPII Human Pose dataset, written in both of MPII's forms into one folder.

Each image is a 3D stick person (:mod:`har.synthetic.person3d`) in a random pose, seen by a pinhole camera from a
random direction and drawn on a cluttered background; sometimes a second, unselected person stands behind. Written
as users have MPII (:mod:`har.data.formats.mpii`)::

    ROOT/annotations.mat                     deephar's annot_tr / annot_val (rectidxs select the main person)
    ROOT/annotations/mpii_{train,val}.json   mmpose's entries (selected persons only)
    ROOT/annotations/mpii_gt_val.mat         mmpose's head boxes (headboxes_src, jnt_missing, pos_gt_src)
    ROOT/images/<9 digits>.jpg
    ROOT/synthetic_meta.json                 parameters and format version (ignored by the readers)

Annotations follow MPII's conventions: 1-based pixels; ``scale`` = person height / 200 (the crop, 250·scale around
``objpos`` moved down by 15·scale, then holds the person); the head box a square over the head; joints outside the
image or skipped by the annotator (3 %) not annotated (NaN); the second person annotated but not selected by
``rectidxs``; about 1 % of training persons selected without a pose (MPII has such rectangles: readers skip them).

Every image is drawn from its own generator ``np.random.default_rng([seed, split_code, index])``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from har.data.formats.mpii import MpiiImage, MpiiPerson
from har.data.formats.mpii_write import write_deephar_mpii_mat, write_mmpose_mpii
from har.geometry.camera import Camera
from har.synthetic.meta import check_meta, ensure_generated, read_meta, write_generated
from har.synthetic.person3d import (
    JOINTS,
    WIDTHS,
    Look,
    draw_person3d,
    forward_kinematics,
    place,
    ring_camera,
    sample_pose3d,
    standing_height,
)
from har.synthetic.scene import draw_background, draw_distractors

log = logging.getLogger(__name__)

FORMAT = "har.synthetic_mpii"
FORMAT_VERSION = 1
META_FILE = "synthetic_meta.json"
SPLITS = {"train": 1, "val": 2}
JPEG_QUALITY = 90
# MPII's 16 joints (har.data.formats.mpii.MPII_JOINTS) from person3d's canonical ones.
MPII_FROM_CANONICAL = np.array([JOINTS.index(n) for n in (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "neck", "head_top",
    "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)])  # fmt: skip
SKIPPED_JOINT_RATE = 0.03


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(lo + (hi - lo) * rng.random())


def _person(rng: np.random.Generator) -> np.ndarray:
    """Canonical world joints (len(JOINTS), 3) mm of a random person standing at the origin."""
    body = forward_kinematics(sample_pose3d(rng), _u(rng, 0.9, 1.1))
    return place(body, (0.0, 0.0, standing_height(body)), _u(rng, 0, 360))


def _framed_camera(rng, world: np.ndarray, size: tuple[int, int], height_frac: float, centre: np.ndarray) -> Camera:
    """A camera on a random ring position whose focal length and principal point put the person's projected
    extent ``height_frac`` of the image high, centred at ``centre`` px (a photo framed on its subject)."""
    w, h = size
    ring = ring_camera(_u(rng, 0, 360), size, radius=_u(rng, 3000, 6000), height=_u(rng, 600, 2000),
                       target=(0.0, 0.0, _u(rng, 700, 1100)), k=(0.0, 0.0, 0.0), p=(0.0, 0.0))  # fmt: skip
    x = ring.world_to_camera(world)
    ab = x[:, :2] / x[:, 2:3]
    lo, hi = ab.min(axis=0), ab.max(axis=0)
    f = height_frac * h / max(hi[1] - lo[1], 1e-6)
    c = np.asarray(centre, np.float64) - f * (lo + hi) / 2
    return Camera(ring.R, ring.T, np.array([f, f]), c, np.zeros(3), np.zeros(2))


def _annotate(rng, uvd: np.ndarray, camera: Camera, size: tuple[int, int], skip_rate: float) -> MpiiPerson:
    """MPII's annotation (1-based pixels) of a drawn person from its canonical uvd."""
    w, h = size
    xy = uvd[MPII_FROM_CANONICAL, :2].copy()
    lo, hi = uvd[:, :2].min(axis=0), uvd[:, :2].max(axis=0)
    scale = (hi[1] - lo[1]) / 200.0 * _u(rng, 1.0, 1.12)
    centre = (lo + hi) / 2 + rng.normal(0, 0.03 * 200 * scale, 2)
    objpos = centre - np.array([0.0, 15.0 * scale])
    outside = (xy < -0.5).any(axis=1) | (xy[:, 0] > w - 0.5) | (xy[:, 1] > h - 0.5)
    skipped = rng.random(16) < skip_rate
    xy[outside | skipped] = np.nan
    neck, top = uvd[JOINTS.index("neck"), :2], uvd[JOINTS.index("head_top"), :2]
    head_depth = uvd[JOINTS.index("head"), 2]
    side = max(float(np.linalg.norm(top - neck)), float(camera.f[0]) * WIDTHS["head"] / head_depth)
    mid = (neck + top) / 2
    head = np.concatenate([mid - side / 2, mid + side / 2])
    return MpiiPerson(objpos=(objpos + 1).tolist(), scale=float(scale), head=(head + 1).tolist(), pose=xy + 1)


def render_image(rng: np.random.Generator, size: tuple[int, int], split: str) -> tuple[np.ndarray, list, list]:
    """One RGB image (h, w, 3) uint8 and its persons (MPII records) and the selected ones' positions."""
    w, h = size
    image = draw_background(rng, w, h)
    draw_distractors(rng, image)
    main = _person(rng)
    truncated = rng.random() < 0.1
    centre = np.array([_u(rng, 0.35, 0.65) * w, _u(rng, 0.4, 0.6) * h])
    if truncated:  # partly out of the picture: its outer joints are not annotated
        centre += np.array([_u(rng, -0.15, 0.15) * w, _u(rng, 0.1, 0.25) * h])
    camera = _framed_camera(rng, main, size, _u(rng, 0.5, 0.9), centre)
    persons, order = [], []
    if rng.random() < 0.15:  # a second person, farther away and not selected
        R = camera.R
        forward = R[2] / np.linalg.norm(R[2][:2]) if np.linalg.norm(R[2][:2]) > 0 else R[2]
        other = _person(rng) + np.array([*(forward[:2] * _u(rng, 1500, 3000)), 0.0]) + np.array(
            [*(R[0][:2] * _u(rng, -1500, 1500)), 0.0])  # fmt: skip
        if (camera.world_to_camera(other)[:, 2] > 300).all():
            uvd = draw_person3d(image, other, camera, Look.sample(rng))
            persons.append(_annotate(rng, uvd, camera, size, SKIPPED_JOINT_RATE))
    uvd = draw_person3d(image, main, camera, Look.sample(rng))
    main_record = _annotate(rng, uvd, camera, size, SKIPPED_JOINT_RATE)
    if split == "train" and rng.random() < 0.01:
        main_record.pose = None  # selected, but without joints: readers skip it
    persons.append(main_record)
    order.append(len(persons) - 1)
    if len(persons) > 1 and rng.random() < 0.5:  # the selected person is not always the last rectangle
        persons.reverse()
        order = [0]
    if rng.random() < 0.2:
        image = cv2.GaussianBlur(image, (3, 3), 0)
    return image, persons, order


def _params(num_train: int, num_val: int, seed: int, min_size: int, max_size: int) -> dict:
    if not (0 <= num_train < 10**8 and 0 <= num_val < 10**8):
        raise ValueError(f"num_train and num_val must be in [0, 1e8), got {num_train}, {num_val}")
    if not (64 <= min_size <= max_size):
        raise ValueError(f"need 64 <= min_size <= max_size, got {min_size}, {max_size}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    names = ("num_train", "num_val", "seed", "min_size", "max_size")
    return dict(zip(names, map(int, (num_train, num_val, seed, min_size, max_size))))


def _write_split(folder: Path, split: str, params: dict) -> list[MpiiImage]:
    code = SPLITS[split]
    images = []
    for index in range(params[f"num_{split}"]):
        rng = np.random.default_rng([params["seed"], code, index])
        size = tuple(int(v) for v in rng.integers(params["min_size"], params["max_size"] + 1, size=2))
        image, persons, selected = render_image(rng, size, split)
        name = f"{code}{index:08d}.jpg"
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise OSError(f"JPEG encoding failed for {name}")
        (folder / "images" / name).write_bytes(buf.tobytes())
        images.append(MpiiImage(name, persons, selected))
    return images


def generate_synthetic_mpii(root: str | Path, num_train: int = 1500, num_val: int = 200, seed: int = 0,
                            min_size: int = 224, max_size: int = 320) -> Path:  # fmt: skip
    """Write the synthetic MPII dataset (both forms) to ``root`` (missing or empty), atomically. Returns ``root``."""
    params = _params(num_train, num_val, seed, min_size, max_size)

    def write(folder: Path) -> dict:
        (folder / "images").mkdir(parents=True)
        splits = {s: _write_split(folder, s, params) for s in SPLITS}
        write_deephar_mpii_mat(folder / "annotations.mat", splits["train"], splits["val"])
        write_mmpose_mpii(folder / "annotations" / "mpii_train.json", splits["train"])
        write_mmpose_mpii(folder / "annotations" / "mpii_val.json", splits["val"],
                          folder / "annotations" / "mpii_gt_val.mat")  # fmt: skip
        return {"counts": {s: len(v) for s, v in splits.items()}}

    meta = {"format": FORMAT, "version": FORMAT_VERSION, "params": params}
    return write_generated(Path(root), write, meta, META_FILE, "a synthetic MPII dataset", log)


def _read_meta(root: Path) -> dict | None:
    return read_meta(root, META_FILE, FORMAT)


def _check_existing(root: Path, params: dict) -> None:
    meta = check_meta(root, _read_meta(root), params, FORMAT_VERSION, META_FILE, "a har synthetic MPII dataset")
    expected = sum(meta["counts"].values())
    have = sum(1 for _ in (root / "images").glob("*.jpg")) if (root / "images").is_dir() else 0
    files = [root / "annotations.mat", *(root / "annotations" / f"mpii_{s}.json" for s in SPLITS)]
    if have != expected or not all(f.is_file() for f in files):
        raise ValueError(f"synthetic MPII data at {root} is incomplete; delete it yourself or choose another root")


def ensure_synthetic_mpii(root: str | Path, num_train: int = 1500, num_val: int = 200, seed: int = 0,
                          min_size: int = 224, max_size: int = 320) -> Path:  # fmt: skip
    """Reuse the synthetic MPII dataset at ``root`` if made with these parameters, else generate it (never deletes
    or overwrites an existing folder)."""
    root = Path(root)
    params = _params(num_train, num_val, seed, min_size, max_size)
    return ensure_generated(
        root, lambda: generate_synthetic_mpii(root, **params), lambda r: _check_existing(r, params), _read_meta,
        "synthetic MPII dataset", log,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Write a synthetic MPII dataset in both forms.")
    parser.add_argument("root", type=Path, help="folder to create (or reuse, if made with the same parameters)")
    parser.add_argument("--num-train", type=int, default=1500)
    parser.add_argument("--num-val", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-size", type=int, default=224)
    parser.add_argument("--max-size", type=int, default=320)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ensure_synthetic_mpii(args.root, args.num_train, args.num_val, args.seed, args.min_size, args.max_size)


if __name__ == "__main__":
    main()
