"""The COCO index cache (hit, invalidation, corruption, read-only folders), bad-record handling, the datamodule's
data report, and a small run of the COCO index benchmark."""

import json
import logging
import os

import numpy as np
import pytest

from har.data.formats import coco
from har.data.formats.coco import CocoFilters, load_coco_index

ARRAYS = ("image_ids", "image_files", "image_sizes", "ann_ids", "ann_image", "bboxes", "keypoints", "areas")


def _ann(ann_id, image_id=1, kps=None, bbox=(20.0, 10.0, 60.0, 100.0), **extra):
    kps = kps if kps is not None else [v for j in range(17) for v in (30.0 + 2 * j, 20.0 + 5 * j, 2)]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": list(bbox), "area": 500.0,
            "iscrowd": 0, "num_keypoints": 17, "keypoints": kps, **extra}  # fmt: skip


def _write(folder, annotations):
    folder.mkdir(parents=True, exist_ok=True)
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "width": 120, "height": 140} for i in (1, 2)]
    path = folder / "person_keypoints_val2017.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": []}))
    return path


@pytest.fixture
def ann_file(tmp_path):
    """A small file with good, filtered and malformed records."""
    return _write(tmp_path / "coco", [
        _ann(1), _ann(2, image_id=2), _ann(3, iscrowd=1), _ann(4, kps=[0.0] * 51),
        _ann(5, kps=[1.0] * 50), _ann(6, bbox=(0, 0, 10, -1)), _ann(7, image_id=99),
    ])  # fmt: skip


