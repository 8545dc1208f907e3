"""PCK (bbox-normalised) against mmpose's golden vectors and the streaming metric against the functional one."""

import numpy as np
import torch

from har.metrics.pck import PCK, pck_accuracy


def _mmpose_golden():
    # mmpose tests/test_evaluation/test_functional/test_keypoint_eval.py::test_keypoint_pck_accuracy
    output = np.zeros((2, 5, 2))
    target = np.zeros((2, 5, 2))
    mask = np.array([[True, True, False, True, True], [True, True, False, True, True]])
    output[0, 0], target[0, 0] = [10, 0], [10, 0]  # first channel
    output[0, 1], target[0, 1] = [20, 20], [10, 10]  # second channel
    output[0, 2], target[0, 2] = [0, 0], [-1, 0]  # third channel (masked)
    output[0, 3], target[0, 3] = [30, 30], [30, 30]  # fourth channel
    output[0, 4], target[0, 4] = [0, 10], [0, 10]
    thr = np.full((2, 2), 10, dtype=np.float32)
    return [torch.tensor(a) for a in (output, target, mask, thr)]


def test_pck_matches_mmpose_golden_values():
    output, target, mask, thr = _mmpose_golden()
    acc, avg, cnt = pck_accuracy(output, target, mask, 0.5, thr)
    np.testing.assert_allclose(acc.numpy(), [1, 0.5, -1, 1, 1])
    assert abs(avg - 0.875) < 1e-6 and cnt == 4
    # A zero normaliser makes its instance invalid rather than dividing by zero.
    acc, avg, cnt = pck_accuracy(output, target, mask, 0.5, torch.zeros(2, 2))
    np.testing.assert_allclose(acc.numpy(), [-1] * 5)
    assert avg == 0 and cnt == 0


def test_streaming_pck_equals_functional_and_is_strict():
    g = torch.Generator().manual_seed(3)
    gt = torch.rand(40, 6, 2, generator=g) * 100
    pred = gt + torch.randn(40, 6, 2, generator=g) * 8
    mask = torch.rand(40, 6, generator=g) > 0.2
    bbox = torch.cat([torch.zeros(40, 2), torch.rand(40, 2, generator=g) * 80 + 20], dim=1)
    metric = PCK(6, thresholds=(0.2, 0.1))
    for s in range(0, 40, 16):  # streamed in uneven batches
        sl = slice(s, s + 16)
        metric.update(pred[sl], gt[sl], mask[sl], bbox[sl], torch.arange(40)[sl])
    out = metric.compute()
    norm = bbox[:, 2:].max(1).values
    for thr in (0.2, 0.1):
        _, avg, _ = pck_accuracy(pred, gt, mask, thr, norm)
        assert abs(float(out[f"pck@{thr:g}"]) - avg) < 1e-6
    # Strict: a joint exactly at the threshold distance is a miss.
    m = PCK(1, thresholds=(0.2,))
    m.update(torch.tensor([[[2.0, 0.0]]]), torch.zeros(1, 1, 2), torch.ones(1, 1, dtype=torch.bool),
             torch.tensor([[0.0, 0.0, 10.0, 5.0]]), torch.tensor([0]))  # fmt: skip
    assert float(m.compute()["pck@0.2"]) == 0.0


def test_repeated_indices_count_once_as_on_one_device():
    """A DistributedSampler pads the last batches with repeats; they must not change the result."""
    g = torch.Generator().manual_seed(5)
    gt = torch.rand(11, 4, 2, generator=g) * 50
    pred = gt + torch.randn(11, 4, 2, generator=g) * 6
    mask = torch.ones(11, 4, dtype=torch.bool)
    bbox = torch.tensor([[0.0, 0.0, 40.0, 30.0]]).repeat(11, 1)
    single = PCK(4)
    single.update(pred, gt, mask, bbox, torch.arange(11))
    padded = PCK(4)  # two "ranks" of 6, the second ending with a repeat of sample 0
    order = torch.tensor([0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 0])
    padded.update(pred[order[:6]], gt[order[:6]], mask[order[:6]], bbox[order[:6]], order[:6])
    padded.update(pred[order[6:]], gt[order[6:]], mask[order[6:]], bbox[order[6:]], order[6:])
    assert padded.compute() == single.compute()
    naive = PCK(4)  # without the indices telling repeats apart, sample 0 would count twice
    naive.update(pred[order], gt[order], mask[order], bbox[order], torch.arange(12))
    assert naive.compute()["pck@0.1_micro"] != single.compute()["pck@0.1_micro"]
