"""COCO keypoint AP: har's evaluation (validated ground truth, OKS of all images at once, faster-coco-eval's
matching) equal to pycocotools' on the raw file, faster-coco-eval itself checked against pycocotools, the pose
module's AP (rank 0, broadcast), and the flip test."""

import contextlib
import copy
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from har.layouts import COCO17
from har.lit.pose import PoseModule
from har.metrics.coco_ap import (
    STAT_NAMES,
    KeypointGroundTruth,
    coco_keypoint_ap,
    load_coco_gt,
    oks_by_image,
    pycocotools_keypoint_ap,
    result_arrays,
)


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
    ann_file = tiny_coco / "annotations" / "person_keypoints_val2017.json"
    gt = load_coco_gt(ann_file)
    perfect = coco_keypoint_ap(ann_file, _results_from_gt(gt), COCO17.sigmas)
    assert perfect["oks_ap"] == pytest.approx(1.0) and perfect["oks_ap50"] == pytest.approx(1.0)
    assert perfect["oks_ar"] == pytest.approx(1.0)
    noisy = coco_keypoint_ap(ann_file, _results_from_gt(gt, jitter=0.05), COCO17.sigmas)
    assert 0.0 <= noisy["oks_ap"] < 0.9
    assert coco_keypoint_ap(ann_file, [], COCO17.sigmas)["oks_ap"] == 0.0


# --- Equality with pycocotools on a clean, COCO-like file -------------------------------------------------------


@pytest.fixture(scope="module")
def clean_coco(tmp_path_factory):
    """A COCO-val-like file (crowd regions, num_keypoints=0 people, tiny boxes, images without people, float boxes
    and areas) and results for it: noisy predictions, false positives, one on an image without people, and 25 on
    one image with tied scores (past COCOeval's 20 detections per image)."""
    from bench.coco_eval import ensure_files

    ann, counts, res_file = ensure_files(tmp_path_factory.mktemp("clean_coco"), instances=300, seed=3)
    results = json.loads(res_file.read_text())
    data = json.loads(ann.read_text())
    with_people = {a["image_id"] for a in data["annotations"]}
    empty = next(img["id"] for img in data["images"] if img["id"] not in with_people)
    results.append({**results[0], "image_id": empty})
    busiest = max(with_people, key=[a["image_id"] for a in data["annotations"]].count)
    results += [{**r, "image_id": busiest, "score": 0.5} for r in results[:25]]
    assert counts["crowd"] > 0 and counts["num_keypoints_0"] > 0 and counts["tiny_boxes"] > 0
    return ann, results


@pytest.mark.parametrize("backend", ["faster", "pycocotools"])
def test_ap_on_a_clean_file_equals_pycocotools_on_the_raw_file(clean_coco, backend, monkeypatch):
    from faster_coco_eval.core.cocoeval import COCOeval as FasterBase

    ann, results = clean_coco
    # har's OKS answers every image: the library's own computeOks is never needed
    monkeypatch.setattr(FasterBase, "computeOks", lambda *args: pytest.fail("faster-coco-eval computed an OKS"))
    before = copy.deepcopy(results)
    ours = coco_keypoint_ap(ann, results, COCO17.sigmas, backend=backend)
    reference = pycocotools_keypoint_ap(ann, results, COCO17.sigmas)
    assert 0.2 < reference["oks_ap"] < 0.9
    for name in STAT_NAMES:
        assert ours[name] == pytest.approx(reference[name], abs=1e-9), name
    assert results == before  # the records are neither modified nor needed copied


def test_oks_is_bit_identical_to_pycocotools_computeoks(clean_coco):
    """Every (detection, ground truth) OKS of every image, the 20-per-image cut and the score ties included."""
    from pycocotools.cocoeval import COCOeval

    ann, results = clean_coco
    gt = KeypointGroundTruth.from_file(ann)
    image_ids, kps, scores = result_arrays(results, 17)
    sigmas = np.asarray(COCO17.sigmas)
    blocks = oks_by_image(gt, gt.image_rows(image_ids), kps, scores, sigmas)
    raw = load_coco_gt(ann)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(raw, raw.loadRes(copy.deepcopy(results)), iouType="keypoints")
    evaluator.params.kpt_oks_sigmas = sigmas
    evaluator._prepare()
    pairs = [(i, evaluator.computeOks(i, 1)) for i in raw.getImgIds()]
    expected = {i: np.asarray(o) for i, o in pairs if len(o)}
    assert {int(gt.image_ids[row]) for row in blocks} == set(expected)
    assert max(len(o) for o in expected.values()) == 20
    for row, (_, oks) in blocks.items():
        assert np.array_equal(oks, expected[int(gt.image_ids[row])])


