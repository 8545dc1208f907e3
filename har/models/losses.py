"""deephar's pose loss (``pose_regression_loss('l1l2bincross', 0.01)``), summed over prediction blocks.

Per block: on the coordinates of valid joints, elastic net |Δ| + Δ² plus 0.01·BCE(target, prediction), summed and
divided by the number of valid coordinate elements (at least 1); on visibility, 0.01·BCE averaged over all joints.

deephar marked invalid joints by a −1e9 coordinate and took ``target > 0`` as the mask, per coordinate (so a
coordinate of exactly 0 was dropped too); har passes an explicit mask instead: per joint (B, J), or per coordinate
(B, J, D), which is how 2D-only samples (MPII, Penn) train a 3D network's x and y but not its z.
"""

from __future__ import annotations

import torch

_EPS = 1e-7  # Keras' clip for binary cross-entropy


def _bce(target: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    pred = pred.clamp(_EPS, 1.0 - _EPS)
    return -(target * torch.log(pred) + (1.0 - target) * torch.log1p(-pred))


def pose_loss(
    pred_pose: torch.Tensor,
    pred_vis: torch.Tensor,
    target_pose: torch.Tensor,
    valid: torch.Tensor,
    target_vis: torch.Tensor,
    coord_bce_weight: float = 0.01,
    vis_weight: float = 0.01,
) -> dict[str, torch.Tensor]:
    """Loss over K blocks.

    Args:
        pred_pose: (K, B, J, D) predicted coordinates in [0, 1].
        pred_vis: (K, B, J, 1) predicted visibility in [0, 1].
        target_pose: (B, J, D) target coordinates (any value where not valid).
        valid: (B, J) bool, joints whose coordinates all carry a loss, or (B, J, D) bool, per coordinate.
        target_vis: (B, J) visibility target in {0, 1}.

    Returns:
        ``loss`` (sum over blocks of coord + vis_weight·vis), and per-term sums ``coord`` and ``vis``.
    """
    if valid.dim() == 2:  # per joint: every coordinate of the joint
        valid = valid[..., None].expand(*valid.shape, pred_pose.shape[-1])
    mask = valid[None].to(torch.float32)  # (1, B, J, D)
    pred_pose = pred_pose.float()
    target = target_pose.float()[None]
    delta = pred_pose - target
    per_elem = delta.abs() + delta.square() + coord_bce_weight * _bce(target.clamp(0.0, 1.0), pred_pose)
    n_valid = mask.sum().clamp_min(1.0)
    coord = (per_elem * mask).sum(dim=(1, 2, 3)) / n_valid  # (K,)
    vis = _bce(target_vis.float()[None], pred_vis.float().squeeze(-1)).mean(dim=(1, 2))  # (K,)
    return {"loss": (coord + vis_weight * vis).sum(), "coord": coord.sum(), "vis": vis.sum()}
