"""bench/synthetic_action.py: its log parsing, and (slow) the preset itself: ``experiment=synthetic_action`` must
reach val acc >= 0.9 (README; issue 15 point 9). The slow test catches a regression of the action path's learning;
the time it took is in the bench's JSON (on a shared machine it is not the preset's)."""

import pytest

from bench.synthetic_action import TARGET_ACC, epoch_end_times, main, read_epochs


def test_epochs_and_their_end_times_are_read_from_the_run(tmp_path):
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "metrics.csv").write_text(
        "epoch,step,train/loss,val/acc\n0,9,1.5,\n0,9,,0.25\n1,19,1.2,\n1,19,,0.9\n"
    )
    assert read_epochs(tmp_path) == [{"epoch": 0, "val_acc": 0.25}, {"epoch": 1, "val_acc": 0.9}]
    log = tmp_path / "train.log"
    log.write_text(
        "[2026-12-02 10:00:10,500][har.run.progress][INFO] - epoch 0 step 9/9 (global 9, 1.00 steps/s)\n"
        "[2026-12-02 10:00:12,300][har.run.progress][INFO] - validation, epoch 0: val/acc=0.25\n"
        "[2026-12-02 10:01:00,000][har.run.progress][INFO] - validation, epoch 1: val/acc=0.9\n"
    )
    import time

    start = time.mktime(time.strptime("2026-12-02 10:00:00", "%Y-%m-%d %H:%M:%S"))
    assert epoch_end_times(log, start) == [12.3, 60.0]


@pytest.mark.slow
def test_synthetic_action_reaches_the_readme_accuracy(tmp_path):
    result = main(["--seeds", "1", "--out", str(tmp_path)])
    (run,) = result["runs"]
    assert run["val_acc_best"] >= TARGET_ACC, run
