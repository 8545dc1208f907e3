"""Clip pieces: frame sampling (deephar's window, the fork's subset), boxes, windows, one affine per clip, flips."""

import math
from collections import Counter

import numpy as np
import pytest

from har.data.sampling import ClipSampler, subset_indices, window_indices
from har.data.transforms.augmentation import GeometricAugmentation, Jitter
from har.data.transforms.clip import ClipTransform, clip_affines, clip_windows, keypoints_to_crop, warp_clip
from har.geometry.affine import apply_affine
from har.geometry.boxes import fill_empty_boxes, parse_box, union_box


def deephar_clip_index(sequence_size, subsample, num_frames, rng=None):
    """deephar's ``get_clip_frame_index`` (cvpr18 ``deephar/data/datasets.py``), restated as the reference."""
    idx_coef = 1.0
    while idx_coef * sequence_size < num_frames:
        idx_coef *= 1.5
    sequence_size *= idx_coef
    subsample = min(subsample, int(sequence_size / num_frames))
    vidminf = subsample * (num_frames - 1) + 1
    maxs = sequence_size - vidminf
    start = int(maxs / 2)
    frames = list(range(start, start + vidminf, subsample))
    return [int(f / idx_coef) for f in frames] if idx_coef > 1 else frames


@pytest.mark.parametrize("length", [1, 2, 5, 7, 8, 9, 15, 16, 23, 24, 40, 100])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_window_train_indices_sorted_in_range_and_strided(length, stride):
    rng = np.random.default_rng(length * 10 + stride)
    for _ in range(20):
        index = window_indices(length, 8, stride, rng)
        assert index.shape == (8,) and index.dtype == np.int64
        assert index.min() >= 0 and index.max() < length
        assert np.all(np.diff(index) >= 0)
        if length >= stride * 7 + 1:  # the stride fits: exactly that stride
            assert np.all(np.diff(index) == stride)
        elif length >= 8:  # lowered to the largest stride that fits, still strictly increasing
            assert np.all(np.diff(index) == (length - 1) // 7)


def test_window_train_start_is_random_and_covers_the_range():
    rng = np.random.default_rng(0)
    starts = Counter(int(window_indices(20, 8, 2, rng)[0]) for _ in range(400))
    assert set(starts) == set(range(0, 20 - 15 + 1))  # every start 0..5 drawn


@pytest.mark.parametrize("length", list(range(1, 60)))
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_window_eval_is_deterministic_centred_and_matches_deephar(length, stride):
    a, b = window_indices(length, 8, stride), window_indices(length, 8, stride)
    assert np.array_equal(a, b)
    if length >= 8:
        assert abs(int(a[0]) - (length - 1 - int(a[-1]))) <= 1  # centred: equal margins (±1 frame)
    # deephar lowers the stride to n // T; here to the largest that fits. They agree whenever deephar's fits.
    if length >= stride * 8 or length < 8:
        assert a.tolist() == deephar_clip_index(length, stride, 8)


def test_short_clips_are_stretched_never_an_index_error():
    for length in range(1, 8):
        for rng in (None, np.random.default_rng(length)):
            index = window_indices(length, 8, 3, rng)  # consecutive frames, each shown once or twice (1.5^n ≤ 2.25)
            assert index.min() >= 0 and index.max() <= length - 1
            assert (
                np.all(np.diff(index) >= 0)
                and np.all(np.diff(index) <= 1)
                and len(set(index.tolist())) >= 3 * length // 4
            )
    assert window_indices(1, 8, 2).tolist() == [0] * 8
    with pytest.raises(ValueError, match="0 frames"):
        window_indices(0, 8, 1)


def test_subset_sampling_is_an_ordered_random_subset():
    rng = np.random.default_rng(0)
    draws = [subset_indices(30, 8, rng) for _ in range(50)]
    for index in draws:
        assert np.all(np.diff(index) > 0) and index.min() >= 0 and index.max() < 30
    assert len({tuple(d) for d in draws}) > 40
    short = subset_indices(5, 8, rng)  # every frame once, plus random repeats, sorted
    assert set(short.tolist()) == set(range(5)) and np.all(np.diff(short) >= 0)


def test_subset_eval_is_deterministic_even_and_centred():
    index = subset_indices(80, 8)
    assert index.tolist() == [5, 15, 25, 35, 45, 55, 65, 75]
    assert np.array_equal(index, subset_indices(80, 8))
    assert subset_indices(3, 8).tolist() == [0, 0, 0, 1, 1, 2, 2, 2]  # symmetric


def test_sampler_draws_training_strides_from_the_set():
    sampler = ClipSampler(num_frames=4, sampling="window", strides=(1, 3), eval_stride=2)
    rng = np.random.default_rng(1)
    seen = {int(np.diff(sampler(100, rng))[0]) for _ in range(50)}
    assert seen == {1, 3}
    assert np.all(np.diff(sampler(100)) == 2)
    with pytest.raises(ValueError, match="sampling"):
        ClipSampler(sampling="random")


def test_empty_boxes_take_the_nearest_frames_box():
    nan = [math.nan] * 4
    boxes = np.array([nan, [0, 0, 10, 10], nan, nan, nan, [20, 20, 30, 30], nan])
    filled = fill_empty_boxes(boxes, (100, 80))
    assert filled[0].tolist() == [0, 0, 10, 10]  # before the first box: the first box
    assert filled[2].tolist() == [0, 0, 10, 10] and filled[4].tolist() == [20, 20, 30, 30]
    assert filled[3].tolist() == [0, 0, 10, 10]  # a tie: the earlier frame's box
    assert filled[6].tolist() == [20, 20, 30, 30]
    whole = fill_empty_boxes(np.array([nan, nan]), (100, 80))
    assert whole.tolist() == [[0, 0, 100, 80]] * 2  # no box anywhere: the whole frame


def test_clip_window_is_the_union_grown_to_the_aspect_ratio_and_padded():
    boxes = np.array([[10, 20, 30, 60], [40, 30, 50, 50]], dtype=float)
    assert union_box(boxes).tolist() == [10, 20, 50, 60]
    centers, sizes = clip_windows(boxes, (200, 200), aspect_ratio=0.5, padding=1.25, crop="clip")
    assert np.allclose(centers, centers[0]) and np.allclose(sizes, sizes[0])  # one window for the clip
    assert np.allclose(sizes[0], [40 * 1.25, 80 * 1.25])  # 40 × 40 grown to 1:2 (w:h) → 40 × 80, padded
    assert np.allclose(centers[0], [29.5, 39.5])
    per_frame_centers, _ = clip_windows(boxes, (200, 200), 0.5, 1.25, crop="frame")
    assert np.allclose(per_frame_centers, [[19.5, 39.5], [44.5, 39.5]])
    # a window never exceeds the whole frame's window
    _, big = clip_windows(np.array([[0, 0, 100, 50]], dtype=float), (100, 50), 1.0, 1.25, crop="clip")
    assert np.allclose(big[0], [100, 100])


def test_parse_box_rules():
    skipped = Counter()
    assert parse_box([1, 2, 3, 4], "r", "error", skipped) == [1, 2, 3, 4]
    assert all(math.isnan(v) for v in parse_box([], "r", "error", skipped))
    assert all(math.isnan(v) for v in parse_box(None, "r", "error", skipped))
    for bad in ([1, 2, 3], [5, 0, 5, 4], [0, 0, "a", 3], [0, 0, float("nan"), 3], "0 0 1 1"):
        with pytest.raises(ValueError, match="record 7: malformed box"):
            parse_box(bad, "record 7", "error", skipped)
        assert all(math.isnan(v) for v in parse_box(bad, "record 7", "empty", skipped))
    assert skipped["malformed box (treated as no box)"] == 5


def _frames(t=3, h=48, w=64):
    """Asymmetric frames: a gradient plus a white block on the left, a different shade per frame."""
    frames = []
    for i in range(t):
        f = np.zeros((h, w, 3), np.uint8)
        f[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None]
        f[..., 1] = 40 * i
        f[10:30, 5:20] = 255
        frames.append(f)
    return frames


def test_flip_applies_to_every_frame_of_the_clip():
    frames = _frames()
    boxes = np.array([[8, 6, 56, 42]] * 3, dtype=float)
    plain = ClipTransform((32, 32), crop="clip")(frames, boxes)
    aug = GeometricAugmentation(rotation=0, rotation_prob=0, scale=(1, 1), translation=0, flip_prob=1.0)
    flipped = ClipTransform((32, 32), crop="clip", augment=aug)(frames, boxes, np.random.default_rng(0))
    assert flipped["flipped"].item() and not plain["flipped"].item()
    assert flipped["frames"].shape == (3, 3, 32, 32)
    for t in range(3):  # each frame is the mirror image of the unflipped crop
        assert (flipped["frames"][t].flip(-1).int() - plain["frames"][t].int()).abs().max() <= 1
    # crop_to_image undoes the flip: crop pixel (x, y) of the flipped clip is crop pixel (W-1-x, y) of the plain one
    a = apply_affine(np.array([[3.0, 7.0]]), flipped["crop_to_image"][1].double().numpy())
    b = apply_affine(np.array([[28.0, 7.0]]), plain["crop_to_image"][1].double().numpy())
    assert np.allclose(a, b, atol=1e-4)


def test_one_augmentation_draw_for_all_frames():
    frames = _frames(t=4)
    boxes = np.array([[8, 6, 56, 42], [10, 6, 58, 42], [12, 8, 58, 44], [8, 6, 50, 40]], dtype=float)
    aug = GeometricAugmentation(rotation=20, rotation_prob=1.0, scale=(0.8, 1.2), translation=0.1, flip_prob=0.5)
    out = ClipTransform((32, 32), crop="clip", augment=aug)(frames, boxes, np.random.default_rng(3))
    m = out["crop_to_image"]
    assert m.shape == (4, 2, 3) and all(np.allclose(m[0], m[t]) for t in range(4))  # crop=clip: equal per frame
    per_frame = ClipTransform((32, 32), crop="frame", augment=aug)(frames, boxes, np.random.default_rng(3))
    linear = per_frame["crop_to_image"][:, :, :2].numpy()  # same rotation, scale and flip; windows differ
    assert np.allclose(linear / linear[:, :1, :1], linear[0] / linear[0, 0, 0], atol=1e-5)


def test_frame_crop_centres_each_frames_box():
    frames = _frames(t=2)
    boxes = np.array([[0, 0, 20, 20], [40, 20, 60, 40]], dtype=float)
    out = ClipTransform((32, 32), crop="frame")(frames, boxes)
    centre = np.array([[15.5, 15.5]])
    assert np.allclose(apply_affine(centre, out["crop_to_image"][0].double().numpy()), [[9.5, 9.5]], atol=1e-4)
    assert np.allclose(apply_affine(centre, out["crop_to_image"][1].double().numpy()), [[49.5, 29.5]], atol=1e-4)


def test_keypoints_follow_the_crop_and_swap_sides_on_a_flip():
    centers, sizes = np.array([[31.5, 23.5]] * 2), np.array([[64.0, 64.0]] * 2)
    affines = clip_affines(centers, sizes, (64, 64), Jitter(flip=True))
    kp = np.array([[[10.0, 20.0, 1.0], [50.0, 20.0, 1.0], [30.0, 5.0, 0.0]]] * 2)
    out = keypoints_to_crop(kp, affines, flip=True, flip_index=np.array([1, 0, 2]))
    # joint 0 (left, at image x=10) after the flip is the old right joint (image x=50) → crop x = 63 - 50 = 13
    assert np.allclose(out[:, 0, :2], [[13.0, 28.0]]) and np.allclose(out[:, 1, :2], [[53.0, 28.0]])
    assert np.allclose(out[:, :, 2], [[1, 1, 0]])


def test_warp_clip_shape_and_dtype():
    frames = _frames(t=2)
    affines = clip_affines(np.array([[31.5, 23.5]] * 2), np.array([[64.0, 48.0]] * 2), (24, 32))
    out = warp_clip(frames, affines, (24, 32))
    assert out.shape == (2, 3, 24, 32) and str(out.dtype) == "torch.uint8"


def test_multi_clip_testing_spreads_windows_and_mirrors_them():
    import torch

    from har.data.datasets.clips import MultiClipDataset
    from har.data.sampling import multi_clip_positions
    from har.data.transforms.clip import flip_sample

    windows = multi_clip_positions(40, 8, 2, 3)
    assert [w[0] for w in windows] == [0, 12, 25] and all(np.all(np.diff(w) == 2) for w in windows)
    assert [w[0] for w in multi_clip_positions(10, 8, 2, 3)] == [0, 1, 2]  # stride lowered to 1 to fit
    assert [w.tolist() for w in multi_clip_positions(8, 8, 2, 3)] == [list(range(8))] * 3  # one window fits

    class Base:  # the ClipDataset interface MultiClipDataset uses
        sampler = type("S", (), {"eval_stride": 2, "num_frames": 8})()

        def __len__(self):
            return 2

        def clip_length(self, i):
            return 40

        def item(self, i, positions):
            frames = torch.arange(8 * 3 * 4 * 5, dtype=torch.uint8).reshape(8, 3, 4, 5)
            m = torch.tensor([[[2.0, 0, 10], [0, 2.0, 20]]]).repeat(8, 1, 1)
            return {"frames": frames, "crop_to_image": m, "flipped": torch.tensor(False), "index": torch.tensor(i),
                    "frame_indices": torch.as_tensor(positions), "label": torch.tensor(i)}  # fmt: skip

    ds = MultiClipDataset(Base(), num_clips=3, flip=True)
    assert len(ds) == 12
    items = [ds[k] for k in range(12)]
    assert [int(it["video"]) for it in items] == [0] * 6 + [1] * 6
    assert [int(it["index"]) for it in items] == list(range(12))
    assert [bool(it["flipped"]) for it in items[:6]] == [False, True] * 3
    assert [int(it["frame_indices"][0]) for it in items[:6]] == [0, 0, 12, 12, 25, 25]
    mirrored = flip_sample(items[0])
    assert torch.equal(mirrored["frames"], items[0]["frames"].flip(-1))
    # A crop pixel x' of the mirrored clip is pixel W − 1 − x' of the original crop: same image point.
    m, mf = items[0]["crop_to_image"][0], mirrored["crop_to_image"][0]
    x_mirror = torch.tensor([1.0, 3.0, 1.0])
    assert torch.allclose(mf @ x_mirror, m @ torch.tensor([5 - 1 - 1.0, 3.0, 1.0]))
