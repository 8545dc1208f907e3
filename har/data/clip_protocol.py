"""deephar's action-recognition test protocols, as pure numpy functions (no torch).

Which frames a test clip holds and how the clips of a video are combined into one prediction, for Penn Action and
NTU RGB+D (``deephar/data/datasets.py:6-35``, ``deephar/data/pennaction.py:207-221``, ``deephar/data/ntu.py:296-310``,
``exp/common/penn_tools.py:85-162``, ``exp/common/ntu_tools.py:53-151``; spec ``deephar-datasets.md`` §1.4, §4.5, §5.6):

- **Single clip** (:func:`deephar_clip_indices`): deephar's ``get_clip_frame_index``, exactly: T indices at stride s,
  the start random in training and centred at test; a video with fewer than ``T·s`` frames gets the stride
  ``int(n / T)``, and one with fewer than T frames has its index range stretched by 1.5^k and floored, so frames
  repeat. It differs from :func:`har.data.sampling.window_indices` only in how far the stride is lowered: deephar
  lowers it to ``int(n / T)``, ``window_indices`` to the largest s with ``s·(T − 1) + 1 ≤ n`` (e.g. n = 22, T = 8,
  s = 3: deephar takes stride 2, ``window_indices`` keeps 3). The centred start is the same in both.
- **Multi-clip** (:func:`deephar_multi_clips`): clips ``range(start, start + T·s, s)``; the start advances by
  ``int(T / 2) + (s − 1)``; a clip is kept only while ``start + T·s ≤ n`` (deephar asks for T·s frames although a
  clip spans ``(T − 1)·s + 1``: kept as is, it decides which clips exist). Each clip is scored with and without a
  horizontal flip (the caller's business).
- **Videos shorter than one clip** (``n < T·s``) get no clip from deephar's enumeration. deephar then leaves the
  video's truth vector all zeros and its score all ones, both argmax to class 0, and counts the video **correct**
  whatever its class (TPAMI Penn: T·s = 8·6 = 48 frames; NTU: 8·4 = 32 kept frames). Here, by default
  (``short_video="pad"``), such a video is scored on one clip, :func:`deephar_clip_indices` at the test stride
  (stride lowered, frames repeated when n < T), and counts as right or wrong like any other;
  ``short_video="deephar"`` returns no clip, and only
  :func:`har.metrics.video_accuracy.multi_clip_accuracy` with ``deephar_zero_clip_quirk=True`` then counts it correct
  (otherwise wrong).
- **Fusion** (:func:`fuse_clip_scores`): deephar multiplies the softmax outputs of all clips and flips
  (``a_pred[b, i, :] *= pred[b][0]``); ``fusion="product"`` computes the same thing as a sum of log-probabilities,
  whose argmax is the product's wherever the product is representable, and which does not underflow to an all-zero
  (argmax 0) vector when a long video has many clips (a product of 100 clips at 1e-4 is 1e-400 < the smallest
  float64). ``fusion="mean"`` averages probabilities (mmaction2's convention).
"""

from __future__ import annotations

import numpy as np

SHORT_VIDEO_POLICIES = ("pad", "deephar")
FUSIONS = ("product", "mean")


def deephar_clip_indices(
    length: int, num_frames: int, stride: int, rng: np.random.Generator | None = None
) -> np.ndarray:
    """deephar's ``get_clip_frame_index``: (T,) int64 indices into ``range(length)``, non-decreasing.

    Centred start with ``rng=None`` (test), uniform random start otherwise (training). Follows
    ``deephar/data/datasets.py:6-35`` step by step (float arithmetic included).
    """
    if length < 1:
        raise ValueError(f"cannot sample a clip from {length} frames")
    if num_frames < 1 or stride < 1:
        raise ValueError(f"num_frames ({num_frames}) and stride ({stride}) must be >= 1")
    coef = 1.0
    while coef * length < num_frames:  # datasets.py:12-14: stretch the index range of a too-short video
        coef *= 1.5
    size = length * coef
    stride = min(stride, int(size / num_frames))  # datasets.py:18-20: the largest stride deephar accepts
    span = stride * (num_frames - 1) + 1  # `vidminf`
    max_start = size - span  # a float where the range was stretched
    # datasets.py:24-27; np.random.randint(maxs + 1) draws from [0, floor(maxs)]
    start = int(rng.integers(int(max_start) + 1)) if rng is not None else int(max_start / 2)
    index = np.arange(start, start + span, stride, dtype=np.int64)
    if coef > 1:
        index = (index / coef).astype(np.int64)  # int() of a positive float: floor
    return index


def deephar_multi_clips(length: int, num_frames: int, stride: int) -> np.ndarray:
    """deephar's multi-clip enumeration (``get_clip_index``, ``pennaction.py:207-221``): (K, T) int64 indices, K ≥ 0.

    Clip k starts at ``k · (int(T / 2) + s − 1)`` and is kept while ``start + T·s ≤ length``.
    """
    if num_frames < 1 or stride < 1:
        raise ValueError(f"num_frames ({num_frames}) and stride ({stride}) must be >= 1")
    step = int(num_frames / 2) + (stride - 1)
    if step == 0:  # T = 1, s = 1: deephar's loop would never end
        raise ValueError("deephar's multi-clip enumeration needs int(T / 2) + s - 1 >= 1 (T = 1 with s = 1 loops)")
    starts = np.arange(0, max(0, length - num_frames * stride) + 1, step, dtype=np.int64)
    if length < num_frames * stride:
        starts = starts[:0]
    return starts[:, None] + stride * np.arange(num_frames, dtype=np.int64)[None, :]


def multi_clip_indices(length: int, num_frames: int, stride: int, short_video: str = "pad") -> np.ndarray:
    """The test clips of a video of ``length`` frames: (K, T) int64.

    deephar's enumeration (:func:`deephar_multi_clips`); a video with no full clip gets, with ``short_video="pad"``,
    the one clip of :func:`deephar_clip_indices` (K = 1, frames repeated where ``length < T``), with ``"deephar"``
    none (K = 0, deephar's behaviour; see the module docstring for how such a video is then scored).
    """
    if short_video not in SHORT_VIDEO_POLICIES:
        raise ValueError(f"short_video {short_video!r}: expected one of {SHORT_VIDEO_POLICIES}")
    clips = deephar_multi_clips(length, num_frames, stride)
    if len(clips) == 0 and short_video == "pad" and length >= 1:
        clips = deephar_clip_indices(length, num_frames, stride)[None, :]
    return clips


def fuse_clip_scores(probs: np.ndarray, fusion: str = "product") -> np.ndarray:
    """One score per class from the class probabilities of a video's clips: (..., K, C) → (..., C).

    ``product``: ``Σ_k log p_k`` (the log of deephar's product of softmaxes; ``-inf`` where a clip gave exactly 0);
    ``mean``: ``mean_k p_k``. Compare scores only by argmax (the two are on different scales). K must be ≥ 1.
    """
    if fusion not in FUSIONS:
        raise ValueError(f"fusion {fusion!r}: expected one of {FUSIONS}")
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim < 2 or probs.shape[-2] == 0:
        raise ValueError(f"expected (..., K, C) clip probabilities with K >= 1, got shape {probs.shape}")
    if np.any(probs < 0) or not np.all(np.isfinite(probs)):
        raise ValueError("clip probabilities must be finite and >= 0 (softmax outputs, not logits)")
    if fusion == "mean":
        return probs.mean(axis=-2)
    with np.errstate(divide="ignore"):
        return np.log(probs).sum(axis=-2)
