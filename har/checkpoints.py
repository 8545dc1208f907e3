"""What a har checkpoint is, worked out once: read it safely, say its kind, get its pose network.

Every tool that loads a checkpoint (``evaluate.py``, ``predict.py``, the LightningModules' ``pose_ckpt`` /
``init_ckpt``, feature extraction, the merge and export tools, resuming) reads it here: ``torch.load`` with
``weights_only=True`` (a checkpoint is tensors and plain containers; no code runs), and one line naming the file and
what it is for a missing, empty, truncated or foreign file.

Kinds (:func:`checkpoint_kind`), from the hyper-parameters Lightning saved:

- ``pose``: a :class:`~har.lit.pose.PoseModule`'s (``net`` = the DeepHARPose arguments, weights ``net.*``);
- ``action``: an :class:`~har.lit.action.ActionModule`'s (``pose_net``, ``classes``; weights ``pose_net.*`` and
  ``action_net.*``);
- ``action_features``: a :class:`~har.lit.feature_action.FeatureActionModule`'s (``classes``, no pose network).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from har.errors import MissingFileError, UserError
from har.models.pose_net import DeepHARPose

KINDS = ("pose", "action", "action_features")
# kind → (hyper-parameter holding the DeepHARPose arguments, state_dict prefix of its weights)
POSE_NETWORK = {"pose": ("net", "net."), "action": ("pose_net", "pose_net.")}
DEFAULT_NUM_FRAMES = 8  # deephar's T, when a checkpoint does not record its clip length
CLIP_DEFAULTS = {"num_frames": DEFAULT_NUM_FRAMES, "eval_stride": 2, "crop": "clip", "padding": 1.25}


class CheckpointError(UserError, ValueError):
    """A file that is not a usable har checkpoint (the message names it and says what it is): a UserError, printed
    as one line by the entry scripts and tools; also a ValueError."""


def read_checkpoint(path: str | Path, mmap: bool = False, strict: bool = True) -> dict:
    """The checkpoint dict, read with ``weights_only=True``. FileNotFoundError for a missing file; CheckpointError
    for an empty, truncated or foreign one (not a Lightning checkpoint with ``state_dict`` and hyper-parameters)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"checkpoint not found: {path}", hint="ckpt_path=PATH (a .ckpt file or a run folder)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: an empty file (0 bytes), not a checkpoint; was its writer killed?")
    if mmap:  # torch maps only its zip format; for another file its error would be about mmap, not the file
        with path.open("rb") as f:
            mmap = f.read(4) == b"PK\x03\x04"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:  # a truncated zip, a non-torch file, a pickle torch refuses to run
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not a checkpoint (it holds a {type(ckpt).__name__}, not a dict)")
    if not strict:
        return ckpt
    if not isinstance(ckpt.get("state_dict"), dict):
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no state_dict)")
    if not isinstance(ckpt.get("hyper_parameters"), dict):
        raise CheckpointError(f"{path}: not a har checkpoint (no hyper_parameters)")
    return ckpt


def checkpoint_kind(ckpt: dict) -> str | None:
    """``pose``, ``action``, ``action_features`` (see the module docstring), or None for another module's."""
    hp = ckpt["hyper_parameters"]
    if "classes" in hp:
        return "action" if "pose_net" in hp else "action_features"
    return "pose" if "net" in hp else None


def describe(ckpt: dict) -> str:
    """A few words on what a checkpoint holds, for error messages."""
    kind = checkpoint_kind(ckpt)
    hp = ckpt["hyper_parameters"]
    if kind == "pose":
        net = hp["net"]
        return f"a pose checkpoint ({net.get('num_joints')} joints, layout {hp.get('layout')})"
    if kind == "action":
        return f"an action checkpoint ({len(hp['classes'])} classes)"
    if kind == "action_features":
        return f"an action head trained on saved pose features ({len(hp['classes'])} classes, no pose network)"
    return f"a checkpoint of another model (hyper-parameters {sorted(hp)[:6]})"


def require_kind(ckpt: dict, path: str | Path, kinds: tuple[str, ...], tool: str) -> str:
    """The checkpoint's kind when it is one of ``kinds``; CheckpointError naming the file, what it is and what
    ``tool`` needs otherwise."""
    kind = checkpoint_kind(ckpt)
    if kind not in kinds:
        wanted = " or ".join(kinds)
        hint = ""
        if kind == "action_features" and "action" in kinds:
            hint = (f"; join it with its pose network first: python -m har.tools.merge_action_head head={path} "
                    "out=merged.ckpt")  # fmt: skip
        raise CheckpointError(f"{path} is {describe(ckpt)}; {tool} needs a {wanted} checkpoint{hint}")
    return kind


def pose_network_state(ckpt: dict, path: str | Path = "checkpoint") -> tuple[dict, dict]:
    """The pose network's constructor arguments and weights (prefix removed) of a pose or action checkpoint."""
    kind = checkpoint_kind(ckpt)
    if kind not in POSE_NETWORK:
        raise CheckpointError(
            f"{path}: no pose network in it: it is {describe(ckpt)}; expected a PoseModule's (hyper-parameter 'net', "
            "weights net.*) or an ActionModule's ('pose_net', pose_net.*)"
        )
    key, prefix = POSE_NETWORK[kind]
    weights = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    if not weights:
        raise CheckpointError(f"{path}: {describe(ckpt)} without {prefix}* weights")
    return dict(ckpt["hyper_parameters"][key]), weights


def load_pose_weights(net: torch.nn.Module, path: str | Path) -> None:
    """Load a checkpoint's pose-network weights into ``net`` (shapes must match): a PoseModule's (``net.*``) or an
    ActionModule's (``pose_net.*``), recognised by the weights' names alone."""
    state = read_checkpoint(path, strict=False).get("state_dict")
    for prefix in ("net.", "pose_net."):
        weights = {k[len(prefix) :]: v for k, v in (state or {}).items() if k.startswith(prefix)}
        if weights:
            net.load_state_dict(weights)
            return
    raise CheckpointError(f"{path}: no pose-network weights (net.* or pose_net.*) in its state_dict")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def load_pose_network(path: str | Path) -> tuple[DeepHARPose, dict]:
    """The pose network of a pose or action checkpoint, in eval mode, and what a record of it needs (path, SHA-256,
    kind, layout, constructor arguments)."""
    path = Path(path)
    ckpt = read_checkpoint(path)
    args, weights = pose_network_state(ckpt, path)
    net = DeepHARPose(**args)
    net.load_state_dict(weights)
    net.eval()
    info = {"path": str(path.resolve()), "sha256": file_sha256(path), "kind": checkpoint_kind(ckpt),
            "layout": ckpt["hyper_parameters"].get("layout", "coco17"), "net": args}  # fmt: skip
    return net, info


def data_settings(ckpt: dict) -> dict:
    """The checkpoint's datamodule hyper-parameters (Lightning saves them where the datamodule has any), or {}."""
    return ckpt.get("datamodule_hyper_parameters") or {}


def clip_settings(ckpt: dict) -> dict:
    """How an action checkpoint's clips were made: ``num_frames`` (T), ``eval_stride`` (frames between a clip's
    frames at evaluation), ``crop`` and ``padding``, from its datamodule's hyper-parameters where Lightning saved
    them, else deephar's defaults (:data:`CLIP_DEFAULTS`)."""
    dm = data_settings(ckpt)
    nested = dm.get("action") if isinstance(dm.get("action"), dict) else {}
    return {k: (dm.get(k) if dm.get(k) is not None else nested.get(k, default)) for k, default in CLIP_DEFAULTS.items()}
