"""MERL pose records (the fork's pickle/JSON): safe loading, flag semantics, validation, OKS ground truth."""

import json
import pickle

import numpy as np
import pytest

from har.data.formats.merl_pose import MerlFlags, load_merl_pose_ground_truth, load_merl_pose_index, read_records
from har.layouts import COCO17
from har.metrics.coco_ap import coco_keypoint_ap
from har.tools.merl_pickle_to_json import main as pickle_to_json


def _record(i, kps=None, bbox=(600.5, 320.25, 210.0, 120.0)):
    if kps is None:
        kps = [[700.0 + 3 * j, 340.0 + 4 * j, 1] for j in range(17)]
        kps[0] = [0.0, 0.0, 2]  # absent
        kps[6] = [782.9, 393.3, 0]  # present, but invalid for the fork
    return {"img_paths": f"17_2_crop_1077_1108_RetractFromShelf-{i:04d}.jpg", "img_width": 920, "img_height": 680,
            "image_id": i, "bbox": list(bbox), "num_keypoints": 24, "keypoints": kps}  # fmt: skip


def test_pickle_needs_an_explicit_choice_and_converts_to_the_same_records(tmp_path):
    records = [_record(1), _record(2)]
    records[1]["bbox"] = np.array(records[1]["bbox"])  # pickles from numpy code carry numpy values
    pkl = tmp_path / "merl.pkl"
    pkl.write_bytes(pickle.dumps(records))
    with pytest.raises(ValueError, match="merl_pickle_to_json"):
        load_merl_pose_index(pkl)
    from_pickle = load_merl_pose_index(pkl, allow_pickle=True)
    pickle_to_json([str(pkl), str(tmp_path / "merl.json")])
    from_json = load_merl_pose_index(tmp_path / "merl.json")
    assert json.loads((tmp_path / "merl.json").read_text())[1]["bbox"] == [600.5, 320.25, 210.0, 120.0]
    for field in ("keypoints", "bboxes", "areas", "image_ids", "image_files", "ann_ids"):
        np.testing.assert_array_equal(getattr(from_json, field), getattr(from_pickle, field))


def test_flags_follow_configuration_and_all_17_joints_are_kept(tmp_path):
    path = tmp_path / "merl.json"
    path.write_text(json.dumps([_record(1)]))
    fork = load_merl_pose_index(path)
    assert fork.keypoints.shape == (1, 17, 3)
    v = fork.keypoints[0, :, 2]
    assert v[0] == 0 and v[6] == 0 and v[16] == 2 and (v[[1, 2, 3, 4, 5]] == 2).all()
    assert (fork.keypoints[0, 6, :2] == 0).all()  # an invalid joint carries no coordinates
    occluded = load_merl_pose_index(path, flags=MerlFlags(visible=(1,), occluded=(0,)))
    assert occluded.keypoints[0, 6].tolist() == pytest.approx([782.9, 393.3, 1.0])
    assert fork.areas[0] == pytest.approx(210.0 * 120.0 * 0.53)


def test_bad_records_are_skipped_counted_and_listed(tmp_path):
    short = _record(2, kps=[[1.0, 1.0, 1]] * 16)
    nan = _record(3)
    nan["keypoints"][3] = [float("nan"), 1.0, 1]
    flat = _record(4, bbox=(1, 1, 0, 10))
    text = _record(5)
    text["keypoints"][2] = ["a", 1.0, 1]
    path = tmp_path / "merl.json"
    path.write_text(json.dumps([_record(1), short, nan, flat, text, {"bbox": [0, 0, 1, 1]}]))
    index = load_merl_pose_index(path)
    assert len(index) == 1
    reasons = dict(index.bad_records)
    assert set(reasons) == {1, 2, 3, 4, 5}  # positions in the file
    assert "17 entries" in reasons[1] and "NaN" in reasons[2] and "<= 0" in reasons[3]
    assert "non-numeric" in reasons[4] and "missing img_paths" in reasons[5]
    with pytest.raises(FileNotFoundError, match="nope.json"):
        read_records(tmp_path / "nope.json")
    (tmp_path / "dict.json").write_text("{}")
    with pytest.raises(ValueError, match="dict.json: expected a list"):
        read_records(tmp_path / "dict.json")


def test_ground_truth_from_records_scores_perfect_predictions_one(tmp_path):
    """The ground truth is every well-formed record: one without labelled joints (not trained on) is there as an
    ignore region, a malformed one is not; predictions equal to the index's instances score 1."""
    path = tmp_path / "merl.json"
    unlabelled = _record(6, kps=[[0.0, 0.0, 2]] * 17)
    path.write_text(json.dumps([_record(i) for i in range(1, 6)] + [unlabelled, _record(7, bbox=(1, 1, 0, 1))]))
    index = load_merl_pose_index(path)
    gt = load_merl_pose_ground_truth(path)
    assert len(index) == 5 and gt.ann_ids.tolist() == [1, 2, 3, 4, 5, 6] and gt.bad_records == index.bad_records
    assert (gt.keypoints[5, :, 2] == 0).all() and gt.keypoints.dtype == np.float64
    results = [{"image_id": int(index.image_ids[index.ann_image[k]]), "category_id": 1, "score": 1.0,
                "keypoints": np.concatenate([index.keypoints[k, :, :2], np.ones((17, 1))], 1).ravel().tolist()}
               for k in range(len(index))]  # fmt: skip
    assert coco_keypoint_ap(gt, results, COCO17.sigmas)["oks_ap"] == pytest.approx(1.0)
    assert gt.areas[0] == 210.0 * 120.0 * 0.53
