"""NTU RGB+D 60 → a validated per-video index (numpy only), from either form a user has.

**Official release** (ROSE Lab, https://rose1.ntu.edu.sg/dataset/actionRecognition/, after registration:
``nturgbd_skeletons_s001_to_s017.zip`` and the ``nturgbd_rgb_s0NN.zip`` parts)::

    nturgb+d_skeletons/S001C001P001R001A001.skeleton    per frame, per body: bodyID, 9 body values, 25 joints ×
                                                        (x y z [m], depthX depthY, colorX colorY, orientation wxyz,
                                                        trackingState)
    nturgb+d_rgb/S001C001P001R001A001_rgb.avi           1920×1080, 30 fps

**deephar's form** (``datasets/NTU/`` of dluvizon/deephar; the ``.npy`` files from its Google Drive, the frames from
its ``extract-resize-videos.py``)::

    nturgb+d_numpy/S001C001P001R001A001.npy     n × 151: frame number (1-based), 75 unused, u (25), v (25), depth (25)
    images-small/S001C001P001R001A001/00001.jpg the annotated frames at half resolution (960×540)

Both become the same index: per video its sample id and label, per annotated frame its 1-based video frame number and
the 25 Kinect joints as (u, v, depth): u, v in pixels of the frames the index points to (1920×1080 for the official
videos; 960×540 for ``images-small``, i.e. deephar's ``u / 2, v / 2``), depth in millimetres (deephar: sampled from the
depth map; official: 1000 × the joint's camera-space z, i.e. the joint itself rather than the body surface in front
of it, a few centimetres deeper).

- **Sample ids** ``SsssCcccPpppRrrrAaaa`` are parsed and checked against NTU-60's ranges (S 1-17, C 1-3, P 1-40,
  R 1-2, A 1-60; NTU-120 files are skipped, counted). Videos are in id order, which is deephar's S → C → P → R → A
  enumeration (``ntu.py:76-100``). Label = A − 1.
- **Splits** (:func:`split_mask`): cross-subject ``xsub`` (training subjects :data:`XSUB_TRAIN_SUBJECTS`) and
  cross-view ``xview`` (training cameras 2, 3); deephar evaluates cross-subject only.
- **Layouts** (:func:`kinect_to_layout`, tables :data:`KINECT_TO_LAYOUT`): deephar's pa16j, pa17j (+ spine-mid) and
  pa20j (+ hands, feet). Kinect's **"left" joints fill deephar's "r_" joints** (Kinect 4 "left shoulder" → r_sho), as
  deephar's ``map_from_ntu`` does; the released NTU weights expect it. (Kinect's left is the person's left; whether
  deephar meant an image-side convention was not checked.)
- **Valid joints** (:func:`valid_joints`): deephar's rule, every coordinate > 0 (``ntu.py:287-290``; NaN is invalid).
- **3D targets** (:func:`depth_targets`): deephar's ``rootz`` = mean depth of the valid root (pelvis) over the clip,
  else of all valid joints; window ``rootz ± 1000·scale`` mm mapped to [0, 1] (``ntu.py:197-202,236``).
- **Which body** (official form; deephar's ``.npy`` holds one skeleton, chosen by an undocumented rule):
  ``body="motion"`` (default) follows the bodyID whose joints move most, ``std(x) + std(y) + std(z)`` over its
  frames (ST-GCN / mmaction2's ``get_nonzero_std`` ranking, computed per tracked bodyID instead of per list slot,
  which can switch people); ``"longest"``: the bodyID present in the most frames (ties: motion); ``"first"``: the first
  bodyID in the file. Frames where that body is absent have all joints invalid.
- **Subsampling**: ``annotation_stride=2`` keeps every 2nd annotated frame as deephar's ``master`` does
  (``video_subsample = 2``); 1 (default) keeps all, as its ``cvpr18`` branch.
- **Skips** (counted, each in ``bad_records`` with file and reason): the 302 NTU-60 samples with missing skeletons
  (:data:`MISSING_SKELETONS`, the list mmaction2 ships as ``NTU_RGBD_samples_with_missing_skeletons.txt``),
  files with no body in any frame, malformed files (the line is named), a missing video or frame files, ids outside
  NTU-60.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from har.data.formats.ntu_skeleton import BODY_RULES, read_skeleton, select_body
from har.data.io.video import probe_video, read_video_frames

log = logging.getLogger(__name__)

SKELETONS_DIR, RGB_DIR = "nturgb+d_skeletons", "nturgb+d_rgb"
NUMPY_DIR, SMALL_IMAGES_DIR, IMAGES_DIR = "nturgb+d_numpy", "images-small", "images"
FULL_SIZE, SMALL_SIZE = (1920, 1080), (960, 540)
XSUB_TRAIN_SUBJECTS = frozenset({1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38})
XVIEW_TRAIN_CAMERAS = frozenset({2, 3})
PROTOCOLS, SPLITS = ("xsub", "xview"), ("train", "test")
NTU60_RANGES = {"setup": (1, 17), "camera": (1, 3), "subject": (1, 40), "replication": (1, 2), "action": (1, 60)}
# The 302 NTU-60 samples with missing skeletons (mmaction2: tools/data/skeleton/
# NTU_RGBD_samples_with_missing_skeletons.txt)
MISSING_SKELETONS = frozenset(Path(__file__).with_name("ntu60_missing_skeletons.txt").read_text().split())

# Kinect v2's 25 joints (deephar ntu.py:39-45), and deephar's layouts as indices into them (deephar/utils/pose.py).
KINECT_JOINTS = (
    "base of the spine", "middle of the spine", "neck", "head", "left shoulder", "left elbow", "left wrist",
    "left hand", "right shoulder", "right elbow", "right wrist", "right hand", "left hip", "left knee", "left ankle",
    "left foot", "right hip", "right knee", "right ankle", "right foot", "spine", "tip of the left hand",
    "left thumb", "tip of the right hand", "right thumb",
)  # fmt: skip
_PA16J = (0, 20, 2, 3, 4, 8, 5, 9, 6, 10, 12, 16, 13, 17, 14, 18)
KINECT_TO_LAYOUT = {
    "pa16j": _PA16J,
    "pa17j": (*_PA16J, 1),
    "pa20j": (0, 20, 2, 3, 4, 8, 5, 9, 6, 10, 7, 11, 12, 16, 13, 17, 14, 18, 15, 19),
}
# deephar ntu.py:14-37 (where "touch other person's pocket" lost its apostrophe); label = A - 1.
NTU60_CLASSES = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw", "sitting down",
    "standing up (from sitting position)", "clapping", "reading", "writing", "tear up paper", "wear jacket",
    "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something",
    "put something inside pocket / take out something from pocket", "hopping (one foot jumping)", "jump up",
    "make a phone call/answer phone", "playing with phone/tablet", "typing on a keyboard",
    "pointing to something with finger", "taking a selfie", "check time (from watch)", "rub two hands together",
    "nod head/bow", "shake head", "wipe face", "salute", "put the palms together", "cross hands in front (say stop)",
    "sneeze/cough", "staggering", "falling", "touch head (headache)", "touch chest (stomachache/heart pain)",
    "touch back (backache)", "touch neck (neckache)", "nausea or vomiting condition",
    "use a fan (with hand or paper)/feeling warm", "punching/slapping other person", "kicking other person",
    "pushing other person", "pat on back of other person", "point finger at the other person", "hugging other person",
    "giving something to other person", "touch other person's pocket", "handshaking", "walking towards each other",
    "walking apart from each other",
)  # fmt: skip

_SAMPLE_ID = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")


@dataclass(frozen=True)
class NtuSampleId:
    """The fields of ``SsssCcccPpppRrrrAaaa``."""

    setup: int
    camera: int
    subject: int
    replication: int
    action: int

    @property
    def name(self) -> str:
        return f"S{self.setup:03d}C{self.camera:03d}P{self.subject:03d}R{self.replication:03d}A{self.action:03d}"


def parse_sample_id(name: str) -> NtuSampleId:
    """``SsssCcccPpppRrrrAaaa`` → its fields; ValueError naming ``name`` when malformed or outside NTU-60."""
    m = _SAMPLE_ID.match(name)
    if m is None:
        raise ValueError(f"{name!r} is not an NTU sample id SsssCcccPpppRrrrAaaa")
    sample = NtuSampleId(*(int(g) for g in m.groups()))
    for what, (low, high) in NTU60_RANGES.items():
        if not low <= getattr(sample, what) <= high:
            raise ValueError(f"{name!r}: {what} {getattr(sample, what)} outside NTU-60's {low}-{high}")
    return sample


def split_mask(subjects: np.ndarray, cameras: np.ndarray, protocol: str = "xsub", split: str = "train") -> np.ndarray:
    """(V,) bool: the videos of ``split`` under ``protocol`` (``xsub``: by subject, ``xview``: by camera)."""
    if protocol not in PROTOCOLS or split not in SPLITS:
        raise ValueError(f"NTU protocol {protocol!r} / split {split!r}: expected one of {PROTOCOLS} / {SPLITS}")
    train = (
        np.isin(subjects, list(XSUB_TRAIN_SUBJECTS))
        if protocol == "xsub"
        else np.isin(cameras, list(XVIEW_TRAIN_CAMERAS))
    )
    return train if split == "train" else ~train


# --- joints, layouts, depth ----------------------------------------------------------------------------------------


def kinect_to_layout(uvd: np.ndarray, layout: str) -> np.ndarray:
    """(..., 25, C) Kinect joints → (..., J, C) in deephar's ``layout`` (``pa16j``, ``pa17j`` or ``pa20j``)."""
    if layout not in KINECT_TO_LAYOUT:
        raise ValueError(f"no NTU mapping to layout {layout!r}; known: {sorted(KINECT_TO_LAYOUT)}")
    return np.asarray(uvd)[..., KINECT_TO_LAYOUT[layout], :]


