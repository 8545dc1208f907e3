"""ONNX: export har's networks (torch.onnx's dynamo exporter) and run a pose network under onnxruntime.

The export functions write what ``python -m har.tools.export_onnx`` writes (that tool adds the checkpoint reading and
the command line). `OnnxPoseNet` stands in for a `DeepHARPose` inside a loaded `PoseModule` or `ActionModule`: the
same `PoseNetOutput` (every block's pose and visibility; for the action model also the last block's heat maps and
the features), computed by onnxruntime on the CPU. ``evaluate.py runtime=onnx`` and ``predict.py runtime=onnx`` use
it, so the flip test, the decoding to pixels, the metrics and the action model run unchanged around it.

The exporter is ``torch.export``-based (torch's default since 2.9, the TorchScript exporter is deprecated); on this
network (TF-"same" padding, separable convolutions, soft-argmax) onnxruntime matches PyTorch to ~1e-7. Wrappers are
put in eval mode before export: BatchNorm must use its running statistics.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from har.models.pose_net import DeepHARPose, PoseNetOutput
from har.utils.io import atomic_path, cache_root

POSE_OUTPUTS = ("pose", "visibility")
ACTION_OUTPUTS = ("fused", "pose", "appearance", "pose_fused", "appearance_fused")
POSE_NET_OUTPUTS = PoseNetOutput._fields  # pose, visibility, heatmaps, features


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
    return _export(PoseExportWrapper(net), _example(net, batch_size), "image", POSE_OUTPUTS, path, batch_size, opset)


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


class PoseNetExportWrapper(nn.Module):
    """`DeepHARPose` → every block's pose (K, B, J, D) and visibility (K, B, J, 1), and with ``features`` the last
    block's heat maps and the features too: all that `OnnxPoseNet` must give back to stand in for the network."""

    def __init__(self, net: nn.Module, features: bool):
        super().__init__()
        self.net = net
        self.features = features

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(image)
        return tuple(out) if self.features else (out.pose, out.visibility)


class OnnxPoseNet(nn.Module):
    """A `DeepHARPose` run by onnxruntime (CPU): exported once to ``path``, then called like the network.

    ``forward`` takes the network's input (B, 3, H, W) in [-1, 1] on any device (channels_last or not) and returns
    a `PoseNetOutput` on that device: every block's ``pose`` and ``visibility`` (what the test losses and the flip
    test read) and, with ``features=True`` (an action model's pose network), the last block's ``heatmaps`` and the
    ``features``; without, those two are empty tensors. Everything else (``dim``, ``num_joints``, ``input_size``,
    ``decode``, ...) is read from the wrapped network, kept as ``torch_net`` (its weights stay in the module's
    ``state_dict``). Inference only: the graph is the network in eval mode, and no gradient flows through it.
    ``threads``: onnxruntime's intra-op threads (None: its default, one per core). ``cache``: keep the export in
    `onnx_cache_dir` and reuse it for the same weights (the export takes 6-22 s on 2 CPU cores, whatever the data's
    size); ``from_cache`` says whether this one was.
    """

    def __init__(self, net: DeepHARPose, path: str | Path, features: bool = False, threads: int | None = None,
                 cache: bool = True) -> None:  # fmt: skip
        super().__init__()
        import onnxruntime as ort

        self.torch_net = net.eval()
        self.with_features = bool(features)
        self.path, self.from_cache = Path(path), False
        cached = onnx_cache_file(net, self.with_features) if cache else None
        if cached is not None and cached.is_file():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cached, self.path)
            self.from_cache = True
        else:
            _export(PoseNetExportWrapper(net, self.with_features), _example(net, None), "image",
                    POSE_NET_OUTPUTS[: 4 if self.with_features else 2], self.path, None, None)  # fmt: skip
            if cached is not None:
                with atomic_path(cached) as tmp:
                    shutil.copyfile(self.path, tmp)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("torch_net"), name)

    def forward(self, x: torch.Tensor) -> PoseNetOutput:
        feed = x.detach().float().cpu().contiguous().numpy()
        outs = [torch.from_numpy(o).to(x.device) for o in self._session.run(None, {"image": feed})]
        if not self.with_features:
            outs += [x.new_zeros(0), x.new_zeros(0)]
        return PoseNetOutput(*outs)


def onnx_cache_dir() -> Path:
    """Where exported pose networks are kept for the next ``runtime=onnx`` run: ``$HAR_CACHE_DIR/onnx``, else
    ``~/.cache/har/onnx`` (as the COCO index cache)."""
    return cache_root() / "onnx"


def onnx_cache_file(net: nn.Module, features: bool) -> Path:
    """The cache file of ``net``'s export: named by a digest of its weights, buffers, configuration (class, input
    size, outputs) and the torch and onnxruntime versions, so that a changed network or exporter never reuses it."""
    import onnxruntime as ort

    state = net.state_dict()
    shapes = sorted((k, tuple(v.shape), str(v.dtype)) for k, v in state.items())
    digest = hashlib.sha256()
    digest.update(repr((type(net).__name__, tuple(net.input_size), features, torch.__version__, ort.__version__,
                        shapes)).encode())  # fmt: skip
    for value in state.values():
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return onnx_cache_dir() / f"pose_net_{digest.hexdigest()[:32]}.onnx"


def _example(net: nn.Module, batch_size: int | None) -> torch.Tensor:
    height, width = net.input_size
    return torch.zeros(1 if batch_size is None else batch_size, 3, height, width)
