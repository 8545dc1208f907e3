"""The decoupled mode's speed: a training epoch of the action head on saved pose features vs a training epoch of the
full ``ActionModule`` on the clips' frames, the same clips, batch size and head, measured in one run.

Rows (each a whole ``Trainer.fit`` epoch over the train split, validation off, the median of ``--epochs``, default 3):

* ``full model, pose network frozen`` (``model.train_pose=false``): read and decode T frames per clip, crop, the
  pose network's forward pass without gradients, then the action network forward and backward. This computes what
  the head on features computes (tested in ``tests/test_pose_features.py``), so it is the reference.
* ``full model, pose network trained`` (``model.train_pose=true``): also the pose network's backward pass.
* ``head on saved features`` (``FeatureActionModule`` on ``data=pose_features``): rows read from the memory-mapped
  HDF5 files, the action network forward and backward.

The extraction (``har.tools.extract_pose_features``: one pass of the pose network over the train and val clips) is
timed too: it is paid once, so the table gives the number of head epochs after which it has paid for itself.

Sizes are ``experiment=synthetic_action``'s by default: a deephar pose network of K = 2 blocks, width 64, 128×128
input, J = 17, T = 8 frames; ``--size original`` takes ``merl_action``'s (K = 8, width 576, 256×256: 19.7 GFLOP per
frame, slow on a CPU). Clips are the project's synthetic MERL clips (generated into a temporary folder); the weights
are random, which does not change the time. On one core (``torch.set_num_threads(1)``, no DataLoader workers) by
default, so that the rows compare work, not parallelism; ``--threads``/``--workers`` change that.

Usage::

    .venv/bin/python -m bench.action_features               # 80 train clips, 3 epochs per row: ~3 min here
    .venv/bin/python -m bench.action_features --clips-per-class 2 --epochs 1   # a quick look
    .venv/bin/python -m bench.action_features --size original --clips-per-class 1 --epochs 1 --batch-size 4

It prints a table, then as its last line one JSON object with every figure and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402

from bench.common import command_line, machine_info, print_json_line, print_table  # noqa: E402
from har.checkpoints import load_pose_network  # noqa: E402
from har.data.datamodules.merl_action import MerlActionDataModule  # noqa: E402
from har.data.datamodules.pose_features import PoseFeatureDataModule  # noqa: E402
from har.lit.action import ActionModule  # noqa: E402
from har.lit.feature_action import FeatureActionModule  # noqa: E402
from har.lit.pose import PoseModule  # noqa: E402
from har.synthetic.merl import generate_synthetic_merl  # noqa: E402
from har.tools.extract_pose_features import extract_pose_features  # noqa: E402

POSE_NETS = {
    "demo": {"num_joints": 17, "num_blocks": 2, "width": 64, "input_size": [128, 128], "bn_momentum": 0.1},
    "original": {"num_joints": 17, "num_blocks": 8, "width": 576, "input_size": [256, 256]},
}
ACTION_NET = {"bn_momentum": 0.1}
RMSPROP = {"_target_": "torch.optim.RMSprop", "lr": 1e-3}
NUM_FRAMES = 8


class EpochTimer(pl.Callback):
    """Wall time of each training epoch (from its first batch request to its end; no validation runs)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.batches: list[int] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.times.append(time.perf_counter() - self._start)
        self.batches.append(int(trainer.num_training_batches))


def _fit(module: pl.LightningModule, datamodule: pl.LightningDataModule, epochs: int, work_dir: Path) -> EpochTimer:
    timer = EpochTimer()
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0, callbacks=[timer], default_root_dir=work_dir)  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    return timer