def valid_joints(uvd: np.ndarray, dims: int = 3) -> np.ndarray:
    """(..., J) bool: deephar's validity, every one of the first ``dims`` coordinates finite and > 0 (2: u, v)."""
    coords = np.asarray(uvd)[..., :dims]
    with np.errstate(invalid="ignore"):
        return (coords > 0).all(axis=-1) & np.isfinite(coords).all(axis=-1)


def keypoints_2d(uvd: np.ndarray, layout: str) -> np.ndarray:
    """(..., 25, 3) Kinect (u, v, d) → (..., J, 3) har keypoints x, y, v in ``layout`` (v = 2 where u, v are valid,
    else 0 with x = y = 0)."""
    joints = kinect_to_layout(uvd, layout)
    ok = valid_joints(joints, dims=2)
    out = np.zeros(joints.shape[:-1] + (3,), np.float32)
    out[..., :2] = np.where(ok[..., None], joints[..., :2], 0)
    out[..., 2] = np.where(ok, 2, 0)
    return out


def root_depth(clip: np.ndarray) -> float:
    """deephar's ``rootz`` of a clip (``ntu.py:197-199``): (T, J, 3) layout joints (root = joint 0) → the mean depth
    of the valid root over the clip; where the root is never valid, the mean over every valid joint; NaN if none."""
    clip = np.asarray(clip, np.float64)
    ok = valid_joints(clip)
    if ok[:, 0].any():
        return float(clip[:, 0, 2][ok[:, 0]].mean())
    return float(clip[..., 2][ok].mean()) if ok.any() else float("nan")


