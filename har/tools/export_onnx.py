"""Export a har checkpoint's network to ONNX.

    python -m har.tools.export_onnx ckpt_path=PATH out=model.onnx [batch_size=N] [opset=N] [num_frames=T] [check=true]

A pose checkpoint exports `DeepHARPose` (input ``image`` (B, 3, H, W) in [-1, 1]; outputs ``pose`` (B, J, D) in
crop-normalised [0, 1] and ``visibility`` (B, J, 1) of the last prediction block). An action checkpoint exports the
pose network and `DeepHARAction` together (input ``clip`` (B, T, 3, H, W) in [-1, 1], T fixed: ``num_frames``, by
default the checkpoint's; outputs the logits of every head). ``check=true`` (default)
runs onnxruntime on random inputs and compares it with PyTorch.

The export itself (and ``evaluate.py``/``predict.py``'s ``runtime=onnx``) lives in `har.models.onnx`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from har.models.onnx import (
    ActionExportWrapper,
    PoseExportWrapper,
    export_action_onnx,
    export_pose_onnx,
    onnx_max_abs_diff,
)


def export_checkpoint(
    ckpt_path: str | Path,
    out: str | Path,
    batch_size: int | None = None,
    opset: int | None = None,
    check: bool = True,
    num_frames: int | None = None,
    seed: int = 0,
) -> tuple[Path, float | None]:
    """Export a pose or action checkpoint's network; with ``check``, also return max |onnxruntime − PyTorch| on
    random inputs. An action network is exported for clips of ``num_frames`` (None: the checkpoint's T)."""
    from har.checkpoints import clip_settings, read_checkpoint
    from har.lit.action import ActionModule
    from har.lit.common import load_module

    ckpt = read_checkpoint(ckpt_path)
    module = load_module(ckpt_path, ckpt, tool="export_onnx")
    if isinstance(module, ActionModule):
        num_frames = int(num_frames or clip_settings(ckpt)["num_frames"])
        path = export_action_onnx(module, out, num_frames, batch_size, opset)
        wrapper = ActionExportWrapper(module)
        height, width = module.pose_net.input_size
        shape = (batch_size or 2, num_frames, 3, height, width)
    else:
        path = export_pose_onnx(module.net, out, batch_size, opset)
        wrapper = PoseExportWrapper(module.net)
        shape = (batch_size or 2, 3, *module.net.input_size)
    if not check:
        return path, None
    inputs = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return path, onnx_max_abs_diff(wrapper, path, inputs)


def main(argv: list[str] | None = None) -> None:
    from omegaconf import OmegaConf

    cfg = OmegaConf.from_dotlist(list(sys.argv[1:] if argv is None else argv))
    missing = [k for k in ("ckpt_path", "out") if cfg.get(k) is None]
    if missing:
        raise SystemExit(f"usage: python -m har.tools.export_onnx ckpt_path=PATH out=model.onnx; missing {missing}")
    path, diff = export_checkpoint(cfg.ckpt_path, cfg.out, cfg.get("batch_size"), cfg.get("opset"),
                                   bool(cfg.get("check", True)), cfg.get("num_frames"))  # fmt: skip
    print(f"wrote {path}" + ("" if diff is None else f"; max |onnxruntime - torch| = {diff:.2e}"))


if __name__ == "__main__":
    from har.run.cli import run_tool

    run_tool(main)
