"""Action-clip data pipeline: cost per clip of ``MerlActionDataset.__getitem__`` (T JPEG frames read, decoded,
cropped, augmented) with each frame decoded only over its crop's region vs decoded whole, and over decoding the
same frames whole alone, on one core.

Clips are the project's synthetic MERL Shopping clips at the real set's frame size (920×680, JPEG quality 90; a
shopper at a shelf), T = 8 frames cropped to 256×256 as ``experiment=merl_action`` does (training: strided windows
and the clip augmentation of ``conf/data/merl_action.yaml``; evaluation: the centred window). The frames each sample
reads are recorded once and decoded whole as the reference, so every row handles the same frames. Rounds are
interleaved; the median round is reported with the fastest and slowest, and each ratio also per round.

Usage::

    .venv/bin/python -m bench.clip_pipeline                    # 20 train clips, 5 rounds: ~1 min
    .venv/bin/python -m bench.clip_pipeline --clips-per-class 2 --rounds 3

It prints a table, then as its last line one JSON object with every figure and the command.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import command_line, machine_info, print_json_line, print_table, spread  # noqa: E402
from har.data.datamodules.merl_action import MerlActionDataModule  # noqa: E402
from har.data.io import jpeg_roi  # noqa: E402
from har.synthetic.merl import generate_synthetic_merl  # noqa: E402


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _items_pass(ds, seeds: list[int], faults: list[int] | None = None) -> float:
    """Seconds for every clip of ``ds``; appends the page faults the pass caused (fresh memory) to ``faults``."""
    faults_before = _minor_faults()
    start = time.perf_counter()
    for i, seed in enumerate(seeds):
        torch.manual_seed(seed)  # the clip's positions and augmentation (har.data.sampling.sample_rng)
        ds[i]
    elapsed = time.perf_counter() - start
    if faults is not None:
        faults.append(_minor_faults() - faults_before)
    return elapsed


def _decode_pass(paths: list[list[str]]) -> float:
    start = time.perf_counter()
    for clip in paths:
        for path in clip:
            cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    return time.perf_counter() - start


def _frames_read(ds, seeds: list[int]) -> list[list[str]]:
    """The frame files each sample reads (the same draws as :func:`_items_pass`)."""
    out = []
    for i, seed in enumerate(seeds):
        torch.manual_seed(seed)
        sample = ds[i]
        first = ds.index.frames(i).start
        out.append([ds.index.frame_path(first + int(p)) for p in sample["frame_indices"]])
    return out


def run_benchmark(clips_per_class: int = 4, rounds: int = 5, seed: int = 0, command: str = "") -> dict:
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    if not jpeg_roi.available():
        raise SystemExit(f"the ROI JPEG decoder is unavailable: {jpeg_roi.unavailable_reason()}")
    with tempfile.TemporaryDirectory(prefix="har_bench_clips_") as tmp:
        merl = generate_synthetic_merl(Path(tmp) / "merl", forms=("action",), num_subjects=3,
                                       clips_per_class=clips_per_class, frame_size=(920, 680), clip_frames=(20, 40),
                                       seed=seed, progress=False)  # fmt: skip
        dm = MerlActionDataModule(root=str(merl / "action"), num_frames=8, input_size=(256, 256), num_workers=0,
                                  persistent_workers=False, pin_memory=False)  # fmt: skip
        rows: dict[str, list[float]] = {}
        faults: dict[str, list[int]] = {}
        datasets = {}
        for split_train, name in ((True, "train"), (False, "eval")):
            for roi in (True, False):
                ds = dm.build_dataset("train", train=split_train)
                ds.roi_decode = roi
                datasets[f"{name}_{'roi' if roi else 'whole'}"] = ds
        n = len(datasets["train_roi"])
        seeds = [seed * 100_000 + i for i in range(n)]
        frames = {name: _frames_read(datasets[f"{name}_roi"], seeds) for name in ("train", "eval")}
        for ds in datasets.values():  # warm-up: page cache, lazy initialisation
            _items_pass(ds, seeds[:3])
        for _ in range(rounds):
            for name in ("train", "eval"):
                rows.setdefault(f"{name}_decode_whole", []).append(_decode_pass(frames[name]))
            for name, ds in datasets.items():
                rows.setdefault(name, []).append(_items_pass(ds, seeds, faults.setdefault(name, [])))
        frame_bytes = np.mean([os.path.getsize(p) for clip in frames["train"] for p in clip])

    ms = {k: round(float(np.median(v)) / n * 1e3, 3) for k, v in rows.items()}
    result = {
        "benchmark": "clip_pipeline",
        "command": command,
        "ms_per_clip": ms,
        "range_ms_per_clip": {k: [round(min(v) / n * 1e3, 3), round(max(v) / n * 1e3, 3)] for k, v in rows.items()},
        "roi_speedup": {k: round(ms[f"{k}_whole"] / ms[f"{k}_roi"], 3) for k in ("train", "eval")},
        # Round by round (the passes are interleaved): a gain is real when every round's ratio is above 1.
        "roi_speedup_rounds": {
            k: spread([w / r for w, r in zip(rows[f"{k}_whole"], rows[f"{k}_roi"], strict=True)])
            for k in ("train", "eval")
        },
        "ratio_to_whole_decode": {
            f"{k}_{v}": round(ms[f"{k}_{v}"] / ms[f"{k}_decode_whole"], 3)
            for k in ("train", "eval")
            for v in ("roi", "whole")
        },
        # Minor page faults per frame (median of the rounds): fresh memory the kernel had to map.
        "page_faults_per_frame": {k: round(float(np.median(v)) / (n * 8), 1) for k, v in faults.items()},
        "clips": n,
        "frames_per_clip": 8,
        "frame_size": [920, 680],
        "mean_frame_kb": round(float(frame_bytes) / 1024, 1),
        "input_size": [256, 256],
        "rounds": rounds,
        "statistic": "median of the rounds (per-clip time of a whole pass), with the fastest and slowest",
        "machine": machine_info(),
    }
    _print(result)
    print_json_line(result)
    return result


def _print(r: dict) -> None:
    ms, ratio, span = r["ms_per_clip"], r["ratio_to_whole_decode"], r["range_ms_per_clip"]

    def cell(key: str) -> str:
        return f"{ms[key]:.1f} ({span[key][0]:.1f}-{span[key][1]:.1f})"

    rows = []
    for name, label in (("train", "training clip"), ("eval", "evaluation clip")):
        rows.append((f"{label}: decode its 8 frames whole, alone", cell(f"{name}_decode_whole"), "1.00"))
        rows.append((f"{label}: __getitem__, whole frames", cell(f"{name}_whole"), f"{ratio[f'{name}_whole']:.2f}"))
        rows.append((f"{label}: __getitem__, crop regions only", cell(f"{name}_roi"), f"{ratio[f'{name}_roi']:.2f}"))
    print_table(("per clip, one core", "ms: median (fastest-slowest)", "x decode"), rows,
                title=f"action clips: {r['clips']} synthetic MERL clips, T = 8 frames of 920x680 "
                f"({r['mean_frame_kb']} KB JPEGs) -> 256x256, median of {r['rounds']} rounds")  # fmt: skip
    g = r["roi_speedup_rounds"]
    print(f"crop regions only vs whole frames: {r['roi_speedup']['train']:.2f}x faster (training; per round "
          f"{g['train']['min']:.2f}-{g['train']['max']:.2f}), {r['roi_speedup']['eval']:.2f}x (evaluation; per round "
          f"{g['eval']['min']:.2f}-{g['eval']['max']:.2f})")  # fmt: skip
    f = r["page_faults_per_frame"]
    print(f"page faults per frame (training): {f['train_whole']:.0f} with whole frames, {f['train_roi']:.0f} with "
          "crop regions decoded into one reused buffer")  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips-per-class", type=int, default=4, help="synthetic clips per class and subject")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    return run_benchmark(args.clips_per_class, args.rounds, args.seed, command_line("bench.clip_pipeline", argv))


if __name__ == "__main__":
    main()
