"""Human3.6M top-down frames (both forms): deephar's root crop, x, y and depth targets against hand computation
(and their inverse, har.metrics.mpjpe.absolute_depth), the depth window under scale augmentation, flips, the MPJPE
keys, a joint outside the crop, the sequence without images, and the synthetic set."""

import numpy as np
import pytest
import torch

from har.codec import HeatmapCodec
from har.data.datamodules.h36m import H36mDataModule
from har.geometry.camera import Camera
from har.layouts import PA17J
from har.metrics.mpjpe import absolute_depth

SIZE = (64, 64)
FIXED = {"rotation": 0.0, "rotation_prob": 0.0, "translation": 0.0, "half_body_prob": 0.0, "photometric": None}


def datamodule(root, form="deephar", augment=None, **kwargs) -> H36mDataModule:
    if form == "mmpose":
        kwargs.setdefault("allow_missing_joints", True)
    kwargs.setdefault("report_dir", None)
    dm = H36mDataModule(str(root), form=form, input_size=SIZE, augment=augment, num_workers=0, pin_memory=False,
                        persistent_workers=False, **kwargs)  # fmt: skip
    dm.setup("validate")
    return dm


@pytest.fixture(scope="module")
def forms(tiny_h36m):
    return {form: datamodule(tiny_h36m, form) for form in ("deephar", "mmpose")}


@pytest.mark.parametrize("form", ["deephar", "mmpose"])
def test_val_frames_are_deephars_root_crop_with_depth_targets(forms, form):
    dm = forms[form]
    ds = dm.datasets["val"]
    index = ds.index
    assert dm.eval_sets == [("h36m", "mpjpe")] and len(ds) == 120
    for i in range(0, len(ds), 7):
        s = ds[i]
        camera = index.camera(i)
        world = index.joints_world[i].astype(np.float64)
        uvd = camera.project(world)
        root = uvd[0]
        side = 2250.0 * camera.f.max() / root[2]  # ≈ deephar's 2.25·max(W·f, H·f)/d for 1000 px frames
        np.testing.assert_allclose(s["crop_center"].numpy(), root[:2], atol=1e-3)
        assert s["crop_size"].item() == pytest.approx(side, rel=1e-5)
        labelled = np.isfinite(uvd).all(axis=1)
        crop_px = (uvd[:, :2] - root[:2]) * (SIZE[1] / side) + (SIZE[1] - 1) / 2
        tol = 0.8 * (SIZE[1] / side) / (SIZE[1] - 8)  # the warp snaps its window to whole source pixels
        valid = s["target_valid"].numpy()
        np.testing.assert_array_equal(valid, labelled & HeatmapCodec(SIZE).inside(np.nan_to_num(crop_px)))
        np.testing.assert_allclose(s["target_uv"].numpy()[valid], HeatmapCodec(SIZE).encode(crop_px)[valid], atol=tol)
        # z: depth over root ± 1000 mm; the root is 0.5; absolute_depth (the metric's inverse) gives the depth back
        z_valid = s["target_z_valid"].numpy()
        assert z_valid[0] and s["target_z"][0].item() == pytest.approx(0.5, abs=1e-6)
        np.testing.assert_allclose(s["target_z"].numpy()[z_valid], ((uvd[:, 2] - root[2] + 1000) / 2000)[z_valid],
                                   atol=1e-5)  # fmt: skip
        back = absolute_depth(s["target_z"].numpy()[None], s["root_depth"].numpy()[None])[0]
        np.testing.assert_allclose(back[z_valid], uvd[z_valid, 2], atol=0.05)
        # MPJPE keys: ground truth as the file has it, never augmented
        np.testing.assert_allclose(s["joints_world"].numpy(), world, atol=1e-3)
        assert s["root_depth"].item() == pytest.approx(root[2], rel=1e-6)
        np.testing.assert_allclose(Camera.deserialize(s["camera"].numpy()).project(world), uvd, atol=0.05)
        assert s["action"].item() == index.seq_action[index.frame_seq[i]] and 2 <= s["action"].item() <= 16
        assert s["dataset"].item() == 0 and s["head_size"].item() == 0 and s["index"].item() == i


def test_mmpose_form_lacks_the_spine_and_otherwise_equals_deephars(forms):
    a, b = forms["deephar"].datasets["val"], forms["mmpose"].datasets["val"]
    # deephar's file lists a sequence without images (as the real one): skipped, counted
    assert forms["deephar"].indexes["val"].skipped["frames of a sequence without images"] == 1
    assert len(a) == len(b)
    sa, sb = a[3], b[3]
    assert sa["target_valid"][16] and not sb["target_valid"][16] and not sb["target_z_valid"][16]
    assert torch.isnan(sb["joints_world"][16]).all()
    torch.testing.assert_close(sa["image"], sb["image"])
    for key in ("target_uv", "target_z", "joints_world"):  # the 16 joints both forms have
        torch.testing.assert_close(sa[key][:16], sb[key][:16], atol=2e-3, rtol=1e-5, msg=key)
    for key in ("camera", "root_depth"):
        torch.testing.assert_close(sa[key], sb[key], atol=2e-3, rtol=1e-5, msg=key)


