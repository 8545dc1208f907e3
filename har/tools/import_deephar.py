"""Convert an original deephar Keras ``.h5`` (``model.save_weights``) into a har checkpoint.

    python -m har.tools.import_deephar WEIGHTS.h5 [MORE.h5 ...] OUT.ckpt [model.KEY=VALUE ...]

Two kinds of file:
- a pose model (``reception.build``: groups ``Stem``, ``rBlockN`` ...) → a ``PoseModule`` checkpoint;
- an action merge model (``action.build_merge_model``: groups ``td_Stem``, ``td_Model1``, ``PoseAR``,
  ``GuidedVisAR`` ...) → an ``ActionModule`` checkpoint.
Several .h5 files are read as one model (a model whose groups were split over files).

The configuration is read from the file's shapes: joints, pose blocks, kernel, context maps, depth bins, width,
input size; for action models also the pose-branch version (v1, v2 or the released-typo v2), the number of action
blocks and of classes. The joint layout follows from the joints and the dimension (16 → ``pa16j``, 17 in 3D →
``pa17j``, 17 in 2D → ``coco17``, 20 → ``pa20j``). The clip length T is not in the weights: for deephar's two
released action models (Penn Action: 2D, 16 joints, 15 classes; NTU: 3D, 20 joints, 60 classes) it is deephar's
(16 and 20 frames) and so are the class names (Penn Action's and NTU's, in label order, as ``data=penn_action`` /
``data=ntu`` name them), otherwise T is unset unless given (``model.action_net.num_frames=T``) and the classes are
``action_1``..``action_N`` (a run on a datamodule gives them its names). ``model.*`` overrides change
or complete the configuration (e.g. ``model.classes=[...]``, ``model.layout=NAME``); an override that contradicts
the file is an error saying which configuration the file implies. The result loads with
``evaluate.py ckpt_path=OUT.ckpt``, ``predict.py`` and ``load_from_checkpoint``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import lightning
import torch
from omegaconf import OmegaConf

from har.data.formats.ntu import NTU60_CLASSES
from har.data.formats.penn import PENN_CLASSES
from har.models.keras_action_import import describe_merge_config, is_merge_file, load_merge_weights, read_merge_config
from har.models.keras_import import KerasFile, load_keras_weights, read_keras_config

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "model"
POSE_KEYS = ("num_joints", "num_blocks", "kernel_size", "num_context_per_joint", "depth_bins", "width", "input_size")

# deephar's released action models: what their scripts fix besides the weights (spec deephar.md §2.5, datasets §7).
RELEASED_ACTION_MODELS = (
    {
        "name": "Penn Action (weights_AR_merge_ep074_26-10-17.h5, exp/pennaction/eval_penn_ar_pe_merge.py)",
        "match": {"dim": 2, "num_joints": 16, "num_context_per_joint": 2, "num_blocks": 4, "num_actions": 15},
        "num_frames": 16,
        "eval_stride": 2,
        "classes": list(PENN_CLASSES),  # deephar's action_labels order: the official names, sorted
    },
    {
        "name": "NTU RGB+D (weights_AR_merge_NTU_v2.h5, exp/ntu/eval_ntu_ar_pe_merge.py)",
        "match": {"dim": 3, "num_joints": 20, "depth_bins": 8, "num_blocks": 4, "num_actions": 60},
        "num_frames": 20,
        "classes": list(NTU60_CLASSES),  # NTU's actions A001..A060 in order (deephar: label = A − 1)
    },
)


def default_layout(num_joints: int, dim: int) -> str:
    """deephar's joint layout for a network's joints: pa16j, pa17j (3D: H36M), pa20j (NTU); 17 in 2D is COCO."""
    if num_joints == 17:
        return "pa17j" if dim == 3 else "coco17"
    return {16: "pa16j", 20: "pa20j"}.get(num_joints, "coco17")


def _model_config(name: str) -> OmegaConf:
    """conf/model/<name>.yaml without Hydra's keys, with its optimizer from the defaults list."""
    cfg = OmegaConf.load(CONF_DIR / f"{name}.yaml")
    cfg.pop("_target_"), cfg.pop("_recursive_")
    defaults = OmegaConf.to_container(cfg.pop("defaults"))
    (optimizer,) = [d["optimizer"] for d in defaults if isinstance(d, dict) and "optimizer" in d]
    cfg.optimizer = OmegaConf.load(CONF_DIR / "optimizer" / f"{optimizer}.yaml")
    return cfg


def _apply_overrides(cfg, overrides: list[str]) -> dict:
    bad = [o for o in overrides if not o.startswith("model.") or "=" not in o]
    if bad:
        raise SystemExit(f"overrides must look like model.KEY=VALUE (e.g. model.net.input_size=[256,256]), got {bad}")
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([o[len("model.") :] for o in overrides]))
    return OmegaConf.to_container(cfg, resolve=True)


