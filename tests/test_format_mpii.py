"""MPII readers (deephar's annotations.mat, mmpose's JSON + head boxes): written by the writers, read back."""

import json

import numpy as np
import pytest
import scipy.io

from har.data.formats.mpii import (
    MPII_JOINTS,
    MPII_TO_PA16J,
    PA16J_FROM_MPII,
    MpiiImage,
    MpiiPerson,
    crop_box,
    load_mpii_index,
    read_mpii_deephar,
    read_mpii_mmpose,
)
from har.data.formats.mpii_write import write_deephar_mpii_mat, write_mmpose_mpii
from har.layouts import PA16J


def _pose(offset: float) -> np.ndarray:
    """MPII-order joints (16, 2): joint m at (offset + 10m, offset + 10m + 1)."""
    m = np.arange(16.0)
    return np.stack([offset + 10 * m, offset + 10 * m + 1], axis=1)


def _images() -> list[MpiiImage]:
    """Three images: a selected person with one missing joint (and an unselected one), a person without pose,
    a person with a zero-size head box, and one with no annotated joint."""
    missing = _pose(100.0)
    missing[9] = np.nan  # head top not annotated
    return [
        MpiiImage("000000001.jpg", [
            MpiiPerson([101.0, 201.0], 2.0, [11.0, 21.0, 41.0, 61.0], missing),
            MpiiPerson([501.0, 301.0], 1.0, [1.0, 1.0, 4.0, 5.0], _pose(500.0)),
        ], selected=[0]),
        MpiiImage("000000002.jpg", [
            MpiiPerson([51.0, 61.0], 0.5, [1.0, 2.0, 7.0, 10.0], None),
            MpiiPerson([151.0, 161.0], 1.5, [30.0, 30.0, 30.0, 30.0], _pose(150.0)),
            MpiiPerson([251.0, 261.0], 1.2, [1.0, 1.0, 13.0, 17.0], _pose(250.0)),
        ], selected=[0, 1, 2]),
        MpiiImage("000000003.jpg", [MpiiPerson([9.0, 9.0], 1.0, [1.0, 1.0, 2.0, 2.0], np.full((16, 2), np.nan))],
                  selected=[0]),
    ]  # fmt: skip


def test_joint_map_is_deephars_and_matches_the_spec_table():
    # deephar-datasets.md §2.2: MPII index → pa16j index
    spec = {0: 14, 1: 12, 2: 10, 3: 11, 4: 13, 5: 15, 6: 0, 7: 1, 8: 2, 9: 3, 10: 8, 11: 6, 12: 4, 13: 5, 14: 7, 15: 9}
    assert MPII_TO_PA16J.tolist() == [spec[m] for m in range(16)]
    assert PA16J_FROM_MPII.tolist() == [6, 7, 8, 9, 12, 13, 11, 14, 10, 15, 2, 3, 1, 4, 0, 5]  # deephar map_from_mpii
    assert (PA16J_FROM_MPII[MPII_TO_PA16J] == np.arange(16)).all()
    same = {"r_ankle": "r_ank", "r_knee": "r_knee", "r_hip": "r_hip", "l_hip": "l_hip", "l_knee": "l_knee",
            "l_ankle": "l_ank", "pelvis": "pelvis", "thorax": "thorax", "upper_neck": "neck", "head_top": "head",
            "r_wrist": "r_wri", "r_elbow": "r_elb", "r_shoulder": "r_sho", "l_shoulder": "l_sho", "l_elbow": "l_elb",
            "l_wrist": "l_wri"}  # fmt: skip
    for m, name in enumerate(MPII_JOINTS):
        assert PA16J.joints[MPII_TO_PA16J[m]] == same[name]


def test_deephar_mat_reads_back_in_har_pixels_and_pa16j(tmp_path):
    mat = write_deephar_mpii_mat(tmp_path / "annotations.mat", train=_images()[:1], val=_images())
    # The file is laid out as deephar's loader indexes it (deephar/data/mpii.py:10-40).
    raw = scipy.io.loadmat(str(mat))["annot_val"]
    ann = raw[2, 0][raw[0, 0][0, 0] - 1, 0]
    np.testing.assert_array_equal(ann["head"][0, 0][0], [11, 21, 41, 61])
    assert ann["scale"][0, 0][0, 0] == 2.0 and ann["pose"][0, 0].shape == (2, 16) and raw[1, 0][0] == "000000001.jpg"

    index = read_mpii_deephar(mat, "val")
    assert len(index) == 2 and index.form == "deephar" and index.split == "val"
    assert [index.image_file(i) for i in range(2)] == ["000000001.jpg", "000000002.jpg"]
    np.testing.assert_array_equal(index.records, [[0, 0], [1, 2]])
    # person 0: objpos (101, 201) 1-based → (100, 200); moved down by 15·2 → (100, 230)
    np.testing.assert_allclose(index.centers, [[100.0, 230.0], [250.0, 260.0 + 18.0]])
    np.testing.assert_allclose(index.scales, [2.0, 1.2])
    np.testing.assert_allclose(index.head_boxes[0], [10, 20, 40, 60])
    np.testing.assert_allclose(index.head_sizes, [0.6 * 50.0, 0.6 * 20.0])  # 0.6 × diagonal (30-40-50, 12-16-20)
    kp = index.keypoints[0]
    # MPII joint 0 (r_ankle) = (100, 101) 1-based → pa16j 14 (r_ank) at (99, 100)
    np.testing.assert_allclose(kp[14], [99.0, 100.0, 1.0])
    np.testing.assert_allclose(kp[1], [100.0 + 70 - 1, 100.0 + 71 - 1, 1.0])  # MPII 7 thorax → pa16j 1
    np.testing.assert_array_equal(kp[3], [0.0, 0.0, 0.0])  # head top missing: kept, unlabelled
    assert index.unlabelled_joints == 1
    assert read_mpii_deephar(mat, "train").keypoints.shape == (1, 16, 3)


