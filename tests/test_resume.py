"""Resuming: which checkpoint ``ckpt_path=last`` / ``resume=auto`` pick, atomic checkpoint writes under a real
SIGKILL, a training killed mid-epoch that resumes to the same optimizer step count as an uninterrupted one, and
checkpoints that load with ``torch.load(weights_only=True)``, and the best validation value kept across a resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from har.lit.action import ActionModule
from har.run.checkpoint_io import AtomicCheckpointIO
from har.run.pipeline import _build, train
from har.run.resume import continue_in_run_folder, find_last_checkpoint, resolve_checkpoint
from tests.conftest import ROOT, tiny_data_overrides
from tests.test_configs import compose_config, small_run_overrides
from tests.test_determinism import one_thread  # noqa: F401 - a fixture

# -- which checkpoint -------------------------------------------------------------------------------------------


def make_run(runs: Path, name: str, experiment: str | None, mtime: float | None, last: bool = True) -> Path:
    """A run folder as train.py leaves it: Hydra's record of the experiment and checkpoints/last.ckpt."""
    run = runs / name
    (run / ".hydra").mkdir(parents=True)
    choices = f"      experiment: {experiment}\n" if experiment else ""
    (run / ".hydra" / "hydra.yaml").write_text(f"hydra:\n  runtime:\n    choices:\n      model: pose\n{choices}")
    if last:
        ckpt = run / "checkpoints" / "last.ckpt"
        ckpt.parent.mkdir()
        torch.save({"state_dict": {}, "global_step": 0}, ckpt)  # loads (a corrupt one is skipped)
        os.utime(ckpt, (mtime, mtime))
    return run


@pytest.fixture
def runs(tmp_path) -> Path:
    runs = tmp_path / "train" / "runs"
    make_run(runs, "a_old_pose", "synthetic_pose", 1000)
    make_run(runs, "b_pose", "synthetic_pose", 2000)
    make_run(runs, "c_action_newer", "synthetic_action", 3000)
    make_run(runs, "d_pose_without_checkpoint", "synthetic_pose", None, last=False)
    return runs


def test_last_is_the_newest_run_of_the_same_experiment(runs, tmp_path):
    new_run = tmp_path / "train" / "runs" / "e_new"
    found = resolve_checkpoint("last", None, runs, new_run, "synthetic_pose")
    assert found == runs / "b_pose" / "checkpoints" / "last.ckpt"
    assert resolve_checkpoint("last", None, runs, new_run, "synthetic_action").parent.parent.name == "c_action_newer"
    assert resolve_checkpoint(None, "auto", runs, new_run, "synthetic_pose") == found
    assert find_last_checkpoint(runs) == runs / "c_action_newer" / "checkpoints" / "last.ckpt"  # any experiment


def test_last_prefers_the_runs_own_folder(runs):
    own = runs / "a_old_pose"
    assert resolve_checkpoint("last", None, runs, own, "synthetic_pose") == own / "checkpoints" / "last.ckpt"
    # A sweep's job (runs_dir None) continues only its own folder.
    assert resolve_checkpoint(None, "auto", None, own, "synthetic_pose") == own / "checkpoints" / "last.ckpt"
    assert resolve_checkpoint(None, "auto", None, runs / "d_pose_without_checkpoint", "synthetic_pose") is None


