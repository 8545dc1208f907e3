"""Training-step throughput: samples/s of a full step (forward, loss, backward, optimizer) of the deephar networks,
eager vs channels_last vs torch.compile, measured in one run, with FLOPs per sample and the achieved FLOP/s over the
machine's matmul FLOP/s measured in the same run.

Models, built from the Hydra experiments (``conf/train.yaml`` + ``experiment=NAME``, compose API), so that they stay
in sync with the configs; loss and optimizer are the experiments' own:

* ``pose_original``   ``coco_pose``: J = 17, K = 8 blocks, width 576, 256x256; deephar's pose loss, RMSprop.
* ``pose_demo``       ``synthetic_pose``: the CPU demo size (K = 2, width 128, 128x128).
* ``action_original`` ``merl_action``: the action recogniser on a K = 8 / width 576 pose network, T = 8 frames of
  256x256; cross-entropy on the weighted heads (``ActionModule.action_loss``), SGD Nesterov. A sample is a clip.
* ``action_demo``     ``synthetic_action``: K = 2, width 64, T = 8 frames of 128x128, RMSprop (its action steps only:
  the multitask pose batch is left out).

Variants: ``eager`` (NCHW), ``channels_last`` (the experiment with ``model.channels_last=true``) and ``compile``
(``torch.compile(dynamic=False)`` of forward + loss, NCHW; backward through AOTAutograd's compiled graph; optimizer
eager). All start from the same weights and batch (random images, targets and labels) and are timed interleaved, one
step of each per round, so that load changes on a shared machine hit them alike. The figure reported is the median
step over >= 3 rounds with its spread (fastest-slowest); a speed-up is the ratio of the medians, with the range of the
per-round ratios. From those it states which layout the presets should default to (``model.channels_last``) and
whether ``conf/model/*.yaml`` does: a variant counts as faster only when every round's ratio is above 1, i.e. beyond
the run-to-run spread. FLOPs per sample: one eager step under
``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions, 2 per multiply-add; the weight gradient of
grouped convolutions corrected, see ``bench.common.flop_counter``). Matmul FLOP/s: the fastest large square matmul,
fp32 on a CPU, the AMP dtype on a GPU, measured before and after the models (the larger is used).

On a GPU the same command uses it with AMP (bf16 where supported, else fp16 with a GradScaler), synchronizing around
each step, and the configs' batch sizes; on a CPU fp32 and small batches for the original sizes. The table's first
line says what it measured on.

Usage::

    .venv/bin/python -m bench.train_step                  # 2 CPU cores: 12 min (9.5 compiling); 2.7 with a warm cache
    .venv/bin/python -m bench.train_step --models pose_demo action_demo --iters 20
    .venv/bin/python -m bench.train_step --batch-size pose_original=4 --skip-compile
    .venv/bin/python -m bench.train_step --quick          # tiny networks, 3 steps: a smoke test

Default CPU batch sizes / warm-up / timed rounds, chosen so that the steps themselves take ~2.5 min on 2 cores:
pose_original 2 / 1 / 3 (2.5 s per eager step), pose_demo 32 / 2 / 10, action_original 1 clip / 1 / 3 (8 frames
through the original pose net, ~7 s per eager step), action_demo 8 / 2 / 10. torch.compile's first step (the
compilation) is timed apart: with a cold inductor cache it took 72-201 s per model on 2 idle cores (the whole default
run: 12 min), with a warm one 3-17 s (2 min 44 s). ``--compile-timeout`` bounds it; ``--skip-compile`` leaves it out.
It prints a table, then as its last line one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import copy
import gc
import sys
from dataclasses import dataclass

from bench.common import (
    add_ratios,
    amp_dtype,
    autocast,
    build_module,
    command_line,
    compile_unavailable,
    compose_experiment,
    compose_network,
    describe_device,
    flop_counter,
    fmt_si,
    fmt_spread,
    machine_info,
    matmul_flops,
    per_name_option,
    pick_device,
    precision_name,
    print_json_line,
    print_table,
    run_rounds,
    short_reason,
    synchronize,
    throughput,
)


@dataclass(frozen=True)
class Spec:
    experiment: str
    kind: str  # pose | action


MODELS = {
    "pose_original": Spec("coco_pose", "pose"),
    "pose_demo": Spec("synthetic_pose", "pose"),
    "action_original": Spec("merl_action", "action"),
    "action_demo": Spec("synthetic_action", "action"),
}
# (batch size, warm-up rounds, timed rounds) on a CPU; on a GPU the config's batch size, 5 and 20.
CPU_DEFAULTS = {"pose_original": (2, 1, 3), "pose_demo": (32, 2, 10), "action_original": (1, 1, 3),
                "action_demo": (8, 2, 10)}  # fmt: skip
QUICK = {"batch": 2, "warmup": 1, "iters": 3}  # --quick: batch, warm-up and timed rounds (tiny networks: QUICK_NET)
VARIANTS = ("eager", "channels_last", "compile")


# --- Models and steps -----------------------------------------------------------------------------------------


def make_batch(kind: str, batch_size: int, data_cfg, net_cfg, num_classes: int, device) -> tuple:
    """Random inputs of the step: pose (images (B, 3, H, W) in [-1, 1], target_uv (B, J, 2), valid (B, J));
    action (frames (B, T, 3, H, W), labels (B,))."""
    import torch

    gen = torch.Generator().manual_seed(0)
    h, w = (int(s) for s in data_cfg.input_size)
    if kind == "pose":
        j = int(net_cfg.num_joints)
        images = torch.rand(batch_size, 3, h, w, generator=gen) * 2 - 1
        target = torch.rand(batch_size, j, 2, generator=gen)
        valid = torch.rand(batch_size, j, generator=gen) > 0.2
        return tuple(x.to(device) for x in (images, target, valid))
    frames = torch.rand(batch_size, int(data_cfg.num_frames), 3, h, w, generator=gen) * 2 - 1
    labels = torch.randint(0, num_classes, (batch_size,), generator=gen)
    return frames.to(device), labels.to(device)


def make_step(module, kind: str, batch: tuple, device, dtype, compile_backend: str | None):
    """A closure running one training step of ``module`` on ``batch``: forward + loss (under autocast on a GPU,
    compiled when ``compile_backend`` is given), backward, optimizer step, gradients cleared."""
    import torch

    from har.models.losses import pose_loss

    optimizer = module.configure_optimizers()["optimizer"]
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None

    if kind == "pose":

        def loss_fn(images, target_uv, valid):
            out = module(images)
            return pose_loss(out.pose, out.visibility, target_uv, valid, valid.float(), **module.loss_args)["loss"]
    else:

        def loss_fn(frames, labels):
            return module.action_loss(module(frames), labels)

    # dynamic=False: every model compiles this same code object; with dynamo's automatic dynamic shapes the second
    # model's shapes would turn the graph symbolic, and inductor's CPU code generation then spends many minutes
    # simplifying symbolic indices.
    forward = torch.compile(loss_fn, backend=compile_backend, dynamic=False) if compile_backend else loss_fn

    def step():
        with autocast(device, dtype):
            loss = forward(*batch)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return step


def describe(kind: str, net_cfg, data_cfg, num_classes: int) -> str:
    h, w = (int(s) for s in data_cfg.input_size)
    text = f"K={net_cfg.num_blocks}, width {net_cfg.width}, {h}x{w}"
    return text + (f", T={data_cfg.num_frames}, {num_classes} classes" if kind == "action" else "")


# --- One model ------------------------------------------------------------------------------------------------


def bench_model(name: str, batch_size: int, warmup: int, iters: int, device, dtype, quick: bool,
                compile_mode: str | None, compile_backend: str,
                compile_timeout: float | None = None) -> dict:  # fmt: skip
    """Build the three variants, count FLOPs, time interleaved rounds; return the model's figures."""
    import torch

    spec = MODELS[name]
    eager_layout = ["model.channels_last=false"]
    cfg, data_cfg, net_cfg, overrides = compose_network(spec.experiment, spec.kind, quick, eager_layout)
    cfg_cl = copy.deepcopy(cfg)  # the channels_last variant: the same config with model.channels_last=true
    cfg_cl.model.channels_last = True
    torch.manual_seed(0)
    eager = build_module(cfg).to(device)
    num_classes = len(eager.classes) if spec.kind == "action" else 0
    batch = make_batch(spec.kind, batch_size, data_cfg, net_cfg, num_classes, device)
    modules = {"eager": eager, "channels_last": build_module(cfg_cl).to(device)}
    modules["channels_last"].load_state_dict(eager.state_dict())
    variants: dict[str, dict] = {}
    if compile_mode == "skip":
        variants["compile"] = {"status": "skipped", "reason": "--skip-compile"}
    elif compile_mode is not None:
        variants["compile"] = {"status": "failed", "reason": compile_mode}
    else:
        modules["compile"] = build_module(cfg).to(device)
        modules["compile"].load_state_dict(eager.state_dict())
    steps = {v: make_step(m, spec.kind, batch, device, dtype, None) for v, m in modules.items() if v != "compile"}
    if "compile" in modules:
        try:  # torch.compile itself checks the backend's name
            steps["compile"] = make_step(modules["compile"], spec.kind, batch, device, dtype, compile_backend)
        except Exception as exc:  # noqa: BLE001
            variants["compile"] = {"status": "failed", "reason": short_reason(exc)}
            del modules["compile"]
    preset = compose_experiment(spec.experiment)  # the preset as a run composes it: its configured layout
    result = {
        "experiment": spec.experiment,
        "configured_channels_last": bool(preset.model.get("channels_last", False)),
        "overrides": overrides,
        "network": describe(spec.kind, net_cfg, data_cfg, num_classes),
        "sample": "image" if spec.kind == "pose" else f"clip of {data_cfg.num_frames} frames",
        "frames_per_sample": 1 if spec.kind == "pose" else int(data_cfg.num_frames),
        "optimizer": cfg.model.optimizer._target_.rsplit(".", 1)[-1],
        "loss": "har.models.losses.pose_loss"
        if spec.kind == "pose"
        else "ActionModule.action_loss (cross-entropy, heads)",
        "params": sum(p.numel() for p in eager.parameters()),
        "batch_size": batch_size,
        "warmup": warmup,
        "iters": iters,
    }

    with flop_counter() as counter:  # also the eager variant's first (warm-up) step
        steps["eager"]()
    synchronize(device)
    result["flops_per_sample"] = counter.get_total_flops() / batch_size

    times, first, failed = run_rounds(steps, warmup, iters, device, f"{name} rounds", compiled=["compile"],
                                      fragile=["compile"], compile_limit=compile_timeout)  # fmt: skip
    torch._dynamo.reset()  # nothing of this model's compilation (or of one stopped half-way) for the next one
    for v, reason in failed.items():
        variants[v] = {"status": "failed", "reason": reason}
    for v, ts in times.items():
        if not ts:
            variants[v] = {"status": "failed", "reason": "no timed step after the compilation (use --warmup 1 or more)"}
            continue
        variants[v] = throughput(ts, batch_size, result["flops_per_sample"], "step", "samples")
        variants[v]["frames_per_s"] = variants[v]["samples_per_s"] * result["frames_per_sample"]
        if v in first:
            variants[v].update(backend=compile_backend, compile_s=round(first[v], 3))
    result["variants"] = {v: variants[v] for v in VARIANTS if v in variants}
    del modules, steps, eager, batch
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