def test_deephar_mat_counts_every_skip_by_reason(tmp_path):
    mat = write_deephar_mpii_mat(tmp_path / "annotations.mat", train=_images(), val=_images())
    index = read_mpii_deephar(mat, "val")
    assert index.skipped == {
        "person not selected by rectidxs": 1,
        "no pose annotation": 1,
        "bad head box (zero size or not finite)": 1,
        "no labelled joint": 1,
    }
    assert ((0, 1), "person not selected by rectidxs") in index.bad_records
    assert ((1, 1), "bad head box (zero size or not finite)") in index.bad_records
    kept = read_mpii_deephar(mat, "val", drop_bad_head=False)
    assert len(kept) == 3 and kept.head_sizes[1] == 0.0
    train = read_mpii_deephar(mat, "train")  # training needs no head size: deephar trains on that person too
    assert len(train) == 3 and "bad head box (zero size or not finite)" not in train.skipped
    assert "2 persons kept" in index.summary() and "1 no pose annotation" in index.summary()


def test_repeated_rectidxs_entries_count_once(tmp_path):
    images = _images()[:1]
    images[0].selected = [0, 0]
    index = read_mpii_deephar(write_deephar_mpii_mat(tmp_path / "a.mat", [], images), "val")
    assert len(index) == 1 and index.skipped["repeated rectidxs entry"] == 1


def test_mmpose_json_gives_the_same_index_as_deephars_file(tmp_path):
    images = _images()
    deephar = read_mpii_deephar(write_deephar_mpii_mat(tmp_path / "annotations.mat", [], images), "val")
    json_file = write_mmpose_mpii(
        tmp_path / "annotations/mpii_val.json", images, tmp_path / "annotations/mpii_gt_val.mat"
    )
    entries = json.loads(json_file.read_text())
    assert entries[0]["center"] == [101.0, 201.0] and entries[0]["joints_vis"][9] == 0 and len(entries) == 5
    mmpose = read_mpii_mmpose(json_file, tmp_path / "annotations/mpii_gt_val.mat")
    assert mmpose.split == "val" and len(mmpose) == len(deephar) == 2
    for name in ("centers", "scales", "head_boxes", "head_sizes", "keypoints", "image_files", "person_image"):
        np.testing.assert_array_equal(getattr(mmpose, name), getattr(deephar, name), err_msg=name)
    np.testing.assert_array_equal(mmpose.records, [[0, 0], [3, 0]])  # JSON entries
    # entry 1 has no pose (all joints_vis 0), entry 2 a zero head box, entry 4 no annotated joint
    assert mmpose.skipped == {"no labelled joint": 2, "bad head box (zero size or not finite)": 1}
    train = read_mpii_mmpose(json_file, split="train")  # no head-box file: head sizes unknown, nobody dropped for it
    assert len(train) == 3 and np.isnan(train.head_sizes).all()


def test_mmpose_head_boxes_must_match_the_json(tmp_path):
    images = _images()
    json_file = write_mmpose_mpii(tmp_path / "mpii_val.json", images, tmp_path / "gt.mat")
    write_mmpose_mpii(tmp_path / "short.json", images[:1], tmp_path / "short.mat")
    with pytest.raises(ValueError, match=r"short\.mat: 1 head boxes for 5 entries"):
        read_mpii_mmpose(json_file, tmp_path / "short.mat")
    gt = scipy.io.loadmat(str(tmp_path / "gt.mat"))
    gt["jnt_missing"][3, 0] = 1 - gt["jnt_missing"][3, 0]
    scipy.io.savemat(str(tmp_path / "bad.mat"), {k: v for k, v in gt.items() if not k.startswith("__")})
    with pytest.raises(ValueError, match=r"jnt_missing disagrees with joints_vis .* entries \[0\]"):
        read_mpii_mmpose(json_file, tmp_path / "bad.mat")
    assert len(read_mpii_mmpose(json_file, tmp_path / "bad.mat", check_gt=False)) == 2
    scipy.io.savemat(str(tmp_path / "none.mat"), {"other": np.zeros(3)})
    with pytest.raises(ValueError, match=r"none\.mat: no 'headboxes_src'"):
        read_mpii_mmpose(json_file, tmp_path / "none.mat")


