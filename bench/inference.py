"""Inference throughput: frames/s of the deephar pose network, eager vs torch.compile vs onnxruntime, at batch 1 and
16, measured in one run, with FLOPs per frame and the achieved FLOP/s over the machine's matmul FLOP/s measured in the
same run.

Models, built from the Hydra experiments (``conf/train.yaml`` + ``experiment=NAME``, compose API):

* ``pose_original``  ``coco_pose``: J = 17, K = 8 blocks, width 576, 256x256.
* ``pose_demo``      ``synthetic_pose``: the CPU demo size (K = 2, width 128, 128x128).

Every variant computes what ``har.models.onnx.export_pose_onnx`` exports: the last block's pose (B, J, 2) and
visibility (B, J, 1) from images (B, 3, H, W) in [-1, 1] (eval mode, random weights and images):

* ``eager_channels_last``: the network in channels_last under ``torch.inference_mode``, as the presets run it
  (``model.channels_last: true``): the baseline every ratio is over;
* ``eager``: the same in NCHW;
* ``compile``: ``torch.compile`` of it (``dynamic=False``: one compilation per batch size, timed apart;
  ``--freezing`` turns on inductor's weight freezing, which folds the BatchNorms);
* ``onnxruntime``: the ONNX file ``export_pose_onnx`` writes (dynamic batch), run by onnxruntime with the CPU
  execution provider (the CUDA one on a GPU, when installed), as many intra-op threads as torch has.

Calls are timed interleaved (one call of each variant per round) and the figure reported is the median call over
>= 3 rounds, with the fastest and slowest (every call is in the JSON); ratios are over ``eager_channels_last``.
FLOPs per frame: one batch-1 forward under ``torch.utils.flop_counter``'s ``FlopCounterMode`` (matmuls and
convolutions, 2 per multiply-add). Matmul FLOP/s: the fastest large square matmul, fp32 on a CPU, the AMP dtype on
a GPU, measured before and after the models (the larger is used).

On a GPU the same command runs torch under AMP (bf16 where supported, else fp16), synchronizing around each call;
onnxruntime stays fp32 (the table's precision column says which). The first line of the table says what it measured
on.

Usage::

    .venv/bin/python -m bench.inference                 # 2 CPU cores: 3.5 min with a cold inductor cache
    .venv/bin/python -m bench.inference --models pose_demo --batch-sizes 1 16 64
    .venv/bin/python -m bench.inference --skip-compile --iters pose_original=5
    .venv/bin/python -m bench.inference --quick         # tiny network, 3 calls: a smoke test

Default warm-up / timed rounds on a CPU: pose_original 1 / 3 (an eager batch of 16 takes ~4 s on 2 cores), pose_demo
2 / 10; on a GPU 5 / 20. Compilations (21-52 s each on 2 cores, cold cache) and the ONNX exports (6-22 s) are timed
apart.
It prints a table, then as its last line one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import copy
import gc
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    add_ratios,
    amp_dtype,
    autocast,
    build_module,
    command_line,
    compile_unavailable,
    compose_network,
    describe_device,
    flop_counter,
    fmt_si,
    machine_info,
    matmul_flops,
    per_name_option,
    pick_device,
    precision_name,
    print_json_line,
    print_table,
    run_rounds,
    short_reason,
    throughput,
)

MODELS = {"pose_original": "coco_pose", "pose_demo": "synthetic_pose"}
CPU_DEFAULTS = {"pose_original": (1, 3), "pose_demo": (2, 10)}  # (warm-up rounds, timed rounds)
GPU_DEFAULTS = (5, 20)
QUICK = (1, 3)
VARIANTS = ("eager_channels_last", "eager", "compile", "onnxruntime")
BASELINE = "eager_channels_last"  # the fastest eager layout (bench.train_step), as the presets run it


def last_block(net):
    """images (B, 3, H, W) → (pose (B, J, D), visibility (B, J, 1)) of the last block: what the ONNX file holds."""

    def forward(images):
        out = net(images)
        return out.pose[-1], out.visibility[-1]

    return forward


def onnx_session(path: Path, device, threads: int):
    """An onnxruntime session on the CUDA provider for a CUDA device when it is installed, else the CPU one."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
    session = ort.InferenceSession(str(path), options, providers=providers)
    return session, session.get_providers()[0]


def onnx_call(session, provider: str, images):
    """A closure running the session on ``images`` (a torch tensor): numpy in and out on the CPU, IO binding to
    the tensor's memory on the GPU (no copies through the host)."""
    import numpy as np

    name = session.get_inputs()[0].name
    if provider != "CUDAExecutionProvider":
        feed = {name: images.detach().float().cpu().numpy()}
        return lambda: session.run(None, feed)
    x = images.detach().float().contiguous()
    binding = session.io_binding()
    binding.bind_input(name, "cuda", x.device.index or 0, np.float32, tuple(x.shape), x.data_ptr())
    for out in session.get_outputs():
        binding.bind_output(out.name, "cuda", x.device.index or 0)

    def call():
        session.run_with_iobinding(binding)

    return call


