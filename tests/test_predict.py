"""predict.py: pose predictions equal evaluate.py's on the same images and boxes; image folders and videos give
overlays and JSON; action checkpoints give per-window top-k labels equal to the model on the same clip; box files in
every supported layout are read, and bad ones are clear errors."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import lightning
import numpy as np
import pytest
import torch

from har.data.formats.merl_videos import load_boxes_file
from har.data.io.video import read_video_frames
from har.data.transforms.clip import ClipTransform
from har.geometry.boxes import fill_empty_boxes
from har.lit.action import ActionModule
from har.lit.pose import PoseModule
from har.predict.boxes import load_boxes
from har.predict.datasets import sliding_windows
from har.predict.inputs import open_input
from har.predict.overlays import open_video_writer
from har.predict.run import predict
from har.run.pipeline import evaluate
from tests.conftest import ROOT, tiny_data_overrides
from tests.test_configs import compose_config

POSE_NET = {"num_joints": 17, "num_blocks": 2, "width": 32, "input_size": [64, 64]}
SGD = {"_target_": "torch.optim.SGD", "lr": 0.1}
CLASSES = ["ReachToShelf", "RetractFromShelf", "HandInShelf", "InspectProduct", "InspectShelf"]


def _randomise(module: torch.nn.Module, net: torch.nn.Module) -> None:
    """Untrained weights, made input-dependent: BatchNorm statistics drawn, heat-map logits sharpened (×20) so
    that the soft-argmax spreads predictions over the crop instead of collapsing to its centre."""
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    with torch.no_grad():
        for block in net.blocks:
            block.regmap.conv.weight.mul_(20.0)


def _save(module: lightning.pytorch.LightningModule, path: Path, datamodule_hp: dict | None = None) -> Path:
    """A checkpoint as Lightning writes one (state_dict, hyper_parameters, datamodule hyper-parameters)."""
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": lightning.__version__, "epoch": 0, "global_step": 0}  # fmt: skip
    if datamodule_hp:
        ckpt["datamodule_hyper_parameters"] = datamodule_hp
    torch.save(ckpt, path)
    return path


def save_pose_checkpoint(path: Path, flip_test: bool = True) -> Path:
    torch.manual_seed(0)
    module = PoseModule(net=POSE_NET, optimizer=SGD, flip_test=flip_test)
    _randomise(module, module.net)
    return _save(module, path, {"padding": 1.25, "input_size": POSE_NET["input_size"]})


def save_action_checkpoint(path: Path, num_frames: int = 4, eval_stride: int = 2) -> Path:
    torch.manual_seed(0)
    module = ActionModule(pose_net={**POSE_NET, "num_blocks": 1}, action_net={"pose_version": "v1"}, classes=CLASSES,
                          optimizer=SGD)  # fmt: skip
    _randomise(module, module.pose_net)
    return _save(module, path, {"num_frames": num_frames, "eval_stride": eval_stride, "crop": "clip", "padding": 1.25})


@pytest.fixture(scope="module")
def pose_ckpt(tmp_path_factory) -> Path:
    return save_pose_checkpoint(tmp_path_factory.mktemp("ckpt") / "pose.ckpt")


@pytest.fixture(scope="module")
def action_ckpt(tmp_path_factory) -> Path:
    return save_action_checkpoint(tmp_path_factory.mktemp("ckpt") / "action.ckpt")


def run_predict(out: Path, *overrides: str) -> dict:
    cfg = compose_config("predict", [*overrides, "trainer.accelerator=cpu"], out)
    return predict(cfg)


def test_predict_equals_evaluate_on_the_same_images_and_boxes(pose_ckpt, tiny_coco, tmp_path):
    """evaluate.py on the val split, then predict.py (the CLI) on the val images with the same boxes as COCO
    detections: every (image_id, box) gets the same keypoints (with full- and with reduced-resolution JPEG decoding);
    one overlay PNG per image, skeletons drawn on those with boxes."""
    overrides = [f"ckpt_path={pose_ckpt}", *tiny_data_overrides(tiny_coco), "data.input_size=[64,64]",
                 "trainer.accelerator=cpu"]  # fmt: skip
    evaluate(compose_config("eval", overrides, tmp_path / "eval"))
    evaluated = json.loads((tmp_path / "eval" / "predictions.json").read_text())
    gt = json.loads((tiny_coco / "annotations" / "person_keypoints_val2017.json").read_text())
    anns = {a["id"]: a for a in gt["annotations"]}
    detections = [{"image_id": anns[p["gt_id"]]["image_id"], "category_id": 1, "bbox": anns[p["gt_id"]]["bbox"],
                   "score": 0.9} for p in evaluated]  # fmt: skip
    detections.append({"image_id": evaluated[0]["image_id"], "category_id": 2, "bbox": [0, 0, 5, 5], "score": 1.0})
    (tmp_path / "dets.json").write_text(json.dumps(detections))

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "predict.py"), f"ckpt_path={pose_ckpt}",
                           f"input={tiny_coco / 'val2017'}", f"boxes={tmp_path / 'dets.json'}",
                           f"hydra.run.dir={tmp_path / 'pred'}", "trainer.accelerator=cpu", "batch_size=3"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    predicted = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert len(predicted) == len(evaluated)  # the other category's box is dropped
    by_box = {(p["image_id"], tuple(p["bbox"])): p for p in predicted}
    for e in evaluated:
        p = by_box[(e["image_id"], tuple(float(v) for v in anns[e["gt_id"]]["bbox"]))]
        np.testing.assert_allclose(p["keypoints"], e["keypoints"], atol=2e-3)
        assert p["score"] == pytest.approx(e["score"], abs=1e-5) and p["box_score"] == pytest.approx(0.9)
    xy = np.array([p["keypoints"] for p in predicted]).reshape(len(predicted), -1, 3)[..., :2]
    assert xy.std(axis=1).mean() > 2.0  # predictions depend on the crop: the comparison is not vacuous

    # Reduced-resolution JPEG decoding (real COCO's data.reduced_decode=true) gives other numbers, equal again.
    evaluate(compose_config("eval", [*overrides, "data.reduced_decode=true"], tmp_path / "eval_reduced"))
    reduced = json.loads((tmp_path / "eval_reduced" / "predictions.json").read_text())
    run_predict(tmp_path / "pred_reduced", f"ckpt_path={pose_ckpt}", f"input={tiny_coco / 'val2017'}",
                f"boxes={tmp_path / 'dets.json'}", "reduced_decode=true", "overlays=false")  # fmt: skip
    by_box = {(p["image_id"], tuple(p["bbox"])): p
              for p in json.loads((tmp_path / "pred_reduced" / "predictions.json").read_text())}  # fmt: skip
    assert np.abs(np.array([e["keypoints"] for e in reduced]) - [e["keypoints"] for e in evaluated]).max() > 0.01
    for e in reduced:
        p = by_box[(e["image_id"], tuple(float(v) for v in anns[e["gt_id"]]["bbox"]))]
        np.testing.assert_allclose(p["keypoints"], e["keypoints"], atol=2e-3)

    images = sorted((tiny_coco / "val2017").glob("*.jpg"))
    overlays = sorted((tmp_path / "pred" / "overlays").iterdir())
    assert [o.name for o in overlays] == [i.name for i in images]
    with_people = {Path(p["file_name"]).stem for p in predicted}
    for image, overlay in zip(images, overlays):
        changed = np.abs(cv2.imread(str(overlay)).astype(int) - cv2.imread(str(image)).astype(int)).max() > 60
        assert changed == (image.stem in with_people), image.name


def test_overlays_of_images_with_the_same_stem_do_not_overwrite_each_other(pose_ckpt, tmp_path):
    """``a.jpg`` (red) and ``a.png`` (blue) in one folder: two overlays, each named as its input and showing it."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    colours = {"a.jpg": (0, 0, 200), "a.png": (200, 0, 0)}  # BGR
    for name, bgr in colours.items():
        cv2.imwrite(str(folder / name), np.full((120, 160, 3), bgr, np.uint8))
    files = run_predict(tmp_path / "pred", f"ckpt_path={pose_ckpt}", f"input={folder}")
    assert sorted(p.name for p in files["overlays"]) == ["a.jpg", "a.png"]
    for path in files["overlays"]:
        median = np.median(cv2.imread(str(path)).reshape(-1, 3), axis=0)
        np.testing.assert_allclose(median, colours[path.name], atol=8)
    records = json.loads(files["predictions"].read_text())
    assert sorted(r["file_name"] for r in records) == ["a.jpg", "a.png"]


