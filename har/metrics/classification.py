"""Clip classification metrics, exact under DDP and with multi-clip aggregation.

Each update stores, per item, its dataset index, the video it belongs to, its label and every head's class
probabilities. ``compute`` drops repeated dataset indices (a DistributedSampler pads with repeats), averages the
probabilities of the items of each video (multi-clip testing: several clips, or a clip and its mirror, per video;
one item per video otherwise), then scores the per-video probabilities with ``torchmetrics.functional``: top-1
(micro), mean-class accuracy (macro), top-5 where there are more than 5 classes, per-head top-1, and the confusion
matrix of the reported head (``multiclass_accuracy(average='micro'|'macro', top_k=k)``,
``multiclass_confusion_matrix``). torchmetrics' mean-class accuracy averages the recall of every class that occurs
in the ground truth or is predicted: a class predicted but absent counts as 0; a class neither occurring nor
predicted does not count.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_confusion_matrix
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
        n = self.num_classes
        fused = probs[:, 0]
        out = {
            "acc": multiclass_accuracy(fused, labels, n, average="micro"),
            "acc_macro": multiclass_accuracy(fused, labels, n, average="macro"),
        }
        if n > 5:
            out["acc_top5"] = multiclass_accuracy(fused, labels, n, average="micro", top_k=5)
        for h, name in enumerate(self.head_names):
            out[f"acc_{name}"] = multiclass_accuracy(probs[:, h], labels, n, average="micro")
        out["confusion"] = multiclass_confusion_matrix(fused, labels, n)
        return out