def build_model_config(h5_paths, overrides: list[str]) -> dict:
    """PoseModule arguments: conf/model/pose.yaml, the network read from the file, then the ``model.*`` overrides."""
    cfg = _model_config("pose")
    implied = read_keras_config(h5_paths)
    cfg.net = OmegaConf.merge(cfg.net, implied)
    cfg.layout = default_layout(int(cfg.net.num_joints), 2 if cfg.net.depth_bins is None else 3)
    return _apply_overrides(cfg, overrides)


def released_model(implied: dict) -> dict | None:
    """The released deephar action model whose configuration the file has, if any."""
    for model in RELEASED_ACTION_MODELS:
        if all(implied.get(k) == v for k, v in model["match"].items()):
            return model
    return None


def build_action_config(implied: dict, overrides: list[str]) -> tuple[dict, dict]:
    """ActionModule arguments (conf/model/action.yaml, the configuration the merge file implies, the overrides) and
    the datamodule settings the checkpoint records (clip length, crop size)."""
    cfg = _model_config("action")
    cfg.pose_net = OmegaConf.merge(cfg.pose_net, {k: implied[k] for k in POSE_KEYS if k in implied})
    release = released_model(implied) or {}
    cfg.action_net.pose_version = implied["pose_version"]
    cfg.action_net.num_blocks = implied["action_blocks"]
    cfg.action_net.num_frames = release.get("num_frames")
    cfg.layout = default_layout(implied["num_joints"], implied["dim"])
    cfg.classes = release.get("classes") or [f"action_{i}" for i in range(1, implied["num_actions"] + 1)]
    hp = _apply_overrides(cfg, overrides)
    data = {"input_size": list(hp["pose_net"]["input_size"])}
    if hp["action_net"].get("num_frames"):
        data["num_frames"] = int(hp["action_net"]["num_frames"])
    if release.get("eval_stride"):
        data["eval_stride"] = release["eval_stride"]
    return hp, data


def _save(checkpoint: dict, out_path: Path) -> Path:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + f".tmp{os.getpid()}")
    torch.save(checkpoint, tmp)
    tmp.replace(out_path)  # never leave a truncated checkpoint behind
    return out_path


def convert(h5_paths, out_path: str | Path, overrides: list[str] = ()) -> Path:
    """Build the module the file(s) describe (PoseModule or ActionModule), load the Keras weights, save a
    checkpoint with the structure of a trained one (state_dict, hyper_parameters, versions)."""
    paths = [Path(p) for p in ([h5_paths] if isinstance(h5_paths, (str, Path)) else h5_paths)]
    with KerasFile(paths) as kf:
        merge = is_merge_file(kf)
        implied = read_merge_config(kf) if merge else None
    checkpoint = {"pytorch-lightning_version": lightning.__version__, "epoch": 0, "global_step": 0}
    if merge:
        from har.lit.action import ActionModule

        hp, data = build_action_config(implied, list(overrides))
        if len(hp["classes"]) != implied["num_actions"]:
            raise SystemExit(
                f"model.classes has {len(hp['classes'])} names, the file has {implied['num_actions']} classes "
                f"({describe_merge_config(implied)})"
            )
        module = ActionModule(**hp)
        report = load_merge_weights(module.pose_net, module.action_net, paths)
        checkpoint["datamodule_hyper_parameters"] = data
    else:
        from har.lit.pose import PoseModule

        module = PoseModule(**build_model_config(paths, list(overrides)))
        report = load_keras_weights(module.net, paths)
    checkpoint.update(
        state_dict=module.state_dict(),
        hyper_parameters=dict(module.hparams),
        har_source={"keras_h5": [str(p.resolve()) for p in paths], "tensors_loaded": report},
    )
    return _save(checkpoint, Path(out_path))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("args", nargs="+", help="WEIGHTS.h5 [MORE.h5 ...] OUT.ckpt [model.KEY=VALUE ...]")
    args = parser.parse_args(argv).args
    overrides = [a for a in args if a.startswith("model.") and "=" in a]
    paths = [a for a in args if a not in overrides]
    if len(paths) < 2:
        parser.error("give at least one .h5 file and the output checkpoint")
    out = convert(paths[:-1], paths[-1], overrides)
    hp = torch.load(out, map_location="cpu", weights_only=True)["hyper_parameters"]
    if "pose_net" in hp:
        action = hp["action_net"]
        print(f"wrote {out}: ActionModule, DeepHARPose({', '.join(f'{k}={v}' for k, v in hp['pose_net'].items())}), "
              f"pose branch {action['pose_version']}, {action['num_blocks']} action blocks, {len(hp['classes'])} "
              f"classes, T={action.get('num_frames')}, layout {hp['layout']}")  # fmt: skip
    else:
        print(f"wrote {out}: DeepHARPose({', '.join(f'{k}={v}' for k, v in hp['net'].items())}), layout {hp['layout']}")


if __name__ == "__main__":
    from har.run.cli import run_tool

    run_tool(main, sys.argv[1:])
