"""COCO index benchmark: ``har.data.formats.coco.load_coco_index`` against pycocotools' ``COCO()`` at COCO-train scale.

Generates a person-keypoints annotation file shaped like ``person_keypoints_train2017.json`` (by default 150k
keypoint-labelled persons among ~263k person annotations on ~64k images, with crowd regions, persons without labelled
joints, tiny boxes, images with no person and segmentation polygons, ~0.2 GB) and measures, in the same run:

* build time of the index (no cache) / pycocotools ``COCO(file)`` load time (JSON parse + ``createIndex``);
* cached start (the index read from its ``.npz`` cache) / the same ``COCO()`` time;
* memory held by the index / by the ``COCO`` object: bytes still allocated (tracemalloc) once the load returned, with
  the object alive, each in a fresh process; RSS growth of a fresh process is reported too;
* RSS / USS / PSS of each of 2 DataLoader workers at the start and the end of a full pass over the index (through
  ``TopDownPoseDataset.__getitem__`` with the image read replaced by a tiny constant image), and for contrast the same
  pass over the same instances held as one Python dict per instance.

Every timing and memory figure comes from a fresh subprocess (imports done before the clock starts); timings are the
median of ``--repeats`` runs (default 3; every run's time is in the JSON). A readable table is printed, then, as the
last line, one JSON object with every figure::

    python -m bench.coco_index                       # full scale (a few minutes on 2 cores)
    python -m bench.coco_index --instances 3000 --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/coco_index.py` as well as `python -m bench.coco_index`
    sys.path.insert(0, str(REPO))

from bench.common import cpu_model, print_json_line  # noqa: E402

# person_keypoints_train2017.json: 262,465 person annotations, 149,813 with labelled joints, 64,115 images.
COCO_TRAIN = {"annotations": 262_465, "with_keypoints": 149_813, "images": 64_115}
CROWD_FRACTION = 0.005  # of all person annotations
TINY_FRACTION = 0.002  # of keypoint-labelled persons: a box side below 1 px (removed by the default filter)
EMPTY_IMAGE_FRACTION = 0.01  # images listed with no person annotation
GENERATOR_VERSION = 2
MIB = 2**20


# --- The annotation file ----------------------------------------------------------------------------------------


def _polygons(rng: np.random.Generator, boxes: np.ndarray) -> tuple[list, np.ndarray]:
    """One outline polygon (12-70 vertices, 2 decimals) inside each box, as a flat list and per-box offsets."""
    counts = rng.integers(12, 71, len(boxes))
    offsets = np.concatenate([[0], np.cumsum(2 * counts)])
    owner = np.repeat(np.arange(len(boxes)), counts)
    angle = rng.uniform(0, 2 * np.pi, owner.size)
    radius = rng.uniform(0.7, 1.0, owner.size)
    x, y, w, h = (boxes[owner, k] for k in range(4))
    xy = np.stack([x + w / 2 * (1 + radius * np.cos(angle)), y + h / 2 * (1 + radius * np.sin(angle))], axis=1)
    return np.round(xy, 2).ravel().tolist(), offsets


def generate_annotations(path: Path, instances: int = 150_000, seed: int = 0) -> dict:
    """Write a COCO-train-like ``person_keypoints`` file with ``instances`` keypoint-labelled persons; return counts.

    Proportions follow COCO train2017: ``instances`` / 149,813 of its 262,465 person annotations and 64,115 images.
    """
    import orjson

    rng = np.random.default_rng(seed)
    scale = instances / COCO_TRAIN["with_keypoints"]
    n_ann = max(instances, round(COCO_TRAIN["annotations"] * scale))
    n_img = max(1, round(COCO_TRAIN["images"] * scale))
    n_crowd = min(n_ann - instances, round(CROWD_FRACTION * n_ann))
    n_zero = n_ann - instances - n_crowd  # persons with no labelled joint (num_keypoints = 0)
    n_tiny = round(TINY_FRACTION * instances)

    image_ids = np.sort(rng.choice(600_000, n_img, replace=False)) + 1
    widths = np.where(rng.random(n_img) < 0.7, 640, rng.integers(300, 641, n_img))
    heights = np.where(widths == 640, rng.integers(300, 641, n_img), 640)
    images = [
        {"license": int(lic), "file_name": f"{i:012d}.jpg", "coco_url": f"http://images.cocodataset.org/train2017/{i:012d}.jpg",
         "height": int(h), "width": int(w), "date_captured": "2013-11-14 11:18:45",
         "flickr_url": f"http://farm{lic}.staticflickr.com/{i % 9000}/{i}_4e622c8349_z.jpg", "id": int(i)}
        for i, w, h, lic in zip(image_ids, widths, heights, rng.integers(1, 9, n_img))
    ]  # fmt: skip

    # Every image but a few holds at least one person; the rest are spread with a heavy tail (crowded scenes).
    with_people = rng.permutation(n_img)[: max(1, n_img - round(EMPTY_IMAGE_FRACTION * n_img))]
    weights = rng.pareto(1.5, with_people.size) + 1
    extra = rng.choice(with_people, max(0, n_ann - with_people.size), p=weights / weights.sum())
    owner = rng.permutation(np.concatenate([with_people, extra]).astype(np.int64)[:n_ann])
    img_w, img_h = widths[owner].astype(np.float64), heights[owner].astype(np.float64)

    kind = np.zeros(n_ann, np.int8)  # 0: labelled joints, 1: none labelled, 2: crowd
    kind[rng.permutation(n_ann)[: n_zero + n_crowd]] = 1
    kind[np.flatnonzero(kind == 1)[rng.permutation(n_zero + n_crowd)[:n_crowd]]] = 2
    labelled_rows = np.flatnonzero(kind == 0)

    # Boxes: log-uniform sizes (unlabelled persons are mostly small), inside the image, 2 decimals.
    side = np.exp(rng.uniform(np.log(4), np.log(480), n_ann)) * np.where(kind == 0, 1.0, 0.4)
    bw = np.minimum(side * rng.uniform(0.3, 0.8, n_ann), img_w - 1)
    bh = np.minimum(side * rng.uniform(0.8, 1.5, n_ann), img_h - 1)
    tiny = labelled_rows[rng.permutation(labelled_rows.size)[:n_tiny]]
    bw[tiny] = rng.uniform(0.1, 0.9, tiny.size)
    bx, by = rng.uniform(0, img_w - bw), rng.uniform(0, img_h - bh)
    boxes = np.round(np.stack([bx, by, bw, bh], axis=1), 2)
    areas = np.round(bw * bh * rng.uniform(0.4, 0.7, n_ann), 5)

    # Keypoints: k labelled joints (integer pixels inside the box, v = 1 or 2), zeros elsewhere.
    kps = np.zeros((n_ann, 17, 3), np.int64)
    num_kps = np.zeros(n_ann, np.int64)
    num_kps[labelled_rows] = rng.integers(1, 18, labelled_rows.size)
    labelled = (rng.random((n_ann, 17)).argsort(axis=1) < num_kps[:, None]) & (kind == 0)[:, None]
    kps[..., 0] = boxes[:, None, 0] + rng.random((n_ann, 17)) * boxes[:, None, 2]
    kps[..., 1] = boxes[:, None, 1] + rng.random((n_ann, 17)) * boxes[:, None, 3]
    kps[..., 2] = np.where(rng.random((n_ann, 17)) < 0.8, 2, 1)
    kps[~labelled] = 0
    kps_list = kps.reshape(n_ann, 51).tolist()

    poly, offsets = _polygons(rng, boxes)
    ann_ids = rng.permutation(np.arange(n_ann) * 3 + 183_000)
    box_list, area_list, owner_list = boxes.tolist(), areas.tolist(), owner.tolist()
    annotations = []
    for k in range(n_ann):
        img = images[owner_list[k]]
        if kind[k] == 2:  # crowd: an uncompressed RLE mask, as COCO stores crowd regions
            runs = rng.integers(1, 400, int(rng.integers(100, 600))).tolist()
            segmentation = {"counts": runs, "size": [img["height"], img["width"]]}
        else:
            segmentation = [poly[offsets[k] : offsets[k + 1]]]
        annotations.append(
            {
                "segmentation": segmentation,
                "num_keypoints": int(num_kps[k]),
                "area": area_list[k],
                "iscrowd": int(kind[k] == 2),
                "keypoints": kps_list[k],
                "image_id": img["id"],
                "bbox": box_list[k],
                "category_id": 1,
                "id": int(ann_ids[k]),
            }  # fmt: skip
        )

    from har.layouts import get_layout
    from har.synthetic.coco import coco_category

    coco = {
        "info": {"description": "har bench: COCO-train-scale synthetic person keypoints", "version": "1.0"},
        "licenses": [
            {"url": "http://creativecommons.org/licenses/by/2.0/", "id": i, "name": "CC"} for i in range(1, 9)
        ],
        "images": images,
        "annotations": annotations,
        "categories": [coco_category(get_layout("coco17"))],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(coco))
    return {
        "images": n_img,
        "images_without_person": n_img - with_people.size,
        "annotations": n_ann,
        "with_keypoints": instances,
        "num_keypoints_0": n_zero,
        "crowd": n_crowd,
        "tiny_boxes": n_tiny,
        "file_mb": round(path.stat().st_size / 1e6, 1),
    }


def ensure_annotations(workdir: Path, instances: int, seed: int) -> tuple[Path, dict]:
    """The annotation file for these parameters in ``workdir``, generated unless an identical one is there."""
    path = workdir / "annotations" / "person_keypoints_train2017.json"
    meta_path = workdir / "bench_meta.json"
    params = {"instances": instances, "seed": seed, "version": GENERATOR_VERSION}
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("params") == params and meta.get("size") == path.stat().st_size:
            return path, meta["counts"]
    for stale in path.parent.glob(f"{path.name}.*"):  # index caches of an earlier file
        stale.unlink()
    counts = generate_annotations(path, instances, seed)
    meta_path.write_text(json.dumps({"params": params, "size": path.stat().st_size, "counts": counts}))
    return path, counts


# --- Measurements, each run in a fresh subprocess ---------------------------------------------------------------


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _peak_rss() -> int | None:
    """The process's peak RSS so far (imports included), in bytes: VmHWM (ru_maxrss would count the parent's
    RSS at the fork too)."""
    try:
        status = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return None
    return next((int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:")), None)


def child_coco_load(ann: Path) -> dict:
    """Time and RSS growth of pycocotools' ``COCO(ann)``."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    rss0 = _rss()
    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        coco = COCO(str(ann))
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "rss_growth": _rss() - rss0, "peak_rss": _peak_rss(), "annotations": len(coco.anns)}