# --- Run ------------------------------------------------------------------------------------------------------


def run(models: list[str], batch_sizes: dict[str, int], warmups: dict[str, int], iters: dict[str, int],
        device_name: str = "auto", quick: bool = False, skip_compile: bool = False, compile_backend: str = "inductor",
        threads: int | None = None, command: str = "", compile_timeout: float | None = None) -> dict:  # fmt: skip
    import torch

    if threads:
        torch.set_num_threads(threads)
    device = pick_device(device_name)
    dtype = amp_dtype(device)
    precision = precision_name(dtype)
    info = machine_info(device)
    compile_mode = "skip" if skip_compile else compile_unavailable(device, compile_backend)
    matmul_before = matmul_flops(device, dtype, size=512 if quick else None)

    results = {}
    for name in models:
        if quick:
            defaults = (QUICK["batch"], QUICK["warmup"], QUICK["iters"])
        elif device.type == "cuda":
            _, data_cfg, *_ = compose_network(MODELS[name].experiment, MODELS[name].kind)
            defaults = (int(data_cfg.batch_size), 5, 20)
        else:
            defaults = CPU_DEFAULTS[name]
        b, w, n = batch_sizes.get(name, defaults[0]), warmups.get(name, defaults[1]), iters.get(name, defaults[2])
        print(f"[train_step] {name}: batch {b}, {w} warm-up + {n} timed rounds", file=sys.stderr, flush=True)
        results[name] = bench_model(name, b, w, n, device, dtype, quick, compile_mode, compile_backend,
                                    compile_timeout)  # fmt: skip

    matmul_after = matmul_flops(device, dtype, size=512 if quick else None)
    peak = max(matmul_before["flop_per_s"], matmul_after["flop_per_s"])
    for r in results.values():
        add_ratios(r["variants"], peak, "samples_per_s")
    defaults = choose_defaults(results)
    figures = {
        "benchmark": "train_step",
        "command": command,
        "measured_on": describe_device(info, device, precision),
        "device": device.type,
        "precision": precision,
        "machine": dict(info, load_avg_after=machine_info()["load_avg"]),
        "quick": quick,
        "statistic": "median step with its range (every step kept); variants interleaved, one step each per round",
        "matmul": {"flop_per_s": peak, "before": matmul_before, "after": matmul_after},
        "models": results,
        "defaults": defaults,
    }
    print_report(figures)
    print_json_line(figures)
    return figures


