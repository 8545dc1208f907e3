"""Weights & Biases: offline on its own when there are no credentials (saying how to sync), everything logged lands
in the run folder (metrics, learning rate, config with parameter counts, pose overlays, the action confusion matrix
as an image and a table), and a resumed run continues the same W&B run id."""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from har.run.pipeline import _resume_checkpoint
from har.utils.wandb import RUN_FILE, choose_offline, has_credentials, wandb_logger
from tests.conftest import ROOT, tiny_data_overrides
from tests.test_configs import compose_config
from tests.test_resume import ONE_THREAD


@pytest.fixture
def no_credentials(tmp_path, monkeypatch) -> dict[str, str]:
    """An environment with no W&B key anywhere (no env var, empty netrc, a fresh home), WANDB_MODE unset."""
    for key in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "home").mkdir()
    (tmp_path / "netrc").write_text("machine example.com login user password secret\n")
    env = {"HOME": str(tmp_path / "home"), "NETRC": str(tmp_path / "netrc"), "WANDB_CONFIG_DIR": str(tmp_path / "cfg")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_credentials_decide_online_or_offline(no_credentials, tmp_path, monkeypatch):
    assert not has_credentials() and choose_offline() == (True, "no W&B credentials")
    assert choose_offline(False) == (False, "logger.wandb.offline=False")  # explicit wins
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    assert has_credentials() and choose_offline() == (False, "W&B credentials found")  # `wandb login` writes this
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert choose_offline() == (True, "WANDB_MODE=offline")
    monkeypatch.setenv("WANDB_MODE", "online")
    (tmp_path / "netrc").write_text("")
    assert choose_offline() == (False, "WANDB_MODE=online")
    monkeypatch.setenv("WANDB_MODE", "disabled")  # left to wandb, which then logs nothing
    assert choose_offline() == (False, "WANDB_MODE=disabled")
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert choose_offline() == (False, "W&B credentials found")


def test_offline_logger_records_its_run_id_and_a_resumed_one_reuses_it(no_credentials, tmp_path, caplog):
    first = wandb_logger(save_dir=str(tmp_path / "run1"), log_model=True)
    record = json.loads((tmp_path / "run1" / RUN_FILE).read_text())
    assert record["offline"] and first._wandb_init["id"] == record["id"] and first._log_model is False
    assert f"no W&B credentials: logging offline to {tmp_path / 'run1' / 'wandb'}" in caplog.text
    assert "sync later with `wandb sync" in caplog.text
    resumed = wandb_logger(save_dir=str(tmp_path / "run2"), resume_from=str(tmp_path / "run1"))
    assert resumed._wandb_init["id"] == record["id"] and resumed._wandb_init["resume"] == "allow"
    assert wandb_logger(save_dir=str(tmp_path / "run3"))._wandb_init["id"] != record["id"]


def test_online_logger_uploads_only_the_best_checkpoints(no_credentials, tmp_path, monkeypatch):
    """With credentials, checkpoints go up as artifacts (log_model), those of the monitored callback only: not
    last.ckpt, which is written every N steps."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    logger = wandb_logger(save_dir=str(tmp_path), log_model=True)
    assert logger._log_model is True and not json.loads((tmp_path / RUN_FILE).read_text())["offline"]
    best, last = ModelCheckpoint(monitor="val/acc"), ModelCheckpoint(monitor=None, filename="last")
    logger.after_save_checkpoint(best)
    logger.after_save_checkpoint(last)
    assert list(logger._checkpoint_callbacks.values()) == [best]


def test_resuming_points_the_wandb_logger_at_the_resumed_run(no_credentials, tmp_path):
    """train()'s resume step: ckpt_path=<a run> makes logger.wandb continue that run's W&B id."""
    old = tmp_path / "old_run"
    (old / "checkpoints").mkdir(parents=True)
    torch.save({"global_step": 7}, old / "checkpoints" / "last.ckpt")
    (old / RUN_FILE).write_text(json.dumps({"id": "abc12345"}))
    cfg = compose_config("train", ["logger=wandb", f"ckpt_path={old}"], tmp_path / "new_run")
    assert _resume_checkpoint(cfg) == old / "checkpoints" / "last.ckpt"
    assert instantiate(cfg.logger.wandb)._wandb_init["id"] == "abc12345"
    (resume,) = json.loads((tmp_path / "new_run" / "resume.json").read_text())
    assert resume["global_step"] == 7 and resume["ckpt_path"] == str(old / "checkpoints" / "last.ckpt")


# -- the run folder after `train.py logger=wandb` --------------------------------------------------------------


def wandb_records(path: Path):
    """The records of a W&B transaction log (``run-<id>.wandb``): a ':W&B' header, then LevelDB-log-framed
    protobuf ``Record``s (7-byte chunk headers: crc, length, type; 32 KiB blocks)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", path
    pos, block, buf = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk  # 1 full, 2 first, 3 middle, 4 last
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(buf)
            yield record


def logged(run_dir: Path) -> tuple[list[dict], dict]:
    """(history rows, config) of a W&B offline run folder; nested values (media) under flat 'a/b' keys."""
    rows, config = [], {}
    for record in wandb_records(next(run_dir.glob("run-*.wandb"))):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            rows.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item})
        elif kind == "config":
            config.update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.config.update})
    return rows, config


