"""Torch counterparts of the video-level protocol steps (fusion of clip scores, the short-video policy).

The numpy reference is :mod:`har.data.clip_protocol` / :mod:`har.metrics.video_accuracy` (what the tests compare
with); these run on the metric's tensors inside :class:`~har.metrics.classification.ClipClassification`, so the
LightningModules, which never import ``har.data``, score videos the same way.

- **Fusion** of the items (clips, flipped clips) of a video: ``product`` (deephar: the product of the softmax outputs,
  computed as a sum of log-probabilities, then normalised: the normalised geometric mean, whose ranking of the
  classes is the product's) or ``mean`` (the mean of the probabilities, mmaction2's convention).
- **Short videos** (shorter than one clip at the test stride; the datamodule marks them ``short`` and scores them on
  one clip padded by repeating frames): ``scored`` (default) counts the padded clip's prediction right or wrong like
  any other; ``wrong`` never counts such a video correct (deephar's clip enumeration gives it no clip, scored
  honestly); ``deephar`` counts it correct whatever it predicts — deephar's evaluators do this (a video without
  clips keeps an all-zero truth and an all-one score, both argmax 0: ``exp/common/penn_tools.py:98-153``,
  ``ntu_tools.py:53-151``); a reproduction flag only, it inflates the accuracy.
"""

from __future__ import annotations

import torch

FUSIONS = ("product", "mean")
SHORT_VIDEOS = ("scored", "wrong", "deephar")
_TINY = torch.finfo(torch.float64).tiny  # a probability of exactly 0 stays finite in log space, and lowest


def fuse_video_probs(probs: torch.Tensor, inverse: torch.Tensor, num_videos: int, fusion: str) -> torch.Tensor:
    """Per-video class probabilities from per-item ones.

    Args:
        probs: (N, H, C) softmax outputs of H heads for N items (clips).
        inverse: (N,) the video (0..V-1) of each item.
        num_videos: V (every video has at least one item).
        fusion: ``product`` or ``mean``.

    Returns:
        (V, H, C) float64 probabilities summing to 1 over C.
    """
    if fusion not in FUSIONS:
        raise ValueError(f"fusion {fusion!r}: expected one of {FUSIONS}")
    probs = probs.double()
    counts = torch.zeros(num_videos, dtype=torch.float64, device=probs.device).index_add_(
        0, inverse, torch.ones_like(inverse, dtype=torch.float64)
    )
    if fusion == "mean":
        sums = torch.zeros(num_videos, *probs.shape[1:], dtype=torch.float64, device=probs.device)
        return sums.index_add_(0, inverse, probs) / counts[:, None, None]
    logs = torch.zeros(num_videos, *probs.shape[1:], dtype=torch.float64, device=probs.device)
    logs.index_add_(0, inverse, probs.clamp_min(_TINY).log())
    return (logs / counts[:, None, None]).softmax(dim=-1)  # softmax(mean log p): the product's ranking


def apply_short_video_policy(
    probs: torch.Tensor, labels: torch.Tensor, short: torch.Tensor, policy: str
) -> torch.Tensor:
    """Class scores to rank for accuracy: (V, H, C) log-probabilities where a short video's true class is moved
    below every other class (``wrong``) or above (``deephar``); unchanged with ``scored``. The order of the other
    classes is kept, so a short video's predicted class under ``wrong`` is its own prediction when that was wrong,
    its runner-up otherwise."""
    if policy not in SHORT_VIDEOS:
        raise ValueError(f"short_videos {policy!r}: expected one of {SHORT_VIDEOS}")
    scores = probs.double().clamp_min(_TINY).log()
    if policy == "scored" or not bool(short.any()):
        return scores
    rows = short.nonzero().squeeze(1)
    truth = labels[rows]
    sub = scores[rows]  # (S, H, C)
    value = sub.amin(dim=-1) - 1.0 if policy == "wrong" else sub.amax(dim=-1) + 1.0
    sub[torch.arange(len(rows), device=sub.device), :, truth] = value
    scores[rows] = sub
    return scores
