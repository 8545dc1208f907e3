"""Video-level action protocols in the clip metric (har.metrics.classification, har.metrics.clip_fusion): fusion by
product or mean, the short-video policies, every block and deephar's best block, multi-clip with and without flip,
DDP repeats — on hand-computed cases, and against the numpy reference (har.metrics.video_accuracy)."""

import numpy as np
import pytest
import torch

from har.metrics.classification import ClipClassification
from har.metrics.video_accuracy import multi_clip_accuracy


def _metric(probs, labels, video, short=None, flipped=None, index=None, **kwargs):
    """probs (H, N, C) given as nested lists of per-item rows."""
    probs = torch.tensor(probs, dtype=torch.float32)
    heads = tuple(f"h{i}" for i in range(len(probs)))
    metric = ClipClassification(probs.shape[-1], heads, **kwargs)
    n = probs.shape[1]
    index = torch.arange(n) if index is None else torch.tensor(index)
    as_bool = lambda v: None if v is None else torch.tensor(v, dtype=torch.bool)  # noqa: E731
    metric.update(probs, torch.tensor(labels), index, torch.tensor(video), as_bool(short), as_bool(flipped))
    return metric


# One video of three clips where the product and the mean disagree: mean (1.801, 1.199) / 3 → class 0; product
# 0.9·0.9·0.001 = 8.1e-4 < 0.1·0.1·0.999 = 9.99e-3 → class 1.
DISAGREE = [[[0.9, 0.1], [0.9, 0.1], [0.001, 0.999]]]


def test_product_and_mean_fusion_on_a_hand_computed_video():
    product = _metric(DISAGREE, [1, 1, 1], [7, 7, 7])
    mean = _metric(DISAGREE, [1, 1, 1], [7, 7, 7], fusion="mean")
    assert product.compute()["acc"].item() == 1.0 and mean.compute()["acc"].item() == 0.0
    probs, labels, short, videos = product.per_video()
    expected = np.array([0.9 * 0.9 * 0.001, 0.1 * 0.1 * 0.999]) ** (1 / 3)  # normalised geometric mean
    np.testing.assert_allclose(probs[0, 0].numpy(), expected / expected.sum(), rtol=1e-6)
    assert labels.tolist() == [1] and short.tolist() == [False] and videos.tolist() == [7]
    np.testing.assert_allclose(mean.per_video()[0][0, 0].numpy(), [1.801 / 3, 1.199 / 3], rtol=1e-6)


def test_product_fusion_survives_a_clip_with_probability_zero_and_long_videos():
    """deephar's product of 100 clips at 1e-4 underflows to 0 for every class (argmax 0); the log sum does not."""
    rows = [[1e-4, 1 - 1e-4]] * 100 + [[0.0, 1.0]]
    metric = _metric([rows], [1] * 101, [0] * 101)
    assert metric.compute()["acc"].item() == 1.0


# Videos 0 (class 0, two clips, right), 1 (class 1, short, padded clip predicts class 1: right), 2 (class 2, short,
# padded clip predicts class 0: wrong), 3 (class 1, one clip predicting class 2: wrong).
SHORT_PROBS = [[[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7]]]
SHORT_ARGS = {"labels": [0, 0, 1, 2, 1], "video": [0, 0, 1, 2, 3], "short": [False, False, True, True, False]}


@pytest.mark.parametrize(
    ("policy", "accuracy", "predicted"),
    [
        ("scored", 2 / 4, [0, 1, 0, 2]),  # the padded clips count like any other
        ("wrong", 1 / 4, [0, 2, 0, 2]),  # never correct: video 1 falls to its runner-up (class 2)
        ("deephar", 3 / 4, [0, 1, 2, 2]),  # always correct (deephar's evaluators): video 2 counted right
    ],
)
def test_short_videos_count_as_the_policy_says(policy, accuracy, predicted):
    metric = _metric(SHORT_PROBS, short_videos=policy, **SHORT_ARGS)
    out = metric.compute()
    assert abs(out["acc"].item() - accuracy) < 1e-6
    assert out["short_videos"].item() == 2
    assert out["confusion"].sum().item() == 4
    # The confusion matrix is of the scores the accuracy ranks: its diagonal is the accuracy.
    assert abs(out["confusion"].diag().sum().item() / 4 - accuracy) < 1e-6
    # Which column each video lands in (labels 0, 1, 2, 1): rows of the confusion matrix.
    got = torch.zeros(3, 3, dtype=torch.long)
    for label, pred in zip([0, 1, 2, 1], predicted):
        got[label, pred] += 1
    assert torch.equal(out["confusion"], got)