def test_an_unreadable_image_in_a_folder_is_skipped_and_counted(pose_ckpt, tmp_path, caplog):
    """A folder of two images and one file that is not an image: the two are predicted and drawn, the third is
    skipped with a warning naming it; an input where nothing can be read is an error naming the file."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a.jpg", "c.png"):
        cv2.imwrite(str(folder / name), np.full((80, 60, 3), 90, np.uint8))
    (folder / "b.jpg").write_bytes(b"not a JPEG")
    with caplog.at_level(logging.WARNING):
        files = run_predict(tmp_path / "pred", f"ckpt_path={pose_ckpt}", f"input={folder}")
    records = json.loads(files["predictions"].read_text())
    assert [r["file_name"] for r in records] == ["a.jpg", "c.png"]
    assert sorted(p.name for p in files["overlays"]) == ["a.jpg", "c.png"]
    (warning,) = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert "1 of 3 images" in warning and "b.jpg" in warning
    with pytest.raises(ValueError, match="b.jpg cannot be decoded"):
        run_predict(tmp_path / "one", f"ckpt_path={pose_ckpt}", f"input={folder / 'b.jpg'}")


def test_a_box_wholly_outside_its_image_is_refused_and_the_others_kept(pose_ckpt, tmp_path, caplog):
    """On a 300×200 image: a box inside, a box partly outside (kept: people are cut by the border) and a box
    wholly outside (refused with a warning naming the file, the box and the image size, nothing predicted there)."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "000000000005.jpg"), np.full((200, 300, 3), 120, np.uint8))
    dets = [{"image_id": 5, "bbox": [100, 50, 60, 120], "score": 0.9, "id": 1},
            {"image_id": 5, "bbox": [250, 150, 100, 100], "score": 0.8, "id": 2},
            {"image_id": 5, "bbox": [5000, 5000, 50, 80], "score": 0.7, "id": 3}]  # fmt: skip
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    for reduced in ("false", "true"):
        with caplog.at_level(logging.WARNING):
            caplog.clear()
            files = run_predict(tmp_path / f"pred_{reduced}", f"ckpt_path={pose_ckpt}", f"input={folder}",
                                f"boxes={tmp_path / 'dets.json'}", f"reduced_decode={reduced}")  # fmt: skip
        records = json.loads(files["predictions"].read_text())
        assert [r["box_id"] for r in records] == [1, 2]
        (warning,) = [r.getMessage() for r in caplog.records if "wholly outside" in r.getMessage()]
        assert "1 box" in warning and "000000000005.jpg" in warning and "box_id 3" in warning
        assert "300x200" in warning


