"""Write har networks as deephar Keras ``save_weights`` .h5 files (the inverse of `har.models.keras_import`).

The files have the group / dataset structure of deephar's released weights as Keras 2.1.4 writes them
(`keras/engine/topology.py: save_weights_to_hdf5_group`): root attributes ``layer_names`` (every top-level layer,
weightless ones with an empty group), ``backend`` and ``keras_version``; one group per layer with a ``weight_names``
attribute; datasets ``<layer>/<param>:0``. Inside a sub-model group Keras 2.1.4 lists every layer's trainable
weights (kernels, BN β) first, then the BN moving statistics (``Container.weights``), frozen or not;
``interleave=True`` writes each layer's weights together instead, as tf_keras does for frozen sub-models (the
reference fixtures). Auto-numbered layer names (``conv2d_N`` ...) are numbered in writing order; explicit names
(``sepconv_l1_conv`` ...) get TF1's ``_N`` suffix on repeats. The frozen constant groups (soft-argmax grids, context
sums) hold the values deephar builds.

Used by the tests to check the importer on files shaped like the released ones (which cannot be downloaded here),
and to hand har-trained networks to Keras code.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from torch import nn

from har.models.keras_import import _PARAMS_OF_KIND, _keras_shape, keras_group_targets

_AUTO_NAME = {"conv": "conv2d", "sep": "separable_conv2d", "bn": "batch_normalization"}


class _Writer:
    """Numbers auto-named layers across the file and writes groups."""

    def __init__(self, f, interleave: bool):
        self.f, self.interleave = f, interleave
        self.counts: Counter = Counter()
        self.explicit: Counter = Counter()
        self.layer_names: list[str] = []

    def auto(self, prefix: str) -> str:
        self.counts[prefix] += 1
        return f"{prefix}_{self.counts[prefix]}"

    def layer_name(self, kind: str, explicit: str | None) -> str:
        if explicit is None:
            return self.auto(_AUTO_NAME[kind])
        self.explicit[explicit] += 1
        n = self.explicit[explicit] - 1
        return explicit if n == 0 else f"{explicit}_{n}"

    def empty(self, name: str) -> None:
        self.layer_names.append(name)
        self.f.create_group(name).attrs["weight_names"] = np.array([], dtype="S1")

    def arrays(self, name: str, weights: list[tuple[str, np.ndarray]]) -> None:
        """A group from [(weight name, value)] in the given order."""
        self.layer_names.append(name)
        group = self.f.create_group(name)
        for weight_name, value in weights:
            group.create_dataset(weight_name, data=np.asarray(value, np.float32))
        group.attrs["weight_names"] = np.array([w.encode() for w, _ in weights])

    def targets(self, name: str, targets: list) -> None:
        """A group from har modules [(kind, module, explicit name)] in Keras layer order."""
        trainable, statistics = [], []
        for kind, module, explicit in targets:
            layer = self.layer_name(kind, explicit)
            own_trainable, own_stats = [], []
            for param in _PARAMS_OF_KIND[kind]:
                _, tensor = _keras_shape(kind, param, module)
                value = _to_keras(kind, param, tensor.detach().cpu().numpy())
                (own_stats if param.startswith("moving") else own_trainable).append((f"{layer}/{param}:0", value))
            if self.interleave:
                trainable += own_trainable + own_stats
            else:
                trainable += own_trainable
                statistics += own_stats
        self.arrays(name, trainable + statistics)


def _to_keras(kind: str, param: str, value: np.ndarray) -> np.ndarray:
    if kind == "bn":
        return value
    if param == "depthwise_kernel":
        return value.transpose(2, 3, 0, 1)  # (C, 1, H, W) → (H, W, C, 1)
    return value.transpose(2, 3, 1, 0)  # OIHW → HWIO


def _sam_group(w: _Writer, name: str, channels: int, size: tuple[int, int]) -> None:
    """A frozen 2D soft-argmax: two separable convs holding the x and the y grid (linspace(0, 1) with endpoints)."""
    h, wd = size
    gx = np.broadcast_to(np.linspace(0, 1, wd, dtype=np.float32)[None, :, None, None], (h, wd, channels, 1))
    gy = np.broadcast_to(np.linspace(0, 1, h, dtype=np.float32)[:, None, None, None], (h, wd, channels, 1))
    eye = np.eye(channels, dtype=np.float32)[None, None]
    weights = []
    for grid in (gx, gy):
        layer = w.auto("separable_conv2d")
        weights += [(f"{layer}/depthwise_kernel:0", grid), (f"{layer}/pointwise_kernel:0", eye)]
    w.arrays(name, weights)


def _decoder_groups(w: _Writer, net) -> None:
    """sSAM and cSAM + Agg (2D with context) or zSAM (3D), with deephar's values; the weightless jProb layers."""
    j, size = net.num_joints, tuple(net.heatmap_size)
    _sam_group(w, "sSAM", j, size)
    if net.dim == 3:
        grid = np.linspace(0, 1, net.depth_bins, dtype=np.float32)
        kernel = grid[:, None, None] * np.eye(j, dtype=np.float32)[None]  # conv1d (N_d, J, J)
        w.arrays("zSAM", [(f"{w.auto('conv1d')}/kernel:0", kernel)])
        return
    if net.num_context:
        nc = net.num_context
        _sam_group(w, "cSAM", j * nc, size)
        w.empty("cjProb")
        agg = np.kron(np.eye(j, dtype=np.float32), np.ones((nc, 1), np.float32))  # (J·Nc, J): sums joint j's maps
        w.arrays("Agg", [(f"{w.auto('dense')}/kernel:0", agg)])
    w.empty("sjProb")


