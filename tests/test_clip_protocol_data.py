"""deephar's clip protocols in the data layer: ClipSampler's ``deephar`` sampling, MultiClipDataset's enumeration
(with and without flip, the short-video case), the clip pose targets and their mirror images — against lists
computed by hand from deephar's rules."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from har.codec import HeatmapCodec
from har.data.datasets.clips import MultiClipDataset
from har.data.sampling import ClipSampler
from har.data.transforms.clip import clip_pose_targets, flip_sample


def test_deephar_sampling_evaluates_the_centred_clip_with_deephars_stride():
    sampler = ClipSampler(num_frames=8, sampling="deephar", strides=(1, 2, 3), eval_stride=3)
    # n = 22: deephar lowers s = 3 to int(22 / 8) = 2; span 15, max start 7, centred start int(7 / 2) = 3
    assert sampler(22).tolist() == [3, 5, 7, 9, 11, 13, 15, 17]
    # n = 40 keeps s = 3: span 22, max start 18, start 9
    assert sampler(40).tolist() == [9, 12, 15, 18, 21, 24, 27, 30]
    # n = 5 < T: range stretched by 1.5² = 2.25 (11.25 ≥ 8), stride int(11.25 / 8) = 1, start int(3.25 / 2) = 1,
    # indices 1..8 / 2.25 floored
    assert ClipSampler(8, "deephar", (2,), 2)(5).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_deephar_training_clips_draw_a_stride_and_a_uniform_start():
    sampler = ClipSampler(num_frames=8, sampling="deephar", strides=(1, 2), eval_stride=2)
    rng = np.random.default_rng(0)
    draws = [sampler(30, rng) for _ in range(600)]
    strides = Counter(int(d[1] - d[0]) for d in draws)
    assert set(strides) == {1, 2}
    starts = {s: {int(d[0]) for d in draws if d[1] - d[0] == s} for s in (1, 2)}
    assert starts[1] == set(range(0, 30 - 8 + 1)) and starts[2] == set(range(0, 30 - 15 + 1))
    assert ClipSampler().sampling == "window"  # MERL's default is unchanged


class _Videos:
    """The ClipDataset interface MultiClipDataset uses: videos of given lengths, items that record their positions
    and carry pose keys of 2 joints that swap on a flip."""

    def __init__(self, lengths, num_frames=8, stride=2):
        self.lengths = lengths
        self.sampler = ClipSampler(num_frames, "deephar", (stride,), stride)
        self.transform = type("T", (), {"flip_index": np.array([1, 0])})()

    def __len__(self):
        return len(self.lengths)

    def clip_length(self, i):
        return self.lengths[i]

    def item(self, i, positions, boxes=None):
        t = len(positions)
        self.boxes = boxes
        uv = torch.tensor([[0.25, 0.5], [0.75, 0.5]]).repeat(t, 1, 1)
        return {"frames": torch.zeros(t, 3, 4, 6, dtype=torch.uint8), "crop_to_image": torch.zeros(t, 2, 3),
                "flipped": torch.tensor(False), "index": torch.tensor(i), "label": torch.tensor(i),
                "frame_indices": torch.as_tensor(np.asarray(positions)), "pose_uv": uv,
                "pose_valid": torch.tensor([[True, False]]).repeat(t, 1), "pose_z": torch.tensor([[0.1, 0.9]] * t),
                "pose_z_valid": torch.tensor([[True, False]]).repeat(t, 1)}  # fmt: skip


def test_deephar_enumeration_with_flip_and_a_short_video():
    # T = 8, s = 2: clips start every int(8 / 2) + 2 − 1 = 5 frames while start + 16 ≤ n
    ds = MultiClipDataset(_Videos([40, 12, 16]), flip=True, protocol="deephar")
    # n = 40: starts 0, 5, 10, 15, 20 (25 + 16 > 40); n = 12 < 16: one padded clip; n = 16: start 0 only
    assert ds.clips_per_video.tolist() == [5, 1, 1] and ds.short.tolist() == [False, True, False]
    assert len(ds) == 2 * (5 + 1 + 1)
    items = [ds[k] for k in range(len(ds))]
    assert [int(it["video"]) for it in items] == [0] * 10 + [1, 1, 2, 2]
    assert [int(it["clip"]) for it in items[:10]] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert [bool(it["flipped"]) for it in items[:4]] == [False, True, False, True]
    assert [int(it["frame_indices"][0]) for it in items[:10:2]] == [0, 5, 10, 15, 20]
    assert items[4]["frame_indices"].tolist() == list(range(10, 26, 2))
    # the short video: deephar's centred clip, stride lowered to int(12 / 8) = 1, start int((12 − 8) / 2) = 2
    assert items[10]["frame_indices"].tolist() == list(range(2, 10)) and bool(items[10]["short"])
    assert items[12]["frame_indices"].tolist() == list(range(0, 16, 2)) and not bool(items[12]["short"])
    assert [int(it["index"]) for it in items] == list(range(len(ds)))
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_deephar_enumeration_without_flip_and_the_spread_protocol():
    ds = MultiClipDataset(_Videos([21, 100], num_frames=4, stride=3), protocol="deephar")
    # T = 4, s = 3: step int(4 / 2) + 3 − 1 = 4; n = 21: start + 12 ≤ 21 → 0, 4, 8; n = 100: 0, 4, ..., 88
    assert ds.clips_per_video.tolist() == [3, 23]
    assert [ds[k]["frame_indices"].tolist() for k in range(3)] == [[0, 3, 6, 9], [4, 7, 10, 13], [8, 11, 14, 17]]
    spread = MultiClipDataset(_Videos([40, 10]), num_clips=3)
    assert len(spread) == 6 and spread.short.tolist() == [False, True]  # 10 < (8 − 1)·2 + 1
    assert [int(spread[k]["frame_indices"][0]) for k in range(3)] == [0, 12, 25]
    with pytest.raises(ValueError, match="protocol"):
        MultiClipDataset(_Videos([40]), protocol="tsn")


def test_a_mirrored_clip_mirrors_its_pose_targets_and_swaps_joints():
    ds = MultiClipDataset(_Videos([16]), flip=True, protocol="deephar")
    plain, mirrored = ds[0], ds[1]
    # joint 0 at u = 0.25 (valid) and joint 1 at 0.75 (invalid) swap: joint 1 is now valid at u = 1 − 0.25
    assert mirrored["pose_valid"][0].tolist() == [False, True]
    assert torch.allclose(mirrored["pose_uv"][0], torch.tensor([[0.0, 0.0], [0.75, 0.5]]))
    assert mirrored["pose_z"][0].tolist() == pytest.approx([0.9, 0.1]) and mirrored["pose_z_valid"][0].tolist() == [
        False, True]  # fmt: skip
    assert plain["pose_valid"][0].tolist() == [True, False]
    with pytest.raises(ValueError, match="flip_index"):
        flip_sample(plain)


def test_clip_pose_targets_encode_with_the_codec_and_mask_outside_joints():
    codec = HeatmapCodec((64, 32), stride=8)  # H = 64, W = 32
    # crop pixels: joint 0 at the first cell centre (3.5, 3.5) → u = v = 0; joint 1 at the last (27.5, 59.5) → 1;
    # joint 2 outside (x = 40); joint 3 unlabelled (v = 0)
    kp = np.array([[[3.5, 3.5, 2], [27.5, 59.5, 2], [40.0, 10.0, 2], [10.0, 10.0, 0]]], np.float64)
    z = np.array([[0.5, 0.6, 0.7, 0.8]])
    out = clip_pose_targets(kp, codec, (z, np.array([[True, False, True, True]])))
    assert out["pose_valid"].tolist() == [[True, True, False, False]]
    assert torch.allclose(out["pose_uv"][0, :2], torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    assert out["pose_uv"][0, 2:].abs().sum() == 0
    # depth is kept only where both the depth and the joint are valid
    assert out["pose_z_valid"].tolist() == [[True, False, False, False]]
    assert out["pose_z"].tolist() == [[0.5, 0.0, 0.0, 0.0]]
    no_depth = clip_pose_targets(kp, codec)
    assert not no_depth["pose_z_valid"].any() and no_depth["pose_z"].abs().sum() == 0


def test_deephar_clips_use_a_per_clip_box_where_the_dataset_has_one():
    videos = _Videos([40, 12])
    videos.multi_clip_box = lambda video, clip: np.array([1.0, 2.0, 3.0, 4.0]) if clip == 1 or video == 1 else None
    ds = MultiClipDataset(videos, protocol="deephar")
    ds[0]
    assert videos.boxes is None  # clip 0: the frames' boxes
    ds[1]
    assert videos.boxes.shape == (8, 4) and (videos.boxes == [1, 2, 3, 4]).all()
    ds[5]  # the short video's padded clip never takes a clip box
    assert videos.boxes is None
