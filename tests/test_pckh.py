"""PCKh, MPII's official definition and deephar's, against hand-computed cases; the streaming metric."""

import numpy as np
import pytest
import torch

from har.metrics.pckh import PCKh, format_pckh_table, inside_crop, pckh, pckh_distances


def _case():
    """Two persons (head sizes 10 and 20) in pa16j.

    Person 0: head top off by 5 px (0.5 head: a hit at 0.5 with ≤), right shoulder off by 6 (0.6), pelvis and
    thorax far off (not scored). Person 1: right wrist not predicted (NaN: a miss), left wrist not annotated, left
    shoulder off by 1 (0.05), right ankle exact but outside its crop window (centre (0, 0), side 100).
    """
    j = np.arange(16.0)
    gt = np.stack([np.stack([3 * j - 20, 2 * j - 15], axis=1)] * 2)
    gt[1, 14] = [60.0, 0.0]
    pred = gt.copy()
    pred[0, 3] += [3.0, 4.0]
    pred[0, 4] += [6.0, 0.0]
    pred[0, 0] += 100.0
    pred[0, 1] -= 100.0
    pred[1, 8] = np.nan
    pred[1, 9] += 500.0
    pred[1, 5] += [0.0, 1.0]
    labelled = np.ones((2, 16), bool)
    labelled[1, 9] = False
    heads = np.array([10.0, 20.0])
    centers, sizes = np.zeros((2, 2)), np.array([1000.0, 100.0])
    return pred, gt, labelled, heads, centers, sizes


def test_official_pckh_counts_every_annotated_joint_with_at_most_threshold():
    pred, gt, labelled, heads, _, _ = _case()
    s = pckh(pred, gt, labelled, heads)
    # counted: 14 + 13 (left wrist not annotated); misses at 0.5: p0 r_sho, p1 r_wri (NaN)
    assert s["pckh@0.5"] == pytest.approx(25 / 27)
    assert s["pckh@0.1"] == pytest.approx(24 / 27)  # and p0 head top (0.5 > 0.1)
    assert s["pckh@0.5/head"] == 1.0  # head top at exactly 0.5 is a hit
    assert s["pckh@0.1/head"] == pytest.approx((1.0 + 0.5) / 2)  # upper neck 2/2, head top 1/2
    assert s["pckh@0.5/shoulder"] == pytest.approx((0.5 + 1.0) / 2)
    assert s["pckh@0.5/wrist"] == pytest.approx((0.5 + 1.0) / 2)  # left wrist: 1 of 1 annotated
    assert s["pckh@0.5/ankle"] == 1.0 and s["pckh@0.5/knee"] == 1.0
    table = format_pckh_table(s)
    header = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean"]
    assert [h.strip() for h in table.splitlines()[0].split("|")] == header
    assert table.splitlines()[1].split("|")[-1].strip() == f"{100 * 25 / 27:.1f}"


def test_deephar_pckh_drops_joints_outside_the_crop():
    pred, gt, labelled, heads, centers, sizes = _case()
    pred[1, 14] += [0.0, 50.0]  # the joint outside the crop is now a miss (2.5 head) that deephar does not see
    official = pckh(pred, gt, labelled, heads)
    deephar = pckh(pred, gt, labelled, heads, definition="deephar", crop_centers=centers, crop_sizes=sizes)
    assert official["pckh@0.5"] == pytest.approx(24 / 27)
    assert deephar["pckh_deephar@0.5"] == pytest.approx(24 / 26)
    assert deephar["pckh_deephar@0.1"] == pytest.approx(23 / 26)
    assert official["pckh@0.5/ankle"] == pytest.approx(0.75) and deephar["pckh_deephar@0.5/ankle"] == 1.0
    with pytest.raises(ValueError, match="pass crop_centers and crop_sizes"):
        pckh(pred, gt, labelled, heads, definition="deephar")
    with pytest.raises(ValueError, match="unknown PCKh definition"):
        pckh(pred, gt, labelled, heads, definition="mmpose")


def test_inside_crop_is_strict_and_a_zero_head_size_counts_for_nothing():
    gt = np.array([[[49.9, 0.0], [50.0, 0.0], [0.0, -50.0], [-49.0, 49.0]]])
    np.testing.assert_array_equal(inside_crop(gt, np.zeros((1, 2)), np.array([100.0])), [[True, False, False, True]])
    pred, gt, labelled, heads, _, _ = _case()
    d = pckh_distances(pred, gt, labelled, np.array([0.0, 20.0]))
    assert np.isnan(d[0]).all() and np.isinf(d[1, 8]) and np.isnan(d[1, 9])
    assert pckh(pred, gt, labelled, np.array([0.0, 20.0]))["pckh@0.5"] == pytest.approx(12 / 13)


def test_streaming_pckh_equals_functional_and_counts_repeated_indices_once():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 300, (21, 16, 2))
    pred = gt + rng.normal(0, 6, gt.shape)
    labelled = rng.random((21, 16)) > 0.1
    heads = rng.uniform(15, 40, 21)
    centers, sizes = gt.mean(axis=1), np.full(21, 250.0)
    for definition in ("official", "deephar"):
        expected = pckh(pred, gt, labelled, heads, definition=definition, crop_centers=centers, crop_sizes=sizes)
        metric = PCKh(definition)
        order = np.concatenate([np.arange(21), [0, 5, 7]])  # a padded last batch repeats samples
        for s in range(0, len(order), 8):
            i = order[s : s + 8]
            metric.update(
                torch.tensor(pred[i]),
                torch.tensor(gt[i]),
                torch.tensor(labelled[i]),
                torch.tensor(heads[i]),
                torch.tensor(i),
                torch.tensor(centers[i]),
                torch.tensor(sizes[i]),
            )
        out = metric.compute()
        assert out.keys() == expected.keys()
        for k, v in expected.items():
            assert float(out[k]) == pytest.approx(v, abs=1e-6), k
