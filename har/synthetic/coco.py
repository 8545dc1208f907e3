"""Synthetic person-keypoints data written exactly in the COCO 2017 layout.

The project's test and demo data: articulated stick-and-capsule people (torso, head with face marks,
two-segment arms and legs) posed by a small 2D kinematic model, on cluttered backgrounds, with occluders,
truncation and unlabelled joints, written as::

    ROOT/annotations/person_keypoints_{train,val}2017.json
    ROOT/{train,val}2017/<12-digit image id>.jpg
    ROOT/synthetic_meta.json            # parameters and format version (ignored by COCO readers)

Conventions:
    * keypoints in pixels, pixel centres at integer coordinates (cv2's drawing convention). v = 0: not
      labelled (x = y = 0; also joints outside the image), 1: labelled but hidden, 2: visible. A joint is
      visible when the top-most rendered thing at its pixel is one of that joint's own parts, so occluders,
      other people and the person's own limbs hide it.
    * ``bbox`` and ``area`` describe the whole drawn person (its amodal mask, clipped to the image): bbox in
      pycocotools' mask-to-box convention ``[x0, y0, x1 - x0 + 1, y1 - y0 + 1]``, area the mask's pixel count,
      ``segmentation`` the mask's outer contours as polygons.
    * the person's left limbs have warm colours and the right ones cool colours (as ``har.layouts`` draws
      them), whichever way the person faces.
    * image ids: ``split_code * 10**7 + index + 1`` (train 1, val 2), so they are unique across splits and a
      split's ids do not depend on the other split's size; annotation ids ``split_code * 10**8 + k + 1``.

Every image is drawn from its own generator ``np.random.default_rng([seed, split_code, index])``: a dataset is
byte-identical for the same parameters, and an image does not depend on how many others were asked for.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from har.layouts import JointLayout, get_layout
from har.synthetic.meta import check_meta, ensure_generated, read_meta, write_generated
from har.synthetic.person import (
    body_extent,
    draw_person,
    forward_kinematics,
    joint_visibility,
    mask_box,
    pick,
    randint,
    sample_placement,
    sample_pose,
    uniform,
)
from har.synthetic.scene import draw_background, draw_distractors, draw_occluder, muted_color

log = logging.getLogger(__name__)

FORMAT = "har.synthetic_coco"
FORMAT_VERSION = 2  # 2: crowd regions and tiny people, as the real COCO file has
META_FILE = "synthetic_meta.json"
SPLITS = {"train": 1, "val": 2}  # split name -> split code (seeds the RNG, prefixes the ids)
ID_BLOCK = 10_000_000  # image id = code * ID_BLOCK + index + 1; annotation id = code * 10 * ID_BLOCK + k + 1
JPEG_QUALITY = 90
LAYOUT = "coco17"


def _mask_polygons(mask: np.ndarray, origin: tuple[int, int]) -> list[list[float]]:
    """Outer contours of a mask window as COCO polygons in image pixels (simplified to ~1 px)."""
    contours, _ = cv2.findContours(mask.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        c = cv2.approxPolyDP(c, 1.0, True).reshape(-1, 2) + origin
        if len(c) >= 3:
            polys.append([float(v) for v in c.reshape(-1).tolist()])
    return polys


def _person_record(joints: np.ndarray, v: np.ndarray, mask: np.ndarray, origin: tuple[int, int]) -> dict | None:
    """COCO fields of one drawn person (ids left to the caller); ``mask`` is its window of the image at
    ``origin``. None when nothing of the person is in the image."""
    box = mask_box(mask, origin)
    if box is None:
        return None
    kps = []
    for (x, y), vis in zip(joints.tolist(), v.tolist()):
        kps += [round(x, 2), round(y, 2), vis] if vis > 0 else [0.0, 0.0, 0]
    return {
        "category_id": 1,
        "segmentation": _mask_polygons(mask, origin),
        "area": float(np.count_nonzero(mask)),
        "bbox": box,
        "iscrowd": 0,
        "num_keypoints": int(np.count_nonzero(v)),
        "keypoints": kps,
    }


def _num_people(rng: np.random.Generator, max_people: int) -> int:
    """~2% empty images; otherwise mostly one person, sometimes up to ``max_people``."""
    if rng.random() < 0.02 or max_people == 0:
        return 0
    crowd = [0.5**k for k in range(max_people - 1)]  # 2, 3, ... people share 35%, halving each step
    probs = (0.65 if crowd else 1.0, *(0.35 * c / sum(crowd) for c in crowd))
    return pick(rng, tuple(range(1, max_people + 1)), probs)


def _boxes_overlap(a: list[float], b: list[float]) -> float:
    """Intersection over the smaller box, boxes as (x0, y0, x1, y1)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(small, 1e-6)


