"""The CLI end to end, in subprocesses as a user runs it: train.py trains, checkpoints, tests the best
checkpoint and writes metrics.json/predictions.json; evaluate.py on that checkpoint reproduces the test metric."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from pycocotools.coco import COCO

from har.layouts import COCO17
from tests.conftest import ROOT, tiny_data_overrides


def run(script: str, *overrides: str) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / script), *overrides], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


@pytest.fixture(scope="module")
def trained(tiny_coco, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("train_run")
    run("train.py", f"hydra.run.dir={run_dir}", *tiny_data_overrides(tiny_coco), "trainer.max_epochs=2",
        "model.net.width=32", "data.input_size=[64,64]", "+trainer.limit_train_batches=3")  # fmt: skip
    return run_dir


def test_train_writes_checkpoints_metrics_and_predictions(trained, tiny_coco):
    assert (trained / "checkpoints" / "last.ckpt").is_file()
    best = [p for p in (trained / "checkpoints").glob("epoch_*.ckpt")]
    assert len(best) == 1
    metrics = json.loads((trained / "metrics.json").read_text())
    for key in ("train/loss", "val/pck@0.2", "val/pck@0.2_best", "test/pck@0.2", "test/pck@0.1", "test/loss"):
        assert isinstance(metrics[key], float), key
    assert 0.0 <= metrics["test/pck@0.2"] <= 1.0
    assert list((trained / "overlays").glob("val_overlays_*.png"))
    # predictions.json is a COCO results file that pycocotools reads against the val annotations.
    preds = json.loads((trained / "predictions.json").read_text())
    gt = COCO(str(tiny_coco / "annotations" / "person_keypoints_val2017.json"))
    assert len(preds) == len([a for a in gt.dataset["annotations"] if a["num_keypoints"] > 0])
    for p in preds:
        assert p["category_id"] == 1 and len(p["keypoints"]) == 3 * COCO17.num_joints
        assert gt.anns[p["gt_id"]]["image_id"] == p["image_id"]
    gt.loadRes(preds)


def test_evaluate_reproduces_the_train_time_test_metric(trained, tiny_coco, tmp_path):
    best = next((trained / "checkpoints").glob("epoch_*.ckpt"))
    run("evaluate.py", f"ckpt_path={best}", f"hydra.run.dir={tmp_path}", *tiny_data_overrides(tiny_coco),
        "data.input_size=[64,64]")  # fmt: skip
    train_metrics = json.loads((trained / "metrics.json").read_text())
    eval_metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("test/pck@0.2", "test/pck@0.1", "test/loss"):
        assert eval_metrics[key] == pytest.approx(train_metrics[key], abs=1e-6), key
    train_preds = json.loads((trained / "predictions.json").read_text())
    eval_preds = json.loads((tmp_path / "predictions.json").read_text())
    assert [p["gt_id"] for p in eval_preds] == [p["gt_id"] for p in train_preds]
    np.testing.assert_allclose([p["keypoints"] for p in eval_preds], [p["keypoints"] for p in train_preds], atol=2e-3)


def test_evaluate_without_a_checkpoint_is_a_clear_error(tmp_path):
    env = {**os.environ}
    proc = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), f"ckpt_path={tmp_path}/missing.ckpt",
                           f"hydra.run.dir={tmp_path}"], cwd=ROOT, env=env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode != 0 and "checkpoint not found" in proc.stderr + proc.stdout


def test_ddp_evaluation_equals_single_device(trained, tiny_coco, tmp_path):
    """2 CPU processes (DDP, gloo): the DistributedSampler pads with repeated samples; PCK, OKS-AP and the
    written predictions must be exactly those of one device."""
    best = next((trained / "checkpoints").glob("epoch_*.ckpt"))
    common = [f"ckpt_path={best}", *tiny_data_overrides(tiny_coco), "data.input_size=[64,64]", "data.batch_size=3"]
    run("evaluate.py", *common, f"hydra.run.dir={tmp_path / 'one'}")
    run("evaluate.py", *common, f"hydra.run.dir={tmp_path / 'two'}", "trainer.accelerator=cpu", "trainer.devices=2",
        "trainer.strategy=ddp")  # fmt: skip
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    preds_one = json.loads((tmp_path / "one" / "predictions.json").read_text())
    preds_two = json.loads((tmp_path / "two" / "predictions.json").read_text())
    assert len(preds_one) % 2 == 1, "an odd number of instances, so that the sampler must pad"
    assert [p["gt_id"] for p in preds_two] == [p["gt_id"] for p in preds_one]
    np.testing.assert_allclose([p["keypoints"] for p in preds_two], [p["keypoints"] for p in preds_one], atol=2e-3)
    for key in ("test/pck@0.2", "test/pck@0.1", "test/pck@0.2_micro", "test/oks_ap", "test/oks_ar"):
        assert two[key] == pytest.approx(one[key], abs=1e-6), key


def test_evaluate_last_finds_the_newest_training_run_of_the_experiment(trained, tiny_coco, tmp_path):
    """ckpt_path=last: evaluate.py picks the newest run of the experiment under <log_dir>/train/runs."""
    import shutil

    log_dir = tmp_path / "logs"
    shutil.copytree(trained, log_dir / "train" / "runs" / "2026-01-01_00-00-00")
    env = {**os.environ, "HAR_LOG_DIR": str(log_dir)}
    proc = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "ckpt_path=last", f"hydra.run.dir={tmp_path}/e",
                           *tiny_data_overrides(tiny_coco), "data.input_size=[64,64]"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert f"evaluating {log_dir}/train/runs/2026-01-01_00-00-00/checkpoints/last.ckpt" in out
    assert (tmp_path / "e" / "metrics.json").is_file()
    shutil.rmtree(log_dir / "train" / "runs")
    proc = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "ckpt_path=last", f"hydra.run.dir={tmp_path}/f"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode != 0 and "ckpt_path=last: no run of experiment 'synthetic_pose'" in proc.stdout + proc.stderr
