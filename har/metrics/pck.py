"""PCK, bbox-normalised, as mmpose's ``keypoint_pck_accuracy`` (``PCKAccuracy(norm_item='bbox')``).

Distances are taken in ORIGINAL image pixels: d = ‖(pred − gt) / norm‖₂ with norm = max(w, h) of the GT box for
both axes. Only labelled joints count; an instance with a zero normaliser counts for nothing. A hit is d < thr
(strict). PCK = mean over joints that have at least one valid entry of (hits / valid) — the macro average mmpose
reports; the pooled (micro) ratio, closer to deephar's own ``pckh``, is kept too.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


def joint_distances(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
    """Normalised distances (N, J), −1 where not valid.

    Args:
        pred, gt: (N, J, 2) pixels.
        mask: (N, J) bool, labelled joints.
        norm: (N,) or (N, 2) normaliser per instance (per axis).
    """
    norm = norm.to(pred.dtype)
    if norm.ndim == 1:
        norm = norm[:, None].expand(-1, 2)
    ok = mask & (norm > 0).all(dim=1, keepdim=True)
    d = torch.linalg.vector_norm((pred - gt) / norm.clamp_min(1e-12)[:, None, :], dim=-1)
    return torch.where(ok, d, torch.full_like(d, -1.0))


def pck_accuracy(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, thr: float, norm: torch.Tensor
) -> tuple[torch.Tensor, float, int]:
    """mmpose-compatible: per-joint accuracy (J,) with −1 for joints with no valid entry, the mean over the
    others (0 if none), and the count of joints averaged."""
    d = joint_distances(pred, gt, mask, norm)
    valid = d >= 0
    n = valid.sum(0)
    hits = ((d < thr) & valid).sum(0)
    acc = torch.where(n > 0, hits / n.clamp_min(1), torch.full_like(hits, -1, dtype=torch.float32))
    cnt = int((n > 0).sum())
    return acc, float(acc[n > 0].mean()) if cnt else 0.0, cnt


class PCK(Metric):
    """Streaming PCK at several thresholds; sum states, so it reduces across devices by summing.

    ``update(pred, gt, mask, bbox)``: pred/gt (N, J, 2) original pixels, mask (N, J), bbox (N, 4) xywh.
    ``compute()`` → ``{"pck@0.2": macro, "pck@0.2_micro": pooled, ...}``.
    """

    full_state_update = False

    def __init__(self, num_joints: int, thresholds: tuple[float, ...] = (0.2, 0.1), **kwargs) -> None:
        super().__init__(**kwargs)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.add_state("hits", torch.zeros(len(self.thresholds), num_joints), dist_reduce_fx="sum")
        self.add_state("valid", torch.zeros(num_joints), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, bbox: torch.Tensor) -> None:
        norm = bbox[:, 2:4].max(dim=1).values
        d = joint_distances(pred.float(), gt.float(), mask, norm)
        valid = d >= 0
        self.valid += valid.sum(0)
        thr = torch.tensor(self.thresholds, device=d.device)[:, None, None]
        self.hits += ((d[None] < thr) & valid[None]).sum(1)

    def compute(self) -> dict[str, torch.Tensor]:
        has = self.valid > 0
        out = {}
        for t, thr in enumerate(self.thresholds):
            per_joint = self.hits[t] / self.valid.clamp_min(1)
            out[f"pck@{thr:g}"] = per_joint[has].mean() if has.any() else per_joint.new_tensor(0.0)
            out[f"pck@{thr:g}_micro"] = self.hits[t].sum() / self.valid.sum().clamp_min(1)
        return out