DATA = ROOT / "tests" / "data"  # a real photograph (see tests/data/README.md)


def _check_pose_results(records: list[dict], file_name: str, box: list[float], size: int) -> None:
    """Valid COCO keypoint results for one box on a ``size``×``size`` image: the schema, and every keypoint in the
    crop window the model sees (the box grown to a square, × 1.25: it cannot predict outside it)."""
    (record,) = records
    assert set(record) == {"image_id", "category_id", "keypoints", "score", "bbox", "box_score", "box_id", "file_name"}
    assert record["file_name"] == file_name and record["bbox"] == box and record["category_id"] == 1
    assert isinstance(record["image_id"], int) and 0 <= record["score"] <= 1
    kps = np.array(record["keypoints"], dtype=float).reshape(17, 3)
    assert np.isfinite(kps).all() and ((kps[:, 2] >= 0) & (kps[:, 2] <= 1)).all()
    # box [12, 8, 216, 311]: centre (12 + 215/2, 8 + 310/2) = (119.5, 163); window side 311 × 1.25 = 388.75
    assert (np.abs(kps[:, 0] - 119.5) <= 388.75 / 2).all() and (np.abs(kps[:, 1] - 163.0) <= 388.75 / 2).all()
    assert ((kps[:, :2] >= 0) & (kps[:, :2] <= size - 1)).all()  # inside the image too (here the window overhangs it)


def test_a_real_photograph_with_a_box_file_gives_valid_results_and_an_overlay(pose_ckpt, tmp_path):
    """The NASA astronaut photograph (JPEG, 320×320) with its person box: valid COCO results, an overlay of the
    same size with the skeleton drawn."""
    photo, boxes = DATA / "astronaut.jpg", DATA / "astronaut_boxes.json"
    files = run_predict(tmp_path / "pred", f"ckpt_path={pose_ckpt}", f"input={photo}", f"boxes={boxes}")
    _check_pose_results(json.loads(files["predictions"].read_text()), "astronaut.jpg", [12.0, 8.0, 216.0, 311.0], 320)
    (overlay,) = files["overlays"]
    assert overlay == tmp_path / "pred" / "overlays" / "astronaut.jpg"
    drawn, original = cv2.imread(str(overlay)), cv2.imread(str(photo))
    assert drawn.shape == original.shape == (320, 320, 3)
    assert (np.abs(drawn.astype(int) - original).max(axis=2) > 80).sum() > 200  # the skeleton's pixels