def test_scale_augmentation_scales_the_depth_window_and_flips_swap_sides(tiny_h36m, forms):
    plain = forms["deephar"].datasets["val"]
    aug = datamodule(tiny_h36m, augment={**FIXED, "scale": [1.25, 1.25], "flip_prob": 1.0})
    aug.setup("fit")
    ds = aug.datasets["train"]
    ds.index, ds.uvd, ds.cameras, ds.keypoints = plain.index, plain.uvd, plain.cameras, plain.keypoints
    perm = PA17J.flip_index
    for i in (0, 5):
        a, b = plain[i], ds[i]
        assert b["flipped"]
        both = a["target_z_valid"].numpy()[perm] & b["target_z_valid"].numpy()
        # deephar's zrange = root depth ± 1000·scale: depths relative to the root shrink by the scale
        np.testing.assert_allclose(b["target_z"].numpy()[both] - 0.5, (a["target_z"].numpy()[perm][both] - 0.5) / 1.25,
                                   atol=1e-5)  # fmt: skip
        assert b["crop_size"] == a["crop_size"]  # the protocol's window, not the augmented one
        torch.testing.assert_close(b["joints_world"], a["joints_world"])


def test_a_joint_outside_the_crop_has_no_target(tiny_h36m):
    ds = datamodule(tiny_h36m).datasets["val"]
    j = PA17J.index("r_wri")
    ds.keypoints[0, j, 0] += 10 * ds[0]["crop_size"].item()
    s = ds[0]
    assert s["keypoints"][j, 2] == 1 and not s["target_valid"][j] and not s["target_z_valid"][j]


def test_frames_without_images_are_read_failures_when_not_checked_at_index_time(tiny_h36m):
    ds = datamodule(tiny_h36m, check_images=False, max_failure_fraction=1.0).datasets["val"]
    names = ds.index.seq_names[ds.index.frame_seq]
    missing = int(np.flatnonzero(names == "a02_s11_e02_c01")[0])
    s = ds[missing]
    assert s["index"].item() == (missing + 1) % len(ds) and ds.failures == 1


def test_synthetic_h36m_cameras_distort_and_sizes_match_the_protocol(tiny_h36m, forms):
    index = forms["deephar"].indexes["val"]
    assert set(index.seq_subject.tolist()) == {9, 11} and set(index.seq_action.tolist()) == set(range(2, 17))
    assert (index.frame_numbers % 64 == 1).all()
    assert (np.abs(index.seq_cameras[:, 18:21]).max(axis=1) > 0).all()  # radial distortion, as H36M's cameras


def test_the_data_report_lists_what_was_skipped(tiny_h36m, tmp_path):
    import json

    datamodule(tiny_h36m, report_dir=str(tmp_path))
    report = json.loads((tmp_path / "data_report_h36m_val.json").read_text())
    assert report["kept"] == 120 and report["removed"]["frames of a sequence without images"] == 1
    assert report["bad_records"] == [["a02_s11_e02_c01", "-1", "frames of a sequence without images"]]
    assert report["source"].endswith("annotations.mat")


def test_synthetic_h36m_is_deterministic_reused_and_refuses_other_parameters(tiny_h36m, tmp_path):
    from har.synthetic.h36m import ensure_synthetic_h36m
    from tests.conftest import TINY_H36M

    assert ensure_synthetic_h36m(tiny_h36m, **TINY_H36M) == tiny_h36m
    with pytest.raises(ValueError, match="val_frames"):
        ensure_synthetic_h36m(tiny_h36m, **{**TINY_H36M, "val_frames": 2})
    small = {**TINY_H36M, "width": 64, "height": 64}
    a, b = ensure_synthetic_h36m(tmp_path / "a", **small), ensure_synthetic_h36m(tmp_path / "b", **small)
    mmpose_image = "images/S9/S9_Greeting_1.58860488/S9_Greeting_1.58860488_000001.jpg"
    for name in ("images/a05_s09_e01_c03/00001.jpg", mmpose_image):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    npz = "annotation_body3d/fps50/h36m_test.npz"  # (a zip: its entries carry the time they were written)
    with np.load(a / npz) as za, np.load(b / npz) as zb:
        assert za.files == zb.files and all(np.array_equal(za[k], zb[k]) for k in za.files)


def test_root_window_and_aspect_growth():
    from har.geometry.boxes import grow_to_aspect
    from har.geometry.camera import root_window

    center, side = root_window(np.array([400.0, 300.0, 4500.0]), np.array([1140.0, 1150.0]))
    np.testing.assert_allclose(center, [400.0, 300.0])
    assert side == pytest.approx(2250.0 * 1150.0 / 4500.0)  # 2.25 m seen at the root's depth, larger focal length
    with pytest.raises(ValueError, match="positive"):
        root_window(np.array([0.0, 0.0, -10.0]), np.array([1.0, 1.0]))
    np.testing.assert_allclose(grow_to_aspect((100.0, 50.0), 1.0), [100.0, 100.0])
    np.testing.assert_allclose(grow_to_aspect((100.0, 100.0), 0.75), [100.0, 100.0 / 0.75])  # W/H = 192/256