def child_index_load(ann: Path, cache: bool) -> dict:
    """Time and RSS growth of ``load_coco_index(ann, cache=cache)``."""
    from har.data.formats.coco import load_coco_index

    rss0 = _rss()
    start = time.perf_counter()
    index = load_coco_index(ann, cache=cache)
    seconds = time.perf_counter() - start
    nbytes = sum(getattr(index, name).nbytes for name in ("image_ids", "image_files", "image_sizes", "ann_ids",
                                                            "ann_image", "bboxes", "keypoints", "areas"))  # fmt: skip
    return {"seconds": seconds, "rss_growth": _rss() - rss0, "peak_rss": _peak_rss(), "instances": len(index),
            "nbytes": nbytes, "from_cache": index.from_cache, "skipped": dict(index.skipped),
            "cache_file": str(index.cache_file) if index.cache_file else None}  # fmt: skip


def child_traced(ann: Path, what: str) -> dict:
    """Bytes still allocated (tracemalloc) after the load returned, the loaded object alive, and the peak."""
    import contextlib
    import io
    import tracemalloc

    if what == "coco":
        from pycocotools.coco import COCO

        def load():
            with contextlib.redirect_stdout(io.StringIO()):
                return COCO(str(ann))
    else:
        from har.data.formats.coco import load_coco_index

        def load():
            return load_coco_index(ann, cache=what == "index_cached")

    tracemalloc.start()
    obj = load()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del obj
    return {"current": current, "peak": peak}


