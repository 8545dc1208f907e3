"""Checks of a composed run config made before anything is built (no dataset read, no model constructed): values of
the wrong type, missing data, a recipe step left out. Each failure is a :class:`~har.errors.UserError` (one line).
"""

from __future__ import annotations

import inspect
import logging
import re
from typing import Any

from hydra.utils import get_method
from omegaconf import DictConfig, ListConfig, OmegaConf

from har.errors import UserError

log = logging.getLogger(__name__)

_NUMERIC = re.compile(r"\b(float|int|Tensor)\b")
_NOT_ONLY_NUMERIC = re.compile(r"\b(str|Any|Path|PathLike|object|Callable|dict|list|tuple|Sequence|Iterable)\b")
_BOOL = re.compile(r"^(bool|Optional\[bool\]|bool \| None|typing\.Optional\[bool\])$")


def _annotation_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", None) if isinstance(annotation, type) else str(annotation)


def _expects(annotation: Any) -> str | None:
    """``"a number"`` / ``"true or false"`` when an annotation admits only numbers / only booleans, else None."""
    text = _annotation_text(annotation) or ""
    if _BOOL.match(text.replace("typing.", "")):
        return "true or false"
    if _NUMERIC.search(text) and not _NOT_ONLY_NUMERIC.search(text) and "bool" not in text:  # Union[int, bool]
        return "a number"
    return None


def _signature(target: str) -> inspect.Signature | None:
    try:
        return inspect.signature(get_method(target))
    except Exception:  # noqa: BLE001 - a target that does not import is reported by Hydra's instantiate
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_value_types(node: Any, path: str) -> None:
    """Every argument of every ``_target_`` under ``node`` whose annotation admits only numbers (or only booleans)
    holds one: ``model.optimizer.lr=abc`` is a UserError naming the setting, not a TypeError deep in a run."""
    if isinstance(node, ListConfig):
        for i, item in enumerate(node):
            check_value_types(item, f"{path}[{i}]")
        return
    if not isinstance(node, DictConfig):
        return
    signature = _signature(node["_target_"]) if isinstance(node.get("_target_"), str) else None
    for key in node:
        if str(key).startswith("_"):
            continue
        if OmegaConf.is_missing(node, key):
            continue
        try:
            value = node[key]
        except Exception:  # noqa: BLE001 - an interpolation that cannot resolve yet: Hydra reports it when used
            continue
        name = f"{path}.{key}" if path else str(key)
        param = signature.parameters.get(str(key)) if signature is not None else None
        expected = _expects(param.annotation) if param is not None else None
        if expected == "a number" and value is not None and not _is_number(value):
            example = param.default if _is_number(param.default) else 1
            raise UserError(f"{name}={value!r}: not a number", f"a number for {node['_target_']}'s {key}",
                            f"{name}={example}")  # fmt: skip
        if expected == "true or false" and value is not None and not isinstance(value, bool):
            raise UserError(f"{name}={value!r}: not a boolean", "true or false", f"{name}=true")
        check_value_types(value, name)


def check_run_config(cfg: DictConfig) -> None:
    """The checks made before a run builds anything: value types of ``model``, ``data``, ``trainer``, ``callbacks``
    (:func:`check_value_types`) and the top-level numbers."""
    for key in ("seed",):
        value = cfg.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool)):
            raise UserError(f"{key}={value!r}: not an integer", "an integer (or null)", f"{key}=42")
    for group in ("model", "data", "trainer", "callbacks"):
        if cfg.get(group) is not None:
            check_value_types(cfg[group], group)


RUNTIMES = ("torch", "onnx")


def check_runtime(cfg: DictConfig, tool: str) -> None:
    """``runtime=torch|onnx`` of evaluate.py and predict.py (onnx: the pose network under onnxruntime, CPU)."""
    runtime = cfg.get("runtime", "torch")
    if runtime not in RUNTIMES:
        raise UserError(f"runtime={runtime!r}: unknown", f"one of {', '.join(RUNTIMES)}", f"{tool} runtime=onnx",
                        "Inference")  # fmt: skip


def warn_missing_pose_checkpoint(cfg: DictConfig) -> None:
    """An action run on real data whose pose network starts from random weights: deephar's recipe starts action
    training from a trained pose network (``model.pose_ckpt``); say so (a warning, not an error: it is allowed)."""
    model, data = cfg.get("model"), cfg.get("data")
    if model is None or "pose_ckpt" not in model or model.get("pose_ckpt") or model.get("init_ckpt"):
        return
    parts = [data, *(v for v in (data or {}).values() if isinstance(v, DictConfig))] if data is not None else []
    if any(isinstance(p, DictConfig) and p.get("synthetic") is not None for p in parts):
        return  # the synthetic presets train their small pose network from scratch, by design
    frozen = model.get("train_pose") is False
    log.warning(
        "model.pose_ckpt is not set: the pose network starts from random weights%s; deephar's recipe starts action "
        "training from a trained pose network: model.pose_ckpt=PATH (a pose or action checkpoint; README.md, section "
        "\u201cAction recognition\u201d)", " and stays frozen (model.train_pose=false)" if frozen else "",
    )  # fmt: skip
