"""COCO keypoint AP against the validated ground truth: every kind of bad record is removed and reported (not a
crash, not a person nobody can find), ids are unique, categories supplied; the datamodule builds it once and stops on
a split with nothing left."""

import json
import math

import numpy as np
import pytest

from har.data.formats import coco
from har.data.formats.coco import load_coco_ground_truth, load_coco_index
from har.layouts import COCO17
from har.metrics.coco_ap import coco_keypoint_ap, pycocotools_keypoint_ap

W, H = 200, 300


def _ann(ann_id, image_id=1, x=20.0, y=30.0, visible=17, **extra):
    """A person in a 60×120 box at (x, y), its first ``visible`` joints labelled."""
    kps = []
    for j in range(17):
        kps += [x + 3.0 * j, y + 7.0 * j, 2] if j < visible else [0, 0, 0]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": [x, y, 60.0, 120.0], "area": 4321.5,
            "iscrowd": 0, "num_keypoints": visible, "keypoints": kps, **extra}  # fmt: skip


def _good():
    """Nine good people on 3 images, a crowd region and a person without labelled joints (both ignore regions)."""
    anns = [_ann(10 + i, image_id=1 + i % 3, x=10.0 + 12 * i, y=20.0 + 9 * i, visible=5 + i) for i in range(9)]
    anns.append(_ann(30, image_id=1, visible=0, iscrowd=1, bbox=[0, 0, 150, 250]))
    anns.append(_ann(31, image_id=2, visible=0, x=100.0))
    return anns


def _write(path, annotations, categories=True):
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "width": W, "height": H} for i in (1, 2, 3, 4)]
    data = {"images": images, "annotations": annotations}
    if categories:
        data["categories"] = [{"id": 1, "name": "person", "supercategory": "person", "keypoints": [], "skeleton": []}]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))  # NaN and Infinity literals as Python writes them
    return path


def _perfect_predictions(ann_file):
    """What har predicts on (the index's instances), each exactly its annotation (from the raw file)."""
    index = load_coco_index(ann_file, cache=False, verbose=False)
    raw = {}
    for a in json.loads(ann_file.read_text())["annotations"]:
        raw.setdefault(a["id"], a)  # a repeated id: the first record (the one the index keeps)
    return [{"image_id": raw[i]["image_id"], "category_id": 1, "keypoints": raw[i]["keypoints"], "score": 0.9,
             "gt_id": i} for i in index.ann_ids.tolist()]  # fmt: skip


def _bad(case):
    """A bad record of each kind, with the reason it must be reported under."""
    nan = _ann(99, image_id=2)
    nan["keypoints"][4] = float("nan")
    inf = _ann(99, image_id=3, bbox=[5.0, 5.0, math.inf, 20.0])
    text = _ann(99)
    text["keypoints"][7] = "2"
    return {
        "wrong length": (_ann(99, keypoints=[1.0] * 48), "keypoints not 3x17 long"),
        "string": (text, "non-numeric keypoints or bbox"),
        "nan": (nan, "NaN or infinite coordinates"),
        "inf": (inf, "NaN or infinite coordinates"),
        "zero width": (_ann(99, bbox=[20.0, 30.0, 0.0, 120.0]), "bbox width or height <= 0"),
        "negative height": (_ann(99, image_id=3, bbox=[20.0, 30.0, 60.0, -4.0]), "bbox width or height <= 0"),
        "duplicate id": (_ann(12, image_id=3, x=120.0), "duplicate annotation id"),
        "outside the image": (_ann(99, image_id=2, x=W + 5.0, y=10.0), "bbox wholly outside the image"),
        "left of the image": (_ann(99, image_id=2, bbox=[-70.0, 10.0, 60.0, 120.0]), "bbox wholly outside the image"),
    }[case]