def test_mmpose_entry_without_centre_is_skipped_and_malformed_entries_raise(tmp_path):
    images = _images()
    json_file = write_mmpose_mpii(tmp_path / "mpii_val.json", images)
    entries = json.loads(json_file.read_text())
    entries[0]["center"] = [-1, -1]
    json_file.write_text(json.dumps(entries))
    assert read_mpii_mmpose(json_file).skipped["no person centre or scale"] == 1
    entries[3]["joints"] = entries[3]["joints"][:15]
    json_file.write_text(json.dumps(entries))
    with pytest.raises(ValueError, match=r"entry 3 \('000000002.jpg'\) needs .* joints 16 × 2"):
        read_mpii_mmpose(json_file)


def test_malformed_deephar_files_raise_naming_file_and_record(tmp_path):
    scipy.io.savemat(str(tmp_path / "x.mat"), {"annot_tr": np.zeros(3)})
    with pytest.raises(ValueError, match=r"x\.mat: no 'annot_val' variable \(found \['annot_tr'\]\)"):
        read_mpii_deephar(tmp_path / "x.mat", "val")
    with pytest.raises(ValueError, match="no test split"):
        read_mpii_deephar(tmp_path / "x.mat", "test")
    mat = scipy.io.loadmat(str(write_deephar_mpii_mat(tmp_path / "p.mat", [], _images())))
    mat["annot_val"][2, 1][2, 0]["pose"][0, 0] = np.zeros((3, 16))
    scipy.io.savemat(str(tmp_path / "p.mat"), {"annot_tr": mat["annot_tr"], "annot_val": mat["annot_val"]})
    with pytest.raises(ValueError, match=r"annot_val image 1 \(000000002.jpg\), person 3: pose has shape \(3, 16\)"):
        read_mpii_deephar(tmp_path / "p.mat", "val")
    images = _images()
    images[0].selected = [5]
    with pytest.raises(ValueError, match=r"image 0 \(000000001.jpg\): rectidxs \[6\] out of range 1..2"):
        read_mpii_deephar(write_deephar_mpii_mat(tmp_path / "r.mat", [], images), "val")
    with pytest.raises(FileNotFoundError, match="missing.mat"):
        read_mpii_deephar(tmp_path / "missing.mat", "val")


def test_struct_array_annorect_reads_like_a_cell_of_structs(tmp_path):
    """deephar's indexing also fits an annorect struct array whose fields are 1×1 cells: both are accepted."""
    dtype = [("head", object), ("objpos", object), ("scale", object), ("pose", object)]
    rects = np.zeros((1, 1), dtype=dtype)
    for name, value in (("head", [[1.0, 1.0, 4.0, 5.0]]), ("objpos", [[11.0, 21.0]]), ("scale", [[1.0]]),
                        ("pose", _pose(0.0).T)):  # fmt: skip
        cell = np.empty((1, 1), object)
        cell[0, 0] = np.array(value)
        rects[0, 0][name] = cell
    annot = np.empty((3, 1), object)
    annot[0, 0], annot[1, 0], annot[2, 0] = np.array([[1]], np.uint8), "x.jpg", rects
    scipy.io.savemat(str(tmp_path / "s.mat"), {"annot_tr": annot, "annot_val": annot})
    index = read_mpii_deephar(tmp_path / "s.mat", "train")
    np.testing.assert_allclose(index.centers, [[10.0, 35.0]])
    np.testing.assert_allclose(index.head_sizes, [3.0])


def test_crop_window_is_deephars_and_missing_images_are_counted(tmp_path):
    write_deephar_mpii_mat(tmp_path / "annotations.mat", [], _images())
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "000000001.jpg").write_bytes(b"")
    index = load_mpii_index(tmp_path, "val", check_images=True)
    assert index.form == "deephar" and len(index) == 1 and index.skipped["image file missing"] == 1
    centers, sizes = index.crop_windows()
    np.testing.assert_allclose(sizes, [[500.0, 500.0]])  # 200 · scale 2 · 1.25
    # deephar mpii.py:104-108: objpos (100, 200) + (0, 12 · 1.25 · 2); window 250 · 2
    np.testing.assert_allclose(crop_box(centers, index.scales), [[100 - 250, 230 - 250, 100 + 250, 230 + 250]])
    with pytest.raises(FileNotFoundError, match="expected .*annotations.mat"):
        load_mpii_index(tmp_path / "nowhere", "val")
