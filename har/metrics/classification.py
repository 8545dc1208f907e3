"""Clip classification metrics, exact under DDP and with multi-clip aggregation.

Each update stores, per item, its dataset index, the video it belongs to, its label and every head's class
probabilities. ``compute`` drops repeated dataset indices (a DistributedSampler pads with repeats), averages the
probabilities of the items of each video (multi-clip testing: several clips, or a clip and its mirror, per video;
one item per video otherwise), then scores: top-1 (micro), mean-class accuracy (macro), top-5 where there are more
than 5 classes, per-head top-1, and the confusion matrix of the reported head. The definitions are torchmetrics'
``MulticlassAccuracy(average='micro'|'macro', top_k=k)`` and ``MulticlassConfusionMatrix`` (tested against them).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from har.metrics.pck import first_occurrence


class ClipClassification(Metric):
    """``update(probs, labels, index, video)``: probs (H, N, C) for H heads (the first is the reported one),
    labels (N,), index (N,) dataset indices, video (N,) video ids (= index for one clip per video)."""

    full_state_update = False

    def __init__(self, num_classes: int, head_names: tuple[str, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.head_names = tuple(head_names)
        for name in ("probs", "labels", "indices", "videos"):
            self.add_state(name, [], dist_reduce_fx="cat")

    def update(self, probs: torch.Tensor, labels: torch.Tensor, index: torch.Tensor, video: torch.Tensor) -> None:
        self.probs.append(probs.detach().float().transpose(0, 1))  # (N, H, C): items first, for the cat reduction
        self.labels.append(labels.long())
        self.indices.append(index.long())
        self.videos.append(video.long())

    def per_video(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(V, H, C) mean probabilities and (V,) labels, one row per video (repeats dropped)."""
        probs, labels = dim_zero_cat(self.probs), dim_zero_cat(self.labels)
        keep = first_occurrence(dim_zero_cat(self.indices))
        probs, labels, videos = probs[keep], labels[keep], dim_zero_cat(self.videos)[keep]
        uniq, inverse = torch.unique(videos, return_inverse=True)
        sums = torch.zeros(len(uniq), *probs.shape[1:], device=probs.device).index_add_(0, inverse, probs)
        counts = torch.zeros(len(uniq), device=probs.device).index_add_(
            0, inverse, torch.ones_like(inverse, dtype=torch.float)
        )
        video_labels = torch.zeros(len(uniq), dtype=torch.long, device=probs.device).scatter_(0, inverse, labels)
        return sums / counts[:, None, None], video_labels

    def compute(self) -> dict[str, torch.Tensor]:
        if isinstance(self.labels, list) and not self.labels:
            return {"acc": torch.tensor(0.0, device=self.device)}
        probs, labels = self.per_video()
        pred = probs[:, 0].argmax(-1)
        out = {"acc": (pred == labels).float().mean()}
        confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.long, device=labels.device)
        confusion.index_put_((labels, pred), torch.ones_like(labels), accumulate=True)
        present = confusion.sum(1) > 0
        out["acc_macro"] = (confusion.diag()[present] / confusion.sum(1)[present]).mean()
        if self.num_classes > 5:
            top5 = probs[:, 0].topk(5, dim=-1).indices
            out["acc_top5"] = (top5 == labels[:, None]).any(-1).float().mean()
        for h, name in enumerate(self.head_names):
            out[f"acc_{name}"] = (probs[:, h].argmax(-1) == labels).float().mean()
        out["confusion"] = confusion
        return out
