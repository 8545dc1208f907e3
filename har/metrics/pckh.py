"""PCKh on MPII in its two definitions, chosen by ``definition`` and named in the metric keys.

Both take joints in ``pa16j`` order (``har.data.formats.mpii``), ground truth and predictions in one pixel frame
(har's 0-based frame for both: the 1-pixel shift of MPII's MATLAB frame cancels), and a head size per person
(0.6 × head-box diagonal). A person with no usable head size (0, NaN) counts for nothing.

- ``"official"`` (MPII's ``evaluatePCKh.m`` / ``computePCK.m`` / ``genTablePCK.m``, the numbers papers print); keys
  ``pckh@0.5``, ``pckh@0.5/head`` …: the 14 joints without pelvis and thorax; **every annotated joint** counts;
  hit = distance / head size **≤** threshold; a missing (NaN) prediction is a miss. The total (``pckh@t``, the
  table's "Mean"/"Total") is pooled over the 14 joints; each part is the mean of its two joints' PCKh, Head being
  upper neck and head top (``genTablePCK.m``: ``(pck(13) + pck(14)) / 2``).
- ``"deephar"`` (``deephar/measures.py:45-75`` as ``exp/common/mpii_tools.py:63-129`` calls it); keys
  ``pckh_deephar@0.5`` …: the same, but ground-truth joints **outside the evaluation crop** are not counted
  (deephar's ``remove_outer_joints`` sets them to −1e9 before scoring), so it reads higher. The crop is the
  single-crop window: ``crop_centers`` / ``crop_sizes`` (``MpiiIndex.crop_windows()``); a joint counts when
  strictly inside it (``get_visible_joints``: 0 < x, y < 1 in crop coordinates). deephar truncates the window's
  corners to integers (``transform.py:110-111``); har uses the exact window, so a joint within a pixel of the border
  may count differently.

mmpose 1.x (``MpiiPCKAccuracy``) reports the same pooled total but uses a strict ``<`` and calls head top alone
"Head"; mmpose 0.x used ``≤`` as here.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from har.metrics.pck import first_occurrence

# pa16j joints scored: all but pelvis (0) and thorax (1), as MPII's annolist2matrix.m (deephar measures.py:60-63)
PCKH_JOINTS = np.arange(2, 16)
# The table papers print (genTablePCK.m), as pa16j index pairs (right/left, or upper neck/head top).
PARTS = {
    "head": (2, 3), "shoulder": (4, 5), "elbow": (6, 7), "wrist": (8, 9),
    "hip": (10, 11), "knee": (12, 13), "ankle": (14, 15),
}  # fmt: skip
DEFINITIONS = ("official", "deephar")
THRESHOLDS = (0.5, 0.1)


def metric_prefix(definition: str) -> str:
    """Key prefix of a definition: ``pckh`` (official) or ``pckh_deephar``."""
    if definition not in DEFINITIONS:
        raise ValueError(f"unknown PCKh definition {definition!r}: one of {DEFINITIONS}")
    return "pckh" if definition == "official" else "pckh_deephar"


def inside_crop(gt: np.ndarray, crop_centers: np.ndarray, crop_sizes: np.ndarray) -> np.ndarray:
    """(N, J) bool: joints ``gt`` (N, J, 2) strictly inside the axis-aligned crop windows ``crop_centers`` (N, 2),
    ``crop_sizes`` (N, 2) or (N,) (deephar ``get_visible_joints`` on the crop of ``mpii.py:104-108``)."""
    sizes = np.asarray(crop_sizes, np.float64)
    sizes = np.broadcast_to(sizes.reshape(len(sizes), -1), (len(sizes), 2))
    offset = np.abs(np.asarray(gt, np.float64) - np.asarray(crop_centers, np.float64)[:, None, :])
    return (offset < sizes[:, None, :] / 2).all(axis=-1)


def pckh_distances(
    pred: np.ndarray,
    gt: np.ndarray,
    labelled: np.ndarray,
    head_sizes: np.ndarray,
    definition: str = "official",
    crop_centers: np.ndarray | None = None,
    crop_sizes: np.ndarray | None = None,
) -> np.ndarray:
    """Head-normalised distances (N, J), NaN where a joint does not count, +inf where its prediction is missing.

    Args:
        pred, gt: (N, J, 2) pixels, one frame for both.
        labelled: (N, J) bool, annotated ground-truth joints.
        head_sizes: (N,) 0.6 × head-box diagonal.
        definition: ``"official"`` or ``"deephar"`` (which also needs the crop windows).
    """
    metric_prefix(definition)
    gt = np.asarray(gt, np.float64)
    counted = np.asarray(labelled, bool) & np.isfinite(gt).all(axis=-1)
    if definition == "deephar":
        if crop_centers is None or crop_sizes is None:
            raise ValueError("the deephar PCKh drops joints outside the crop: pass crop_centers and crop_sizes")
        counted &= inside_crop(gt, crop_centers, crop_sizes)
    heads = np.asarray(head_sizes, np.float64).reshape(-1)
    counted &= (np.isfinite(heads) & (heads > 0))[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.linalg.norm(np.asarray(pred, np.float64) - gt, axis=-1) / heads[:, None]
    d = np.where(np.isnan(d), np.inf, d)  # MPII: "only gt is allowed to have NaN" (pred NaN → inf, a miss)
    return np.where(counted, d, np.nan)


def pckh_per_joint(distances: np.ndarray, threshold: float) -> np.ndarray:
    """PCKh (J,) of each joint: hits / counted (``≤``), NaN where a joint never counts."""
    counted = ~np.isnan(distances)
    n = counted.sum(axis=0)
    hits = (counted & (np.nan_to_num(distances, nan=np.inf) <= threshold)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, hits / np.maximum(n, 1), np.nan)


def pckh_scores(distances: np.ndarray, thresholds=THRESHOLDS, definition: str = "official") -> dict[str, float]:
    """The scores of distances (N, 16) from :func:`pckh_distances`, as fractions:
    ``{prefix}@{t}`` (pooled over the 14 joints) and ``{prefix}@{t}/{part}`` for each part of :data:`PARTS`."""
    prefix = metric_prefix(definition)
    scored = distances[:, PCKH_JOINTS]
    counted = ~np.isnan(scored)
    out = {}
    for t in thresholds:
        hits = counted & (np.nan_to_num(scored, nan=np.inf) <= t)
        out[f"{prefix}@{t:g}"] = float(hits.sum() / counted.sum()) if counted.any() else float("nan")
        per_joint = pckh_per_joint(distances, t)
        for part, (a, b) in PARTS.items():
            out[f"{prefix}@{t:g}/{part}"] = float((per_joint[a] + per_joint[b]) / 2)
    return out


def pckh(
    pred: np.ndarray,
    gt: np.ndarray,
    labelled: np.ndarray,
    head_sizes: np.ndarray,
    thresholds=THRESHOLDS,
    definition: str = "official",
    crop_centers: np.ndarray | None = None,
    crop_sizes: np.ndarray | None = None,
) -> dict[str, float]:
    """PCKh of predictions (N, 16, 2) against ground truth, see :func:`pckh_distances` and :func:`pckh_scores`."""
    d = pckh_distances(pred, gt, labelled, head_sizes, definition, crop_centers, crop_sizes)
    return pckh_scores(d, thresholds, definition)


def format_pckh_table(scores: dict[str, float], threshold: float = 0.5, definition: str = "official") -> str:
    """The table papers print, in percent: Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Mean."""
    prefix = f"{metric_prefix(definition)}@{threshold:g}"
    names = [*(p.capitalize() for p in PARTS), "Mean"]
    values = [scores[f"{prefix}/{p}"] for p in PARTS] + [scores[prefix]]
    return " | ".join(f"{n:>8}" for n in names) + "\n" + " | ".join(f"{100 * v:8.1f}" for v in values)


class PCKh(Metric):
    """Streaming PCKh (one definition, several thresholds), exact under DDP.

    Each person's head-normalised distances are kept with its dataset index; ``compute`` drops repeated indices
    (the DistributedSampler's padding), so the result equals a single-device evaluation.

    ``update(pred, gt, labelled, head_sizes, index, crop_centers=None, crop_sizes=None)``: pred/gt (N, 16, 2)
    pixels, labelled (N, 16), head_sizes (N,), index (N,); the crop windows for ``definition="deephar"``.
    ``compute()`` → :func:`pckh_scores`' keys, as tensors.
    """

    full_state_update = False

    def __init__(self, definition: str = "official", thresholds=THRESHOLDS, **kwargs) -> None:
        super().__init__(**kwargs)
        self.prefix = metric_prefix(definition)
        self.definition = definition
        self.thresholds = tuple(float(t) for t in thresholds)
        self.add_state("distances", [], dist_reduce_fx="cat")
        self.add_state("indices", [], dist_reduce_fx="cat")

    def update(self, pred, gt, labelled, head_sizes, index, crop_centers=None, crop_sizes=None) -> None:
        def host(x):
            return None if x is None else torch.as_tensor(x).detach().float().cpu().numpy()

        d = pckh_distances(
            host(pred),
            host(gt),
            host(labelled).astype(bool),
            host(head_sizes),
            self.definition,
            host(crop_centers),
            host(crop_sizes),
        )
        self.distances.append(torch.as_tensor(d, dtype=torch.float32, device=self.device))
        self.indices.append(torch.as_tensor(index, device=self.device).long())

    def compute(self) -> dict[str, torch.Tensor]:
        if isinstance(self.indices, list) and not self.indices:  # a tensor once synced across devices
            d = np.full((0, 16), np.nan)
        else:
            d = dim_zero_cat(self.distances)[first_occurrence(dim_zero_cat(self.indices))].double().cpu().numpy()
        return {
            k: torch.tensor(v, device=self.device) for k, v in pckh_scores(d, self.thresholds, self.definition).items()
        }
