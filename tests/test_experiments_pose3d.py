"""deephar's pose benchmark experiments (mpii_pose, h36m_pose3d, synthetic_pose3d) run one training, validation and
test batch (debug=fdr) on the tiny synthetic MPII and Human3.6M sets, with their architecture and recipe as
configured (only the network's width and depth, the crop and the batch shrunk), and log each set's metric."""

from __future__ import annotations

import pytest

from har.run.pipeline import train
from tests.test_configs import compose_config

LOADER = ["batch_size=2", "num_workers=0", "persistent_workers=false"]


def tiny_overrides(experiment: str, tiny_mpii, tiny_h36m) -> list[str]:
    small = ["model.net.width=32", "model.net.num_blocks=2", "data.input_size=[64,64]"]
    if experiment == "mpii_pose":
        return [f"data.root={tiny_mpii}", *(f"data.{o}" for o in LOADER), *small]
    roots = {"mpii": tiny_mpii, "h36m": tiny_h36m}
    data = [f"data.datasets.{name}.root={root}" for name, root in roots.items()]
    data += [f"data.datasets.{name}.{o}" for name in roots for o in LOADER]
    if experiment == "synthetic_pose3d":
        data += [f"data.datasets.{name}.synthetic=null" for name in roots]
    return [*data, "data.batch_counts.mpii=2", "data.batch_counts.h36m=2", "data.num_workers=0",
            "data.persistent_workers=false", *small]  # fmt: skip


@pytest.mark.parametrize("experiment", ["mpii_pose", "h36m_pose3d", "synthetic_pose3d"])
def test_experiment_fast_dev_run(experiment, tiny_mpii, tiny_h36m, tmp_path):
    overrides = [f"experiment={experiment}", "debug=fdr", *tiny_overrides(experiment, tiny_mpii, tiny_h36m)]
    cfg = compose_config("train", overrides, tmp_path)
    metrics = train(cfg)
    assert "train/loss" in metrics and (tmp_path / "metrics.json").is_file()
    expected = {"val/mpii/pckh@0.5", "val/mpii/pckh@0.1", "test/mpii/pckh@0.5", "test/mpii/pckh@0.5/head"}
    if experiment != "mpii_pose":
        assert cfg.model.net.depth_bins and cfg.model.best_metric == "h36m/mpjpe"
        expected |= {"val/h36m/mpjpe", "val/h36m/p_mpjpe", "test/h36m/mpjpe", "test/h36m/p_mpjpe"}
        assert any(k.startswith("test/h36m/mpjpe/") for k in metrics)  # the per-action table
    assert expected <= metrics.keys(), sorted(metrics)
    plain = compose_config("train", [f"experiment={experiment}"], tmp_path / "plain")
    assert plain.callbacks.model_checkpoint.monitor in expected  # the best checkpoint is chosen by a logged metric


def test_ddp_sim_evaluation_equals_one_process(tiny_mpii, tiny_h36m, tmp_path):
    """evaluate.py on the mixed data, one process and trainer=ddp_sim (2 processes, gloo, padded samplers on both
    validation loaders): every set's metrics are equal."""
    import json

    import torch

    from har.lit.pose import PoseModule
    from tests.test_predict import SGD, _randomise, _save
    from tests.test_train_evaluate import run

    torch.manual_seed(0)
    net = {"num_joints": 17, "num_blocks": 1, "num_context_per_joint": 0, "depth_bins": 4, "width": 32,
           "input_size": [64, 64]}  # fmt: skip
    module = PoseModule(net=net, optimizer=SGD, layout="pa17j")
    _randomise(module, module.net)
    ckpt = _save(module, tmp_path / "pose3d.ckpt")
    data = [o.replace("batch_size=2", "batch_size=3") for o in tiny_overrides("synthetic_pose3d", tiny_mpii, tiny_h36m)
            if o.startswith("data.")]  # batches of 3: the samplers pad the last ones  # fmt: skip
    common = [f"ckpt_path={ckpt}", "experiment=synthetic_pose3d", *data]
    run("evaluate.py", *common, f"hydra.run.dir={tmp_path / 'one'}")
    run("evaluate.py", *common, f"hydra.run.dir={tmp_path / 'two'}", "trainer=ddp_sim")
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    keys = [k for k in one if k.startswith(("test/mpii/", "test/h36m/"))]
    assert {"test/mpii/pckh@0.5", "test/h36m/mpjpe", "test/h36m/p_mpjpe"} <= set(keys)
    for key in keys:
        assert two[key] == pytest.approx(one[key], rel=1e-6, abs=1e-9), key
