"""Convert an original deephar Keras ``.h5`` (``model.save_weights``) into a har checkpoint.

    python -m har.tools.import_deephar WEIGHTS.h5 OUT.ckpt [model.net.KEY=VALUE ...] [model.layout=NAME]

The network configuration is read from the file's shapes (joints, blocks, kernel, context maps, depth bins, width,
input size); ``model.*`` overrides change or complete it (e.g. ``model.net.input_size=[256,256]``). The joint
layout defaults to ``pa16j`` for 16 joints (deephar's MPII order) and ``coco17`` for 17. The result loads with
``evaluate.py ckpt_path=OUT.ckpt`` and ``PoseModule.load_from_checkpoint``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import lightning
import torch
from omegaconf import OmegaConf

from har.lit.pose import PoseModule
from har.models.keras_import import load_keras_weights, read_keras_config

MODEL_CONFIG = Path(__file__).resolve().parents[2] / "conf" / "model" / "pose.yaml"
DEFAULT_LAYOUT = {16: "pa16j", 17: "coco17"}


def build_model_config(h5_path: str | Path, overrides: list[str]) -> dict:
    """conf/model/pose.yaml, with the network read from the file, then the ``model.*`` overrides applied."""
    cfg = OmegaConf.load(MODEL_CONFIG)
    cfg.pop("_target_"), cfg.pop("_recursive_")
    # The optimizer comes from the model config's defaults list (conf/model/optimizer/<name>.yaml).
    defaults = OmegaConf.to_container(cfg.pop("defaults"))
    (optimizer,) = [d["optimizer"] for d in defaults if isinstance(d, dict) and "optimizer" in d]
    cfg.optimizer = OmegaConf.load(MODEL_CONFIG.parent / "optimizer" / f"{optimizer}.yaml")
    implied = read_keras_config(h5_path)
    cfg.net = OmegaConf.merge(cfg.net, implied)
    cfg.layout = DEFAULT_LAYOUT.get(int(cfg.net.num_joints), "coco17")
    bad = [o for o in overrides if not o.startswith("model.") or "=" not in o]
    if bad:
        raise SystemExit(f"overrides must look like model.net.KEY=VALUE or model.layout=NAME, got {bad}")
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([o[len("model.") :] for o in overrides]))
    return OmegaConf.to_container(cfg, resolve=True)


def convert(h5_path: str | Path, out_path: str | Path, overrides: list[str] = ()) -> Path:
    """Build a PoseModule from the file's configuration, load the Keras weights, save a Lightning checkpoint."""
    module = PoseModule(**build_model_config(h5_path, list(overrides)))
    report = load_keras_weights(module.net, h5_path)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "pytorch-lightning_version": lightning.__version__,
        "epoch": 0,
        "global_step": 0,
        "har_source": {"keras_h5": str(Path(h5_path).resolve()), "tensors_loaded": report},
    }
    tmp = out_path.with_suffix(out_path.suffix + f".tmp{os.getpid()}")
    torch.save(checkpoint, tmp)
    tmp.replace(out_path)  # never leave a truncated checkpoint behind
    return out_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", help="original deephar .h5 weights file")
    parser.add_argument("out", help="har checkpoint to write (.ckpt)")
    parser.add_argument("overrides", nargs="*", help="model.net.KEY=VALUE / model.layout=NAME")
    args = parser.parse_args(argv)
    out = convert(args.weights, args.out, args.overrides)
    hp = torch.load(out, map_location="cpu", weights_only=True)["hyper_parameters"]
    print(f"wrote {out}: DeepHARPose({', '.join(f'{k}={v}' for k, v in hp['net'].items())}), layout {hp['layout']}")


if __name__ == "__main__":
    main(sys.argv[1:])
