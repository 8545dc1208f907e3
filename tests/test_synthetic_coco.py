"""The synthetic COCO generator writes valid, deterministic COCO 2017 person-keypoints data."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from har.synthetic import coco as sc
from har.synthetic import person

SPLITS = ("train", "val")
SMALL = {"num_train": 20, "num_val": 5, "seed": 0}

# COCO 2017's own person category, as its annotation files spell it (golden values).
COCO_KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
]  # fmt: skip
COCO_SKELETON = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9], [8, 10],
    [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]  # fmt: skip


def _ann_path(root: Path, split: str) -> Path:
    return root / "annotations" / f"person_keypoints_{split}2017.json"


def _load(root: Path, split: str) -> dict:
    return json.loads(_ann_path(root, split).read_text())


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return sc.generate_synthetic_coco(tmp_path_factory.mktemp("small") / "coco", **SMALL, progress=False)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """60 train images: enough for occlusion, unlabelled joints and multi-person images to show up."""
    root = tmp_path_factory.mktemp("sample") / "coco"
    return sc.generate_synthetic_coco(root, num_train=60, num_val=2, seed=1, progress=False)


def test_same_params_give_identical_files_and_another_seed_differs(small, tmp_path):
    again = sc.generate_synthetic_coco(tmp_path / "again", **SMALL, progress=False)
    assert _files(again) == _files(small)
    other = sc.generate_synthetic_coco(tmp_path / "other", **{**SMALL, "seed": 1}, progress=False)
    assert _ann_path(other, "train").read_bytes() != _ann_path(small, "train").read_bytes()
    first = "train2017/000010000001.jpg"
    assert (other / first).read_bytes() != (small / first).read_bytes()


def test_files_follow_the_coco_layout_and_pycocotools_loads_them(small):
    assert (small / sc.META_FILE).is_file()
    for split in SPLITS:
        coco = COCO(str(_ann_path(small, split)))
        data = _load(small, split)
        assert set(data) >= {"info", "licenses", "images", "annotations", "categories"}
        assert data["categories"] == [
            {"supercategory": "person", "id": 1, "name": "person", "keypoints": COCO_KEYPOINTS,
             "skeleton": COCO_SKELETON}
        ]  # fmt: skip
        assert coco.getCatIds(catNms=["person"]) == [1]
        assert len(coco.getImgIds()) == SMALL[f"num_{split}"]
        for img in data["images"]:
            assert img["file_name"] == f"{img['id']:012d}.jpg"
            decoded = cv2.imread(str(small / f"{split}2017" / img["file_name"]))
            assert decoded.shape == (img["height"], img["width"], 3)
        jpgs = sorted(p.name for p in (small / f"{split}2017").iterdir())
        assert jpgs == sorted(img["file_name"] for img in data["images"])


def test_ids_are_unique_across_splits(small):
    image_ids, ann_ids = [], []
    for split in SPLITS:
        data = _load(small, split)
        image_ids += [img["id"] for img in data["images"]]
        ann_ids += [ann["id"] for ann in data["annotations"]]
        known = {img["id"] for img in data["images"]}
        assert all(ann["image_id"] in known for ann in data["annotations"])
    assert len(set(image_ids)) == len(image_ids)
    assert len(set(ann_ids)) == len(ann_ids)


def test_every_annotation_is_valid_coco(small):
    for split in SPLITS:
        data = _load(small, split)
        sizes = {img["id"]: (img["width"], img["height"]) for img in data["images"]}
        for ann in data["annotations"]:
            w, h = sizes[ann["image_id"]]
            assert ann["category_id"] == 1 and ann["iscrowd"] in (0, 1)
            if ann["iscrowd"]:  # crowd regions, as COCO has them: no keypoints
                assert ann["num_keypoints"] == 0
            x0, y0, bw, bh = ann["bbox"]
            assert bw > 0 and bh > 0 and x0 >= 0 and y0 >= 0 and x0 + bw <= w and y0 + bh <= h
            assert 0 < ann["area"] <= bw * bh
            kps = ann["keypoints"]
            assert len(kps) == 51
            xy, v = np.array(kps, float).reshape(17, 3)[:, :2], np.array(kps[2::3])
            assert all(isinstance(f, int) for f in kps[2::3]) and set(v) <= {0, 1, 2}
            assert np.all(xy[v == 0] == 0)
            assert ann["num_keypoints"] == int(np.count_nonzero(v))
            labelled = xy[v > 0]
            assert np.all((labelled >= 0) & (labelled <= (w - 1, h - 1)))
            tol = 1.0
            assert np.all((labelled >= (x0 - tol, y0 - tol)) & (labelled <= (x0 + bw + tol, y0 + bh + tol)))


def test_a_modest_sample_has_hidden_and_unlabelled_joints_crowds_and_varied_sizes(sample):
    data = _load(sample, "train")
    v = np.concatenate([np.array(a["keypoints"][2::3]) for a in data["annotations"]])
    assert np.mean(v == 2) > 0.6
    assert np.mean(v == 1) > 0.03
    assert np.mean(v == 0) > 0.02
    # The real file's quirks a reader must filter: crowd regions and tiny boxes.
    assert any(a["iscrowd"] for a in data["annotations"])
    assert any(min(a["bbox"][2:]) < 8 and not a["iscrowd"] and a["num_keypoints"] > 0 for a in data["annotations"])
    people = np.bincount([a["image_id"] for a in data["annotations"]])
    assert np.count_nonzero(people >= 2) >= 5
    sizes = {(img["width"], img["height"]) for img in data["images"]}
    assert len(sizes) > 30
    assert all(192 <= w <= 320 and 192 <= h <= 320 for w, h in sizes)
    heights = [a["bbox"][3] / next(i["height"] for i in data["images"] if i["id"] == a["image_id"])
               for a in data["annotations"]]  # fmt: skip
    assert min(heights) < 0.35 and max(heights) > 0.7


def _bgr(part: str) -> np.ndarray:
    return np.array(person.PART_COLORS[part][::-1], float)


def test_visible_wrists_and_ankles_are_drawn_in_their_limb_colour(sample):
    """At a visible (v = 2) wrist or ankle the JPEG pixel has that hand's / foot's colour, not the other
    side's and not the background's."""
    data = _load(sample, "train")
    files = {img["id"]: sample / "train2017" / img["file_name"] for img in data["images"]}
    own, other, background = [], [], []
    for ann in data["annotations"]:
        image = cv2.imread(str(files[ann["image_id"]])).astype(float)
        kps = np.array(ann["keypoints"]).reshape(17, 3)
        for joint, part, opposite in ((9, "l_hand", "r_hand"), (10, "r_hand", "l_hand"),
                                      (15, "l_foot", "r_foot"), (16, "r_foot", "l_foot")):  # fmt: skip
            x, y, v = kps[joint]
            if v == 2:
                pixel = image[int(round(y)), int(round(x))]
                own.append(np.linalg.norm(pixel - _bgr(part)))
                other.append(np.linalg.norm(pixel - _bgr(opposite)))
                background.append(np.linalg.norm(pixel - image.reshape(-1, 3).mean(0)))
    own, other, background = map(np.array, (own, other, background))
    assert len(own) > 100
    assert np.median(own) < 45
    assert np.mean(own < other) > 0.95
    assert np.mean(own < background) > 0.9


def test_left_and_right_limbs_have_clearly_different_colours():
    for part in ("upper_arm", "forearm", "hand", "thigh", "shin", "foot", "eye", "ear"):
        assert np.linalg.norm(_bgr(f"l_{part}") - _bgr(f"r_{part}")) > 150, part


@pytest.mark.parametrize(("data", "flip_prob"), [("synthetic_coco", 0.0), ("coco", 0.5)])
def test_the_synthetic_people_train_unmirrored(data, flip_prob, tmp_path):
    """Their side colours (above) are the only left/right cue of a person seen from behind (no face), and a mirrored
    crop contradicts them: conf/data/synthetic_coco.yaml turns the flip off; real COCO keeps it."""
    from tests.test_configs import compose_config

    assert compose_config("train", [f"data={data}"], tmp_path).data.augment.flip_prob == flip_prob


def test_ensure_reuses_a_matching_dataset_without_rewriting_it(small, caplog):
    mtimes = {p: p.stat().st_mtime_ns for p in small.rglob("*")}
    with caplog.at_level(logging.INFO, logger=sc.__name__):
        assert sc.ensure_synthetic_coco(small, **SMALL, progress=False) == small
    assert "using existing synthetic dataset at" in caplog.text
    assert {p: p.stat().st_mtime_ns for p in small.rglob("*")} == mtimes


def test_ensure_generates_a_missing_dataset(tmp_path):
    root = sc.ensure_synthetic_coco(tmp_path / "new", num_train=3, num_val=2, progress=False)
    assert len(_load(root, "train")["images"]) == 3 and len(_load(root, "val")["images"]) == 2


def test_ensure_refuses_a_dataset_made_with_other_params(small):
    with pytest.raises(ValueError, match=r"seed: existing 0 != requested 5") as err:
        sc.ensure_synthetic_coco(small, **{**SMALL, "seed": 5}, progress=False)
    assert str(small) in str(err.value)


def test_ensure_and_generate_never_touch_a_foreign_folder(tmp_path):
    root = tmp_path / "user_data"
    root.mkdir()
    (root / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a har synthetic dataset"):
        sc.ensure_synthetic_coco(root, **SMALL, progress=False)
    with pytest.raises(FileExistsError, match="not empty"):
        sc.generate_synthetic_coco(root, **SMALL, progress=False)
    assert [p.name for p in root.iterdir()] == ["mine.txt"]


def test_an_interrupted_generation_leaves_no_dataset(tmp_path, monkeypatch):
    written = []
    real_write = sc._write_jpeg

    def failing_write(path, image):
        if len(written) == 3:
            raise RuntimeError("disk full")
        written.append(path)
        real_write(path, image)

    monkeypatch.setattr(sc, "_write_jpeg", failing_write)
    with pytest.raises(RuntimeError, match="disk full"):
        sc.ensure_synthetic_coco(tmp_path / "coco", **SMALL, progress=False)
    assert os.listdir(tmp_path) == []  # neither the dataset nor its temporary folder


def test_the_cli_writes_a_dataset(tmp_path):
    sc.main([str(tmp_path / "cli"), "--num-train", "2", "--num-val", "1", "--seed", "3", "--no-progress"])
    meta = json.loads((tmp_path / "cli" / sc.META_FILE).read_text())
    assert meta["params"]["seed"] == 3 and meta["version"] == sc.FORMAT_VERSION
    assert len(_load(tmp_path / "cli", "val")["images"]) == 1


def test_cocoeval_scores_the_ground_truth_as_perfect(small, capsys):
    """The annotations (areas, boxes, visibility) are what COCOeval expects: GT as predictions gives AP 1."""
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(_ann_path(small, "train")))
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in gt.dataset["annotations"]
        if a["num_keypoints"] > 0
    ]
    evaluator = COCOeval(gt, gt.loadRes(results), iouType="keypoints")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)
