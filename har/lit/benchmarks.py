"""deephar's pose benchmarks inside a LightningModule: PCKh (MPII) and MPJPE (Human3.6M) per evaluation set.

A datamodule that serves several datasets names them in ``eval_sets``: a list of ``(name, metric)`` pairs, e.g.
``[("mpii", "pckh"), ("h36m", "mpjpe")]``; each sample's ``dataset`` entry is its set's position in that list.
:class:`EvalSets` keeps what the metrics need from every validation/test batch on the device (no host
synchronisation in a step), and at the epoch's end splits it by set, scores each set with its metric and returns
``{"<name>/<key>": value}``:

- ``pckh`` (:mod:`har.metrics.pckh`): ``<name>/pckh@0.5``, ``<name>/pckh@0.1`` and the per-part table
  (``<name>/pckh@0.5/head`` ...), keys named by the definition (``pckh`` official, ``pckh_deephar``). Needs the
  batch's ``keypoints`` (J, 3) original pixels with the labelled flag, ``head_size``, ``crop_center`` (2,) and
  ``crop_size``; joints in pa16j order (pa17j's first 16 joints are pa16j's).
- ``mpjpe`` (:mod:`har.metrics.mpjpe`, deephar's protocol): the prediction's x, y in original pixels and its
  normalised z are unprojected with the frame's ``camera`` (21,) and the ground-truth ``root_depth`` (mm), then
  compared root-relative with ``joints_world`` (J, 3) mm: ``<name>/mpjpe``, ``<name>/p_mpjpe`` and the per-action
  table (``<name>/mpjpe/<Action>`` from the batch's ``action``).

Both metrics deduplicate by the sample's ``index`` and synchronise across processes at ``compute``, so the numbers
under DDP equal a single process's. The module never imports ``har.data``: the batch dict is the contract.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from har.layouts import PA16J, JointLayout
from har.metrics.mpjpe import DEPTH_RANGE, MPJPE, reconstruct_world
from har.metrics.pckh import PCKh, format_pckh_table, metric_prefix

METRIC_KEYS = {  # batch entries each metric reads, besides ``dataset`` and ``index``
    "pckh": ("keypoints", "head_size", "crop_center", "crop_size"),
    "mpjpe": ("joints_world", "camera", "root_depth"),
}
OPTIONAL_KEYS = ("action",)
LOWER_IS_BETTER = ("mpjpe", "p_mpjpe")


def parse_eval_sets(eval_sets) -> list[tuple[str, str]]:
    """``[(name, metric), ...]`` checked: distinct names, known metrics."""
    sets = [(str(name), str(metric)) for name, metric in eval_sets]
    names = [n for n, _ in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"eval_sets {sets}: names must be distinct")
    for name, metric in sets:
        if metric not in METRIC_KEYS:
            raise ValueError(f"eval set {name!r}: unknown metric {metric!r}; known: {sorted(METRIC_KEYS)}")
    return sets


def headline_key(name: str, metric: str, pckh_definition: str = "official", threshold: float = 0.5) -> str:
    """The key that summarises a set: ``<name>/pckh@0.5`` (or ``pckh_deephar@0.5``) or ``<name>/mpjpe``."""
    if metric == "pckh":
        return f"{name}/{metric_prefix(pckh_definition)}@{threshold:g}"
    return f"{name}/mpjpe"


def lower_is_better(key: str) -> bool:
    """Whether a metric key is an error (MPJPE, P-MPJPE: lower is better) rather than a score."""
    return key.split("/")[1 if "/" in key else 0] in LOWER_IS_BETTER


def format_mpjpe_table(scores: dict[str, float], name: str) -> str:
    """The per-action table deephar prints, in mm: one line per action with MPJPE and P-MPJPE, then the mean
    over all frames."""
    prefix = f"{name}/mpjpe/"
    actions = sorted(k[len(prefix) :] for k in scores if k.startswith(prefix))
    width = max([len(a) for a in actions] + [len("all frames")])
    lines = [f"{'action':<{width}} | {'MPJPE':>8} | {'P-MPJPE':>8}"]
    for action in actions:
        p = scores.get(f"{name}/p_mpjpe/{action}", math.nan)
        lines.append(f"{action:<{width}} | {scores[prefix + action]:8.1f} | {p:8.1f}")
    lines.append(f"{'all frames':<{width}} | {scores[f'{name}/mpjpe']:8.1f} | {scores[f'{name}/p_mpjpe']:8.1f}")
    return "\n".join(lines)


class EvalSets:
    """Collects a stage's predictions per batch (on the device) and scores every evaluation set at its end.

    Args:
        eval_sets: ``[(name, metric), ...]`` of the datamodule.
        layout: the network's joint layout (its first 16 joints must be pa16j's for PCKh).
        pckh_definition: ``"official"`` or ``"deephar"`` (:mod:`har.metrics.pckh`).
        pckh_thresholds: PCKh thresholds (head-size fractions).
        depth_range: mm spanned by the normalised depth (deephar: root ± 1000 mm).
        action_names: Human3.6M action id → name for the per-action table (None: the metric's default).
    """

    def __init__(
        self,
        eval_sets,
        layout: JointLayout,
        pckh_definition: str = "official",
        pckh_thresholds=(0.5, 0.1),
        depth_range: float = DEPTH_RANGE,
        action_names: dict[int, str] | None = None,
    ) -> None:
        self.sets = parse_eval_sets(eval_sets)
        metric_prefix(pckh_definition)
        if any(m == "pckh" for _, m in self.sets) and tuple(layout.joints[:16]) != PA16J.joints:
            raise ValueError(f"PCKh scores pa16j joints; layout {layout.name!r} does not start with them")
        self.layout = layout
        self.pckh_definition = pckh_definition
        self.pckh_thresholds = tuple(float(t) for t in pckh_thresholds)
        self.depth_range = float(depth_range)
        self.action_names = action_names
        self._keys = sorted({k for _, m in self.sets for k in METRIC_KEYS[m]} | set(OPTIONAL_KEYS))
        self._batches: list[dict[str, torch.Tensor]] = []

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.sets]

    def headline(self, name: str) -> str:
        metric = dict(self.sets)[name]
        return headline_key(name, metric, self.pckh_definition, self.pckh_thresholds[0])

    def reset(self) -> None:
        self._batches = []

    def add(self, batch: dict, xy: torch.Tensor, z: torch.Tensor | None) -> None:
        """Keep a batch's predictions: ``xy`` (B, J, 2) original pixels and ``z`` (B, J) normalised depth (None
        for a 2D network), joints in the unflipped order, with the batch entries the metrics read. Nothing leaves
        the device here."""
        if "dataset" not in batch:
            raise KeyError("a datamodule with eval_sets must give every sample its set ('dataset' in the batch)")
        kept = {"dataset": batch["dataset"], "index": batch["index"], "xy": xy.detach().float()}
        if z is not None:
            kept["z"] = z.detach().float()
        kept.update({k: batch[k] for k in self._keys if k in batch})
        self._batches.append(kept)

    def _per_set(self) -> list[dict[str, np.ndarray]]:
        """The kept rows of each set, on the host: per set, each entry concatenated over the batches that hold
        rows of that set (a loader serving one dataset need not carry the others' entries)."""
        per_set: list[list[dict]] = [[] for _ in self.sets]
        for batch in self._batches:
            host = {k: v.cpu().numpy() for k, v in batch.items()}
            for k in np.unique(host["dataset"]):
                if not 0 <= k < len(self.sets):
                    raise ValueError(f"a sample's dataset {k} is not in eval_sets {self.sets}")
                rows = host["dataset"] == k
                per_set[int(k)].append({key: value[rows] for key, value in host.items()})
        out = []
        for parts in per_set:
            keys = set.intersection(*(set(p) for p in parts)) if parts else set()
            out.append({key: np.concatenate([p[key] for p in parts]) for key in keys})
        return out

    def compute(self, device: torch.device) -> dict[str, float]:
        """Score every set; ``{"<name>/<key>": value}``. Under DDP every process must call it (the metrics
        synchronise there)."""
        data = self._per_set()
        self._batches = []
        scores: dict[str, float] = {}
        for (name, metric), part in zip(self.sets, data):
            values = self._pckh(name, part, device) if metric == "pckh" else self._mpjpe(name, part, device)
            scores.update({f"{name}/{key}": float(v) for key, v in values.items()})
        return scores

    def _require(self, name: str, metric: str, part: dict) -> None:
        missing = [k for k in METRIC_KEYS[metric] if k not in part]
        if part and missing:
            raise KeyError(f"eval set {name!r} ({metric}): the batches lack {missing}")

    def _pckh(self, name: str, part: dict, device: torch.device) -> dict[str, torch.Tensor]:
        self._require(name, "pckh", part)
        metric = PCKh(self.pckh_definition, self.pckh_thresholds).to(device)
        n = len(part.get("index", ()))
        if n:
            kps = part["keypoints"][:, :16]
            centers, sizes = part["crop_center"].reshape(n, 2), part["crop_size"].reshape(n, -1)
            metric.update(part["xy"][:, :16], kps[..., :2], kps[..., 2] > 0, part["head_size"].reshape(n),
                          part["index"], centers, sizes)  # fmt: skip
        else:  # every process updates once, so that the synchronisation sees the same states everywhere
            empty = np.zeros((0, 16, 2))
            metric.update(empty, empty, np.zeros((0, 16), bool), np.zeros(0), np.zeros(0, np.int64),
                          np.zeros((0, 2)), np.zeros((0, 2)))  # fmt: skip
        return metric.compute()

    def _mpjpe(self, name: str, part: dict, device: torch.device) -> dict[str, torch.Tensor]:
        self._require(name, "mpjpe", part)
        metric = MPJPE(self.action_names).to(device)
        n = len(part.get("index", ()))
        if n and "z" not in part:
            raise ValueError(f"eval set {name!r} scores MPJPE: the network predicts no depth (model.net.depth_bins)")
        if n:
            pred = reconstruct_world(part["xy"], part["z"], part["root_depth"].reshape(n), part["camera"],
                                     self.depth_range)  # fmt: skip
            actions = part["action"].reshape(n) if "action" in part else None
            metric.update(pred, part["joints_world"], part["index"], actions)
        else:
            j = self.layout.num_joints
            metric.update(np.zeros((0, j, 3)), np.zeros((0, j, 3)), np.zeros(0, np.int64), np.zeros(0, np.int64))
        return metric.compute()

    def tables(self, scores: dict[str, float], stage: str = "test") -> str:
        """The tables papers print for each set (PCKh per part, MPJPE per action), as text."""
        parts = []
        for name, metric in self.sets:
            if metric == "pckh":
                for t in self.pckh_thresholds:
                    sub = {k[len(name) + 1 :]: v for k, v in scores.items() if k.startswith(f"{name}/")}
                    table = format_pckh_table(sub, t, self.pckh_definition)
                    parts.append(f"{stage} {name}: PCKh@{t:g} ({self.pckh_definition}), %\n{table}")
            elif f"{name}/mpjpe" in scores:
                parts.append(f"{stage} {name}: MPJPE and P-MPJPE (mm)\n{format_mpjpe_table(scores, name)}")
        return "\n\n".join(parts)
