"""Load deephar's action merge models (`action.build_merge_model` `save_weights` .h5) into `DeepHARPose` +
`DeepHARAction`.

A merge file has one group per top-level layer of the merge model (deephar cvpr18 `deephar/models/action.py`,
`build_merge_model` and `_get_{2d,3d}_pose_estimation_from_model`):
- ``td_Stem``, ``td_rBlock1``: the pose network's Stem and first reception block (TimeDistributed);
- ``td_Model1``: "PoseReg", the rest of the pose network up to the last block's heat maps: SepConv1, RegMap1,
  fReMap1, then for b = 2..K: rBlock_b, SepConv_b, RegMap_b [, fReMap_b for b < K];
- ``sSAM``, ``cSAM`` + ``Agg`` (2D) or ``zSAM`` (3D): frozen soft-argmax / context constants (read for the
  configuration only, as for the pose model);
- ``PoseAR``: the pose branch (`build_pose_model`), ``GuidedVisAR``: the appearance branch (`build_visual_model`);
- two 1×1 ``separable_conv2d_N`` groups: the fusion's re-weighting of P4 then V4 (`_heatmap_weighting`).
Weightless layers (lambdas, adds, softmax tops) have empty groups, or none.

Layers are mapped by their position within a group (order of first appearance in ``weight_names``), with every
shape checked, as in `har.models.keras_import`. Keras orders a sub-model's layers by graph depth, so parallel
branches interleave: the pose branch's entry lists its three multi-scale convolutions, then their three BNs, then
the 1×1 bottleneck before the 3×3 of the other branch; every action block lists residual 1×1, residual 3×3,
features, action-map conv and re-injection conv (checked on the reference fixture, `action3d_v2`).

Nothing in the weights records the clip length T: the converter takes it from deephar's scripts for the released
models or from an override.
"""

from __future__ import annotations

import re

from torch import nn

from har.models.action_net import ActionPredictionBlock, AppearanceBranch, DeepHARAction, PoseBranch
from har.models.keras_import import (
    KerasFile,
    KerasWeightsError,
    _reception_targets,
    _stem_targets,
    _target,
    decoder_config,
    load_groups,
)
from har.models.pose_net import DeepHARPose

MERGE_GROUPS = ("td_Stem", "td_rBlock1", "td_Model1", "PoseAR", "GuidedVisAR")
# Frozen constants of the merge model (soft-argmax grids, context sums): har computes them.
MERGE_CONSTANT_GROUPS = ("sSAM", "cSAM", "zSAM", "Agg")
WEIGHTING = ("pose_weighting", "appearance_weighting")
# First convolution of PoseAR → pose-branch version: multi-scale 3×1 conv with 8 (v1) or 12 (v2) filters; the
# released-typo v2 graph has no multi-scale convs and starts with the 1×1 → 64 bottleneck on the raw input.
_VERSION_OF_FIRST_CONV = {((3, 1), 8): "v1", ((3, 1), 12): "v2", ((1, 1), 64): "v2_released"}


def is_merge_file(kf: KerasFile) -> bool:
    """A deephar action merge model (rather than a pose model)."""
    return "PoseAR" in kf or "td_Model1" in kf


# ---------------------------------------------------------------- targets in Keras order


def _block_targets(block: ActionPredictionBlock) -> list:
    """`build_act_pred_block` in Keras depth order: residual 1×1 + BN, residual 3×3 + BN, features 3×3 + BN,
    action-map conv [, re-injection conv + BN]."""
    r1, r2 = block.residual
    targets = [_target(m) for m in (r1.conv, r1.bn, r2.conv, r2.bn, block.features.conv, block.features.bn)]
    targets.append(_target(block.action_maps.conv))
    if block.reinject is not None:
        targets += [_target(block.reinject.conv), _target(block.reinject.bn)]
    return targets


def _pose_branch_targets(branch: PoseBranch) -> list:
    """PoseAR: [3 multi-scale convs, their 3 BNs,] bottleneck 1×1 + BN, branch-a 3×3, bottleneck 3×3, their BNs,
    then the action blocks."""
    stem = branch.stem
    targets = []
    if stem.multiscale is not None:
        targets += [_target(unit.conv) for unit in stem.multiscale] + [_target(unit.bn) for unit in stem.multiscale]
    b1, b2 = stem.branch_b
    a = stem.branch_a
    targets += [_target(m) for m in (b1.conv, b1.bn, a.conv, b2.conv, a.bn, b2.bn)]
    for block in branch.blocks:
        targets += _block_targets(block)
    return targets


