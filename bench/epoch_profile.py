"""Where the default run's epoch goes: one ``synthetic_pose`` training epoch (``python train.py``'s config, with
``trainer.max_epochs=1``) run through ``har.run.pipeline.train`` with a timing callback, split into data loading,
forward (+ loss and metric updates), backward, optimizer step, validation (with its COCO AP and overlays apart),
checkpoints, logging and the rest (Lightning's own bookkeeping, the progress bar).

How each part is timed (wall clock; on a GPU the device is synchronised at each boundary so that the time lands
where the work is queued):

* data loading: from the end of one training batch (or the epoch's start) to the start of the next, i.e. waiting
  for the DataLoader, less any logging done in between;
* forward: the module's ``training_step`` (forward, loss, metric updates, ``self.log`` calls);
* backward: ``on_before_backward`` to ``on_after_backward``;
* optimizer: ``on_before_optimizer_step`` to the end of the batch (the update, gradients cleared, callbacks);
* validation: ``on_validation_start`` to ``on_validation_end`` (loading and steps), with its COCO keypoint AP
  (``PoseModule._oks_ap``) and overlays (``PoseModule._log_overlays``) also shown on their own;
* checkpoints: ``Trainer.save_checkpoint``; logging: the loggers' ``log_metrics`` / ``log_hyperparams`` /
  ``save`` / ``log_image`` calls;
* other: the fit's wall time less all of the above.

The synthetic dataset is generated (or found) before the clock starts. Usage::

    .venv/bin/python -m bench.epoch_profile                 # one default epoch (2000 images, batch 32): ~0.5-1 min
    .venv/bin/python -m bench.epoch_profile model.channels_last=false   # any train.py override
    .venv/bin/python -m bench.epoch_profile --quick         # tiny network and few batches: the test's smoke run

It prints a table, then as its last line one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from lightning.pytorch.callbacks import Callback

from bench.common import REPO, command_line, machine_info, print_json_line, print_table

QUICK = ["model.net.width=16", "data.input_size=[64,64]", "data.batch_size=4", "data.num_workers=0",
         "data.persistent_workers=false", "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2",
         "model.num_overlays=2"]  # fmt: skip
PROFILERS: list[EpochProfiler] = []  # every EpochProfiler made in this process, the newest last
PARTS = ("data loading", "forward", "backward", "optimizer", "validation", "checkpoints", "logging", "other")


class EpochProfiler(Callback):
    """A Lightning callback (``callbacks.epoch_profile`` in the composed config) accumulating seconds per part.
    Each instance registers itself in :data:`PROFILERS`, where :func:`run` finds the one the run used."""

    def __init__(self) -> None:
        PROFILERS.append(self)
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self._marks: dict[str, float] = {}
        self._logging_at_mark = 0.0
        self._cuda = False

    # -- clock ---------------------------------------------------------------------------------------------------
    def now(self) -> float:
        if self._cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] += seconds
        self.counts[part] += 1

    def timed(self, part: str, fn):
        """``fn`` wrapped so that its calls add to ``part``."""

        def call(*args, **kwargs):
            start = self.now()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(part, self.now() - start)

        return call

    # -- hooks ---------------------------------------------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:

        self._cuda = trainer.strategy.root_device.type == "cuda"
        pl_module.training_step = self.timed("forward", pl_module.training_step)
        for name, part in (("_oks_ap", "validation: COCO AP"), ("_log_overlays", "validation: overlays")):
            if hasattr(pl_module, name):
                setattr(pl_module, name, self.timed(part, getattr(pl_module, name)))
        trainer.save_checkpoint = self.timed("checkpoints", trainer.save_checkpoint)
        for logger in trainer.loggers:
            for name in ("log_metrics", "log_hyperparams", "save", "log_image"):
                if hasattr(logger, name):
                    setattr(logger, name, self.timed("logging", getattr(logger, name)))

    def on_fit_start(self, trainer, pl_module) -> None:
        self._marks["fit"] = self.now()

    def on_fit_end(self, trainer, pl_module) -> None:
        self.seconds["fit"] = self.now() - self._marks["fit"]

    def on_sanity_check_start(self, trainer, pl_module) -> None:
        self._marks["sanity"] = self.now()

    def on_sanity_check_end(self, trainer, pl_module) -> None:
        self.add("sanity check", self.now() - self._marks["sanity"])

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._mark_gap()

    def _mark_gap(self) -> None:
        self._marks["gap"] = self.now()
        self._logging_at_mark = self.seconds["logging"]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        logged = self.seconds["logging"] - self._logging_at_mark
        self.add("data loading", self.now() - self._marks["gap"] - logged)

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        self._marks["backward"] = self.now()

    def on_after_backward(self, trainer, pl_module) -> None:
        self.add("backward", self.now() - self._marks["backward"])

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self._marks["optimizer"] = self.now()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if "optimizer" in self._marks:
            self.add("optimizer", self.now() - self._marks.pop("optimizer"))
        self._mark_gap()

    def on_validation_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._marks["validation"] = self.now()

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.add("validation", self.now() - self._marks.pop("validation"))
            self._mark_gap()  # the next training batch's wait starts here


def compose(overrides: list[str], output_dir: Path):
    """``conf/train.yaml`` with ``experiment=synthetic_pose``, one epoch, no test, the profiler callback, and
    ``overrides``, with Hydra's runtime config set (the run folder is ``output_dir``)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from har.utils.resolvers import register_resolvers

    os.environ.setdefault("HAR_ROOT", str(REPO))
    register_resolvers()
    GlobalHydra.instance().clear()
    base = ["experiment=synthetic_pose", "trainer.max_epochs=1", "test=false", "logger=csv"]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=[*base, *overrides], return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.callbacks.epoch_profile = {"_target_": "bench.epoch_profile.EpochProfiler"}
    return cfg


