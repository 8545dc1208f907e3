"""MPJPE on Human3.6M, in mm: deephar's protocol, its per-action table and mmpose's P-MPJPE.

- **Reconstruction** (deephar ``exp/common/h36m_tools.py:72-89``): the network predicts x, y (mapped back to image
  pixels with the inverse crop affine, by the caller) and z normalised over ``root depth ± 1000 mm``;
  :func:`reconstruct_world` makes ``z = 2000·(z_pred − 0.5) + d_root`` with the **ground-truth** root depth
  ``d_root`` (pa17j joint 0's camera depth) and unprojects with the frame's camera into world mm. har's camera
  inverts the lens distortion exactly; ``unproject="deephar"`` keeps deephar's one-step approximation.
- **MPJPE** (``mpjpe``, deephar ``measures.py:17-43``, mmpose ``MPJPE(mode='mpjpe')``): prediction and ground truth
  each minus their root (pelvis, joint 0), then the mean Euclidean distance over every valid joint of every frame
  (the root included, at zero error). It is the mean over all frames, not the mean of per-action means.
- **P-MPJPE** (``p_mpjpe``, mmpose ``MPJPE(mode='p-mpjpe')`` / ``compute_similarity_transform``): each prediction
  first aligned to its ground truth by the rotation, scale and translation minimising the squared error
  (Procrustes), fitted on the valid joints.
- **Per action**: ``mpjpe/<Action>`` and ``p_mpjpe/<Action>`` over the frames of each Human3.6M action
  (``har.data.formats.h36m.ACTIONS`` names), as deephar prints them.

A joint is valid where the ``mask`` allows it and its ground truth is finite (mmpose's form lacks the spine: NaN).
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from har.geometry.camera import split_serialized, unproject, world_to_camera
from har.metrics.pck import first_occurrence

DEPTH_RANGE = 2000.0  # mm: deephar's zrange = root depth ± 1000 mm (resol_z=2000 in h36m_tools.py)
ALIGNMENTS = ("root", "procrustes", "none")


def absolute_depth(z_norm: np.ndarray, root_depth: np.ndarray, depth_range: float = DEPTH_RANGE) -> np.ndarray:
    """Camera depth (N, J) mm of normalised depths ``z_norm`` (N, J) around ``root_depth`` (N,) (deephar
    ``project_pred_to_camera``: ``resol_z · (z − 0.5) + root_z``)."""
    return depth_range * (np.asarray(z_norm, np.float64) - 0.5) + np.asarray(root_depth, np.float64).reshape(-1, 1)


def reconstruct_world(
    pred_uv: np.ndarray,
    pred_z: np.ndarray,
    root_depth: np.ndarray,
    cameras: np.ndarray,
    depth_range: float = DEPTH_RANGE,
    method: str = "iterative",
) -> np.ndarray:
    """World joints (N, J, 3) mm from predictions: ``pred_uv`` (N, J, 2) image pixels, ``pred_z`` (N, J) normalised
    depth, the ground-truth ``root_depth`` (N,) mm and serialized ``cameras`` (N, 21)."""
    uvd = np.concatenate(
        [np.asarray(pred_uv, np.float64), absolute_depth(pred_z, root_depth, depth_range)[..., None]], axis=-1
    )
    params = [a[:, None] for a in split_serialized(cameras)]
    return unproject(uvd, *params, method=method)


def root_depths(world: np.ndarray, cameras: np.ndarray, root: int = 0) -> np.ndarray:
    """Camera depth (N,) mm of the root joint of world poses (N, J, 3) (deephar's ``rootz = pose_uvd[:, 0, 2]``)."""
    R, T = split_serialized(cameras)[:2]
    return world_to_camera(np.asarray(world, np.float64)[:, root], R, T)[:, 2]


def procrustes_align(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``pred`` (N, J, 3) aligned to ``gt`` by the similarity (rotation, scale, translation) fitted on the ``mask``
    (N, J) joints, as mmpose's ``compute_similarity_transform`` (which fits on all joints)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    m = np.ones(pred.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    w = m[..., None].astype(np.float64)
    count = np.maximum(w.sum(axis=1, keepdims=True), 1.0)
    gt = np.where(m[..., None], gt, 0.0)
    mu_p, mu_g = (w * pred).sum(axis=1, keepdims=True) / count, (w * gt).sum(axis=1, keepdims=True) / count
    x, y = w * (pred - mu_p), w * (gt - mu_g)
    K = np.einsum("nji,njk->nik", x, y)  # Σ_j x_j y_jᵀ
    U, _, Vt = np.linalg.svd(K)
    V = np.swapaxes(Vt, 1, 2)
    Z = np.tile(np.eye(3), (len(pred), 1, 1))
    Z[:, 2, 2] = np.sign(np.linalg.det(U @ Vt))  # a rotation, never a reflection
    R = V @ Z @ np.swapaxes(U, 1, 2)
    scale = np.einsum("nii->n", R @ K) / np.maximum((x * x).sum(axis=(1, 2)), 1e-12)
    t = mu_g[:, 0] - scale[:, None] * np.einsum("nij,nj->ni", R, mu_p[:, 0])
    return scale[:, None, None] * np.einsum("nij,nkj->nki", R, pred) + t[:, None, :]


def joint_errors(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, alignment: str = "root", root: int = 0
) -> np.ndarray:
    """Per-joint errors (N, J) mm, NaN where a joint is not valid.

    ``alignment``: ``"root"`` (both minus their root joint: deephar's and mmpose's MPJPE), ``"procrustes"``
    (P-MPJPE) or ``"none"`` (absolute positions).
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    valid = np.isfinite(gt).all(axis=-1)
    if mask is not None:
        valid &= np.asarray(mask, bool)
    if alignment == "root":
        if not valid[:, root].all():
            raise ValueError(f"root-relative MPJPE needs the root joint {root} in every frame")
        pred, gt = pred - pred[:, root : root + 1], gt - gt[:, root : root + 1]
    elif alignment == "procrustes":
        broken = (~np.isfinite(pred).all(axis=-1) & valid).any(axis=1)  # a missing prediction: no fit, error inf
        pred = np.where(broken[:, None, None], np.nan, pred)
        pred[~broken] = procrustes_align(pred[~broken], gt[~broken], valid[~broken])
    elif alignment != "none":
        raise ValueError(f"unknown alignment {alignment!r}: one of {ALIGNMENTS}")
    err = np.linalg.norm(pred - np.where(valid[..., None], gt, 0.0), axis=-1)
    err = np.where(np.isnan(err), np.inf, err)  # a missing prediction of a valid joint is an unbounded error
    return np.where(valid, err, np.nan)


def mpjpe_scores(
    errors: dict[str, np.ndarray], actions: np.ndarray | None = None, action_names: dict[int, str] | None = None
) -> dict[str, float]:
    """Means of per-joint errors: ``{name: (N, J)}`` (NaN = not valid), e.g. ``{"mpjpe": …, "p_mpjpe": …}`` →
    ``{name: mean over all valid joints of all frames}`` plus ``{name}/{action}`` for each action present
    (``actions`` (N,) ids, named by ``action_names``, default Human3.6M's)."""
    if action_names is None:  # imported here: LightningModules use this module and never import har.data
        from har.data.formats.h36m import ACTIONS as action_names
    out = {}
    for name, err in errors.items():
        valid = ~np.isnan(err)
        out[name] = float(np.where(valid, err, 0).sum() / valid.sum()) if valid.any() else float("nan")
        if actions is None:
            continue
        actions = np.asarray(actions)
        for a in np.unique(actions):
            sel = valid[actions == a]
            total = np.where(sel, err[actions == a], 0).sum()
            out[f"{name}/{action_names.get(int(a), str(a))}"] = float(total / sel.sum()) if sel.any() else float("nan")
    return out


def mpjpe(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, actions: np.ndarray | None = None
) -> dict[str, float]:
    """``mpjpe`` (root-relative) and ``p_mpjpe`` of world poses (N, J, 3) mm, with the per-action table."""
    errors = {"mpjpe": joint_errors(pred, gt, mask, "root"), "p_mpjpe": joint_errors(pred, gt, mask, "procrustes")}
    return mpjpe_scores(errors, actions)


class MPJPE(Metric):
    """Streaming MPJPE and P-MPJPE (mm) with the per-action table, exact under DDP.

    Per frame it keeps the per-joint errors of both alignments with the frame's dataset index and action;
    ``compute`` drops repeated indices (the DistributedSampler's padding), so the result equals a single-device
    evaluation.

    ``update(pred, gt, index, actions=None, mask=None)``: pred/gt (N, J, 3) world (or camera) mm, index (N,),
    actions (N,) Human3.6M action ids (None: no per-action table), mask (N, J). ``compute()`` →
    :func:`mpjpe_scores`' keys, as tensors.
    """

    full_state_update = False

    def __init__(self, action_names: dict[int, str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.action_names = action_names
        for name in ("errors", "actions", "indices"):
            self.add_state(name, [], dist_reduce_fx="cat")

    def update(self, pred, gt, index, actions=None, mask=None) -> None:
        def host(x):
            return torch.as_tensor(x).detach().double().cpu().numpy()

        pred, gt, valid = host(pred), host(gt), None if mask is None else host(mask).astype(bool)
        errors = np.stack([joint_errors(pred, gt, valid, a) for a in ("root", "procrustes")], axis=-1)  # (N, J, 2)
        self.errors.append(torch.as_tensor(errors, device=self.device))
        action_ids = np.full(len(errors), -1) if actions is None else host(actions)
        self.actions.append(torch.as_tensor(action_ids, device=self.device).long())
        self.indices.append(torch.as_tensor(index, device=self.device).long())

    def compute(self) -> dict[str, torch.Tensor]:
        if isinstance(self.indices, list) and not self.indices:  # a tensor once synced across devices
            return {k: torch.tensor(float("nan"), device=self.device) for k in ("mpjpe", "p_mpjpe")}
        keep = first_occurrence(dim_zero_cat(self.indices))
        errors = dim_zero_cat(self.errors)[keep].cpu().numpy()
        actions = dim_zero_cat(self.actions)[keep].cpu().numpy()
        scores = mpjpe_scores(
            {"mpjpe": errors[..., 0], "p_mpjpe": errors[..., 1]},
            None if (actions < 0).all() else actions,
            self.action_names,
        )
        return {k: torch.tensor(v, device=self.device) for k, v in scores.items()}
