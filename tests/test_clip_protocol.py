"""deephar's clip protocols (har.data.clip_protocol) and video accuracy (har.metrics.video_accuracy), against
hand-computed index lists and scores."""

import numpy as np
import pytest

from har.data.clip_protocol import deephar_clip_indices, deephar_multi_clips, fuse_clip_scores, multi_clip_indices
from har.data.sampling import window_indices
from har.metrics.video_accuracy import multi_clip_accuracy

# --- single clip (get_clip_frame_index) --------------------------------------------------------------------------


def test_single_clip_is_centred_at_the_requested_stride_when_the_video_is_long_enough():
    # n = 100, T = 8, s = 6 (deephar's TPAMI Penn test): span 43, max start 57, start int(57 / 2) = 28
    assert deephar_clip_indices(100, 8, 6).tolist() == [28, 34, 40, 46, 52, 58, 64, 70]


def test_single_clip_lowers_the_stride_to_int_n_over_t():
    # n = 30, T = 8, s = 6: int(30 / 8) = 3, span 22, max start 8, start 4
    assert deephar_clip_indices(30, 8, 6).tolist() == [4, 7, 10, 13, 16, 19, 22, 25]


def test_single_clip_differs_from_window_indices_only_in_the_lowered_stride():
    # n = 22, T = 8, s = 3: deephar lowers to int(22 / 8) = 2 (span 15, start int(7 / 2) = 3) although stride 3 fits
    assert deephar_clip_indices(22, 8, 3).tolist() == [3, 5, 7, 9, 11, 13, 15, 17]
    assert window_indices(22, 8, 3).tolist() == [0, 3, 6, 9, 12, 15, 18, 21]
    # where the stride is not lowered (or both lower it alike) the two agree, stretched short videos included
    for n, t, s in [(100, 8, 6), (64, 16, 2), (5, 8, 2), (1, 4, 1), (7, 8, 1), (40, 8, 4), (17, 8, 2)]:
        assert deephar_clip_indices(n, t, s).tolist() == window_indices(n, t, s).tolist(), (n, t, s)


def test_single_clip_of_a_video_shorter_than_t_repeats_frames():
    # n = 5, T = 8: range stretched by 1.5² = 2.25 (11.25 ≥ 8), stride int(11.25 / 8) = 1, span 8, start
    # int(3.25 / 2) = 1; indices 1..8 / 2.25 floored
    assert deephar_clip_indices(5, 8, 2).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    # one frame: every index is 0
    assert deephar_clip_indices(1, 4, 3).tolist() == [0, 0, 0, 0]


def test_single_clip_random_start_covers_every_start_deephar_can_draw():
    # n = 10, T = 4, s = 2: span 7, max start 3 → starts 0..3, each index list a shifted [0, 2, 4, 6]
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(200):
        idx = deephar_clip_indices(10, 4, 2, rng)
        assert np.all(np.diff(idx) == 2)
        starts.add(int(idx[0]))
    assert starts == {0, 1, 2, 3}


def test_single_clip_rejects_an_empty_video():
    with pytest.raises(ValueError, match="0 frames"):
        deephar_clip_indices(0, 8, 2)


# --- multi-clip enumeration (get_clip_index) ---------------------------------------------------------------------


def test_multi_clips_advance_by_half_t_plus_s_minus_1_and_need_t_times_s_frames():
    # TPAMI Penn, T = 8, s = 6: step 4 + 5 = 9; n = 60 keeps starts 0 (48 ≤ 60) and 9 (57 ≤ 60), not 18 (66)
    assert deephar_multi_clips(60, 8, 6).tolist() == [
        [0, 6, 12, 18, 24, 30, 36, 42],
        [9, 15, 21, 27, 33, 39, 45, 51],
    ]
    # CVPR'18 Penn, T = 16, s = 2: step 9; n = 50 keeps 0, 9, 18 (18 + 32 = 50 ≤ 50)
    clips = deephar_multi_clips(50, 16, 2)
    assert clips[:, 0].tolist() == [0, 9, 18]
    assert clips[2].tolist() == list(range(18, 50, 2))
    # TPAMI NTU, T = 8, s = 4: step 7; n = 40 keeps 0 and 7 (39), not 14 (46)
    assert deephar_multi_clips(40, 8, 4)[:, 0].tolist() == [0, 7]


def test_multi_clips_exactly_t_times_s_frames_give_one_clip_one_less_gives_none():
    assert deephar_multi_clips(48, 8, 6).tolist() == [[0, 6, 12, 18, 24, 30, 36, 42]]
    assert deephar_multi_clips(47, 8, 6).shape == (0, 8)  # although 43 frames would hold the clip


def test_short_video_gets_one_padded_clip_by_default_and_none_under_deephar_policy():
    # n = 20 < 48: pad → deephar's single clip at stride int(20 / 8) = 2, span 15, start int(5 / 2) = 2
    assert multi_clip_indices(20, 8, 6).tolist() == [[2, 4, 6, 8, 10, 12, 14, 16]]
    assert multi_clip_indices(20, 8, 6, short_video="deephar").shape == (0, 8)
    # shorter than T: the padded clip repeats frames
    assert multi_clip_indices(5, 8, 6).tolist() == [[0, 0, 1, 1, 2, 2, 3, 3]]
    # a long video is unaffected by the policy
    assert multi_clip_indices(60, 8, 6).tolist() == multi_clip_indices(60, 8, 6, short_video="deephar").tolist()
    with pytest.raises(ValueError, match="short_video"):
        multi_clip_indices(20, 8, 6, short_video="skip")