def _memory(pid: int) -> dict:
    import psutil

    info = psutil.Process(pid).memory_full_info()
    return {"rss": info.rss, "uss": getattr(info, "uss", None), "pss": getattr(info, "pss", None)}


def _private_bytes(pid: int, ranges: list[tuple[int, int]]) -> int | None:
    """Bytes of the address ranges that are resident in ``pid`` and mapped by it alone (copied, not shared).

    Reads ``/proc/<pid>/pagemap``: bit 63 = present, bit 56 = exclusively mapped (Linux >= 4.2, no privilege
    needed). A page of the index that a worker shares with its parent has bit 56 clear; one the worker (or the
    parent) wrote to after the fork, and so copied, has it set. None where pagemap cannot be read.
    """
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    try:
        with open(f"/proc/{pid}/pagemap", "rb") as f:
            for address, nbytes in ranges:
                first, last = address // page, (address + nbytes - 1) // page
                f.seek(first * 8)
                entries = np.frombuffer(f.read((last - first + 1) * 8), dtype=np.uint64)
                total += int((((entries >> 63) & 1) & ((entries >> 56) & 1)).sum()) * page
    except OSError:
        return None
    return total


def child_workers(ann: Path, mode: str, batch_size: int = 64) -> dict:
    """One full pass of a 2-worker DataLoader over the instances; each worker's memory along the pass.

    ``mode``: ``index``: ``TopDownPoseDataset`` over the ``CocoIndex`` (the image file read replaced by a tiny
    constant image); ``control``: the same dataset, but every item is instance 0, so the index is hardly touched
    (what the runtime itself costs: GC passes and reference counts on the interpreter's and torch's own objects
    unshare their pages); ``dicts``: the contrast, the same instances held as one Python dict per instance.
    """
    import psutil
    import torch
    from torch.utils.data import DataLoader, Dataset

    from har.data.datasets.topdown import TopDownPoseDataset
    from har.data.formats.coco import load_coco_index
    from har.data.transforms.augmentation import Augmentation
    from har.data.transforms.topdown import TopDownTransform
    from har.layouts import COCO17

    torch.set_num_threads(1)
    index = load_coco_index(ann)
    transform = TopDownTransform(COCO17, (32, 32), augment=Augmentation())
    image = np.full((16, 16, 3), 127, np.uint8)
    arrays = [index.image_ids, index.image_files, index.image_sizes, index.ann_ids, index.ann_image, index.bboxes,
              index.keypoints, index.areas]  # fmt: skip
    ranges = [(a.ctypes.data, a.nbytes) for a in arrays if a.nbytes]  # workers see them at the same addresses

    class ConstantImageDataset(TopDownPoseDataset):
        """The real dataset over the real index; only the image file read is replaced by a tiny constant image."""

        def decode_window(self, i: int, m: np.ndarray) -> tuple[np.ndarray, int, tuple[int, int]]:
            _ = (self.image_dir / self.index.image_file(i), int(self.index.ann_ids[i]))  # what the real read looks up
            return image, 1, (0, 0)

    class ControlDataset(ConstantImageDataset):
        def load(self, i: int, rng: np.random.Generator | None = None) -> dict:
            return super().load(0, rng)

    class DictDataset(Dataset):
        """The contrast: the same instances as one dict of Python lists per instance."""

        def __init__(self) -> None:
            self.records = [
                {"file_name": index.image_file(i), "image_id": int(index.image_ids[index.ann_image[i]]),
                 "id": int(index.ann_ids[i]), "bbox": index.bboxes[i].tolist(), "area": float(index.areas[i]),
                 "keypoints": index.keypoints[i].ravel().tolist()}
                for i in range(len(index))
            ]  # fmt: skip

        def __len__(self) -> int:
            return len(self.records)

        def __getitem__(self, i: int) -> dict:
            rec = self.records[i]
            _ = Path("images") / rec["file_name"]
            kps = np.array(rec["keypoints"], np.float32).reshape(-1, 3)
            bbox = np.array(rec["bbox"], np.float32)
            sample = transform(image, kps, bbox)
            sample.update(
                keypoints=torch.from_numpy(kps),
                bbox=torch.from_numpy(bbox),
                area=torch.tensor(rec["area"]),
                image_id=torch.tensor(rec["image_id"]),
                ann_id=torch.tensor(rec["id"]),
                index=torch.tensor(i),
            )
            return sample

    datasets = {"index": ConstantImageDataset, "control": ControlDataset}
    dataset = DictDataset() if mode == "dicts" else datasets[mode](index, Path("images"), transform)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=2, persistent_workers=True, shuffle=True)
    total = len(loader)
    marks = {round(q * total): f"{round(q * 100)}%" for q in (0.25, 0.5, 0.75)}
    start = time.perf_counter()
    it = iter(loader)
    next(it)  # workers started and warm
    workers = sorted(p.pid for p in psutil.Process().children())

    def snapshot() -> dict:
        return {pid: dict(_memory(pid), index_private=_private_bytes(pid, ranges)) for pid in workers}

    samples = {"start": snapshot()}
    batches = 1
    for _ in it:
        batches += 1
        if batches in marks:
            samples[marks[batches]] = snapshot()
    samples["end"] = snapshot()  # after the last batch; persistent workers are still alive
    seconds = time.perf_counter() - start
    per_worker = []
    for pid in workers:
        row: dict = {"pid": pid}
        for k in ("rss", "uss", "pss", "index_private"):
            a, b = samples["start"][pid][k], samples["end"][pid][k]
            row.update({f"{k}_start": a, f"{k}_end": b, f"{k}_growth": None if a is None or b is None else b - a})
        row["uss_along"] = {when: snap[pid]["uss"] for when, snap in samples.items()}
        per_worker.append(row)
    del it, loader
    return {"mode": mode, "samples": len(dataset), "batches": batches, "seconds": seconds,
            "index_bytes": sum(n for _, n in ranges), "workers": per_worker}  # fmt: skip


