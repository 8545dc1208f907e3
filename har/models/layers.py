"""Small building blocks of the deephar pose network, with the original Keras conventions.

Conventions reproduced from the original (so that its `.h5` weights compute the same function):
- no bias in any convolution;
- BatchNorm without γ (Keras `scale=False`), eps=1e-3, Keras momentum 0.99 (= PyTorch momentum 0.01);
- TF "same" padding computed from the actual input size: when the padding is odd the extra row/column goes
  at the bottom/right (a 3×3 stride-2 conv on an even input pads 0 top/left, 1 bottom/right);
- separable conv = depthwise k×k (multiplier 1) then pointwise 1×1, nothing in between;
- pre-activation units (ReLU → conv → BN) are never in-place: their input usually feeds a shortcut too.

All tensors are (B, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TF 'same' along one axis: out = ceil(size / stride)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], value: float = 0.0):
    top, bottom = tf_same_padding(x.shape[-2], kernel[0], stride[0])
    left, right = tf_same_padding(x.shape[-1], kernel[1], stride[1])
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


class Conv2dSame(nn.Conv2d):
    """Bias-free Conv2d with TF 'same' padding.

    Stride 1 with an odd kernel pads symmetrically, so the padding is static (fast path); otherwise it is
    computed from the input size at call time (shape-only Python logic, no host sync).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, groups: int = 1):
        kernel_size, stride = _pair(kernel_size), _pair(stride)
        self._static = stride == (1, 1) and all(k % 2 == 1 for k in kernel_size)
        padding = (kernel_size[0] // 2, kernel_size[1] // 2) if self._static else (0, 0)
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._static:
            x = _pad_same(x, self.kernel_size, self.stride)
        return super().forward(x)


class MaxPool2dSame(nn.Module):
    """Max pooling with TF 'same' padding; pads with -inf so that padding never wins."""

    def __init__(self, kernel_size=3, stride=2):
        super().__init__()
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _pad_same(x, self.kernel_size, self.stride, value=float("-inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride)


class MaxPool2x2(nn.MaxPool2d):
    """Keras `MaxPooling2D((2, 2))`: 2×2, stride 2, 'valid'. (B, C, H, W) → (B, C, H/2, W/2)."""

    def __init__(self):
        super().__init__(kernel_size=2, stride=2)


class Upsample2x(nn.Upsample):
    """Keras `UpSampling2D((2, 2))`: nearest neighbour. (B, C, H, W) → (B, C, 2H, 2W)."""

    def __init__(self):
        super().__init__(scale_factor=2, mode="nearest")


class BatchNormNoScale(nn.Module):
    """Keras `BatchNormalization(scale=False)`: normalise, then add a learnt β; there is no γ at all.

    The normalisation is an inner affine-free `nn.BatchNorm2d` (so `SyncBatchNorm.convert_sync_batchnorm`
    still finds and converts it); β is `self.bias`.
    """

    def __init__(self, channels: int, eps: float = 1e-3, momentum: float = 0.01):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=eps, momentum=momentum, affine=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x) + self.bias.view(1, -1, 1, 1)


def set_bn_momentum(module: nn.Module, momentum: float) -> None:
    """Set the running-statistics momentum (PyTorch convention: weight of the new batch) of every BatchNorm in
    ``module``. Keras' default 0.99 is PyTorch's 0.01: right for long schedules, slow for short CPU runs, whose
    eval-mode statistics then lag far behind the weights."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


class SeparableConv2d(nn.Module):
    """Keras `SeparableConv2D`: depthwise k×k (multiplier 1) then pointwise 1×1; no bias, nothing between."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3):
        super().__init__()
        self.depthwise = Conv2dSame(in_channels, in_channels, kernel_size, groups=in_channels)
        self.pointwise = Conv2dSame(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ConvBNAct(nn.Sequential):
    """`conv_bn_act`: conv → BN → ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1):
        super().__init__()
        self.conv = Conv2dSame(in_channels, out_channels, kernel_size, stride)
        self.bn = BatchNormNoScale(out_channels)
        self.act = nn.ReLU(inplace=True)  # acts on the fresh BN output only


class ConvBN(nn.Sequential):
    """`conv_bn`: conv → BN, no activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1):
        super().__init__()
        self.conv = Conv2dSame(in_channels, out_channels, kernel_size, stride)
        self.bn = BatchNormNoScale(out_channels)


class ActConvBN(nn.Sequential):
    """`act_conv_bn`: ReLU → conv → BN (pre-activation)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1):
        super().__init__()
        self.act = nn.ReLU()
        self.conv = Conv2dSame(in_channels, out_channels, kernel_size, stride)
        self.bn = BatchNormNoScale(out_channels)


class ActConv(nn.Sequential):
    """`act_conv`: ReLU → conv (used for the raw heat-map logits of RegMap)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size):
        super().__init__()
        self.act = nn.ReLU()
        self.conv = Conv2dSame(in_channels, out_channels, kernel_size)


class SepActConvBN(nn.Sequential):
    """`separable_act_conv_bn`: ReLU → separable conv → BN."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size):
        super().__init__()
        self.act = nn.ReLU()
        self.conv = SeparableConv2d(in_channels, out_channels, kernel_size)
        self.bn = BatchNormNoScale(out_channels)


class SepConvResidual(nn.Module):
    """`_sepconv_residual`: shortcut + (ReLU → SepConv k×k → BN). (B, C_in, H, W) → (B, C_out, H, W).

    The shortcut is the identity when C_in == C_out, else act_conv_bn 1×1. When C_out < C_in the main path
    first reduces with act_conv_bn 1×1 (never happens in the deephar models, kept for completeness).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3):
        super().__init__()
        self.shortcut = nn.Identity() if in_channels == out_channels else ActConvBN(in_channels, out_channels, 1)
        self.reduce = ActConvBN(in_channels, out_channels, 1) if out_channels < in_channels else None
        main_in = out_channels if self.reduce is not None else in_channels
        self.main = SepActConvBN(main_in, out_channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        if self.reduce is not None:
            x = self.reduce(x)
        return identity + self.main(x)
