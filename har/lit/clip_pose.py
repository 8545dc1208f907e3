"""Pose supervision on action clips: the per-frame pose labels of a clip batch as pose-loss targets.

deephar's action merge model can output the pose it feeds the action part (``output_poses=True``) and then adds the
pose regression loss (elastic net + 0.01·BCE) to the action losses (``action.compile(pose_predicted=True)``), so a
fine-tuned pose network keeps predicting poses. har does the same on the pose network's every block (deep
supervision, as in pose training) where a clip batch carries poses:

- ``pose_uv`` (B, T, J, 2) in [0, 1] (crop-normalised, as a pose batch's ``target_uv``), ``pose_valid`` (B, T, J);
- for 3D, ``pose_z`` (B, T, J) in [0, 1] (the network's depth convention: root-relative, scaled) and
  ``pose_z_valid`` (B, T, J), False for 2D-only data: a 3D network's z then carries no loss while its x and y do
  (deephar's per-coordinate mask, ``losses.py:25-35``).

The batch's joints must be the network's (same layout); the loss is over all B·T frames at once.
"""

from __future__ import annotations

import torch


def has_clip_poses(batch: dict) -> bool:
    """Whether a clip batch carries per-frame pose labels."""
    return "pose_uv" in batch and "pose_valid" in batch


def clip_pose_targets(batch: dict, dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A clip batch's pose labels for a network of ``dim`` (2 or 3) coordinates, frames flattened clip-major.

    Returns:
        target (B·T, J, dim) coordinates, valid (B·T, J, dim) bool per coordinate, visible (B·T, J) float
        (the visibility target: the joint is labelled).
    """
    uv, valid = batch["pose_uv"], batch["pose_valid"].bool()
    if uv.dim() != 4 or uv.shape[-1] != 2 or valid.shape != uv.shape[:-1]:
        raise ValueError(f"clip poses: pose_uv {tuple(uv.shape)} and pose_valid {tuple(valid.shape)}, expected "
                         "(B, T, J, 2) and (B, T, J)")  # fmt: skip
    coords, masks = [uv], [valid[..., None].expand_as(uv)]
    if dim == 3:
        if "pose_z" in batch:
            z, z_valid = batch["pose_z"], batch["pose_z_valid"].bool() & valid
        else:  # 2D data for a 3D network: z unsupervised
            z, z_valid = torch.zeros_like(uv[..., 0]), torch.zeros_like(valid)
        coords.append(z[..., None])
        masks.append(z_valid[..., None])
    target = torch.cat(coords, dim=-1).flatten(0, 1)
    mask = torch.cat(masks, dim=-1).flatten(0, 1)
    return target, mask, valid.flatten(0, 1).float()