def depth_targets(clip: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """deephar's z targets of a clip (``ntu.py:200-202,236``): (T, J, 3) layout joints →
    ``z`` (T, J) = (d − zmin) / (zmax − zmin), ``valid`` (T, J) bool, ``window`` (2,) = rootz ∓ 1000·scale mm.
    z is not clipped to [0, 1] (nor by deephar); with no valid joint the window is NaN and nothing is valid."""
    clip = np.asarray(clip, np.float64)
    rootz = root_depth(clip)
    window = np.array([rootz - 1000.0 * scale, rootz + 1000.0 * scale])
    valid = valid_joints(clip) & np.isfinite(rootz)
    z = np.where(valid, (clip[..., 2] - window[0]) / (window[1] - window[0]), 0.0)
    return z, valid, window


# --- the index ---------------------------------------------------------------------------------------------------


@dataclass
class NtuIndex:
    """NTU videos as flat arrays; frames of video i are rows ``frame_offsets[i]:frame_offsets[i + 1]``.

    Attributes:
        root: the dataset folder; source: ``skeleton`` (official) or ``deephar``.
        sample_ids: (V,) str; setups, cameras, subjects, replications, actions: (V,) int64; labels: (V,) = A − 1.
        image_sizes: (V, 2) int32 (W, H) of the frames u, v refer to (nominal, or probed with ``probe_videos``).
        frame_offsets: (V + 1,) int64; frame_numbers: (N,) int64 1-based video frame numbers.
        uvd: (N, 25, 3) float32 Kinect joints u, v (pixels), depth (mm); invalid joints per :func:`valid_joints`.
        tracking: (N, 25) int8 Kinect trackingState (0 not tracked, 1 inferred, 2 tracked); -1 in deephar's form.
        body_ids: (V,) int64 the followed bodyID (official), -1 (deephar).
        annotation_stride: every how many annotated frames one was kept.
        small_images: deephar's form: frames from ``images-small`` (u, v halved) rather than ``images``.
        skipped: Counter reason → videos skipped; bad_records: ``(file, reason)``; notes: other anomalies.
    """

    root: Path
    source: str
    sample_ids: np.ndarray
    setups: np.ndarray
    cameras: np.ndarray
    subjects: np.ndarray
    replications: np.ndarray
    actions: np.ndarray
    image_sizes: np.ndarray
    frame_offsets: np.ndarray
    frame_numbers: np.ndarray
    uvd: np.ndarray
    tracking: np.ndarray
    body_ids: np.ndarray
    annotation_stride: int = 1
    small_images: bool = True
    skipped: Counter = field(default_factory=Counter)
    bad_records: list = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.sample_ids)

    @property
    def labels(self) -> np.ndarray:
        return self.actions - 1

    @property
    def classes(self) -> tuple[str, ...]:
        return NTU60_CLASSES

    def num_frames(self, i: int) -> int:
        return int(self.frame_offsets[i + 1] - self.frame_offsets[i])

    def frame_rows(self, i: int) -> slice:
        return slice(int(self.frame_offsets[i]), int(self.frame_offsets[i + 1]))

    def split_indices(self, split: str, protocol: str = "xsub") -> np.ndarray:
        return np.flatnonzero(split_mask(self.subjects, self.cameras, protocol, split))

    def video_file(self, i: int) -> str:
        """The official RGB video of video ``i`` (annotated frame n is the video's 0-based frame n − 1)."""
        return str(self.root / RGB_DIR / f"{self.sample_ids[i]}_rgb.avi")

    def frame_files(self, i: int) -> list[str]:
        """deephar's form: the JPEG of each annotated frame of video ``i``."""
        if self.source != "deephar":
            raise ValueError("the official release has videos, not frame files: use video_file / read_ntu_frames")
        folder = self.root / (SMALL_IMAGES_DIR if self.small_images else IMAGES_DIR) / str(self.sample_ids[i])
        return [str(folder / f"{n:05d}.jpg") for n in self.frame_numbers[self.frame_rows(i)].tolist()]

    def summary(self) -> str:
        text = f"NTU RGB+D 60 ({self.source}) {self.root}: {len(self)} videos, {len(self.frame_numbers)} frames"
        if self.skipped:
            text += "; skipped: " + ", ".join(f"{n} {r}" for r, n in sorted(self.skipped.items()))
        if self.notes:
            text += "; notes: " + ", ".join(f"{n} {r}" for r, n in sorted(self.notes.items()))
        return text