def test_gif_input_is_read_as_its_first_frame(pose_ckpt, tmp_path, caplog):
    """A GIF is an image (its first frame); an animated one gets a warning that its other frames are left out."""
    photo = cv2.imread(str(DATA / "astronaut.jpg"))
    gif = tmp_path / "astronaut.gif"
    assert cv2.imwritemulti(str(gif), [photo, photo[::-1]])
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([{"file_name": "astronaut.gif", "bbox": [12, 8, 216, 311]}]))
    with caplog.at_level(logging.WARNING):
        files = run_predict(tmp_path / "pred", f"ckpt_path={pose_ckpt}", f"input={gif}", f"boxes={boxes}")
    _check_pose_results(json.loads(files["predictions"].read_text()), "astronaut.gif", [12.0, 8.0, 216.0, 311.0], 320)
    assert any("animated GIF of 2 frames" in r.getMessage() for r in caplog.records)
    assert [p.name for p in files["overlays"]] == ["astronaut.gif"]


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def test_predict_on_a_video_writes_an_mp4_and_per_frame_results_equal_to_the_frames_as_images(
    pose_ckpt, tiny_coco, tmp_path
):
    """No boxes: the whole frame is the person box. The video's results equal those on its decoded frames saved
    as PNGs (the frame order and numbering are right); the overlay is an mp4 of the same length and size."""
    images = [cv2.resize(cv2.imread(str(p)), (160, 120)) for p in sorted((tiny_coco / "val2017").glob("*.jpg"))[:5]]
    video = _write_video(tmp_path / "clip.mp4", images)
    cap, decoded = cv2.VideoCapture(str(video)), []
    while (ok_frame := cap.read())[0]:
        decoded.append(ok_frame[1])
    cap.release()
    (tmp_path / "frames").mkdir()
    for i, frame in enumerate(decoded):
        cv2.imwrite(str(tmp_path / "frames" / f"f{i}.png"), frame)

    files = run_predict(tmp_path / "video", f"ckpt_path={pose_ckpt}", f"input={video}", "batch_size=2")
    run_predict(tmp_path / "images", f"ckpt_path={pose_ckpt}", f"input={tmp_path / 'frames'}")
    from_video = json.loads((tmp_path / "video" / "predictions.json").read_text())
    from_images = json.loads((tmp_path / "images" / "predictions.json").read_text())
    assert [p["frame"] for p in from_video] == list(range(5)) == [p["image_id"] for p in from_video]
    assert all(p["bbox"] == [0.0, 0.0, 160.0, 120.0] for p in from_video)
    np.testing.assert_allclose([p["keypoints"] for p in from_video], [p["keypoints"] for p in from_images], atol=2e-3)

    assert files["overlays"] == [tmp_path / "video" / "overlays" / "clip.mp4"]
    cap = cv2.VideoCapture(str(files["overlays"][0]))
    size = (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    count = sum(1 for _ in iter(lambda: cap.read()[0], False))
    cap.release()
    assert count == 5 and size == (160, 120)


def _video_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "H.264" in r.getMessage()]


def test_overlay_video_is_h264_where_opencv_can_encode_it(tmp_path, monkeypatch, caplog):
    """With an OpenCV build that has every encoder (a stand-in writer), the overlay video is H.264, silently."""
    opened = []

    class EveryEncoder:
        def __init__(self, path, fourcc, fps, size):
            opened.append(fourcc)

        def isOpened(self):
            return True

    monkeypatch.setattr(cv2, "VideoWriter", EveryEncoder)
    with caplog.at_level(logging.INFO):
        _, fourcc = open_video_writer(tmp_path / "clip.mp4", 10.0, (64, 48))
    assert fourcc == "avc1" and opened == [cv2.VideoWriter_fourcc(*"avc1")] and not _video_warnings(caplog)


