"""deephar's action benchmarks as experiments (penn_action, synthetic_penn; ntu_action, synthetic_ntu): each runs one
batch of every stage on synthetic data generated on first use, reports deephar's protocol (every block, the best
block, multi-clip with and without flip, the pose loss on the clips), and evaluation under DDP (2 processes, each
scoring its share of the clips, fused per video after the gather) gives exactly the single-process metrics."""

import json

import pytest

from har.run.pipeline import train
from tests.conftest import TINY_NTU, TINY_PENN
from tests.test_configs import compose_config
from tests.test_train_evaluate import run

BENCH = ["penn_action", "synthetic_penn", "ntu_action", "synthetic_ntu"]
# A small network and short clips; the data generated on first use at the tiny size.
SMALL = ["data.num_frames=4", "data.input_size=[64,64]", "data.batch_size=2", "data.num_workers=0",
         "data.persistent_workers=false", "model.pose_net.width=32", "model.pose_net.num_blocks=2"]  # fmt: skip
NTU_CLASSES = "data.classes=['hand waving','jump up',salute]"  # TINY_NTU's actions 23, 27, 38 by name


def _generated(data: str, params: dict) -> list[str]:
    return [f"data={data}", *(f"data.synthetic.{k}={json.dumps(v).replace(' ', '')}" for k, v in params.items())]


SYNTHETIC = {
    "penn": [*_generated("synthetic_penn", TINY_PENN), f"data.classes=[{','.join(TINY_PENN['classes'])}]"],
    "ntu": [*_generated("synthetic_ntu", TINY_NTU), f"data.actions={json.dumps(TINY_NTU['actions'])}", NTU_CLASSES],
}


def _dataset(experiment: str) -> str:
    return "penn" if "penn" in experiment else "ntu"


@pytest.mark.parametrize("experiment", BENCH)
def test_experiment_runs_one_batch_of_each_stage_on_generated_synthetic_data(experiment, tmp_path):
    overrides = [f"experiment={experiment}", "debug=fdr", f"paths.data_dir={tmp_path / 'data'}",
                 *SYNTHETIC[_dataset(experiment)], *SMALL]  # fmt: skip
    metrics = train(compose_config("train", overrides, tmp_path / "run"))
    assert (tmp_path / "data" / f"synthetic_{_dataset(experiment)}" / "official").is_dir()  # generated on first use
    blocks = [f"test/acc_{branch}_block{b}" for branch in ("pose", "appearance") for b in range(1, 5)]
    expected = {"val/acc", "test/acc", "test/acc_macro", "test/acc_best_block", "test/best_block",
                "train/loss_pose_clip", "test/loss_pose_clip", *blocks}  # fmt: skip
    if _dataset(experiment) == "penn":  # multi-clip + flip (NTU: one centred clip per video, deephar's CVPR'18 test)
        expected.add("test/acc_without_flip")
    assert expected <= metrics.keys(), expected - metrics.keys()
    assert 1 <= metrics["test/best_block"] <= 9
    assert metrics["test/acc_best_block"] >= max(metrics[k] for k in [*blocks, "test/acc"])
    predictions = json.loads((tmp_path / "run" / "predictions.json").read_text())
    assert predictions and {"video", "label", "pred", "short", "probs"} <= predictions[0].keys()


@pytest.fixture(scope="module")
def one_step_checkpoint(tiny_ntu, tmp_path_factory):
    """ntu_action after one training step on the tiny synthetic NTU, and the overrides that evaluate it with deephar's
    multi-clip + flip test."""
    out = tmp_path_factory.mktemp("bench_train")
    actions = f"data.actions={json.dumps(TINY_NTU['actions'])}"
    data = [f"data.root={tiny_ntu / 'official'}", "data.synthetic=null", actions, NTU_CLASSES,
            "data.test_protocol=deephar", "data.test_flip=true", *SMALL]  # fmt: skip
    overrides = ["experiment=ntu_action", *data, "trainer=cpu", "trainer.max_epochs=1", "logger=csv",
                 "+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1", "test=false"]  # fmt: skip
    train(compose_config("train", overrides, out))
    return next((out / "checkpoints").glob("*.ckpt")), ["experiment=ntu_action", *data]


def test_ddp_evaluation_equals_single_process_evaluation(one_step_checkpoint, tmp_path):
    """`experiment=ntu_action trainer=ddp_sim`: 2 DDP processes (gloo) score the multi-clip + flip test set of the tiny
    NTU exactly as one process does."""
    ckpt, data = one_step_checkpoint
    results = {}
    for trainer in ("cpu", "ddp_sim"):
        out = tmp_path / trainer
        run("evaluate.py", *data, f"ckpt_path={ckpt}", f"trainer={trainer}", f"hydra.run.dir={out}", "logger=csv")
        results[trainer] = json.loads((out / "metrics.json").read_text())
        results[trainer + "_predictions"] = json.loads((out / "predictions.json").read_text())
    single, ddp = results["cpu"], results["ddp_sim"]
    keys = sorted(k for k in single if k.startswith("test/acc") or k == "test/best_block")
    assert "test/acc_without_flip" in keys and {k: ddp[k] for k in keys} == {k: single[k] for k in keys}
    assert len(results["cpu_predictions"]) == len(TINY_NTU["actions"]) * TINY_NTU["test_per_class"]
    assert results["ddp_sim_predictions"] == results["cpu_predictions"]
