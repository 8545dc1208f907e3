"""The synthetic MERL generator writes the three MERL Shopping forms (the fork's pose pickle, the fork's action JSON,
the official videos + MATLAB labels) deterministically, and its five actions are the intended motions."""

from __future__ import annotations

import json
import pickle
import re
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from har.data.formats.merl_classes import DEFAULT_ALIASES, label_key, label_table
from har.synthetic import merl as sm

SPLITS = ("train", "val", "test")
SMALL = {"num_subjects": 3, "clips_per_class": 2, "frame_size": (184, 136), "clip_frames": (8, 14),
         "video_size": (184, 136), "video_frames": 90, "seed": 0}  # fmt: skip
POSE_NAME = re.compile(r"^(\d+)_(\d+)_crop_(\d+)_(\d+)_([A-Za-z]+)-(\d{4})\.jpg$")
L_SHO, R_SHO, L_WRI, R_WRI = 5, 6, 9, 10


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _tlabs(path: Path) -> list[np.ndarray]:
    cells = scipy.io.loadmat(str(path))["tlabs"]
    assert cells.shape == (5, 1)
    return [np.asarray(cells[i, 0]).reshape(-1, 2) for i in range(5)]


@pytest.fixture(scope="module")
def merl(tmp_path_factory) -> Path:
    return sm.generate_synthetic_merl(tmp_path_factory.mktemp("merl") / "merl", progress=False, **SMALL)


@pytest.fixture(scope="module")
def meta(merl) -> dict:
    return json.loads((merl / sm.META_FILE).read_text())


@pytest.fixture(scope="module")
def truth(merl) -> dict:
    return json.loads((merl / sm.TRUTH_FILE).read_text())


def _pose_records(root: Path, split: str) -> list[dict]:
    return json.loads((root / "pose" / f"merl_pose_{split}.json").read_text())


def test_same_params_give_identical_data_and_clips_do_not_depend_on_the_forms_asked(merl, tmp_path):
    again = sm.generate_synthetic_merl(tmp_path / "again", progress=False, **SMALL)
    clip_files = {k: v for k, v in _files(again).items() if not k.startswith("videos")}
    assert clip_files == {k: v for k, v in _files(merl).items() if not k.startswith("videos")}
    assert (again / sm.META_FILE).read_text() == (merl / sm.META_FILE).read_text()
    for stem in json.loads((merl / sm.META_FILE).read_text())["counts"]["videos"]:
        mat = f"videos/{sm.LABEL_DIR}/{stem}_label.mat"
        assert all(np.array_equal(a, b) for a, b in zip(_tlabs(again / mat), _tlabs(merl / mat)))
    pose_only = sm.generate_synthetic_merl(tmp_path / "pose_only", progress=False, **{**SMALL, "forms": ["pose"]})
    assert {k: v for k, v in _files(pose_only).items() if k.startswith("pose")} == {
        k: v for k, v in _files(merl).items() if k.startswith("pose")
    }
    other = sm.generate_synthetic_merl(tmp_path / "other", progress=False, **{**SMALL, "forms": ["pose"], "seed": 1})
    assert _pose_records(other, "train") != _pose_records(merl, "train")


def test_pose_form_holds_the_forks_records_in_pickle_and_json(merl, meta):
    width, height = SMALL["frame_size"]
    subjects, flags = {}, set()
    for split in SPLITS:
        records = _pose_records(merl, split)
        with (merl / "pose" / f"merl_pose_{split}.pkl").open("rb") as f:
            assert pickle.load(f) == records
        assert len(records) == meta["counts"]["pose"][split] > 0
        assert [r["image_id"] for r in records] == list(range(1, len(records) + 1))
        for rec in records:
            assert set(rec) == {"img_paths", "img_width", "img_height", "image_id", "bbox", "num_keypoints",
                                "keypoints"}  # fmt: skip
            match = POSE_NAME.match(rec["img_paths"])
            assert match, rec["img_paths"]
            subject, _, start, end, action, n = match.groups()
            assert action in sm.CLASSES and 1 <= int(n) <= int(end) - int(start) + 1
            subjects.setdefault(split, set()).add(int(subject))
            assert (merl / "pose" / "images" / rec["img_paths"]).is_file()
            assert (rec["img_width"], rec["img_height"]) == (width, height)
            x, y, w, h = rec["bbox"]
            assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= width and y + h <= height
            assert isinstance(rec["num_keypoints"], int)
            assert len(rec["keypoints"]) == 17
            for kx, ky, flag in rec["keypoints"]:
                assert flag in (0, 1, 2)
                flags.add(flag)
                if flag == 2:
                    assert (kx, ky) == (0.0, 0.0)
                else:
                    assert 0 <= kx <= width - 1 and 0 <= ky <= height - 1
    assert flags == {0, 1, 2}
    image = cv2.imread(str(merl / "pose" / "images" / _pose_records(merl, "val")[0]["img_paths"]))
    assert image.shape == (height, width, 3)
    # The paper's split by subject: train 1-20, val 21-26, test 27-41.
    assert subjects == {"train": {1}, "val": {21}, "test": {27}}


