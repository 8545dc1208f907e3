"""COCO keypoint AP benchmark: har's evaluation against pycocotools' and faster-coco-eval's COCOeval, same files.

Generates a person-keypoints ground truth at COCO val2017 scale or more (by default 14,000 keypoint-labelled persons:
5,992 images, 24,527 person annotations with crowd regions, persons without labelled joints, tiny boxes and images
without people; see ``bench.coco_index.generate_annotations``) and COCO results for it: one prediction per instance
har predicts on (the ground truth plus noise of a random size, joint scores and a score), plus false positives on
random images (15 %), keypoints rounded as har writes them. Then it times, in interleaved rounds, one evaluation
(results in, the 10 statistics out; the ground truth already loaded) by

* har: ``har.metrics.coco_ap.KeypointGroundTruth.evaluate`` (validated ground truth built once; OKS of all images
  at once; faster-coco-eval's C++ matching and accumulation);
* pycocotools: ``COCO.loadRes`` (on shallow copies) + ``COCOeval`` on the raw file;
* faster-coco-eval: ``COCO.loadRes`` (shallow copies) + ``COCOeval_faster`` on the raw file,

checks every statistic of har and faster-coco-eval equal to pycocotools' (1e-6), and reports the ground truth's
load / build times. A readable table is printed, then, as the last line, one JSON object with every figure::

    python -m bench.coco_eval                      # val2017 scale, 3 rounds
    python -m bench.coco_eval --instances 600 --repeats 1
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import io
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/coco_eval.py` as well as `python -m bench.coco_eval`
    sys.path.insert(0, str(REPO))

from bench.common import cpu_model, print_json_line, print_table  # noqa: E402

GENERATOR_VERSION = 1
FALSE_POSITIVES = 0.15  # extra results on random images, as a fraction of the instances predicted on
TOLERANCE = 1e-6


# --- The files --------------------------------------------------------------------------------------------------


def make_results(ann_file: Path, seed: int = 0, false_positives: float = FALSE_POSITIVES) -> list[dict]:
    """COCO results for ``ann_file``: one per instance har predicts on (its index's), the ground truth moved by
    noise of a random size (σ up to 0.1·√area), plus ``false_positives`` × as many on random images."""
    from har.data.formats.coco import load_coco_index

    index = load_coco_index(ann_file, cache=False, verbose=False)
    rng = np.random.default_rng(seed)
    n = len(index)
    kps = index.keypoints.astype(np.float64)
    box = index.bboxes.astype(np.float64)
    xy = kps[..., :2].copy()
    unlabelled = kps[..., 2] == 0  # har predicts every joint: an unlabelled one somewhere in the box
    centre = box[:, None, :2] + box[:, None, 2:] * rng.random((n, kps.shape[1], 2))
    xy[unlabelled] = centre[unlabelled]
    sigma = rng.uniform(0, 0.1, (n, 1, 1)) * np.sqrt(index.areas.astype(np.float64))[:, None, None]
    xy += rng.normal(0, 1, xy.shape) * sigma
    joint_scores = rng.uniform(0, 1, kps.shape[:2])
    pred = np.round(np.concatenate([xy, joint_scores[..., None]], axis=2), 3).reshape(n, -1)
    image_ids = index.image_ids[index.ann_image]
    scores = np.round(joint_scores.mean(axis=1), 5)
    results = [{"image_id": int(i), "category_id": 1, "keypoints": k, "score": float(s), "gt_id": int(g)}
               for i, k, s, g in zip(image_ids, pred.tolist(), scores, index.ann_ids)]  # fmt: skip
    m = round(false_positives * n)
    for src, img, score in zip(rng.integers(0, n, m), rng.choice(index.image_ids, m), rng.uniform(0, 1, m)):
        results.append({**results[src], "image_id": int(img), "score": round(float(score), 5), "gt_id": -1})
    return results


def ensure_files(workdir: Path, instances: int, seed: int) -> tuple[Path, dict, Path]:
    """The annotation file and the results file for these parameters in ``workdir``, generated unless there."""
    from bench.coco_index import generate_annotations

    ann = workdir / "annotations" / "person_keypoints_val2017.json"
    res = workdir / "results.json"
    meta_path = workdir / "bench_meta.json"
    params = {"instances": instances, "seed": seed, "version": GENERATOR_VERSION}
    if ann.is_file() and res.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("params") == params and meta.get("size") == ann.stat().st_size:
            return ann, meta["counts"], res
    for stale in ann.parent.glob(f"{ann.name}.*"):  # caches of an earlier file
        stale.unlink()
    counts = generate_annotations(ann, instances, seed)
    res.write_text(json.dumps(make_results(ann, seed)))
    meta_path.write_text(json.dumps({"params": params, "size": ann.stat().st_size, "counts": counts}))
    return ann, counts, res


# --- The three evaluations --------------------------------------------------------------------------------------


def _sigmas() -> np.ndarray:
    from har.layouts import COCO17

    return np.asarray(COCO17.sigmas, dtype=np.float64)


def _stats(evaluator) -> list[float]:
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats[:10]]


def pycocotools_eval(gt, results: list[dict]) -> list[float]:
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(gt, gt.loadRes([dict(r) for r in results]), iouType="keypoints")
    evaluator.params.kpt_oks_sigmas = _sigmas()
    return _stats(evaluator)


def faster_eval(gt, results: list[dict]) -> list[float]:
    from faster_coco_eval.core.faster_eval_api import COCOeval_faster

    dt = gt.loadRes([dict(r) for r in results])
    evaluator = COCOeval_faster(gt, dt, iouType="keypoints", kpt_oks_sigmas=_sigmas(), print_function=lambda *a: 0)
    return _stats(evaluator)


def har_eval(gt, results: list[dict]) -> list[float]:
    from har.metrics.coco_ap import STAT_NAMES

    stats = gt.evaluate(results, _sigmas(), backend="faster")
    return [stats[name] for name in STAT_NAMES]


def load_ground_truths(ann: Path) -> tuple[dict, dict]:
    """Each variant's ground truth, loaded once, and the seconds each load took."""
    import faster_coco_eval

    from har.data.formats.coco import load_coco_ground_truth
    from har.metrics.coco_ap import KeypointGroundTruth, load_coco_gt

    gts, seconds = {}, {}
    start = time.perf_counter()
    gts["pycocotools"] = load_coco_gt(ann)
    seconds["pycocotools"] = time.perf_counter() - start
    start = time.perf_counter()
    gts["faster-coco-eval"] = faster_coco_eval.COCO(str(ann))
    seconds["faster-coco-eval"] = time.perf_counter() - start
    for stale in ann.parent.glob(f"{ann.name}.*"):
        stale.unlink()
    start = time.perf_counter()
    har_gt = KeypointGroundTruth(load_coco_ground_truth(ann, cache=True))  # parse, validate, write the cache
    har_gt.coco("faster")
    seconds["har"] = time.perf_counter() - start
    start = time.perf_counter()
    cached = KeypointGroundTruth(load_coco_ground_truth(ann, cache=True))
    cached.coco("faster")
    seconds["har_from_cache"] = time.perf_counter() - start
    gts["har"] = har_gt
    return gts, seconds


VARIANTS = {"har": har_eval, "pycocotools": pycocotools_eval, "faster-coco-eval": faster_eval}


def run(instances: int, repeats: int, workdir: Path | None, seed: int, command: str) -> dict:
    """Generate (or reuse) the files, time every variant, check the statistics, print the table and the JSON."""
    from har.metrics.coco_ap import STAT_NAMES

    keep = workdir is not None
    workdir = Path(workdir) if keep else Path(tempfile.mkdtemp(prefix="har_bench_coco_eval_"))
    try:
        start = time.perf_counter()
        ann, counts, res_file = ensure_files(workdir, instances, seed)
        generate_s = time.perf_counter() - start
        results = json.loads(res_file.read_text())
        load_before = [round(x, 2) for x in os.getloadavg()]
        gts, gt_seconds = load_ground_truths(ann)
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        stats: dict[str, list[float]] = {}
        for _ in range(repeats):  # interleaved: a shared machine's load changes hit every variant alike
            for name, fn in VARIANTS.items():
                start = time.perf_counter()
                stats[name] = fn(gts[name], results)
                times[name].append(time.perf_counter() - start)
        untouched = json.loads(res_file.read_text()) == results  # no evaluation modified the records
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)

    reference = stats["pycocotools"]
    variants = {}
    for name, runs in times.items():
        diff = max(abs(a - b) for a, b in zip(stats[name], reference))
        variants[name] = {
            "median_s": round(statistics.median(runs), 4),
            "min_s": round(min(runs), 4),
            "max_s": round(max(runs), 4),
            "runs_s": [round(t, 4) for t in runs],
            "ratio_to_pycocotools": round(statistics.median(runs) / statistics.median(times["pycocotools"]), 4),
            "max_abs_stat_diff": diff,
            "stats_equal": diff <= TOLERANCE,
            "stats": dict(zip(STAT_NAMES, stats[name])),
        }
    figures = {
        "benchmark": "coco_eval",
        "dataset": {**counts, "results": len(results)},
        "generate_s": round(generate_s, 2),
        "repeats": repeats,
        "ground_truth_load_s": {k: round(v, 4) for k, v in gt_seconds.items()},
        "variants": variants,
        "results_unmodified": untouched,
        "tolerance": TOLERANCE,
        "goals": {
            "stats_equal_1e-6": all(v["stats_equal"] for v in variants.values()),
            "har<=0.5x_pycocotools": variants["har"]["ratio_to_pycocotools"] <= 0.5,
        },
        "machine": machine(load_before),
        "command": command,
    }
    report(figures)
    print_json_line(figures)
    return figures


