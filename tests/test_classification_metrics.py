"""Clip classification metrics against torchmetrics, with DDP repeats and multi-clip aggregation."""

import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from har.metrics.classification import ClipClassification


def _data(n=40, classes=7, heads=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(heads, n, classes, generator=g) * 2, dim=-1)
    labels = torch.randint(0, classes, (n,), generator=g)
    return probs, labels


def test_matches_torchmetrics_definitions():
    probs, labels = _data()
    metric = ClipClassification(7, ("fused", "pose", "appearance"))
    metric.update(probs[:, :25], labels[:25], torch.arange(25), torch.arange(25))
    metric.update(probs[:, 25:], labels[25:], torch.arange(25, 40), torch.arange(25, 40))
    out = metric.compute()
    fused = probs[0]
    assert torch.isclose(out["acc"], MulticlassAccuracy(7, average="micro")(fused, labels))
    assert torch.isclose(out["acc_macro"], MulticlassAccuracy(7, average="macro")(fused, labels))
    assert torch.isclose(out["acc_top5"], MulticlassAccuracy(7, average="micro", top_k=5)(fused, labels))
    assert torch.equal(out["confusion"], MulticlassConfusionMatrix(7)(fused, labels))
    assert torch.isclose(out["acc_pose"], MulticlassAccuracy(7, average="micro")(probs[1], labels))
    five = ClipClassification(5, ("fused",))  # top-5 only where there are more than 5 classes
    five.update(probs[:1, :, :5], labels.clamp(max=4), torch.arange(40), torch.arange(40))
    assert "acc_top5" not in five.compute() and "acc_macro" in five.compute()


def test_repeats_count_once_and_clips_of_a_video_are_averaged():
    probs, labels = _data(n=6, classes=3, heads=1)
    single = ClipClassification(3, ("fused",))
    single.update(probs, labels, torch.arange(6), torch.arange(6))
    padded = ClipClassification(3, ("fused",))
    order = torch.tensor([0, 1, 2, 3, 4, 5, 0, 1])  # a sampler's padding repeats items 0 and 1
    padded.update(probs[:, order], labels[order], order, order)
    assert {k: v.tolist() for k, v in padded.compute().items()} == {k: v.tolist() for k, v in single.compute().items()}
    # Two clips per video, mean fusion: probabilities are averaged per video before the argmax.
    clips = ClipClassification(3, ("fused",), fusion="mean")
    video = torch.tensor([0, 0, 1, 1, 2, 2])
    clip_labels = labels[video * 2]
    clips.update(probs, clip_labels, torch.arange(6), video)
    mean = probs[0].view(3, 2, 3).mean(1)
    assert torch.isclose(clips.compute()["acc"], (mean.argmax(-1) == clip_labels[::2]).float().mean())


def test_mean_class_accuracy_counts_predicted_but_absent_classes_as_torchmetrics_does():
    """Labels 0, 1, 2, 2 predicted as 0, 1, 3, 4: recalls 1, 1, 0 on the classes in the ground truth, and 0 on
    classes 3 and 4, which were predicted but never occur. torchmetrics' macro average counts every class that
    occurs or is predicted: (1 + 1 + 0 + 0 + 0) / 5 = 0.4 (averaging only the ground truth's classes gives 0.667).
    Class 5 neither occurs nor is predicted: it does not count."""
    labels = torch.tensor([0, 1, 2, 2])
    probs = torch.nn.functional.one_hot(torch.tensor([0, 1, 3, 4]), 6).float()[None] * 0.9 + 0.1 / 6
    metric = ClipClassification(6, ("fused",))
    metric.update(probs, labels, torch.arange(4), torch.arange(4))
    out = metric.compute()
    assert out["acc"].item() == 0.5
    assert abs(out["acc_macro"].item() - 0.4) < 1e-6
    assert torch.isclose(out["acc_macro"], MulticlassAccuracy(6, average="macro")(probs[0], labels))