CHILDREN = {
    "coco_load": lambda a, _: child_coco_load(a),
    "index_build": lambda a, _: child_index_load(a, cache=False),
    "index_cache_write": lambda a, _: child_index_load(a, cache=True),
    "index_cached": lambda a, _: child_index_load(a, cache=True),
    "traced": lambda a, arg: child_traced(a, arg),
    "workers": lambda a, arg: child_workers(a, arg),
}


def run_child(name: str, ann: Path, arg: str = "", timeout: float = 1800) -> dict:
    """Run one measurement in a fresh interpreter and return the JSON it prints last."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "bench.coco_index", "--child", name, "--ann", str(ann), "--child-arg", arg]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark step {name} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median_run(name: str, ann: Path, repeats: int) -> tuple[dict, list[float]]:
    """The median run (by time) of ``repeats`` fresh-process runs of a step, and every run's seconds."""
    runs = [run_child(name, ann) for _ in range(repeats)]
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return ordered[(len(ordered) - 1) // 2], [round(r["seconds"], 4) for r in runs]


# --- Report -----------------------------------------------------------------------------------------------------


def machine() -> dict:
    import importlib.metadata

    import orjson
    import psutil

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "orjson": orjson.__version__,
        "pycocotools": importlib.metadata.version("pycocotools"),
    }


