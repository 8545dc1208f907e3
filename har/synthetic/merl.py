"""Synthetic MERL Shopping data in the three forms users have: the fork's pose pickle, the fork's per-frame action
JSON, and the official release's videos with MATLAB labels.

A retail scene (:mod:`har.synthetic.merl_scene`): a shopper (the stick person of :mod:`har.synthetic.person`,
upright, seen from the front or at a slight angle, with the same look in every clip of a subject) stands beside a
shelf (boards with rows of products, on the left or the right of the frame) and performs the five MERL Shopping
actions as distinct motions:

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
      :data:`har.data.formats.merl_classes.DEFAULT_ALIASES`).
    * Videos (frame size ``video_size``, 30 fps, fourcc ``mp4v``): each about ``video_frames`` frames long, a
      sequence of labelled segments (every class at least once) separated by short background stretches where the
      shopper stands idle or moves between poses. ``tlabs`` is a (5, 1) cell array in the order ReachToShelf,
      RetractFromShelf, HandInShelf, InspectProduct, InspectShelf; each cell an N x 2 double array of
      [start_frame, end_frame], **1-based and inclusive** (MATLAB's numbering: the video's first frame is 1), no two
      segments overlapping. ``person_boxes.json`` has one box per video frame (index 0 = frame 1).

Every clip and video is drawn from its own generators seeded by ``(seed, purpose, subject, session, ...)``: the data
are identical for the same parameters, and a clip does not depend on which forms or how many clips were asked for.

One module on purpose (about 560 lines): the three forms are written from one clip plan, one parameter set and
one check of an existing dataset; the scene itself is :mod:`har.synthetic.merl_scene`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.io
from tqdm import tqdm

from har.data.formats.merl_classes import MERL_CLASSES
from har.layouts import get_layout
from har.synthetic import meta as synthetic_meta
from har.synthetic.merl_scene import (
    LAYOUT,
    SEED_ANNOT,
    SEED_MOTION,
    SEED_PLAN,
    SEED_VIDEO,
    Frame,
    Stage,
    clip_motion,
    make_stage,
    render_frame,
    sway,
    video_script,
)
from har.synthetic.person import randint, uniform

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


# --- Annotation ----------------------------------------------------------------------------------------------


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
            rng = np.random.default_rng([params["seed"], SEED_PLAN, subject, session])
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
    st = make_stage(seed, (0, *spec.key), spec.subject, *frame_size)
    motion = clip_motion(np.random.default_rng([seed, SEED_MOTION, *spec.key]), st, spec.action)
    layout = get_layout(LAYOUT)

    def frames() -> Iterator[Frame]:
        for i in range(spec.length):
            t = i / max(1, spec.length - 1)
            yield render_frame(st, sway(st, spec.start + i, motion(t)), layout)

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
        rng = np.random.default_rng([seed, SEED_ANNOT, *spec.key])
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
        st = make_stage(seed, (1, subject, session), subject, width, height)
        rng = np.random.default_rng([seed, SEED_VIDEO, subject, session])
        length = int(params["video_frames"] * uniform(rng, 0.8, 1.2))
        segments = video_script(rng, st, length, tuple(params["clip_frames"]))
        box_rng = np.random.default_rng([seed, SEED_ANNOT, 1000 + subject, session])
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
                    f = render_frame(st, sway(st, frame, seg.motion(t)), layout)
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
    p = make_params(forms, num_subjects, clips_per_class, sessions, frame_size, clip_frames, video_size,
                    video_frames, seed)  # fmt: skip
    log.info("generating synthetic MERL Shopping data at %s (forms %s)", root, ", ".join(p["forms"]))

    def write(folder: Path) -> dict:
        counts, truth = {}, {}
        clip_forms = [f for f in p["forms"] if f in ("pose", "action")]
        if clip_forms:
            c, truth["clips"] = write_clip_forms(folder, p, clip_forms, progress)
            counts.update(c)
        if "videos" in p["forms"]:
            counts["videos"], truth["videos"] = write_videos_form(folder, p, progress)
        (folder / TRUTH_FILE).write_text(json.dumps(truth))
        return {"counts": counts, "frame_numbers": "1-based, inclusive"}

    meta = {"format": FORMAT, "version": FORMAT_VERSION, "params": p}
    return synthetic_meta.write_generated(Path(root), write, meta, META_FILE, "synthetic MERL data", log)


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
