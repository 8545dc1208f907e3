"""Human3.6M reader benchmark: building the frame index (each form), and loading one sample against decoding its frame.

Reads a Human3.6M folder in either form (``--root``; by default a synthetic one at Human3.6M's frame size, 1000 ×
1002 px, generated once into ``--workdir`` by :mod:`har.synthetic.h36m`) and measures

* **index build**: ``har.data.formats.h36m.load_h36m_index`` of the train and val splits, for each form present
  (deephar's ``annotations.mat``, mmpose's ``npz`` + ``cameras.pkl``), images checked as the datamodule does;
* **per-sample load**: ``H36mPoseDataset[i]`` at evaluation (root window, ROI / reduced JPEG decode, warp, targets,
  MPJPE keys) over ``--samples`` validation frames;
* **frame decode**: reading the same frames' files and decoding them whole (``cv2.imdecode``), what a loader that
  crops after decoding pays before any crop.

Each figure is the median of ``--repeats`` runs (at least 3). A readable table is printed, then, as the last line,
one JSON object with every figure::

    python -m bench.h36m_reader                          # synthetic 1000 × 1002 frames (generated once, ~1 min)
    python -m bench.h36m_reader --root /data/h36m --samples 500
    python -m bench.h36m_reader --quick                  # small frames, few samples (the test's run)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/h36m_reader.py` as well as `python -m bench.h36m_reader`
    sys.path.insert(0, str(REPO))

from bench.common import cpu_model, print_json_line, print_table  # noqa: E402

H36M_FRAME = (1000, 1002)  # Human3.6M's frame size (w, h)


def _median_time(fn, repeats: int) -> tuple[float, list[float]]:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), runs


def forms_present(root: Path) -> list[str]:
    forms = []
    if (root / "annotations.mat").is_file():
        forms.append("deephar")
    if (root / "annotation_body3d").is_dir():
        forms.append("mmpose")
    return forms


def run(root: Path, samples: int, repeats: int, input_size: int, command: str) -> dict:
    import cv2
    import numpy as np

    from har.data.datasets.h36m import H36mPoseDataset
    from har.data.formats.h36m import load_h36m_index
    from har.data.transforms.topdown import TopDownTransform
    from har.layouts import get_layout

    cv2.setNumThreads(1)
    result = {"benchmark": "h36m_reader", "command": command, "root": str(root), "measured_on": f"CPU {cpu_model()}",
              "repeats": repeats, "index": {}}  # fmt: skip
    rows = []
    val_index = None
    for form in forms_present(root):
        extra = {"allow_missing_joints": True} if form == "mmpose" else {}
        entry = {}
        for split in ("train", "val"):
            holder = {}

            def build(split=split, holder=holder, extra=extra, form=form):
                holder["index"] = load_h36m_index(root, split, form, check_images=True, **extra)

            seconds, runs = _median_time(build, repeats)
            frames = len(holder["index"])
            entry[split] = {"seconds": seconds, "runs_s": runs, "frames": frames,
                            "frames_per_s": frames / seconds if seconds > 0 else None}  # fmt: skip
            rows.append((f"index build {form} {split}", frames, f"{seconds * 1e3:.1f} ms", f"{frames / seconds:,.0f}"))
            if split == "val" and val_index is None:
                val_index = holder["index"]
        result["index"][form] = entry
    if val_index is None:
        raise SystemExit(f"no Human3.6M annotations under {root} (annotations.mat or annotation_body3d/)")
    transform = TopDownTransform(get_layout("pa17j"), (input_size, input_size))
    dataset = H36mPoseDataset(val_index, root / "images", transform)
    n = min(samples, len(dataset))
    picks = [round(k * (len(dataset) - 1) / max(n - 1, 1)) for k in range(n)]
    paths = [root / "images" / val_index.image_file(i) for i in picks]
    dataset[picks[0]]  # warm up: the native decoder, caches

    def load():
        for i in picks:
            dataset[i]

    def decode():
        for p in paths:
            cv2.imdecode(np.frombuffer(p.read_bytes(), np.uint8), cv2.IMREAD_COLOR)

    load_s, load_runs = _median_time(load, repeats)
    decode_s, decode_runs = _median_time(decode, repeats)
    size = cv2.imdecode(np.frombuffer(paths[0].read_bytes(), np.uint8), cv2.IMREAD_COLOR).shape[1::-1]
    result["sample"] = {"samples": n, "frame_size": list(size), "input_size": input_size,
                        "load_ms": load_s / n * 1e3, "load_runs_s": load_runs,
                        "decode_ms": decode_s / n * 1e3, "decode_runs_s": decode_runs,
                        "load_over_decode": load_s / decode_s}  # fmt: skip
    rows.append((f"sample load ({input_size} px crop)", n, f"{load_s / n * 1e3:.2f} ms", f"{n / load_s:,.0f}"))
    rows.append((f"frame decode ({size[0]}x{size[1]}, whole)", n, f"{decode_s / n * 1e3:.2f} ms",
                 f"{n / decode_s:,.0f}"))  # fmt: skip
    title = f"Human3.6M reader, {root} (median of {repeats} runs; per item for samples and frames)"
    print_table(("step", "items", "median time", "items/s"), rows, title=title)
    print(f"sample load / frame decode: {load_s / decode_s:.2f}")
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="a Human3.6M folder (either form); default: synthetic frames")
    parser.add_argument("--workdir", type=Path, help="where the synthetic set is generated (and reused)")
    parser.add_argument("--samples", type=int, default=200, help="validation frames loaded / decoded per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (the median is reported; ≥ 3)")
    parser.add_argument("--input-size", type=int, default=256, help="crop side, pixels")
    parser.add_argument("--quick", action="store_true", help="small synthetic frames (128 px), 10 samples")
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3 (figures are medians)")
    command = "python -m bench.h36m_reader" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    root = args.root
    if root is None:
        from har.synthetic.h36m import ensure_synthetic_h36m

        w, h = (128, 128) if args.quick else H36M_FRAME
        workdir = args.workdir or Path(tempfile.gettempdir()) / "har_bench_h36m"
        root = ensure_synthetic_h36m(workdir / f"synthetic_h36m_{w}x{h}", train_frames=1, val_frames=1, width=w,
                                     height=h)  # fmt: skip
    result = run(root, 10 if args.quick else args.samples, args.repeats, args.input_size, command)
    print_json_line(result)
    return result


if __name__ == "__main__":
    main()
