"""Penn Action clips (data=penn_action) from both forms: pose targets that map back to the labels, invisible joints,
a joint at x = 0, a portrait video, an unknown class, deephar's multi-clip test split, and the synthetic generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from har.codec import HeatmapCodec
from har.data.datamodules.penn import PennActionDataModule, cvpr18_frame_boxes
from har.data.formats.penn import load_penn_deephar
from har.data.formats.penn_write import PennVideo, write_boxes_cvpr18, write_penn_deephar, write_penn_official
from har.synthetic.penn import ensure_synthetic_penn, read_meta

SIZE = (32, 32)
TINY = {"classes": ["jumping_jacks", "squat"], "train_per_class": 2, "test_per_class": 1, "frame_size": [64, 48],
        "frames": [18, 36], "seed": 3}  # fmt: skip


def _video(video_id, action, n, size, train=True, seed=0):
    rng = np.random.default_rng(seed)
    w, h = size
    x = rng.uniform(0.3 * w, 0.7 * w, (n, 13)).round(1)
    y = rng.uniform(0.2 * h, 0.8 * h, (n, 13)).round(1)
    return PennVideo(video_id, action, x, y, np.ones((n, 13), np.uint8), train, size)


@pytest.fixture(scope="module")
def penn_forms(tmp_path_factory):
    """The same four videos in both forms: a landscape training video with an invisible joint and a joint at x = 0,
    a portrait test video, a second training video, and one of an unknown class."""
    root = tmp_path_factory.mktemp("penn")
    a = _video(1, "squat", 20, (64, 48), seed=1)
    a.visibility[:, 3] = 0  # Penn left_elbow (pa16j 6, "r_elb") never visible
    a.x[:, 0] = 0.0  # the head at x = 0 in every frame
    portrait = _video(2, "golf_swing", 36, (48, 64), train=False, seed=2)
    b = _video(3, "golf_swing", 24, (64, 48), seed=3)
    unknown = _video(4, "moonwalk", 20, (64, 48), seed=4)
    videos = [a, portrait, b, unknown]
    write_penn_official(root / "official", videos)
    write_penn_deephar(root / "deephar", videos)
    return root, videos


def _dm(root, **kw):
    args = dict(input_size=SIZE, num_workers=0, pin_memory=False, persistent_workers=False, augment=None,
                boxes="joints", batch_size=2)  # fmt: skip
    return PennActionDataModule(str(root), **{**args, **kw})


@pytest.mark.parametrize("form", ["official", "deephar"])
def test_both_forms_give_pose_targets_that_map_back_to_the_labels(penn_forms, form):
    root, videos = penn_forms
    dm = _dm(root / form)
    dm.setup("fit")
    index = dm.index()
    assert index.source == form and index.skipped["unknown class"] == 1  # "moonwalk" (official) / action_id 0
    train = dm.datasets["train"]
    assert len(train) == 2 and [train.clip_id(i) for i in range(2)] == ["0001", "0003"]
    sample = train[0]
    assert sample["frames"].shape == (16, 3, *SIZE) and sample["pose_uv"].shape == (16, 16, 2)
    assert dm.layout == "pa16j" and dm.pose_dim == 2 and not sample["pose_z_valid"].any()
    # frames read are the ones named: the writer's grey level is 5 · frame number
    numbers = sample["frame_indices"].numpy()
    assert np.allclose(sample["frames"][:, :, 16, 16].float().mean(1).numpy(), 5 * numbers % 256, atol=2)
    # pose_uv → crop pixels (codec) → image pixels (crop_to_image) gives the label back; Penn joint k is pa16j 3 + k
    codec = HeatmapCodec(SIZE, 8)
    xy = codec.decode(sample["pose_uv"].double().numpy())
    m = sample["crop_to_image"].double().numpy()
    image_xy = np.einsum("tij,tkj->tki", m[:, :, :2], xy) + m[:, None, :, 2]
    a = videos[0]
    rows = numbers - 1
    valid = sample["pose_valid"].numpy()
    assert valid[:, 4:6].all() and not valid[:, :3].any()  # shoulders labelled, pelvis/thorax/neck never
    assert np.allclose(image_xy[:, 4, 0], a.x[rows, 1], atol=1e-3)  # Penn left_shoulder → pa16j r_shoul (4)
    assert np.allclose(image_xy[:, 5, 1], a.y[rows, 2], atol=1e-3)  # Penn right_shoulder → pa16j l_shoul (5)
    assert not valid[:, 6].any()  # the invisible joint
    assert not valid[:, 3].any()  # the head at x = 0: missing by deephar's rule


def test_a_joint_at_x_zero_is_kept_when_zero_is_not_missing(penn_forms):
    root, videos = penn_forms
    dm = _dm(root / "official", zero_is_missing=False, padding=3.0)  # a window wide enough to hold x = 0
    dm.setup("fit")
    sample = dm.datasets["train"][0]
    assert sample["pose_valid"][:, 3].all()
    m = sample["crop_to_image"][0].double().numpy()
    x = HeatmapCodec(SIZE, 8).decode(sample["pose_uv"][0, 3].double().numpy())
    assert abs(m[0, :2] @ x + m[0, 2]) < 1e-3  # back at image x = 0


@pytest.mark.parametrize("form", ["official", "deephar"])
def test_a_portrait_video_is_cropped_inside_its_own_frame(penn_forms, form):
    root, videos = penn_forms
    dm = _dm(root / form, test_protocol="deephar", test_flip=True)
    dm.setup("test")
    test = dm.datasets["test"]
    assert tuple(dm.index().image_sizes[test.base.videos[0]]) == (48, 64)  # (W, H) of the portrait video
    # 36 frames, T = 16, s = 2: start step 8 + 1 = 9, clips while start + 32 ≤ 36 → start 0 only; with its mirror
    assert len(test) == 2 and not test.short.any()
    plain, mirrored = test[0], test[1]
    assert int(plain["video"]) == 0 and int(plain["clip"]) == 0 and bool(mirrored["flipped"])
    assert plain["frame_indices"].tolist() == list(range(1, 33, 2))
    corners = plain["crop_to_image"][0].double().numpy() @ np.array([[0, 0, 1], [31, 31, 1]], float).T
    assert corners.T[:, 0].min() >= -20 and corners.T[:, 0].max() <= 48 + 20  # the window stays about the frame
    assert torch.equal(mirrored["frames"], plain["frames"].flip(-1))
    assert torch.equal(mirrored["pose_valid"], plain["pose_valid"][:, dm.datasets["test"].base.transform.flip_index])


def test_class_subsets_unknown_names_and_bad_options(penn_forms):
    root, _ = penn_forms
    dm = _dm(root / "official", classes=["golf_swing"])
    dm.setup("fit")
    assert dm.classes == ("golf_swing",) and len(dm.datasets["train"]) == 1 and dm.datasets["train"].label(0) == 0
    with pytest.raises(ValueError, match="moonwalk"):
        _dm(root / "official", classes=["moonwalk"]).setup("fit")
    with pytest.raises(ValueError, match="form"):
        _dm(root, form="csv")
    with pytest.raises(FileNotFoundError, match="neither"):
        _dm(root).setup("fit")
    with pytest.raises(ValueError, match="annotations.mat has no boxes"):
        _dm(root / "deephar", boxes="annotation").setup("fit")


def test_cvpr18_clip_boxes_become_per_frame_boxes(penn_forms, tmp_path):
    root, _ = penn_forms
    index = load_penn_deephar(root / "deephar")
    # the portrait video is test sequence 0 with 36 frames: T = 16, s = 2 gives one clip, frames 0, 2, ..., 30
    path = write_boxes_cvpr18(tmp_path / "b.json", {(0, 2, 0, 0): [5, 6, 40, 60], (0, 2, 0, 1): [1, 1, 2, 2]})
    boxes = cvpr18_frame_boxes(path, index)
    rows = index.frame_rows(int(np.flatnonzero(index.splits == "test")[0]))
    got = boxes[rows]
    assert np.allclose(got[0:31:2], [5, 6, 40, 60]) and np.isnan(got[1]).all() and np.isnan(got[32:]).all()
    dm = _dm(root / "deephar", boxes="predicted", predicted_boxes=str(path), test_protocol="deephar", test_flip=True)
    dm.setup("test")
    assert not np.isnan(dm._boxes).any()  # frames without a predicted box take the joints' box
    # deephar's multi-clip test crops the clip (and its mirror) around the clip's own box: centre (22.5, 33)
    test = dm.datasets["test"]
    assert test.base.multi_clip_box(0, 0).tolist() == [5, 6, 40, 60] and test.base.multi_clip_box(0, 1) is None
    for item in (test[0], test[1]):
        centre = item["crop_to_image"][0].double().numpy() @ np.array([15.5, 15.5, 1.0])
        assert np.allclose(centre, [22.5, 33.0], atol=0.6)


@pytest.fixture(scope="module")
def tiny_synthetic_penn(tmp_path_factory):
    return ensure_synthetic_penn(tmp_path_factory.mktemp("data") / "synthetic_penn", **TINY)


def test_synthetic_penn_forms_agree_and_are_reused(tiny_synthetic_penn):
    root = tiny_synthetic_penn
    assert read_meta(root)["counts"] == {"train": 4, "test": 2, "frames": read_meta(root)["counts"]["frames"]}
    samples = {}
    for form in ("official", "deephar"):
        dm = _dm(root / form, classes=TINY["classes"], synthetic=TINY)
        dm.prepare_data()  # reuses the data
        dm.setup("fit")
        samples[form] = dm.datasets["val"][1]
    a, b = samples["official"], samples["deephar"]
    assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["pose_uv"], b["pose_uv"])
    assert int(a["label"]) == int(b["label"]) == 1
    assert a["pose_valid"][:, 3:].float().mean() > 0.8  # the person is labelled and inside the crop
    with pytest.raises(ValueError, match="different parameters"):
        ensure_synthetic_penn(root, **{**TINY, "seed": 4})
    dm = _dm(root / "deephar", predicted_boxes="penn_pred_bboxes_multitask.json", boxes="auto")
    dm.setup("test")  # TPAMI boxes for every frame
    assert not np.isnan(dm._boxes).any()


def test_a_multi_clip_test_batch_carries_the_clip_batch_contract(penn_forms):
    root, _ = penn_forms
    dm = _dm(root / "official", test_protocol="deephar", test_flip=True)
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))
    expected = {"frames": ((2, 16, 3, *SIZE), torch.uint8), "label": ((2,), torch.int64),
                "crop_to_image": ((2, 16, 2, 3), torch.float32), "flipped": ((2,), torch.bool),
                "index": ((2,), torch.int64), "pose_uv": ((2, 16, 16, 2), torch.float32),
                "pose_valid": ((2, 16, 16), torch.bool), "pose_z": ((2, 16, 16), torch.float32),
                "pose_z_valid": ((2, 16, 16), torch.bool), "video": ((2,), torch.int64), "clip": ((2,), torch.int64),
                "short": ((2,), torch.bool)}  # fmt: skip
    for key, (shape, dtype) in expected.items():
        assert tuple(batch[key].shape) == shape and batch[key].dtype == dtype, key
    assert batch["flipped"].tolist() == [False, True] and batch["video"].tolist() == [0, 0]


def test_required_paths_name_each_forms_files(penn_forms, tmp_path):
    root, _ = penn_forms
    official = {what for path, what in _dm(root / "official").required_paths({"train"}) if path.exists()}
    assert official == {"data.root", "the frames folder", "the label folder (official release)"}
    deephar = _dm(root / "deephar", predicted_boxes="missing.json").required_paths({"test"})
    assert [p.exists() for p, _ in deephar] == [True, True, True, False]  # the box file is missing
    assert "annotations.mat" in _dm(tmp_path).expected_layout()