def test_without_h264_the_overlay_video_is_mp4v_with_a_warning_saying_so(tmp_path, monkeypatch, caplog):
    """An OpenCV build without an H.264 encoder (as the pip wheels): mp4v, playable, and a warning that browsers do
    not play it, with the command that converts it. On this machine's own build: a warning exactly when the
    fallback is taken."""
    real = cv2.VideoWriter

    def no_h264(path, fourcc, fps, size):
        return real(path, cv2.VideoWriter_fourcc(*"XXXX") if fourcc == cv2.VideoWriter_fourcc(*"avc1") else fourcc,
                    fps, size)  # fmt: skip

    monkeypatch.setattr(cv2, "VideoWriter", no_h264)
    with caplog.at_level(logging.WARNING):
        writer, fourcc = open_video_writer(tmp_path / "clip.mp4", 10.0, (64, 48))
    for k in range(3):
        writer.write(np.full((48, 64, 3), 60 * k, np.uint8))
    writer.release()
    cap = cv2.VideoCapture(str(tmp_path / "clip.mp4"))
    count = sum(1 for _ in iter(lambda: cap.read()[0], False))
    assert fourcc == "mp4v" and b"mp4v" in (tmp_path / "clip.mp4").read_bytes() and count == 3  # the sample entry
    (warning,) = _video_warnings(caplog)
    assert "no H.264 encoder" in warning and "browsers do not" in warning and "ffmpeg -i" in warning
    assert str(tmp_path / "clip.mp4") in warning

    monkeypatch.setattr(cv2, "VideoWriter", real)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        writer, fourcc = open_video_writer(tmp_path / "own.mp4", 10.0, (64, 48))
    writer.release()
    assert fourcc in ("avc1", "mp4v") and bool(_video_warnings(caplog)) == (fourcc == "mp4v")
    with pytest.raises(OSError, match="cannot write .*bad.mp4 with codec XXXX"):
        open_video_writer(tmp_path / "bad.mp4", 10.0, (64, 48), codec="XXXX")


