"""evaluate.py works for every experiment (conf/experiment/*.yaml, new ones included): a one-step training of the
experiment on tiny data writes a checkpoint, and evaluating it reproduces the training run's test metrics."""

import math

import pytest

from har.run.pipeline import evaluate, train
from tests.test_configs import EXPERIMENTS, POSE3D, compose_config, small_run_overrides, tiny_data_fixture
from tests.test_experiments_pose3d import tiny_overrides as pose3d_overrides

# One training step, one validation batch (checkpoint), two test batches.
ONE_STEP = ["trainer.max_epochs=1", "+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1",
            "+trainer.limit_test_batches=2", "+trainer.num_sanity_val_steps=0", "logger=csv"]  # fmt: skip


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_evaluate_reproduces_the_test_metrics_of_every_experiment(experiment, tiny_coco, tiny_merl, request, tmp_path):
    cfg = compose_config("train", [f"experiment={experiment}"], tmp_path)
    if experiment in POSE3D:  # MPII, Human3.6M or both mixed: the tiny sets of their own formats
        tiny = request.getfixturevalue("tiny_mpii"), request.getfixturevalue("tiny_h36m")
        small = [f"experiment={experiment}", *pose3d_overrides(experiment, *tiny)]
    else:
        fixture = tiny_data_fixture(cfg)
        features = request.getfixturevalue(fixture) if fixture else None
        small = [f"experiment={experiment}", *small_run_overrides(cfg, tiny_coco, tiny_merl, features)]

    cfg = compose_config("train", [*small, *ONE_STEP], tmp_path / "train")
    trained = train(cfg)
    # The value train.py returns to sweepers exists for every experiment.
    assert math.isfinite(trained[cfg.optimized_metric]), cfg.optimized_metric
    ckpt = next((tmp_path / "train" / "checkpoints").glob("epoch_*.ckpt"))  # the best: the one training tested

    evaluated = evaluate(compose_config("eval", [*small, f"ckpt_path={ckpt}", "+trainer.limit_test_batches=2"],
                                        tmp_path / "eval"))  # fmt: skip
    test_keys = sorted(k for k in trained if k.startswith("test/") and trained[k] is not None)
    assert test_keys and (tmp_path / "eval" / "metrics.json").is_file()
    for key in test_keys:
        assert evaluated[key] == pytest.approx(trained[key], abs=1e-5), key