def _write(path, keras_version: str, interleave: bool, body) -> Path:
    """Create the file, let ``body(writer)`` write the groups, then the root attributes."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        writer = _Writer(f, interleave)
        body(writer)
        f.attrs["layer_names"] = np.array([n.encode() for n in writer.layer_names])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = keras_version.encode()
    return path


def save_keras_weights(net, path, keras_version: str = "2.1.4", interleave: bool = False) -> Path:
    """Write a `DeepHARPose` as deephar's pose model (`reception.build`) ``save_weights`` file: groups ``Stem``,
    ``rBlockN``, ``SepConvN``, ``RegMapN``, ``fReMapN``, then the decoder constants."""

    def body(w: _Writer) -> None:
        w.empty("input_1")
        for name, targets in keras_group_targets(net).items():
            w.targets(name, targets)
            if name.startswith("fReMap"):
                w.empty(w.auto("add"))
        _decoder_groups(w, net)

    return _write(path, keras_version, interleave, body)


def save_keras_merge_weights(
    pose_net,
    action_net,
    path,
    keras_version: str = "2.1.4",
    interleave: bool = False,
    weighted_merge: bool = True,
) -> Path:
    """Write a `DeepHARPose` + `DeepHARAction` as deephar's action merge model (`action.build_merge_model`)
    ``save_weights`` file: ``td_Stem``, ``td_rBlock1``, ``td_Model1``, the decoder constants, ``PoseAR``,
    ``GuidedVisAR``, the fusion's two 1×1 re-weighting convs (unless ``weighted_merge=False``) and the weightless
    layers."""
    from har.models.keras_action_import import merge_group_targets

    targets = merge_group_targets(pose_net, action_net)

    def body(w: _Writer) -> None:
        w.empty("input_1")
        for name in ("td_Stem", "td_rBlock1", "td_Model1"):
            w.targets(name, targets[name])
        for _ in range(3 if pose_net.dim == 3 else 1):
            w.empty(w.auto("lambda"))  # 3D: reshape to (N_d, J), hxy, hz; 2D: 4·hs
        _decoder_groups(w, pose_net)
        for name in ("td_ChannelSoftmax", "Kronecker_prod"):
            w.empty(name)
        w.targets("PoseAR", targets["PoseAR"])
        w.targets("GuidedVisAR", targets["GuidedVisAR"])
        if weighted_merge:
            for conv in (action_net.pose_weighting, action_net.appearance_weighting):
                name = w.auto("separable_conv2d")  # a top-level layer: group and layer have the same name
                w.targets(name, [("sep", conv, name)])
        w.empty(w.auto("add"))
        for head in [f"p{i}" for i in range(1, action_net.num_blocks + 1)] + ["v1", "m"]:
            w.empty(head)

    return _write(path, keras_version, interleave, body)


def module_tensors(module: nn.Module) -> dict:
    """Every parameter and buffer of ``module`` except BatchNorm's batch counters (what a Keras file carries)."""
    state = module.state_dict()
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
