"""A clean run's console (issue 15, point 7): none of Lightning's messages that read as faults or repeat, one
progress line every N steps when stdout is not a terminal, W&B offline-by-request as information."""

import logging
import os
import subprocess
import sys
import warnings

import pytest

from har.run.progress import LineProgress, progress_bar
from har.run.quiet import quiet_lightning
from tests.conftest import ROOT, TINY

NOISE = (
    "sync_dist=True",  # Lightning asking for sync_dist on metrics that are exact under DDP
    "Tip:",  # product tips
    "Trainer already configured with model summary callbacks",  # the duplicate ModelSummary message
    "FLOPs",  # a FLOPs column of zeros
    "Total Flops",
    "log_every_n_steps",  # in debug presets
    "LeafSpec",  # Lightning's _pytree deprecation under torch >= 2.10
    "TPU available",
    "INFO: ",  # Lightning's own console handler, printing every message a second time
    "\r",  # carriage-return bars in a log file
)


@pytest.fixture(scope="module")
def tiny_run_output(tiny_coco, tmp_path_factory) -> str:
    """stdout + stderr of ``train.py debug=limit`` on the tiny dataset, stdout a pipe (as under SLURM or CI)."""
    out = tmp_path_factory.mktemp("quiet")
    overrides = [f"data.root={tiny_coco}", *(f"data.synthetic.{k}={v}" for k, v in TINY.items()), "data.batch_size=4",
                 "data.num_workers=0", "data.persistent_workers=false", "data.input_size=[64,64]",
                 "model.net.width=32", "model.net.num_blocks=1", "model.num_overlays=0", "trainer.max_epochs=1",
                 "trainer.accelerator=cpu", "debug=limit", "callbacks.progress_bar.every_n_steps=2",
                 f"hydra.run.dir={out / 'run'}"]  # fmt: skip
    env = {**os.environ, "HAR_LOG_DIR": str(out), "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_a_tiny_run_prints_none_of_the_noise(tiny_run_output):
    found = [n for n in NOISE if n in tiny_run_output]
    assert not found, f"{found} in:\n{tiny_run_output[-4000:]}"
    assert tiny_run_output.count("Trainable params") == 1  # the model summary, once
    assert tiny_run_output.count("testing the best checkpoint") == 1


def test_a_log_file_gets_one_progress_line_every_n_steps(tiny_run_output):
    lines = [line for line in tiny_run_output.splitlines() if "har.run.progress" in line]
    assert [line.split(" - ", 1)[1].split(" (")[0] for line in lines if " step " in line] == [
        "epoch 0 step 2/4", "epoch 0 step 4/4"]  # fmt: skip
    assert any("validation, epoch 0: " in line and "val/pck@0.2=" in line for line in lines)
    assert any(line.split(" - ", 1)[1].startswith("test: ") for line in lines)


def test_progress_mode_follows_the_terminal(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert isinstance(progress_bar("auto"), LineProgress)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert not isinstance(progress_bar("auto"), LineProgress) and isinstance(progress_bar("lines"), LineProgress)
    with pytest.raises(ValueError, match="mode='dots'"):
        progress_bar("dots")


def test_sync_dist_advice_is_silenced_for_metrics_but_not_for_losses():
    quiet_lightning()
    advice = "It is recommended to use `self.log({!r}, ..., sync_dist=True)` when logging on epoch level in distributed"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_lightning()  # its filters go in front of "always"
        for name in ("val/pck@0.2", "val/acc_best", "test/oks_ap", "train/loss"):
            warnings.warn(advice.format(name), UserWarning, stacklevel=1)
    assert [str(w.message).split("'")[1] for w in caught] == ["train/loss"]


def test_wandb_offline_when_asked_for_is_information(monkeypatch, tmp_path, caplog):
    from har.utils.wandb import wandb_logger

    monkeypatch.setenv("WANDB_MODE", "offline")
    with caplog.at_level(logging.INFO):
        wandb_logger(save_dir=str(tmp_path), project="p")
    records = [r for r in caplog.records if "logging offline" in r.getMessage()]
    assert records and all(r.levelno == logging.INFO for r in records)
