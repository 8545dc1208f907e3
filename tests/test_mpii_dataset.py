"""MPII top-down samples (both forms): deephar's crop and the targets against hand computation, the contract keys,
flips with pa16j's pairs, joints outside the crop, pa17j for mixed training, and the synthetic set itself."""

import numpy as np
import pytest
import torch

from har.codec import HeatmapCodec
from har.data.datamodules.mpii import MpiiDataModule
from har.data.formats.mpii import load_mpii_index
from har.geometry.affine import apply_affine, invert_affine
from har.layouts import PA16J

SIZE = (64, 64)
NO_AUG = None
FLIP_ONLY = {"rotation": 0.0, "rotation_prob": 0.0, "scale": [1.0, 1.0], "translation": 0.0, "flip_prob": 1.0,
             "half_body_prob": 0.0, "photometric": None}  # fmt: skip


def datamodule(root, form="deephar", augment=NO_AUG, **kwargs) -> MpiiDataModule:
    dm = MpiiDataModule(str(root), form=form, input_size=SIZE, augment=augment, num_workers=0, pin_memory=False,
                        persistent_workers=False, report_dir=None, **kwargs)  # fmt: skip
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def forms(tiny_mpii):
    return {form: datamodule(tiny_mpii, form) for form in ("deephar", "mmpose")}


def expected_uv(keypoints: np.ndarray, center: np.ndarray, side: float) -> np.ndarray:
    """The crop of side ``side`` around ``center`` resized to SIZE, then the codec (hand computation)."""
    crop_px = (keypoints[:, :2] - center) * (SIZE[1] / side) + (SIZE[1] - 1) / 2
    return HeatmapCodec(SIZE).encode(crop_px)


@pytest.mark.parametrize("form", ["deephar", "mmpose"])
def test_val_samples_are_deephars_crop_with_pckh_keys(forms, tiny_mpii, form):
    dm = forms[form]
    ds = dm.datasets["val"]
    index = load_mpii_index(tiny_mpii, "val", form)
    assert dm.eval_sets == [("mpii", "pckh")] and len(ds) == len(index) > 0
    for i in range(len(ds)):
        s = ds[i]
        # deephar mpii.py:104-108: objpos moved down 15·scale, side 200·scale·1.25 (index centres are 0-based)
        center = index.centers[i]
        side = 250.0 * index.scales[i]
        np.testing.assert_allclose(s["crop_center"].numpy(), center, atol=1e-3)
        assert s["crop_size"].item() == pytest.approx(side, rel=1e-6)
        kps = index.keypoints[i]
        inside = (np.abs(kps[:, :2] - center) < side / 2 - 1).all(axis=1) & (kps[:, 2] > 0)
        assert s["target_valid"].numpy()[inside].all()
        # the window as deephar defines it, up to the warp's snapping to whole source pixels (resize path)
        tol = 0.8 * (SIZE[1] / side) / (SIZE[1] - 8)  # ≤ 0.5 px shift + ≤ 0.5 px on the side
        np.testing.assert_allclose(s["target_uv"].numpy()[inside], expected_uv(kps, center, side)[inside], atol=tol)
        # and exactly the matrix the crop was made with
        exact = HeatmapCodec(SIZE).encode(apply_affine(kps[:, :2].astype(np.float64), invert_affine(
            s["crop_to_image"].numpy().astype(np.float64))))  # fmt: skip
        np.testing.assert_allclose(s["target_uv"].numpy()[inside], exact[inside], atol=1e-4)
        assert not s["target_valid"].numpy()[kps[:, 2] == 0].any()  # unannotated joints are never targets
        hb = index.head_boxes[i]
        assert s["head_size"].item() == pytest.approx(0.6 * np.hypot(hb[2] - hb[0], hb[3] - hb[1]), rel=1e-5)
        assert s["index"].item() == i and s["dataset"].item() == 0 and s["action"].item() == -1
        assert not s["target_z_valid"].any() and not s["flipped"]
        # crop_to_image maps crop pixels back to the image
        back = s["crop_to_image"].numpy()
        mid = back @ np.array([(SIZE[1] - 1) / 2, (SIZE[0] - 1) / 2, 1.0])
        np.testing.assert_allclose(mid, center, atol=1.0)  # within the snapping to whole source pixels


def test_both_forms_give_the_same_samples(forms):
    a, b = forms["deephar"].datasets["val"], forms["mmpose"].datasets["val"]
    assert len(a) == len(b)
    for i in range(len(a)):
        sa, sb = a[i], b[i]
        for key in ("image", "target_uv", "target_valid", "keypoints", "crop_center", "crop_size", "head_size"):
            torch.testing.assert_close(sa[key], sb[key], msg=key)


