"""COCO reader and top-down samples on small hand-written COCO files."""

import json

import cv2
import numpy as np
import pytest
import torch

from har.data.datasets.topdown import TopDownPoseDataset
from har.data.formats.coco import CocoFilters, load_coco_index
from har.data.transforms.augmentation import Augmentation
from har.data.transforms.topdown import TopDownTransform
from har.geometry.affine import apply_affine
from har.layouts import COCO17


def _ann(ann_id, image_id, kps=None, bbox=(20.0, 10.0, 60.0, 100.0), **extra):
    if kps is None:
        kps = []
        for j in range(17):
            kps += [30.0 + 2 * j, 20.0 + 5 * j, 2]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": list(bbox), "area": 500.0,
            "iscrowd": 0, "num_keypoints": 17, "keypoints": kps, **extra}  # fmt: skip


def _write(tmp_path, annotations, images=None):
    images = images or [{"id": 1, "file_name": "000000000001.jpg", "width": 120, "height": 140}]
    path = tmp_path / "person_keypoints_val2017.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": []}))
    return path


def test_bad_records_are_skipped_counted_and_listed(tmp_path):
    nan_kps = [float("nan")] + [1.0] * 50
    path = _write(tmp_path, [
        _ann(1, 1),
        _ann(2, 1, kps=[1.0] * 50),  # keypoints not 3×17 long
        _ann(3, 1, bbox=(0, 0, 0, 10)),  # zero width
        _ann(4, 1, kps=nan_kps),
        _ann(5, 99),  # unknown image id
        _ann(6, 1, iscrowd=1),
        _ann(7, 1, kps=[0.0] * 51),  # no labelled joint
    ])  # fmt: skip
    index = load_coco_index(path, 17, CocoFilters())
    assert index.ann_ids.tolist() == [1]
    assert {ann_id for ann_id, _ in index.bad_records} == {2, 3, 4, 5}
    reasons = dict(index.bad_records)
    assert "3x17" in reasons[2] and "<= 0" in reasons[3] and "NaN" in reasons[4] and "image_id" in reasons[5]
    assert index.skipped["crowd"] == 1 and sum(index.skipped.values()) == 6
    assert "1 instances kept" in index.summary() and "crowd" in index.summary()
    assert index.keypoints.dtype == np.float32 and index.keypoints.shape == (1, 17, 3)


def test_missing_or_malformed_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_coco_index(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": {}}')
    with pytest.raises(ValueError, match="bad.json.*not a COCO annotation file"):
        load_coco_index(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json.*not valid JSON"):
        load_coco_index(broken)


def _image_with_dots(tmp_path, kps):
    """A black image with a bright dot at each keypoint, saved losslessly as the 'jpg' file name (PNG content)."""
    img = np.zeros((140, 120, 3), np.uint8)
    for x, y in kps:
        cv2.circle(img, (int(round(x)), int(round(y))), 2, (255, 255, 255), -1)
    ok, buf = cv2.imencode(".png", img)
    (tmp_path / "000000000001.jpg").write_bytes(buf.tobytes())


@pytest.mark.parametrize("augment", [None, Augmentation(rotation=30, rotation_prob=1.0, flip_prob=1.0)])
def test_warped_image_and_targets_agree(tmp_path, augment):
    kps = np.array([[30.0 + 2 * j, 20.0 + 5 * j] for j in range(17)])
    path = _write(tmp_path, [_ann(1, 1)])
    _image_with_dots(tmp_path, kps)
    index = load_coco_index(path)
    transform = TopDownTransform(COCO17, (64, 48), augment=augment)
    torch.manual_seed(0)
    sample = TopDownPoseDataset(index, tmp_path, transform)[0]
    assert sample["image"].shape == (3, 64, 48) and sample["image"].dtype == torch.uint8
    assert bool(sample["flipped"]) == (augment is not None)
    crop = sample["image"].permute(1, 2, 0).numpy()
    xy = transform.codec.decode(sample["target_uv"].numpy())
    valid = sample["target_valid"].numpy()
    assert valid.sum() >= 10
    for (x, y), ok in zip(xy, valid):
        if ok:  # every target sits on its drawn dot in the warped crop
            assert crop[int(round(y)), int(round(x))].max() > 60
    # Mapping the targets back to the image (with joints un-flipped) recovers the annotation.
    back = apply_affine(xy, sample["crop_to_image"].numpy().astype(np.float64))
    if augment is not None:
        back, valid = back[COCO17.flip_index], valid[COCO17.flip_index]
    np.testing.assert_allclose(back[valid], kps[valid], atol=1e-3)


def test_missing_image_names_the_file_and_annotation(tmp_path):
    index = load_coco_index(_write(tmp_path, [_ann(7, 1)]))
    # With no tolerance the first unreadable image stops the run (tests/test_augmentation.py covers substitution).
    ds = TopDownPoseDataset(index, tmp_path, TopDownTransform(COCO17, (64, 64)), max_failure_fraction=0)
    with pytest.raises(RuntimeError, match=r"000000000001\.jpg \(annotation id 7\) missing"):
        ds[0]
    (tmp_path / "000000000001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(OSError, match=r"000000000001\.jpg \(annotation id 7\) cannot be decoded"):
        ds.decode_image(0)