def render_image(
    rng: np.random.Generator, width: int, height: int, max_people: int, layout: JointLayout
) -> tuple[np.ndarray, list[dict]]:
    """One BGR image (height, width, 3) uint8 and its person annotations (without ids)."""
    image = draw_background(rng, width, height)
    draw_distractors(rng, image)
    n = _num_people(rng, max_people)
    size_range = (0.3, 0.95) if n == 1 else (0.25, 0.65)
    # The top-most thing drawn at each pixel: person index * 64 + part id, or OCCLUDER.
    top = np.zeros((height, width), np.uint16)
    people, boxes = [], []
    for owner in range(n):
        body = forward_kinematics(sample_pose(rng), layout)
        # Limit heavy overlaps (keep the least overlapping of a few tries), so that a top-down crop still
        # shows one main person.
        best, extent = None, body_extent(body)
        for _ in range(8):
            place, box = sample_placement(rng, extent, width, height, size_range)
            overlap = max((_boxes_overlap(box, b) for b in boxes), default=0.0)
            if best is None or overlap < best[0]:
                best = (overlap, place, box)
            if overlap < 0.3:
                break
        _, place, box = best
        boxes.append(box)
        joints, parts, part_ids = draw_person(rng, image, body, place, layout)
        # Work in the person's window: the extent box grown by the widest part (head sides, ears, hands).
        pad = 0.15 * place.scale + 4
        x0, y0 = max(0, int(box[0] - pad)), max(0, int(box[1] - pad))
        x1, y1 = min(width, int(box[2] + pad) + 1), min(height, int(box[3] + pad) + 1)
        window = parts[y0:y1, x0:x1]
        mask = window > 0
        top[y0:y1, x0:x1][mask] = owner * 64 + window[mask]
        people.append((joints, body, mask, (x0, y0), part_ids, place.scale))
    for joints, *_, scale in people:
        for _ in range(rng.binomial(2, 0.25)):
            at = joints[randint(rng, 0, len(joints))]
            draw_occluder(rng, image, top, at, uniform(rng, 0.08, 0.22) * scale)
    records = []
    for owner, (joints, body, mask, origin, part_ids, _) in enumerate(people):
        v = joint_visibility(joints, owner, body, top, part_ids, layout)
        v[(v > 0) & (rng.random(len(v)) < 0.03)] = 0  # annotators skip some joints (v = 0, as in COCO)
        rec = _person_record(joints, v, mask, origin)
        if rec is not None:
            records.append(rec)
    if rng.random() < 0.25:
        image = cv2.GaussianBlur(image, (3, 3), 0)
    return image, records