def bench_model(name: str, batch_sizes: list[int], warmup: int, iters: int, device, dtype, threads: int, quick: bool,
                compile_mode: str | None, compile_backend: str, freezing: bool, workdir: Path,
                compile_timeout: float | None = None) -> dict:  # fmt: skip
    """Build the network, count its FLOPs, export it to ONNX, time the variants at each batch size."""
    import torch

    cfg, data_cfg, net_cfg, overrides = compose_network(MODELS[name], "pose", quick)
    torch.manual_seed(0)
    net = build_module(cfg).net.eval()
    h, w = (int(s) for s in data_cfg.input_size)
    result = {
        "experiment": MODELS[name],
        "overrides": overrides,
        "network": f"K={net_cfg.num_blocks}, width {net_cfg.width}, {h}x{w}",
        "params": sum(p.numel() for p in net.parameters()),
        "warmup": warmup,
        "iters": iters,
    }
    images1 = torch.rand(1, 3, h, w) * 2 - 1
    with torch.no_grad(), flop_counter() as counter:
        net(images1)
    result["flops_per_frame"] = counter.get_total_flops()

    failed: dict[str, str] = {}
    session = provider = None
    try:  # onnxruntime runs the exported file (exported from the fp32 network on the CPU)
        from har.models.onnx import export_pose_onnx

        start = time.perf_counter()
        path = export_pose_onnx(net, workdir / f"{name}.onnx", batch_size=None)
        result["onnx_export_s"] = round(time.perf_counter() - start, 3)
        session, provider = onnx_session(path, device, threads)
        result["onnx_provider"] = provider
    except Exception as exc:  # noqa: BLE001 — the exporter or the runtime may be missing or fail
        failed["onnxruntime"] = short_reason(exc)

    net = net.to(device)
    eager = last_block(net)
    net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
    eager_cl = last_block(net_cl)
    compiled = None
    if compile_mode is None:
        try:
            if freezing:
                import torch._inductor.config as inductor_config

                inductor_config.freezing = True
            compiled = torch.compile(eager, backend=compile_backend, dynamic=False)
        except Exception as exc:  # noqa: BLE001
            failed["compile"] = short_reason(exc)
    else:
        failed["compile"] = compile_mode

    def infer(fn, images):
        def call():
            with torch.inference_mode(), autocast(device, dtype):
                return fn(images)

        return call

    result["batches"] = {}
    for b in batch_sizes:
        images = (torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(b)) * 2 - 1).to(device)
        images_cl = images.contiguous(memory_format=torch.channels_last)
        fns = {"eager_channels_last": infer(eager_cl, images_cl), "eager": infer(eager, images)}
        if compiled is not None and "compile" not in failed:
            fns["compile"] = infer(compiled, images)
        if session is not None and "onnxruntime" not in failed:
            fns["onnxruntime"] = onnx_call(session, provider, images)
        times, first, new_failures = run_rounds(
            fns,
            warmup,
            iters,
            device,
            f"{name} batch {b}",
            compiled=["compile"],
            fragile=["compile", "onnxruntime"],
            compile_limit=compile_timeout,
        )
        if "compile" in new_failures:
            torch._dynamo.reset()  # nothing of a compilation stopped half-way for the next one
        failed.update(new_failures)
        variants = {}
        for v in VARIANTS:
            if v in times and times[v]:
                variants[v] = throughput(times[v], b, result["flops_per_frame"], "call", "frames")
                variants[v]["precision"] = "fp32" if v == "onnxruntime" else precision_name(dtype)
                if v in first:
                    variants[v]["compile_s"] = round(first[v], 3)
            elif v in times:
                variants[v] = {"status": "failed", "reason": "no timed call after the compilation (use --warmup 1+)"}
            elif v in failed:
                status = "skipped" if failed[v] == "--skip-compile" else "failed"
                variants[v] = {"status": status, "reason": failed[v]}
        result["batches"][str(b)] = {"variants": variants}
    del net, eager, net_cl, eager_cl, compiled, session
    torch._dynamo.reset()  # the next model compiles the same code object: start it afresh
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def run(models: list[str], batch_sizes: list[int], warmups: dict[str, int], iters: dict[str, int],
        device_name: str = "auto", quick: bool = False, skip_compile: bool = False, compile_backend: str = "inductor",
        freezing: bool = False, threads: int | None = None, command: str = "",
        compile_timeout: float | None = None) -> dict:  # fmt: skip
    import torch

    if threads:
        torch.set_num_threads(threads)
    device = pick_device(device_name)
    dtype = amp_dtype(device)
    precision = precision_name(dtype)
    info = machine_info(device)
    compile_mode = "--skip-compile" if skip_compile else compile_unavailable(device, compile_backend)
    matmul_before = matmul_flops(device, dtype, size=512 if quick else None)
    results = {}
    with tempfile.TemporaryDirectory(prefix="har_bench_inference_") as tmp:
        for name in models:
            defaults = QUICK if quick else GPU_DEFAULTS if device.type == "cuda" else CPU_DEFAULTS[name]
            w, n = warmups.get(name, defaults[0]), iters.get(name, defaults[1])
            print(f"[inference] {name}: batch sizes {batch_sizes}, {w} warm-up + {n} timed rounds", file=sys.stderr,
                  flush=True)  # fmt: skip
            results[name] = bench_model(name, batch_sizes, w, n, device, dtype, torch.get_num_threads(), quick,
                                        compile_mode, compile_backend, freezing, Path(tmp),
                                        compile_timeout)  # fmt: skip
    matmul_after = matmul_flops(device, dtype, size=512 if quick else None)
    peak = max(matmul_before["flop_per_s"], matmul_after["flop_per_s"])
    for r in results.values():
        for batch in r["batches"].values():
            add_ratios(batch["variants"], peak, "frames_per_s", baseline=BASELINE)
    figures = {
        "benchmark": "inference",
        "command": command,
        "measured_on": describe_device(info, device, precision),
        "device": device.type,
        "precision": precision,
        "machine": dict(info, load_avg_after=machine_info()["load_avg"]),
        "quick": quick,
        "compile": {"backend": compile_backend, "dynamic": False, "freezing": freezing, "timeout_s": compile_timeout},
        "statistic": "median call with its range (every call kept); variants interleaved, one call each per round",
        "matmul": {"flop_per_s": peak, "before": matmul_before, "after": matmul_after},
        "models": results,
    }
    print_report(figures)
    print_json_line(figures)
    return figures


