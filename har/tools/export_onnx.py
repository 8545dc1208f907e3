"""Export a har checkpoint's network to ONNX.

    python -m har.tools.export_onnx ckpt_path=PATH out=model.onnx [batch_size=N] [opset=N] [num_frames=T] [check=true]

A pose checkpoint exports `DeepHARPose` (input ``image`` (B, 3, H, W) in [-1, 1]; outputs ``pose`` (B, J, D) in
crop-normalised [0, 1] and ``visibility`` (B, J, 1) of the last prediction block). An action checkpoint exports the
pose network and `DeepHARAction` together (input ``clip`` (B, T, 3, H, W) in [-1, 1], T fixed: ``num_frames``, by
default the checkpoint's; outputs the logits of every head). ``check=true`` (default)
runs onnxruntime on random inputs and compares it with PyTorch.

The exporter is torch.onnx's dynamo exporter (``torch.export``; torch's default since 2.9, the TorchScript exporter
is deprecated); on this network (TF-"same" padding, separable convolutions, soft-argmax) onnxruntime matches PyTorch
to ~1e-7. Wrappers are put in eval mode before export: BatchNorm must use its running statistics.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

POSE_OUTPUTS = ("pose", "visibility")
ACTION_OUTPUTS = ("fused", "pose", "appearance", "pose_fused", "appearance_fused")


class PoseExportWrapper(nn.Module):
    """`DeepHARPose` → (pose (B, J, D), visibility (B, J, 1)) of the last block: what inference reads."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(image)
        return out.pose[-1], out.visibility[-1]


class ActionExportWrapper(nn.Module):
    """An `ActionModule` (pose network + `DeepHARAction`) on clips (B, T, 3, H, W) in [-1, 1] → its head logits:
    fused (B, A), pose (N, B, A), appearance (N, B, A), pose_fused, appearance_fused (B, A)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.module(clip)
        return out.fused, out.pose, out.appearance, out.pose_fused, out.appearance_fused


def _export(
    wrapper: nn.Module,
    example: torch.Tensor,
    input_name: str,
    output_names: tuple[str, ...],
    path: str | Path,
    batch_size: int | None,
    opset: int | None,
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = wrapper.eval()
    dynamic_shapes = {input_name: {0: torch.export.Dim("batch", min=1)}} if batch_size is None else None
    kwargs = {} if opset is None else {"opset_version": int(opset)}
    # A dynamic batch needs an example batch of 2+ (torch.export specialises a size of 1).
    example = example.expand(max(2, example.shape[0]) if batch_size is None else batch_size, *example.shape[1:])
    # "torchvision is not installed" notices: har never uses torchvision ops.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings(), torch.no_grad():
        for category in (DeprecationWarning, FutureWarning):  # torch.export's deprecation chatter, not ours
            warnings.simplefilter("ignore", category)
        program = torch.onnx.export(
            wrapper,
            (example.contiguous(),),
            input_names=[input_name],
            output_names=list(output_names),
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            external_data=False,
            verbose=False,
            **kwargs,
        )
    program.save(str(path), external_data=False)
    return path


def export_pose_onnx(net: nn.Module, path: str | Path, batch_size: int | None = None, opset: int | None = None) -> Path:
    """Export a `DeepHARPose` (put in eval mode here) to ONNX at ``path``; returns the path.

    Input ``image`` (B, 3, H, W) float32 in [-1, 1], H, W = ``net.input_size``; B is dynamic when ``batch_size`` is
    None, else fixed. Outputs of the LAST prediction block: ``pose`` (B, J, D) crop-normalised (x, y[, z]) in
    [0, 1] (map to pixels with `har.codec.HeatmapCodec`) and ``visibility`` (B, J, 1) in (0, 1).
    ``opset``: ONNX opset (None: the exporter's default).
    """
    net.eval()
    height, width = net.input_size
    example = torch.zeros(1 if batch_size is None else batch_size, 3, height, width)
    return _export(PoseExportWrapper(net), example, "image", POSE_OUTPUTS, path, batch_size, opset)


def export_action_onnx(
    module: nn.Module,
    path: str | Path,
    num_frames: int,
    batch_size: int | None = None,
    opset: int | None = None,
) -> Path:
    """Export an `ActionModule` (eval mode: pose network and action network) to ONNX: input ``clip``
    (B, T, 3, H, W) float32 in [-1, 1] with T = ``num_frames`` (fixed), outputs ``fused`` (B, A), ``pose`` /
    ``appearance`` (N, B, A), ``pose_fused``, ``appearance_fused`` (B, A): logits (softmax for probabilities)."""
    module.eval()
    height, width = module.pose_net.input_size
    example = torch.zeros(1 if batch_size is None else batch_size, int(num_frames), 3, height, width)
    return _export(ActionExportWrapper(module), example, "clip", ACTION_OUTPUTS, path, batch_size, opset)


def onnx_max_abs_diff(wrapper: nn.Module, path: str | Path, inputs: torch.Tensor) -> float:
    """Largest |onnxruntime − PyTorch| over all outputs for ``inputs`` (CPU)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = [t.float().numpy() for t in wrapper.eval()(inputs)]
    got = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})
    return max(float(np.abs(g - e).max()) for g, e in zip(got, expected, strict=True))


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
