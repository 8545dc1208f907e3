"""``runtime=onnx`` of evaluate.py and predict.py against ``runtime=torch``: wall time of the whole command (checkpoint
load, ONNX export, data, network, metrics, files), on one checkpoint and one dataset, measured in one run.

The checkpoint is the experiment's pose network with random weights (the time does not depend on them), saved as
train.py saves one. ``evaluate`` runs evaluate.py's pipeline on the experiment's test split (synthetic_pose: the
synthetic COCO val2017, generated on first use); ``predict`` runs predict.py on the same split's images with its
annotation file as the boxes (``overlays=false``: the drawing is the same in both runtimes). A first round, not
timed, runs both and compares their metrics and keypoints (largest difference in the JSON); its onnx run exports the
network (and caches the export, as a user's first runtime=onnx run does; its time is reported). Then the runtimes
are run interleaved (torch, onnx, torch, onnx, ...), the onnx runs reusing the cached export: the figure is the
median over ``--rounds`` (>= 3) with the fastest and slowest; the ratio is torch's over onnx's, per round (> 1: onnx
is faster). The export's own time (uncached) is measured apart, once per round.

Usage::

    .venv/bin/python -m bench.runtime                              # synthetic_pose (demo size), 3 rounds: ~4 min
    .venv/bin/python -m bench.runtime --experiment coco_pose --data-root data/synthetic_coco --limit 48  # full size
    .venv/bin/python -m bench.runtime --quick                      # tiny network and data: a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import command_line, compose, fmt_spread, machine_info, print_json_line, print_table, spread


def _save_checkpoint(experiment: str, overrides: list[str], path: Path) -> dict:
    """The experiment's PoseModule, random weights, saved as Lightning does; returns its data settings."""
    import lightning
    import torch
    from hydra.utils import instantiate

    cfg = compose("train", [f"experiment={experiment}", *overrides], runtime=True, output_dir=path.parent / "compose")
    torch.manual_seed(0)
    module = instantiate(cfg.model)
    data = {"padding": float(cfg.data.get("padding", 1.25)), "input_size": list(cfg.data.input_size)}
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": lightning.__version__, "epoch": 0, "global_step": 0,
                "datamodule_hyper_parameters": data}, path)  # fmt: skip
    from omegaconf import OmegaConf

    return {"root": str(cfg.data.root), "net": OmegaConf.to_container(cfg.model.net, resolve=True),
            "batch_size": int(cfg.data.batch_size)}  # fmt: skip