def _mib(n: float | None) -> str:
    return "-" if n is None else f"{n / MIB:,.1f} MiB"


def run(instances: int = 150_000, repeats: int = 3, workdir: Path | None = None, contrast: bool = True,
        seed: int = 0, command: str = "") -> dict:  # fmt: skip
    """Generate (or reuse) the file, measure everything, print the table and the JSON line; return the figures."""
    keep = workdir is not None
    workdir = Path(workdir) if keep else Path(tempfile.mkdtemp(prefix="har_bench_coco_"))
    try:
        start = time.perf_counter()
        ann, counts = ensure_annotations(workdir, instances, seed)
        generate_s = time.perf_counter() - start
        for stale in ann.parent.glob(f"{ann.name}.*"):  # start without an index cache
            stale.unlink()
        ann.read_bytes()  # both readers then find the file in the page cache
        load_before = machine()["load_avg"]

        coco, coco_runs = _median_run("coco_load", ann, repeats)
        build, build_runs = _median_run("index_build", ann, repeats)
        written = run_child("index_cache_write", ann)
        cached, cached_runs = _median_run("index_cached", ann, max(3, repeats))
        assert cached["from_cache"] and not build["from_cache"], "cache not used as expected"
        traced_coco = run_child("traced", ann, "coco")
        traced_index = run_child("traced", ann, "index")
        traced_cached = run_child("traced", ann, "index_cached")
        workers = run_child("workers", ann, "index")
        control = run_child("workers", ann, "control") if contrast else None
        dict_workers = run_child("workers", ann, "dicts") if contrast else None
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)

    def worst(result: dict | None, key: str) -> int | None:
        if result is None or any(w[key] is None for w in result["workers"]):
            return None
        return max(w[key] for w in result["workers"])

    figures = {
        "dataset": counts,
        "generate_s": round(generate_s, 2),
        "instances_kept": build["instances"],
        "removed": build["skipped"],
        "coco_load_s": round(coco["seconds"], 4),
        "coco_load_runs_s": coco_runs,
        "index_build_s": round(build["seconds"], 4),
        "index_build_runs_s": build_runs,
        "build_ratio": round(build["seconds"] / coco["seconds"], 4),
        "index_build_with_cache_write_s": round(written["seconds"], 4),
        "cached_start_s": round(cached["seconds"], 4),
        "cached_start_runs_s": cached_runs,
        "cached_ratio": round(cached["seconds"] / coco["seconds"], 4),
        "memory_method": "tracemalloc: bytes still allocated after the load returned (object alive), fresh process",
        "coco_memory_bytes": traced_coco["current"],
        "index_memory_bytes": traced_index["current"],
        "cached_index_memory_bytes": traced_cached["current"],
        "index_array_nbytes": build["nbytes"],
        "memory_ratio": round(traced_index["current"] / traced_coco["current"], 4),
        "peak_rss_bytes": {
            "coco": coco["peak_rss"],
            "index_build": build["peak_rss"],
            "index_cached": cached["peak_rss"],
        },  # fmt: skip
        "rss_growth_bytes": {
            "coco": coco["rss_growth"],
            "index_build": build["rss_growth"],
            "index_cached": cached["rss_growth"],
        },  # fmt: skip
        "workers": workers,
        "worker_rss_growth_max_bytes": worst(workers, "rss_growth"),
        "worker_uss_growth_max_bytes": worst(workers, "uss_growth"),
        "worker_pss_growth_max_bytes": worst(workers, "pss_growth"),
        "worker_index_copied_max_bytes": worst(workers, "index_private_end"),
        "worker_index_copied_growth_max_bytes": worst(workers, "index_private_growth"),
        "control_workers": control,
        "control_worker_uss_growth_max_bytes": worst(control, "uss_growth"),
        "dict_workers": dict_workers,
        "dict_worker_uss_growth_max_bytes": worst(dict_workers, "uss_growth"),
        "machine": dict(machine(), load_avg_before=load_before),
        "command": command,
    }
    copied = figures["worker_index_copied_growth_max_bytes"]
    figures["goals"] = {
        "build_ratio<=1.0": figures["build_ratio"] <= 1.0,
        "cached_ratio<=0.1": figures["cached_ratio"] <= 0.1,
        "memory_ratio<=0.2": figures["memory_ratio"] <= 0.2,
        # No growth: over the pass, no page of the index is copied into a worker, bar the edge pages each array
        # may share with other heap data (2 per array: 16 pages).
        "worker_index_copied_growth<=16_pages": copied is not None and copied <= 16 * os.sysconf("SC_PAGE_SIZE"),
    }
    print_table(figures)
    print_json_line(figures)
    return figures