def _add_coco_quirks(rng: np.random.Generator, image: np.ndarray, num_joints: int) -> list[dict]:
    """Annotations the real COCO file has and a reader must filter: a crowd region (iscrowd = 1, no keypoints)
    drawn as a cluster of small blobs on ~3% of images, and a tiny person (box under 8 px, one or two labelled
    joints) on ~3%. Drawn onto ``image``; returns their records."""
    height, width = image.shape[:2]
    records = []
    if rng.random() < 0.03:
        w, h = round(uniform(rng, 0.2, 0.4) * width, 2), round(uniform(rng, 0.1, 0.2) * height, 2)
        x, y = round(uniform(rng, 0, width - w), 2), round(uniform(rng, 0, height - h), 2)
        for _ in range(randint(rng, 5, 12)):
            cx, cy = uniform(rng, x, x + w), uniform(rng, y + h * 0.3, y + h)
            axes = (max(1, int(w * 0.04)), max(2, int(h * 0.3)))
            cv2.ellipse(image, (int(cx), int(cy)), axes, 0, 0, 360, muted_color(rng), -1)
        records.append({"category_id": 1, "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                        "area": w * h, "bbox": [x, y, w, h],
                        "iscrowd": 1, "num_keypoints": 0, "keypoints": [0.0, 0.0, 0] * num_joints})  # fmt: skip
    if rng.random() < 0.03:
        w, h = round(uniform(rng, 2.0, 5.0), 2), round(uniform(rng, 4.0, 7.5), 2)
        x, y = round(uniform(rng, 0, width - w), 2), round(uniform(rng, 0, height - h), 2)
        cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + h)), muted_color(rng), -1)
        kps = [0.0, 0.0, 0] * num_joints
        for j in (0, 5)[: randint(rng, 1, 3)]:  # nose, then left shoulder
            kps[3 * j : 3 * j + 3] = [round(x + w / 2, 2), round(y + (1 + j) * h / 8, 2), 2]
        records.append({"category_id": 1, "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                        "area": w * h, "bbox": [x, y, w, h],
                        "iscrowd": 0, "num_keypoints": sum(1 for v in kps[2::3] if v), "keypoints": kps})  # fmt: skip
    return records


# --- Dataset writing ----------------------------------------------------------------------------------------


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"JPEG encoding failed for {path}")
    path.write_bytes(buf.tobytes())


def coco_category(layout: JointLayout) -> dict:
    """COCO's person category: joint names as COCO spells them and its 1-based skeleton."""
    words = {"l": "left", "r": "right", "sho": "shoulder", "elb": "elbow", "wri": "wrist", "ank": "ankle"}
    names = ["_".join(words.get(w, w) for w in j.split("_")) for j in layout.joints]
    return {
        "supercategory": "person",
        "id": 1,
        "name": "person",
        "keypoints": names,
        "skeleton": [[a + 1, b + 1] for a, b in layout.skeleton],
    }