def test_action_windows_hold_the_models_top_k_on_the_same_clips(action_ckpt, tiny_merl, tmp_path):
    """Sliding windows of T = 4 frames, 2 apart (the checkpoint's), starting every 5 frames, over a MERL video with
    its per-frame boxes, read by 2 DataLoader workers (forked: each opens its own capture): each window's
    probabilities are the model's on the clip built from the same frames and boxes by the evaluation transform;
    top-3 sorted; the overlay mp4 has every frame."""
    videos = tiny_merl / "videos"
    video = videos / "Videos_MERL_Shopping_Dataset" / "1_1_crop.mp4"
    files = run_predict(tmp_path, f"ckpt_path={action_ckpt}", f"input={video}", f"boxes={videos / 'person_boxes.json'}",
                        "action.stride=5", "batch_size=4", "num_workers=2")  # fmt: skip
    result = json.loads(files["windows"].read_text())
    n = int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))
    windows = result["windows"]
    assert result["classes"] == CLASSES and result["num_frames"] == 4 and result["frame_step"] == 2
    assert [w["start_frame"] for w in windows[:-1]] == list(range(0, n - 7, 5))
    assert windows[-1]["end_frame"] == n - 1 and all(w["frames"] == list(range(w["start_frame"], w["end_frame"] + 1, 2))
                                                    for w in windows)  # fmt: skip
    for w in windows:
        probs = [e["prob"] for e in w["top_k"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and w["label"] == w["top_k"][0]["label"]
        assert sum(w["probs"]) == pytest.approx(1.0, abs=1e-4)

    module = ActionModule.load_from_checkpoint(action_ckpt, map_location="cpu", weights_only=True).eval()
    boxes = load_boxes_file(videos / "person_boxes.json")["1_1"]
    transform = ClipTransform((64, 64), "clip", 1.25)
    for w in (windows[0], windows[len(windows) // 2]):
        frames = read_video_frames(video, w["frames"])
        filled = fill_empty_boxes(boxes, (frames[0].shape[1], frames[0].shape[0]))
        clip = transform(frames, filled[w["frames"]])["frames"]
        with torch.no_grad():
            expected = module(clip[None]).fused.softmax(-1)[0].numpy()
        np.testing.assert_allclose(w["probs"], expected, atol=1e-4)

    cap = cv2.VideoCapture(str(files["overlays"][0]))
    count = sum(1 for _ in iter(lambda: cap.read()[0], False))
    assert count == n


def test_sliding_windows_cover_every_frame():
    w = sliding_windows(20, 4, frame_step=2, stride=5)
    assert [x.tolist() for x in w] == [[0, 2, 4, 6], [5, 7, 9, 11], [10, 12, 14, 16], [13, 15, 17, 19]]
    assert [x[0] for x in sliding_windows(20, 4, 2)] == [0, 3, 6, 9, 12, 13]  # default stride: half the span (7)
    short = sliding_windows(5, 4, frame_step=3)  # shorter than a window: one window, lower step
    assert len(short) == 1 and short[0].tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="must be >= 1|>= 1"):
        sliding_windows(10, 0)


@pytest.fixture
def two_images(tmp_path) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("000000000007.jpg", "shelf.png"):
        cv2.imwrite(str(folder / name), np.zeros((40, 60, 3), np.uint8))
    return folder


def _boxes(tmp_path: Path, folder: Path, payload, **kwargs):
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(payload))
    return load_boxes(path, open_input(folder), **kwargs)


def test_every_box_layout_is_read(two_images, tmp_path):
    source = open_input(two_images)
    assert [f.image_id for f in source.frames] == [7, 1]  # the number of a COCO-style name, else the frame number
    # COCO detections: by image_id, or file_name; other categories and low scores dropped
    boxes, _ = _boxes(tmp_path, two_images, [
        {"image_id": 7, "category_id": 1, "bbox": [1, 2, 10, 20], "score": 0.8},
        {"image_id": 7, "category_id": 1, "bbox": [1, 2, 10, 20], "score": 0.1},
        {"image_id": 7, "category_id": 3, "bbox": [1, 2, 10, 20], "score": 0.9},
        {"file_name": "shelf.png", "bbox": [5, 5, 4, 4]}], min_score=0.5)  # fmt: skip
    assert boxes[0].xywh.tolist() == [[1, 2, 10, 20]] and boxes[0].box_id.tolist() == [0]
    assert boxes[1].xywh.tolist() == [[5, 5, 4, 4]] and boxes[1].box_id.tolist() == [3]
    # COCO annotations: the file's image ids and annotation ids; crowd dropped
    boxes, ids = _boxes(tmp_path, two_images, {
        "images": [{"id": 70, "file_name": "shelf.png"}],
        "annotations": [{"id": 5, "image_id": 70, "bbox": [0, 0, 8, 9]},
                        {"id": 6, "image_id": 70, "bbox": [0, 0, 8, 9], "iscrowd": 1}]})  # fmt: skip
    assert ids == {1: 70} and len(boxes[0]) == 0 and boxes[1].box_id.tolist() == [5]
    # MERL pose records: by the base name of img_paths
    boxes, _ = _boxes(tmp_path, two_images, [{"img_paths": "x/shelf.png", "bbox": [1, 1, 3, 3]}])
    assert len(boxes[0]) == 0 and boxes[1].xywh.tolist() == [[1, 1, 3, 3]]
    # MERL per-frame boxes [x1, y1, x2, y2] (or []): the entry named after the input, by frame number
    boxes, _ = _boxes(tmp_path, two_images, {"imgs": [[], [2, 3, 12, 23]], "other": [[0, 0, 1, 1]]})
    assert len(boxes[0]) == 0 and boxes[1].xywh.tolist() == [[2, 3, 10, 20]]
    assert boxes[1].best().tolist() == [2, 3, 12, 23] and np.isnan(boxes[0].best()).all()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([{"image_id": 99, "bbox": [0, 0, 5, 5]}], "none of its boxes belongs to a frame"),
        ([{"image_id": 7, "bbox": [0, 0, -5, 5]}], r"detection 0: bbox .* width or height <= 0"),
        ([{"image_id": 7, "bbox": [0, 0, 5]}], "detection 0: bbox .* not 4 finite numbers"),
        ([{"bbox": [0, 0, 5, 5]}], "detection 0: no image_id"),
        ({"a": [[0, 0, 1, 1]], "b": []}, "no entry 'imgs'"),
        ({"imgs": [[5, 5, 1, 1]]}, r"frame 0: malformed box"),
        ("boxes", "not a boxes file"),
    ],
)
def test_bad_box_files_are_errors_naming_the_file_and_record(two_images, tmp_path, payload, message):
    with pytest.raises(ValueError, match=message) as err:
        _boxes(tmp_path, two_images, payload)
    assert "boxes.json" in str(err.value)


def test_bad_inputs_are_clear_errors(pose_ckpt, tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        run_predict(tmp_path, f"ckpt_path={tmp_path / 'missing.ckpt'}", f"input={tmp_path}")
    with pytest.raises(FileNotFoundError, match="input not found"):
        run_predict(tmp_path, f"ckpt_path={pose_ckpt}", f"input={tmp_path / 'missing.mp4'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no image"):
        run_predict(tmp_path, f"ckpt_path={pose_ckpt}", f"input={tmp_path / 'empty'}")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not an image"):
        run_predict(tmp_path, f"ckpt_path={pose_ckpt}", f"input={tmp_path / 'notes.txt'}")
