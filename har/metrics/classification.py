"""Clip classification metrics, exact under DDP, with deephar's video-level protocols.

Each update stores, per item (a clip, or a flipped clip), its dataset index, the video it belongs to, its label,
whether it is flipped, whether its video is shorter than one clip (padded), and every head's class probabilities.
``compute`` drops repeated dataset indices (a DistributedSampler pads with repeats), fuses the items of each video
(single-clip testing: one item per video; multi-clip: several clips and their mirrors) by the product of the
softmaxes (deephar) or their mean (:mod:`har.metrics.clip_fusion`), applies the short-video policy, then scores the
videos with ``torchmetrics.functional``: top-1 (micro), mean-class accuracy (macro), top-5 where there are more
than 5 classes, top-1 per head, the confusion matrix of the reported (first) head
(``multiclass_accuracy(average='micro'|'macro', top_k=k)``, ``multiclass_confusion_matrix``), and, where some items
are flipped and some not, the top-1 of the unflipped items alone (``acc_without_flip``: multi-clip without flip from
the same run). torchmetrics' mean-class accuracy averages the recall of every class that occurs in the ground truth
or is predicted: a class predicted but absent counts as 0; a class neither occurring nor predicted does not count.

**Blocks.** deephar reports the accuracy of every action output (its 4 + 4 blocks and the fused output) and a
"best" = the maximum over them, chosen on the evaluated set itself. Given ``block_heads`` (the heads in deephar's
output order), ``acc_best_block`` is that maximum and ``best_block`` the 1-based position of the block achieving it
(first on a tie) in ``block_heads``: a selection on the evaluated set, never a held-out number; ``acc`` (the first
head, the network's fused output) is the number to quote.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_confusion_matrix
from torchmetrics.utilities import dim_zero_cat

from har.metrics.clip_fusion import FUSIONS, SHORT_VIDEOS, apply_short_video_policy, fuse_video_probs
from har.metrics.pck import first_occurrence


def _top1(scores: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return multiclass_accuracy(scores, labels, num_classes, average="micro")


class ClipClassification(Metric):
    """``update(probs, labels, index, video, short=None, flipped=None)``: probs (H, N, C) for H heads (the first is
    the reported one), labels (N,), index (N,) dataset indices, video (N,) video ids (= index for one clip per video),
    short (N,) bool: the item's video is shorter than one clip, flipped (N,) bool: the item is a mirrored clip.

    Args:
        num_classes: C.
        head_names: names of the H heads (``acc_<name>`` per head).
        fusion: ``product`` (deephar) or ``mean``: how a video's items are combined.
        short_videos: ``scored``, ``wrong`` or ``deephar``: how a video shorter than one clip counts
            (:mod:`har.metrics.clip_fusion`).
        block_heads: the heads deephar reports as its outputs, in its order; the best of them is
            ``acc_best_block`` (selected on the evaluated set) and its 1-based position ``best_block``.
    """

    full_state_update = False

    def __init__(
        self,
        num_classes: int,
        head_names: tuple[str, ...],
        fusion: str = "product",
        short_videos: str = "scored",
        block_heads: tuple[str, ...] = (),
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if fusion not in FUSIONS:
            raise ValueError(f"fusion {fusion!r}: expected one of {FUSIONS}")
        if short_videos not in SHORT_VIDEOS:
            raise ValueError(f"short_videos {short_videos!r}: expected one of {SHORT_VIDEOS}")
        unknown = set(block_heads) - set(head_names)
        if unknown:
            raise ValueError(f"block_heads {sorted(unknown)} are not heads ({head_names})")
        self.num_classes = num_classes
        self.head_names = tuple(head_names)
        self.fusion = fusion
        self.short_videos = short_videos
        self.block_heads = tuple(block_heads)
        for name in ("probs", "labels", "indices", "videos", "short", "flipped"):
            self.add_state(name, [], dist_reduce_fx="cat")

    def update(
        self,
        probs: torch.Tensor,
        labels: torch.Tensor,
        index: torch.Tensor,
        video: torch.Tensor,
        short: torch.Tensor | None = None,
        flipped: torch.Tensor | None = None,
    ) -> None:
        self.probs.append(probs.detach().float().transpose(0, 1))  # (N, H, C): items first, for the cat reduction
        self.labels.append(labels.long())
        self.indices.append(index.long())
        self.videos.append(video.long())
        no = torch.zeros_like(labels, dtype=torch.bool)
        self.short.append(no if short is None else short.bool().reshape(no.shape))
        self.flipped.append(no if flipped is None else flipped.bool().reshape(no.shape))

    def _items(self) -> dict[str, torch.Tensor]:
        """Every stored item once (repeated dataset indices dropped)."""
        keep = first_occurrence(dim_zero_cat(self.indices))
        names = ("probs", "labels", "videos", "short", "flipped")
        return {name: dim_zero_cat(getattr(self, name))[keep] for name in names}

    def per_video(self, without_flip: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(V, H, C) fused probabilities, (V,) labels, (V,) short flags and (V,) video ids, one row per video in the
        order of the video ids (repeats dropped; ``without_flip``: from the unflipped items only)."""
        items = self._items()
        if without_flip:
            items = {k: v[~items["flipped"]] for k, v in items.items()}
        uniq, inverse = torch.unique(items["videos"], return_inverse=True)
        probs = fuse_video_probs(items["probs"], inverse, len(uniq), self.fusion)
        labels = torch.zeros(len(uniq), dtype=torch.long, device=probs.device).scatter_(0, inverse, items["labels"])
        short = torch.zeros(len(uniq), dtype=torch.bool, device=probs.device).scatter_(0, inverse, items["short"])
        return probs, labels, short, uniq

    def _scores(self, without_flip: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        probs, labels, short, _ = self.per_video(without_flip)
        return apply_short_video_policy(probs, labels, short, self.short_videos), labels, short

    def compute(self) -> dict[str, torch.Tensor]:
        if isinstance(self.labels, list) and not self.labels:
            return {"acc": torch.tensor(0.0, device=self.device)}
        scores, labels, short = self._scores()
        n = self.num_classes
        fused = scores[:, 0]
        out = {
            "acc": multiclass_accuracy(fused, labels, n, average="micro"),
            "acc_macro": multiclass_accuracy(fused, labels, n, average="macro"),
        }
        if n > 5:
            out["acc_top5"] = multiclass_accuracy(fused, labels, n, average="micro", top_k=5)
        per_head = {name: _top1(scores[:, h], labels, n) for h, name in enumerate(self.head_names)}
        out.update({f"acc_{name}": value for name, value in per_head.items()})
        if self.block_heads:
            blocks = torch.stack([per_head[name] for name in self.block_heads])
            best = int(blocks.argmax())  # first on a tie
            out["acc_best_block"] = blocks[best]
            out["best_block"] = torch.tensor(float(best + 1), device=blocks.device)
        flipped = dim_zero_cat(self.flipped)
        if bool(flipped.any()) and not bool(flipped.all()):
            plain, plain_labels, _ = self._scores(without_flip=True)
            out["acc_without_flip"] = multiclass_accuracy(plain[:, 0], plain_labels, n, average="micro")
        if bool(short.any()):
            out["short_videos"] = short.sum().float()
        out["confusion"] = multiclass_confusion_matrix(fused, labels, n)
        return out
