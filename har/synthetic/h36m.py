"""A small synthetic Human3.6M dataset, written in both of its forms into one folder.

Subjects (1, 5, 6, 7, 8 train; 9, 11 val), each with its own body size, look and calibrated cameras (four on a ring
around the capture volume, with lens distortion of Human3.6M's order: :func:`har.synthetic.person3d.ring_camera`)
and a fixed background per camera, perform the 15 actions: a 3D stick person (:mod:`har.synthetic.person3d`) moving
from one random pose to another while walking and turning. Each 3D pose is seen by the four cameras. Written as users
have Human3.6M (:mod:`har.data.formats.h36m`)::

    ROOT/annotations.mat                                   deephar's sequences_tr / sequences_val, labels
    ROOT/images/aAA_sSS_eEE_cCC/%05d.jpg                   deephar's frames (1-based video frame numbers)
    ROOT/annotation_body3d/fps50/h36m_{train,test}.npz     mmpose's annotations, with cameras.pkl
    ROOT/images/S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg    the same frames (hard links)
    ROOT/synthetic_meta.json                               parameters and format version (ignored by the readers)

Frames are the ones deephar extracts: every 5th video frame for training subjects (1, 6, 11, …), every 64th for
validation (1, 65, …); mmpose's ``fps50`` file holds those same frames (the rendered ones). As in the real data
(deephar's ``vid2jpeg.txt`` lacks S11 Directions e02 c01), deephar's file lists one validation sequence,
``a02_s11_e02_c01``, whose images were never extracted: readers skip it (counted) when they check images.

Every sequence is drawn from its own generator ``np.random.default_rng([seed, subject, action, subaction])``.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from har.data.formats.h36m import (
    ACTIONS,
    CAMERA_IDS,
    FRAME_STEP,
    SPLIT_SUBJECTS,
    H36mSequence,
)
from har.data.formats.h36m_write import write_deephar_h36m_mat, write_mmpose_h36m
from har.synthetic.meta import check_meta, ensure_generated, read_meta, write_generated
from har.synthetic.person3d import (
    H36M_FROM_CANONICAL,
    JOINTS,
    Look,
    draw_person3d,
    forward_kinematics,
    place,
    ring_camera,
    sample_pose3d,
    standing_height,
)
from har.synthetic.scene import draw_background

log = logging.getLogger(__name__)

FORMAT = "har.synthetic_h36m"
FORMAT_VERSION = 1
META_FILE = "synthetic_meta.json"
JPEG_QUALITY = 90
MISSING_SEQUENCE = (11, 2, 2, 1)  # subject, action, sub-action, camera: in deephar's file, without images


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(lo + (hi - lo) * rng.random())


def subject_cameras(seed: int, subject: int, image_size: tuple[int, int]) -> list:
    """The four calibrated cameras of a subject's sessions (slightly different per subject, as Human3.6M's)."""
    rng = np.random.default_rng([seed, subject, 0, 0, 1])
    return [
        ring_camera(45.0 + 90.0 * c + _u(rng, -4, 4), image_size, radius=_u(rng, 4300, 4800),
                    height=_u(rng, 1300, 1700), target=(_u(rng, -100, 100), _u(rng, -100, 100), 1000.0))
        for c in range(4)
    ]  # fmt: skip


def sequence_motion(rng: np.random.Generator, num_frames: int, body_scale: float) -> np.ndarray:
    """World joints (num_frames, len(JOINTS), 3) mm, person3d's canonical joints: one pose turning into another
    while the person walks and turns inside the capture volume (``[..., H36M_FROM_CANONICAL, :]``: Human3.6M's
    32)."""
    start, end = sample_pose3d(rng), sample_pose3d(rng)
    position = np.array([_u(rng, -700, 700), _u(rng, -700, 700)])
    velocity = rng.normal(0, 250, 2)
    yaw, turn = _u(rng, 0, 360), _u(rng, -60, 60)
    out = np.empty((num_frames, len(JOINTS), 3))
    for t in range(num_frames):
        w = t / max(num_frames - 1, 1)
        body = forward_kinematics(start.blend(end, w), body_scale)
        xy = np.clip(position + velocity * w, -1200, 1200)
        out[t] = place(body, (xy[0], xy[1], standing_height(body)), yaw + turn * w)
    return out


def _mmpose_name(seq: H36mSequence, frame: int) -> str:
    base = f"S{seq.subject}_{ACTIONS[seq.action]}_{seq.subaction}.{CAMERA_IDS[seq.camera - 1]}"
    return f"S{seq.subject}/{base}/{base}_{frame:06d}.jpg"


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # a file system without hard links
        shutil.copyfile(src, dst)


def _write_split(folder: Path, split: str, params: dict) -> list[H36mSequence]:
    """Render a split's sequences into ``folder/images`` (both layouts); return them."""
    size = (params["width"], params["height"])
    step, num_frames = FRAME_STEP[split], params[f"{split}_frames"]
    sequences = []
    for subject in SPLIT_SUBJECTS[split]:
        srng = np.random.default_rng([params["seed"], subject, 0, 0])
        body_scale, look = _u(srng, 0.9, 1.1), Look.sample(srng)
        cameras = subject_cameras(params["seed"], subject, size)
        backgrounds = [draw_background(srng, *size) for _ in cameras]
        for action in ACTIONS:
            for subaction in range(1, params["subactions"] + 1):
                rng = np.random.default_rng([params["seed"], subject, action, subaction])
                canonical = sequence_motion(rng, num_frames, body_scale)
                world = canonical[:, H36M_FROM_CANONICAL]
                frames = 1 + step * np.arange(num_frames)
                for c, camera in enumerate(cameras):
                    seq = H36mSequence(subject, action, subaction, c + 1, camera, frames, world, *size)
                    sequences.append(seq)
                    for t, f in enumerate(frames.tolist()):
                        image = backgrounds[c].copy()
                        draw_person3d(image, canonical[t], camera, look)
                        path = folder / "images" / seq.name / f"{f:05d}.jpg"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                               [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])  # fmt: skip
                        if not ok:
                            raise OSError(f"JPEG encoding failed for {path}")
                        path.write_bytes(buf.tobytes())
                        _link(path, folder / "images" / _mmpose_name(seq, f))
    return sequences