def print_table(f: dict) -> None:
    d = f["dataset"]
    print(f"\nCOCO index benchmark — {d['file_mb']} MB file: {d['images']:,} images ({d['images_without_person']:,} "
          f"without person), {d['annotations']:,} person annotations ({d['with_keypoints']:,} with keypoints, "
          f"{d['num_keypoints_0']:,} num_keypoints=0, {d['crowd']:,} crowd, {d['tiny_boxes']:,} tiny boxes); "
          f"{f['instances_kept']:,} kept")  # fmt: skip
    print(f"machine: {f['machine']['cpu']}, {f['machine']['cores']} cores, load {f['machine']['load_avg_before']}")
    rows = [
        ("pycocotools COCO() load", f"{f['coco_load_s']:.3f} s", "1", ""),
        ("index build (no cache)", f"{f['index_build_s']:.3f} s", f"{f['build_ratio']:.3f}", "<= 1.0"),
        ("cached start", f"{f['cached_start_s']:.3f} s", f"{f['cached_ratio']:.4f}", "<= 0.1"),
        ("COCO object memory", _mib(f["coco_memory_bytes"]), "1", ""),
        ("index memory", _mib(f["index_memory_bytes"]), f"{f['memory_ratio']:.4f}", "<= 0.2"),
    ]
    print(f"\n{'measure':34} {'value':>14} {'ratio':>8} {'goal':>7}")
    for name, value, ratio, goal in rows:
        print(f"{name:34} {value:>14} {ratio:>8} {goal:>7}")
    print(f"(memory: {f['memory_method']}; RSS growth: COCO {_mib(f['rss_growth_bytes']['coco'])}, "
          f"index build {_mib(f['rss_growth_bytes']['index_build'])}, "
          f"cached {_mib(f['rss_growth_bytes']['index_cached'])})")  # fmt: skip
    peak = f["peak_rss_bytes"]
    print(f"(peak RSS of the loading process, imports included: COCO {_mib(peak['coco'])}, "
          f"index build {_mib(peak['index_build'])}, cached {_mib(peak['index_cached'])})")  # fmt: skip
    passes = (("CocoIndex", "workers"), ("control: item 0 every time (runtime's own cost)", "control_workers"),
              ("contrast: one Python dict per instance", "dict_workers"))  # fmt: skip
    for label, key in passes:
        result = f[key]
        if result is None:
            continue
        print(f"\nDataLoader, 2 workers, one pass over {result['samples']:,} samples ({result['batches']} batches, "
              f"{result['seconds']:.1f} s) — {label}")  # fmt: skip
        print(f"{'worker':>8} {'RSS start':>12} {'RSS end':>12} {'PSS start':>12} {'PSS end':>12} {'USS start':>12} "
              f"{'USS end':>12} {'index copied':>14}  USS along the pass")  # fmt: skip
        for w in result["workers"]:
            a, b = w["index_private_start"], w["index_private_end"]
            copied = "-" if a is None or b is None else f"{a / 1024:,.0f} > {b / 1024:,.0f} KiB"
            along = ", ".join(f"{k} {v / MIB:.0f}" for k, v in w["uss_along"].items() if v is not None)
            print(f"{w['pid']:>8} {_mib(w['rss_start']):>12} {_mib(w['rss_end']):>12} {_mib(w['pss_start']):>12} "
                  f"{_mib(w['pss_end']):>12} {_mib(w['uss_start']):>12} {_mib(w['uss_end']):>12} {copied:>14}  "
                  f"{along} MiB")  # fmt: skip
    print("(index copied: bytes of the index arrays private to the worker, from /proc/<pid>/pagemap)")
    goals = ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in f["goals"].items())
    print(f"\ngoals: {goals}")


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=150_000, help="keypoint-labelled persons in the file")
    parser.add_argument("--repeats", type=int, default=3, help="timings are the median of this many runs")
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) the generated file here; default: a temp dir")
    parser.add_argument("--quick", action="store_true", help="one timing run, no control or contrast pass")
    parser.add_argument("--no-contrast", action="store_true", help="skip the control and dict-per-instance passes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--ann", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-arg", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.ann, args.child_arg)))
        return None
    command = "python -m bench.coco_index" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    return run(instances=args.instances, repeats=1 if args.quick else args.repeats, workdir=args.workdir,
               contrast=not (args.quick or args.no_contrast), seed=args.seed, command=command)  # fmt: skip


if __name__ == "__main__":
    main()
