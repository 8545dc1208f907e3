"""Which frames of a clip a sample uses, and the per-sample random generator.

- ``window`` is deephar's (``get_clip_frame_index``): T frames with stride s from a random start in training, the
  centred start in evaluation; a video too short for s gets the largest stride that fits, and one shorter than T is
  stretched by 1.5^n with the indices floored (frames repeat, never an index error). deephar lowered s to ``n // T``;
  here to the largest s with ``s·(T − 1) + 1 ≤ n``.
- ``deephar`` is deephar's own ``get_clip_frame_index``, exactly (:func:`har.data.clip_protocol.deephar_clip_indices`):
  as ``window`` but a video too short for s gets deephar's stride ``int(n / T)``. Training draws the stride from
  ``strides`` and a uniform random start (deephar's training clips); evaluation takes the centred clip at
  ``eval_stride`` (deephar's single-clip protocol).
- ``subset`` is the seed fork's: a random ordered subset of T frames (short clips padded with random repeats, sorted);
  in evaluation its deterministic counterpart, T frames spread evenly over the clip.
- :func:`multi_clip_positions`: several windows spread over a clip, for multi-clip testing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from har.data.clip_protocol import deephar_clip_indices

SAMPLINGS = ("window", "deephar", "subset")


def sample_rng() -> np.random.Generator:
    """A generator for one training sample, seeded from torch's RNG.

    torch's RNG is seeded per DataLoader worker and per epoch (and by ``seed_everything``), and advances in the main
    process, so draws differ across workers, epochs and samples, with or without workers, and are reproducible.
    """
    return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))


# ---------------------------------------------------------------------------------------------------------------
# Frame sampling


def window_indices(length: int, num_frames: int, stride: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """deephar's clip: ``num_frames`` indices into ``range(length)`` with ``stride``; (T,) int64, non-decreasing.

    The start is random (``rng``) or centred (``rng=None``). Too short for the stride: the largest stride that fits.
    Shorter than T: the index range is stretched by the smallest 1.5^n that fits T frames, indices floored.
    """
    if length < 1:
        raise ValueError(f"cannot sample a clip from {length} frames")
    if num_frames < 1 or stride < 1:
        raise ValueError(f"num_frames ({num_frames}) and stride ({stride}) must be ≥ 1")
    coef = 1.0
    while coef * length < num_frames:
        coef *= 1.5
    span_length = length * coef  # the (stretched) index range
    if num_frames > 1:
        stride = max(1, min(stride, int((span_length - 1) // (num_frames - 1))))
    span = stride * (num_frames - 1) + 1
    max_start = int(span_length - span)
    start = int(rng.integers(max_start + 1)) if rng is not None else max_start // 2
    index = start + stride * np.arange(num_frames, dtype=np.float64)
    if coef > 1:
        index = np.floor(index / coef)
    return np.minimum(index, length - 1).astype(np.int64)


def subset_indices(length: int, num_frames: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """The fork's clip: a random ordered subset of ``num_frames`` indices (``rng``), or, with ``rng=None``, T indices
    spread evenly and centred over the clip. Short clips: every frame once plus random repeats, sorted.
    """
    if length < 1:
        raise ValueError(f"cannot sample a clip from {length} frames")
    if rng is None:
        return np.floor((np.arange(num_frames) + 0.5) * (length / num_frames)).astype(np.int64)
    if length >= num_frames:
        index = rng.choice(length, size=num_frames, replace=False)
    else:
        index = np.concatenate([np.arange(length), rng.integers(length, size=num_frames - length)])
    return np.sort(index).astype(np.int64)


@dataclass
class ClipSampler:
    """Picks T frame positions in a clip of ``length`` frames.

    Attributes:
        num_frames: T.
        sampling: ``window`` (deephar-like), ``deephar`` (deephar's exactly) or ``subset`` (the fork); see the module
            docstring.
        strides: training strides (``window``, ``deephar``), one drawn uniformly per sample (deephar's Penn/NTU AR
            training set: {1, 2, 3}).
        eval_stride: the evaluation stride (``window``, ``deephar``; deephar's Penn/NTU AR test value: 2).
    """

    num_frames: int = 8
    sampling: str = "window"
    strides: Sequence[int] = (1, 2, 3)
    eval_stride: int = 2

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling {self.sampling!r}: expected one of {SAMPLINGS}")
        if self.num_frames < 1 or not self.strides or min(self.strides) < 1 or self.eval_stride < 1:
            raise ValueError(f"bad clip sampler {self}: num_frames and strides must be ≥ 1")
        self.strides = tuple(int(s) for s in self.strides)

    def __call__(self, length: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """(T,) int64 sorted positions in ``range(length)``; random with ``rng`` (training), else deterministic."""
        if self.sampling == "subset":
            return subset_indices(length, self.num_frames, rng)
        stride = self.eval_stride if rng is None else int(rng.choice(self.strides))
        if self.sampling == "deephar":
            return deephar_clip_indices(length, self.num_frames, stride, rng)
        return window_indices(length, self.num_frames, stride, rng)


def multi_clip_positions(length: int, num_frames: int, stride: int, num_clips: int) -> list[np.ndarray]:
    """``num_clips`` windows of ``num_frames`` at ``stride``, their starts spread evenly from the first frame to
    the last start that fits (deephar's multi-clip test: windows at regular offsets over the video). A clip too
    short for more than one window gives its centred window ``num_clips`` times."""
    one = window_indices(length, num_frames, stride)
    span = int(one[-1] - one[0]) + 1
    last_start = length - span
    if num_clips <= 1 or last_start <= 0:
        return [one] * max(1, num_clips)
    return [one - one[0] + int(round(s)) for s in np.linspace(0, last_start, num_clips)]