def test_training_persons_without_pose_are_skipped_and_counted(forms):
    deephar = forms["deephar"].indexes["train"]
    mmpose = forms["mmpose"].indexes["train"]
    assert deephar.skipped["person not selected by rectidxs"] >= 1  # the second person of some images
    assert len(deephar) == len(mmpose)
    assert np.isnan(mmpose.head_sizes).all()  # mmpose's train file has no head boxes: head_size 0
    assert (forms["mmpose"].datasets["train"][0]["head_size"] == 0).item()


def test_flip_mirrors_the_crop_and_swaps_left_and_right(tiny_mpii, forms):
    plain = forms["deephar"].datasets["val"]
    flipped = datamodule(tiny_mpii, "deephar", FLIP_ONLY).datasets["train"]
    flipped.index = plain.index  # the val persons through the training transform (always flipped)
    flipped.sides, flipped.head_sizes = plain.sides, plain.head_sizes
    for i in range(len(plain)):
        a, b = plain[i], flipped[i]
        assert b["flipped"]
        perm = PA16J.flip_index
        np.testing.assert_array_equal(b["target_valid"].numpy(), a["target_valid"].numpy()[perm])
        valid = b["target_valid"].numpy()
        uv = a["target_uv"].numpy()[perm]
        np.testing.assert_allclose(b["target_uv"].numpy()[valid], np.stack([1 - uv[:, 0], uv[:, 1]], 1)[valid],
                                   atol=1e-4)  # fmt: skip
        # cv2.warpAffine samples in fixed point (1/32 px): mirrored positions round apart on a few sharp edges
        diff = (b["image"].int() - torch.flip(a["image"], dims=[2]).int()).abs()
        assert diff.max() <= 8 and (diff > 2).float().mean() < 0.01, (i, diff.max())
        # keypoints stay in the image frame, unflipped
        torch.testing.assert_close(b["keypoints"], a["keypoints"])


def test_a_joint_outside_the_crop_is_not_a_target(tiny_mpii):
    dm = datamodule(tiny_mpii, "deephar")
    ds = dm.datasets["val"]
    index = ds.index
    i, j = 0, PA16J.index("l_wri")
    index.keypoints[i, j] = [index.centers[i, 0] + 0.6 * ds.sides[i], index.centers[i, 1], 1.0]
    s = ds[i]
    assert s["keypoints"][j, 2] == 1 and not s["target_valid"][j] and s["target_uv"][j].abs().sum() == 0


def test_pa17j_for_mixed_training_leaves_the_spine_unlabelled(tiny_mpii):
    ds = datamodule(tiny_mpii, "mmpose", layout="pa17j").datasets["val"]
    s = ds[0]
    assert s["target_uv"].shape == (17, 2) and s["joints_world"].shape == (17, 3)
    assert not s["target_valid"][16] and s["keypoints"][16, 2] == 0
    with pytest.raises(ValueError, match="pa16j"):
        datamodule(tiny_mpii, layout="coco17")


def test_synthetic_mpii_is_reused_and_refuses_other_parameters(tiny_mpii):
    from har.synthetic.mpii import ensure_synthetic_mpii
    from tests.conftest import TINY_MPII

    assert ensure_synthetic_mpii(tiny_mpii, **TINY_MPII) == tiny_mpii
    with pytest.raises(ValueError, match="num_train"):
        ensure_synthetic_mpii(tiny_mpii, **{**TINY_MPII, "num_train": 17})


def test_a_non_square_input_grows_the_window_without_squashing(tiny_mpii):
    dm = MpiiDataModule(str(tiny_mpii), input_size=(64, 48), num_workers=0, pin_memory=False, report_dir=None,
                        persistent_workers=False)  # fmt: skip
    dm.setup("validate")
    s = dm.datasets["val"][0]
    assert s["image"].shape == (3, 64, 48)
    m = s["crop_to_image"].numpy()
    sx, sy = np.hypot(*m[:, 0]), np.hypot(*m[:, 1])
    assert sx == pytest.approx(sy, rel=0.03)  # the same image pixels per crop pixel along x and y (no squashing)
    # the protocol's square fits the narrower input's width; the height grows to the aspect ratio
    assert 48 * sx == pytest.approx(s["crop_size"].item(), rel=0.03)
    assert 64 * sy == pytest.approx(s["crop_size"].item() * 64 / 48, rel=0.03)
