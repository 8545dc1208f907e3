"""The mean-pose baseline of Human3.6M MPJPE: predict, for every validation frame, the training split's mean
root-relative pose, and score it with the same protocol and metric code as the network.

    python -m har.tools.mean_pose_baseline experiment=synthetic_pose3d [data.…=…] [--json OUT.json]

The overrides compose ``conf/train.yaml`` as ``train.py`` does, so the datamodule, its splits, subjects and frame
subsampling are the run's. For each Human3.6M dataset in it (``eval_sets`` metric ``mpjpe``; in a mixed
datamodule, each such member):

- the mean pose is the mean over the training frames of the **camera-frame** joints minus the root (pelvis), per
  joint (a joint a source lacks, NaN, is left out of its mean): the best constant guess of a network that sees no
  image, as a network's prediction lives in the camera's frame;
- on each validation frame it is placed at the ground-truth root (deephar's protocol gives the network the
  ground-truth root depth; the baseline gets the whole root), taken back to world coordinates and scored with
  :func:`har.metrics.mpjpe.mpjpe`: MPJPE (root-relative), P-MPJPE and the per-action table.

It prints the table (mm), then one JSON line ``{"<name>": {"mpjpe": …, "p_mpjpe": …, "mpjpe/<Action>": …,
"train_frames": n, "val_frames": n}}``; ``--json`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from har.geometry.camera import camera_to_world, split_serialized
from har.lit.benchmarks import format_mpjpe_table
from har.metrics.mpjpe import mpjpe

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
ROOT_JOINT = 0  # pa17j pelvis


def mean_relative_pose(joints_camera: np.ndarray, root: int = ROOT_JOINT) -> np.ndarray:
    """(J, 3) mean of camera-frame poses (N, J, 3) mm minus their root, per joint over the frames where it is
    finite (NaN for a joint never present)."""
    rel = np.asarray(joints_camera, np.float64) - np.asarray(joints_camera, np.float64)[:, root : root + 1]
    finite = np.isfinite(rel).all(axis=-1)
    count = finite.sum(axis=0)
    total = np.where(finite[..., None], rel, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[:, None] > 0, total / np.maximum(count, 1)[:, None], np.nan)


def baseline_scores(train_index, val_index) -> dict[str, float]:
    """MPJPE, P-MPJPE and per-action scores (mm) of the training split's mean pose on the validation split (two
    ``H36mIndex``), plus the frame counts."""
    mean = mean_relative_pose(train_index.joints_camera())
    root = val_index.joints_camera()[:, ROOT_JOINT : ROOT_JOINT + 1]  # (N, 1, 3)
    R, T = split_serialized(val_index.frame_cameras())[:2]
    pred_world = camera_to_world(root + mean[None], R[:, None], T[:, None])
    actions = val_index.seq_action[val_index.frame_seq]
    scores = mpjpe(pred_world, val_index.joints_world.astype(np.float64), actions=actions)
    return {**scores, "train_frames": len(train_index), "val_frames": len(val_index)}


def h36m_members(datamodule) -> dict[str, object]:
    """name → the Human3.6M datamodules (``eval_sets`` metric ``mpjpe``) of a datamodule or of a mixed one."""
    members = getattr(datamodule, "members", None) or {datamodule.eval_sets[0][0]: datamodule}
    found = {name: dm for name, dm in members.items() if dm.eval_sets[0][1] == "mpjpe"}
    if not found:
        raise SystemExit(f"no Human3.6M dataset (metric mpjpe) in the data config ({type(datamodule).__name__})")
    return found


def compose(overrides: list[str]):
    """conf/train.yaml composed with ``overrides`` (Hydra's runtime set, as the data paths refer to it)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    os.environ.setdefault("HAR_ROOT", str(CONF_DIR.parent))  # conf/paths reads it (train.py sets it the same way)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    return cfg


def run(overrides: list[str]) -> dict[str, dict[str, float]]:
    """The baseline of every Human3.6M dataset of the composed config's datamodule (generated first if
    synthetic)."""
    from hydra.utils import instantiate

    from har.utils.resolvers import register_resolvers

    register_resolvers()
    cfg = compose(overrides)
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    results = {}
    for name, dm in h36m_members(datamodule).items():
        train = dm.load_index(dm.split_of("train"))
        val = dm.load_index(dm.split_of("val"))
        results[name] = baseline_scores(train, val)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/train.yaml (experiment=..., data....)")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    results = run(args.overrides)
    for name, scores in results.items():
        print(f"mean-pose baseline, {name}: {scores['train_frames']} training frames, {scores['val_frames']} "
              f"validation frames (mm)")  # fmt: skip
        print(format_mpjpe_table({f"{name}/{k}": v for k, v in scores.items()}, name))
    line = json.dumps(results, sort_keys=True)
    print(line)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(line + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
