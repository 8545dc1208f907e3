"""Action recognition from the command line, as users run it (subprocesses): the users' DDP command, and
multitask training with pose batches."""

import json

from tests.test_train_evaluate import run

# The experiment as configured, on tiny synthetic MERL clips with a small network and a short schedule.
SMALL = ["data.num_frames=4", "data.input_size=[64,64]", "data.batch_size=2", "data.num_workers=0",
         "data.persistent_workers=false", "model.pose_net.width=32", "model.pose_net.num_blocks=2",
         "trainer.max_epochs=2", "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=3"]  # fmt: skip


def test_users_merl_action_command_with_two_ddp_processes(tiny_merl, tmp_path):
    """`python train.py experiment=merl_action trainer.devices=2`: 2 DDP processes (gloo on this CPU) train,
    validate, test the best checkpoint (multi-clip) and write the run folder."""
    run("train.py", "experiment=merl_action", "trainer.devices=2", f"data.root={tiny_merl / 'action'}",
        f"hydra.run.dir={tmp_path}", "data.test_clips=2", "data.test_flip=true", *SMALL)  # fmt: skip
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("train/loss", "val/acc", "val/acc_best", "test/acc", "test/acc_macro", "test/acc_fused",
                "test/acc_pose", "test/acc_appearance"):  # fmt: skip
        assert isinstance(metrics[key], float), key
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert list((tmp_path / "confusion").glob("test_*.png")) and list((tmp_path / "confusion").glob("test_*.csv"))
    # Exact under DDP, with multi-clip testing (2 windows × mirror per clip): one prediction per test clip.
    test_clips = {r["id"] for r in json.loads((tiny_merl / "action" / "merl_action_test.json").read_text())}
    assert len(json.loads((tmp_path / "predictions.json").read_text())) == len(test_clips)


def test_multitask_training_adds_the_pose_loss(tiny_merl, tmp_path):
    run("train.py", "experiment=synthetic_action", "data=synthetic_merl_multitask", f"hydra.run.dir={tmp_path}",
        f"data.action.root={tiny_merl / 'action'}", f"data.pose.root={tiny_merl / 'pose'}",
        "data.action.synthetic=null", "data.pose.synthetic=null", "data.action.num_frames=4",
        "data.action.input_size=[64,64]",
        "data.action.batch_size=2", "data.action.num_workers=0", "data.action.persistent_workers=false",
        "data.pose.batch_size=4", "data.pose.num_workers=0", "data.pose.persistent_workers=false",
        "model.pose_net.width=32", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2")  # fmt: skip
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["train/loss_pose"] > 0 and "test/acc" in metrics