def _generate_split(out: Path, split: str, num: int, params: dict, progress: bool) -> dict:
    """Render and write the images of one split; return its COCO dict."""
    layout = get_layout(LAYOUT)
    code = SPLITS[split]
    img_dir = out / f"{split}2017"
    img_dir.mkdir(parents=True)
    images, annotations = [], []
    for index in tqdm(range(num), desc=f"synthetic {split}", disable=not progress, unit="img"):
        rng = np.random.default_rng([params["seed"], code, index])
        width, height = (int(v) for v in rng.integers(params["min_size"], params["max_size"] + 1, size=2))
        image, records = render_image(rng, width, height, params["max_people"], layout)
        records += _add_coco_quirks(rng, image, len(layout.joints))
        image_id = code * ID_BLOCK + index + 1
        file_name = f"{image_id:012d}.jpg"
        _write_jpeg(img_dir / file_name, image)
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        for rec in records:
            ann_id = code * 10 * ID_BLOCK + len(annotations) + 1
            annotations.append({"id": ann_id, "image_id": image_id, **rec})
    return {
        "info": {
            "description": "har synthetic person keypoints (COCO 2017 format)",
            "version": str(FORMAT_VERSION),
            "year": 2017,
            "contributor": "har.synthetic.coco",
            "date_created": "",
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [coco_category(layout)],
    }


def _params(num_train: int, num_val: int, seed: int, min_size: int, max_size: int, max_people: int) -> dict:
    if not (0 <= num_train < ID_BLOCK and 0 <= num_val < ID_BLOCK):
        raise ValueError(f"num_train and num_val must be in [0, {ID_BLOCK}), got {num_train}, {num_val}")
    if not (16 <= min_size <= max_size):
        raise ValueError(f"need 16 <= min_size <= max_size, got {min_size}, {max_size}")
    if not (0 <= max_people <= 20):
        raise ValueError(f"max_people must be in [0, 20], got {max_people}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    names = ("num_train", "num_val", "seed", "min_size", "max_size", "max_people")
    return dict(zip(names, map(int, (num_train, num_val, seed, min_size, max_size, max_people))))


def generate_synthetic_coco(
    root: str | Path,
    num_train: int = 2000,
    num_val: int = 200,
    seed: int = 0,
    min_size: int = 192,
    max_size: int = 320,
    max_people: int = 3,
    progress: bool = True,
) -> Path:
    """Write a synthetic COCO-format person-keypoints dataset to ``root`` (missing or empty).

    The dataset is built in a temporary sibling folder and renamed into place at the end, so an interrupted
    run leaves no ``root`` behind. Returns ``root``.
    """
    params = _params(num_train, num_val, seed, min_size, max_size, max_people)
    log.info("generating synthetic COCO dataset at %s (%d train, %d val images)", root, num_train, num_val)

    def write(folder: Path) -> dict:
        (folder / "annotations").mkdir(parents=True)
        counts = {}
        for split, num in (("train", params["num_train"]), ("val", params["num_val"])):
            coco = _generate_split(folder, split, num, params, progress)
            (folder / "annotations" / f"person_keypoints_{split}2017.json").write_text(json.dumps(coco))
            counts[split] = {"images": len(coco["images"]), "annotations": len(coco["annotations"])}
        return {"counts": counts}

    meta = {"format": FORMAT, "version": FORMAT_VERSION, "params": params}
    return write_generated(Path(root), write, meta, META_FILE, "a synthetic COCO dataset", log)


def _read_meta(root: Path) -> dict | None:
    return read_meta(root, META_FILE, FORMAT)


def _check_existing(root: Path, params: dict) -> None:
    """Raise unless ``root`` holds a complete synthetic dataset made with ``params``."""
    meta = check_meta(root, _read_meta(root), params, FORMAT_VERSION, META_FILE, "a har synthetic dataset")
    for split in SPLITS:
        ann = root / "annotations" / f"person_keypoints_{split}2017.json"
        img_dir = root / f"{split}2017"
        n_img = sum(1 for _ in img_dir.glob("*.jpg")) if img_dir.is_dir() else 0
        if not ann.is_file() or n_img != meta["counts"][split]["images"]:
            raise ValueError(
                f"synthetic dataset at {root} is incomplete ({ann.name} or {img_dir.name}/ images missing); "
                "delete it yourself or choose another root"
            )


def ensure_synthetic_coco(
    root: str | Path,
    num_train: int = 2000,
    num_val: int = 200,
    seed: int = 0,
    min_size: int = 192,
    max_size: int = 320,
    max_people: int = 3,
    progress: bool = True,
) -> Path:
    """Reuse the synthetic dataset at ``root`` if it was made with these parameters, else generate it.

    Never deletes or overwrites an existing folder: a non-synthetic folder or different parameters raise.
    """
    root = Path(root)
    params = _params(num_train, num_val, seed, min_size, max_size, max_people)
    return ensure_generated(
        root,
        lambda: generate_synthetic_coco(root, **params, progress=progress),
        lambda r: _check_existing(r, params),
        _read_meta,
        "synthetic dataset",
        log,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic COCO-format person-keypoints dataset.")
    parser.add_argument("root", type=Path, help="folder to create (or reuse, if made with the same params)")
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--num-val", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-size", type=int, default=192)
    parser.add_argument("--max-size", type=int, default=320)
    parser.add_argument("--max-people", type=int, default=3)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ensure_synthetic_coco(
        args.root, num_train=args.num_train, num_val=args.num_val, seed=args.seed, min_size=args.min_size,
        max_size=args.max_size, max_people=args.max_people, progress=not args.no_progress,
    )  # fmt: skip


if __name__ == "__main__":
    main()
