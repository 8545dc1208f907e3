"""COCO keypoint AP through COCOeval, and the flip test."""

import json

import numpy as np
import pytest
import torch

from har.layouts import COCO17
from har.lit.pose import PoseModule
from har.metrics.coco_ap import coco_keypoint_ap, load_coco_gt


def _results_from_gt(gt, jitter=0.0, seed=0):
    rng = np.random.default_rng(seed)
    results = []
    for ann in gt.dataset["annotations"]:
        if ann["num_keypoints"] == 0 or ann.get("iscrowd", 0):
            continue
        kps = np.array(ann["keypoints"], dtype=float).reshape(-1, 3)
        kps[:, :2] += rng.normal(0, jitter, size=(len(kps), 2)) * np.sqrt(ann["area"])
        kps[:, 2] = 1.0
        results.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": kps.ravel().tolist(),
                        "score": 1.0, "gt_id": ann["id"]})  # fmt: skip
    return results


def test_predictions_equal_to_ground_truth_give_ap_one(tiny_coco):
    gt = load_coco_gt(tiny_coco / "annotations" / "person_keypoints_val2017.json")
    perfect = coco_keypoint_ap(gt, _results_from_gt(gt), COCO17.sigmas)
    assert perfect["oks_ap"] == pytest.approx(1.0) and perfect["oks_ap50"] == pytest.approx(1.0)
    assert perfect["oks_ar"] == pytest.approx(1.0)
    noisy = coco_keypoint_ap(gt, _results_from_gt(gt, jitter=0.05), COCO17.sigmas)
    assert 0.0 <= noisy["oks_ap"] < 0.9
    assert coco_keypoint_ap(gt, [], COCO17.sigmas)["oks_ap"] == 0.0


def _module(flip_test):
    torch.manual_seed(0)
    net = {"num_joints": 17, "num_blocks": 1, "width": 32, "input_size": [64, 64]}
    opt = {"_target_": "torch.optim.SGD", "lr": 0.1}
    return PoseModule(net=net, optimizer=opt, flip_test=flip_test).eval()


def test_flip_test_averages_with_the_mirrored_prediction():
    images = torch.randint(0, 256, (3, 3, 64, 64), dtype=torch.uint8)
    plain, flip = _module(False), _module(True)
    with torch.no_grad():
        _, uv, vis = plain.predict_pose(images)
        _, uv_m, vis_m = plain.predict_pose(images.flip(-1))
        _, uv_ft, vis_ft = flip.predict_pose(images)
        _, uv_ft_m, _ = flip.predict_pose(images.flip(-1))
    idx = torch.as_tensor(COCO17.flip_index)
    mirrored_back = torch.stack([1 - uv_m[:, idx, 0], uv_m[:, idx, 1]], dim=-1)
    torch.testing.assert_close(uv_ft, (uv + mirrored_back) / 2)
    torch.testing.assert_close(vis_ft, (vis + vis_m[:, idx]) / 2)
    # The flip-tested prediction is exactly mirror-equivariant.
    torch.testing.assert_close(uv_ft_m, torch.stack([1 - uv_ft[:, idx, 0], uv_ft[:, idx, 1]], dim=-1))
    assert not torch.allclose(uv_ft, uv)


def test_test_stage_logs_oks_ap_from_the_written_predictions(tiny_coco, tmp_path):
    """The AP logged at test time is COCOeval's on exactly the records written to predictions.json."""
    from har.run.pipeline import train
    from tests.conftest import tiny_data_overrides
    from tests.test_configs import compose_config

    cfg = compose_config("train", ["debug=fdr", *tiny_data_overrides(tiny_coco), "model.net.width=32",
                                   "data.input_size=[64,64]"], tmp_path)  # fmt: skip
    metrics = train(cfg)
    preds = json.loads((tmp_path / "predictions.json").read_text())
    gt = load_coco_gt(tiny_coco / "annotations" / "person_keypoints_val2017.json")
    assert metrics["test/oks_ap"] == pytest.approx(coco_keypoint_ap(gt, preds, COCO17.sigmas)["oks_ap"], abs=1e-6)
    assert {"test/oks_ap50", "test/oks_ap75", "test/oks_ap_m", "test/oks_ap_l", "test/oks_ar"} <= metrics.keys()


def test_an_unreadable_val_image_leaves_one_prediction_per_instance(tiny_coco, tmp_path):
    """A val image that fails to decode is replaced by the next readable instance; the repeat is dropped, so
    predictions.json holds each readable instance once and none for the unreadable image's people."""
    import shutil

    from har.run.pipeline import train
    from tests.conftest import tiny_data_overrides
    from tests.test_configs import compose_config

    root = tmp_path / "data"
    shutil.copytree(tiny_coco, root)
    gt = load_coco_gt(root / "annotations" / "person_keypoints_val2017.json")
    bad_image = gt.dataset["images"][0]
    (root / "val2017" / bad_image["file_name"]).write_bytes(b"\xff\xd8\xff\xe0 not a JPEG stream")
    cfg = compose_config("train", ["debug=fdr", *tiny_data_overrides(root), "model.net.width=32",
                                   "data.input_size=[64,64]", "data.batch_size=64", "data.max_failure_fraction=1.0",
                                   "train=false"], tmp_path)  # fmt: skip
    train(cfg)
    preds = json.loads((tmp_path / "predictions.json").read_text())
    gt_ids = [p["gt_id"] for p in preds]
    assert len(gt_ids) == len(set(gt_ids))
    lost = {a["id"] for a in gt.dataset["annotations"] if a["image_id"] == bad_image["id"]}
    readable = {a["id"] for a in gt.dataset["annotations"] if a["num_keypoints"] > 0 and not a.get("iscrowd")}
    assert lost and set(gt_ids) == readable - lost