def print_report(f: dict) -> None:
    mm = f["matmul"]
    print(f"\npose-network inference — measured on {f['measured_on']}")
    print(f"matmul reference: {fmt_si(mm['flop_per_s'], 'FLOP/s')} ({mm['before']['size']}² {mm['before']['dtype']}, "
          f"fastest of before/after the models)\n")  # fmt: skip
    rows, notes = [], []
    for name, r in f["models"].items():
        for b, batch in r["batches"].items():
            for v, e in batch["variants"].items():
                if "frames_per_s" not in e:
                    rows.append([name, b, f"{v}: {e['status']}"] + [None] * 7)
                    note = f"{name} {v}: {e['status']} ({e['reason']})"
                    if note not in notes:
                        notes.append(note)
                    continue
                label = v + (f" ({e['compile_s']:.0f} s to compile)" if "compile_s" in e else "")
                rows.append([name, b, label, e["precision"], f"{e['call_s'] * 1e3:.1f}", f"{e['frames_per_s']:.1f}",
                             f"{e[f'speedup_vs_{BASELINE}']:.2f}", fmt_si(r["flops_per_frame"]),
                             fmt_si(e["flop_per_s"]),
                             f"{100 * e['matmul_fraction']:.1f} %"])  # fmt: skip
    header = ["model", "batch", "variant", "precision", "ms/batch", "frames/s", "× eager CL", "FLOP/frame", "FLOP/s",
              "of matmul"]  # fmt: skip
    print_table(header, rows)
    for note in notes:
        print(note)
    print()
    for name, r in f["models"].items():
        onnx = f"ONNX export {r['onnx_export_s']:.1f} s, {r['onnx_provider']}" if "onnx_provider" in r else "no ONNX"
        extra = f"; overrides {' '.join(r['overrides'])}" if r["overrides"] else ""
        print(f"{name}: {r['experiment']} — {r['network']}, {r['params']:,} params; {onnx}{extra}")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16])
    p.add_argument("--warmup", nargs="+", metavar="[MODEL=]N", help="untimed rounds before the timed ones")
    p.add_argument("--iters", nargs="+", metavar="[MODEL=]N", help="timed rounds (one call of each variant)")
    p.add_argument("--quick", action="store_true", help="tiny network (width 16, K=2, 64x64), 3 timed calls")
    p.add_argument("--skip-compile", action="store_true", help="leave out the torch.compile variant")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend (default inductor)")
    p.add_argument("--compile-timeout", type=float, metavar="SECONDS",
                   help="give up a compilation after this long (reported as failed); default: no limit")  # fmt: skip
    p.add_argument("--freezing", action="store_true", help="inductor weight freezing (folds BatchNorm) for compile")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1 ...")
    p.add_argument("--threads", type=int, help="torch and onnxruntime threads (default: torch's)")
    args = p.parse_args(argv)
    if any(b < 1 for b in args.batch_sizes):
        p.error("--batch-sizes must be >= 1")
    names = list(MODELS)
    return run(args.models, args.batch_sizes, per_name_option(args.warmup, names, "--warmup"),
               per_name_option(args.iters, names, "--iters"), args.device, args.quick, args.skip_compile,
               args.compile_backend, args.freezing, args.threads, command_line("bench.inference", argv),
               args.compile_timeout)  # fmt: skip


if __name__ == "__main__":
    main()