def machine(load_before: list[float]) -> dict:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_avg_before": load_before,
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pycocotools": importlib.metadata.version("pycocotools"),
        "faster_coco_eval": importlib.metadata.version("faster-coco-eval"),
    }


def report(f: dict) -> None:
    d = f["dataset"]
    print(f"\nCOCO keypoint AP benchmark — {d['images']:,} images ({d['images_without_person']:,} without person), "
          f"{d['annotations']:,} person annotations ({d['with_keypoints']:,} with keypoints, {d['crowd']:,} crowd, "
          f"{d['num_keypoints_0']:,} num_keypoints=0), {d['results']:,} results")  # fmt: skip
    m = f["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, load {m['load_avg_before']} -> {m['load_avg_after']}; "
          f"pycocotools {m['pycocotools']}, faster-coco-eval {m['faster_coco_eval']}\n")  # fmt: skip
    rows = [
        (name, f"{v['median_s']:.3f}", f"{v['min_s']:.3f}-{v['max_s']:.3f}", f"{v['ratio_to_pycocotools']:.3f}",
         f"{v['max_abs_stat_diff']:.1e}", f["ground_truth_load_s"][name])
        for name, v in f["variants"].items()
    ]  # fmt: skip
    title = f"one evaluation (results in, 10 statistics out), median of {f['repeats']}; ground truth loaded once"
    print_table(("variant", "median s", "range s", "x pycocotools", "max |stat diff|", "gt load s"), rows, title)
    print(f"(har's ground truth from its cache: {f['ground_truth_load_s']['har_from_cache']:.3f} s; "
          f"results records unmodified: {f['results_unmodified']})")  # fmt: skip
    goals = ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in f["goals"].items())
    print(f"goals: {goals}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=14_000, help="keypoint-labelled persons (14000: 5,992 images)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (medians are reported)")
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) the generated files here; default: a temp dir")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = "python -m bench.coco_eval" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    return run(args.instances, args.repeats, args.workdir, args.seed, command)


if __name__ == "__main__":
    main()
