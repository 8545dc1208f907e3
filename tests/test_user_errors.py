"""User mistakes end in one line and exit status 2, before anything is built (issue 15, points 2, 3 and 8): missing
data for every datamodule form, wrong value types, missing or wrong checkpoints and inputs; a failed run leaves no
run folder; ``experiment=nope`` is reported before torch is imported; ``predict.py ckpt_path=last``.

The one-line messages asserted here are those the README's "Mistakes har catches" table quotes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from har.errors import EXIT_USER_ERROR, MissingFileError, UserError
from har.run.checks import check_run_config, warn_missing_pose_checkpoint
from tests.conftest import ROOT
from tests.test_configs import compose_config

ENV = {**os.environ, "HYDRA_FULL_ERROR": "", "NO_ALBUMENTATIONS_UPDATE": "1", "WANDB_MODE": "offline"}


def run_script(script: str, log_dir: Path, *overrides: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / script), *overrides], cwd=ROOT, capture_output=True, text=True,
                          env={**ENV, "HAR_LOG_DIR": str(log_dir), **(env or {})}, timeout=300)  # fmt: skip


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The error line of a run stopped by a UserError (status 2, no traceback)."""
    assert proc.returncode == EXIT_USER_ERROR, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def run_probed(script: str, log_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    """``run_script``, also printing ``RESULT <exit status> <torch imported> <lightning imported>`` at the end."""
    probe = (
        "import runpy, sys\n"
        f"sys.argv = [{str(ROOT / script)!r}, *{list(overrides)!r}]\n"
        "code = 0\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "print('RESULT', code, 'torch' in sys.modules, 'lightning' in sys.modules)\n"
    )
    return subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          env={**ENV, "HAR_LOG_DIR": str(log_dir)}, timeout=120)  # fmt: skip


def test_unknown_experiment_is_reported_before_torch_is_imported(tmp_path):
    proc = run_probed("train.py", tmp_path, "experiment=nope")
    assert "Could not find 'experiment/nope'" in proc.stderr
    assert "RESULT 1 False False" in proc.stdout, proc.stdout + proc.stderr


def test_missing_coco_data_is_one_line_before_the_model_and_leaves_no_run_folder(tmp_path):
    proc = run_script("train.py", tmp_path, "experiment=coco_pose", f"data.root={tmp_path}/coco", "trainer=cpu")
    line = one_line_error(proc)
    assert line.startswith(f"error: data.root={tmp_path}/coco: no such folder; expected ")
    assert "annotations/person_keypoints_{train2017,val2017}.json" in line and "Training on COCO" in line
    assert "try experiment=synthetic_pose" in line
    assert "parameters" not in proc.stdout  # the model was never built (its size is logged when it is)
    assert not list((tmp_path / "train" / "runs").glob("*")), "a failed run left its folder"


def test_a_full_traceback_with_hydra_full_error(tmp_path):
    proc = run_script("evaluate.py", tmp_path, f"ckpt_path={tmp_path}/none.ckpt", env={"HYDRA_FULL_ERROR": "1"})
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "MissingFileError" in proc.stderr


def test_evaluate_and_predict_missing_checkpoint_and_input(tmp_path):
    """Reported before torch is imported (in ~2 s instead of after ~10 s of imports)."""
    proc = run_probed("evaluate.py", tmp_path, f"ckpt_path={tmp_path}/none.ckpt")
    assert f"RESULT {EXIT_USER_ERROR} False False" in proc.stdout, proc.stdout + proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: ckpt_path={tmp_path}/none.ckpt: checkpoint not found; try ckpt_path=PATH (a .ckpt file or a run "
        "folder), or ckpt_path=last"]  # fmt: skip
    proc = run_probed("predict.py", tmp_path, "ckpt_path=last", "input=photo.jpg")
    assert f"RESULT {EXIT_USER_ERROR} False False" in proc.stdout, proc.stdout + proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert line.startswith(f"error: ckpt_path=last: no run under {tmp_path}/train/runs has checkpoints/last.ckpt")
    assert not list((tmp_path / "predict" / "runs").glob("*")) and not list((tmp_path / "eval" / "runs").glob("*"))


def _pose_checkpoint_in_a_run(log_dir: Path) -> Path:
    from tests.test_predict import save_pose_checkpoint

    run = log_dir / "train" / "runs" / "2026-01-01_00-00-00"
    (run / "checkpoints").mkdir(parents=True)
    return save_pose_checkpoint(run / "checkpoints" / "last.ckpt")