def _assert_same(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.skipped == b.skipped and a.bad_records == b.bad_records and len(a) == len(b)


def _caches(folder):
    return sorted(folder.glob(f"*{coco.CACHE_SUFFIX}"))


def test_second_load_reads_the_cache_and_matches_the_build(ann_file, monkeypatch):
    built = load_coco_index(ann_file)
    assert not built.from_cache and built.cache_file.parent == ann_file.parent
    assert _caches(ann_file.parent) == [built.cache_file]
    monkeypatch.setattr(coco, "_load_json", lambda path: pytest.fail("the JSON was parsed again"))
    cached = load_coco_index(ann_file)
    assert cached.from_cache and cached.cache_file == built.cache_file
    _assert_same(built, cached)
    assert [i for i, _ in cached.bad_records] == [5, 6, 7] and cached.ann_ids.tolist() == [1, 2]
    monkeypatch.undo()
    assert load_coco_index(ann_file, cache=False).cache_file is None


def test_touching_the_file_or_changing_filters_rebuilds(ann_file):
    first = load_coco_index(ann_file)
    st = ann_file.stat()
    os.utime(ann_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    touched = load_coco_index(ann_file)
    assert not touched.from_cache and touched.cache_file != first.cache_file
    assert _caches(ann_file.parent) == [touched.cache_file]  # the stale cache is removed
    _assert_same(first, touched)

    refiltered = load_coco_index(ann_file, filters=CocoFilters(drop_crowd=False))
    assert not refiltered.from_cache and refiltered.ann_ids.tolist() == [1, 2, 3]
    assert load_coco_index(ann_file, filters=CocoFilters(drop_crowd=False)).from_cache
    assert load_coco_index(ann_file).from_cache  # both settings' caches live side by side
    assert not load_coco_index(ann_file, num_joints=16).from_cache  # other joints: other key (all records bad)


def _garbage(path):
    path.write_bytes(os.urandom(2000))


def _truncated(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _inconsistent(path):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["keypoints"] = arrays["keypoints"][:1]  # a valid npz with the right key, but not one index
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("damage", [_garbage, _truncated, _inconsistent])
def test_a_corrupt_cache_is_ignored_and_rebuilt(ann_file, damage, caplog):
    built = load_coco_index(ann_file)
    damage(built.cache_file)
    with caplog.at_level(logging.WARNING, logger="har.data.formats.coco"):
        rebuilt = load_coco_index(ann_file)
    assert not rebuilt.from_cache and "ignoring the unreadable COCO index cache" in caplog.text
    _assert_same(built, rebuilt)
    assert load_coco_index(ann_file).from_cache  # rewritten


def test_unwritable_annotation_folder_falls_back_to_the_cache_dir(ann_file, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HAR_CACHE_DIR", str(tmp_path / "cache"))
    save = coco._save_npz

    def read_only(path, arrays):  # a read-only dataset folder (chmod alone does not stop root)
        if path.parent == ann_file.parent:
            raise PermissionError(13, "Permission denied")
        save(path, arrays)

    monkeypatch.setattr(coco, "_save_npz", read_only)
    built = load_coco_index(ann_file)
    assert built.cache_file.is_relative_to(tmp_path / "cache" / "coco_index")
    assert _caches(ann_file.parent) == []
    cached = load_coco_index(ann_file)
    assert cached.from_cache and cached.cache_file == built.cache_file
    _assert_same(built, cached)

    # Nothing writable: a warning, and the index all the same.
    monkeypatch.setattr(coco, "_save_npz", lambda path, arrays: read_only(path.parent.parent, arrays))
    with caplog.at_level(logging.WARNING, logger="har.data.formats.coco"):
        alone = load_coco_index(ann_file, filters=CocoFilters(min_keypoints=3))
    assert alone.cache_file is None and "continuing without it" in caplog.text and len(alone) == 2


def test_malformed_values_are_bad_records(tmp_path):
    good = _ann(0)["keypoints"]
    path = _write(tmp_path, [
        _ann(1),
        _ann(2, kps=good[:-1] + ["2"]),  # a string among the numbers
        {**_ann(3), "keypoints": None},
        _ann(4, bbox=(1, 2, 3)),
        _ann(5, bbox=(1, 2, None, 4)),
        [1, 2, 3],  # not an object
        {k: v for k, v in _ann(6).items() if k != "id"},  # no id: COCOeval could not look it up
        _ann(7, image_id=[1]),  # unhashable image id
        _ann(8, kps=good[:3] + [[1, 2]] + good[4:]),  # a nested list
        {**_ann(9), "category_id": 2, "keypoints": None},  # another category: ignored, not reported
        _ann(10, bbox=(0, 0, 1e400, 5)),  # inf (json.dumps writes Infinity)
        _ann(11, area=None),  # no usable area: w·h
    ])  # fmt: skip
    index = load_coco_index(path, cache=False)
    assert index.ann_ids.tolist() == [1, 11]
    assert index.areas.tolist() == [500.0, 6000.0]
    assert index.bad_records == [
        (2, "non-numeric keypoints or bbox"),
        (3, "keypoints not 3x17 long"),
        (4, "bbox not [x, y, w, h]"),
        (5, "non-numeric keypoints or bbox"),
        (-1, "annotation is not an object"),
        (-1, "annotation id missing or not an integer"),
        (7, "unknown image_id"),
        (8, "non-numeric keypoints or bbox"),
        (10, "NaN or infinite coordinates"),
    ]


def _plant_faults(ann_path):
    """Break four annotations of a synthetic split; return {annotation id: expected reason fragment}."""
    data = json.loads(ann_path.read_text())
    a = data["annotations"]
    a[0]["keypoints"] = a[0]["keypoints"][:-3]
    a[1]["bbox"][2] = 0
    a[2]["keypoints"][0] = float("nan")
    a[3]["image_id"] = 987654321
    ann_path.write_text(json.dumps(data))
    return {a[0]["id"]: "3x17", a[1]["id"]: "<= 0", a[2]["id"]: "NaN", a[3]["id"]: "image_id"}


def test_datamodule_writes_the_data_report_and_one_summary_line(tmp_path, caplog):
    from har.data.datamodules.coco import CocoPoseDataModule
    from har.synthetic.coco import generate_synthetic_coco

    root = generate_synthetic_coco(tmp_path / "coco", 8, 6, progress=False)
    planted = _plant_faults(root / "annotations" / "person_keypoints_val2017.json")
    dm = CocoPoseDataModule(str(root), input_size=(64, 64), num_workers=0, report_dir=str(tmp_path / "run"))
    with caplog.at_level(logging.INFO, logger="har.data"):
        dm.setup("validate")
        dm.setup("test")  # the same split: loaded and reported once
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 1 and "instances kept" in lines[0] and "data_report_val2017.json" in lines[0], lines

    report = json.loads((tmp_path / "run" / "data_report_val2017.json").read_text())
    reasons = {r["id"]: r["reason"] for r in report["bad_records"]}
    assert reasons.keys() == planted.keys() and all(planted[i] in reasons[i] for i in planted)
    assert report["kept"] == len(dm.datasets["val"]) > 0 and report["num_bad_records"] == 4
    assert report["ann_file"].endswith("person_keypoints_val2017.json")
    assert sum(report["removed"].values()) >= 4 and report["index_cache"]


@pytest.mark.slow  # a bench smoke run (~10 s): make test-all
def test_benchmark_quick_run_prints_its_figures_last(capsys):
    from bench.coco_index import main

    main(["--instances", "2000", "--quick"])
    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    assert {"build_ratio", "cached_ratio", "memory_ratio", "coco_load_s", "index_build_s", "cached_start_s",
            "workers", "worker_uss_growth_max_bytes", "machine", "command", "goals"} <= figures.keys()  # fmt: skip
    assert figures["dataset"]["with_keypoints"] == 2000 and figures["dataset"]["crowd"] > 0
    assert len(figures["workers"]["workers"]) == 2 and figures["workers"]["samples"] == figures["instances_kept"]
    assert "--instances 2000 --quick" in figures["command"]


def test_prepare_data_builds_the_caches_so_that_every_rank_reads_them(tmp_path):
    """prepare_data runs once per node: after it, setup (on every rank) reads the index from its cache."""
    from har.data.datamodules.coco import CocoPoseDataModule
    from har.synthetic.coco import generate_synthetic_coco

    root = generate_synthetic_coco(tmp_path / "coco", 6, 4, progress=False)
    dm = CocoPoseDataModule(str(root), input_size=(64, 64), num_workers=0)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.indexes["train2017"].from_cache and dm.indexes["val2017"].from_cache
    cold = CocoPoseDataModule(str(root), input_size=(64, 64), num_workers=0, cache=False)
    cold.prepare_data()
    cold.setup("fit")
    assert not cold.indexes["train2017"].from_cache
