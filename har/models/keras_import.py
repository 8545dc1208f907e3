"""Load the original deephar Keras weights (`model.save_weights` .h5) into `DeepHARPose`.

The file has one group per top-level layer (root attribute `layer_names`): `Stem`, `rBlockN`, `SepConvN`,
`RegMapN`, `fReMapN` hold weights; the parameter-free decoders `sSAM`, `cSAM`/`zSAM`, `Agg` hold frozen
constants (soft-argmax grids, context sums) that har computes on the fly, so they are only read to check the
configuration. Each group's attribute `weight_names` lists its weights; the order of first appearance of
each Keras layer in it follows the sub-model's `layers` order (Keras sorts layers by graph depth, then
traversal order; TF2 files list all trainable weights first, Keras 2.1.4 files weight by weight, but the
first-appearance order of the layers is the same). Weights are mapped by that POSITION, never by the
auto-numbered names (`conv2d_12` ...), which differ between files; every shape is checked, and explicit names
(`sepconv_l3_3`) are checked too where the file carries them, because some neighbours have identical shapes.

Kernels: Keras HWIO → PyTorch OIHW; depthwise (H, W, C, 1) → (C, 1, H, W). BatchNorm: beta → bias,
moving_mean / moving_variance → running stats (there is no gamma in these models).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from har.models.layers import BatchNormNoScale, SeparableConv2d
from har.models.pose_net import DeepHARPose

# Groups of frozen constants: har computes them itself.
_CONSTANT_GROUPS = ("sSAM", "cSAM", "zSAM", "Agg")
_PARAMS_OF_KIND = {
    "conv": ("kernel",),
    "sep": ("depthwise_kernel", "pointwise_kernel"),
    "bn": ("beta", "moving_mean", "moving_variance"),
}


class KerasWeightsError(ValueError):
    """The .h5 file does not fit the network (names the h5 group/dataset and both shapes)."""


def _target(module: nn.Module, keras_name: str | None = None) -> tuple[str, nn.Module, str | None]:
    if isinstance(module, SeparableConv2d):
        return "sep", module, keras_name
    if isinstance(module, BatchNormNoScale):
        return "bn", module, keras_name
    if isinstance(module, nn.Conv2d):
        return "conv", module, keras_name
    raise TypeError(f"no Keras counterpart for {type(module).__name__}")


def _stem_targets(stem) -> list:
    """The Stem's weighted layers in Keras order (auto names conv2d_1.. of the cvpr18 build in comments)."""
    a1, a2 = stem.mixed2_a  # conv2d_5/bn_5 (1×1), conv2d_6/bn_6 (3×3)
    b1, b2, b3, b4 = stem.mixed2_b  # conv2d_7 (1×1), conv2d_8 (5×1), conv2d_9 (1×5), conv2d_10 (3×3)
    sepres = stem.sepres
    modules = [
        stem.conv1.conv,
        stem.conv1.bn,
        stem.conv2.conv,
        stem.conv2.bn,
        stem.conv3.conv,
        stem.conv3.bn,
        stem.mixed1_conv.conv,
        stem.mixed1_conv.bn,
        b1.conv,
        b1.bn,
        b2.conv,
        b2.bn,
        a1.conv,
        b3.conv,
        a1.bn,
        b3.bn,
        a2.conv,
        b4.conv,
        a2.bn,
        b4.bn,
        stem.mixed3_conv.conv,
        stem.mixed3_conv.bn,
    ]
    return [_target(m) for m in modules] + [
        _target(sepres.shortcut.conv, "sepconv1_shortcut_conv"),
        _target(sepres.main.conv, "sepconv1_conv"),
        _target(sepres.shortcut.bn, "sepconv1_shortcut"),
        _target(sepres.main.bn, "sepconv1"),
    ]