def test_faster_coco_eval_equals_pycocotools(clean_coco):
    """faster-coco-eval (its own loadRes and OKS) gives pycocotools' statistics on the raw file: crowd regions,
    num_keypoints=0 people, images without people; results on an image missing from the file fail in both."""
    import faster_coco_eval
    from faster_coco_eval.core.faster_eval_api import COCOeval_faster

    ann, results = clean_coco
    sigmas = np.asarray(COCO17.sigmas)
    gt = faster_coco_eval.COCO(str(ann))
    evaluator = COCOeval_faster(gt, gt.loadRes(copy.deepcopy(results)), iouType="keypoints", kpt_oks_sigmas=sigmas,
                                print_function=lambda *a: None)  # fmt: skip
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    reference = pycocotools_keypoint_ap(ann, results, sigmas)
    np.testing.assert_allclose(evaluator.stats[:10], [reference[n] for n in STAT_NAMES], rtol=0, atol=1e-12)
    elsewhere = [*results, {**results[0], "image_id": 10**9}]
    with pytest.raises(AssertionError, match="do not correspond"):
        gt.loadRes(copy.deepcopy(elsewhere))
    with pytest.raises(AssertionError, match="do not correspond"):
        load_coco_gt(ann).loadRes(copy.deepcopy(elsewhere))
    with pytest.raises(ValueError, match=r"1 results are on images that are not in the ground truth.*1000000000"):
        coco_keypoint_ap(ann, elsewhere, sigmas)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"keypoints": [1.0] * 50}, r"results\[3\] \(gt_id \d+\): keypoints not 3x17 numbers"),
        ({"keypoints": ["a"] * 51}, r"results\[3\].*non-numeric"),
        ({"score": float("nan")}, r"results\[3\].*NaN"),
        ({"category_id": 2}, r"results\[3\].*not the person category"),
        ({"image_id": "12"}, r"results\[3\].*image_id '12' is not an integer"),
    ],
)
def test_a_malformed_result_names_the_record(clean_coco, change, message):
    ann, results = clean_coco
    bad = [*results[:3], {**results[3], **change}, *results[4:]]
    with pytest.raises(ValueError, match=message):
        coco_keypoint_ap(ann, bad, COCO17.sigmas)


def test_the_pose_module_computes_ap_on_rank_zero_only_and_broadcasts_it():
    """Under DDP rank 0 holds the gathered results: it alone scores them, every rank logs what it broadcasts, and
    an error on rank 0 stops every rank instead of leaving them waiting."""
    module = _module(False)
    sent = {name: 0.5 for name in STAT_NAMES}

    def trainer(rank, datamodule, broadcast):
        return SimpleNamespace(is_global_zero=rank == 0, datamodule=datamodule,
                               strategy=SimpleNamespace(broadcast=broadcast))  # fmt: skip

    untouchable = SimpleNamespace(eval_ground_truth=lambda stage: pytest.fail("ground truth read on rank 1"))
    module.trainer = trainer(1, untouchable, lambda obj, src: sent if obj is None and src == 0 else pytest.fail())
    assert module._oks_ap("val", []) is sent
    module.trainer = trainer(1, untouchable, lambda obj, src: "ValueError: bad ground truth")
    with pytest.raises(RuntimeError, match="failed on global rank 0: ValueError: bad ground truth"):
        module._oks_ap("val", [])

    def broken(stage):
        raise ValueError("bad ground truth")

    told = []
    module.trainer = trainer(0, SimpleNamespace(eval_ground_truth=broken), lambda obj, src: told.append(obj) or obj)
    with pytest.raises(ValueError, match="bad ground truth"):
        module._oks_ap("val", [])
    assert told == ["ValueError: bad ground truth"]


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
    reference = pycocotools_keypoint_ap(tiny_coco / "annotations" / "person_keypoints_val2017.json", preds,
                                        COCO17.sigmas)  # fmt: skip
    assert metrics["test/oks_ap"] == pytest.approx(reference["oks_ap"], abs=1e-6)  # logged as float32
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


def test_the_benchmark_reports_every_variant_equal_to_pycocotools(tmp_path, capsys):
    """``python -m bench.coco_eval`` at a tiny size: a table, then one JSON line with every figure."""
    from bench.coco_eval import main

    main(["--instances", "150", "--repeats", "1", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    assert any(line.startswith("har ") for line in out) and figures["goals"]["stats_equal_1e-6"]
    assert set(figures["variants"]) == {"har", "pycocotools", "faster-coco-eval"}
    assert figures["dataset"]["results"] >= figures["dataset"]["with_keypoints"] and figures["results_unmodified"]
