"""Data-pipeline cost per training sample over JPEG decode alone, on one core.

A training sample is ``TopDownPoseDataset.__getitem__`` with the training augmentation of
``conf/data/coco.yaml``: read, decode of the crop's window only (:mod:`har.data.io.jpeg_roi`), window and affine,
warp, the worker's photometric ops, targets. The reference is reading and decoding the same images whole at full
resolution (``np.fromfile`` + ``cv2.imdecode``), once per sample. What the window-only decode saves depends on how
much of its image a person's window covers: the table gives the fraction of pixels decoded, and the rows "ROI
decode off" give the whole-image pipeline (the cost when every window covers its whole image).

Images are COCO-sized synthetic people (``har.synthetic.coco``, 480-640 px) generated into a temporary folder,
then given a photo-like texture (``--texture``, multi-scale noise) so that their JPEGs weigh what COCO's do (about
0.5 bytes per pixel: train2017 is 18 GB for 118k images of about 640×480); ``--texture 0`` keeps the generator's
flat colours (about 0.18 bytes per pixel, cheaper to decode). ``--data-dir`` measures a real COCO folder instead.

``conf/data/coco.yaml`` runs the photometric ops other than JPEG re-compression on the training device
(``augment.photometric.on_device``); the row "photometric in the worker" measures the all-in-worker placement, and
the device-side cost per sample of :class:`har.data.transforms.batch_photometric.BatchPhotometric` on this CPU is
reported too.

Usage::

    .venv/bin/python -m bench.pipeline                      # 300 images, 256x256 crops, 7 rounds, ~2 min
    .venv/bin/python -m bench.pipeline --no-reduced-decode  # switch an optimisation off
    .venv/bin/python -m bench.pipeline --texture 0          # the generator's flat-coloured images
    .venv/bin/python -m bench.pipeline --data-dir /datasets/coco --samples 2000  # real COCO train2017 persons

It prints a table, then as its last line one JSON object with every figure and the command.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
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
from omegaconf import OmegaConf  # noqa: E402

from bench.common import print_json_line  # noqa: E402
from har.data.datasets.topdown import TopDownPoseDataset  # noqa: E402
from har.data.formats.coco import load_coco_index  # noqa: E402
from har.data.io import jpeg_roi  # noqa: E402
from har.data.transforms.augmentation import Augmentation  # noqa: E402
from har.data.transforms.batch_photometric import BatchPhotometric  # noqa: E402
from har.data.transforms.topdown import TopDownTransform  # noqa: E402
from har.layouts import get_layout  # noqa: E402
from har.synthetic.coco import generate_synthetic_coco  # noqa: E402

GOAL = 1.25  # sample / decode alone
JPEG_QUALITY = 90  # the generator's


def _configured_augmentation(photometric: bool, on_device: bool | None = None) -> Augmentation:
    """The training augmentation of conf/data/coco.yaml (the recipe a COCO run uses); ``on_device`` overrides
    where the photometric ops run."""
    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "data" / "coco.yaml")["augment"])
    if not photometric:
        cfg["photometric"] = None
    elif on_device is not None:
        cfg["photometric"]["on_device"] = on_device
    return Augmentation(**cfg)


def add_photo_texture(files: list[Path], amplitude: float, seed: int = 0) -> None:
    """Re-encode the JPEGs with multi-scale Gaussian texture (grey, at 4, 16 and 64 px plus per-pixel grain) of
    ``amplitude`` grey levels, so that they compress and decode like photographs; annotations are unaffected."""
    rng = np.random.default_rng(seed)
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        out = img.astype(np.float32)
        for step, weight in ((4, 1.0), (16, 0.8), (64, 0.6)):
            coarse = rng.standard_normal((h // step + 2, w // step + 2)).astype(np.float32)
            out += amplitude * weight * cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)[:, :, None]
        out += amplitude * 0.5 * rng.standard_normal((h, w, 1)).astype(np.float32)
        ok, buf = cv2.imencode(".jpg", np.clip(out, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        f.write_bytes(buf.tobytes())


def _device_photometric_ms(augment: Augmentation, input_size: tuple[int, int], batch: int = 32) -> float:
    """Per-sample time of the device-side photometric ops on this CPU, for a batch of ``batch`` crops."""
    from dataclasses import asdict

    op = BatchPhotometric(**asdict(augment.photometric))
    images = torch.randint(0, 256, (batch, 3, *input_size), dtype=torch.uint8)
    op(images)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        op(images)
        times.append(time.perf_counter() - start)
    return round(min(times) / batch * 1e3, 4)


def _decode_pass(files: list[Path]) -> float:
    start = time.perf_counter()
    for f in files:
        cv2.imdecode(np.fromfile(f, dtype=np.uint8), cv2.IMREAD_COLOR)
    return time.perf_counter() - start


def _window_decoder_whole_pass(files: list[Path]) -> float:
    """The same whole decodes by the window decoder's library (the system's libjpeg-turbo, not OpenCV's): shows
    that what the window decode saves is decoding skipped, not a faster library."""
    decode = jpeg_roi.RegionDecoder()  # one reused buffer, as the dataset decodes
    start = time.perf_counter()
    for f in files:
        decode(np.fromfile(f, dtype=np.uint8), (0, 0, 1 << 20, 1 << 20))
    return time.perf_counter() - start


def _sample_pass(ds: TopDownPoseDataset, seed: int, order: list[int]) -> float:
    torch.manual_seed(seed)
    start = time.perf_counter()
    for i in order:
        ds[i]
    return time.perf_counter() - start


COVERAGE_BUCKETS = ((0.0, 0.25, "< 25 %"), (0.25, 0.5, "25-50 %"), (0.5, 1.01, ">= 50 %"))


def _breakdown_pass(
    ds: TopDownPoseDataset, seed: int, order: list[int], buckets: dict[str, list[float]]
) -> tuple[dict[str, float], dict[int, int], float]:
    """The steps of ``TopDownPoseDataset.load``, timed one by one (seconds summed over the dataset), the decode
    reductions used, and the fraction of the (reduced) images' pixels decoded. ``buckets`` accumulates, by the
    fraction of its image a sample decodes: [samples, sample seconds, whole-image decode seconds]."""
    torch.manual_seed(seed)
    t, idx = ds.transform, ds.index
    clock = time.perf_counter
    acc = dict.fromkeys(("window", "decode", "warp", "photometric", "targets"), 0.0)
    reductions: dict[int, int] = {}
    decoded_px = whole_px = 0
    for i in order:
        keypoints, bbox = idx.keypoints[i], idx.bboxes[i]
        t0 = clock()
        m, flip = t.affine(bbox, keypoints)
        t1 = clock()
        image, r, origin = ds.decode_window(i, m)
        t2 = clock()
        crop, m = t.warp(image, m, r, origin)
        t3 = clock()
        crop = t.photometric(crop)
        t4 = clock()
        out = t.targets(keypoints, m, flip)
        out["image"] = t.to_chw_rgb(crop, bgr=True)
        out.update(keypoints=torch.from_numpy(keypoints), bbox=torch.from_numpy(bbox),
                   area=torch.tensor(float(idx.areas[i])), image_id=torch.tensor(int(idx.image_ids[idx.ann_image[i]])),
                   ann_id=torch.tensor(int(idx.ann_ids[i])), index=torch.tensor(i))  # fmt: skip
        t5 = clock()
        for key, dt in zip(acc, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            acc[key] += dt
        reductions[r] = reductions.get(r, 0) + 1
        w, h = idx.image_sizes[idx.ann_image[i]]
        decoded_px += image.shape[0] * image.shape[1]
        whole_px += -(-int(w) // r) * -(-int(h) // r)
        coverage = image.shape[0] * image.shape[1] / (-(-int(w) // r) * -(-int(h) // r))
        t6 = clock()
        cv2.imdecode(np.fromfile(ds.image_dir / idx.image_file(i), dtype=np.uint8), cv2.IMREAD_COLOR)
        t7 = clock()
        label = next(lab for lo, hi, lab in COVERAGE_BUCKETS if lo <= coverage < hi)
        b = buckets[label]
        b[0], b[1], b[2] = b[0] + 1, b[1] + t5 - t0, b[2] + t7 - t6
    return acc, reductions, decoded_px / whole_px


def run_benchmark(
    num_images: int = 300,
    min_size: int = 480,
    max_size: int = 640,
    input_size: tuple[int, int] = (256, 256),
    rounds: int = 7,
    reduced_decode: bool = True,
    roi_decode: bool = True,
    photometric: bool = True,
    seed: int = 0,
    data_dir: str | Path | None = None,
    command: str = "",
    texture: float = 26.0,
    samples: int | None = None,
) -> dict:
    """Measure, print the table and the JSON line, and return the figures."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    layout = get_layout("coco17")
    with tempfile.TemporaryDirectory(prefix="har_bench_pipeline_") as tmp:
        root = Path(data_dir) if data_dir is not None else Path(tmp) / "coco"
        if not (root / "annotations").is_dir():
            generate_synthetic_coco(root, num_train=num_images, num_val=0, seed=seed, min_size=min_size,
                                    max_size=max_size, max_people=3, progress=False)  # fmt: skip
            if texture > 0:
                add_photo_texture(sorted((root / "train2017").glob("*.jpg")), texture, seed)
        index = load_coco_index(root / "annotations" / "person_keypoints_train2017.json", cache=False, verbose=False)
        image_dir = root / "train2017"
        # The configured placement as a GPU node resolves it ("auto" → on the device): the measured configuration.
        on_device = photometric and _configured_augmentation(True).photometric.on_device in (True, "auto")
        augment = _configured_augmentation(photometric, on_device=on_device if photometric else None)

        roi = roi_decode and jpeg_roi.available()

        def dataset(reduced: bool, train: bool = True, aug: Augmentation = augment, roi: bool = roi):
            transform = TopDownTransform(layout, input_size, augment=aug if train else None)
            return TopDownPoseDataset(index, image_dir, transform, reduced_decode=reduced, roi_decode=roi)

        variants = {"sample": dataset(reduced_decode)}  # the measured configuration first
        if on_device:
            in_worker = _configured_augmentation(photometric, on_device=False)
            variants["photometric_in_worker"] = dataset(reduced_decode, aug=in_worker)
        if roi:
            variants["without_roi_decode"] = dataset(reduced_decode, roi=False)
        if reduced_decode:
            variants["without_reduced_decode"] = dataset(False)
        variants["eval_sample"] = dataset(reduced_decode, train=False)
        if roi:
            variants["eval_sample_without_roi_decode"] = dataset(reduced_decode, train=False, roi=False)
        ds = variants["sample"]
        # All instances, or `samples` of them spread evenly over the index (for a real COCO folder).
        order = list(range(len(ds))) if not samples or samples >= len(ds) else \
            np.linspace(0, len(ds) - 1, samples).round().astype(int).tolist()  # fmt: skip
        files = [image_dir / index.image_file(i) for i in order]
        n = len(order)

        _decode_pass(files[:20]), _sample_pass(ds, seed, order)  # warm up (page cache, lazy init)
        decode_s, parts_s, lib_whole_s = [], [], []
        variant_s: dict[str, list[float]] = {name: [] for name in variants}
        reductions: dict[int, int] = {}
        buckets = {label: [0, 0.0, 0.0] for *_, label in COVERAGE_BUCKETS}
        for _ in range(rounds):  # interleaved, so that load changes on a shared machine hit all of them alike
            decode_s.append(_decode_pass(files))
            if roi:
                lib_whole_s.append(_window_decoder_whole_pass(files))
            for name, variant in variants.items():
                variant_s[name].append(_sample_pass(variant, seed, order))
            parts, reductions, decoded_fraction = _breakdown_pass(ds, seed, order, buckets)
            parts_s.append(parts)
        sizes = {f: f.stat().st_size for f in set(files)}
        mean_kb = float(np.mean(list(sizes.values())) / 1024)
        pixels = sum(int(np.prod(cv2.imread(str(f)).shape[:2])) for f in sizes)
        bytes_per_pixel = sum(sizes.values()) / pixels
        device_ms = _device_photometric_ms(augment, input_size) if on_device else None

    def ms(values: list[float], stat=np.median) -> float:
        # The median round (with the fastest and slowest in the JSON): the best of one run flatters.
        return round(float(stat(values)) / n * 1e3, 4)

    def rounds_ratio(num: list[float], den: list[float]) -> dict:
        # Per-round ratios of two interleaved passes: their median and range (a gain is real only if the whole
        # range is on one side of 1).
        r = [a / b for a, b in zip(num, den)]
        return {"median": round(float(np.median(r)), 3), "min": round(min(r), 3), "max": round(max(r), 3)}

    decode_ms = ms(decode_s)
    variant_ms = {name: ms(v) for name, v in variant_s.items()}
    result = {
        "benchmark": "data_pipeline",
        "command": command,
        "decode_ms": decode_ms,
        "window_decoder_whole_decode_ms": ms(lib_whole_s) if lib_whole_s else None,
        "sample_ms": variant_ms["sample"],
        "ratio": round(variant_ms["sample"] / decode_ms, 3),
        "goal": GOAL,
        "variants_ms": variant_ms,
        "variants_ratio": {name: round(v / decode_ms, 3) for name, v in variant_ms.items()},
        "breakdown_ms": {k: ms([p[k] for p in parts_s]) for k in parts_s[0]},
        "statistic": "median of the rounds (per-sample time of a whole pass), with the fastest and slowest",
        "range_ms": {
            "decode": [ms(decode_s, np.min), ms(decode_s, np.max)],
            **{name: [ms(v, np.min), ms(v, np.max)] for name, v in variant_s.items()},
        },
        "ratio_rounds": rounds_ratio(variant_s["sample"], decode_s),
        # The work the sample really does is decoding its window, not the whole image: the sample over that.
        "ratio_to_region_decode": round(variant_ms["sample"] / ms([p["decode"] for p in parts_s]), 3),
        # Each optimisation's gain: the pass without it over the pass with it, round by round.
        "optimisation_gain_rounds": {
            **{
                name.removeprefix("without_"): rounds_ratio(v, variant_s["sample"])
                for name, v in variant_s.items()
                if name.startswith("without_")
            },
            **{
                f"{name.removeprefix('eval_sample_without_')}_at_evaluation": rounds_ratio(v, variant_s["eval_sample"])
                for name, v in variant_s.items()
                if name.startswith("eval_sample_without_")
            },
        },  # fmt: skip
        "decode_reductions": {f"1/{r}": c for r, c in sorted(reductions.items())},
        "decoded_pixel_fraction": round(decoded_fraction, 3),
        "by_decoded_fraction": {
            label: {"samples": int(b[0]) // rounds, "ratio": round(b[1] / b[2], 3) if b[2] else None}
            for label, b in buckets.items()
        },
        "optimisations": {
            "roi_decode": roi,
            "reduced_resolution_decode": reduced_decode,
            "bgr_crop_split_into_rgb_chw": True,
            "inter_linear": True,
            "cheap_photometric_ops": photometric,
        },
        "photometric": photometric,
        "photometric_on_device": on_device,
        "device_photometric_ms_on_this_cpu": device_ms,
        "samples": n,
        "images": len(set(files)),
        "image_size": [min_size, max_size],
        "mean_jpeg_kb": round(mean_kb, 1),
        "jpeg_bytes_per_pixel": round(bytes_per_pixel, 3),
        "texture": texture,
        "input_size": list(input_size),
        "rounds": rounds,
        "threads": 1,
        "cpu": platform.processor() or platform.machine(),
        "opencv": cv2.__version__,
    }
    _print_table(result)
    print_json_line(result)
    return result


def _print_table(r: dict) -> None:
    d, v = r["decode_ms"], r["variants_ms"]
    rows = [("JPEG read + decode alone (full resolution)", d)]
    if r["window_decoder_whole_decode_ms"] is not None:
        rows.append(("  same, by the window decoder's libjpeg-turbo", r["window_decoder_whole_decode_ms"]))
    rows.append(("training sample (__getitem__)", v["sample"]))
    if "photometric_in_worker" in v:
        rows.append(("  same, photometric ops in the worker instead", v["photometric_in_worker"]))
    names = {"without_roi_decode": "ROI decode off (whole images)"}
    rows += [(f"  same, {names.get(k, k.replace('_', ' '))}", v[k]) for k in v if k.startswith("without")]
    rows.append(("evaluation sample (no augmentation)", v["eval_sample"]))
    if "eval_sample_without_roi_decode" in v:
        rows.append(("  same, ROI decode off (whole images)", v["eval_sample_without_roi_decode"]))
    rows.append(("breakdown of the training sample:", None))
    labels = {"window": "window + augmentation draws", "decode": "read + decode (window only, reduced where allowed)",
              "warp": "warp (warpAffine)", "photometric": "photometric in the worker",
              "targets": "targets + CHW image + tensors"}  # fmt: skip
    rows += [(f"  {labels[k]}", x) for k, x in r["breakdown_ms"].items()]
    print(f"data pipeline, one core: {r['samples']} samples from {r['images']} synthetic images "
          f"{r['image_size'][0]}-{r['image_size'][1]} px (mean JPEG {r['mean_jpeg_kb']} KB, "
          f"{r['jpeg_bytes_per_pixel']} B/px, texture {r['texture']}), crop "
          f"{r['input_size'][0]}x{r['input_size'][1]}, median of {r['rounds']} rounds")  # fmt: skip
    print(f"{'':52s}{'ms/sample':>10s}{'x decode':>10s}")
    for label, x in rows:
        print(f"{label:52s}" + ("" if x is None else f"{x:10.3f}{x / d:10.2f}"))
    if r["device_photometric_ms_on_this_cpu"] is not None:
        print(
            f"photometric ops on the device (not in the rows above): {r['device_photometric_ms_on_this_cpu']:.3f} "
            "ms/sample on this CPU in batches of 32 (a GPU takes microseconds)"
        )
    on = [k for k, x in r["optimisations"].items() if x]
    print(f"decode reductions: {r['decode_reductions']}; pixels decoded per sample: "
          f"{r['decoded_pixel_fraction']:.0%} of the image; optimisations on: {', '.join(on)}")  # fmt: skip
    cells = [f"{label}: {b['ratio']:.2f}x ({b['samples']} samples)" for label, b in r["by_decoded_fraction"].items()
             if b["ratio"] is not None]  # fmt: skip
    print(f"training sample / whole decode of its image, by the fraction of the image decoded: {'; '.join(cells)}")
    rr = r["ratio_rounds"]
    print(
        f"training sample / whole decode: {r['ratio']:.3f} (median of {r['rounds']} rounds; per round "
        f"{rr['min']:.3f}-{rr['max']:.3f}); / its own region decode: {r['ratio_to_region_decode']:.3f}"
    )
    for name, g in r["optimisation_gain_rounds"].items():
        verdict = "a gain beyond the spread" if g["min"] > 1 else "no gain beyond the spread"
        print(f"  {name.replace('_', ' ')}: off / on {g['median']:.3f} ({g['min']:.3f}-{g['max']:.3f}): {verdict}")
    verdict = "meets" if r["ratio"] <= r["goal"] else "misses"
    print(f"ratio {r['ratio']:.3f} {verdict} the goal <= {r['goal']}")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=300)
    p.add_argument("--min-size", type=int, default=480)
    p.add_argument("--max-size", type=int, default=640)
    p.add_argument("--input-size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-reduced-decode", action="store_true")
    p.add_argument("--no-roi-decode", action="store_true", help="decode whole images (as without the native decoder)")
    p.add_argument("--no-photometric", action="store_true")
    p.add_argument(
        "--texture",
        type=float,
        default=26.0,
        help="photo-like texture amplitude in grey levels (26: COCO's ~0.5 bytes per pixel); 0: flat",
    )
    p.add_argument(
        "--data-dir",
        help="reuse (or create) the synthetic images here instead of a temporary folder; "
        "a real COCO root (annotations/person_keypoints_train2017.json, train2017/) is measured as it is",
    )
    p.add_argument("--samples", type=int, help="time this many instances, spread over the index (default: all)")
    args = p.parse_args(argv)
    entry = ["bench/pipeline.py"] if __spec__ is None else ["-m", "bench.pipeline"]  # run as a script, or -m
    command = shlex.join([".venv/bin/python", *entry, *(sys.argv[1:] if argv is None else argv)])
    return run_benchmark(args.images, args.min_size, args.max_size, tuple(args.input_size), args.rounds,
                         not args.no_reduced_decode, not args.no_roi_decode,
                         not args.no_photometric, args.seed, args.data_dir, command, args.texture,
                         args.samples)  # fmt: skip


if __name__ == "__main__":
    main()