def test_action_form_holds_the_forks_per_frame_records(merl, meta):
    table = label_table(sm.CLASSES, DEFAULT_ALIASES)
    spellings, empty, total, out_of_order = set(), 0, 0, 0
    for split in SPLITS:
        json_file = merl / "action" / f"merl_action_{split}.json"
        records = json.loads(json_file.read_text())
        clips = defaultdict(list)
        for rec in records:
            assert set(rec) == {"action", "keypoints", "id", "image", "person_bbox"} and rec["keypoints"] == []
            clips[rec["id"]].append(rec)
            spellings.add(rec["action"])
            image = rec["image"]
            assert (image["width"], image["height"]) == SMALL["frame_size"]
            assert not Path(image["url"]).is_absolute() and (json_file.parent / image["url"]).is_file()
            assert Path(image["url"]).name == image["file_name"]
            total += 1
            if rec["person_bbox"] == []:
                empty += 1
            else:
                x1, y1, x2, y2 = rec["person_bbox"]
                assert 0 <= x1 < x2 <= SMALL["frame_size"][0] - 1 and 0 <= y1 < y2 <= SMALL["frame_size"][1] - 1
        assert len(clips) == meta["counts"]["action"][split]["clips"]
        labels = set()
        for clip_id, frames in clips.items():
            assert len(frames) >= 8
            assert re.fullmatch(r"([A-Za-z]+)_(\d+)_(\d+)_crop_(\d+)_(\d+)_\1", clip_id)
            assert len({label_key(f["action"]) for f in frames}) == 1
            label = table[label_key(frames[0]["action"])]
            assert sm.CLASSES[label] == clip_id.rsplit("_", 1)[1]
            labels.add(label)
            numbers = [int(f["image"]["file_name"][:-4]) for f in frames]
            assert sorted(numbers) == list(range(1, len(frames) + 1))
            out_of_order += numbers != sorted(numbers)
        if split == "train":
            assert labels == set(range(5))
    assert 0 < empty < 0.15 * total
    assert out_of_order > 0  # readers must sort by frame number
    variants = spellings - set(sm.CLASSES)
    assert variants and variants <= {v for vs in sm.LABEL_VARIANTS.values() for v in vs}


def test_videos_form_holds_mp4s_and_matlab_labels(merl, meta):
    videos = meta["counts"]["videos"]
    assert {v["split"] for v in videos.values()} == set(SPLITS)
    boxes = json.loads((merl / "videos" / "person_boxes.json").read_text())
    assert set(boxes) == set(videos)
    for stem, info in videos.items():
        cap = cv2.VideoCapture(str(merl / "videos" / sm.VIDEO_DIR / f"{stem}_crop.mp4"))
        assert cap.isOpened()
        assert round(cap.get(cv2.CAP_PROP_FPS)) == 30
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            assert frame.shape == (SMALL["video_size"][1], SMALL["video_size"][0], 3)
            n += 1
        cap.release()
        assert n == info["num_frames"] == len(boxes[stem])
        cells = _tlabs(merl / "videos" / sm.LABEL_DIR / f"{stem}_label.mat")
        assert all(len(c) > 0 for c in cells)  # every class at least once per video
        segments = np.concatenate(cells)
        assert np.array_equal(segments, np.round(segments))
        assert (segments[:, 0] >= 1).all() and (segments[:, 1] <= n).all() and (segments[:, 0] <= segments[:, 1]).all()
        ordered = segments[np.argsort(segments[:, 0])]
        assert (ordered[1:, 0] > ordered[:-1, 1]).all()  # no overlaps (1-based inclusive ends)
        assert all(x2 > x1 and y2 > y1 for x1, y1, x2, y2 in boxes[stem])


