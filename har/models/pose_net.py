"""The deephar (CVPR'18) pose network: Stem → K prediction blocks with re-injection of the predictions.

    x ─ Stem ─┬─ rBlock ─┬─ SepConv ─┬─ RegMap ─(h)─┬─ fReMap ─(+)─→ next block
              │          └───────────┴──────────────┼───────────┘
              │                                     └─ soft-argmax decode → pose, visibility

Every block has its own weights and emits a pose (intermediate supervision); the last has no fReMap.
Module names follow the paper/original (stem, reception, sepconv, regmap, fremap) so that
`har.models.keras_import` maps the original `.h5` files onto them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from har.models.layers import (
    ActConv,
    ActConvBN,
    ConvBN,
    ConvBNAct,
    MaxPool2dSame,
    MaxPool2x2,
    SepActConvBN,
    SepConvResidual,
    Upsample2x,
    set_bn_momentum,
)
from har.models.soft_argmax import decode_2d, decode_3d

ORIGINAL_WIDTH = 576


class PoseNetOutput(NamedTuple):
    """Outputs of `DeepHARPose` (K blocks, B images, J joints, D = 2 or 3).

    pose (K, B, J, D) in crop-normalised [0, 1] (x, y[, z]); visibility (K, B, J, 1);
    heatmaps: the last block's raw RegMap logits (B, N_h, H/8, W/8);
    features: the rBlock1 output (B, width, H/8, W/8), used by the action model.
    """

    pose: torch.Tensor
    visibility: torch.Tensor
    heatmaps: torch.Tensor
    features: torch.Tensor


def _scaled(channels: int, scale: float) -> int:
    """Scale a stem channel count, rounded to a multiple of 8 (at least 8); scale 1 keeps it exact."""
    return max(8, int(round(channels * scale / 8)) * 8)


class Stem(nn.Module):
    """Inception-v4-like entry flow. (B, 3, H, W) → (B, width, H/8, W/8).

    Channel counts at scale 1 are the original's: 32, 32, 64, [96 | maxpool], [64→96 | 64→5×1→1×5→96],
    [192 | maxpool], sepres → width.
    """

    def __init__(self, width: int = ORIGINAL_WIDTH, scale: float = 1.0):
        super().__init__()
        c32, c64, c96, c192 = (_scaled(c, scale) for c in (32, 64, 96, 192))
        self.conv1 = ConvBNAct(3, c32, 3, stride=2)  # → (c32, H/2, W/2)
        self.conv2 = ConvBNAct(c32, c32, 3)
        self.conv3 = ConvBNAct(c32, c64, 3)
        self.mixed1_conv = ConvBNAct(c64, c96, 3, stride=2)  # → (c96, H/4, W/4)
        self.mixed1_pool = MaxPool2dSame(3, 2)  # → (c64, H/4, W/4)
        mixed1 = c96 + c64
        self.mixed2_a = nn.Sequential(ConvBNAct(mixed1, c64, 1), ConvBN(c64, c96, 3))
        self.mixed2_b = nn.Sequential(
            ConvBNAct(mixed1, c64, 1), ConvBNAct(c64, c64, (5, 1)), ConvBNAct(c64, c64, (1, 5)), ConvBN(c64, c96, 3)
        )
        mixed2 = 2 * c96  # (2·c96, H/4, W/4), not activated
        self.mixed3_conv = ActConvBN(mixed2, c192, 3, stride=2)  # → (c192, H/8, W/8)
        self.mixed3_pool = MaxPool2x2()  # pools the pre-activation concat
        self.sepres = SepConvResidual(c192 + mixed2, width, 3)  # → (width, H/8, W/8)
        self.out_channels = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3(self.conv2(self.conv1(x)))
        x = torch.cat([self.mixed1_conv(x), self.mixed1_pool(x)], dim=1)
        x = torch.cat([self.mixed2_a(x), self.mixed2_b(x)], dim=1)
        x = torch.cat([self.mixed3_conv(x), self.mixed3_pool(x)], dim=1)
        return self.sepres(x)


class ReceptionBlock(nn.Module):
    """rBlock: a small U-shape over three resolutions. (B, N, h, w) → (B, N, h, w); middle width N/2.

    Attribute names follow the original's layer names (sepconv_l1, sepconv_l2_1, ...).
    """

    def __init__(self, width: int, kernel_size: int):
        super().__init__()
        mid = width // 2
        self.sepconv_l1 = SepConvResidual(width, width, kernel_size)  # top branch, (N, h, w)
        self.pool = MaxPool2x2()
        self.reduce = ActConvBN(width, mid, 1)  # (N/2, h/2, w/2)
        self.sepconv_l2_1 = SepConvResidual(mid, mid, kernel_size)
        self.sepconv_l2_2 = SepConvResidual(mid, mid, kernel_size)
        self.sepconv_l3 = nn.Sequential(*(SepConvResidual(mid, mid, kernel_size) for _ in range(3)))
        self.sepconv_l2_3 = SepConvResidual(mid, width, kernel_size)  # (N, h/2, w/2)
        self.up = Upsample2x()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top = self.sepconv_l1(x)
        low1 = self.sepconv_l2_1(self.reduce(self.pool(x)))  # (N/2, h/2, w/2)
        low2 = self.up(self.sepconv_l3(self.pool(low1)))  # (N/2, h/4, w/4) → h/2
        mid = self.sepconv_l2_3(self.sepconv_l2_2(low1) + low2)  # (N, h/2, w/2)
        return top + self.up(mid)


class PredictionBlock(nn.Module):
    """rBlock → SepConv → RegMap (raw heat-map logits) [→ fReMap re-injection, all but the last block]."""

    def __init__(self, width: int, kernel_size: int, num_heatmaps: int, last: bool):
        super().__init__()
        self.reception = ReceptionBlock(width, kernel_size)
        self.sepconv = SepActConvBN(width, width, kernel_size)
        self.regmap = ActConv(width, num_heatmaps, 1)
        self.fremap = None if last else ActConvBN(num_heatmaps, width, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(B, N, h, w) → reception features (B, N, h, w), logits (B, N_h, h, w), next input or None."""
        features = self.reception(x)
        refined = self.sepconv(features)
        logits = self.regmap(refined)
        if self.fremap is None:
            return features, logits, None
        return features, logits, features + refined + self.fremap(logits)