def test_predict_ckpt_path_last_is_the_newest_training_runs_checkpoint(tmp_path):
    ckpt = _pose_checkpoint_in_a_run(tmp_path)
    photo = ROOT / "tests" / "data" / "astronaut.jpg"
    proc = run_script("predict.py", tmp_path, "ckpt_path=last", f"input={photo}", "overlays=false",
                      "trainer.accelerator=cpu")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"ckpt_path=last: {ckpt}" in proc.stdout
    (out,) = (tmp_path / "predict" / "runs").glob("*/predictions.json")
    assert json.loads(out.read_text())[0]["keypoints"]
    line = one_line_error(run_script("predict.py", tmp_path, "ckpt_path=last", f"input={tmp_path}/none.jpg"))
    assert line.startswith(f"error: input={tmp_path}/none.jpg: not found; expected an image, a folder of images")


def test_an_action_checkpoint_given_to_pose_evaluate_names_the_file_and_what_it_is(tmp_path):
    from tests.test_predict import save_action_checkpoint

    ckpt = save_action_checkpoint(tmp_path / "action.ckpt")
    line = one_line_error(run_script("evaluate.py", tmp_path, f"ckpt_path={ckpt}"))
    assert line == f"error: {ckpt} is an action checkpoint (5 classes); evaluate.py with experiment=synthetic_pose " \
                   "needs a pose checkpoint"  # fmt: skip


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.optimizer.lr=abc", "model.optimizer.lr='abc': not a number; expected a number for "
                                   "torch.optim.RMSprop's lr; try model.optimizer.lr=0.01"),
        ("trainer.max_epochs=ten", "trainer.max_epochs='ten': not a number"),
        ("data.batch_size=big", "data.batch_size='big': not a number"),
        ("seed=x", "seed='x': not an integer"),
    ],
)  # fmt: skip
def test_values_of_the_wrong_type_are_named(override, message, tmp_path):
    with pytest.raises(UserError) as err:
        check_run_config(compose_config("train", [override], tmp_path))
    assert err.value.one_line().startswith(message)


def test_the_shipped_experiments_pass_the_type_checks(tmp_path):
    from tests.test_configs import EXPERIMENTS

    for experiment in EXPERIMENTS:  # debug=fdr: fast_dev_run true (annotated int or bool)
        check_run_config(compose_config("train", [f"experiment={experiment}", "debug=fdr"], tmp_path))
    for debug in ("limit", "overfit", "profiler"):
        check_run_config(compose_config("train", [f"debug={debug}", "trainer=ddp_sim"], tmp_path))


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        ("coco", "no such folder"),
        ("merl_pose", "no such folder"),
        ("merl_action", "no such folder"),
        ("merl_videos", "no such folder"),
        ("merl_multitask", "no such folder"),
    ],
)
def test_every_datamodule_form_checks_its_root(data, missing, tmp_path):
    from hydra.utils import instantiate

    cfg = compose_config("train", [f"data={data}", f"paths.data_dir={tmp_path}/data"], tmp_path)
    datamodule = instantiate(cfg.data, _convert_="all")
    with pytest.raises(MissingFileError) as err:
        datamodule.check(("fit", "test"))
    line = err.value.one_line()
    assert (
        missing in line and "expected " in line and "README.md, section" in line and "try experiment=synthetic_" in line
    )


def test_a_missing_split_file_is_named(tmp_path):
    from har.data.datamodules.merl_action import MerlActionDataModule

    (tmp_path / "merl_action_train.json").write_text("[]")
    dm = MerlActionDataModule(root=str(tmp_path))
    with pytest.raises(
        MissingFileError, match=f"a clip JSON file \\(data.files\\) not found: {tmp_path}/merl_action_val.json"
    ):
        dm.check(("fit",))


def test_action_training_on_real_data_without_a_pose_checkpoint_warns(tmp_path, caplog):
    warn_missing_pose_checkpoint(compose_config("train", ["experiment=merl_action"], tmp_path))
    assert "model.pose_ckpt is not set" in caplog.text
    caplog.clear()
    warn_missing_pose_checkpoint(compose_config("train", ["experiment=synthetic_action"], tmp_path))
    cfg = compose_config("train", ["experiment=merl_action", "model.pose_ckpt=pose.ckpt"], tmp_path)
    warn_missing_pose_checkpoint(cfg)
    assert "pose_ckpt" not in caplog.text
    assert OmegaConf.select(cfg, "model.pose_ckpt") == "pose.ckpt"