def _clip_tracks(merl: Path, truth: dict) -> dict[str, list[dict]]:
    """Per class: clips as arrays of the keypoints (T, 17, 3) with shelf side, edge and reaching hand."""
    by_clip = defaultdict(list)
    for split in SPLITS:
        for rec in _pose_records(merl, split):
            by_clip[rec["img_paths"].rsplit("-", 1)[0]].append(rec["keypoints"])
    out = defaultdict(list)
    for clip_id, info in truth["clips"].items():
        stem = clip_id.split("_", 1)[1]
        side = 1 if info["shelf_side"] == "right" else -1
        edge = info["shelf_box"][0] if side > 0 else info["shelf_box"][2]
        kp = np.array(by_clip[stem], dtype=float)
        out[info["action"]].append({"kp": kp, "side": side, "edge": edge, "height": info["person_height_px"],
                                    "wrist": L_WRI if info["hand"] == "left" else R_WRI})  # fmt: skip
    return out


def _valid(kp: np.ndarray, joint: int) -> np.ndarray:
    return kp[:, joint, 2] != 2


def test_the_five_actions_are_the_intended_motions(merl, truth):
    tracks = _clip_tracks(merl, truth)
    assert all(len(tracks[a]) == 3 * SMALL["clips_per_class"] for a in sm.CLASSES)
    for action, clips in tracks.items():
        for c in clips:
            kp, w, h = c["kp"], c["wrist"], c["height"]
            ok = _valid(kp, w)
            # Wrist to shelf: > 0 outside the shelf, <= 0 inside (pixels, horizontal).
            dist = c["side"] * (c["edge"] - kp[ok, w, 0])
            if action in ("ReachToShelf", "RetractFromShelf"):  # towards / away from the shelf, all along
                sign = 1 if action == "ReachToShelf" else -1
                trend = np.corrcoef(np.flatnonzero(ok), dist)[0, 1]
                assert sign * dist[0] > 0 > sign * dist[-1] and sign * (dist[0] - dist[-1]) > 0.08 * h
                assert sign * trend < -0.8
            elif action == "HandInShelf":
                assert dist.max() < 0
            elif action == "InspectProduct":
                face = kp[:, :5, :2][kp[:, :5, 2] != 2].mean(0)  # nose, eyes, ears
                assert np.median(np.linalg.norm(kp[ok, w, :2] - face, axis=1)) < 0.2 * h
            else:  # InspectShelf: arms down, both hands outside the shelf, face turned towards the shelf
                for wrist, shoulder in ((L_WRI, L_SHO), (R_WRI, R_SHO)):
                    both = _valid(kp, wrist) & _valid(kp, shoulder)
                    assert (kp[both, wrist, 1] > kp[both, shoulder, 1] + 0.15 * h).all()
                    assert (c["side"] * (c["edge"] - kp[_valid(kp, wrist), wrist, 0]) > 0).all()
                nose = _valid(kp, 0) & _valid(kp, L_SHO) & _valid(kp, R_SHO)
                mid = (kp[nose, L_SHO, 0] + kp[nose, R_SHO, 0]) / 2
                assert np.mean(c["side"] * (kp[nose, 0, 0] - mid)) > 0.01 * h


def test_ensure_reuses_matching_data_and_refuses_other_folders(merl, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("should not regenerate")

    monkeypatch.setattr(sm, "generate_synthetic_merl", fail)
    assert sm.ensure_synthetic_merl(merl, progress=False, **SMALL) == merl
    with pytest.raises(ValueError, match="seed"):
        sm.ensure_synthetic_merl(merl, progress=False, **{**SMALL, "seed": 3})
    with pytest.raises(ValueError, match="forms"):
        sm.ensure_synthetic_merl(merl, progress=False, **{**SMALL, "forms": ["pose"]})
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        sm.ensure_synthetic_merl(foreign, progress=False, **SMALL)
    assert (foreign / "keep.txt").read_text() == "mine"


def test_interrupted_generation_leaves_no_root(tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sm, "write_videos_form", interrupt)
    root = tmp_path / "merl"
    with pytest.raises(KeyboardInterrupt):
        sm.ensure_synthetic_merl(root, progress=False, **{**SMALL, "num_subjects": 1, "clips_per_class": 1})
    assert list(tmp_path.iterdir()) == []


def test_bad_parameters_are_refused(tmp_path):
    for bad in ({"forms": ["poses"]}, {"num_subjects": 0}, {"frame_size": (32, 32)}, {"video_size": (185, 136)},
                {"clip_frames": (20, 10)}):  # fmt: skip
        with pytest.raises(ValueError):
            sm.generate_synthetic_merl(tmp_path / "x", progress=False, **{**SMALL, **bad})
    assert not (tmp_path / "x").exists()