def run_benchmark(clips_per_class: int = 8, epochs: int = 3, batch_size: int = 8, threads: int = 1, workers: int = 0,
                  seed: int = 0, command: str = "", size: str = "demo") -> dict:  # fmt: skip
    POSE_NET = POSE_NETS[size]  # noqa: N806
    torch.set_num_threads(threads)
    pl.seed_everything(seed, verbose=False)
    loader = {"batch_size": batch_size, "num_workers": workers, "persistent_workers": workers > 0,
              "pin_memory": False}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="har_bench_features_") as tmp:
        tmp = Path(tmp)
        merl = generate_synthetic_merl(tmp / "merl", forms=("action",), num_subjects=6,
                                       clips_per_class=clips_per_class, frame_size=(368, 272), seed=seed,
                                       progress=False)  # fmt: skip

        def clips_dm() -> MerlActionDataModule:
            return MerlActionDataModule(root=str(merl / "action"), num_frames=NUM_FRAMES,
                                        input_size=tuple(POSE_NET["input_size"]), **loader)  # fmt: skip

        dm = clips_dm()
        classes = list(dm.classes)
        pose = PoseModule(net=POSE_NET, optimizer=RMSPROP)
        torch.save({"state_dict": pose.state_dict(), "hyper_parameters": dict(pose.hparams)}, tmp / "pose.ckpt")

        net, info = load_pose_network(tmp / "pose.ckpt")
        start = time.perf_counter()
        extract_pose_features(net, info, clips_dm(), tmp / "features", splits=("train", "val"), batch_size=batch_size,
                              num_workers=workers, device="cpu")  # fmt: skip
        extract_s = time.perf_counter() - start
        meta = json.loads((tmp / "features" / "meta.json").read_text())
        extracted_clips = sum(s["num_clips"] for s in meta["splits"].values())
        train_clips = meta["splits"]["train"]["num_clips"]

        def action(train_pose: bool) -> ActionModule:
            torch.manual_seed(seed)
            return ActionModule(pose_net=POSE_NET, action_net=ACTION_NET, classes=classes, optimizer=RMSPROP,
                                pose_ckpt=str(tmp / "pose.ckpt"), train_pose=train_pose)  # fmt: skip

        def head() -> FeatureActionModule:
            torch.manual_seed(seed)
            return FeatureActionModule(classes=classes, optimizer=RMSPROP, num_joints=17, dim=2,
                                       feature_channels=POSE_NET["width"], action_net=ACTION_NET)  # fmt: skip

        runs = {
            "full_frozen_pose": lambda: _fit(action(False), clips_dm(), epochs, tmp / "a"),
            "full_trained_pose": lambda: _fit(action(True), clips_dm(), epochs, tmp / "b"),
            "head_on_features": lambda: _fit(
                head(), PoseFeatureDataModule(root=str(tmp / "features"), **loader), epochs, tmp / "c"
            ),  # fmt: skip
        }
        timers = {name: run() for name, run in runs.items()}

    epoch_s = {name: statistics.median(t.times) for name, t in timers.items()}
    frozen, head_s = epoch_s["full_frozen_pose"], epoch_s["head_on_features"]
    train_extract_s = extract_s * train_clips / extracted_clips
    result = {
        "benchmark": "action_features",
        "command": command,
        "epoch_s": {k: round(v, 3) for k, v in epoch_s.items()},
        "all_epochs_s": {k: [round(x, 3) for x in t.times] for k, t in timers.items()},
        # Training loaders drop the last partial batch: an epoch is batches x batch_size clips.
        "ms_per_clip": {k: round(v / (timers[k].batches[0] * batch_size) * 1e3, 2) for k, v in epoch_s.items()},
        "head_speedup_vs_frozen_pose": round(frozen / head_s, 2),
        "head_speedup_vs_trained_pose": round(epoch_s["full_trained_pose"] / head_s, 2),
        "extraction_s": round(extract_s, 3),
        "extraction_train_split_s": round(train_extract_s, 3),
        "break_even_head_epochs": round(train_extract_s / (frozen - head_s), 2) if frozen > head_s else None,
        "train_clips": train_clips,
        "extracted_clips": extracted_clips,
        "batches_per_epoch": {k: t.batches[0] for k, t in timers.items()},
        "batch_size": batch_size,
        "num_frames": NUM_FRAMES,
        "size": size,
        "pose_net": POSE_NET,
        "epochs": epochs,
        "workers": workers,
        "machine": machine_info(),
    }
    _print(result)
    print_json_line(result)
    return result


def _print(r: dict) -> None:
    labels = {"full_frozen_pose": "full model, pose network frozen (reference)",
              "full_trained_pose": "full model, pose network trained",
              "head_on_features": "head on saved features"}  # fmt: skip
    ref = r["epoch_s"]["full_frozen_pose"]
    rows = [(labels[k], f"{v:.2f}", f"{r['ms_per_clip'][k]:.1f}", f"{ref / v:.2f}x") for k, v in r["epoch_s"].items()]
    m = r["machine"]
    print_table(
        ("training epoch", "s", "ms/clip", "speed vs reference"),
        rows,
        title=f"decoupled mode, {r['train_clips']} train clips of T = {r['num_frames']}, batch {r['batch_size']}, "
        f"{r['workers']} DataLoader workers, {m['threads']} torch thread(s), {m['cpu']}; median of {r['epochs']} "
        "epochs",
    )
    print(f"extraction, once: {r['extraction_s']:.2f} s for {r['extracted_clips']} clips (train + val); the train "
          f"split's share ({r['extraction_train_split_s']:.2f} s) is paid back after {r['break_even_head_epochs']} "
          "head epochs")  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips-per-class", type=int, default=8, help="synthetic clips per class and subject")
    p.add_argument("--epochs", type=int, default=3, help="epochs per row; the median is reported")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--size",
        choices=sorted(POSE_NETS),
        default="demo",
        help="demo: synthetic_action's pose network; original: merl_action's (K = 8, width 576, 256x256)",
    )
    args = p.parse_args(argv)
    return run_benchmark(args.clips_per_class, args.epochs, args.batch_size, args.threads, args.workers, args.seed,
                         command_line("bench.action_features", argv), args.size)  # fmt: skip


if __name__ == "__main__":
    main()