def run(overrides: list[str], quick: bool = False, command: str = "") -> dict:
    from hydra.utils import instantiate

    from har.run.pipeline import train

    overrides = [*(QUICK if quick else []), *overrides]
    with tempfile.TemporaryDirectory(prefix="har_epoch_profile_") as tmp:
        cfg = compose(overrides, Path(tmp))
        start = time.perf_counter()
        instantiate(cfg.data, _convert_="all").prepare_data()  # generate the synthetic set before the clock
        prepare_s = time.perf_counter() - start
        start = time.perf_counter()
        metrics = train(cfg)
        run_s = time.perf_counter() - start
    from bench import epoch_profile  # the module Hydra instantiated the callback from (this file may be __main__)

    prof = epoch_profile.PROFILERS[-1]
    fit = prof.seconds["fit"]
    parts = {p: prof.seconds.get(p, 0.0) for p in PARTS[:-1]}
    parts["other"] = fit - sum(parts.values()) - prof.seconds.get("sanity check", 0.0)
    steps = prof.counts.get("forward", 0)
    figures = {
        "benchmark": "epoch_profile",
        "command": command,
        "overrides": overrides,
        "machine": machine_info(),
        "dataset_prepare_s": round(prepare_s, 3),
        "train_call_s": round(run_s, 3),
        "fit_s": round(fit, 3),
        "sanity_check_s": round(prof.seconds.get("sanity check", 0.0), 3),
        "train_steps": steps,
        "seconds": {p: round(s, 4) for p, s in parts.items()},
        "share_of_fit": {p: round(s / fit, 4) for p, s in parts.items()},
        "ms_per_step": {p: round(1e3 * parts[p] / steps, 2) for p in PARTS[:4]} if steps else {},
        "validation_parts_s": {k.split(": ")[1]: round(v, 4) for k, v in prof.seconds.items() if ": " in k},
        "calls": dict(prof.counts),
        "val_pck@0.2": metrics.get("val/pck@0.2"),
    }
    print_report(figures)
    print_json_line(figures)
    return figures


def print_report(f: dict) -> None:
    rows = []
    for p in PARTS:
        per_step = f["ms_per_step"].get(p)
        rows.append([p, f"{f['seconds'][p]:.2f}", f"{100 * f['share_of_fit'][p]:.1f} %",
                     "-" if per_step is None else f"{per_step:.1f}"])  # fmt: skip
        if p == "validation":
            rows += [[f"  of which {k}", f"{v:.2f}", f"{100 * v / f['fit_s']:.1f} %", "-"]
                     for k, v in f["validation_parts_s"].items()]  # fmt: skip
    m = f["machine"]
    print(
        f"\none synthetic_pose epoch ({f['train_steps']} training steps), {m['cpu']} ({m['cores']} cores), "
        f"torch {m.get('torch')}, load average {m['load_avg']}; overrides: {' '.join(f['overrides']) or 'none'}"
    )
    print(f"fit {f['fit_s']:.2f} s (sanity check {f['sanity_check_s']:.2f} s of it, not in the rows); dataset ready in "
          f"{f['dataset_prepare_s']:.1f} s before the clock\n")  # fmt: skip
    print_table(["part", "seconds", "of the fit", "ms per step"], rows)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("overrides", nargs="*", help="train.py overrides (key=value)")
    p.add_argument("--quick", action="store_true", help="tiny network and 3 + 2 batches (a smoke run)")
    args = p.parse_args(argv)
    return run(args.overrides, args.quick, command_line("bench.epoch_profile", argv))


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
