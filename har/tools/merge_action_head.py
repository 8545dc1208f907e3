"""Join an action head trained on saved pose features with the pose network that made them: one ActionModule
checkpoint that ``evaluate.py``, ``predict.py`` and ``har.tools.export_onnx`` run on frames.

The decoupled mode (``extract_pose_features``, then ``experiment=*_action_features``) trains
:class:`~har.lit.feature_action.FeatureActionModule`, which has no pose network. Its action network is
the one :class:`~har.lit.action.ActionModule` holds, and the features are exactly what that module's
frozen pose network computes, so putting the two weight sets side by side gives the same function on frames::

    python -m har.tools.merge_action_head head=outputs/train/runs/<run>/checkpoints/last.ckpt out=merged.ckpt
    python -m har.tools.merge_action_head head=HEAD.ckpt pose=POSE.ckpt out=merged.ckpt  # pose net given

``pose`` defaults to the checkpoint the features were extracted from: the head checkpoint records its features
folder, whose ``meta.json`` names that checkpoint and its SHA-256. A ``pose`` checkpoint whose SHA-256 differs from
the recorded one is refused (the head was trained on another network's features) unless ``force=true``; shapes
that do not fit (joints, depth, feature channels) are always refused. The clip settings the features were made
with (frames per clip, stride, crop, input size) go into the output as its datamodule hyper-parameters, where
``predict.py`` reads them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning.pytorch as pl
import torch

from har.checkpoints import file_sha256, load_pose_network, read_checkpoint
from har.errors import UserError

USAGE = "usage: python -m har.tools.merge_action_head head=HEAD.ckpt [pose=POSE.ckpt] out=merged.ckpt [force=true]"


def _features_meta(head: dict) -> tuple[dict | None, Path | None]:
    """The ``meta.json`` of the features folder the head was trained on (its datamodule's ``root``), if found."""
    root = (head.get("datamodule_hyper_parameters") or {}).get("root")
    if not root:
        return None, None
    path = Path(root) / "meta.json"
    if not path.is_file():
        return None, path
    return json.loads(path.read_text()), path


def merge_action_head(head_path: str | Path, out: str | Path, pose_path: str | Path | None = None,
                      force: bool = False) -> Path:  # fmt: skip
    """Write the ActionModule checkpoint ``out`` made of ``head_path``'s action network and the pose network of
    ``pose_path`` (default: the features' source checkpoint). Returns ``out``."""
    from har.lit.action import ActionModule

    head_path, out = Path(head_path), Path(out)
    head = read_checkpoint(head_path)
    hp = head["hyper_parameters"]
    if "feature_channels" not in hp or "classes" not in hp:
        raise ValueError(f"{head_path}: not an action head trained on pose features (FeatureActionModule): it has "
                         f"hyper-parameters {sorted(hp)[:8]}")  # fmt: skip
    meta, meta_path = _features_meta(head)
    recorded = (meta or {}).get("pose_checkpoint") or {}
    if pose_path is None:
        if not recorded.get("path"):
            where = f"{meta_path} is missing" if meta_path else "the checkpoint records no features folder"
            raise ValueError(f"{head_path}: cannot find the pose checkpoint its features came from ({where}); pass "
                             "pose=PATH")  # fmt: skip
        pose_path = recorded["path"]
    pose_path = Path(pose_path)
    net, info = load_pose_network(pose_path)
    if recorded.get("sha256") and info["sha256"] != recorded["sha256"] and not force:
        raise ValueError(
            f"{pose_path} is not the checkpoint the head's features were extracted from ({recorded.get('path')}, "
            f"SHA-256 {recorded['sha256'][:12]}…; this one {info['sha256'][:12]}…): the head would see other "
            "features than it was trained on. Pass force=true to join them anyway (then fine-tune or evaluate)."
        )
    dim = 3 if info["net"].get("depth_bins") else 2
    have = {"num_joints": net.num_joints, "dim": dim, "feature_channels": net.width}
    wrong = [f"{k} {hp[k]} (head) vs {v} (pose network)" for k, v in have.items() if hp.get(k) != v]
    if wrong:
        raise ValueError(f"{head_path} and {pose_path} do not fit: {'; '.join(wrong)}")

    module = ActionModule(
        pose_net=info["net"],
        action_net=hp.get("action_net") or {},
        classes=list(hp["classes"]),
        optimizer=hp["optimizer"],
        scheduler=hp.get("scheduler"),
        layout=(meta or {}).get("layout") or info["layout"],
        train_pose=False,
        head_weights=hp.get("head_weights"),
    )
    state = {f"pose_net.{k}": v for k, v in net.state_dict().items()}
    state.update(head["state_dict"])
    module.load_state_dict(state, strict=True)  # every weight of the joined module, nothing left over

    # How the features' clips were made (the extraction's data config); at least T and the crop size.
    data = {"input_size": list(net.input_size), **({"num_frames": meta["num_frames"]} if meta else {}),
            **((meta or {}).get("data") or {})}  # fmt: skip
    ckpt = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "datamodule_hyper_parameters": data,
        "pytorch-lightning_version": pl.__version__,
        "epoch": head.get("epoch", 0),
        "global_step": head.get("global_step", 0),
        "merged_from": {
            "head": {"path": str(head_path.resolve()), "sha256": file_sha256(head_path)},
            "pose": {"path": info["path"], "sha256": info["sha256"]},
        },  # fmt: skip
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> None:
    from omegaconf import OmegaConf

    cfg = OmegaConf.from_dotlist(list(sys.argv[1:] if argv is None else argv))
    missing = [k for k in ("head", "out") if cfg.get(k) is None]
    if missing:
        raise SystemExit(f"{USAGE}; missing {missing}")
    try:
        path = merge_action_head(cfg.head, cfg.out, cfg.get("pose"), bool(cfg.get("force", False)))
    except UserError:
        raise  # a bad checkpoint or a missing file: one line, exit status 2 (har.run.cli.run_tool)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"merge_action_head: {err}") from None
    print(f"wrote {path}: an ActionModule checkpoint (pose network + action head) for evaluate.py and predict.py")


if __name__ == "__main__":
    from har.run.cli import run_tool

    run_tool(main)