def _reception_targets(block) -> list:
    """An rBlock's weighted layers in Keras order (explicit names as in cvpr18 `build_reception_block`)."""

    def sep(residual, name):
        return _target(residual.main.conv, f"{name}_conv")

    def bn(residual, name):
        return _target(residual.main.bn, name)

    l3_1, l3_2, l3_3 = block.sepconv_l3
    l1, l2_1, l2_2, l2_3 = block.sepconv_l1, block.sepconv_l2_1, block.sepconv_l2_2, block.sepconv_l2_3
    return [
        _target(block.reduce.conv),
        _target(block.reduce.bn),
        sep(l2_1, "sepconv_l2_1"),
        bn(l2_1, "sepconv_l2_1"),
        sep(l3_1, "sepconv_l3_1"),
        bn(l3_1, "sepconv_l3_1"),
        sep(l3_2, "sepconv_l3_2"),
        bn(l3_2, "sepconv_l3_2"),
        sep(l3_3, "sepconv_l3_3"),
        sep(l2_2, "sepconv_l2_2"),
        bn(l3_3, "sepconv_l3_3"),
        bn(l2_2, "sepconv_l2_2"),
        _target(l2_3.shortcut.conv, "sepconv_l2_3_shortcut_conv"),
        sep(l2_3, "sepconv_l2_3"),
        sep(l1, "sepconv_l1"),
        _target(l2_3.shortcut.bn, "sepconv_l2_3_shortcut"),
        bn(l2_3, "sepconv_l2_3"),
        bn(l1, "sepconv_l1"),
    ]


def keras_group_targets(net: DeepHARPose) -> dict[str, list]:
    """h5 group name → [(kind, module, explicit Keras name or None), ...] in the group's layer order."""
    groups = {"Stem": _stem_targets(net.stem)}
    for b, block in enumerate(net.blocks, start=1):
        groups[f"rBlock{b}"] = _reception_targets(block.reception)
        groups[f"SepConv{b}"] = [_target(block.sepconv.conv), _target(block.sepconv.bn)]
        groups[f"RegMap{b}"] = [_target(block.regmap.conv)]
        if block.fremap is not None:
            groups[f"fReMap{b}"] = [_target(block.fremap.conv), _target(block.fremap.bn)]
    return groups


def _str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_layers(group) -> list[tuple[str, dict[str, str]]]:
    """[(layer name, {param: weight name}), ...] in order of first appearance in `weight_names`."""
    layers: dict[str, dict[str, str]] = {}
    for weight_name in (_str(n) for n in group.attrs.get("weight_names", [])):
        prefix, _, param = weight_name.rpartition("/")
        layers.setdefault(prefix, {})[param.split(":")[0]] = weight_name
    return [(prefix.rpartition("/")[2], params) for prefix, params in layers.items()]


def _shape(group, layer_params: dict[str, str], param: str) -> tuple[int, ...] | None:
    name = layer_params.get(param)
    return None if name is None else tuple(group[name].shape)


def first_shape(kf: KerasFile, group_name: str, param: str) -> tuple[int, ...] | None:
    """Shape of the first weight called ``param`` in a group (None if the group or the weight is absent)."""
    if group_name in kf:
        group = kf.group(group_name)
        for _, params in kf.layers(group_name):
            if param in params:
                return _shape(group, params, param)
    return None


def _file_config(kf: KerasFile) -> dict:
    """What a pose-model file's shapes say about the network that wrote it (only what it can tell)."""
    cfg: dict = {"num_blocks": sum(re.fullmatch(r"rBlock\d+", n) is not None for n in kf.layer_names)}
    regmap = first_shape(kf, "RegMap1", "kernel")  # (1, 1, width, N_h)
    sepconv = first_shape(kf, "SepConv1", "depthwise_kernel")  # (k, k, width, 1)
    if regmap:
        cfg.update(width=regmap[2], num_heatmaps=regmap[3])
    if sepconv:
        cfg["kernel_size"] = sepconv[0]
    cfg.update(decoder_config(kf, cfg.get("num_heatmaps")))
    return cfg