def run_train(env: dict, *overrides: str) -> str:
    env = {**env, **ONE_THREAD}
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, f"train.py failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout + proc.stderr


def test_pose_run_without_credentials_logs_offline_into_the_run_folder(no_credentials, tiny_coco, tmp_path):
    env = {**os.environ, **no_credentials}
    small = [*tiny_data_overrides(tiny_coco), "data.input_size=[64,64]", "model.net.width=32", "model.net.num_blocks=1",
             "model.num_overlays=4", "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2", "test=false",
             "logger=wandb", f"hydra.run.dir={tmp_path / 'run'}", "callbacks.progress_bar=null"]  # fmt: skip
    out = run_train(env, *small, "trainer.max_epochs=1")
    run = tmp_path / "run"
    run_id = json.loads((run / RUN_FILE).read_text())["id"]
    (offline,) = (run / "wandb").glob(f"offline-run-*-{run_id}")
    assert f"no W&B credentials: logging offline to {run / 'wandb'}" in out and f"wandb sync {offline}" in out
    # Metrics, learning rate and overlays in the history; config and parameter counts in the config.
    rows, config = logged(offline)
    keys = set().union(*rows)
    assert {"train/loss_epoch", "val/pck@0.2", "val/oks_ap", "lr-RMSprop", "trainer/global_step"} <= keys
    assert config["model/params_total"] > 0 and config["model"]["net"]["width"] == 32
    (overlay_row,) = [r for r in rows if "val/overlays/_type" in r]
    assert overlay_row["val/overlays/count"] == 1 and overlay_row["trainer/global_step"] == 3
    assert list((offline / "files" / "media" / "images" / "val").glob("overlays_*.png"))

    # Continued (one more epoch): the same folder, the same W&B run id, steps carrying on.
    run_train(env, *small, "trainer.max_epochs=2", "ckpt_path=last")
    parts = sorted((run / "wandb").glob("offline-run-*"))
    assert len(parts) == 2 and all(p.name.endswith(f"-{run_id}") for p in parts)
    rows = logged(parts[1])[0]
    assert {r["epoch"] for r in rows if "epoch" in r} == {1}
    assert max(r["trainer/global_step"] for r in rows if "trainer/global_step" in r) == 6


def test_action_confusion_matrix_reaches_wandb_as_image_and_table(tiny_merl, tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline"}
    out = run_train(env, "experiment=synthetic_action", "logger=wandb", f"hydra.run.dir={tmp_path}",
                    f"data.action.root={tiny_merl / 'action'}", f"data.pose.root={tiny_merl / 'pose'}",
                    "data.action.synthetic=null", "data.pose.synthetic=null", "data.action.num_frames=4",
                    "data.action.input_size=[64,64]", "data.action.batch_size=2", "data.action.num_workers=0",
                    "data.action.persistent_workers=false", "data.pose.batch_size=2", "data.pose.num_workers=0",
                    "data.pose.persistent_workers=false", "model.pose_net.width=32", "model.pose_net.num_blocks=1",
                    "trainer.max_epochs=1", "+trainer.limit_train_batches=1", "+trainer.limit_val_batches=2",
                    "test=false", "callbacks.progress_bar=null")  # fmt: skip
    assert "WANDB_MODE=offline: logging offline to" in out
    (offline,) = (tmp_path / "wandb").glob("offline-run-*")
    media = offline / "files" / "media"
    assert list((media / "images" / "val").glob("confusion_*.png"))
    (table_file,) = (media / "table" / "val").glob("confusion_table_*.table.json")
    table = json.loads(table_file.read_text())
    assert table["columns"][0] == "true \\ predicted" and len(table["data"]) == len(table["columns"]) - 1 == 5
    # The same counts as the CSV written beside the PNG.
    (csv_file,) = (tmp_path / "confusion").glob("val_*.csv")
    csv_rows = [line.split(",") for line in csv_file.read_text().splitlines()[1:]]
    assert [[str(v) for v in row] for row in table["data"]] == csv_rows