def test_multi_clips_refuse_the_never_ending_t1_s1_case():
    with pytest.raises(ValueError, match="loops"):
        deephar_multi_clips(10, 1, 1)


# --- fusion ------------------------------------------------------------------------------------------------------


def test_product_fusion_is_the_log_of_deephars_product_and_can_disagree_with_the_mean():
    probs = np.array([[0.9, 0.05, 0.05], [0.01, 0.6, 0.39]])
    # product [0.009, 0.03, 0.0195] → class 1; mean [0.455, 0.325, 0.22] → class 0
    np.testing.assert_allclose(np.exp(fuse_clip_scores(probs, "product")), [0.009, 0.03, 0.0195])
    np.testing.assert_allclose(fuse_clip_scores(probs, "mean"), [0.455, 0.325, 0.22])
    assert fuse_clip_scores(probs, "product").argmax() == 1
    assert fuse_clip_scores(probs, "mean").argmax() == 0


def test_product_fusion_has_the_argmax_of_the_plain_product():
    rng = np.random.default_rng(1)
    for _ in range(300):
        k, c = int(rng.integers(1, 20)), int(rng.integers(2, 16))
        probs = rng.dirichlet(np.ones(c), size=k)
        assert fuse_clip_scores(probs).argmax() == np.prod(probs, axis=0).argmax()


def test_product_fusion_does_not_underflow_where_deephars_product_does():
    # 200 clips of 60 near-uniform classes: every product is below 1e-300, i.e. 0 in float64 → deephar's argmax 0
    probs = np.full((200, 60), (1 - 0.02) / 59)
    probs[:, 5] = 0.02
    assert not np.prod(probs, axis=0).any()
    assert fuse_clip_scores(probs).argmax() == 5


def test_product_fusion_of_a_zero_probability_is_minus_infinity_like_a_zero_product():
    fused = fuse_clip_scores(np.array([[0.0, 1.0], [0.5, 0.5]]))
    assert fused[0] == -np.inf and fused[1] == pytest.approx(np.log(0.5))


def test_fusion_rejects_logits_and_empty_clip_lists():
    with pytest.raises(ValueError, match="softmax"):
        fuse_clip_scores(np.array([[-1.0, 2.0]]))
    with pytest.raises(ValueError, match="K >= 1"):
        fuse_clip_scores(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="fusion"):
        fuse_clip_scores(np.ones((1, 3)) / 3, "max")


# --- accuracy over videos ----------------------------------------------------------------------------------------

# 4 videos, 2 blocks, 3 classes. Per video (B, K, C).
VIDEOS = [
    np.array([[[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]], [[0.9, 0.05, 0.05], [0.8, 0.1, 0.1]]]),  # block 0 → 1, block 1 → 0
    np.array([[[0.7, 0.2, 0.1]], [[0.7, 0.2, 0.1]]]),  # → 0, 0
    np.zeros((2, 0, 3)),  # no clip
    np.array([[[0.1, 0.1, 0.8]], [[0.1, 0.1, 0.8]]]),  # → 2, 2
]
LABELS = [1, 0, 2, 2]


def test_accuracy_per_block_final_and_best_block_named_as_a_selection_on_the_eval_set():
    acc = multi_clip_accuracy(VIDEOS, LABELS)
    # block 0: ✓ ✓ ✗(no clip) ✓ = 3/4; block 1: ✗ ✓ ✗ ✓ = 2/4
    np.testing.assert_allclose(acc.per_block, [0.75, 0.5])
    assert acc.final == 0.5
    assert acc.best_block_selected_on_eval_set == 0.75 and acc.best_block == 0
    assert acc.predictions.tolist() == [[1, 0, -1, 2], [0, 0, -1, 2]]
    assert (acc.num_videos, acc.num_without_clips, acc.num_correct_by_quirk) == (4, 1, 0)
    assert "not held-out" in acc.summary() and "counted wrong" in acc.summary()


def test_a_video_without_clips_is_counted_correct_only_behind_the_deephar_quirk_flag():
    acc = multi_clip_accuracy(VIDEOS, LABELS, deephar_zero_clip_quirk=True)
    np.testing.assert_allclose(acc.per_block, [1.0, 0.75])
    assert acc.predictions[:, 2].tolist() == [0, 0]  # deephar's all-ones score argmaxes to class 0
    assert acc.num_correct_by_quirk == 1
    assert "deephar quirk" in acc.summary()


def test_accuracy_accepts_single_block_scores_and_checks_shapes():
    acc = multi_clip_accuracy([np.array([[0.2, 0.8]]), np.array([[0.6, 0.4], [0.7, 0.3]])], [1, 1], fusion="mean")
    np.testing.assert_allclose(acc.per_block, [0.5])
    with pytest.raises(ValueError, match="labels"):
        multi_clip_accuracy(VIDEOS, [0, 1])
    with pytest.raises(ValueError, match="video 1"):
        multi_clip_accuracy([np.ones((1, 1, 3)) / 3, np.ones((1, 1, 4)) / 4], [0, 0])
