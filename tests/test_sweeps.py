"""Sweeps from the command line (subprocesses, as users run them): a multirun gives one run folder per job, also when
its jobs ask for DDP; an Optuna search gets from train.py the metric it optimises."""

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from hydra.types import RunMode
from omegaconf import OmegaConf

from har.run.launch import sweep_objective
from tests.conftest import ROOT, tiny_data_overrides
from tests.test_configs import compose_config

TINY_RUN = ["model.net.width=32", "data.input_size=[64,64]", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
            "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2", "logger=csv"]  # fmt: skip


def run_train(*args: str, timeout: int = 300) -> str:
    """``python train.py ARGS``; its output (stdout + stderr). A hang (e.g. DDP ranks waiting) fails at ``timeout``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"train.py failed:\n{out[-6000:]}"
    return out


def test_multirun_with_ddp_jobs_gives_one_run_folder_per_job(tiny_coco, tmp_path):
    """`python train.py -m model.optimizer.lr=1e-3,3e-4 trainer=ddp_sim`: each job trains with 2 DDP processes of
    its own (Lightning's re-launch of the script would otherwise start the whole sweep again in every rank), in its
    own folder, with its own learning rate; the next job starts cleanly after the first."""
    out = run_train("-m", "model.optimizer.lr=1e-3,3e-4", "trainer=ddp_sim", f"hydra.sweep.dir={tmp_path}",
                    *tiny_data_overrides(tiny_coco), *TINY_RUN)  # fmt: skip
    assert out.count("Launching 2 jobs") == 1, "a DDP rank started a sweep of its own"
    assert out.count("GLOBAL_RANK: 1, MEMBER: 2/2") == 2, "each job has a second rank"
    for job, lr in (("0", 1e-3), ("1", 3e-4)):
        folder = tmp_path / job
        metrics = json.loads((folder / "metrics.json").read_text())
        assert isinstance(metrics["val/pck@0.2_best"], float) and isinstance(metrics["test/pck@0.2"], float)
        assert (folder / "predictions.json").is_file()
        ckpt = next((folder / "checkpoints").glob("epoch_*.ckpt"))
        hparams = torch.load(ckpt, map_location="cpu", weights_only=True)["hyper_parameters"]
        assert hparams["optimizer"]["lr"] == pytest.approx(lr)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["0", "1"]


def test_optuna_search_optimises_the_metric_train_returns(tiny_coco, tmp_path):
    """hparams_search=synthetic_pose_optuna, 2 trials: the sweeper's best value is the best of the trials'
    `optimized_metric` (val/pck@0.2_best) as train.py wrote it; values given on the command line are not searched."""
    out = run_train("hparams_search=synthetic_pose_optuna", "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path}",
                    *tiny_data_overrides(tiny_coco), *TINY_RUN, "test=false")  # fmt: skip
    assert "Study name: synthetic_pose" in out
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    values = {job: json.loads((tmp_path / job / "metrics.json").read_text())["val/pck@0.2_best"] for job in "01"}
    assert results["best_value"] == pytest.approx(max(values.values()), abs=1e-9)
    # width and batch size are searched by the preset but fixed here; the learning rate is searched
    assert "model.net.width" not in results["best_params"] and "data.batch_size" not in results["best_params"]
    best_job = max(values, key=values.get)
    job_overrides = yaml.safe_load((tmp_path / best_job / ".hydra" / "overrides.yaml").read_text())
    assert f"model.optimizer.lr={results['best_params']['model.optimizer.lr']}" in job_overrides


def test_a_missing_optimized_metric_fails_an_optuna_trial_clearly(tmp_path):
    metrics = {"val/loss": 0.5, "val/pck@0.2": None}
    cfg = compose_config("train", ["hparams_search=synthetic_pose_optuna"], tmp_path)  # HydraConfig: an Optuna sweep
    with pytest.raises(ValueError, match=r"optimized_metric='val/pck@0.2_best' is missing .*val/loss"):
        sweep_objective(cfg, metrics)
    cfg = compose_config("train", ["hparams_search=synthetic_pose_optuna", "optimized_metric=val/pck@0.2"], tmp_path)
    with pytest.raises(ValueError, match="not finite"):
        sweep_objective(cfg, metrics)
    cfg = compose_config("train", ["optimized_metric=val/loss"], tmp_path)
    assert sweep_objective(cfg, metrics) == 0.5
    assert sweep_objective(compose_config("train", [], tmp_path), metrics) is None  # single run: a warning only


@pytest.mark.parametrize("preset", sorted(p.stem for p in (ROOT / "conf" / "hparams_search").glob("*.yaml")))
def test_search_presets_fit_their_experiment(preset, tmp_path):
    """<experiment>_optuna optimises the metric its experiment logs and returns (test_evaluate_experiments checks
    that it exists), over parameters that exist in the experiment's config."""
    experiment = preset.removesuffix("_optuna")
    plain = compose_config("train", [f"experiment={experiment}"], tmp_path)
    cfg = compose_config("train", [f"experiment={experiment}", f"hparams_search={preset}"], tmp_path)
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.mode == RunMode.MULTIRUN
    assert cfg.optimized_metric == plain.optimized_metric
    for key in cfg.hydra.sweeper.params:
        assert OmegaConf.select(plain, key) is not None, key
