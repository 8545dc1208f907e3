"""What the benchmarks in ``bench/`` share: the machine's description, the table, the last-line JSON, and for the
network benchmarks (``bench.train_step``, ``bench.inference``) the models composed from the Hydra experiments,
device/AMP choice, timing, FLOP counting and the matmul reference.

Nothing heavy is imported at module level (``bench.coco_index`` measures fresh processes' memory): torch and Hydra
are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/x.py` as well as `python -m bench.x`
    sys.path.insert(0, str(REPO))


# --- Output ---------------------------------------------------------------------------------------------------


def print_json_line(result: dict) -> None:
    """The benchmark's last line: one JSON object with every figure."""
    print(json.dumps(result), flush=True)


def print_table(header: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    """A plain-text table: the first column left-aligned, the others right-aligned; None prints as "-"."""
    cells = [[str(h) for h in header]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    if title:
        print(title)
    for k, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """The command that reproduces this run, for the JSON (``.venv/bin/python -m bench.NAME ARGS``)."""
    return shlex.join([".venv/bin/python", "-m", module, *(sys.argv[1:] if argv is None else argv)])


# --- Machine --------------------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info(device: Any = None) -> dict:
    """CPU, cores, torch threads, load average, OS, versions and, for a CUDA device, the GPU's name."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    if "torch" in sys.modules:
        import torch

        info.update(torch=torch.__version__, threads=torch.get_num_threads())
        if device is not None and torch.device(device).type == "cuda":
            props = torch.cuda.get_device_properties(device)
            info.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 1e9, 1), cuda=torch.version.cuda)
    return info


def describe_device(info: dict, device: Any, precision: str) -> str:
    """One line saying what was measured on: "CPU <model>, 2 threads, fp32" or "GPU <name>, bf16 autocast"."""
    if str(device).startswith("cuda"):
        gpu = f"GPU {info['gpu']} ({info['gpu_memory_gb']} GB), CUDA {info['cuda']}"
        return f"{gpu}, {precision}; torch {info['torch']}"
    threads = f"{info['threads']} torch thread" + ("s" if info["threads"] != 1 else "")
    return f"CPU {info['cpu']} ({info['cores']} cores), {threads}, {precision}; torch {info['torch']}; " + (
        f"load average {info['load_avg']}"
    )


# --- Options --------------------------------------------------------------------------------------------------


def per_name_option(values: Sequence[str] | None, names: Sequence[str], option: str) -> dict[str, int]:
    """``--batch-size 4`` (every name) or ``--batch-size pose_demo=64 action_demo=4`` → {name: int}."""
    out: dict[str, int] = {}
    for value in values or ():
        name, sep, number = value.rpartition("=")
        targets = [name] if sep else list(names)
        if sep and name not in names:
            raise SystemExit(f"{option} {value}: unknown name {name!r}; names are {', '.join(names)}")
        try:
            n = int(number)
        except ValueError:
            raise SystemExit(f"{option} {value}: {number!r} is not an integer") from None
        if n < 0 or (n == 0 and option != "--warmup"):
            raise SystemExit(f"{option} {value}: must be {'>= 0' if option == '--warmup' else '>= 1'}")
        out.update(dict.fromkeys(targets, n))
    return out


# --- Models from the experiments ------------------------------------------------------------------------------


def compose(config_name: str, overrides: Sequence[str] = (), runtime: bool = False, output_dir: Any = None) -> Any:
    """``conf/<config_name>.yaml`` composed with ``overrides`` (Hydra's compose API). ``runtime``: also set Hydra's
    runtime config, so that the data configs (``${hydra:...}`` paths) can be instantiated; ``output_dir``: the run
    folder (``paths.output_dir``) the pipeline writes to."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from har.utils.resolvers import register_resolvers

    os.environ.setdefault("HAR_ROOT", str(REPO))
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = hydra_compose(config_name=config_name, overrides=list(overrides), return_hydra_config=runtime)
    if runtime:
        HydraConfig().set_config(cfg)
    if output_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
    return cfg


def compose_experiment(experiment: str, overrides: Sequence[str] = (), runtime: bool = False) -> Any:
    """``conf/train.yaml`` composed with ``experiment=NAME`` and ``overrides`` (see :func:`compose`)."""
    return compose("train", [f"experiment={experiment}", *overrides], runtime)


# --quick: every network shrunk to width 16, K = 2 pose blocks (and 1 action block), 64x64 input, T = 4 frames.
QUICK_NET = {"width": 16, "num_blocks": 2, "action_blocks": 1, "input_size": 64, "num_frames": 4}


def compose_network(experiment: str, kind: str, quick: bool = False, overrides: Sequence[str] = ()) -> tuple:
    """An experiment's config for a pose or action network (``kind``), with ``overrides``; ``quick`` shrinks it
    (:data:`QUICK_NET`). Returns (config, its data node, its pose-network node, the --quick changes)."""
    from omegaconf import OmegaConf

    cfg = compose_experiment(experiment, overrides)
    data = "data.action" if "action" in cfg.data else "data"  # multitask data: the clips' node
    net = "model.net" if kind == "pose" else "model.pose_net"
    shrink = {}
    if quick:
        q = QUICK_NET
        shrink = {f"{net}.width": q["width"], f"{net}.num_blocks": q["num_blocks"],
                  f"{data}.input_size": [q["input_size"]] * 2}  # fmt: skip
        if kind == "action":
            shrink.update({f"{data}.num_frames": q["num_frames"], "model.action_net.num_blocks": q["action_blocks"]})
        for key, value in shrink.items():  # on the composed config: one compose per model
            OmegaConf.update(cfg, key, value, merge=False)
    changes = [f"{k}={v}".replace(" ", "") for k, v in shrink.items()]
    return cfg, OmegaConf.select(cfg, data), OmegaConf.select(cfg, net), changes


def build_module(cfg: Any) -> Any:
    """The config's LightningModule (``cfg.model``), with the run's float32 matmul precision set as train.py does."""
    import torch
    from hydra.utils import instantiate

    torch.set_float32_matmul_precision(cfg.get("matmul_precision", "high"))
    return instantiate(cfg.model)


# --- Device, precision, timing --------------------------------------------------------------------------------


def pick_device(name: str = "auto") -> Any:
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    return torch.device(name)


def amp_dtype(device: Any) -> Any:
    """bf16 on GPUs that have it, fp16 on older ones, None (fp32) on the CPU — as ``trainer=gpu`` does."""
    import torch

    if torch.device(device).type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def precision_name(dtype: Any) -> str:
    return "fp32" if dtype is None else f"{str(dtype).removeprefix('torch.').replace('bfloat16', 'bf16')} autocast"


def autocast(device: Any, dtype: Any):
    import torch

    return nullcontext() if dtype is None else torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def synchronize(device: Any) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: Any) -> float:
    """Seconds one call of ``fn`` takes, the device's queued work included."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def summarize(times: Sequence[float]) -> dict:
    """The per-iteration times: median (the figure reported), the spread (fastest and slowest) and all of them.
    A single fastest run flatters on a shared machine; the median over >= 3 runs with its spread does not."""
    import statistics

    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "runs_s": [round(t, 5) for t in times]}  # fmt: skip


def spread(values: Sequence[float]) -> dict:
    """Median and range of a list of figures (ratios, ms ...): ``{"median", "min", "max", "n"}``."""
    import statistics

    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt_spread(s: dict, digits: int = 2, unit: str = "") -> str:
    """``{"median": 1.46, "min": 1.31, "max": 1.62}`` → "1.46× (1.31-1.62)" style text."""
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


# --- FLOPs ----------------------------------------------------------------------------------------------------


def _conv_backward_flop(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed, output_padding,
                        groups, output_mask, out_shape=None, **kwargs) -> int:  # fmt: skip
    """torch's ``convolution_backward`` formula with the weight gradient divided by ``groups``: torch 2.13 counts
    a grouped (e.g. depthwise) convolution's weight gradient as if it were dense, ×groups too many (×576 for
    deephar's depthwise 5×5 convolutions at width 576). The input gradient and the forward count are right."""
    from torch.utils.flop_counter import conv_flop_count

    def t(shape):  # batch and channel dimensions swapped
        return [shape[1], shape[0], *shape[2:]]

    flops = 0
    if output_mask[0]:  # grad_input: a transposed convolution of grad_out with the weight
        flops += conv_flop_count(grad_out_shape, w_shape, out_shape[0], not transposed)
    if output_mask[1]:  # grad_weight: a convolution of the input with grad_out, per group
        if transposed:
            dense = conv_flop_count(t(grad_out_shape), t(x_shape), t(out_shape[1]), transposed=False)
        else:
            dense = conv_flop_count(t(x_shape), t(grad_out_shape), t(out_shape[1]), transposed=False)
        flops += dense // max(1, int(groups))
    return flops


def flop_counter() -> Any:
    """``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions, 2 FLOPs per multiply-add), with the
    grouped-convolution weight gradient counted right (:func:`_conv_backward_flop`)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: _conv_backward_flop})


def matmul_flops(device: Any, dtype: Any = None, size: int | None = None, repeats: int = 5) -> dict:
    """The machine's matmul FLOP/s: the fastest of ``repeats`` (size × size) @ (size × size) products in ``dtype``
    (default fp32; 2·size³ FLOPs each). Default size 2048 on a CPU, 8192 on a GPU."""
    import torch

    dtype = dtype or torch.float32
    size = size or (8192 if torch.device(device).type == "cuda" else 2048)
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=gen).to(device=device, dtype=dtype) for _ in range(2))
    a @ b  # warm-up
    best = min(timed(lambda: a @ b, device) for _ in range(repeats))
    return {"flop_per_s": 2 * size**3 / best, "size": size, "dtype": str(dtype).removeprefix("torch."),
            "seconds": round(best, 6)}  # fmt: skip


# --- torch.compile --------------------------------------------------------------------------------------------


def compile_unavailable(device: Any, backend: str) -> str | None:
    """Why torch.compile cannot run here (inductor on a CPU needs a C++ compiler), or None."""
    import torch

    if backend != "inductor" or torch.device(device).type != "cpu":
        return None
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        return f"no C++ compiler ({cxx!r} not on PATH; inductor needs one on the CPU: install g++ or set CXX)"
    return None


def short_reason(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line for the table and the JSON."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fmt_si(value: float | None, unit: str = "") -> str:
    """1.23e11 → "123.0 G" (for FLOP and FLOP/s columns)."""
    if value is None:
        return "-"
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


# --- Interleaved timing ---------------------------------------------------------------------------------------


class TimeLimitExceeded(BaseException):
    """Raised in the main thread by :func:`time_limit`; a BaseException, so that the ``except Exception`` fallbacks
    inside a compiler do not swallow it."""


@contextmanager
def time_limit(seconds: float | None, what: str):
    """Raise :class:`TimeLimitExceeded` in the main thread if the block runs longer than ``seconds`` (None or 0: no
    limit; POSIX main thread only, where SIGALRM interrupts Python code such as inductor's code generation)."""
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise TimeLimitExceeded(f"{what} took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_rounds(fns: dict[str, Callable[[], Any]], warmup: int, iters: int, device: Any, desc: str,
               compiled: Iterable[str] = (), fragile: Iterable[str] = (),
               compile_limit: float | None = None) -> tuple[dict, dict, dict]:  # fmt: skip
    """Time ``warmup + iters`` rounds of one call of each function, interleaved (a shared machine's load changes
    hit all of them alike), with a tqdm bar on stderr.

    The first call of a ``compiled`` function is its compilation: timed apart, never counted, and stopped after
    ``compile_limit`` seconds if given. A ``fragile`` function that raises (torch.compile, onnxruntime) or runs past
    that limit is dropped with the reason; any other error propagates.
    Returns (timed seconds per name, first-call seconds of the compiled ones, failure reasons).
    """
    from tqdm import tqdm

    compiled, fragile = set(compiled), set(fragile)
    live = dict(fns)
    times: dict[str, list[float]] = {name: [] for name in fns}
    first: dict[str, float] = {}
    failed: dict[str, str] = {}
    for r in tqdm(range(warmup + iters), desc=desc, file=sys.stderr, leave=False):
        for name in list(live):
            limit = compile_limit if name in compiled and r == 0 else None
            try:
                with time_limit(limit, "the compilation (first call)"):
                    t = timed(live[name], device)
            except (Exception, TimeLimitExceeded) as exc:  # noqa: BLE001 — compilers and runtimes fail in many ways
                if name not in fragile:
                    raise
                failed[name] = short_reason(exc)
                del live[name]
                continue
            if name in compiled and r == 0:
                first[name] = t
            elif r >= warmup:
                times[name].append(t)
    return {k: v for k, v in times.items() if k in live}, first, failed


def throughput(times: Sequence[float], items: int, flops_per_item: float, call: str, unit: str) -> dict:
    """Figures of one variant from its timed calls of ``items`` items each: the median call (the figure reported),
    the fastest and slowest, ``<unit>_per_s`` (median) with its range, and the achieved FLOP/s at the median (e.g.
    call="step", unit="samples")."""
    stats = summarize(times)
    per_s = items / stats["median_s"]
    return {"status": "ok", f"{call}_s": round(stats["median_s"], 6), f"min_{call}_s": round(stats["min_s"], 6),
            f"max_{call}_s": round(stats["max_s"], 6), "runs_s": stats["runs_s"], f"{unit}_per_s": per_s,
            f"{unit}_per_s_range": [items / stats["max_s"], items / stats["min_s"]],
            "flop_per_s": flops_per_item * per_s}  # fmt: skip


def add_ratios(variants: dict[str, dict], peak_flop_per_s: float, key: str, baseline: str = "eager") -> None:
    """Speed-up over the baseline variant (ratio of the medians of ``key``), its spread over the interleaved rounds
    (each round's baseline time over the variant's time in the same round) and the achieved FLOP/s over the matmul
    FLOP/s, in place."""
    base = variants[baseline]
    for entry in variants.values():
        if key in entry:
            entry[f"speedup_vs_{baseline}"] = entry[key] / base[key]
            entry["matmul_fraction"] = entry["flop_per_s"] / peak_flop_per_s
            pairs = list(zip(base["runs_s"], entry["runs_s"]))
            if pairs and all(t > 0 for _, t in pairs):
                entry[f"speedup_vs_{baseline}_rounds"] = spread([b / t for b, t in pairs])
