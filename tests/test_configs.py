"""Every experiment composes, and runs one training/validation/test batch (fast_dev_run) end to end."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from har.pipeline import train
from tests.conftest import ROOT, tiny_data_overrides

EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def compose_config(config_name: str, overrides: list[str], output_dir: Path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir)
    return cfg


def test_experiments_exist():
    assert "synthetic_pose" in EXPERIMENTS


@pytest.mark.parametrize("config_name", ["train", "eval"])
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes(experiment, config_name, tmp_path):
    overrides = [f"experiment={experiment}"] + (["ckpt_path=x.ckpt"] if config_name == "eval" else [])
    cfg = compose_config(config_name, overrides, tmp_path)
    assert cfg.model.net.num_joints == 17 and cfg.data._target_.startswith("har.")
    assert list(cfg.model.net.input_size) == list(cfg.data.input_size)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_fast_dev_run(experiment, tiny_coco, tmp_path):
    synthetic = compose_config("train", [f"experiment={experiment}"], tmp_path).data.get("synthetic") is not None
    overrides = [f"experiment={experiment}", "debug=fdr", *tiny_data_overrides(tiny_coco, synthetic),
                 # the experiment's architecture, at a size a CPU test can afford
                 "model.net.width=32", "model.net.num_blocks=2", "data.input_size=[64,64]"]  # fmt: skip
    cfg = compose_config("train", overrides, tmp_path)
    metrics = train(cfg)
    assert {"train/loss", "val/pck@0.2", "test/pck@0.2", "test/pck@0.1"} <= metrics.keys()
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "predictions.json").is_file()
