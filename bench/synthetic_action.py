"""Does ``python train.py experiment=synthetic_action`` still learn? N seeds, each a full training run (or a shorter
one with ``--epochs`` and overrides), each timed: val accuracy per epoch, the best, the test accuracy, the wall time
and the time at which the validation accuracy first reached the target (0.9), from the run's CSV log and the
checkpoint-callback's epoch ends.

The README's claim: val acc >= 0.9 within 10 minutes for 3 seeds out of 3 on an idle 2-core CPU. A readable table is
printed, then, as the last line, one JSON object with every figure (and the load average: on a shared machine the
times are not the preset's)::

    python -m bench.synthetic_action                          # 3 seeds (1, 2, 3), the full preset
    python -m bench.synthetic_action --seeds 7 --epochs 4     # a shorter check
    python -m bench.synthetic_action --seeds 1 -- trainer.deterministic=true
    python -m bench.synthetic_action --until-target            # each run stops at val acc >= 0.9, or at 10 min

``--until-target`` checks the claim at the least cost: each run ends at the first validation with val acc >= 0.9
(Lightning's ``EarlyStopping`` with ``stopping_threshold``) or after 10 minutes of training (``trainer.max_time``),
then tests its best checkpoint as usual.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import command_line, machine_info, print_json_line, print_table  # noqa: E402

TARGET_ACC = 0.9
TARGET_S = 600.0


def read_epochs(run_dir: Path) -> list[dict]:
    """Per epoch of a run: ``epoch``, ``val_acc`` (rows of ``csv/metrics.csv`` with a val/acc)."""
    rows = []
    for path in sorted((run_dir / "csv").glob("metrics*.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                if row.get("val/acc"):
                    rows.append({"epoch": int(float(row["epoch"])), "val_acc": float(row["val/acc"])})
    return sorted(rows, key=lambda r: r["epoch"])


def epoch_end_times(log_file: Path, start: float) -> list[float]:
    """Seconds from ``start`` at which each validation ended: the progress lines of the run's log (line mode)."""
    times = []
    if not log_file.is_file():
        return times
    for line in log_file.read_text().splitlines():
        if "[har.run.progress]" in line and " - validation, epoch " in line:
            stamp = time.mktime(time.strptime(line[1:20], "%Y-%m-%d %H:%M:%S")) + float("0." + line[21:24])
            times.append(round(stamp - start, 1))
    return times


def run_seed(seed: int, out: Path, overrides: list[str], timeout_s: float) -> dict:
    """One training run of the preset with ``seed`` into ``out``; its figures."""
    command = [sys.executable, str(REPO / "train.py"), "experiment=synthetic_action", f"seed={seed}",
               f"hydra.run.dir={out}", "callbacks.progress_bar.mode=lines", *overrides]  # fmt: skip
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "WANDB_MODE": "offline"}
    start = time.time()
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s)
    wall = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError(f"seed {seed}: train.py failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    epochs = read_epochs(out)
    ends = epoch_end_times(out / "train.log", start)
    reached = next((i for i, e in enumerate(epochs) if e["val_acc"] >= TARGET_ACC), None)
    return {
        "seed": seed,
        "wall_s": round(wall, 1),
        "val_acc_best": metrics.get("val/acc_best"),
        "test_acc": metrics.get("test/acc"),
        "val_acc_per_epoch": [round(e["val_acc"], 4) for e in epochs],
        "epoch_end_s": ends,
        "target_epoch": epochs[reached]["epoch"] if reached is not None else None,
        "target_s": ends[reached] if reached is not None and reached < len(ends) else None,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=None, help="trainer.max_epochs (default: the preset's)")
    parser.add_argument("--out", type=Path, default=None, help="run folders here (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per seed before giving up")
    until = f"stop each run at val acc >= {TARGET_ACC} or after {TARGET_S:.0f} s of training"
    parser.add_argument("--until-target", action="store_true", help=until)
    parser.add_argument("overrides", nargs="*", help="more train.py overrides (after --)")
    args = parser.parse_args(argv)
    overrides = list(args.overrides) + ([f"trainer.max_epochs={args.epochs}"] if args.epochs else [])
    if args.until_target:
        minutes = int(TARGET_S // 60)
        overrides += [f'+trainer.max_time="00:00:{minutes:02d}:00"',
                      "+callbacks.until_target._target_=lightning.pytorch.callbacks.EarlyStopping",
                      "+callbacks.until_target.monitor=val/acc", "+callbacks.until_target.mode=max",
                      f"+callbacks.until_target.stopping_threshold={TARGET_ACC}",
                      "+callbacks.until_target.patience=1000"]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="har_bench_action_") as tmp:
        root = args.out or Path(tmp)
        load_before = [round(x, 2) for x in os.getloadavg()]
        runs = [run_seed(s, root / f"seed_{s}", overrides, args.timeout) for s in args.seeds]
    rows = [(r["seed"], r["val_acc_best"] and round(r["val_acc_best"], 4), r["test_acc"] and round(r["test_acc"], 4),
             r["wall_s"], r["target_epoch"], r["target_s"]) for r in runs]  # fmt: skip
    print_table(["seed", "val acc (best)", "test acc", "wall s", f"epoch val>={TARGET_ACC}", "at s"], rows,
                "synthetic_action: " + " ".join(["experiment=synthetic_action", *overrides]))  # fmt: skip
    met = [r["target_s"] is not None and r["target_s"] <= TARGET_S for r in runs]
    result = {
        "bench": "synthetic_action",
        "command": command_line("bench.synthetic_action", argv),
        "overrides": overrides,
        "runs": runs,
        "median_val_acc_best": statistics.median(r["val_acc_best"] for r in runs),
        "median_test_acc": statistics.median(r["test_acc"] for r in runs),
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        f"seeds_reaching_{TARGET_ACC}_within_{int(TARGET_S)}s": f"{sum(met)}/{len(runs)}",
        "load_avg_before": load_before,
        "machine": machine_info(),
    }
    print(f"seeds reaching val acc >= {TARGET_ACC} within {TARGET_S:.0f} s: {sum(met)}/{len(runs)}")
    print_json_line(result)
    return result


if __name__ == "__main__":
    main()