def choose_defaults(models: dict) -> dict:
    """Per model: the layout the measurement says a run should default to, and whether its preset does.

    channels_last is chosen when it is faster than NCHW in every interleaved round (the per-round ratios' minimum
    above 1), NCHW when it is slower in every round; in between the difference is within the run-to-run spread and
    the configured default stands. torch.compile is reported, not chosen: it is measured over NCHW and its
    compilation is paid at every start (``compile.enabled=true`` turns it on)."""
    out = {}
    for name, r in models.items():
        v, configured = r["variants"], r["configured_channels_last"]
        cl = v.get("channels_last", {})
        if "speedup_vs_eager_rounds" not in cl:
            continue
        rounds = cl["speedup_vs_eager_rounds"]
        if rounds["min"] > 1:
            choice, why = True, "faster than NCHW in every round"
        elif rounds["max"] < 1:
            choice, why = False, "slower than NCHW in every round"
        else:
            choice, why = configured, "within the run-to-run spread of NCHW"
        entry = {"channels_last": choice, "speedup": cl["speedup_vs_eager"], "rounds": rounds, "reason": why,
                 "beyond_spread": rounds["min"] > 1 or rounds["max"] < 1,
                 "configured": configured, "configured_is_fastest": choice == configured}  # fmt: skip
        compiled = v.get("compile", {})
        if "speedup_vs_eager_rounds" in compiled:
            entry["compile"] = {"speedup_vs_eager": compiled["speedup_vs_eager"],
                                "rounds": compiled["speedup_vs_eager_rounds"],
                                "compile_s": compiled.get("compile_s"), "default": False}  # fmt: skip
        out[name] = entry
    return out