def test_unknown_policies_are_errors():
    with pytest.raises(ValueError, match="short_videos"):
        ClipClassification(3, ("fused",), short_videos="pad")
    with pytest.raises(ValueError, match="fusion"):
        ClipClassification(3, ("fused",), fusion="max")
    with pytest.raises(ValueError, match="block_heads"):
        ClipClassification(3, ("fused",), block_heads=("pose_block1",))


def test_every_block_and_the_best_block_selected_on_the_set():
    """Heads fused, b1, b2; deephar's order b1, b2, fused. Two videos of class 0 and 1: b1 gets both right, fused
    one, b2 none: acc = 0.5 (fused), best block = b1 (position 1) with 1.0."""
    right = [[0.9, 0.1], [0.2, 0.8]]
    half = [[0.9, 0.1], [0.8, 0.2]]
    wrong = [[0.1, 0.9], [0.7, 0.3]]
    metric = ClipClassification(2, ("fused", "b1", "b2"), block_heads=("b1", "b2", "fused"))
    metric.update(torch.tensor([half, right, wrong]), torch.tensor([0, 1]), torch.arange(2), torch.arange(2))
    out = metric.compute()
    assert [out[k].item() for k in ("acc", "acc_b1", "acc_b2", "acc_fused")] == [0.5, 1.0, 0.0, 0.5]
    assert out["acc_best_block"].item() == 1.0 and out["best_block"].item() == 1.0
    tie = ClipClassification(2, ("fused", "b1"), block_heads=("b1", "fused"))  # first block on a tie
    tie.update(torch.tensor([right, right]), torch.tensor([0, 1]), torch.arange(2), torch.arange(2))
    assert tie.compute()["best_block"].item() == 1.0


def test_multi_clip_with_and_without_flip_from_one_run():
    """Video 0 (class 1): clip right, its mirror confidently wrong → with flip wrong, without flip right."""
    probs = [[[0.4, 0.6], [0.99, 0.01], [0.2, 0.8], [0.3, 0.7]]]
    metric = _metric(probs, [1, 1, 1, 1], [0, 0, 1, 1], flipped=[False, True, False, True])
    out = metric.compute()
    assert out["acc"].item() == 0.5 and out["acc_without_flip"].item() == 1.0
    assert "acc_without_flip" not in _metric(probs, [1] * 4, [0, 0, 1, 1]).compute()  # no flipped item: no key


def test_repeated_items_of_a_multi_clip_set_count_once():
    """A DistributedSampler pads with repeats. Clips (0.6, 0.4) and (0.35, 0.65) of a class-0 video: product
    0.21 < 0.26, class 1, wrong. The first clip counted twice would give 0.126 > 0.104: class 0, right."""
    probs = [[[0.6, 0.4], [0.35, 0.65], [0.6, 0.4]]]
    once = _metric([probs[0][:2]], [0, 0], [0, 0]).compute()["acc"].item()
    padded = _metric(probs, [0, 0, 0], [0, 0, 0], index=[0, 1, 0]).compute()["acc"].item()
    twice = _metric(probs, [0, 0, 0], [0, 0, 0]).compute()["acc"].item()  # distinct indices: three clips
    assert once == padded == 0.0 and twice == 1.0


@pytest.mark.parametrize("fusion", ["product", "mean"])
def test_per_block_accuracy_equals_the_numpy_reference(fusion):
    rng = np.random.default_rng(3)
    blocks, classes, counts = 3, 5, [1, 4, 2, 6, 3, 1, 5]
    labels = rng.integers(0, classes, len(counts))
    video_probs = [rng.dirichlet(np.full(classes, 0.5), size=(blocks, k)) for k in counts]
    ref = multi_clip_accuracy(video_probs, labels, fusion=fusion)
    items = torch.tensor(np.concatenate(video_probs, axis=1), dtype=torch.float32)  # (B, N, C)
    video = torch.tensor(np.repeat(np.arange(len(counts)), counts))
    heads = tuple(f"b{i}" for i in range(blocks))
    metric = ClipClassification(classes, heads, fusion=fusion, block_heads=heads)
    metric.update(items, torch.tensor(labels)[video], torch.arange(len(video)), video)
    out = metric.compute()
    got = [out[f"acc_b{i}"].item() for i in range(blocks)]
    np.testing.assert_allclose(got, ref.per_block, atol=1e-6)
    assert out["best_block"].item() == ref.best_block + 1
