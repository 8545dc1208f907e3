"""deephar's released pose files, converted with one command (``python -m har.tools.import_deephar``), evaluate on
their benchmark with one command each: the MPII model (2D, 16 joints, 2 context maps) with ``experiment=mpii_pose``
(PCKh), the Human3.6M model (3D, 17 joints, 16 depth bins) with ``experiment=h36m_pose3d`` (PCKh on MPII, MPJPE on
Human3.6M). Fixture-shaped files (the released ones' group layout at width 32, 64×64) on the tiny synthetic sets."""

from __future__ import annotations

import pytest

from har.models.keras_export import save_keras_weights
from har.models.pose_net import DeepHARPose
from har.run.pipeline import evaluate
from har.tools.import_deephar import main
from tests.test_configs import compose_config
from tests.test_experiments_pose3d import LOADER
from tests.test_keras_released_files import SMALL, randomise

RELEASED = {
    "mpii_pose": ("weights_PE_MPII_cvpr18_19-09-2017.h5", {"num_joints": 16, "num_context_per_joint": 2}),
    "h36m_pose3d": ("weights_3DPE_H36M_cvpr18_Nov-2017.h5",
                    {"num_joints": 17, "num_context_per_joint": 0, "depth_bins": 16}),
}  # fmt: skip


@pytest.mark.parametrize("experiment", sorted(RELEASED))
def test_released_pose_file_evaluates_with_one_command(experiment, tiny_mpii, tiny_h36m, tmp_path):
    name, net_args = RELEASED[experiment]
    net = DeepHARPose(num_blocks=2, **net_args, **SMALL)  # 8 blocks in the released files
    randomise(net)
    main([str(save_keras_weights(net, tmp_path / name)), str(tmp_path / "converted.ckpt")])
    if experiment == "mpii_pose":
        data = [f"data.root={tiny_mpii}", *(f"data.{o}" for o in LOADER)]
    else:
        data = [f"data.datasets.mpii.root={tiny_mpii}", f"data.datasets.h36m.root={tiny_h36m}", "data.num_workers=0",
                *(f"data.datasets.{n}.{o}" for n in ("mpii", "h36m") for o in LOADER)]  # fmt: skip
    cfg = compose_config("eval", [f"experiment={experiment}", f"ckpt_path={tmp_path / 'converted.ckpt'}",
                                  "data.input_size=[64,64]", "trainer.accelerator=cpu", "+trainer.limit_test_batches=2",
                                  *data], tmp_path / "eval")  # fmt: skip
    metrics = evaluate(cfg)
    expected = {"test/mpii/pckh@0.5", "test/mpii/pckh@0.1", "test/mpii/pckh@0.5/wrist"}
    if experiment == "h36m_pose3d":
        expected |= {"test/h36m/mpjpe", "test/h36m/p_mpjpe"}
    assert expected <= metrics.keys(), sorted(metrics)
    assert all(metrics[k] is not None for k in expected)
