"""Load a har checkpoint (pose or action) for inference, whichever kind it is."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch

DEFAULT_NUM_FRAMES = 8  # deephar's T, when a checkpoint does not record its clip length


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict (``weights_only=True``); a clear error for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise ValueError(f"{path}: not a har checkpoint (no state_dict/hyper_parameters)")
    return ckpt


def is_action_checkpoint(ckpt: dict) -> bool:
    """An ActionModule's checkpoint has ``pose_net`` and ``classes`` hyper-parameters; a PoseModule's ``net``."""
    hp = ckpt["hyper_parameters"]
    return "classes" in hp and "pose_net" in hp


def load_module(path: str | Path, ckpt: dict | None = None) -> pl.LightningModule:
    """A :class:`PoseModule` or :class:`ActionModule` from ``path`` (``ckpt``: its contents, if already read), in
    eval mode on the CPU."""
    from har.modules.action_module import ActionModule
    from har.modules.pose_module import PoseModule

    ckpt = read_checkpoint(path) if ckpt is None else ckpt
    cls = ActionModule if is_action_checkpoint(ckpt) else PoseModule
    if cls is PoseModule and "net" not in ckpt["hyper_parameters"]:
        hint = (" (an action head trained on saved pose features: it has no pose network to run on images; join it "
                f"with its pose network first: python -m har.tools.merge_action_head head={path} out=merged.ckpt)"
                if "classes" in ckpt["hyper_parameters"] else "")  # fmt: skip
        raise ValueError(f"{path}: neither a pose (PoseModule) nor an action (ActionModule) checkpoint{hint}")
    # The weights come from the checkpoint: no pose_ckpt/init_ckpt files are read again.
    again = {"init_ckpt": None, **({"pose_ckpt": None} if cls is ActionModule else {})}
    module = cls.load_from_checkpoint(path, map_location="cpu", weights_only=True, **again)
    return module.eval()


CLIP_DEFAULTS = {"num_frames": DEFAULT_NUM_FRAMES, "eval_stride": 2, "crop": "clip", "padding": 1.25}


def data_settings(ckpt: dict) -> dict:
    """The checkpoint's datamodule hyper-parameters (Lightning saves them where the datamodule has any), or {}."""
    return ckpt.get("datamodule_hyper_parameters") or {}


def clip_settings(ckpt: dict) -> dict:
    """How an action checkpoint's clips were made: ``num_frames`` (T), ``eval_stride`` (frames between a clip's
    frames at evaluation), ``crop`` and ``padding``, from its datamodule's hyper-parameters where Lightning saved
    them (``datamodule_hyper_parameters``), else deephar's defaults (:data:`CLIP_DEFAULTS`)."""
    dm = data_settings(ckpt)
    nested = dm.get("action") if isinstance(dm.get("action"), dict) else {}
    return {k: (dm.get(k) if dm.get(k) is not None else nested.get(k, default)) for k, default in CLIP_DEFAULTS.items()}
