"""NTU RGB+D clips (data=ntu) from both forms: pose and depth targets against hand computation, frame gaps, an invalid
root, a missing-skeleton sample (a counted skip), action subsets, and the synthetic generator's two forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from har.codec import HeatmapCodec
from har.data.datamodules.ntu import NtuDataModule
from har.data.formats.ntu import KINECT_TO_LAYOUT, MISSING_SKELETONS
from har.data.formats.ntu_write import (
    SkeletonBody,
    deephar_npy_rows,
    kinect_joints,
    write_deephar_npy,
    write_ntu_frames,
    write_ntu_video,
    write_skeleton,
)
from har.synthetic.ntu import ensure_synthetic_ntu, read_meta

SIZE = (32, 32)
VIDEO = (64, 36)
A, B = "S001C001P001R001A010", "S001C002P003R001A023"  # a training subject (1), a test subject (3)
MISSING = "S001C002P005R002A008"
GAPPED = [*range(1, 11), *range(15, 35)]  # deephar's .npy of A: frames 11-14 not annotated


def _uvd(n, seed, root_valid=True):
    rng = np.random.default_rng(seed)
    uvd = np.stack([rng.uniform(20, 44, (n, 25)), rng.uniform(8, 28, (n, 25)), rng.uniform(2000, 3000, (n, 25))], -1)
    if not root_valid:
        uvd[:, 0, 2] = 0.0  # Kinect joint 0 (base of the spine, the root) without depth
    return uvd.round(2)


@pytest.fixture(scope="module")
def ntu_forms(tmp_path_factory):
    root = tmp_path_factory.mktemp("ntu")
    poses = {A: _uvd(34, 1), B: _uvd(30, 2, root_valid=False), MISSING: _uvd(30, 3)}
    for sample, uvd in poses.items():
        frames = [[SkeletonBody(7, kinect_joints(f[:, 0], f[:, 1], f[:, 2]))] for f in uvd]
        write_skeleton(root / "official", sample, frames)
        write_ntu_video(root / "official", sample, len(uvd), VIDEO)
        numbers = GAPPED if sample == A else list(range(1, len(uvd) + 1))
        rows = uvd[np.asarray(numbers) - 1].copy()
        rows[..., :2] *= 2  # deephar's u, v are full-resolution pixels
        write_deephar_npy(root / "deephar", sample, deephar_npy_rows(numbers, rows))
        write_ntu_frames(root / "deephar", sample, numbers, VIDEO)
    return root, poses


def _dm(root, **kw):
    args = dict(input_size=SIZE, num_workers=0, pin_memory=False, persistent_workers=False, augment=None,
                batch_size=2)  # fmt: skip
    return NtuDataModule(str(root), **{**args, **kw})


def test_the_missing_skeleton_sample_is_a_counted_skip(ntu_forms):
    root, _ = ntu_forms
    assert MISSING in MISSING_SKELETONS
    dm = _dm(root / "official")
    dm.setup("fit")
    index = dm.index()
    assert index.skipped == {"missing skeleton (NTU list of 302)": 1} and list(index.sample_ids) == [A, B]
    assert [dm.datasets[s].clip_id(0) for s in ("train", "val")] == [A, B]  # xsub: subject 1 trains, 3 tests
    assert dm.datasets["train"].label(0) == 9 and len(dm.classes) == 60 and dm.layout == "pa20j" and dm.pose_dim == 3


def _image_xy(sample):
    xy = HeatmapCodec(SIZE, 8).decode(sample["pose_uv"].double().numpy())
    m = sample["crop_to_image"].double().numpy()
    return np.einsum("tij,tkj->tki", m[:, :, :2], xy) + m[:, None, :, 2]


@pytest.mark.parametrize("form", ["official", "deephar"])
def test_pose_and_depth_targets_follow_deephars_rules(ntu_forms, form):
    root, poses = ntu_forms
    dm = _dm(root / form, padding=3.0)
    dm.setup("fit")
    sample = dm.datasets["train"][0]  # A, the centred clip of T = 20 at stride 2
    numbers = sample["frame_indices"].numpy()
    uvd = poses[A][numbers - 1][:, list(KINECT_TO_LAYOUT["pa20j"])]
    assert sample["pose_valid"].all() and sample["pose_uv"].shape == (20, 20, 2)
    # pa20j joint 4 (r_shoul) is Kinect 4 (left shoulder): u, v back in the frame's pixels
    assert np.allclose(_image_xy(sample)[:, 4], uvd[:, 4, :2], atol=2e-3)
    # z = (d − (rootz − 1000)) / 2000, rootz = the root's mean depth over the clip's frames
    rootz = uvd[:, 0, 2].mean()
    assert np.allclose(sample["pose_z"].numpy(), (uvd[..., 2] - rootz + 1000) / 2000, atol=1e-5)
    assert sample["pose_z_valid"].all()


@pytest.mark.parametrize("form", ["official", "deephar"])
def test_an_invalid_root_takes_the_mean_depth_of_the_valid_joints(ntu_forms, form):
    root, poses = ntu_forms
    dm = _dm(root / form, padding=3.0)
    dm.setup("fit")
    sample = dm.datasets["val"][0]  # B: the root has no depth
    numbers = sample["frame_indices"].numpy()
    uvd = poses[B][numbers - 1][:, list(KINECT_TO_LAYOUT["pa20j"])]
    assert not sample["pose_valid"][:, 0].any() and not sample["pose_z_valid"][:, 0].any()
    rootz = uvd[:, 1:, 2].mean()
    assert np.allclose(sample["pose_z"][:, 1:].numpy(), (uvd[:, 1:, 2] - rootz + 1000) / 2000, atol=1e-5)


def test_deephars_frame_gaps_read_the_annotated_frames(ntu_forms):
    root, poses = ntu_forms
    dm = _dm(root / "deephar", padding=3.0, test_protocol="deephar", test_flip=True)
    dm.setup("fit")
    dm.setup("test")
    train = dm.datasets["train"]
    sample = train.item(0, train.sampler(train.clip_length(0)))  # the evaluation clip (training draws at random)
    # 30 annotated rows: the centred clip (stride 2, span 39 > 30 → stride int(30 / 20) = 1, start 5) crosses the gap
    assert sample["frame_indices"].tolist() == GAPPED[5:25]
    grey = sample["frames"][:, :, 16, 16].float().mean(1).numpy()
    assert np.allclose(grey, 5 * np.asarray(GAPPED[5:25]) % 256, atol=3)  # the writer's grey level is 5 · n
    assert np.allclose(_image_xy(sample)[:, 0], poses[A][np.asarray(GAPPED[5:25]) - 1, 0, :2], atol=2e-3)
    test = dm.datasets["test"]  # B has 30 rows < T·s = 40: one padded clip and its mirror, flagged short
    assert len(test) == 2 and bool(test[0]["short"]) and bool(test[1]["flipped"])


def test_action_subsets_layouts_and_bad_options(ntu_forms):
    root, _ = ntu_forms
    dm = _dm(root / "official", actions=[23, 10], layout="pa17j")
    dm.setup("fit")
    assert dm.classes == ("hand waving", "clapping")
    assert dm.datasets["train"].label(0) == 1 and dm.datasets["val"].label(0) == 0
    assert dm.datasets["train"][0]["pose_uv"].shape == (20, 17, 2)
    assert _dm(root / "official", classes=["clapping"]).hparams.actions == [10]  # by name
    with pytest.raises(ValueError, match="disagree"):
        _dm(root / "official", classes=["clapping"], actions=[23])
    with pytest.raises(ValueError, match="not NTU-60 class names"):
        _dm(root / "official", classes=["moonwalk"])
    for bad in ({"layout": "coco"}, {"protocol": "xset"}, {"actions": [61]}, {"form": "pkl"}):
        with pytest.raises(ValueError):
            _dm(root, **bad)
    with pytest.raises(FileNotFoundError, match="neither"):
        _dm(root).setup("fit")


TINY = {"actions": [23, 27], "train_per_class": 2, "test_per_class": 1, "frame_size": [96, 54], "frames": [24, 30],
        "seed": 1}  # fmt: skip


def test_synthetic_ntu_forms_agree(tmp_path_factory):
    root = ensure_synthetic_ntu(tmp_path_factory.mktemp("data") / "synthetic_ntu", **TINY)
    assert read_meta(root)["counts"]["train"] == 4 and read_meta(root)["counts"]["test"] == 2
    samples = {}
    for form in ("official", "deephar"):
        dm = _dm(root / form, actions=TINY["actions"], synthetic=TINY)
        dm.prepare_data()  # reuses the data
        dm.setup("fit")
        assert len(dm.datasets["train"]) == 4 and len(dm.datasets["val"]) == 2
        samples[form] = dm.datasets["val"][1]
    a, b = samples["official"], samples["deephar"]
    assert int(a["label"]) == int(b["label"]) == 1
    assert torch.allclose(a["pose_uv"], b["pose_uv"], atol=1e-5) and torch.allclose(a["pose_z"], b["pose_z"], atol=1e-5)
    assert (a["frames"].float() - b["frames"].float()).abs().mean() < 4  # MJPG vs JPEG, the same pictures
    assert a["pose_valid"].float().mean() > 0.9 and a["pose_z_valid"].float().mean() > 0.9


def test_required_paths_name_each_forms_folders(ntu_forms, tmp_path):
    root, _ = ntu_forms
    for form in ("official", "deephar"):
        assert all(path.exists() for path, _ in _dm(root / form).required_paths({"train"}))
    missing = [what for path, what in _dm(tmp_path).required_paths({"train"}) if not path.exists()]
    assert missing == ["the skeleton folder", "the video folder"]