def _appearance_targets(branch: AppearanceBranch) -> list:
    """GuidedVisAR: conv_bn 1×1 → 256, then the action blocks."""
    targets = [_target(branch.reduce.conv), _target(branch.reduce.bn)]
    for block in branch.blocks:
        targets += _block_targets(block)
    return targets


def _pose_reg_targets(net: DeepHARPose) -> list:
    """td_Model1 ("PoseReg"): SepConv1, RegMap1, fReMap1, then rBlock_b, SepConv_b, RegMap_b [, fReMap_b]."""
    targets = []
    for b, block in enumerate(net.blocks, start=1):
        if b > 1:
            targets += _reception_targets(block.reception)
        targets += [_target(block.sepconv.conv), _target(block.sepconv.bn), _target(block.regmap.conv)]
        if block.fremap is not None:
            targets += [_target(block.fremap.conv), _target(block.fremap.bn)]
    return targets


def merge_group_targets(pose_net: DeepHARPose, action_net: DeepHARAction) -> dict[str, list]:
    """h5 group → [(kind, module, explicit Keras name or None)] for the fixed-name groups of a merge file."""
    return {
        "td_Stem": _stem_targets(pose_net.stem),
        "td_rBlock1": _reception_targets(pose_net.blocks[0].reception),
        "td_Model1": _pose_reg_targets(pose_net),
        "PoseAR": _pose_branch_targets(action_net.pose_branch),
        "GuidedVisAR": _appearance_targets(action_net.appearance_branch),
    }


# ---------------------------------------------------------------- configuration from the file


def _kernels(kf: KerasFile, group: str) -> list[tuple[int, ...]]:
    """Shapes of the group's 'kernel' / 'depthwise_kernel' weights, one per weighted layer that has one."""
    if group not in kf:
        return []
    g = kf.group(group)
    shapes = []
    for _, params in kf.layers(group):
        name = params.get("kernel") or params.get("depthwise_kernel")
        if name is not None:
            shapes.append(tuple(g[name].shape))
    return shapes


def weighting_groups(kf: KerasFile) -> list[str]:
    """The fusion's 1×1 re-weighting groups (P4's, then V4's), in file order: top-level groups outside the known
    ones that hold exactly one separable conv with a 1×1 kernel."""
    known = set(MERGE_GROUPS) | set(MERGE_CONSTANT_GROUPS)
    found = []
    for name in kf.layer_names:
        layers = kf.layers(name)
        if name in known or not layers:
            continue
        params = layers[0][1]
        depthwise = params.get("depthwise_kernel")
        if len(layers) == 1 and depthwise is not None and tuple(kf.group(name)[depthwise].shape[:2]) == (1, 1):
            found.append(name)
    return found


def read_merge_config(kf: KerasFile) -> dict:
    """What a merge file's shapes say about the model that wrote it.

    Keys (those the shapes tell): pose network ``num_joints, num_blocks, kernel_size, num_context_per_joint,
    depth_bins, width, input_size, dim``; action network ``pose_version, action_blocks, num_actions,
    feature_channels, pose_dim``; ``weighted_merge`` (whether the fusion's re-weighting convs are present).
    """
    cfg: dict = {}
    model1 = _kernels(kf, "td_Model1")
    if model1:
        sep, regmap = model1[0], model1[-1]  # SepConv1 depthwise (k, k, width, 1); RegMap_K (1, 1, width, N_h)
        cfg.update(kernel_size=sep[0], width=sep[2], num_heatmaps=regmap[3])
        cfg["num_blocks"] = sum(k == (1, 1, sep[2], regmap[3]) for k in model1)  # one RegMap per pose block
        decoder = decoder_config(kf, regmap[3])
        if "heatmap_size" in decoder:
            decoder["input_size"] = [int(s) * 8 for s in decoder.pop("heatmap_size")]
        cfg.update(decoder)
    pose_ar = _kernels(kf, "PoseAR")
    if pose_ar:
        first, last = pose_ar[0], pose_ar[-1]  # last: the last block's action-map conv (3, 3, F, A)
        cfg["pose_version"] = _VERSION_OF_FIRST_CONV.get((first[:2], first[3]), f"unknown (first conv {first})")
        cfg["pose_dim"] = first[2]
        cfg["num_actions"] = last[3]
        cfg["action_blocks"] = sum(k == last for k in pose_ar)
    vis_ar = _kernels(kf, "GuidedVisAR")
    if vis_ar:
        cfg["feature_channels"] = vis_ar[0][2]
    cfg["weighted_merge"] = bool(weighting_groups(kf))
    return cfg