def _export_seconds(ckpt: Path, folder: Path) -> float:
    """Seconds to export the checkpoint's pose network and open it in onnxruntime (what runtime=onnx adds)."""
    from har.lit.common import load_module
    from har.models.onnx import OnnxPoseNet

    net = load_module(ckpt).net
    start = time.perf_counter()
    OnnxPoseNet(net, folder / "pose_net.onnx", cache=False)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default="synthetic_pose", help="a pose experiment (default: synthetic_pose)")
    parser.add_argument("--data-root", default=None, help="data.root (default: the experiment's)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each runtime, interleaved (default 3)")
    parser.add_argument("--tools", nargs="+", default=["evaluate", "predict"], choices=["evaluate", "predict"])
    parser.add_argument("--limit", type=int, default=None,
                        help="about this many images: evaluate.py runs the test batches that hold them, predict.py "
                             "the first this many val images (default: all)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a tiny network on a tiny generated set (smoke test)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        raise SystemExit("--rounds: at least 1")

    from har.predict.run import predict
    from har.run.pipeline import evaluate
    from har.run.quiet import quiet_lightning

    quiet_lightning()
    work = Path(tempfile.mkdtemp(prefix="har-bench-runtime-"))
    try:
        common = ["trainer.accelerator=cpu", "logger=csv"]
        if args.quick:
            from har.synthetic.coco import generate_synthetic_coco

            root = work / "data"
            generate_synthetic_coco(root, num_train=4, num_val=12, seed=0, progress=False)
            common += ["model.net.width=16", "model.net.num_blocks=2", "data.input_size=[64,64]",
                       "data.synthetic=null", "data.num_workers=0", "data.persistent_workers=false"]  # fmt: skip
        else:
            root = None
        if args.data_root:
            root = Path(args.data_root)
        if root is not None:
            common.append(f"data.root={root}")
        ckpt = work / "pose.ckpt"
        info = _save_checkpoint(args.experiment, common, ckpt)
        root = Path(info["root"])
        images = root / "val2017"
        if args.limit:
            images = work / "images"  # the first --limit images, linked
            images.mkdir()
            for f in sorted((root / "val2017").iterdir())[: args.limit]:
                (images / f.name).symlink_to(f)
            common.append(f"+trainer.limit_test_batches={-(-args.limit // info['batch_size'])}")

        os.environ["HAR_CACHE_DIR"] = str(work / "cache")  # empty: the first onnx run exports
        times: dict[str, dict[str, list[float]]] = {t: {"torch": [], "onnx": []} for t in args.tools}
        first_onnx_s: dict[str, float] = {}
        export_s: list[float] = []
        diffs: dict[str, float] = {}
        outputs: dict[str, dict[str, object]] = {t: {} for t in args.tools}
        for r in range(args.rounds + 1):  # round 0: outputs compared, the export made and cached, not timed
            for tool in args.tools:
                for runtime in ("torch", "onnx"):
                    out = work / f"{tool}_{runtime}_{r}"
                    if tool == "evaluate":
                        overrides = [f"experiment={args.experiment}", f"ckpt_path={ckpt}", f"runtime={runtime}",
                                     *common]  # fmt: skip
                        cfg = compose("eval", overrides, runtime=True, output_dir=out)
                        start = time.perf_counter()
                        result = evaluate(cfg)
                    else:
                        cfg = compose("predict", [f"ckpt_path={ckpt}", f"input={images}",
                                                  f"boxes={root / 'annotations' / 'person_keypoints_val2017.json'}",
                                                  f"runtime={runtime}", "overlays=false", "batch_size=16",
                                                  "trainer.accelerator=cpu"], runtime=True, output_dir=out)  # fmt: skip
                        start = time.perf_counter()
                        files = predict(cfg)
                        result = [p["keypoints"] for p in json.loads(Path(files["predictions"]).read_text())]
                    if r == 0:
                        outputs[tool][runtime] = result
                        if runtime == "onnx" and not first_onnx_s:
                            first_onnx_s[tool] = time.perf_counter() - start
                    else:
                        times[tool][runtime].append(time.perf_counter() - start)
                    shutil.rmtree(out, ignore_errors=True)
            if r > 0:
                export_s.append(_export_seconds(ckpt, work / f"export_{r}"))
        if "evaluate" in outputs:
            a, b = outputs["evaluate"]["torch"], outputs["evaluate"]["onnx"]
            diffs["evaluate_metrics"] = max(abs(a[k] - b[k]) for k in a)  # type: ignore[index]
        if "predict" in outputs:
            import numpy as np

            a, b = (np.asarray(outputs["predict"][k]) for k in ("torch", "onnx"))
            diffs["predict_keypoints_px"] = float(np.abs(a - b).max())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    figures: dict[str, dict] = {}
    rows = []
    for tool in args.tools:
        t, o = (spread(times[tool][k]) for k in ("torch", "onnx"))
        ratios = spread([a / b for a, b in zip(times[tool]["torch"], times[tool]["onnx"], strict=True)])
        figures[tool] = {"torch_s": t, "onnx_s": o, "speedup": ratios,
                         "runs_s": {k: [round(v, 3) for v in times[tool][k]] for k in ("torch", "onnx")}}  # fmt: skip
        rows.append([tool, fmt_spread(t, 1, " s"), fmt_spread(o, 1, " s"), fmt_spread(ratios, 2, "×")])
    info_machine = machine_info()
    print_table(["tool", "runtime=torch", "runtime=onnx (export cached)", "torch / onnx"], rows,
                title=f"{args.experiment}{' (--quick)' if args.quick else ''}, {args.rounds} rounds, "
                      f"{info_machine.get('cpu', '')}: medians (fastest-slowest)")  # fmt: skip
    export = spread(export_s)
    print(
        f"ONNX export (a first runtime=onnx run's extra cost): {fmt_spread(export, 1, ' s')}; first onnx run "
        + ", ".join(f"{k} {v:.1f} s" for k, v in first_onnx_s.items())
        + "; largest differences: "
        + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
    )
    print_json_line({"bench": "runtime", "command": command_line("bench.runtime", argv), "experiment": args.experiment,
                     "quick": args.quick, "limit": args.limit, "rounds": args.rounds, "net": info["net"],
                     "machine": info_machine, "export_s": export, "first_onnx_run_s": first_onnx_s,
                     "max_abs_diff": diffs, **figures,
                     "median_speedup": {t: figures[t]["speedup"]["median"] for t in args.tools}})  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
