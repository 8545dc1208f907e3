"""Faults around files (issue 15, point 10): a run folder held by a live run, a corrupt newest ``last.ckpt``,
empty / truncated / foreign / other-task checkpoints in every tool, temporaries left by killed writers, MERL pickles.
"""

import json
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from har.checkpoints import CheckpointError, read_checkpoint
from har.errors import BadInputError, UserError
from har.run.lock import LOCK_NAME, check_run_folder_free, hold_run_folder
from har.run.resume import continue_in_run_folder, resolve_checkpoint
from har.utils.io import temporary_sibling
from tests.conftest import ROOT
from tests.test_resume import make_run
from tests.test_user_errors import one_line_error, run_script


@pytest.fixture(scope="module")
def live_process():
    """A process that is alive for the module's tests (a run holding a folder, as far as the lock can tell)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_lock(run_dir: Path, pid: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    from har.run.lock import HOST

    (run_dir / LOCK_NAME).write_text(json.dumps({"host": HOST, "pid": pid, "started": "2026-01-01 00:00:00"}))


# -- one live run per folder -----------------------------------------------------------------------------------


def test_a_folder_held_by_a_live_run_is_refused_and_a_stale_lock_taken_over(tmp_path, live_process, caplog):
    write_lock(tmp_path / "held", live_process)
    with pytest.raises(UserError, match=f"{tmp_path / 'held'} is in use: a run \\(process {live_process}, started"):
        check_run_folder_free(tmp_path / "held")
    write_lock(tmp_path / "stale", dead_pid())
    with caplog.at_level(logging.INFO), hold_run_folder(tmp_path / "stale"):
        assert json.loads((tmp_path / "stale" / LOCK_NAME).read_text())["pid"] == os.getpid()
        check_run_folder_free(tmp_path / "stale")  # held by this process: not "another live run"
    assert "taking over the lock of a run that is no longer running" in caplog.text
    assert not (tmp_path / "stale" / LOCK_NAME).exists()  # released


def test_train_py_into_a_held_folder_is_refused_before_hydra_writes_into_it(tmp_path, live_process):
    write_lock(tmp_path / "run", live_process)
    line = one_line_error(run_script("train.py", tmp_path, f"hydra.run.dir={tmp_path / 'run'}"))
    assert line.startswith(f"error: {tmp_path / 'run'} is in use: a run (process {live_process}")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [LOCK_NAME]  # no .hydra/, no log


def test_continuing_a_held_run_is_refused(tmp_path, live_process, monkeypatch):
    monkeypatch.setenv("HAR_LOG_DIR", str(tmp_path))
    run = make_run(tmp_path / "train" / "runs", "pose", "synthetic_pose", 1000)
    write_lock(run, live_process)
    with pytest.raises(UserError, match="is in use"):
        continue_in_run_folder(["train.py", "ckpt_path=last"], ROOT / "conf")


# -- a corrupt newest checkpoint -------------------------------------------------------------------------------


def test_a_corrupt_last_ckpt_falls_back_to_the_newest_checkpoint_that_loads(tmp_path, caplog, monkeypatch):
    runs = tmp_path / "train" / "runs"
    older = make_run(runs, "older", "synthetic_pose", 1000)
    newer = make_run(runs, "newer", "synthetic_pose", 3000)
    last = newer / "checkpoints" / "last.ckpt"
    epoch = newer / "checkpoints" / "epoch_001.ckpt"
    torch.save({"state_dict": {}, "global_step": 5}, epoch)
    os.utime(epoch, (2000, 2000))
    last.write_bytes(last.read_bytes()[:100])  # truncated
    os.utime(last, (3000, 3000))
    assert resolve_checkpoint("last", None, runs, tmp_path / "new", "synthetic_pose") == epoch
    assert f"cannot continue from {last}: not a readable PyTorch checkpoint" in caplog.text
    assert f"continuing from {epoch} instead, the newest checkpoint that loads" in caplog.text
    assert resolve_checkpoint("last", None, runs, newer, "synthetic_pose") == epoch  # a restart in its folder
    epoch.write_bytes(b"")  # now nothing of the newer run loads: the older run's, whose folder train.py then uses
    assert (
        resolve_checkpoint(None, "auto", runs, tmp_path / "new", "synthetic_pose")
        == older / "checkpoints" / "last.ckpt"
    )
    monkeypatch.setenv("HAR_LOG_DIR", str(tmp_path))
    hydra_record = (newer / ".hydra" / "hydra.yaml").read_text()
    assert continue_in_run_folder(["train.py", "ckpt_path=last"], ROOT / "conf")[-1] == f"hydra.run.dir='{older}'"
    assert (newer / ".hydra" / "hydra.yaml").read_text() == hydra_record
    (older / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    os.utime(older / "checkpoints" / "last.ckpt", (1000, 1000))
    with pytest.raises(
        BadInputError, match=f"ckpt_path=last: no checkpoint loads \\(3 tried; the newest: {epoch}: an empty file"
    ):
        resolve_checkpoint("last", None, runs, tmp_path / "new", "synthetic_pose")


# -- bad checkpoints in every tool -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_checkpoints(tmp_path_factory) -> dict[str, Path]:
    from tests.test_predict import save_action_checkpoint

    folder = tmp_path_factory.mktemp("bad_ckpts")
    (folder / "empty.ckpt").write_bytes(b"")
    torch.save({"state_dict": {"w": torch.zeros(1000)}, "hyper_parameters": {}}, folder / "whole.ckpt")
    (folder / "truncated.ckpt").write_bytes((folder / "whole.ckpt").read_bytes()[:200])
    torch.save({"model": torch.zeros(3)}, folder / "foreign.ckpt")
    return {"empty": folder / "empty.ckpt", "truncated": folder / "truncated.ckpt", "foreign": folder / "foreign.ckpt",
            "action": save_action_checkpoint(folder / "action.ckpt")}  # fmt: skip


EXPECTED = {
    "empty": "{}: an empty file (0 bytes), not a checkpoint; was its writer killed?",
    "truncated": "{}: not a readable PyTorch checkpoint (",
    "foreign": "{}: not a Lightning checkpoint (no state_dict)",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_bad_checkpoints_name_the_file_and_what_it_is(bad_checkpoints, kind):
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(bad_checkpoints[kind])
    assert err.value.one_line().startswith(EXPECTED[kind].format(bad_checkpoints[kind]))


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        (["predict.py", "ckpt_path={}", f"input={ROOT / 'tests/data/astronaut.jpg'}"], "empty"),
        (["predict.py", "ckpt_path={}", f"input={ROOT / 'tests/data/astronaut.jpg'}"], "truncated"),
        (["evaluate.py", "ckpt_path={}"], "foreign"),
        (["-m", "har.tools.export_onnx", "ckpt_path={}", "out={}.onnx"], "truncated"),
        (["-m", "har.tools.merge_action_head", "head={}", "out={}.merged"], "empty"),
    ],
)
def test_every_tool_reports_a_bad_checkpoint_in_one_line(command, kind, bad_checkpoints, tmp_path):
    path = bad_checkpoints[kind]
    args = [a.format(path) for a in command]
    script = args.pop(0)
    if script == "-m":
        proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "HYDRA_FULL_ERROR": ""})  # fmt: skip
    else:
        proc = run_script(script, tmp_path, *args)
    assert one_line_error(proc).startswith("error: " + EXPECTED[kind].format(path))


# -- temporaries of killed writers -----------------------------------------------------------------------------


def test_temporaries_of_a_killed_generation_are_removed_on_the_next_start(tmp_path):
    from har.data.datamodules.coco import CocoPoseDataModule
    from har.utils import io

    root = tmp_path / "synthetic_coco"
    gone = dead_pid()
    left = [temporary_sibling(root).with_name(f".synthetic_coco{io.TMP_MARK}{io._HOST}_{gone}-0badc0de"),
            tmp_path / f".meta.json{io.TMP_MARK}{io._HOST}_{gone}-12345678"]  # fmt: skip
    left[0].mkdir()
    left[1].write_text("{")
    alive = temporary_sibling(tmp_path / "other")  # this process's: being written, kept
    alive.mkdir()
    dm = CocoPoseDataModule(root=str(root), synthetic={"num_train": 2, "num_val": 2, "seed": 0}, num_workers=0)
    dm.prepare_data()
    assert not any(p.exists() for p in left) and alive.exists()
    assert (root / "annotations" / "person_keypoints_train2017.json").is_file()


# -- MERL pickles ----------------------------------------------------------------------------------------------


def test_a_merl_pickle_warns_each_time_and_a_pickle_named_json_says_so(tmp_path, caplog):
    from har.data.formats.merl_pose import read_records

    records = [{"img_paths": "a.jpg", "bbox": [0, 0, 10, 10]}]
    (tmp_path / "pose.pkl").write_bytes(pickle.dumps(records))
    for _ in range(2):
        assert read_records(tmp_path / "pose.pkl", allow_pickle=True) == records
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "reading a pickle" in r.getMessage()]
    assert len(warnings) == 2 and all(str(tmp_path / "pose.pkl") in r.getMessage() for r in warnings)
    (tmp_path / "pose.json").write_bytes(pickle.dumps(records))
    with pytest.raises(BadInputError) as err:
        read_records(tmp_path / "pose.json")
    assert err.value.one_line().startswith(
        f"{tmp_path / 'pose.json'} is a pickle (named .json), not JSON; see "
        "README.md, section \u201cMERL Shopping\u201d; try converting it: "
    )