def test_nothing_to_resume(runs, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ckpt_path=last: no run of experiment 'merl_pose' under .*runs"):
        resolve_checkpoint("last", None, runs, tmp_path / "new", "merl_pose")
    with pytest.raises(FileNotFoundError, match="ckpt_path=last"):
        resolve_checkpoint("last", None, tmp_path / "no_such_folder", tmp_path / "new", None)
    assert resolve_checkpoint(None, "auto", runs, tmp_path / "new", "merl_pose") is None  # auto: start fresh
    assert resolve_checkpoint(None, None, runs, tmp_path / "new", "synthetic_pose") is None
    assert resolve_checkpoint(None, False, runs, tmp_path / "new", "synthetic_pose") is None
    with pytest.raises(ValueError, match="resume='yes'"):
        resolve_checkpoint(None, "yes", runs, tmp_path / "new", "synthetic_pose")


def test_explicit_paths(runs, tmp_path):
    ckpt = runs / "a_old_pose" / "checkpoints" / "last.ckpt"
    # An explicit path wins over resume=auto; a run folder means its last.ckpt.
    assert resolve_checkpoint(str(ckpt), "auto", runs, tmp_path / "new", "synthetic_pose") == ckpt
    assert resolve_checkpoint(str(runs / "a_old_pose"), None, runs, tmp_path / "new", None) == ckpt
    with pytest.raises(FileNotFoundError, match="missing.ckpt: checkpoint not found"):
        resolve_checkpoint(str(tmp_path / "missing.ckpt"), None, runs, tmp_path / "new", None)
    with pytest.raises(FileNotFoundError, match="no checkpoints/last.ckpt"):
        resolve_checkpoint(str(runs / "d_pose_without_checkpoint"), None, runs, tmp_path / "new", None)


def test_train_py_continues_in_the_resumed_runs_folder(tmp_path, monkeypatch):
    """`train.py ckpt_path=last` / `resume=auto` gets hydra.run.dir=<the run's folder>; other command lines don't."""
    monkeypatch.setenv("HAR_LOG_DIR", str(tmp_path))
    runs = tmp_path / "train" / "runs"
    make_run(runs, "pose", "synthetic_pose", 1000)
    make_run(runs, "action", "synthetic_action", 2000)
    conf = ROOT / "conf"
    assert continue_in_run_folder(["train.py", "ckpt_path=last"], conf)[-1] == f"hydra.run.dir='{runs / 'pose'}'"
    argv = ["train.py", "experiment=synthetic_action", "resume=auto"]
    assert continue_in_run_folder(argv, conf) == [*argv, f"hydra.run.dir='{runs / 'action'}'"]
    unchanged = [
        ["train.py"],
        ["train.py", "ckpt_path=last", "hydra.run.dir=/x"],
        ["train.py", "-m", "resume=auto"],
        ["train.py", "experiment=merl_pose", "resume=auto"],  # no run of that experiment
        ["train.py", "no_such_key=1", "resume=auto"],  # does not compose: Hydra reports it
    ]
    for argv in unchanged:
        assert continue_in_run_folder(argv, conf) == argv


# -- atomic checkpoint writes ----------------------------------------------------------------------------------

STALLED_SAVE = """
import os, sys, time, torch
from har.run.checkpoint_io import AtomicCheckpointIO
io = AtomicCheckpointIO()
io.save_checkpoint({"step": 0, "w": torch.zeros(1_000_000)}, sys.argv[1])
def stall(fd):  # the new checkpoint's bytes are written, the rename over the old one has not happened yet
    print("writing", flush=True)
    time.sleep(120)
os.fsync = stall
io.save_checkpoint({"step": 1, "w": torch.ones(1_000_000)}, sys.argv[1])
"""


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_checkpoint_whole(tmp_path):
    """A process is SIGKILLed in the middle of saving a checkpoint over an older one: the older one is still there,
    whole, and the partial write is in a file that does not end in .ckpt."""
    target = tmp_path / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen([sys.executable, "-c", STALLED_SAVE, str(target)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (partial,) = target.parent.glob(".last.ckpt.tmp-*")  # the new bytes, never renamed, under a hidden name
    assert partial.stat().st_size > 4_000_000
    ckpt = torch.load(target, weights_only=True)
    assert ckpt["step"] == 0 and torch.equal(ckpt["w"], torch.zeros(1_000_000))
    assert [p.name for p in target.parent.glob("*.ckpt")] == ["last.ckpt"]
    # The next save (a resumed run) replaces the checkpoint and removes what the killed process left.
    AtomicCheckpointIO().save_checkpoint({"step": 2}, target)
    assert torch.load(target, weights_only=True) == {"step": 2} and not partial.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]


def test_trainer_writes_checkpoints_with_atomic_io(tmp_path):
    cfg = compose_config("train", ["trainer.accelerator=cpu"], tmp_path)
    _, trainer = _build(cfg)
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)


# -- kill mid-epoch, resume -------------------------------------------------------------------------------------

STEPS_PER_EPOCH, EPOCHS, EVERY = 6, 2, 4  # a step checkpoint every 4 steps


class Progress(pl.Callback):
    """Test helper, run inside train.py: writes 'epoch global_step' after each training step, and waits at step
    ``stall_at`` so that the test's kill lands there (however slow the machine)."""

    def __init__(self, path: str, stall_at: int) -> None:
        self.path, self.stall_at = Path(path), stall_at

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{trainer.current_epoch} {trainer.global_step}")
        tmp.replace(self.path)  # the test never reads a half-written file
        if trainer.global_step == self.stall_at:
            time.sleep(120)


def small_run(tiny_coco: Path) -> list[str]:
    return [*tiny_data_overrides(tiny_coco), "data.input_size=[64,64]", "model.net.width=32", "model.net.num_blocks=1",
            "model.num_overlays=0", f"trainer.max_epochs={EPOCHS}", f"+trainer.limit_train_batches={STEPS_PER_EPOCH}",
            "+trainer.limit_val_batches=1", f"callbacks.step_checkpoint.every_n_train_steps={EVERY}", "logger=csv",
            "test=false", "callbacks.progress_bar=null"]  # fmt: skip


def train_command(tiny_coco: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), *small_run(tiny_coco), *extra]