IMPLIED_KEYS = (
    ("num_joints", "joints"),
    ("dim", "dim"),
    ("depth_bins", "depth bins"),
    ("num_context_per_joint", "context maps per joint"),
    ("num_blocks", "pose blocks"),
    ("kernel_size", "kernel"),
    ("width", "width"),
    ("pose_version", "pose net version"),
    ("action_blocks", "action blocks"),
    ("num_actions", "classes"),
)


def describe_merge_config(cfg: dict) -> str:
    """One line naming the configuration a merge file implies."""
    parts = [f"{label} {cfg[key]}" for key, label in IMPLIED_KEYS if cfg.get(key) is not None]
    parts.append("frames T: not stored in the weights")
    return ", ".join(parts)


def _check_merge_config(pose_net: DeepHARPose, action_net: DeepHARAction, cfg: dict, kf: KerasFile) -> None:
    ours = {
        "num_joints": pose_net.num_joints,
        "dim": pose_net.dim,
        "depth_bins": pose_net.depth_bins,
        "num_context_per_joint": pose_net.num_context,
        "num_blocks": pose_net.num_blocks,
        "kernel_size": pose_net.blocks[0].sepconv.conv.depthwise.kernel_size[0],
        "width": pose_net.width,
        "num_heatmaps": pose_net.num_heatmaps,
        "pose_version": action_net.pose_branch.version,
        "pose_dim": action_net.dim,
        "action_blocks": action_net.num_blocks,
        "num_actions": action_net.num_actions,
        "feature_channels": action_net.feature_channels,
    }
    labels = dict(IMPLIED_KEYS)
    diffs = [f"{labels.get(k, k)}: file {cfg[k]} vs model {v}" for k, v in ours.items() if k in cfg and cfg[k] != v]
    if cfg.get("num_blocks", 2) < 2:
        diffs.append(f"num_blocks: file {cfg['num_blocks']}, deephar's merge model needs at least 2 pose blocks")
    if diffs:
        raise KerasWeightsError(
            f"{kf}: the model does not match the file ({'; '.join(diffs)}). The file implies: "
            f"{describe_merge_config(cfg)}."
        )


def load_merge_weights(pose_net: DeepHARPose, action_net: DeepHARAction, h5_paths) -> dict[str, int]:
    """Fill the pose and action networks from a deephar merge-model file (or the files that hold its groups);
    returns {h5 group: tensors loaded}.

    Raises `KerasWeightsError` when the configuration differs (naming what the file implies), on any layer-kind or
    shape mismatch (naming the h5 dataset), on weights no module takes and on tensors left unfilled. A file without
    the fusion's re-weighting convs (``weighted_merge=False``) leaves them at the identity, which computes exactly
    the unweighted sum.
    """
    with KerasFile(h5_paths) as kf:
        if not is_merge_file(kf):
            raise KerasWeightsError(f"{kf}: not a deephar action merge model (no PoseAR / td_Model1 group)")
        _check_merge_config(pose_net, action_net, read_merge_config(kf), kf)
        targets = merge_group_targets(pose_net, action_net)
        modules = {"pose_net": pose_net, "pose_branch": action_net.pose_branch,
                   "appearance_branch": action_net.appearance_branch}  # fmt: skip
        weighting = weighting_groups(kf)
        if len(weighting) not in (0, 2):
            raise KerasWeightsError(f"{kf}: expected the two fusion re-weighting convs (P4, V4), found {weighting}")
        if weighting:
            for group, attr in zip(_creation_order(weighting), WEIGHTING):
                conv = getattr(action_net, attr)
                targets[group] = [_target(conv)]
                modules[attr] = conv
        else:
            for attr in WEIGHTING:
                getattr(action_net, attr).reset_parameters()
        return load_groups(kf, nn.ModuleDict(modules), targets, constant_groups=MERGE_CONSTANT_GROUPS)


def _creation_order(groups: list[str]) -> list[str]:
    """The two re-weighting groups, P4's first. Keras lists them in graph order, P4's first; their auto-numbered
    names (separable_conv2d_N, P4's created first) must agree, else the file is ambiguous."""
    numbers = [re.search(r"_(\d+)$", g) for g in groups]
    if all(numbers) and [int(n.group(1)) for n in numbers] != sorted(int(n.group(1)) for n in numbers):
        raise KerasWeightsError(f"fusion re-weighting groups {groups}: file order and layer numbering disagree")
    return groups
