"""Parameter-free decoding of deephar heat-map logits into joint coordinates and visibilities.

Coordinate convention (deephar cvpr18, kept for weight fidelity): the soft-argmax grids are
`torch.linspace(0, 1, size)` INCLUDING both endpoints, so 0 is the centre of the first heat-map cell and 1 the
centre of the last one. x runs along the columns (width), y along the rows (height); depth z uses the same
endpoint-inclusive grid over the depth bins. The result is read as crop-normalised [0, 1] coordinates (the
original keeps the half-cell offset this implies). Grids are built on the fly on the input's device and dtype.

Shapes: logits (B, C, H, W); coordinates (B, C, 2) as (x, y) or (B, J, 3) as (x, y, z); visibility (B, J, 1).
"""

from __future__ import annotations

import torch


def _grid(size: int, like: torch.Tensor) -> torch.Tensor:
    return torch.linspace(0.0, 1.0, size, device=like.device, dtype=like.dtype)


def spatial_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over H×W for each channel (no temperature). (B, C, H, W) → (B, C, H, W), sums to 1 per map."""
    b, c, h, w = logits.shape
    return torch.softmax(logits.reshape(b, c, h * w), dim=-1).reshape(b, c, h, w)


def soft_argmax_2d(logits: torch.Tensor) -> torch.Tensor:
    """Expected (x, y) of the spatial softmax of each map, in [0, 1]. (B, C, H, W) → (B, C, 2)."""
    prob = spatial_softmax(logits)
    x = prob.sum(dim=2) @ _grid(logits.shape[-1], logits)  # column marginal (B, C, W) · gx → (B, C)
    y = prob.sum(dim=3) @ _grid(logits.shape[-2], logits)  # row marginal (B, C, H) · gy → (B, C)
    return torch.stack([x, y], dim=-1)


def joint_visibility(logits: torch.Tensor) -> torch.Tensor:
    """sigmoid of the spatial max of the RAW logits (cvpr18 `jProb`). (B, C, H, W) → (B, C, 1)."""
    return torch.sigmoid(logits.amax(dim=(-2, -1))).unsqueeze(-1)


def context_aggregation(
    logits: torch.Tensor, num_joints: int, num_context: int = 2, alpha: float = 0.8
) -> tuple[torch.Tensor, torch.Tensor]:
    """2D decoding with context maps (cvpr18 sSAM + cSAM + cjProb + Agg + sjProb).

    logits (B, J·(1 + N_c), H, W): channels [0, J) are the specialised maps; channel J + N_c·j + k is context
    map k of joint j. With ys = SAM(specialised), yc_jk = SAM(context), pc_jk = sigmoid(max context logit):
        ŷc_j = Σ_k pc_jk · yc_jk / Σ_k pc_jk,   y_j = α · ys_j + (1 − α) · ŷc_j.
    Visibility comes from the specialised maps only. Returns pose (B, J, 2), visibility (B, J, 1).
    """
    b = logits.shape[0]
    specialised, context = logits[:, :num_joints], logits[:, num_joints:]
    ys = soft_argmax_2d(specialised)  # (B, J, 2)
    yc = soft_argmax_2d(context).reshape(b, num_joints, num_context, 2)  # (B, J, N_c, 2)
    pc = joint_visibility(context).reshape(b, num_joints, num_context, 1)  # (B, J, N_c, 1)
    yc_hat = (pc * yc).sum(dim=2) / pc.sum(dim=2)  # (B, J, 2); pc > 0 always
    return alpha * ys + (1.0 - alpha) * yc_hat, joint_visibility(specialised)


def decode_2d(
    heatmaps: torch.Tensor, num_joints: int, num_context: int = 2, alpha: float = 0.8
) -> tuple[torch.Tensor, torch.Tensor]:
    """RegMap logits (B, J·(1 + N_c), H, W) → pose (B, J, 2) in [0, 1], visibility (B, J, 1).

    num_context = 0 is the original's no-context path (`pose_regression_2d`): pose = SAM(h), no blending.
    """
    if heatmaps.shape[1] != num_joints * (1 + num_context):
        raise ValueError(
            f"expected {num_joints * (1 + num_context)} heat maps (J={num_joints}, "
            f"{num_context} context maps per joint), got {heatmaps.shape[1]}"
        )
    if num_context == 0:
        return soft_argmax_2d(heatmaps), joint_visibility(heatmaps)
    return context_aggregation(heatmaps, num_joints, num_context, alpha)


def decode_3d(heatmaps: torch.Tensor, num_joints: int, depth_bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """RegMap logits (B, N_d·J, H, W), channel = d·J + j → pose (B, J, 3) in [0, 1], visibility (B, J, 1).

    hxy = mean over depth (B, J, H, W) → (x, y) by 2D soft-argmax; hz = mean over H, W (B, J, N_d) → softmax
    over the bins, expectation on linspace(0, 1, N_d); visibility = sigmoid(max_HW hxy + max_d hz).
    """
    b, c, h, w = heatmaps.shape
    if c != num_joints * depth_bins:
        raise ValueError(
            f"expected {num_joints * depth_bins} heat maps (J={num_joints}, {depth_bins} depth bins), got {c}"
        )
    volume = heatmaps.reshape(b, depth_bins, num_joints, h, w)
    hxy = volume.mean(dim=1)  # (B, J, H, W)
    hz = volume.mean(dim=(3, 4)).transpose(1, 2)  # (B, J, N_d)
    xy = soft_argmax_2d(hxy)  # (B, J, 2)
    z = torch.softmax(hz, dim=-1) @ _grid(depth_bins, hz)  # (B, J)
    visibility = torch.sigmoid(hxy.amax(dim=(-2, -1)) + hz.amax(dim=-1)).unsqueeze(-1)
    return torch.cat([xy, z.unsqueeze(-1)], dim=-1), visibility