def read_ntu_frames(index: NtuIndex, i: int, positions: np.ndarray) -> list[np.ndarray]:
    """(H, W, 3) uint8 RGB frames at ``positions`` (rows within video ``i``'s annotated frames; repeats allowed)."""
    positions = np.asarray(positions, np.int64)
    if index.source == "deephar":
        files = index.frame_files(i)
        out = []
        for p in positions.tolist():
            image = cv2.imread(files[p], cv2.IMREAD_COLOR)
            if image is None:
                raise OSError(f"cannot read frame {files[p]} (sample {index.sample_ids[i]})")
            out.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        return out

    numbers = index.frame_numbers[index.frame_rows(i)][positions] - 1
    return read_video_frames(index.video_file(i), numbers, str(index.sample_ids[i]))


class _Skip(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail or reason


@dataclass
class _Video:
    sample: NtuSampleId
    size: tuple[int, int]
    numbers: np.ndarray
    uvd: np.ndarray
    tracking: np.ndarray
    body_id: int = -1


def _sample_files(folder: Path, suffix: str, skipped: Counter, bad: list) -> list[tuple[NtuSampleId, Path]]:
    """The ``<sample id><suffix>`` files of ``folder``, in id order; bad names are skipped, counted."""
    if not folder.is_dir():
        raise FileNotFoundError(f"NTU folder not found: {folder}")
    out = []
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(suffix):
            continue
        try:
            out.append((parse_sample_id(path.name[: -len(suffix)]), path))
        except ValueError as e:
            reason = "not an NTU sample id" if _SAMPLE_ID.match(path.name[: -len(suffix)]) is None else "outside NTU-60"
            skipped[reason] += 1
            bad.append((str(path), str(e)))
    return out


def _build(root: Path, source: str, videos: list[_Video], stride: int, small: bool, skipped, bad, notes) -> NtuIndex:
    counts = np.array([len(v.numbers) for v in videos], np.int64)
    field_ = {k: np.array([getattr(v.sample, k) for v in videos], np.int64) for k in NTU60_RANGES}
    index = NtuIndex(
        root=root,
        source=source,
        sample_ids=np.array([v.sample.name for v in videos], dtype="<U20"),
        setups=field_["setup"],
        cameras=field_["camera"],
        subjects=field_["subject"],
        replications=field_["replication"],
        actions=field_["action"],
        image_sizes=np.array([v.size for v in videos], np.int32).reshape(-1, 2),
        frame_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        frame_numbers=np.concatenate([v.numbers for v in videos] or [np.zeros(0)]).astype(np.int64),
        uvd=np.concatenate([v.uvd for v in videos] or [np.zeros((0, 25, 3))]).astype(np.float32),
        tracking=np.concatenate([v.tracking for v in videos] or [np.zeros((0, 25))]).astype(np.int8),
        body_ids=np.array([v.body_id for v in videos], np.int64),
        annotation_stride=stride,
        small_images=small,
        skipped=skipped,
        bad_records=bad,
        notes=notes,
    )
    log.log(logging.WARNING if skipped else logging.INFO, "%s", index.summary())
    return index


def _check_stride(stride: int) -> None:
    if int(stride) != stride or stride < 1:
        raise ValueError(f"annotation_stride {stride!r}: expected an integer >= 1")


# --- deephar's .npy + images-small -----------------------------------------------------------------------------------


def _deephar_video(sample: NtuSampleId, path: Path, frames_dir: Path | None, stride: int, small: bool) -> _Video:
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:  # a truncated, pickled or foreign file
        raise _Skip("unreadable .npy", f"cannot read: {e}") from None
    if data.ndim != 2 or data.shape[1] != 151 or len(data) == 0 or data.dtype.kind not in "iuf":
        raise _Skip("malformed .npy", f"array {data.dtype} {data.shape}, expected numbers of shape (n >= 1, 151)")
    numbers = data[:, 0]
    if not (np.isfinite(numbers).all() and (numbers == np.round(numbers)).all() and numbers.min() >= 1):
        raise _Skip("bad frame numbers", "column 0 is not 1-based integer frame numbers")
    if (np.diff(numbers) <= 0).any():
        at = int(np.flatnonzero(np.diff(numbers) <= 0)[0])
        raise _Skip("bad frame numbers", f"frame numbers not increasing at row {at}: {numbers[at : at + 2].tolist()}")
    data = data[::stride]  # deephar ntu.py:102-104 (master: video_subsample = 2)
    numbers = data[:, 0].astype(np.int64)
    if frames_dir is not None:
        folder = frames_dir / sample.name
        try:
            with os.scandir(folder) as entries:
                on_disk = {e.name for e in entries}
        except (FileNotFoundError, NotADirectoryError):
            raise _Skip("missing frame files", f"frame folder {folder} not found") from None
        missing = [n for n in numbers.tolist() if f"{n:05d}.jpg" not in on_disk]
        if missing:
            raise _Skip("missing frame files", f"{len(missing)} frames missing in {folder}, first {missing[0]:05d}.jpg")
    uvd = np.stack([data[:, 76:101], data[:, 101:126], data[:, 126:151]], axis=-1).astype(np.float64)
    if small:
        uvd[..., :2] /= 2  # ntu.py:280-282: the frames are half size
    return _Video(sample, SMALL_SIZE if small else FULL_SIZE, numbers, uvd, np.full(uvd.shape[:2], -1))


def load_ntu_deephar(
    root: str | Path, annotation_stride: int = 1, small_images: bool = True, check_frames: bool = True
) -> NtuIndex:
    """Index deephar's ``nturgb+d_numpy/*.npy`` and ``images-small/`` (``images/`` with ``small_images=False``).

    Args:
        annotation_stride: keep every n-th annotated frame (deephar ``master``: 2; ``cvpr18``: 1).
        small_images: u, v halved for the 960×540 ``images-small`` frames (deephar's default).
        check_frames: require every kept frame's JPEG (one directory listing per video); False for pose-only use.
    """
    _check_stride(annotation_stride)
    root = Path(root)
    skipped, bad = Counter(), []
    frames_dir = root / (SMALL_IMAGES_DIR if small_images else IMAGES_DIR) if check_frames else None
    if frames_dir is not None and not frames_dir.is_dir():
        raise FileNotFoundError(f"NTU frame folder not found: {frames_dir}")
    videos = []
    for sample, path in _sample_files(root / NUMPY_DIR, ".npy", skipped, bad):
        try:
            videos.append(_deephar_video(sample, path, frames_dir, annotation_stride, small_images))
        except _Skip as s:
            skipped[s.reason] += 1
            bad.append((str(path), s.detail))
            log.warning("skipping %s: %s", path, s.detail)
    return _build(root, "deephar", videos, annotation_stride, small_images, skipped, bad, Counter())


# --- the official .skeleton + .avi -----------------------------------------------------------------------------------


def _skeleton_video(sample: NtuSampleId, path: Path, root: Path, stride: int, body: str, min_tracking: int,
                    check_videos: bool, probe_videos: bool, notes: Counter) -> _Video:  # fmt: skip
    try:
        seq = read_skeleton(path)
    except ValueError as e:
        raise _Skip("malformed skeleton file", str(e)) from None
    if len(seq.body_ids) == 0:
        raise _Skip("no body in any frame", f"{seq.num_frames} frames, none with a body")
    body_id, rows = select_body(seq, body)
    uvd = np.zeros((seq.num_frames, 25, 3))
    tracking = np.zeros((seq.num_frames, 25), np.int64)
    present = rows >= 0
    joints = seq.joints[rows[present]]  # (n, 25, 11): x y z depthX depthY colorX colorY ...
    uvd[present] = np.stack([joints[..., 5], joints[..., 6], 1000.0 * joints[..., 2]], axis=-1)
    tracking[present] = seq.tracking[rows[present]]
    uvd[tracking < min_tracking] = 0  # → invalid
    numbers = np.arange(1, seq.num_frames + 1, dtype=np.int64)
    size = FULL_SIZE
    if check_videos:
        video = root / RGB_DIR / f"{sample.name}_rgb.avi"
        if not video.is_file():
            raise _Skip("missing video", f"video {video} not found")
        if probe_videos:
            count, width, height = probe_video(video)
            size = (width, height)
            if count < seq.num_frames:
                notes["video shorter than its skeleton (frames beyond dropped)"] += 1
                log.warning("%s: %d skeleton frames, the video has %d; frames beyond dropped", path, seq.num_frames,
                            count)  # fmt: skip
                numbers, uvd, tracking = numbers[:count], uvd[:count], tracking[:count]
    return _Video(sample, size, numbers[::stride], uvd[::stride], tracking[::stride], body_id)


def load_ntu_skeletons(
    root: str | Path,
    annotation_stride: int = 1,
    body: str = "motion",
    min_tracking_state: int = 0,
    check_videos: bool = True,
    probe_videos: bool = False,
    skip_missing: bool = True,
) -> NtuIndex:
    """Index the official ``nturgb+d_skeletons/*.skeleton`` (and ``nturgb+d_rgb/*_rgb.avi``).

    Args:
        annotation_stride: keep every n-th frame (deephar ``master``'s 2, or 1).
        body: which body of a multi-body file, ``motion`` / ``longest`` / ``first`` (module docstring).
        min_tracking_state: joints tracked below this (0 not tracked, 1 inferred, 2 tracked) are made invalid;
            0 keeps every joint Kinect reported.
        check_videos: require each sample's video; probe_videos: also read its frame count and size (slow: one open
            and seek per video) and drop skeleton frames beyond the video's end.
        skip_missing: skip the 302 samples of :data:`MISSING_SKELETONS` without reading them.
    """
    _check_stride(annotation_stride)
    if body not in BODY_RULES:
        raise ValueError(f"body {body!r}: expected one of {BODY_RULES}")
    root = Path(root)
    if check_videos and not (root / RGB_DIR).is_dir():
        raise FileNotFoundError(f"NTU video folder not found: {root / RGB_DIR} (or pass check_videos=False)")
    skipped, bad, notes, videos = Counter(), [], Counter(), []
    for sample, path in _sample_files(root / SKELETONS_DIR, ".skeleton", skipped, bad):
        try:
            if skip_missing and sample.name in MISSING_SKELETONS:
                raise _Skip("missing skeleton (NTU list of 302)", "listed in NTU's samples with missing skeletons")
            videos.append(_skeleton_video(sample, path, root, annotation_stride, body, min_tracking_state,
                                          check_videos, probe_videos, notes))  # fmt: skip
        except _Skip as s:
            skipped[s.reason] += 1
            bad.append((str(path), s.detail))
            log.log(logging.INFO if s.reason.startswith("missing skeleton") else logging.WARNING,
                    "skipping %s: %s", path, s.detail)  # fmt: skip
    return _build(root, "skeleton", videos, annotation_stride, False, skipped, bad, notes)
