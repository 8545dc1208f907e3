"""The deephar (CVPR'18) action-recognition head: a pose branch, an appearance branch and their fusion.

    y, p ─ y ⊙ p → (B, D, T, J) "image" ─ PoseBranch ───────── p1..p4 ─┐ P4 ─ 1×1 sepconv ─┐
                                                                                         (+) ─ global max+min → fused
    hs_prob, features ─ heat-map-weighted pooling → (B, C, T, J) ─ AppearanceBranch ─ v1..v4 ─┘ V4 ─ 1×1 sepconv ─┘

The network works on precomputed pose-network outputs (the fork's `action_pose.py` inputs): poses y, joint
probabilities p, the specialised heat maps' spatial softmax hs_prob and the rBlock1 features, for T frames.
`pose_inputs_from_heatmaps` derives y, p and hs_prob from the last pose block's raw logits as the original's
`build_merge_model` does (`clip_action_inputs` for whole clips). Clips are "images" with rows = frames (T) and
columns = joints (J).

The heat-map-weighted pooling that opens the appearance branch has no parameters, so the action model is exactly
`forward_pooled(y, p, appearance_features(hs_prob, features))`: the decoupled mode saves y, p and the pooled
(T, J, C) features per clip (`har.tools.extract_pose_features`) and trains the action model on them alone.

Every head returns LOGITS (global max + min of its action maps); the original's softmax belongs to the loss
(categorical cross-entropy on every head, weight 1), so apply `F.cross_entropy` / `log_softmax` there.

Any T and J: both branches pool T and J by 2 twice (pose: stem max+min pooling, then every block's max+min
pooling of its action maps; appearance: a plain 2×2 max pooling, then the same block pooling), and every block
adds the 2× upsampled action maps back onto its input, so T and J must be multiples of 4. Each branch pads its
(B, C, T, J) input up to the next multiple of 4 before anything else (`pad_clip`):
- frames: the last frame is repeated (the clip is held still at its end; no pose or appearance value that the
  clip does not contain enters along time);
- joints: zeros, i.e. absent joints: y ⊙ p = 0 is what a joint of probability 0 gives the pose branch, and f = 0
  a joint without heat-map mass. The joint axis has no order, so repeating a real joint would double its weight.
Both branches then produce action maps of the same size (T'/4, J'/4), so they can be fused. The CVPR settings
(Penn 16×16, NTU 20×20) need no padding and compute exactly the original function; the original itself fails whenever
ceil(n/2) is odd, e.g. J = 17 (its 'same' max-min pooling rounds up, and the re-injected maps no longer fit).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from har.models.layers import (
    ActConv,
    ActConvBN,
    ConvBN,
    ConvBNAct,
    MaxPool2x2,
    SeparableConv2d,
    Upsample2x,
    set_bn_momentum,
)
from har.models.pose_net import DeepHARPose
from har.models.soft_argmax import spatial_softmax

CLIP_MULTIPLE = 4  # T and J are padded to a multiple of this (two 2×2 poolings per branch)


class ActionOutput(NamedTuple):
    """Action logits of `DeepHARAction` (softmax them in the loss). N blocks, B clips, A actions.

    pose (N, B, A): the pose branch's blocks (the original's p1..p4);
    appearance (N, B, A): the appearance branch's blocks (v1..v4);
    fused (B, A): the fusion of both branches' last action maps (the original's "m");
    pose_fused (B, A): the re-weighted pose maps alone (the fork's "mmm");
    appearance_fused (B, A): the re-weighted appearance maps alone (the fork's "mmmvvv").
    """

    pose: torch.Tensor
    appearance: torch.Tensor
    fused: torch.Tensor
    pose_fused: torch.Tensor
    appearance_fused: torch.Tensor


# ---------------------------------------------------------------- parameter-free pieces


def max_min_pool2d(x: torch.Tensor) -> torch.Tensor:
    """Max-min pooling: max + min of every 2×2 window, stride 2, 'valid'. (B, C, H, W) → (B, C, H/2, W/2).

    Computed as maxpool(x) − maxpool(−x), as the original does. (The original pools with 'same' padding, which
    differs only on odd sizes; the branches here always pool even sizes, see `pad_clip`.)
    """
    return F.max_pool2d(x, 2) - F.max_pool2d(-x, 2)


def global_max_min_pool(x: torch.Tensor) -> torch.Tensor:
    """Global max + global min over H and W. (B, C, H, W) → (B, C)."""
    return x.amax(dim=(-2, -1)) + x.amin(dim=(-2, -1))


def pad_clip(x: torch.Tensor, multiple: int = CLIP_MULTIPLE) -> torch.Tensor:
    """Pad a clip "image" (B, C, T, J) to T and J multiples of `multiple`: repeat the last frame, zero joints."""
    extra_t = -x.shape[-2] % multiple
    extra_j = -x.shape[-1] % multiple
    if extra_t:
        x = torch.cat([x, x[..., -1:, :].expand(*x.shape[:-2], extra_t, x.shape[-1])], dim=-2)
    if extra_j:
        x = F.pad(x, (0, extra_j))
    return x


def pose_image(y: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Pose-branch input: y ⊙ p (p broadcast over the coordinates). y (B, T, J, D), p (B, T, J, 1) → (B, D, T, J)."""
    return (y * p).permute(0, 3, 1, 2)


def heatmap_weighted_pooling(hs_prob: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Appearance features f[b, t, j, :] = Σ_{u,v} hs_prob[b, t, j, u, v] · features[b, t, :, u, v].

    The original's `kronecker_prod`. hs_prob (B, T, J, h, w), features (B, T, C, h, w) → (B, C, T, J).
    """
    return torch.einsum("btjuv,btcuv->bctj", hs_prob, features)


def appearance_features(hs_prob: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """`heatmap_weighted_pooling` in the frames-first layout `forward_pooled` reads and the decoupled mode saves.

    hs_prob (B, T, J, h, w), features (B, T, C, h, w) → (B, T, J, C) (a view of the (B, C, T, J) result).
    """
    return heatmap_weighted_pooling(hs_prob, features).permute(0, 2, 3, 1)


# ---------------------------------------------------------------- trainable blocks


def _keras_init(module: nn.Module) -> None:
    """Keras defaults, as in `DeepHARPose`: glorot-uniform kernels (BN β starts at 0)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)


class ActionPredictionBlock(nn.Module):
    """`build_act_pred_block`: a residual unit, action heat maps at half resolution, their re-injection.

        x ← x + act_conv_bn(F, 3×3)(act_conv_bn(F/2, 1×1)(x))
        x1 = act_conv_bn(F, 3×3)(x)
        A = act_conv(num_actions, 3×3)(max_min_pool2d(x1))              action maps (B, A, h/2, w/2)
        logits = global_max_min_pool(A)                                  (B, A); the softmax is in the loss
        next x = x + x1 + act_conv_bn(F, 3×3)(upsample2(A))              all but the last block

    (B, F, h, w) with h, w even → (logits, A, next x or None).
    """

    def __init__(self, channels: int, num_actions: int, last: bool = False):
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError(f"channels must be an even number >= 2, got {channels}")
        self.residual = nn.Sequential(ActConvBN(channels, channels // 2, 1), ActConvBN(channels // 2, channels, 3))
        self.features = ActConvBN(channels, channels, 3)
        self.action_maps = ActConv(channels, num_actions, 3)
        self.upsample = None if last else Upsample2x()
        self.reinject = None if last else ActConvBN(num_actions, channels, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        x = x + self.residual(x)
        x1 = self.features(x)  # (B, F, h, w)
        maps = self.action_maps(max_min_pool2d(x1))  # (B, A, h/2, w/2)
        logits = global_max_min_pool(maps)  # (B, A)
        if self.reinject is None:
            return logits, maps, None
        return logits, maps, x + x1 + self.reinject(self.upsample(maps))


def _run_blocks(blocks: nn.ModuleList, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Chain action prediction blocks → stacked logits (N, B, A), last block's action maps (B, A, h, w)."""
    all_logits = []
    for block in blocks:
        logits, maps, x = block(x)
        all_logits.append(logits)
    return torch.stack(all_logits), maps


class PoseBranchStem(nn.Module):
    """Entry of the pose branch. (B, D, T, J) → (B, F, T/2, J/2), F = 112 (v1) or 224 (v2 variants).

    v1 (Penn): [conv_bn_act 8 (3×1) | 16 (3×3) | 24 (3×5)] → 48 → [conv_bn 56 (3×3) | conv_bn 32 (1×1) →
    conv_bn 56 (3×3)] → 112 → max-min pooling. v2 (NTU): the same with 12/24/36 → 72 and 112 | 64 → 112 → 224.
    "v2_released": the v2 graph of upstream `action.py` from 603b80b (10 Oct 2018) until 7df4159 (4 Dec 2018),
    marked "FIXME: typo error in the next line, but weights are already trained": the 12/24/36 concat is
    assigned to the wrong name, so both 224 branches read the raw D-channel input and the three small
    convolutions are dead (absent from the Keras model and its weights); here it has no `multiscale` layer.
    7df4159 fixed it the day the NTU evaluation script came, so whether the released NTU weights have this graph is
    unknown: `har.tools.import_deephar` reads the version from the file. (The cvpr18 branch and the fork have "v2".)
    """

    VERSIONS = {"v1": (8, 16, 24, 56, 32), "v2": (12, 24, 36, 112, 64), "v2_released": (12, 24, 36, 112, 64)}

    def __init__(self, dim: int, version: str = "v1"):
        super().__init__()
        if version not in self.VERSIONS:
            raise ValueError(f"unknown pose branch version {version!r}; expected one of {sorted(self.VERSIONS)}")
        c1, c2, c3, half, bottleneck = self.VERSIONS[version]
        if version == "v2_released":
            self.multiscale = None
            mixed = dim
        else:
            self.multiscale = nn.ModuleList(
                [ConvBNAct(dim, c1, (3, 1)), ConvBNAct(dim, c2, (3, 3)), ConvBNAct(dim, c3, (3, 5))]
            )
            mixed = c1 + c2 + c3
        self.branch_a = ConvBN(mixed, half, 3)
        self.branch_b = nn.Sequential(ConvBN(mixed, bottleneck, 1), ConvBN(bottleneck, half, 3))
        self.out_channels = 2 * half

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.multiscale is not None:
            x = torch.cat([conv(x) for conv in self.multiscale], dim=1)  # (B, c1+c2+c3, T, J)
        x = torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)  # (B, F, T, J), not activated
        return max_min_pool2d(x)  # (B, F, T/2, J/2)


class PoseBranch(nn.Module):
    """`build_pose_model`: the pose "image" (B, D, T, J) → block logits (N, B, A), last action maps P4.

    Input rows are frames, columns joints, channels the coordinates multiplied by the joint probability
    (`pose_image`). T and J are padded to multiples of 4 (`pad_clip`); P4 is (B, A, T'/4, J'/4).
    """

    def __init__(self, num_joints: int, dim: int, num_actions: int, version: str = "v1", num_blocks: int = 4):
        super().__init__()
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        self.num_joints, self.dim, self.version = num_joints, dim, version
        self.stem = PoseBranchStem(dim, version)
        channels = self.stem.out_channels
        self.blocks = nn.ModuleList(
            ActionPredictionBlock(channels, num_actions, last=(b == num_blocks - 1)) for b in range(num_blocks)
        )
        _keras_init(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(pad_clip(x))  # (B, F, T'/2, J'/2)
        return _run_blocks(self.blocks, x)


class AppearanceBranch(nn.Module):
    """`build_visual_model`: appearance features (B, C, T, J) → block logits (N, B, A), last action maps V4.

    conv_bn(256, 1×1) → plain 2×2 max pooling → N blocks with F = 256. Input from `heatmap_weighted_pooling`;
    T and J are padded to multiples of 4 (`pad_clip`); V4 is (B, A, T'/4, J'/4).
    """

    def __init__(
        self, feature_channels: int, num_joints: int, num_actions: int, num_blocks: int = 4, channels: int = 256
    ):
        super().__init__()
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        self.num_joints = num_joints
        self.reduce = ConvBN(feature_channels, channels, 1)
        self.pool = MaxPool2x2()
        self.blocks = nn.ModuleList(
            ActionPredictionBlock(channels, num_actions, last=(b == num_blocks - 1)) for b in range(num_blocks)
        )
        _keras_init(self)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool(self.reduce(pad_clip(f)))  # (B, 256, T'/2, J'/2)
        return _run_blocks(self.blocks, x)


class ActionMapWeighting(SeparableConv2d):
    """The fusion's per-branch 1×1 separable conv (`_heatmap_weighting`), initialised to the identity.

    Depthwise weights 1 and pointwise = I, so it starts as a no-op and learns a per-class linear re-weighting
    of the action maps. (B, A, h, w) → (B, A, h, w).
    """

    def __init__(self, num_actions: int):
        super().__init__(num_actions, num_actions, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.depthwise.weight.fill_(1.0)
            self.pointwise.weight.copy_(torch.eye(self.pointwise.weight.shape[0]).view_as(self.pointwise.weight))


class DeepHARAction(nn.Module):
    """deephar's action model on precomputed pose-network outputs (the fork's `action_pose.build_merge_model`).

    forward(y, p, hs_prob, features) with
        y (B, T, J, D) joint coordinates, p (B, T, J, 1) joint probabilities (already sigmoid),
        hs_prob (B, T, J, h, w) spatial softmax of the specialised heat maps, features (B, T, C, h, w) rBlock1,
    → `ActionOutput` of logits; `forward_pooled(y, p, pooled)` is the same model on the heat-map-pooled features
    pooled (B, T, J, C) (the decoupled mode). Any T and J (padded to multiples of 4 inside each branch, see the
    module docstring); `num_frames`, when given, is checked against T. The parameter count does not depend on T or J.
    """

    def __init__(
        self,
        num_actions: int,
        num_joints: int,
        dim: int = 2,
        pose_version: str = "v1",
        feature_channels: int = 576,
        num_blocks: int = 4,
        num_frames: int | None = None,
        bn_momentum: float = 0.01,
    ):
        super().__init__()
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3, got {dim}")
        if num_actions < 1 or num_joints < 1:
            raise ValueError(f"num_actions ({num_actions}) and num_joints ({num_joints}) must be >= 1")
        self.num_actions, self.num_joints, self.dim = num_actions, num_joints, dim
        self.num_blocks, self.num_frames = num_blocks, num_frames
        self.pose_branch = PoseBranch(num_joints, dim, num_actions, pose_version, num_blocks)
        self.appearance_branch = AppearanceBranch(feature_channels, num_joints, num_actions, num_blocks)
        self.pose_weighting = ActionMapWeighting(num_actions)
        self.appearance_weighting = ActionMapWeighting(num_actions)
        set_bn_momentum(self, bn_momentum)

    @property
    def feature_channels(self) -> int:
        """C, the channels of the appearance features (the pose network's rBlock1 width)."""
        return self.appearance_branch.reduce.conv.in_channels

    def _check_inputs(self, y: torch.Tensor, p: torch.Tensor, pooled: torch.Tensor) -> None:
        b, t, j, d = y.shape
        expected = {
            "y": (y.shape, (b, t, self.num_joints, self.dim)),
            "p": (p.shape, (b, t, self.num_joints, 1)),
            "appearance features": (pooled.shape, (b, t, self.num_joints, self.feature_channels)),
        }
        for name, (got, want) in expected.items():
            if tuple(got) != tuple(want):
                raise ValueError(f"{name}: expected shape {tuple(want)}, got {tuple(got)}")
        if self.num_frames is not None and t != self.num_frames:
            raise ValueError(f"model built for num_frames={self.num_frames}, got clips of {t} frames")

    def forward(self, y: torch.Tensor, p: torch.Tensor, hs_prob: torch.Tensor, features: torch.Tensor) -> ActionOutput:
        b, t = y.shape[:2]
        if tuple(hs_prob.shape[:3]) != (b, t, self.num_joints) or tuple(features.shape[:2]) != (b, t):
            raise ValueError(
                f"hs_prob {tuple(hs_prob.shape)} / features {tuple(features.shape)}: expected leading shapes "
                f"{(b, t, self.num_joints)} / {(b, t)} (y is {tuple(y.shape)})"
            )
        if hs_prob.shape[-2:] != features.shape[-2:]:
            raise ValueError(f"hs_prob maps {tuple(hs_prob.shape[-2:])} != feature maps {tuple(features.shape[-2:])}")
        return self.forward_pooled(y, p, appearance_features(hs_prob, features))

    def forward_pooled(self, y: torch.Tensor, p: torch.Tensor, pooled: torch.Tensor) -> ActionOutput:
        """The model on heat-map-pooled appearance features: y (B, T, J, D), p (B, T, J, 1), pooled (B, T, J, C)
        from `appearance_features` (what `har.tools.extract_pose_features` saves) → `ActionOutput` logits."""
        self._check_inputs(y, p, pooled)
        pose_logits, pose_maps = self.pose_branch(pose_image(y, p))  # (N, B, A), P4 (B, A, T'/4, J'/4)
        appearance_logits, appearance_maps = self.appearance_branch(pooled.permute(0, 3, 1, 2))  # reads (B, C, T, J)
        pose_maps = self.pose_weighting(pose_maps)
        appearance_maps = self.appearance_weighting(appearance_maps)
        return ActionOutput(
            pose=pose_logits,
            appearance=appearance_logits,
            fused=global_max_min_pool(pose_maps + appearance_maps),
            pose_fused=global_max_min_pool(pose_maps),
            appearance_fused=global_max_min_pool(appearance_maps),
        )


# ---------------------------------------------------------------- pose-network outputs → action inputs


def pose_inputs_from_heatmaps(
    net: DeepHARPose, heatmaps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The action model's pose inputs from the last pose block's raw logits (cvpr18 `_get_{2d,3d}_pose_...`).

    heatmaps (B·T, N_h, h, w) → y (B·T, J, D), p (B·T, J, 1), hs_prob (B·T, J, h, w); reshape to (B, T, ...).
    2D: y = the pose net's decode (Agg of SAM(hs), SAM(hc), sigmoid(max hc)); p = sigmoid(max_HW(4·hs)) — the
        factor 4 is the action model's, the pose net's visibility has none; hs_prob = spatial softmax of hs.
    3D: y = (x, y, z); p = sigmoid(2·(max_HW hxy + max_d hz)); hs_prob = spatial softmax of hxy, where
        hxy / hz are the depth / spatial means of the (N_d, J) volume.
    """
    logits = heatmaps.float()
    y, _ = net.decode(logits)
    j = net.num_joints
    if net.dim == 3:
        b, _, h, w = logits.shape
        volume = logits.reshape(b, net.depth_bins, j, h, w)
        hxy = volume.mean(dim=1)  # (B·T, J, h, w)
        hz = volume.mean(dim=(3, 4))  # (B·T, N_d, J)
        p = torch.sigmoid(2.0 * (hxy.amax(dim=(-2, -1)) + hz.amax(dim=1)))
        return y, p.unsqueeze(-1), spatial_softmax(hxy)
    hs = logits[:, :j]
    p = torch.sigmoid((4.0 * hs).amax(dim=(-2, -1)))
    return y, p.unsqueeze(-1), spatial_softmax(hs)


class ActionInputs(NamedTuple):
    """What the pose network gives the action model for B clips of T frames (`clip_action_inputs`).

    y (B, T, J, D) coordinates, p (B, T, J, 1) probabilities, hs_prob (B, T, J, h, w) heat-map softmax,
    features (B, T, C, h, w) rBlock1 features (float32), heatmaps (B, T, N_h, h, w) the last block's raw logits.
    """

    y: torch.Tensor
    p: torch.Tensor
    hs_prob: torch.Tensor
    features: torch.Tensor
    heatmaps: torch.Tensor


def clip_action_inputs(net: DeepHARPose, x: torch.Tensor, num_frames: int) -> ActionInputs:
    """The pose network on every frame of B clips: x (B·T, 3, H, W) network input (clip-major) → `ActionInputs`."""
    out = net(x)
    y, p, hs_prob = pose_inputs_from_heatmaps(net, out.heatmaps)
    parts = (y, p, hs_prob, out.features.float(), out.heatmaps)
    return ActionInputs(*(v.unflatten(0, (-1, num_frames)) for v in parts))
