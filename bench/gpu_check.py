"""The GPU check (issue 16): what a single GPU does with har's training, measured in one run of a few minutes.

``scripts/gpu_check.sh`` runs it (after installing the wheels ``scripts/gpu_wheels.sh`` fetched); it writes one JSON
file and a Markdown table (``--out``, default ``outputs/gpu_check``) and prints the table, then the JSON as its last
line. The parts:

1. **GEMM reference**: the fastest of 5 square bf16 matmuls (8192²) — the FLOP/s the fractions below are of.
2. **Pose training step, synthetic batches**: the full-size pose network (``coco_pose``: K = 8, width 576, 256²,
   batch 24), bf16 autocast, channels_last, eager and ``torch.compile``: samples/s (median of the timed steps, with
   the range) and achieved FLOP/s over the GEMM reference.
3. **Pose training with the real DataLoader**: generated COCO-format JPEGs (``har.synthetic.coco``, 480-640 px) read
   by ``CocoPoseDataModule`` with all CPU cores as workers, device-side photometric ops, the same eager step: samples/s
   and the GPU-busy fraction (CUDA-event time of the steps over wall time; well under 1 means the GPU waits for data).
4. **bf16 vs fp32**: 50 steps from one seed on the same batches, loss curves and their relative difference.
5. **evaluate.py on GPU and on CPU** for the same checkpoint (a short ``train.py`` run on the generated set): every
   metric of both, and their largest difference.
6. **Action clip step**: the full-size action model (``merl_action``, T = 8 × 256², its batch size), bf16,
   channels_last: clips/s and its GEMM fraction.

``--cpu`` runs every part on the CPU with tiny networks, a few steps and fp32/bf16 autocast on the CPU: the smoke test
of the test suite (``tests/test_gpu_check.py``), well under a minute of work.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    REPO,
    build_module,
    compose_experiment,
    compose_network,
    flop_counter,
    fmt_si,
    machine_info,
    matmul_flops,
    print_json_line,
    run_rounds,
    short_reason,
    spread,
    synchronize,
)
from bench.train_step import make_batch, make_step

# Full size on a GPU; --cpu: tiny networks (bench.common.QUICK_NET) and few steps.
FULL = {"warmup": 5, "iters": 20, "loader_steps": 40, "curve_steps": 50, "images": (600, 64), "train_batches": 60}
SMOKE = {"warmup": 1, "iters": 3, "loader_steps": 3, "curve_steps": 3, "images": (12, 6), "train_batches": 2}
TINY = ["model.net.width=16", "model.net.num_blocks=2", "data.input_size=[64,64]", "data.batch_size=4"]


def gemm(device, dtype, cpu: bool) -> dict:
    return matmul_flops(device, dtype, size=512 if cpu else 8192)


def step_figures(times: list[float], batch: int, flops: float, peak: float) -> dict:
    s = spread(times)
    return {"step_s": s["median"], "step_range_s": [s["min"], s["max"]], "samples_per_s": batch / s["median"],
            "samples_per_s_range": [batch / s["max"], batch / s["min"]],
            "gemm_fraction": flops * batch / s["median"] / peak}  # fmt: skip


def synthetic_steps(experiment: str, kind: str, device, dtype, quick: bool, counts: dict, peak: float,
                    compile_backend: str | None) -> dict:  # fmt: skip
    """Parts 2 and 6: channels_last eager (and compiled, when ``compile_backend``) steps on one random batch."""
    import torch

    cfg, data_cfg, net_cfg, _ = compose_network(experiment, kind, quick, ["model.channels_last=true"])
    batch_size = 2 if quick else int(data_cfg.batch_size)
    torch.manual_seed(0)
    module = build_module(cfg).to(device)
    classes = len(module.classes) if kind == "action" else 0
    batch = make_batch(kind, batch_size, data_cfg, net_cfg, classes, device)
    steps = {"eager": make_step(module, kind, batch, device, dtype, None)}
    if compile_backend:
        compiled = build_module(copy.deepcopy(cfg)).to(device)
        compiled.load_state_dict(module.state_dict())
        steps["compile"] = make_step(compiled, kind, batch, device, dtype, compile_backend)
    with flop_counter() as counter:
        steps["eager"]()
    synchronize(device)
    flops = counter.get_total_flops() / batch_size
    times, first, failed = run_rounds(steps, counts["warmup"], counts["iters"], device, f"{experiment} steps",
                                      compiled=["compile"], fragile=["compile"])  # fmt: skip
    out = {"experiment": experiment, "batch_size": batch_size, "flops_per_sample": flops, "variants": {}}
    for name, ts in times.items():
        out["variants"][name] = step_figures(ts, batch_size, flops, peak)
        if name in first:
            out["variants"][name]["compile_s"] = first[name]
    for name, reason in failed.items():
        out["variants"][name] = {"status": "failed", "reason": reason}
    if kind == "pose" and not compile_backend:
        out["variants"]["compile"] = {"status": "skipped", "reason": "smoke run (--compile-backend adds it)"}
    return out


def coco_datamodule(root: Path, quick: bool, workers: int):
    """``CocoPoseDataModule`` of ``experiment=coco_pose`` on the generated set, all CPU cores as workers."""
    from hydra.utils import instantiate

    overrides = [f"data.root={root}", f"data.num_workers={workers}", f"data.persistent_workers={workers > 0}"]
    cfg = compose_experiment("coco_pose", [*overrides, *(TINY if quick else [])], runtime=True)
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.setup("fit")
    return cfg, datamodule


def loader_training(cfg, datamodule, device, dtype, steps: int, peak: float, flops: float) -> dict:
    """Part 3: the eager channels_last step fed by the real DataLoader; GPU-busy fraction from CUDA events."""
    import torch

    from bench.common import autocast
    from har.models.losses import pose_loss

    torch.manual_seed(0)
    module = build_module(cfg).to(device)
    optimizer = module.configure_optimizers()["optimizer"]
    cuda = device.type == "cuda"
    busy, wall_start, n, samples = 0.0, None, 0, 0
    for batch in datamodule.train_dataloader():
        if n == 1:  # the first batch pays the workers' start: the clock starts after it
            synchronize(device)
            wall_start, busy, samples = time.perf_counter(), 0.0, 0
        if n > steps:
            break
        batch = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        if hasattr(datamodule, "augment_batch"):
            batch = datamodule.augment_batch(batch)
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
        else:
            t0 = time.perf_counter()
        with autocast(device, dtype):
            out = module(batch["image"])
            valid = batch["target_valid"]
            loss = pose_loss(out.pose, out.visibility, batch["target_uv"], valid, valid.float(), **module.loss_args)
        loss["loss"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            end.record()
            end.synchronize()  # per step: the busy time is read back once the step is done
            busy += begin.elapsed_time(end) / 1e3
        else:
            busy += time.perf_counter() - t0
        samples += len(valid)
        n += 1
    synchronize(device)
    wall = time.perf_counter() - wall_start
    per_s = samples / wall
    return {"steps": n - 1, "samples": samples, "wall_s": wall, "samples_per_s": per_s, "busy_fraction": busy / wall,
            "gemm_fraction": flops * per_s / peak}  # fmt: skip


def loss_curves(cfg, batches: list[dict], device, steps: int) -> dict:
    """Part 4: the same ``steps`` steps (batches cycled) from one seed in bf16 autocast and in fp32."""
    import torch

    from bench.common import autocast
    from har.models.losses import pose_loss

    curves = {}
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        torch.manual_seed(0)
        module = build_module(cfg).to(device)
        optimizer = module.configure_optimizers()["optimizer"]
        losses = []
        for i in range(steps):
            b = batches[i % len(batches)]
            with autocast(device, dtype):
                out = module(b["image"])
                valid = b["target_valid"]
                loss = pose_loss(out.pose, out.visibility, b["target_uv"], valid, valid.float(), **module.loss_args)
            loss["loss"].backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss["loss"].detach())
        curves[name] = [float(x) for x in torch.stack(losses).cpu()]  # read back once, after the run
    rel = [abs(b - f) / abs(f) for b, f in zip(curves["bf16"], curves["fp32"])]
    return {"steps": steps, "fp32": curves["fp32"], "bf16": curves["bf16"], "relative_difference": spread(rel),
            "final_relative_difference": rel[-1]}  # fmt: skip


def evaluate_both(root: Path, work: Path, quick: bool, gpu: bool, train_batches: int, workers: int) -> dict:
    """Part 5: a short train.py run on the generated set, then evaluate.py of its checkpoint on GPU and CPU."""
    env = {**os.environ, "HAR_ROOT": str(REPO), "WANDB_MODE": "offline", "NO_ALBUMENTATIONS_UPDATE": "1"}
    data = [f"data.root={root}", f"data.num_workers={workers}", f"data.persistent_workers={workers > 0}",
            *(TINY if quick else [])]  # fmt: skip
    common = ["experiment=coco_pose", "logger=csv", *data]
    trainer = "trainer=gpu" if gpu else "trainer=cpu"
    train = [sys.executable, str(REPO / "train.py"), *common, trainer, "trainer.max_epochs=1", "test=false",
             f"+trainer.limit_train_batches={train_batches}", f"hydra.run.dir={work / 'train'}"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(train, cwd=REPO, env=env, check=True, capture_output=True, text=True)
    out = {"train_s": time.perf_counter() - start, "metrics": {}}
    ckpt = work / "train" / "checkpoints" / "last.ckpt"
    for name, chosen in (("gpu", "trainer=gpu"), ("cpu", "trainer=cpu")):
        if name == "gpu" and not gpu:
            chosen = "trainer=cpu"
        run_dir = work / f"eval_{name}"
        cmd = [sys.executable, str(REPO / "evaluate.py"), *common, chosen, f"ckpt_path={ckpt}",
               f"hydra.run.dir={run_dir}"]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"evaluate.py ({chosen}) failed:\n{proc.stderr[-3000:]}")
        out[f"{name}_eval_s"] = time.perf_counter() - start
        out["metrics"][name] = json.loads((run_dir / "metrics.json").read_text())
    g, c = out["metrics"]["gpu"], out["metrics"]["cpu"]
    diffs = {k: abs(g[k] - c[k]) for k in g if k in c and g[k] is not None and c[k] is not None}
    out["max_abs_difference"] = max(diffs.values()) if diffs else None
    out["differences"] = diffs
    return out


def run(cpu: bool, out_dir: Path, workers: int | None = None, compile_backend: str | None = None) -> dict:
    import torch

    from har.synthetic.coco import generate_synthetic_coco

    if not cpu and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device is visible (nvidia-smi? CUDA build of torch?); --cpu runs the "
                         "smoke version on the CPU")  # fmt: skip
    device = torch.device("cpu" if cpu else "cuda")
    # --cpu: fp32 steps (bf16 convolutions on a CPU without bf16 units are slower than fp32) and no compilation
    # unless --compile-backend asks for one; the bf16-vs-fp32 part still runs bf16 autocast.
    dtype = None if cpu else torch.bfloat16
    counts = SMOKE if cpu else FULL
    workers = (0 if cpu else os.cpu_count() or 1) if workers is None else workers
    compile_backend = compile_backend or (None if cpu else "inductor")
    if not cpu:
        torch.backends.cudnn.benchmark = True  # as trainer=gpu does: fixed input sizes
    info = machine_info(device)
    figures: dict = {"benchmark": "gpu_check", "device": device.type, "smoke": cpu, "machine": info,
                     "precision": "fp32" if dtype is None else "bf16 autocast", "layout": "channels_last",
                     "compile_backend": compile_backend}  # fmt: skip
    started = time.perf_counter()
    clock = {"start": time.perf_counter()}

    def lap(part: str) -> None:
        now = time.perf_counter()
        figures.setdefault("part_s", {})[part] = round(now - clock["start"], 2)
        clock["start"] = now
        print(f"[gpu_check] {part}: {figures['part_s'][part]:.1f} s", file=sys.stderr, flush=True)

    figures["gemm"] = gemm(device, dtype, cpu)
    peak = figures["gemm"]["flop_per_s"]
    figures["pose_synthetic"] = synthetic_steps("coco_pose", "pose", device, dtype, cpu, counts, peak, compile_backend)
    lap("pose_synthetic")
    figures["action_clip"] = synthetic_steps("merl_action", "action", device, dtype, cpu, counts, peak, None)
    lap("action_clip")
    with tempfile.TemporaryDirectory(prefix="har_gpu_check_") as tmp:
        root = Path(tmp) / "coco"
        num_train, num_val = counts["images"]
        start = time.perf_counter()
        generate_synthetic_coco(root, num_train=num_train, num_val=num_val, seed=0, min_size=480, max_size=640,
                                progress=False)  # fmt: skip
        figures["dataset"] = {"train_images": num_train, "val_images": num_val,
                              "generate_s": time.perf_counter() - start}  # fmt: skip
        lap("dataset")
        cfg, datamodule = coco_datamodule(root, cpu, workers)
        flops = figures["pose_synthetic"]["flops_per_sample"]
        figures["pose_loader"] = loader_training(cfg, datamodule, device, dtype, counts["loader_steps"], peak, flops)
        figures["pose_loader"]["workers"] = workers
        lap("pose_loader")
        batches = []
        for batch in datamodule.train_dataloader():
            batch = {k: v.to(device) for k, v in batch.items() if k in ("image", "target_uv", "target_valid")}
            batches.append(batch)
            if len(batches) == 4:
                break
        figures["bf16_vs_fp32"] = loss_curves(cfg, batches, device, counts["curve_steps"])
        del datamodule, batches
        lap("bf16_vs_fp32")
        try:
            figures["evaluate"] = evaluate_both(root, Path(tmp), cpu, not cpu, counts["train_batches"], workers)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or ""
            figures["evaluate"] = {"status": "failed", "reason": short_reason(exc), "stderr_tail": detail[-2000:]}
        lap("evaluate")
    figures["total_s"] = time.perf_counter() - started
    table = report(figures)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gpu_check.json").write_text(json.dumps(figures, indent=1))
    (out_dir / "gpu_check.md").write_text(table + "\n")
    print(table)
    print(f"\nwritten: {out_dir / 'gpu_check.json'}, {out_dir / 'gpu_check.md'}")
    print_json_line(figures)
    return figures


def report(f: dict) -> str:
    """The Markdown table of the figures."""
    m = f["machine"]
    where = f"GPU {m['gpu']} ({m['gpu_memory_gb']} GB), CUDA {m['cuda']}" if f["device"] == "cuda" else (
        f"CPU {m['cpu']} (smoke run: tiny networks)")  # fmt: skip
    lines = [f"GPU check — {where}, torch {m.get('torch')}, {m['cores']} CPU cores; {f['precision']}, channels_last; "
             f"GEMM reference {fmt_si(f['gemm']['flop_per_s'], 'FLOP/s')}", "",
             "| measure | figure | of GEMM |", "|---|---|---|"]  # fmt: skip

    def rate(entry: dict, unit: str) -> str:
        lo, hi = entry["samples_per_s_range"]
        return f"{entry['samples_per_s']:.1f} {unit}/s ({lo:.1f}-{hi:.1f})"

    for key, label, unit in (("pose_synthetic", "pose training step, full size", "samples"),
                             ("action_clip", "action clip step, full size", "clips")):  # fmt: skip
        entry = f[key]
        for variant, v in entry["variants"].items():
            name = f"{label}, batch {entry['batch_size']}, {variant}"
            if "samples_per_s" not in v:
                lines.append(f"| {name} | {v.get('status')}: {v.get('reason')} | |")
                continue
            extra = f", {v['compile_s']:.0f} s to compile" if "compile_s" in v else ""
            lines.append(f"| {name}{extra} | {rate(v, unit)} | {100 * v['gemm_fraction']:.1f} % |")
    loader = f["pose_loader"]
    lines.append(f"| pose training from the DataLoader ({loader['workers']} workers, JPEGs) | "
                 f"{loader['samples_per_s']:.1f} samples/s; GPU busy {100 * loader['busy_fraction']:.0f} % | "
                 f"{100 * loader['gemm_fraction']:.1f} % |")  # fmt: skip
    curve = f["bf16_vs_fp32"]
    rel = curve["relative_difference"]
    lines.append(
        f"| bf16 vs fp32 loss, {curve['steps']} steps, one seed | relative difference median "
        f"{rel['median']:.2%}, max {rel['max']:.2%}, last step {curve['final_relative_difference']:.2%} | |"
    )
    ev = f["evaluate"]
    if "metrics" in ev:
        keys = sorted(k for k in ev["metrics"]["gpu"] if k in ("test/pck@0.2", "test/oks_ap", "test/loss"))
        shown = ", ".join(f"{k} {ev['metrics']['gpu'][k]:.4f} / {ev['metrics']['cpu'][k]:.4f}" for k in keys)
        lines.append(f"| evaluate.py, same checkpoint, GPU / CPU | {shown}; largest difference of any metric "
                     f"{ev['max_abs_difference']:.2e} | |")  # fmt: skip
    else:
        lines.append(f"| evaluate.py, GPU / CPU | failed: {ev['reason']} | |")
    lines.append(f"\nwhole check: {f['total_s']:.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cpu", action="store_true", help="the smoke version on the CPU: tiny networks, a few steps")
    p.add_argument("--out", type=Path, default=REPO / "outputs" / "gpu_check", help="folder of the JSON and table")
    p.add_argument("--workers", type=int, help="DataLoader workers (default: all CPU cores; 0 with --cpu)")
    p.add_argument("--compile-backend", help="torch.compile backend (default inductor; aot_eager with --cpu)")
    args = p.parse_args(argv)
    return run(args.cpu, args.out, args.workers, args.compile_backend)


if __name__ == "__main__":
    main()
