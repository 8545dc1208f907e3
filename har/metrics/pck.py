"""PCK, bbox-normalised, as mmpose's ``keypoint_pck_accuracy`` (``PCKAccuracy(norm_item='bbox')``).

Distances are taken in ORIGINAL image pixels: d = ‖(pred − gt) / norm‖₂ with norm = max(w, h) of the GT box for
both axes. Only labelled joints count; an instance with a zero normaliser counts for nothing. A hit is d < thr
(strict). PCK = mean over joints that have at least one valid entry of (hits / valid) — the macro average mmpose
reports; the pooled (micro) ratio, closer to deephar's own ``pckh``, is kept too.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


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


def first_occurrence(ids: torch.Tensor) -> torch.Tensor:
    """Positions of the first occurrence of each distinct id, in id order."""
    uniq, inverse = torch.unique(ids, return_inverse=True)
    positions = torch.arange(len(ids), device=ids.device)
    first = torch.full((len(uniq),), len(ids), dtype=torch.long, device=ids.device)
    return first.scatter_reduce(0, inverse, positions, reduce="amin")


class PCK(Metric):
    """Streaming PCK at several thresholds, exact under DDP.

    Each instance's normalised joint distances are kept with its dataset index; ``compute`` drops repeated
    indices, so the duplicates a DistributedSampler pads the last batches with are counted once, and the result
    equals a single-device evaluation.

    ``update(pred, gt, mask, bbox, index)``: pred/gt (N, J, 2) original pixels, mask (N, J), bbox (N, 4) xywh,
    index (N,) dataset indices. ``compute()`` → ``{"pck@0.2": macro, "pck@0.2_micro": pooled, ...}``.
    """

    full_state_update = False

    def __init__(self, num_joints: int, thresholds: tuple[float, ...] = (0.2, 0.1), **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_joints = num_joints
        self.thresholds = tuple(float(t) for t in thresholds)
        self.add_state("distances", [], dist_reduce_fx="cat")
        self.add_state("indices", [], dist_reduce_fx="cat")

    def update(
        self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, bbox: torch.Tensor, index: torch.Tensor
    ) -> None:
        norm = bbox[:, 2:4].max(dim=1).values
        self.distances.append(joint_distances(pred.float(), gt.float(), mask, norm))
        self.indices.append(index.long())

    def compute(self) -> dict[str, torch.Tensor]:
        if isinstance(self.indices, list) and not self.indices:  # a tensor once synced across devices
            zero = torch.tensor(0.0, device=self.device)
            return {f"pck@{t:g}{s}": zero for t in self.thresholds for s in ("", "_micro")}
        d = dim_zero_cat(self.distances)
        d = d[first_occurrence(dim_zero_cat(self.indices))]
        valid = d >= 0
        count = valid.sum(0)
        has = count > 0
        out = {}
        for thr in self.thresholds:
            hits = ((d < thr) & valid).sum(0)
            per_joint = hits / count.clamp_min(1)
            out[f"pck@{thr:g}"] = per_joint[has].mean() if has.any() else per_joint.new_tensor(0.0)
            out[f"pck@{thr:g}_micro"] = hits.sum() / count.sum().clamp_min(1)
        return out
