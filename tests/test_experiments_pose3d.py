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
