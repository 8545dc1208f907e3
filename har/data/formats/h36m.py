"""Human3.6M in the two forms users have, read into one validated frame index.

**deephar** (``deephar/data/human36m.py:12-29,77-124``), under ``root``::

    annotations.mat                       sequences_tr / sequences_val / sequences_te, action_labels, joint_labels
    images/aAA_sSS_eEE_cCC/%05d.jpg       frames extracted by deephar's vid2jpeg.py (1-based frame numbers)

Read with ``loadmat(struct_as_record=False, squeeze_me=True)`` as deephar does. Each sequence has ``name``
``aAA_sSS_eEE_cCC`` (H36M action id 2..16, subject, sub-action, camera 1..4), ``camera_parameters`` (R, T, f, c, p,
k: :class:`~har.geometry.camera.Camera`) and ``frames`` (``f`` 1-based frame number, ``w``, ``h``, ``pose3d`` 3 × 32
world mm in the H36M skeleton's order).

**mmpose** (``tools/dataset_converters/preprocess_h36m.py``), under ``root``::

    annotation_body3d/cameras.pkl                       {(subject 'S1', camera id '54138969'): R, T (m), c, f, k, p,
                                                         w, h, name, id}; its R is camera → world
    annotation_body3d/fps{50,10}/h36m_{train,test}.npz  imgname, center, scale, part (N,17,3), S (N,17,4): camera
                                                         coordinates in metres of the 17 joints it keeps
    images/S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg

mmpose's ``test`` file is the ``val`` split here (S9, S11). Its sub-action (e01/e02) is not in the names: it is the
order in which a subject's two sequences of an action first appear in the file (the converter's loop order).

**Joints.** The index holds deephar's ``pa17j`` (``map_from_h36m``, :data:`PA17J_FROM_H36M`). deephar's file gives all
17 (``joint_labels``, when present, must name the H36M skeleton's joints at the mapped indices, else pass
``joint_map``). mmpose's 17 joints lack H36M joint 11 (deephar's ``spine``): reading them needs
``allow_missing_joints=True``, which leaves ``spine`` NaN and ``joint_labelled[16]`` False (MPJPE over 16 joints
is then not deephar's number).

**Frames.** ``frame_step`` keeps frames whose ``(f − 1) % step == 0``: every 5th for train, every 64th for val
(deephar's ``vid2jpeg.py``). A file holding a coarser grid than asked (mmpose ``fps10`` with step 64) is an error.

One module on purpose (about 550 lines): the two forms' readers feed one validator (:class:`_Builder`) and one
index type, and every check is shared between them; the writers live in ``h36m_write.py``.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io

from har.geometry.camera import Camera, camera_to_world, project_batch, split_serialized, world_to_camera

log = logging.getLogger(__name__)

H36M_JOINTS = (
    "Hips", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "Site", "LeftUpLeg", "LeftLeg", "LeftFoot",
    "LeftToeBase", "Site", "Spine", "Spine1", "Neck", "Head", "Site", "LeftShoulder", "LeftArm", "LeftForeArm",
    "LeftHand", "LeftHandThumb", "Site", "L_Wrist_End", "Site", "RightShoulder", "RightArm", "RightForeArm",
    "RightHand", "RightHandThumb", "Site", "R_Wrist_End", "Site",
)  # fmt: skip
# deephar's pa17j.map_from_h36m (deephar/utils/pose.py): pa17j joint i is H36M joint PA17J_FROM_H36M[i].
PA17J_FROM_H36M = np.array([0, 12, 13, 15, 25, 17, 26, 18, 27, 19, 1, 6, 2, 7, 3, 8, 11])
# The 17 joints mmpose keeps (preprocess_h36m.py:69-71, "movable_joints"), in its order.
MMPOSE_H36M_JOINTS = np.array([0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27])

ACTIONS = {
    2: "Directions",
    3: "Discussion",
    4: "Eating",
    5: "Greeting",
    6: "Phoning",
    7: "Posing",
    8: "Purchases",
    9: "Sitting",
    10: "SittingDown",
    11: "Smoking",
    12: "Photo",
    13: "Waiting",
    14: "Walking",
    15: "WalkDog",
    16: "WalkTogether",
}
_ACTION_ALIASES = {"takingphoto": 12, "walkingdog": 15, "walkingtogether": 16}
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")  # c01..c04
SPLIT_SUBJECTS = {"train": (1, 5, 6, 7, 8), "val": (9, 11)}
FRAME_STEP = {"train": 5, "val": 64}  # deephar's vid2jpeg.py: f % 5 == 1 (train), f % 64 == 1 (val)
_DEEPHAR_VARS = {"train": "sequences_tr", "val": "sequences_val", "test": "sequences_te"}
_MMPOSE_FILES = {"train": "h36m_train.npz", "val": "h36m_test.npz"}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z]", "", str(name).lower())


def action_id(name: str) -> int | None:
    """H36M action id (2..16) of an action name in any of its spellings ("Directions 1", "TakingPhoto", "WalkDog"),
    None when unknown."""
    key = _norm(re.sub(r"[\s_]*\d+$", "", str(name)))
    return {_norm(v): k for k, v in ACTIONS.items()}.get(key, _ACTION_ALIASES.get(key))


# --- Records in the files' own terms: the writers' input ----------------------------------------------------------


@dataclass
class H36mSequence:
    """One sequence (subject, action, sub-action, camera) as the files store it.

    Attributes:
        frames: (n,) 1-based video frame numbers.
        pose3d: (n, 32, 3) world mm, H36M skeleton order.
    """

    subject: int
    action: int
    subaction: int
    camera: int  # 1..4 (CAMERA_IDS)
    camera_params: Camera
    frames: np.ndarray
    pose3d: np.ndarray
    width: int = 1000
    height: int = 1002

    @property
    def name(self) -> str:
        return f"a{self.action:02d}_s{self.subject:02d}_e{self.subaction:02d}_c{self.camera:02d}"


# --- The index ---------------------------------------------------------------------------------------------------


@dataclass
class H36mIndex:
    """Frames of one Human3.6M split with their sequences, as flat arrays.

    Attributes:
        source: the annotation file read.
        form: ``"deephar"`` or ``"mmpose"``.
        split: ``"train"``, ``"val"`` (or ``"test"``: deephar's ``sequences_te``).
        seq_names: (S,) deephar's sequence names ``aAA_sSS_eEE_cCC``.
        seq_subject, seq_action, seq_subaction, seq_camera: (S,) int32 (action: H36M id 2..16; camera 1..4).
        seq_cameras: (S, 21) float64 serialized cameras (:meth:`Camera.serialize`, mm).
        seq_image_sizes: (S, 2) int32 (width, height).
        seq_image_patterns: (S,) image path of a frame relative to the image folder, ``.format(frame_number)``.
        frame_seq: (F,) int32 sequence row of each frame.
        frame_numbers: (F,) int32 1-based video frame numbers.
        joints_world: (F, 17, 3) float32 pa17j world coordinates, mm (NaN for joints the source lacks).
        joint_labelled: (17,) bool, the pa17j joints the source provides.
        skipped: reason → frames not in the index (filters and bad data).
        bad_records: ``(sequence name, frame number or -1 for the whole sequence, reason)`` of bad data.
    """

    source: Path
    form: str
    split: str
    seq_names: np.ndarray
    seq_subject: np.ndarray
    seq_action: np.ndarray
    seq_subaction: np.ndarray
    seq_camera: np.ndarray
    seq_cameras: np.ndarray
    seq_image_sizes: np.ndarray
    seq_image_patterns: np.ndarray
    frame_seq: np.ndarray
    frame_numbers: np.ndarray
    joints_world: np.ndarray
    joint_labelled: np.ndarray
    skipped: Counter = field(default_factory=Counter)
    bad_records: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frame_seq)

    def image_file(self, i: int) -> str:
        return str(self.seq_image_patterns[self.frame_seq[i]]).format(int(self.frame_numbers[i]))

    def camera(self, i: int) -> Camera:
        """The camera of frame ``i``."""
        return Camera.deserialize(self.seq_cameras[self.frame_seq[i]])

    def frame_cameras(self, rows=slice(None)) -> np.ndarray:
        """Serialized cameras (n, 21) of frames ``rows``."""
        return self.seq_cameras[self.frame_seq[rows]]

    def joints_camera(self, rows=slice(None)) -> np.ndarray:
        """Camera coordinates (n, 17, 3) mm of frames ``rows``."""
        R, T = split_serialized(self.frame_cameras(rows))[:2]
        return world_to_camera(self.joints_world[rows].astype(np.float64), R[:, None], T[:, None])

    def joints_uvd(self, rows=slice(None)) -> np.ndarray:
        """uvd (n, 17, 3) (pixels, camera depth mm) of frames ``rows`` (deephar's ``pose_uvd``)."""
        return project_batch(self.joints_world[rows].astype(np.float64), self.frame_cameras(rows))

    def action_name(self, i: int) -> str:
        return ACTIONS[int(self.seq_action[self.frame_seq[i]])]

    def summary(self) -> str:
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        text = f"{self.source} ({self.form}, {self.split}): {len(self)} frames of {len(self.seq_names)} sequences kept"
        return text + (f"; skipped frames: {parts}" if parts else "")


# --- Building the index (shared by both readers) -----------------------------------------------------------------


class _Builder:
    """Collects sequences, applies the split's filters and the checks, counts skips, makes the :class:`H36mIndex`."""

    def __init__(self, split, subjects, frame_step, image_root, check_images, joint_source: np.ndarray) -> None:
        if subjects is None:
            subjects = SPLIT_SUBJECTS.get(split)
        self.subjects = None if subjects is None else {int(s) for s in subjects}
        self.step = FRAME_STEP.get(split, 1) if frame_step is None else int(frame_step)
        if self.step < 1:
            raise ValueError(f"frame_step must be ≥ 1, got {frame_step}")
        if check_images and (image_root is None or not Path(image_root).is_dir()):
            raise FileNotFoundError(f"Human3.6M image folder not found: {image_root}")
        self.image_root = Path(image_root) if check_images else None
        self.joint_source = joint_source  # per pa17j joint: index into the file's joints, -1 where absent
        self.seqs: list[tuple] = []
        self.frames: list[tuple[np.ndarray, np.ndarray]] = []
        self.skipped: Counter = Counter()
        self.bad: list = []

    def _skip(self, reason: str, count: int, name: str | None = None, frames=None) -> None:
        if count:
            self.skipped[reason] += int(count)
            if name is not None:
                self.bad.extend((name, int(f), reason) for f in ([-1] if frames is None else frames))

    def add(self, where: str, meta: tuple, camera: Camera, size, pattern: str, numbers, joints) -> None:
        """One sequence: ``meta`` (name, subject, action, subaction, camera index), 1-based frame ``numbers`` (n,)
        and the file's ``joints`` (n, J, 3) world mm."""
        name, subject = meta[0], meta[1]
        numbers = np.asarray(numbers, np.int64)
        n = len(numbers)
        if self.subjects is not None and subject not in self.subjects:
            return self._skip("frames of subjects outside the split", n)
        if n > 1 and self.step > 1:
            grid = math.gcd(*np.diff(np.sort(numbers)).tolist(), int(numbers.min()) - 1)
            if grid and self.step % grid:
                raise ValueError(
                    f"{where}: the file holds every {grid}th frame, so frame_step={self.step} cannot be "
                    f"met (it asks for frames the file lacks); use a file with every frame (mmpose "
                    f"fps50) or a frame_step that is a multiple of {grid}"
                )
        on_step = (numbers - 1) % self.step == 0
        self._skip("frames not on the frame step", n - on_step.sum())
        numbers, joints = numbers[on_step], joints[on_step]
        if problems := camera.problems():
            return self._skip("frames of a sequence with a bad camera", len(numbers), f"{name}: {'; '.join(problems)}")
        if self.image_root is not None:
            folder = self.image_root / Path(pattern).parent
            if not folder.is_dir():
                return self._skip("frames of a sequence without images", len(numbers), name)
            present = set(os.listdir(folder))
            have = np.array([Path(pattern.format(int(f))).name in present for f in numbers], bool)
            self._skip("frames whose image is missing", (~have).sum(), name, numbers[~have])
            numbers, joints = numbers[have], joints[have]
        used = self.joint_source[self.joint_source >= 0]
        finite = np.isfinite(joints[:, used]).all(axis=(1, 2))
        self._skip("frames with NaN joints", (~finite).sum(), name, numbers[~finite])
        if not finite.any():
            return
        pa17j = np.full((int(finite.sum()), len(self.joint_source), 3), np.nan)
        have_joint = self.joint_source >= 0
        pa17j[:, have_joint] = joints[finite][:, self.joint_source[have_joint]]
        self.seqs.append((*meta, camera.serialize(), size, pattern))
        self.frames.append((numbers[finite], pa17j))

    def build(self, source: Path, form: str, split: str) -> H36mIndex:
        cols = list(zip(*self.seqs)) if self.seqs else [[]] * 8
        index = H36mIndex(
            source=source,
            form=form,
            split=split,
            seq_names=np.array(cols[0], dtype=str),
            seq_subject=np.array(cols[1], np.int32),
            seq_action=np.array(cols[2], np.int32),
            seq_subaction=np.array(cols[3], np.int32),
            seq_camera=np.array(cols[4], np.int32),
            seq_cameras=np.array(cols[5], np.float64).reshape(-1, 21),
            seq_image_sizes=np.array(cols[6], np.int32).reshape(-1, 2),
            seq_image_patterns=np.array(cols[7], dtype=str),
            frame_seq=np.concatenate(
                [np.full(len(f), s, np.int32) for s, (f, _) in enumerate(self.frames)] or [np.zeros(0, np.int32)]
            ),
            frame_numbers=np.concatenate([f for f, _ in self.frames] or [np.zeros(0)]).astype(np.int32),
            joints_world=np.concatenate([j for _, j in self.frames] or [np.zeros((0, 17, 3))]).astype(np.float32),
            joint_labelled=self.joint_source >= 0,
            skipped=self.skipped,
            bad_records=self.bad,
        )
        log.info("%s", index.summary())
        return index


def _check_split(split: str, allowed) -> None:
    if split not in allowed:
        raise ValueError(f"Human3.6M split must be one of {tuple(allowed)}, got {split!r}")


def _joint_source(joint_map, file_joints: Sequence[int] | None, where: str, allow_missing: bool) -> np.ndarray:
    """Per pa17j joint, its index among the file's joints (-1 where the file lacks it)."""
    h36m = PA17J_FROM_H36M if joint_map is None else np.asarray(joint_map, np.int64)
    if h36m.shape != (17,):
        raise ValueError(f"joint_map must give 17 H36M joint indices (pa17j order), got shape {h36m.shape}")
    if file_joints is None:
        return h36m
    position = {int(j): k for k, j in enumerate(file_joints)}
    source = np.array([position.get(int(j), -1) for j in h36m])
    if (source < 0).any() and not allow_missing:
        missing = [f"pa17j {i} (H36M joint {int(h36m[i])} {H36M_JOINTS[h36m[i]]})" for i in np.flatnonzero(source < 0)]
        raise ValueError(
            f"{where}: the file's joints cannot give pa17j: it lacks {', '.join(missing)}; pass "
            "allow_missing_joints=True to keep them as unlabelled (NaN) joints"
        )
    return source


# --- deephar's annotations.mat ---------------------------------------------------------------------------------------


def _as_list(value) -> list:
    """A MATLAB struct array loaded with squeeze_me as a list (one struct loads as the struct itself)."""
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    return [value]


def _check_labels(mat: dict, mat_file: Path, h36m_map: np.ndarray, actions: set[int], check_joints: bool) -> None:
    """``joint_labels`` must name the H36M skeleton's joints at the mapped indices; ``action_labels[a − 1]`` must
    name action ``a`` (deephar indexes ACTION_LABELS so)."""
    if check_joints and "joint_labels" in mat:
        labels = [str(x) for x in _as_list(mat["joint_labels"])]
        wrong = []
        for i, j in enumerate(h36m_map):
            label = labels[j] if j < len(labels) else None
            # the H36M skeleton names its end points "Site" (some exports: "Site-head")
            have, want = (re.sub(r"[^a-z0-9]", "", str(x).lower()) for x in (label, H36M_JOINTS[j]))
            if label is None or not (have == want or (want == "site" and have.startswith("site"))):
                wrong.append(f"pa17j {i}: joint_labels[{j}] = {label!r}, expected {H36M_JOINTS[j]!r}")
        if wrong:
            raise ValueError(
                f"{mat_file}: joint_labels disagree with deephar's pa17j map ({'; '.join(wrong[:4])}"
                f"{'; …' if len(wrong) > 4 else ''}); pass joint_map= with the file's indices of the "
                "pa17j joints, or check_labels=False"
            )
    if "action_labels" in mat:
        labels = [str(x) for x in _as_list(mat["action_labels"])]
        for a in sorted(actions):
            label = labels[a - 1] if a - 1 < len(labels) else None
            if label is None or action_id(label) != a:
                raise ValueError(
                    f"{mat_file}: action_labels[{a - 1}] is {label!r}, but sequences a{a:02d}_* are "
                    f"{ACTIONS[a]} (H36M action {a}); pass check_labels=False to ignore"
                )


def read_h36m_deephar(
    mat_file: str | Path,
    split: str,
    subjects: Sequence[int] | None = None,
    frame_step: int | None = None,
    image_root: str | Path | None = None,
    check_images: bool = False,
    joint_map: Sequence[int] | None = None,
    check_labels: bool = True,
) -> H36mIndex:
    """Read deephar's Human3.6M ``annotations.mat`` (``sequences_tr`` → train, ``sequences_val`` → val,
    ``sequences_te`` → test) into a frame index.

    ``subjects`` (default: 1, 5, 6, 7, 8 for train; 9, 11 for val) and ``frame_step`` (default 5 train, 64 val)
    filter frames; ``check_images`` skips sequences whose image folder is missing under ``image_root`` and frames
    whose image is. Sequences with a bad camera and frames with NaN joints are skipped and counted; malformed content
    raises ValueError naming the file and the sequence. ``joint_map``: H36M indices of the pa17j joints (default
    deephar's ``map_from_h36m``, checked against ``joint_labels`` when ``check_labels``).
    """
    mat_file = Path(mat_file)
    _check_split(split, _DEEPHAR_VARS)
    if not mat_file.is_file():
        raise FileNotFoundError(f"deephar Human3.6M annotation file not found: {mat_file}")
    try:
        mat = scipy.io.loadmat(str(mat_file), struct_as_record=False, squeeze_me=True)
    except Exception as e:  # scipy raises several types for unreadable files
        raise ValueError(f"cannot read deephar Human3.6M annotation file {mat_file}: {e}") from None
    var = _DEEPHAR_VARS[split]
    if var not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{mat_file}: no {var!r} variable (found {found})")
    source = _joint_source(joint_map, None, str(mat_file), False)
    builder = _Builder(split, subjects, frame_step, image_root, check_images, source)
    sequences = _as_list(mat[var])
    actions = set()
    for s, seq in enumerate(sequences):
        where = f"{mat_file}: {var}[{s}]"
        fields = set(getattr(seq, "_fieldnames", ()))
        if not {"name", "camera_parameters", "frames"} <= fields:
            raise ValueError(f"{where}: a sequence needs name, camera_parameters and frames (has {sorted(fields)})")
        name = str(seq.name)
        match = re.fullmatch(r"a(\d\d)_s(\d\d)_e(\d\d)_c(\d\d)", name)
        if match is None or int(match[1]) not in ACTIONS or not 1 <= int(match[4]) <= 4:
            raise ValueError(f"{where}: sequence name {name!r} is not aAA_sSS_eEE_cCC (action 02..16, camera 01..04)")
        where += f" ({name})"
        meta = (name, *(int(match[g]) for g in (2, 1, 3, 4)))  # name, subject, action, subaction, camera
        actions.add(meta[2])
        cp = seq.camera_parameters
        try:
            camera = Camera(cp.R, cp.T, cp.f, cp.c, cp.k, cp.p)
        except (AttributeError, ValueError, TypeError) as e:
            raise ValueError(f"{where}: camera_parameters need R 3×3, T 3, f 2, c 2, k 3, p 2 ({e})") from None
        frames = _as_list(seq.frames)
        try:
            numbers = np.array([float(fr.f) for fr in frames])
            sizes = np.array([(float(fr.w), float(fr.h)) for fr in frames]).reshape(-1, 2)
            poses = [np.asarray(fr.pose3d, np.float64) for fr in frames]
        except (AttributeError, TypeError, ValueError) as e:
            raise ValueError(f"{where}: frames need scalar f, w, h and pose3d ({e})") from None
        if len(numbers) and (np.any(numbers != np.round(numbers)) or numbers.min() < 1):
            raise ValueError(f"{where}: frame numbers must be integers ≥ 1 (1-based)")
        if len(sizes) and (np.any(sizes != sizes[0]) or np.any(sizes[0] <= 0)):
            raise ValueError(f"{where}: frames must share one positive image size w, h")
        for k, pose in enumerate(poses):
            if pose.ndim != 2 or pose.shape[0] != 3 or pose.shape[1] <= source.max():
                raise ValueError(
                    f"{where}, frame f={int(numbers[k])}: pose3d has shape {pose.shape}, expected 3 × 32 "
                    f"(3 × N with N > {source.max()} for the pa17j map)"
                )
        joints = np.stack([p.T for p in poses]) if poses else np.zeros((0, 32, 3))
        size = sizes[0].astype(int).tolist() if len(sizes) else [0, 0]
        builder.add(where, meta, camera, size, f"{name}/{{:05d}}.jpg", numbers.astype(np.int64), joints)
    if check_labels:  # an explicit joint_map is the user's reading of the file's joints: its labels are not checked
        _check_labels(mat, mat_file, source, actions, check_joints=joint_map is None)
    return builder.build(mat_file, "deephar", split)


# --- mmpose's npz + cameras.pkl -------------------------------------------------------------------------------------

_IMGNAME = re.compile(r"^(S(\d+))/(S\d+_(.+)\.(\d+))/\3_(\d+)\.jpg$")


def _read_cameras(cameras_file: Path) -> dict:
    if not cameras_file.is_file():
        raise FileNotFoundError(f"mmpose Human3.6M cameras file not found: {cameras_file}")
    with open(cameras_file, "rb") as f:
        try:
            cameras = pickle.load(f)  # noqa: S301 (a file the user chose, as mmpose reads it)
        except Exception as e:
            raise ValueError(f"cannot read {cameras_file}: {e}") from None
    if not isinstance(cameras, dict):
        raise ValueError(f"{cameras_file}: expected a dict (subject, camera id) → parameters")
    return cameras


def read_h36m_mmpose(
    npz_file: str | Path,
    cameras_file: str | Path,
    split: str,
    subjects: Sequence[int] | None = None,
    frame_step: int | None = None,
    image_root: str | Path | None = None,
    check_images: bool = False,
    allow_missing_joints: bool = False,
) -> H36mIndex:
    """Read mmpose's ``h36m_{train,test}.npz`` with its ``cameras.pkl`` into a frame index (``test`` → ``val``).

    ``S`` (camera coordinates, metres) is turned into world mm with the frame's camera. mmpose's 17 joints lack
    deephar's ``spine``: without ``allow_missing_joints`` this raises. Other arguments as :func:`read_h36m_deephar`.
    """
    npz_file = Path(npz_file)
    _check_split(split, _MMPOSE_FILES)
    if not npz_file.is_file():
        raise FileNotFoundError(f"mmpose Human3.6M annotation file not found: {npz_file}")
    try:
        with np.load(npz_file, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as e:
        raise ValueError(f"cannot read {npz_file}: {e}") from None
    missing = {"imgname", "S"} - data.keys()
    if missing:
        raise ValueError(f"{npz_file}: lacks {sorted(missing)} (mmpose's keys: imgname, center, scale, part, S)")
    names, S = data["imgname"], data["S"]
    if S.ndim != 3 or S.shape[1:] != (17, 4) or len(names) != len(S):
        raise ValueError(f"{npz_file}: S has shape {S.shape}, expected ({len(names)}, 17, 4): mmpose's 17 joints")
    cameras = _read_cameras(Path(cameras_file))
    source = _joint_source(None, MMPOSE_H36M_JOINTS, str(npz_file), allow_missing_joints)
    builder = _Builder(split, subjects, frame_step, image_root, check_images, source)
    folders = np.array([n.rsplit("/", 1)[0] for n in names.tolist()])
    order, first, inverse = np.unique(folders, return_index=True, return_inverse=True)
    subactions: dict[tuple[int, int], list[str]] = {}
    for row in np.argsort(first):  # sequences in the order they appear: that order gives the sub-action
        rows = np.flatnonzero(inverse == row)
        match = _IMGNAME.match(str(names[rows[0]]))
        if match is None:
            raise ValueError(f"{npz_file}: imgname {names[rows[0]]!r} is not S<n>/S<n>_<Action>.<camera>/…_<frame>.jpg")
        subject, action_text, cam_id = int(match[2]), match[4], match[5]
        action = action_id(action_text)
        where = f"{npz_file}: sequence {match[3]}"
        if action is None or cam_id not in CAMERA_IDS:
            raise ValueError(f"{where}: unknown action {action_text!r} or camera {cam_id!r}")
        seen = subactions.setdefault((subject, action), [])
        if action_text not in seen:
            seen.append(action_text)
        if len(seen) > 2:
            raise ValueError(f"{where}: a third sequence of {ACTIONS[action]} for S{subject} ({seen})")
        subaction, camera_index = seen.index(action_text) + 1, CAMERA_IDS.index(cam_id) + 1
        key = (f"S{subject}", cam_id)
        if key not in cameras:
            raise ValueError(f"{cameras_file}: no camera {key} (needed by {match[3]})")
        params = cameras[key]
        try:
            camera = Camera.from_mmpose(params)
            size = [int(params["w"]), int(params["h"])]
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"{cameras_file}: camera {key} needs R, T, f, c, k, p, w, h ({e})") from None
        prefix = f"{match[1]}/{match[3]}/{match[3]}_"
        digits = len(match[6])
        numbers = np.array([int(n[len(prefix) : -4]) for n in names[rows].tolist()], np.int64)
        if not all(n == f"{prefix}{f:0{digits}d}.jpg" for n, f in zip(names[rows].tolist(), numbers.tolist())):
            raise ValueError(f"{where}: image names do not all follow {prefix}<{digits} digits>.jpg")
        camera_mm = S[rows, :, :3].astype(np.float64) * 1000.0
        name = f"a{action:02d}_s{subject:02d}_e{subaction:02d}_c{camera_index:02d}"
        world = camera_to_world(camera_mm, camera.R, camera.T)
        builder.add(
            where,
            (name, subject, action, subaction, camera_index),
            camera,
            size,
            f"{prefix}{{:0{digits}d}}.jpg",
            numbers,
            world,
        )
    return builder.build(npz_file, "mmpose", split)


def load_h36m_index(root: str | Path, split: str, form: str = "auto", fps: int = 50, **kwargs) -> H36mIndex:
    """The index of ``split`` under a dataset ``root`` in either form (module docstring); ``form="auto"`` picks the
    one present (deephar's where both are). mmpose's ``fps`` folder: 50 (every frame) or 10. Images are looked for
    in ``root/images``. ``kwargs`` go to the reader."""
    root = Path(root)
    deephar_file = root / "annotations.mat"
    body3d = root / "annotation_body3d"
    if form == "auto":
        if not deephar_file.is_file() and not body3d.is_dir():
            raise FileNotFoundError(
                f"no Human3.6M annotations under {root}: expected {deephar_file} (deephar) or {body3d}/ (mmpose)"
            )
        form = "deephar" if deephar_file.is_file() else "mmpose"
    kwargs.setdefault("image_root", root / "images")
    if form == "deephar":
        return read_h36m_deephar(deephar_file, split, **kwargs)
    if form == "mmpose":
        _check_split(split, _MMPOSE_FILES)
        return read_h36m_mmpose(body3d / f"fps{fps}" / _MMPOSE_FILES[split], body3d / "cameras.pkl", split, **kwargs)
    raise ValueError(f"unknown Human3.6M form {form!r}: 'auto', 'deephar' or 'mmpose'")
