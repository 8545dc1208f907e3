"""Writers of MPII's two forms (deephar's ``annotations.mat``, mmpose's JSON + head-box ``.mat``), exactly as their
readers (:mod:`har.data.formats.mpii`) and the original loaders read them; used by the tests and the synthetic
generator."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io

from har.data.formats.mpii import MpiiImage, MpiiPerson


def _person_struct(p: MpiiPerson) -> dict:
    pose = np.zeros((0, 0)) if p.pose is None else np.asarray(p.pose, np.float64).reshape(16, 2).T
    return {
        "head": np.asarray(p.head, np.float64).reshape(1, 4),
        "objpos": np.asarray(p.objpos, np.float64).reshape(1, 2),
        "scale": np.array([[float(p.scale)]]),
        "pose": pose,
    }


def _deephar_annot(images: Sequence[MpiiImage]) -> np.ndarray:
    annot = np.empty((3, len(images)), dtype=object)
    for col, img in enumerate(images):
        annot[0, col] = np.array(img.selected, np.int32).reshape(-1, 1) + 1  # 1-based, (k, 1)
        annot[1, col] = img.name
        rects = np.empty((len(img.persons), 1), dtype=object)  # a cell array of 1×1 structs, (n, 1)
        for j, p in enumerate(img.persons):
            rects[j, 0] = _person_struct(p)
        annot[2, col] = rects
    return annot


def write_deephar_mpii_mat(path: str | Path, train: Sequence[MpiiImage], val: Sequence[MpiiImage]) -> Path:
    """Write deephar's ``annotations.mat`` (``annot_tr``, ``annot_val``) so that ``scipy.io.loadmat`` reads it as
    deephar's loader indexes it: ``annot[0, i]`` (k, 1) int32 1-based rectidxs, ``annot[1, i]`` the name,
    ``annot[2, i]`` an (n, 1) cell array of 1×1 structs (head 1×4, objpos 1×2, scale 1×1, pose 2×16 or empty)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"annot_tr": _deephar_annot(train), "annot_val": _deephar_annot(val)})
    return path


def write_mmpose_mpii(
    json_file: str | Path, images: Sequence[MpiiImage], headbox_file: str | Path | None = None
) -> Path:
    """Write mmpose's ``mpii_{split}.json`` (one entry per selected person, in image then ``selected`` order;
    joints not annotated are written [-1, -1] with ``joints_vis`` 0; a person without pose gets all 16 so), and
    optionally ``mpii_gt_{split}.mat`` with ``headboxes_src`` (2×2×N), ``jnt_missing`` (16×N), ``pos_gt_src``
    (16×2×N) and ``dataset_joints``, in JSON order."""
    json_file = Path(json_file)
    entries, heads = [], []
    for img in images:
        for j in img.selected:
            p = img.persons[j]
            pose = np.full((16, 2), np.nan) if p.pose is None else np.asarray(p.pose, np.float64).reshape(16, 2)
            vis = np.isfinite(pose).all(axis=1)
            joints = np.where(vis[:, None], pose, -1.0)
            entries.append(
                {
                    "joints_vis": vis.astype(int).tolist(),
                    "joints": joints.tolist(),
                    "image": img.name,
                    "scale": float(p.scale),
                    "center": [float(v) for v in p.objpos],
                }
            )
            heads.append(np.asarray(p.head, np.float64).reshape(2, 2))
    json_file.parent.mkdir(parents=True, exist_ok=True)
    json_file.write_text(json.dumps(entries))
    if headbox_file is not None:
        n = len(entries)
        joints = np.array([e["joints"] for e in entries], np.float64).reshape(n, 16, 2)
        vis = np.array([e["joints_vis"] for e in entries], np.float64).reshape(n, 16)
        names = np.empty((1, 16), dtype=object)
        names[0, :] = [
            "rank",
            "rkne",
            "rhip",
            "lhip",
            "lkne",
            "lank",
            "pelv",
            "thor",
            "neck",
            "head",
            "rwri",
            "relb",
            "rsho",
            "lsho",
            "lelb",
            "lwri",
        ]
        scipy.io.savemat(
            str(headbox_file),
            {
                "headboxes_src": np.array(heads).reshape(n, 2, 2).transpose(1, 2, 0),
                "jnt_missing": (1.0 - vis).T,
                "pos_gt_src": joints.transpose(1, 2, 0),
                "dataset_joints": names,
            },
        )
    return json_file
