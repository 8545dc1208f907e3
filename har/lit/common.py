"""What every har LightningModule shares: plain hyper-parameters, optimisers and schedulers from ``_target_`` specs,
and loading a module from any har checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from hydra.utils import get_class
from omegaconf import DictConfig, ListConfig, OmegaConf

from har.checkpoints import read_checkpoint, require_kind
from har.errors import UserError

log = logging.getLogger(__name__)


def plain(value: Any) -> Any:
    """OmegaConf containers → plain dicts/lists, so checkpoints load with ``torch.load(weights_only=True)``."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, tuple):
        return list(value)
    return value


def instantiate_with(spec: dict, first: Any) -> Any:
    """``{"_target_": "torch.optim.RMSprop", "lr": 1e-3}`` → ``RMSprop(first, lr=1e-3)`` (optimizers, schedulers)."""
    spec = dict(spec)
    return get_class(spec.pop("_target_"))(first, **spec)


def build_optimizers(optimizer: dict, scheduler: dict | None, params: list) -> dict:
    """``configure_optimizers``' answer: the optimizer over ``params`` and, when ``scheduler`` is set, its scheduler
    (an ``interval`` key, ``epoch`` or ``step``, says when it steps)."""
    opt = instantiate_with(optimizer, params)
    if not scheduler:
        return {"optimizer": opt}
    spec = dict(scheduler)
    interval = spec.pop("interval", "epoch")
    return {"optimizer": opt, "lr_scheduler": {"scheduler": instantiate_with(spec, opt), "interval": interval}}


def load_module(path: str | Path, ckpt: dict | None = None, tool: str = "this tool") -> pl.LightningModule:
    """The pose (:class:`~har.lit.pose.PoseModule`) or action (:class:`~har.lit.action.ActionModule`) module of a
    checkpoint (``ckpt``: its contents, if already read), in eval mode on the CPU; a one-line error for anything
    else (an action head without its pose network names the tool that joins them)."""
    from har.lit.action import ActionModule
    from har.lit.pose import PoseModule

    ckpt = read_checkpoint(path) if ckpt is None else ckpt
    kind = require_kind(ckpt, path, ("pose", "action"), tool)
    cls = ActionModule if kind == "action" else PoseModule
    # The weights come from the checkpoint: no pose_ckpt/init_ckpt files are read again.
    again = {"init_ckpt": None, **({"pose_ckpt": None} if cls is ActionModule else {})}
    return cls.load_from_checkpoint(path, map_location="cpu", weights_only=True, **again).eval()


def use_onnx_runtime(module: pl.LightningModule, folder: str | Path, threads: int | None = None) -> Path:
    """Run ``module``'s pose network under onnxruntime from now on (``runtime=onnx`` of evaluate.py and predict.py):
    export it to ``folder/pose_net.onnx`` and put a `har.models.onnx.OnnxPoseNet` in its place (a PoseModule's
    ``net``; an ActionModule's ``pose_net``, which also gives the action model its heat maps and features). The rest
    (flip test, decoding, metrics, the action network) runs in torch as before. Returns the ONNX file."""
    from har.models.onnx import OnnxPoseNet

    name = "net" if hasattr(module, "net") else "pose_net" if hasattr(module, "pose_net") else None
    if name is None:
        raise UserError(f"runtime=onnx: {type(module).__name__} has no pose network to run under onnxruntime",
                        "a PoseModule or ActionModule checkpoint (a feature-based action model reads saved "
                        "features: there is nothing for onnxruntime to speed up)", "runtime=torch")  # fmt: skip
    net = OnnxPoseNet(getattr(module, name), Path(folder) / "pose_net.onnx", features=name == "pose_net",
                      threads=threads)  # fmt: skip
    setattr(module, name, net)
    log.info("runtime=onnx: the pose network runs under onnxruntime: %s (%s)", net.path,
             "the export cached for these weights" if net.from_cache else "exported")  # fmt: skip
    return net.path