def print_report(f: dict) -> None:
    mm = f["matmul"]
    print(f"\ntraining step (forward, loss, backward, optimizer) — measured on {f['measured_on']}")
    print(f"matmul reference: {fmt_si(mm['flop_per_s'], 'FLOP/s')} ({mm['before']['size']}² {mm['before']['dtype']}, "
          f"fastest of before/after the models); step times: median of the rounds (fastest-slowest)\n")  # fmt: skip
    rows, notes = [], []
    for name, r in f["models"].items():
        for v, e in r["variants"].items():
            if "samples_per_s" not in e:
                rows.append([name, f"{v}: {e['status']}"] + [None] * 7)
                notes.append(f"{name} {v}: {e['status']} ({e['reason']})")
                continue
            label = v + (f" ({e['compile_s']:.0f} s to compile)" if "compile_s" in e else "")
            ratio = e.get("speedup_vs_eager_rounds")
            ratio_text = fmt_spread({**ratio, "median": e["speedup_vs_eager"]}) if ratio else "1.00"
            step = f"{e['step_s'] * 1e3:.1f} ({e['min_step_s'] * 1e3:.0f}-{e['max_step_s'] * 1e3:.0f})"
            rows.append([name, label, r["batch_size"], step, f"{e['samples_per_s']:.2f}", ratio_text,
                         fmt_si(r["flops_per_sample"]), fmt_si(e["flop_per_s"]),
                         f"{100 * e['matmul_fraction']:.1f} %"])  # fmt: skip
    header = ["model", "variant", "batch", "step ms", "samples/s", "× eager", "FLOP/sample", "FLOP/s", "of matmul"]
    print_table(header, rows)
    for note in notes:
        print(note)
    print()
    for name, r in f["models"].items():
        extra = f"; overrides {' '.join(r['overrides'])}" if r["overrides"] else ""
        print(f"{name}: {r['experiment']} — {r['network']}, {r['params']:,} params, {r['optimizer']}, "
              f"sample = {r['sample']}{extra}")  # fmt: skip
    if f.get("defaults"):
        print("\ndefault layout (model.channels_last), chosen from these rounds:")
    for name, d in f.get("defaults", {}).items():
        n = d["rounds"]["n"]
        verdict = (
            (
                "the preset defaults to the fastest layout measured"
                if d["beyond_spread"]
                else f"neither layout is faster beyond the spread: the preset's {str(d['configured']).lower()} stands"
            )
            if d["configured_is_fastest"]
            else (f"the preset says {str(d['configured']).lower()}: NOT the fastest layout measured here")
        )
        print(
            f"  {name}: channels_last={str(d['channels_last']).lower()}: "
            f"{fmt_spread({**d['rounds'], 'median': d['speedup']})}"
            f"× NCHW (ratio of medians; per-round range over {n} rounds), {d['reason']}; {verdict}"
        )
        if "compile" in d:
            c = d["compile"]
            print(
                f"    torch.compile (NCHW): {fmt_spread({**c['rounds'], 'median': c['speedup_vs_eager']})}× NCHW after "
                f"{c['compile_s'] or 0:.0f} s compiling; not a default (compile.enabled=true turns it on)"
            )


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--batch-size", nargs="+", metavar="[MODEL=]N", help="per model (MODEL=N) or for all (N)")
    p.add_argument("--warmup", nargs="+", metavar="[MODEL=]N", help="untimed rounds before the timed ones")
    p.add_argument("--iters", nargs="+", metavar="[MODEL=]N", help="timed rounds (one step of each variant)")
    p.add_argument("--quick", action="store_true", help="tiny networks (width 16, K=2, 64x64, T=4), 3 timed steps")
    p.add_argument("--skip-compile", action="store_true", help="leave out the torch.compile variant")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend (default inductor)")
    p.add_argument("--compile-timeout", type=float, metavar="SECONDS",
                   help="give up a compilation after this long (reported as failed); default: no limit")  # fmt: skip
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1 ...")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = p.parse_args(argv)
    names = list(MODELS)
    return run(args.models, per_name_option(args.batch_size, names, "--batch-size"),
               per_name_option(args.warmup, names, "--warmup"), per_name_option(args.iters, names, "--iters"),
               args.device, args.quick, args.skip_compile, args.compile_backend, args.threads,
               command_line("bench.train_step", argv), args.compile_timeout)  # fmt: skip


if __name__ == "__main__":
    main()