class DeepHARPose(nn.Module):
    """The deephar pose network (2D with context maps, or 3D with depth bins).

    Input (B, 3, H, W) in [-1, 1], H and W divisible by 32. Heat maps are at 1/8 of the input.
    `depth_bins=None` gives a 2D model with (1 + num_context_per_joint)·J maps; an integer N_d gives a 3D
    model with N_d·J maps (num_context_per_joint must then be 0). `stem_scale` (default width/576) scales the
    stem's internal channels so a small `width` gives a small network; width 576 is exactly the original.
    `bn_momentum` is the BatchNorm running-statistics momentum (0.01 = Keras' 0.99, the original's).
    """

    def __init__(
        self,
        num_joints: int = 16,
        num_blocks: int = 8,
        kernel_size: int = 5,
        num_context_per_joint: int = 2,
        depth_bins: int | None = None,
        width: int = ORIGINAL_WIDTH,
        input_size: tuple[int, int] = (256, 256),
        alpha: float = 0.8,
        stem_scale: float | None = None,
        bn_momentum: float = 0.01,
    ):
        super().__init__()
        height, width_px = (int(s) for s in input_size)
        for name, value in (("height", height), ("width", width_px)):
            if value <= 0 or value % 32:
                raise ValueError(
                    f"input_size {tuple(input_size)}: {name} {value} must be a positive "
                    "multiple of 32 (stem /8, then two 2×2 poolings inside every rBlock)"
                )
        if num_joints < 1 or num_blocks < 1:
            raise ValueError(f"num_joints ({num_joints}) and num_blocks ({num_blocks}) must be >= 1")
        if num_context_per_joint < 0:
            raise ValueError(f"num_context_per_joint must be >= 0, got {num_context_per_joint}")
        if depth_bins is not None:
            if num_context_per_joint != 0:
                raise ValueError(
                    "a 3D model (depth_bins set) has no context maps: pass "
                    f"num_context_per_joint=0, got {num_context_per_joint}"
                )
            if depth_bins < 1:
                raise ValueError(f"depth_bins must be >= 1, got {depth_bins}")
        if width < 2 or width % 2:
            raise ValueError(f"width must be an even number >= 2, got {width}")

        self.num_joints = num_joints
        self.num_blocks = num_blocks
        self.num_context = num_context_per_joint
        self.depth_bins = depth_bins
        self.dim = 2 if depth_bins is None else 3
        self.alpha = alpha
        self.width = width
        self.input_size = (height, width_px)
        self.heatmap_size = (height // 8, width_px // 8)
        self.num_heatmaps = num_joints * (1 + num_context_per_joint) if depth_bins is None else num_joints * depth_bins

        scale = width / ORIGINAL_WIDTH if stem_scale is None else stem_scale
        self.stem = Stem(width, scale)
        self.blocks = nn.ModuleList(
            PredictionBlock(width, kernel_size, self.num_heatmaps, last=(b == num_blocks - 1))
            for b in range(num_blocks)
        )
        self.reset_parameters()
        set_bn_momentum(self, bn_momentum)

    def reset_parameters(self) -> None:
        """Keras defaults: glorot-uniform kernels (xavier_uniform_ has the same bound, depthwise included)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)

    def decode(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw RegMap logits (B, N_h, h, w) → pose (B, J, D), visibility (B, J, 1)."""
        logits = logits.float()  # soft-argmax in fp32 under mixed precision: bf16 would cost ~1 px at 256
        if self.dim == 3:
            return decode_3d(logits, self.num_joints, self.depth_bins)
        return decode_2d(logits, self.num_joints, self.num_context, self.alpha)

    def forward(self, x: torch.Tensor) -> PoseNetOutput:
        x = self.stem(x)  # (B, width, H/8, W/8)
        poses, visibilities = [], []
        features = logits = None
        for block in self.blocks:
            block_features, logits, x = block(x)
            if features is None:
                features = block_features  # rBlock1 output, for the action model
            pose, visibility = self.decode(logits)
            poses.append(pose)
            visibilities.append(visibility)
        return PoseNetOutput(torch.stack(poses), torch.stack(visibilities), logits, features)


def pose_network_input(images: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """Images (..., 3, H, W) uint8 RGB → the pose network's input in [-1, 1] (float images pass unchanged)."""
    x = images.float() / 127.5 - 1.0 if images.dtype == torch.uint8 else images
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
