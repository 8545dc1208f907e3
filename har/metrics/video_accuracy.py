"""Video-level action accuracy under deephar's multi-clip protocol, per prediction block (numpy, no torch).

deephar's networks emit one action prediction per block (deep supervision); its evaluators print the accuracy of
every block and a "best" = the maximum over blocks, chosen on the evaluated (test) set itself
(``exp/common/penn_tools.py:153-162``, ``ntu_tools.py:140-151``). That maximum is a selection on the test set, not a
held-out number: :class:`MultiClipAccuracy` reports it under the name ``best_block_selected_on_eval_set`` and gives
``final`` (the last block, the network's output) as the number to quote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from har.data.clip_protocol import fuse_clip_scores


@dataclass(frozen=True)
class MultiClipAccuracy:
    """Accuracy over videos, per prediction block.

    Attributes:
        per_block: (B,) accuracy in [0, 1] of each block's fused prediction, over all videos.
        final: ``per_block[-1]``, the network's final output: the number to report.
        best_block_selected_on_eval_set: ``max(per_block)``, deephar's "best": chosen on the set being scored, so
            optimistic; never a held-out number.
        best_block: the block achieving it (first on a tie).
        predictions: (B, V) int64 predicted class per block and video; -1 where a video had no clip (and the quirk
            is off).
        num_videos: V.
        num_without_clips: videos with no clip (only with ``short_video="deephar"`` enumeration).
        num_correct_by_quirk: of those, how many were counted correct by ``deephar_zero_clip_quirk`` (0 without it).
    """

    per_block: np.ndarray
    final: float
    best_block_selected_on_eval_set: float
    best_block: int
    predictions: np.ndarray
    num_videos: int
    num_without_clips: int
    num_correct_by_quirk: int

    def summary(self) -> str:
        blocks = " ".join(f"{100 * a:.2f}" for a in self.per_block)
        text = f"{self.num_videos} videos: accuracy {100 * self.final:.2f}% (final block); per block [{blocks}]"
        text += f"; best block on this set (not held-out): {100 * self.best_block_selected_on_eval_set:.2f}%"
        if self.num_without_clips:
            how = "counted correct (deephar quirk)" if self.num_correct_by_quirk else "counted wrong"
            text += f"; {self.num_without_clips} videos without a clip, {how}"
        return text


def multi_clip_accuracy(
    video_probs: Sequence[np.ndarray],
    labels: Sequence[int] | np.ndarray,
    fusion: str = "product",
    deephar_zero_clip_quirk: bool = False,
) -> MultiClipAccuracy:
    """Accuracy over videos from the class probabilities of each video's clips.

    Args:
        video_probs: per video, (B, K, C) softmax outputs of B blocks for its K clips (flips included: deephar scores
            each clip and its mirror, i.e. 2 × the clips of :func:`~har.data.clip_protocol.multi_clip_indices`).
            K = 0 for a video without a clip; (K, C) is read as B = 1.
        labels: (V,) true class per video.
        fusion: ``product`` (deephar, as a sum of logs) or ``mean``; see
            :func:`~har.data.clip_protocol.fuse_clip_scores`.
        deephar_zero_clip_quirk: count a video without a clip as correct, as deephar's evaluators do (reproduction
            only). Off: such a video is wrong.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(video_probs) != len(labels):
        raise ValueError(f"{len(video_probs)} videos of clip scores but {len(labels)} labels")
    if len(labels) == 0:
        raise ValueError("no video to score")
    shaped = [np.asarray(p, dtype=np.float64) for p in video_probs]
    shaped = [p[None] if p.ndim == 2 else p for p in shaped]
    for v, p in enumerate(shaped):
        if p.ndim != 3:
            raise ValueError(f"video {v}: clip scores of shape {p.shape}, expected (B, K, C) or (K, C)")
    num_blocks, num_classes = shaped[0].shape[0], shaped[0].shape[2]
    predictions = np.full((num_blocks, len(labels)), -1, np.int64)
    correct = np.zeros((num_blocks, len(labels)), bool)
    without = quirk = 0
    for v, p in enumerate(shaped):
        if p.shape[0] != num_blocks or p.shape[2] != num_classes:
            raise ValueError(f"video {v}: clip scores of shape {p.shape}, the first video's are (B={num_blocks}, K, "
                             f"C={num_classes})")  # fmt: skip
        if p.shape[1] == 0:
            without += 1
            if deephar_zero_clip_quirk:  # penn_tools.py:98-153: a_true all zeros, a_pred all ones → both argmax 0
                predictions[:, v] = 0
                correct[:, v] = True
                quirk += 1
            continue
        predictions[:, v] = fuse_clip_scores(p, fusion).argmax(axis=-1)
        correct[:, v] = predictions[:, v] == labels[v]
    per_block = correct.mean(axis=1)
    best = int(np.argmax(per_block))
    return MultiClipAccuracy(
        per_block=per_block,
        final=float(per_block[-1]),
        best_block_selected_on_eval_set=float(per_block[best]),
        best_block=best,
        predictions=predictions,
        num_videos=len(labels),
        num_without_clips=without,
        num_correct_by_quirk=quirk,
    )
