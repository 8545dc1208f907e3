"""Every experiment composes, and runs one training/validation/test batch (fast_dev_run) end to end."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from har.layouts import get_layout
from har.run.pipeline import train
from tests.conftest import ROOT, tiny_data_overrides

EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))
POSE3D = ("mpii_pose", "h36m_pose3d", "synthetic_pose3d")  # their fast_dev_run: tests/test_experiments_pose3d.py


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
    if cfg.data._target_.endswith("PoseFeatureDataModule"):  # the action head alone, on saved pose features
        assert cfg.model.num_joints == 17 and list(cfg.model.classes) == list(cfg.data.classes)
        return
    net = cfg.model.get("net") or cfg.model.pose_net
    assert net.num_joints == get_layout(cfg.model.layout).num_joints and cfg.data._target_.startswith("har.")
    assert list(net.input_size) == list(cfg.data.input_size)


def tiny_data_fixture(cfg) -> str | None:
    """The tiny dataset fixture (conftest) an experiment's data needs beside tiny_coco and tiny_merl, if any."""
    target = cfg.data._target_
    fixtures = {
        "PennActionDataModule": "tiny_penn",
        "NtuDataModule": "tiny_ntu",
        "PoseFeatureDataModule": "tiny_pose_features",
    }
    return fixtures.get(target.rsplit(".", 1)[-1])


def small_run_overrides(cfg, tiny_coco: Path, tiny_merl: Path, tiny_features: Path | None = None) -> list[str]:
    """Point an experiment at a tiny dataset of its own format, and shrink its network to a CPU test's size
    (the experiment's architecture and everything else stay as configured). ``tiny_features``: the dataset of
    :func:`tiny_data_fixture` where the experiment needs one (pose features, Penn Action)."""
    target = cfg.data._target_
    loader = ["data.batch_size=2", "data.num_workers=0", "data.persistent_workers=false", "data.input_size=[64,64]"]
    if target.endswith("CocoPoseDataModule"):
        data = tiny_data_overrides(tiny_coco, cfg.data.get("synthetic") is not None) + ["data.input_size=[64,64]"]
    elif target.endswith("MerlPoseDataModule"):
        data = [f"data.root={tiny_merl / 'pose'}", "data.synthetic=null", *loader]
    elif target.endswith("MerlActionDataModule"):
        data = [f"data.root={tiny_merl / 'action'}", "data.synthetic=null", "data.num_frames=4", *loader]
    elif target.endswith("MerlVideoDataModule"):
        data = [f"data.root={tiny_merl / 'videos'}", "data.synthetic=null", "data.num_frames=4", *loader]
    elif target.endswith("MultitaskDataModule"):
        data = [f"data.action.root={tiny_merl / 'action'}", f"data.pose.root={tiny_merl / 'pose'}",
                "data.action.synthetic=null", "data.pose.synthetic=null", "data.action.num_frames=4",
                *(o.replace("data.", "data.action.") for o in loader),
                *(o.replace("data.", "data.pose.") for o in loader if "input_size" not in o)]  # fmt: skip
    elif target.endswith("PennActionDataModule"):  # the tiny synthetic Penn (tests/conftest.py: TINY_PENN)
        data = [f"data.root={tiny_features / 'official'}", "data.synthetic=null", "data.num_frames=4",
                "data.classes=[jumping_jacks,squat,pullup]", *loader]  # fmt: skip
    elif target.endswith("NtuDataModule"):  # the tiny synthetic NTU (tests/conftest.py: TINY_NTU)
        data = [f"data.root={tiny_features / 'official'}", "data.synthetic=null", "data.num_frames=4",
                "data.actions=[23,27,38]", "data.classes=['hand waving','jump up',salute]", *loader]  # fmt: skip
    elif target.endswith("PoseFeatureDataModule"):  # features of a width-32 pose network
        features = [f"data.root={tiny_features}", *(o for o in loader if "input_size" not in o)]
        return [*features, "model.feature_channels=32"]
    else:
        raise AssertionError(f"no tiny dataset for {target}")
    net = "model.pose_net" if "pose_net" in cfg.model else "model.net"
    return [*data, f"{net}.width=32", f"{net}.num_blocks=2"]


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e not in POSE3D])
def test_experiment_fast_dev_run(experiment, tiny_coco, tiny_merl, request, tmp_path):
    cfg = compose_config("train", [f"experiment={experiment}"], tmp_path)
    fixture = tiny_data_fixture(cfg)
    small = small_run_overrides(cfg, tiny_coco, tiny_merl, request.getfixturevalue(fixture) if fixture else None)
    overrides = [f"experiment={experiment}", "debug=fdr", *small]
    cfg = compose_config("train", overrides, tmp_path)
    metrics = train(cfg)
    assert "train/loss" in metrics and (tmp_path / "metrics.json").is_file()
    if "net" in cfg.model:  # pose
        assert {"val/pck@0.2", "test/pck@0.2", "test/pck@0.1", "test/oks_ap"} <= metrics.keys()
        assert (tmp_path / "predictions.json").is_file()
    else:  # action
        assert {"val/acc", "test/acc", "test/acc_macro", "test/acc_fused", "test/acc_pose"} <= metrics.keys()