CASES = ["wrong length", "string", "nan", "inf", "zero width", "negative height", "duplicate id", "outside the image",
         "left of the image"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_a_bad_record_is_reported_and_perfect_predictions_score_one(tmp_path, case):
    """The old code crashed in pycocotools (wrong length, string), counted the record as a person to find (NaN, inf,
    w/h <= 0: AP 0.83-0.91), scored the duplicate id's two records as one, or kept the box outside its image."""
    record, reason = _bad(case)
    anns = _good()
    anns.insert(4, record)
    path = _write(tmp_path / "person_keypoints_val2017.json", anns)
    gt = load_coco_ground_truth(path, cache=False)
    index = load_coco_index(path, cache=False)
    assert gt.bad_records == index.bad_records == [(record["id"], reason)]
    assert gt.skipped == {reason: 1}
    assert len(np.unique(gt.ann_ids)) == len(gt) == 11  # the 9 people, the crowd region, the unlabelled person
    if case == "duplicate id":  # the first record with the id is the one kept
        assert gt.bboxes[gt.ann_ids == 12].tolist() == [[34.0, 38.0, 60.0, 120.0]]
    preds = _perfect_predictions(path)
    assert len(preds) == 9 and len({p["gt_id"] for p in preds}) == 9
    stats = coco_keypoint_ap(path, preds, COCO17.sigmas)
    assert stats["oks_ap"] == 1.0 and stats["oks_ar"] == 1.0


def test_a_file_without_categories_is_scored(tmp_path):
    """pycocotools' loadRes needs the file's categories (KeyError 'categories' in the old code): they are supplied."""
    path = _write(tmp_path / "person_keypoints_val2017.json", _good(), categories=False)
    stats = coco_keypoint_ap(path, _perfect_predictions(path), COCO17.sigmas)
    assert stats["oks_ap"] == 1.0 and stats["oks_ap50"] == 1.0


def test_a_person_with_annotation_id_0_can_be_found(tmp_path):
    """COCOeval records a match as the matched annotation's id, 0 meaning unmatched: pycocotools never finds a person
    whose id is 0. The ground truth is evaluated under ids 1..M."""
    anns = _good()
    anns[0]["id"] = 0
    path = _write(tmp_path / "person_keypoints_val2017.json", anns)
    preds = _perfect_predictions(path)
    assert 0 in {p["gt_id"] for p in preds}
    assert coco_keypoint_ap(path, preds, COCO17.sigmas)["oks_ap"] == 1.0
    assert pycocotools_keypoint_ap(path, preds, COCO17.sigmas)["oks_ap"] < 1.0


def test_crowd_regions_and_unlabelled_people_stay_as_ignore_regions(tmp_path):
    """Filtered out of the index (not trained on) but in the ground truth: a prediction on a crowd region or on a
    person without labelled joints is ignored, not a false positive, as COCOeval does on the official file."""
    path = _write(tmp_path / "person_keypoints_val2017.json", _good())
    gt = load_coco_ground_truth(path, cache=False)
    assert gt.iscrowd.tolist().count(True) == 1 and set(gt.ann_ids.tolist()) >= {30, 31}
    assert gt.keypoints.dtype == np.float64 and gt.areas.tolist()[0] == 4321.5
    preds = _perfect_predictions(path)
    inside_crowd = {**preds[0], "image_id": 1, "keypoints": [v for j in range(17) for v in (40.0, 50.0 + j, 1)],
                    "score": 0.95}  # fmt: skip
    on_unlabelled = {**preds[0], "image_id": 2, "keypoints": _ann(0, x=100.0)["keypoints"], "score": 0.95}
    assert coco_keypoint_ap(path, [*preds, inside_crowd, on_unlabelled], COCO17.sigmas)["oks_ap"] == 1.0
    elsewhere = {**inside_crowd, "image_id": 4}  # an image without people: a false positive
    assert coco_keypoint_ap(path, [*preds, elsewhere], COCO17.sigmas)["oks_ap"] < 1.0


def test_ground_truth_is_cached_like_the_index(tmp_path, monkeypatch):
    path = _write(tmp_path / "person_keypoints_val2017.json", _good())
    built = load_coco_ground_truth(path)
    assert not built.from_cache and built.cache_file.parent == tmp_path
    monkeypatch.setattr(coco, "_load_json", lambda path: pytest.fail("the JSON was parsed again"))
    cached = load_coco_ground_truth(path)
    assert cached.from_cache and cached.cache_file == built.cache_file
    for name in ("image_ids", "image_sizes", "ann_ids", "ann_image", "keypoints", "bboxes", "areas", "iscrowd"):
        a, b = getattr(built, name), getattr(cached, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    monkeypatch.undo()
    assert load_coco_index(path).cache_file not in (None, built.cache_file)  # the index has a cache of its own


def _datamodule(root, **kwargs):
    from har.data.datamodules.coco import CocoPoseDataModule

    return CocoPoseDataModule(str(root), num_workers=0, persistent_workers=False, **kwargs)


def test_the_datamodule_builds_the_ground_truth_once_per_split(tmp_path, monkeypatch):
    _write(tmp_path / "annotations" / "person_keypoints_val2017.json", _good())
    dm = _datamodule(tmp_path)
    gt = dm.eval_ground_truth("val")
    assert dm.eval_ground_truth("test") is gt and dm.eval_ground_truth("val") is gt  # val and test: val2017
    assert len(gt) == 11 and sorted(gt.ann_ids.tolist())[-2:] == [30, 31]
    monkeypatch.setattr(coco, "_load_json", lambda path: pytest.fail("the JSON was parsed again"))
    assert len(_datamodule(tmp_path).eval_ground_truth("val")) == 11  # a new run reads the cache


def test_a_split_with_no_instance_left_is_an_error(tmp_path):
    """The old code went on with an empty split: no validation at all, or an empty training set."""
    bad = [_bad(case)[0] for case in ("wrong length", "nan", "zero width")]
    for k, record in enumerate(bad):
        record["id"] = 100 + k
    _write(tmp_path / "annotations" / "person_keypoints_val2017.json", bad + [_ann(5, visible=0)])
    dm = _datamodule(tmp_path, report_dir=str(tmp_path / "report"))
    with pytest.raises(
        ValueError, match=r"'val2017' has no instance left.*person_keypoints_val2017\.json: 0 instances"
    ):
        dm.setup("validate")
    report = json.loads((tmp_path / "report" / "data_report_val2017.json").read_text())
    assert report["kept"] == 0 and report["num_bad_records"] == 3  # why, in the report written before stopping