def _missing_sequence(params: dict) -> H36mSequence:
    """deephar's file lists this validation sequence; its frames are never written (module docstring)."""
    subject, action, subaction, camera = MISSING_SEQUENCE
    size = (params["width"], params["height"])
    rng = np.random.default_rng([params["seed"], subject, action, subaction])
    world = sequence_motion(rng, params["val_frames"], 1.0)[:, H36M_FROM_CANONICAL]
    frames = 1 + FRAME_STEP["val"] * np.arange(params["val_frames"])
    cam = subject_cameras(params["seed"], subject, size)[camera - 1]
    return H36mSequence(subject, action, subaction, camera, cam, frames, world, *size)


def _params(train_frames: int, val_frames: int, subactions: int, width: int, height: int, seed: int) -> dict:
    if not (1 <= train_frames <= 1000 and 1 <= val_frames <= 1000):
        raise ValueError(f"train_frames and val_frames must be in [1, 1000], got {train_frames}, {val_frames}")
    if subactions not in (1, 2):
        raise ValueError(f"subactions must be 1 or 2, got {subactions}")
    if not (64 <= width <= 2048 and 64 <= height <= 2048):
        raise ValueError(f"image size must be within 64..2048 px, got {width} x {height}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    names = ("train_frames", "val_frames", "subactions", "width", "height", "seed")
    return dict(zip(names, map(int, (train_frames, val_frames, subactions, width, height, seed))))


def generate_synthetic_h36m(root: str | Path, train_frames: int = 5, val_frames: int = 2, subactions: int = 1,
                            width: int = 256, height: int = 256, seed: int = 0) -> Path:  # fmt: skip
    """Write the synthetic Human3.6M dataset (both forms) to ``root`` (missing or empty), atomically.

    ``train_frames`` / ``val_frames``: frames per sequence (each seen by 4 cameras; 15 actions × ``subactions`` per
    subject): the defaults give 1500 training and 240 validation frames. Returns ``root``.
    """
    params = _params(train_frames, val_frames, subactions, width, height, seed)

    def write(folder: Path) -> dict:
        (folder / "images").mkdir(parents=True)
        train, val = _write_split(folder, "train", params), _write_split(folder, "val", params)
        missing = [] if subactions == 2 else [_missing_sequence(params)]
        write_deephar_h36m_mat(folder / "annotations.mat", train, val + missing)
        write_mmpose_h36m(folder, "train", train)
        write_mmpose_h36m(folder, "val", val)
        return {"counts": {s: int(sum(len(q.frames) for q in seqs)) for s, seqs in (("train", train), ("val", val))}}

    meta = {"format": FORMAT, "version": FORMAT_VERSION, "params": params}
    return write_generated(Path(root), write, meta, META_FILE, "a synthetic Human3.6M dataset", log)


def _read_meta(root: Path) -> dict | None:
    return read_meta(root, META_FILE, FORMAT)


def _check_existing(root: Path, params: dict) -> None:
    meta = check_meta(root, _read_meta(root), params, FORMAT_VERSION, META_FILE, "a har synthetic Human3.6M dataset")
    expected = sum(meta["counts"].values())
    folders = [p for p in (root / "images").glob("a*_s*_e*_c*") if p.is_dir()] if (root / "images").is_dir() else []
    have = sum(len(os.listdir(p)) for p in folders)
    body3d = root / "annotation_body3d"
    files = [root / "annotations.mat", body3d / "cameras.pkl", *(body3d / "fps50" / f"h36m_{s}.npz" for s in
                                                                 ("train", "test"))]  # fmt: skip
    if have != expected or not all(f.is_file() for f in files):
        raise ValueError(f"synthetic Human3.6M data at {root} is incomplete; delete it yourself or choose another root")


def ensure_synthetic_h36m(root: str | Path, train_frames: int = 5, val_frames: int = 2, subactions: int = 1,
                          width: int = 256, height: int = 256, seed: int = 0) -> Path:  # fmt: skip
    """Reuse the synthetic Human3.6M dataset at ``root`` if made with these parameters, else generate it (never
    deletes or overwrites an existing folder)."""
    root = Path(root)
    params = _params(train_frames, val_frames, subactions, width, height, seed)
    return ensure_generated(root, lambda: generate_synthetic_h36m(root, **params),
                            lambda r: _check_existing(r, params), _read_meta, "synthetic Human3.6M dataset",
                            log)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Write a synthetic Human3.6M dataset in both forms.")
    parser.add_argument("root", type=Path, help="folder to create (or reuse, if made with the same parameters)")
    parser.add_argument("--train-frames", type=int, default=5, help="frames per training sequence")
    parser.add_argument("--val-frames", type=int, default=2, help="frames per validation sequence")
    parser.add_argument("--subactions", type=int, default=1, choices=(1, 2))
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ensure_synthetic_h36m(args.root, args.train_frames, args.val_frames, args.subactions, args.width, args.height,
                          args.seed)  # fmt: skip


if __name__ == "__main__":
    main()