# One intra-op thread: tiny networks run ~10× faster so on a busy 2-core machine (no spinning threads).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_to_end(command: list[str], log_dir: Path) -> None:
    env = {**os.environ, **ONE_THREAD, "HAR_LOG_DIR": str(log_dir)}
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{command} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


def checkpoint_step(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["global_step"]


@pytest.mark.usefixtures("one_thread")
def test_sigkill_mid_epoch_then_ckpt_path_last_finishes_with_the_same_step_count(tiny_coco, tmp_path):
    # Uninterrupted (in this process: the same pipeline as train.py, without a second interpreter start).
    train(compose_config("train", small_run(tiny_coco), tmp_path / "reference"))
    reference_steps = checkpoint_step(tmp_path / "reference" / "checkpoints" / "last.ckpt")
    assert reference_steps == STEPS_PER_EPOCH * EPOCHS

    # Killed (SIGKILL) in the middle of the second epoch (step 9 of 6 + 6), after the step checkpoint at step 8.
    logs, progress, kill_at = tmp_path / "killed", tmp_path / "progress.txt", 2 * EVERY + 1
    slow = [f"+callbacks.progress._target_={__name__}.Progress", f"+callbacks.progress.path={progress}",
            f"+callbacks.progress.stall_at={kill_at}"]  # fmt: skip
    env = {**os.environ, **ONE_THREAD, "HAR_LOG_DIR": str(logs)}
    proc = subprocess.Popen(train_command(tiny_coco, *slow), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        text = progress.read_text() if progress.exists() else ""
        if text and int(text.split()[1]) >= kill_at:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"train.py ended before the kill:\n{proc.stderr.read()[-3000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    epoch, step = map(int, progress.read_text().split())
    assert (epoch, step) == (1, kill_at) and step % STEPS_PER_EPOCH != 0, "the kill must land mid-epoch"
    (run,) = (logs / "train" / "runs").iterdir()
    assert checkpoint_step(run / "checkpoints" / "last.ckpt") == 2 * EVERY  # the mid-epoch step checkpoint
    assert not (run / "metrics.json").exists()

    # Resumed without a path: continues in the same folder and ends at the uninterrupted run's step count.
    run_to_end(train_command(tiny_coco, "ckpt_path=last"), logs)
    assert [p.name for p in (logs / "train" / "runs").iterdir()] == [run.name]
    assert checkpoint_step(run / "checkpoints" / "last.ckpt") == reference_steps
    assert (run / "metrics.json").is_file()
    (resume,) = json.loads((run / "resume.json").read_text())
    assert resume["global_step"] == 2 * EVERY and resume["ckpt_path"].endswith("last.ckpt")
    # The CSV rows from before the kill are kept, beside those of the resumed part.
    assert (run / "csv" / "metrics.0.csv").is_file() and (run / "csv" / "metrics.csv").is_file()
    # Every checkpoint is whole and loads with weights_only=True: plain containers in the hyper-parameters.
    ckpts = sorted(run.glob("**/*.ckpt"))
    assert {p.name for p in ckpts} >= {"last.ckpt"} and any(p.name.startswith("epoch_") for p in ckpts)
    for path in ckpts:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        assert isinstance(ckpt["hyper_parameters"]["net"], dict)


@pytest.mark.usefixtures("one_thread")
def test_action_module_checkpoint_loads_weights_only(tiny_merl, tmp_path):
    """The other LightningModule: its checkpoint (hyper-parameters, callback and loop states) loads with
    torch.load(weights_only=True) and back into an ActionModule."""
    overrides = ["experiment=synthetic_action", "trainer.max_epochs=1", "+trainer.limit_train_batches=1",
                 "+trainer.limit_val_batches=1", "test=false", "logger=csv", "model.pose_net.num_blocks=1"]  # fmt: skip
    cfg = compose_config("train", overrides, tmp_path)
    cfg = compose_config("train", [*overrides, *small_run_overrides(cfg, None, tiny_merl)], tmp_path)
    train(cfg)
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert isinstance(ckpt["hyper_parameters"]["classes"], list) and ckpt["global_step"] == 1
    ActionModule.load_from_checkpoint(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def test_best_validation_value_is_part_of_the_checkpoint():
    """val/*_best continues across a resume: the running maximum is saved with the weights and restored."""
    from har.lit.pose import PoseModule

    def module():
        net = {"num_joints": 17, "num_blocks": 1, "width": 32, "input_size": [64, 64]}
        return PoseModule(net=net, optimizer={"_target_": "torch.optim.SGD", "lr": 0.1})

    trained = module()
    trained.val_best(torch.tensor(0.7))
    trained.val_best(torch.tensor(0.4))
    restored = module()
    restored.load_state_dict(trained.state_dict())
    assert restored.val_best.compute().item() == pytest.approx(0.7)


@pytest.mark.usefixtures("one_thread")
def test_a_resumed_run_keeps_the_best_validation_value_of_its_checkpoint(tiny_coco, tmp_path):
    """The restored running maximum survives the start of the resumed training (nothing resets it then): a best
    planted in the checkpoint, above any reachable PCK, is still the best the resumed run logs and writes."""
    first = compose_config("train", [*small_run(tiny_coco), "trainer.max_epochs=1"], tmp_path / "first")
    train(first)
    ckpt = torch.load(tmp_path / "first" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert 0.0 <= float(ckpt["state_dict"]["val_best.max_value"]) <= 1.0
    ckpt["state_dict"]["val_best.max_value"] = torch.tensor(2.0)  # no PCK reaches it
    torch.save(ckpt, tmp_path / "planted.ckpt")
    resumed = compose_config("train", [*small_run(tiny_coco), "trainer.max_epochs=2",
                                       f"ckpt_path={tmp_path / 'planted.ckpt'}"], tmp_path / "resumed")  # fmt: skip
    train(resumed)
    metrics = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert metrics["val/pck@0.2_best"] == pytest.approx(2.0)
    assert metrics["val/pck@0.2"] <= 1.0  # the resumed epoch did validate