def decoder_config(kf: KerasFile, num_heatmaps: int | None) -> dict:
    """Joints, heat-map size, dim, depth bins and context maps from the soft-argmax groups (sSAM: the
    (h/8, w/8, J, 1) grid; zSAM present: 3D) and the number of heat maps."""
    sam = first_shape(kf, "sSAM", "depthwise_kernel")
    if not sam:
        return {}
    cfg: dict = {"num_joints": sam[2], "heatmap_size": tuple(sam[:2])}
    if num_heatmaps and "zSAM" in kf.layer_names:
        cfg.update(dim=3, depth_bins=num_heatmaps // sam[2], num_context_per_joint=0)
    elif num_heatmaps:
        cfg.update(dim=2, depth_bins=None, num_context_per_joint=num_heatmaps // sam[2] - 1)
    return cfg


def _check_config(net: DeepHARPose, cfg: dict, h5_path) -> None:
    ours = {
        "num_blocks": net.num_blocks,
        "width": net.width,
        "num_heatmaps": net.num_heatmaps,
        "kernel_size": net.blocks[0].sepconv.conv.depthwise.kernel_size[0],
        "num_joints": net.num_joints,
        "dim": net.dim,
        "depth_bins": net.depth_bins,
        "num_context_per_joint": net.num_context,
    }
    diffs = [f"{k}: file {cfg[k]} vs network {v}" for k, v in ours.items() if k in cfg and cfg[k] != v]
    if diffs:
        implied = ", ".join(
            f"{k}={cfg[k]}"
            for k in ("num_joints", "num_blocks", "kernel_size", "num_context_per_joint", "depth_bins", "width")
            if k in cfg
        )
        raise KerasWeightsError(
            f"{h5_path}: the network does not match the file ({'; '.join(diffs)}). "
            f"The file implies DeepHARPose({implied}) "
            f"[{cfg.get('num_heatmaps')} heat maps of {cfg.get('heatmap_size')}]."
        )


def _name_matches(expected: str | None, h5_layer: str) -> bool:
    # Only files that carry the explicit names are checked; TF1 may suffix them (sepconv_l1_1 in rBlock2).
    if expected is None or not h5_layer.startswith("sepconv"):
        return True
    return re.fullmatch(re.escape(expected) + r"(_\d+)?", h5_layer) is not None


def _keras_shape(kind: str, param: str, module: nn.Module) -> tuple[tuple[int, ...], torch.Tensor]:
    """Expected Keras shape of one h5 dataset and the PyTorch tensor it fills."""
    if kind == "conv":
        o, i, kh, kw = module.weight.shape
        return (kh, kw, i, o), module.weight
    if kind == "sep":
        conv = module.depthwise if param == "depthwise_kernel" else module.pointwise
        o, i, kh, kw = conv.weight.shape
        shape = (kh, kw, o, 1) if param == "depthwise_kernel" else (kh, kw, i, o)
        return shape, conv.weight
    tensor = {"beta": module.bias, "moving_mean": module.bn.running_mean, "moving_variance": module.bn.running_var}[
        param
    ]
    return tuple(tensor.shape), tensor


def _to_torch(kind: str, param: str, value: np.ndarray) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    if kind == "bn":
        return tensor
    if param == "depthwise_kernel":
        return tensor.permute(2, 3, 0, 1)  # (H, W, C, 1) → (C, 1, H, W)
    return tensor.permute(3, 2, 0, 1)  # HWIO → OIHW


class KerasFile:
    """One Keras ``save_weights`` model read from one or several .h5 files (a model's groups split over files are
    one model: their ``layer_names`` are concatenated). Use as a context manager.

    ``layer_names``: every top-level layer in order; ``group(name)``: its h5 group; ``where(name)``: the file that
    holds it (for error messages); ``layers(name)``: [(layer, {param: weight name})] as `_read_layers`.
    """

    def __init__(self, paths):
        self.paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
        if not self.paths:
            raise KerasWeightsError("no .h5 file given")
        self._files: list = []
        self._owner: dict[str, int] = {}
        self.layer_names: list[str] = []

    def __enter__(self) -> KerasFile:
        import h5py  # only this module needs it

        try:
            for i, path in enumerate(self.paths):
                f = h5py.File(path, "r")
                self._files.append(f)
                names = [_str(n) for n in f.attrs.get("layer_names", [])]
                if not names:
                    raise KerasWeightsError(f"{path}: no root attribute 'layer_names' (not a Keras save_weights file)")
                for name in names:
                    if name in self._owner:
                        raise KerasWeightsError(
                            f"{path}: group /{name} is also in {self.paths[self._owner[name]]} (one model, each group "
                            "in one file)"
                        )
                    self._owner[name] = i
                    self.layer_names.append(name)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._files = []

    def __contains__(self, name: str) -> bool:
        return name in self._owner

    def group(self, name: str):
        return self._files[self._owner[name]][name]

    def where(self, name: str) -> str:
        return f"{self.paths[self._owner[name]]}:/{name}"

    def layers(self, name: str) -> list[tuple[str, dict[str, str]]]:
        return _read_layers(self.group(name)) if name in self else []

    def __str__(self) -> str:
        return " + ".join(str(p) for p in self.paths)


def load_groups(
    kf: KerasFile, module: nn.Module, targets: dict[str, list], constant_groups=_CONSTANT_GROUPS
) -> dict[str, int]:
    """Fill ``module`` from the groups of ``kf`` that ``targets`` maps (group → [(kind, submodule, explicit name)]
    in the group's layer order); returns {group: tensors loaded}.

    Every weighted group must be a target or a constant group (checked elsewhere), every target group must be in
    the file, every layer must have the expected kind, name (where explicit) and shapes, and every parameter and
    BatchNorm statistic of ``module`` must be filled; otherwise `KerasWeightsError` names the h5 dataset.
    """
    names = {id(t): n for n, t in [*module.named_parameters(), *module.named_buffers()]}
    to_fill = {
        n for n, _ in [*module.named_parameters(), *module.named_buffers()] if not n.endswith("num_batches_tracked")
    }
    missing = [g for g in targets if g not in kf]
    if missing:
        raise KerasWeightsError(f"{kf}: groups {missing} are missing from the file")
    report: dict[str, int] = {}
    for group_name in kf.layer_names:
        layers = kf.layers(group_name)
        if group_name in constant_groups or not layers:
            continue
        if group_name not in targets:
            raise KerasWeightsError(
                f"{kf.where(group_name)} holds weights {[n for n, _ in layers]} that no har module takes"
            )
        group = kf.group(group_name)
        expected = targets[group_name]
        if len(layers) != len(expected):
            raise KerasWeightsError(
                f"{kf.where(group_name)}: {len(layers)} weighted layers in the file "
                f"({[n for n, _ in layers]}), the network expects {len(expected)}"
            )
        loaded = 0
        with torch.no_grad():
            for (h5_layer, params), (kind, target, keras_name) in zip(layers, expected):
                where = f"{kf.where(group_name)}/{h5_layer}"
                if set(params) != set(_PARAMS_OF_KIND[kind]):
                    raise KerasWeightsError(
                        f"{where}: weights {sorted(params)}, expected a {kind} layer with {list(_PARAMS_OF_KIND[kind])}"
                    )
                if not _name_matches(keras_name, h5_layer):
                    raise KerasWeightsError(f"{where}: expected layer '{keras_name}' at this position")
                for param in _PARAMS_OF_KIND[kind]:
                    dataset = group[params[param]]
                    shape, tensor = _keras_shape(kind, param, target)
                    if tuple(dataset.shape) != shape:
                        raise KerasWeightsError(
                            f"{kf.where(group_name)}/{params[param]}: h5 shape {tuple(dataset.shape)} != expected "
                            f"{shape} (PyTorch {names[id(tensor)]} {tuple(tensor.shape)})"
                        )
                    tensor.copy_(_to_torch(kind, param, dataset[()]))
                    to_fill.discard(names[id(tensor)])
                    loaded += 1
        report[group_name] = loaded
    if to_fill:
        raise KerasWeightsError(f"{kf}: {len(to_fill)} network tensors were not filled: {sorted(to_fill)[:10]}")
    return report


def load_keras_weights(net: DeepHARPose, h5_path) -> dict[str, int]:
    """Fill `net` from an original deephar pose-model .h5 file (or the list of files that hold its groups); returns
    {h5 group: number of tensors loaded}.

    Raises `KerasWeightsError` (a ValueError) when the configuration differs (saying what the file implies),
    on any shape or layer-kind mismatch (naming the h5 dataset and both shapes), on weights left unmapped and
    on parameters or BN statistics left unfilled.
    """
    with KerasFile(h5_path) as kf:
        _check_config(net, _file_config(kf), kf)
        return load_groups(kf, net, keras_group_targets(net))


def read_keras_config(h5_path: str | Path) -> dict:
    """The DeepHARPose arguments an original .h5 file implies (what its shapes can tell), e.g. for a converter:
    ``num_joints, num_blocks, kernel_size, num_context_per_joint, depth_bins, width`` and ``input_size``."""
    with KerasFile(h5_path) as kf:
        cfg = _file_config(kf)
    keys = ("num_joints", "num_blocks", "kernel_size", "num_context_per_joint", "depth_bins", "width")
    out = {k: cfg[k] for k in keys if k in cfg}
    if "heatmap_size" in cfg:
        out["input_size"] = [int(s) * 8 for s in cfg["heatmap_size"]]
    return out
