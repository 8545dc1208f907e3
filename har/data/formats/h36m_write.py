"""Writers of Human3.6M's two forms (deephar's ``annotations.mat``, mmpose's ``h36m_*.npz`` + ``cameras.pkl``),
exactly as their readers (:mod:`har.data.formats.h36m`) and the original loaders read them; used by the tests and
the synthetic generator."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io

from har.data.formats.h36m import (
    _MMPOSE_FILES,
    ACTIONS,
    CAMERA_IDS,
    H36M_JOINTS,
    MMPOSE_H36M_JOINTS,
    H36mSequence,
    _check_split,
    _read_cameras,
)
from har.geometry.camera import Camera

_SEQ_DTYPE = [("name", object), ("camera_parameters", object), ("frames", object)]
_FRAME_DTYPE = [("f", object), ("w", object), ("h", object), ("pose3d", object)]


def _deephar_sequences(sequences: Sequence[H36mSequence]) -> np.ndarray:
    out = np.zeros((1, len(sequences)) if sequences else (0, 0), dtype=_SEQ_DTYPE)
    for s, seq in enumerate(sequences):
        cam = seq.camera_params
        frames = np.zeros((1, len(seq.frames)), dtype=_FRAME_DTYPE)
        for i, (f, pose) in enumerate(zip(seq.frames, np.asarray(seq.pose3d, np.float64))):
            frames[0, i] = (
                np.array([[float(f)]]),
                np.array([[float(seq.width)]]),
                np.array([[float(seq.height)]]),
                pose.T,
            )
        out[0, s] = (
            seq.name,
            {
                "R": cam.R,
                "T": cam.T.reshape(3, 1),
                "f": cam.f.reshape(2, 1),
                "c": cam.c.reshape(2, 1),
                "p": cam.p.reshape(2, 1),
                "k": cam.k.reshape(3, 1),
            },
            frames,
        )
    return out


def _cell(strings: Sequence[str]) -> np.ndarray:
    cell = np.empty((1, len(strings)), dtype=object)
    cell[0, :] = list(strings)
    return cell


def write_deephar_h36m_mat(
    path: str | Path,
    train: Sequence[H36mSequence],
    val: Sequence[H36mSequence],
    test: Sequence[H36mSequence] = (),
    action_labels: Sequence[str] | None = None,
    joint_labels: Sequence[str] | None = H36M_JOINTS,
) -> Path:
    """Write deephar's ``annotations.mat``: struct arrays ``sequences_tr/val/te`` (name, camera_parameters with R
    3×3 and column vectors T, f, c, p, k; frames with f, w, h 1×1 and pose3d 3 × 32), ``action_labels`` (default
    the 16 H36M action names, ``_ALL`` first, so that ``action_labels[a − 1]`` names action a) and
    ``joint_labels``; ``scipy.io.loadmat(struct_as_record=False, squeeze_me=True)`` reads it as deephar does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if action_labels is None:
        action_labels = ["_ALL", *ACTIONS.values()]
    content = {
        "sequences_tr": _deephar_sequences(train),
        "sequences_val": _deephar_sequences(val),
        "sequences_te": _deephar_sequences(test),
        "action_labels": _cell(action_labels),
    }
    if joint_labels is not None:
        content["joint_labels"] = _cell(joint_labels)
    scipy.io.savemat(str(path), content)
    return path


def write_mmpose_h36m(root: str | Path, split: str, sequences: Sequence[H36mSequence], fps: int = 50) -> Path:
    """Write mmpose's ``annotation_body3d/fps{fps}/h36m_{train|test}.npz`` (``split`` train or val) and update
    ``annotation_body3d/cameras.pkl``, as ``preprocess_h36m.py`` does: sequences in subject, action, sub-action,
    camera order; 17 joints; ``S`` camera coordinates in metres; ``part`` their projection; ``center``/``scale``
    the 2D box (× 1.2 / 200); image names ``S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg``."""
    _check_split(split, _MMPOSE_FILES)
    body3d = Path(root) / "annotation_body3d"
    (body3d / f"fps{fps}").mkdir(parents=True, exist_ok=True)
    cameras_file = body3d / "cameras.pkl"
    cameras = _read_cameras(cameras_file) if cameras_file.is_file() else {}
    names, centers, scales, parts, S = [], [], [], [], []
    for seq in sorted(sequences, key=lambda q: (q.subject, q.action, q.subaction, q.camera)):
        cam_id = CAMERA_IDS[seq.camera - 1]
        key = (f"S{seq.subject}", cam_id)
        entry = {
            **seq.camera_params.to_mmpose(),
            "w": seq.width,
            "h": seq.height,
            "name": f"camera{seq.camera}",
            "id": cam_id,
        }
        if key in cameras and not np.allclose(
            Camera.from_mmpose(cameras[key]).serialize(), seq.camera_params.serialize()
        ):
            raise ValueError(f"{key}: two different cameras for one subject and camera")
        cameras[key] = entry
        world = np.asarray(seq.pose3d, np.float64)[:, MMPOSE_H36M_JOINTS]
        base = f"S{seq.subject}_{ACTIONS[seq.action]}_{seq.subaction}.{cam_id}"
        names += [f"S{seq.subject}/{base}/{base}_{int(f):06d}.jpg" for f in seq.frames]
        uv = seq.camera_params.project(world)[..., :2]
        lo, hi = uv.min(axis=1), uv.max(axis=1)
        centers.append((lo + hi) / 2)
        scales.append(1.2 * (hi - lo).max(axis=1) / 200)
        ones = np.ones((*uv.shape[:2], 1))
        parts.append(np.concatenate([uv, ones], axis=-1))
        S.append(np.concatenate([seq.camera_params.world_to_camera(world) / 1000.0, ones], axis=-1))
    out = body3d / f"fps{fps}" / _MMPOSE_FILES[split]
    np.savez(
        out,
        imgname=np.array(names),
        center=np.concatenate(centers),
        scale=np.concatenate(scales),
        part=np.concatenate(parts),
        S=np.concatenate(S),
    )
    with open(cameras_file, "wb") as f:
        pickle.dump(cameras, f)
    return out
