"""Reproducibility: the same seed with ``trainer.deterministic=true`` gives identical metrics on a CPU (augmentation
in a DataLoader worker included); another seed gives other metrics, so the equality is not vacuous."""

import json

import pytest
import torch

from har.run.pipeline import train
from tests.conftest import tiny_data_overrides
from tests.test_configs import compose_config


def run(tiny_coco, out_dir, seed: int) -> dict:
    overrides = [*tiny_data_overrides(tiny_coco), "data.num_workers=1", "data.input_size=[64,64]",
                 "model.net.width=32", "model.net.num_blocks=1", "model.num_overlays=0", "trainer.max_epochs=2",
                 "+trainer.limit_train_batches=4", "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2",
                 "trainer.deterministic=true", "trainer.accelerator=cpu", "logger=csv", f"seed={seed}",
                 "callbacks.progress_bar=null"]  # fmt: skip
    train(compose_config("train", overrides, out_dir))
    return json.loads((out_dir / "metrics.json").read_text())


@pytest.fixture
def one_thread():
    """Tiny networks run ~10× faster with one intra-op thread on a busy 2-core machine (no spinning threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_same_seed_and_deterministic_give_identical_metrics(tiny_coco, tmp_path, one_thread):
    first, second = run(tiny_coco, tmp_path / "a", seed=7), run(tiny_coco, tmp_path / "b", seed=7)
    assert {"train/loss_epoch", "val/loss", "val/pck@0.2", "test/loss", "test/pck@0.2"} <= first.keys()
    assert first == second  # every metric, bit for bit
    other = run(tiny_coco, tmp_path / "c", seed=8)
    assert other["train/loss_epoch"] != first["train/loss_epoch"] and other["test/loss"] != first["test/loss"]
