"""Training augmentation (half-body, photometric), the decode fast paths, and unreadable images at load time."""

from __future__ import annotations

import json
import logging
import shutil

import cv2
import numpy as np
import pytest
import torch

from har.data.datasets.topdown import TopDownPoseDataset
from har.data.formats.coco import load_coco_index
from har.data.transforms.augmentation import Augmentation
from har.data.transforms.photometric import HueSaturation, Photometric
from har.data.transforms.topdown import TopDownTransform
from har.geometry.affine import apply_affine, crop_affine, decode_reduction, reduced_affine
from har.layouts import COCO17, PA16J

GEOMETRY_OFF = {"rotation_prob": 0.0, "scale": (1.0, 1.0), "translation": 0.0, "flip_prob": 0.0}


def _standing_person() -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 keypoints (J, 3) of an upright person about 300 px tall, and its box (xywh)."""
    y = [40, 32, 32, 36, 36, 80, 80, 130, 130, 175, 175, 190, 190, 260, 260, 330, 330]
    x = [200, 192, 208, 185, 215, 170, 230, 160, 240, 155, 245, 182, 218, 180, 220, 178, 222]
    kps = np.stack([x, y, np.full(17, 2)], axis=1).astype(np.float32)
    return kps, np.array([140.0, 20.0, 120.0, 320.0], dtype=np.float32)


def _inside(transform: TopDownTransform, kps: np.ndarray, m: np.ndarray) -> np.ndarray:
    return transform.codec.inside(apply_affine(kps[:, :2].astype(np.float64), m))


def test_layouts_split_upper_and_lower_body():
    assert COCO17.upper_body == tuple(range(11)) and COCO17.lower_body == tuple(range(11, 17))
    assert {PA16J.joints[i] for i in PA16J.lower_body} == {"pelvis", "r_hip", "l_hip", "r_knee", "l_knee",
                                                           "r_ank", "l_ank"}  # fmt: skip


@pytest.mark.parametrize("upper", [True, False])
def test_half_body_window_is_the_chosen_half(upper):
    kps, bbox = _standing_person()
    aug = Augmentation(**GEOMETRY_OFF, half_body_prob=1.0, half_body_upper_prob=float(upper), photometric=None)
    transform = TopDownTransform(COCO17, (64, 48), augment=aug)
    m, _ = transform.affine(bbox, kps)
    inside = _inside(transform, kps, m)
    chosen, other = (COCO17.upper_body, COCO17.lower_body) if upper else (COCO17.lower_body, COCO17.upper_body)
    assert inside[list(chosen)].all()  # the chosen half is in the crop ...
    assert not inside[list(other)].all()  # ... and (here) part of the other half falls out
    assert m[0, 0] == pytest.approx(m[1, 1])  # the window keeps the crop's aspect ratio
    # It is the half's joint extent x 1.5, grown to the aspect ratio (48 / 64): here the height decides.
    half = kps[list(chosen), :2]
    height = (half[:, 1].max() - half[:, 1].min() + 1) * 1.5
    assert m[1, 1] == pytest.approx(64 / height)


def test_half_body_needs_enough_labelled_joints():
    kps, bbox = _standing_person()
    kps[9:, 2] = 0  # 9 labelled joints: enough; 8: not
    full = TopDownTransform(COCO17, (64, 48), augment=Augmentation(**GEOMETRY_OFF, half_body_prob=0.0))
    half = TopDownTransform(COCO17, (64, 48), augment=Augmentation(**GEOMETRY_OFF, half_body_prob=1.0))
    assert not np.allclose(half.affine(bbox, kps)[0], full.affine(bbox, kps)[0])
    kps[8, 2] = 0
    np.testing.assert_array_equal(half.affine(bbox, kps)[0], full.affine(bbox, kps)[0])


def _copy_split(src, dst, split="val2017"):
    (dst / "annotations").mkdir(parents=True)
    ann = f"person_keypoints_{split}.json"
    shutil.copy(src / "annotations" / ann, dst / "annotations" / ann)
    shutil.copytree(src / split, dst / split)
    return load_coco_index(dst / "annotations" / ann, cache=False, verbose=False)


def _items(ds, seed=0):
    torch.manual_seed(seed)
    return [ds[i] for i in range(len(ds))]


def test_photometric_changes_pixels_but_never_the_targets(tiny_coco):
    index = load_coco_index(tiny_coco / "annotations" / "person_keypoints_val2017.json", cache=False, verbose=False)
    strong = Photometric(brightness_contrast_prob=1.0, gamma_prob=1.0, hue_saturation_prob=1.0, blur_noise_prob=1.0,
                         jpeg_prob=1.0)  # fmt: skip
    samples = {}
    for name, photometric in (("off", None), ("on", strong)):
        aug = Augmentation(half_body_prob=0.5, photometric=photometric)
        ds = TopDownPoseDataset(index, tiny_coco / "val2017", TopDownTransform(COCO17, (64, 64), augment=aug))
        samples[name] = _items(ds)
    for off, on in zip(samples["off"], samples["on"]):
        for key in ("target_uv", "target_valid", "crop_to_image", "flipped", "index"):
            assert torch.equal(off[key], on[key]), key
        assert on["image"].dtype == torch.uint8 and on["image"].shape == off["image"].shape
        assert (on["image"].int() - off["image"].int()).abs().float().mean() > 1.0


def test_hue_saturation_reads_the_channel_order_it_is_told():
    rgb = cv2.GaussianBlur((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8), (0, 0), 2)
    params = {"hue": 8.0, "sat": 1.15}
    out_rgb = HueSaturation(bgr=False).apply(rgb, **params)
    out_bgr = HueSaturation(bgr=True).apply(np.ascontiguousarray(rgb[..., ::-1]), **params)
    np.testing.assert_array_equal(out_bgr[..., ::-1], out_rgb)
    grey = np.full((4, 4, 3), 128, np.uint8)  # a rotation about the grey axis leaves grey alone
    np.testing.assert_array_equal(HueSaturation().apply(grey, **params), grey)


def test_photometric_stream_is_reproducible_and_leaves_numpy_alone(tiny_coco):
    index = load_coco_index(tiny_coco / "annotations" / "person_keypoints_val2017.json", cache=False, verbose=False)

    def images():
        transform = TopDownTransform(COCO17, (64, 64), augment=Augmentation(photometric=Photometric()))
        ds = TopDownPoseDataset(index, tiny_coco / "val2017", transform)
        torch.manual_seed(3)
        return [s["image"] for s in _items(ds)]

    assert all(torch.equal(a, b) for a, b in zip(images(), images()))


def test_reduced_affine_is_an_exact_change_of_coordinates():
    m = crop_affine(np.array([300.0, 200.0]), np.array([420.0, 560.0]), (48, 64), rotation_deg=17.0, flip=True)
    assert decode_reduction(m) == 8 and decode_reduction(m, max_reduction=4) == 4
    assert decode_reduction(crop_affine(np.zeros(2), np.array([90.0, 120.0]), (48, 64))) == 1
    for r in (2, 4, 8):
        reduced_px = np.array([[0.0, 0.0], [10.0, 3.0], [57.0, 41.0]])
        original_px = r * reduced_px + (r - 1) / 2  # centre of the r x r block of original pixels
        np.testing.assert_allclose(apply_affine(reduced_px, reduced_affine(m, r)), apply_affine(original_px, m))


@pytest.mark.parametrize("r", [2, 4, 8])
def test_reduced_jpeg_pixel_i_is_centred_on_original_pixel_r_i_plus_half_r_minus_one(r):
    """The assumption behind reduced_affine, checked on libjpeg's DCT scaling (a wrong one errs by (r - 1) / 2)."""
    img = np.full((640, 800, 3), 40, np.uint8)
    centres = [(x + 0.3 * (y % 3), y - 0.2 * (x % 5)) for x in range(60, 760, 80) for y in range(60, 600, 80)]
    for x, y in centres:
        cv2.circle(img, (int(round(x * 16)), int(round(y * 16))), 20 * 16, (255, 255, 255), -1, cv2.LINE_AA, 4)
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
    reduced = cv2.imdecode(data, {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                                  8: cv2.IMREAD_REDUCED_COLOR_8}[r]).astype(np.float64).mean(axis=2)  # fmt: skip
    errors = []
    for x, y in centres:
        xr, yr, half = (x - (r - 1) / 2) / r, (y - (r - 1) / 2) / r, int(32 / r)
        x0, y0 = int(round(xr)) - half, int(round(yr)) - half
        patch = np.clip(reduced[y0 : y0 + 2 * half + 1, x0 : x0 + 2 * half + 1] - 40, 0, None)
        gy, gx = np.mgrid[: patch.shape[0], : patch.shape[1]]
        found = np.array([(gx * patch).sum() + x0 * patch.sum(), (gy * patch).sum() + y0 * patch.sum()]) / patch.sum()
        errors.append(found * r + (r - 1) / 2 - (x, y))  # in original pixels
    errors = np.array(errors)
    assert np.abs(errors.mean(axis=0)).max() < 0.25 and np.abs(errors).max() < 1.0


def _dots_image(tmp_path, size=(1000, 1200), radius=14):
    """A smooth textured image with white dots at 17 keypoints of a tall person, as a quality-97 JPEG."""
    rng = np.random.default_rng(0)
    h, w = size
    img = cv2.resize((rng.random((h // 50, w // 50, 3)) * 160).astype(np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    kps, _ = _standing_person()
    kps[:, :2] = (kps[:, :2] - [200, 180]) * 2.0 + [w / 2, h / 2]  # a ~600 px person
    for x, y, _ in kps:
        cv2.circle(img, (int(round(x * 16)), int(round(y * 16))), radius * 16, (255, 255, 255), -1, cv2.LINE_AA, 4)
    cv2.imwrite(str(tmp_path / "000000000001.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 97])
    x0, y0 = kps[:, :2].min(axis=0) - 30
    x1, y1 = kps[:, :2].max(axis=0) + 30
    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
           "area": 1000.0, "iscrowd": 0, "num_keypoints": 17, "keypoints": kps.ravel().tolist()}  # fmt: skip
    images = [{"id": 1, "file_name": "000000000001.jpg", "width": w, "height": h}]
    path = tmp_path / "person_keypoints_val2017.json"
    path.write_text(json.dumps({"images": images, "annotations": [ann], "categories": []}))
    return load_coco_index(path, cache=False, verbose=False)


def _dot_centroids(crop, xy, valid, window=3):
    gray = crop.permute(1, 2, 0).numpy().astype(np.float64).mean(axis=2)
    out = []
    for (x, y), ok in zip(xy, valid):
        if not ok or not (window <= x < gray.shape[1] - window and window <= y < gray.shape[0] - window):
            out.append((np.nan, np.nan))
            continue
        x0, y0 = int(round(x)) - window, int(round(y)) - window
        patch = np.clip(gray[y0 : y0 + 2 * window + 1, x0 : x0 + 2 * window + 1] - 180, 0, None)
        gy, gx = np.mgrid[: patch.shape[0], : patch.shape[1]]
        out.append(((gx * patch).sum() / patch.sum() + x0, (gy * patch).sum() / patch.sum() + y0))
    return np.array(out)


@pytest.mark.parametrize("rotation_prob", [0.0, 1.0])  # the resize path, then the warpAffine path
def test_reduced_resolution_decode_keeps_targets_and_crops(tmp_path, rotation_prob):
    index = _dots_image(tmp_path)
    aug = Augmentation(rotation_prob=rotation_prob, rotation=20, flip_prob=0.5, half_body_prob=0.0, photometric=None)
    transform = TopDownTransform(COCO17, (128, 96), augment=aug)
    full, reduced = (TopDownPoseDataset(index, tmp_path, transform, reduced_decode=flag) for flag in (False, True))
    for seed in range(4):
        torch.manual_seed(seed)
        m, _ = transform.affine(index.bboxes[0], index.keypoints[0])
        assert decode_reduction(m) >= 4  # a ~800 px window for a 96 px wide crop
        a, b = _items(full, seed)[0], _items(reduced, seed)[0]
        for key in ("target_valid", "flipped"):
            assert torch.equal(a[key], b[key])
        xy_a, xy_b = (transform.codec.decode(s["target_uv"].numpy()) for s in (a, b))
        if rotation_prob:  # warpAffine: the same matrix, the same targets
            assert torch.equal(a["target_uv"], b["target_uv"])
        else:  # resize: the window snaps to the decoded pixel grid (1/r of the image's), by < 1 crop pixel here
            assert np.abs(xy_a - xy_b).max() < 1.0
        # The crop is the full-resolution image warped by the same matrix, up to resampling and DCT scaling.
        m_b = np.linalg.inv(np.vstack([b["crop_to_image"].numpy().astype(np.float64), [0, 0, 1]]))[:2]
        image = cv2.cvtColor(cv2.imread(str(tmp_path / "000000000001.jpg")), cv2.COLOR_BGR2RGB)
        ref = torch.from_numpy(cv2.warpAffine(image, m_b, (96, 128), flags=cv2.INTER_LINEAR)).permute(2, 0, 1)
        assert (b["image"].float() - ref.float()).abs().mean() < 2.5
        # The dots sit on their targets in both crops: the reduced decode's coordinates are exact, not just close.
        body = np.arange(17) >= 5  # shoulders to ankles: the face's dots are too close together at this scale
        for sample, xy in ((a, xy_a), (b, xy_b)):
            dots = _dot_centroids(sample["image"], xy, sample["target_valid"].numpy() & body)
            ok = ~np.isnan(dots[:, 0])
            assert ok.sum() >= 6
            np.testing.assert_allclose(dots[ok], xy[ok], atol=0.3)


def _corrupt(path):
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG stream")


def test_unreadable_image_is_replaced_logged_and_counted(tiny_coco, tmp_path, caplog):
    index = _copy_split(tiny_coco, tmp_path)
    bad_file = index.image_file(0)
    _corrupt(tmp_path / "val2017" / bad_file)
    bad = [i for i in range(len(index)) if index.image_file(i) == bad_file]
    ds = TopDownPoseDataset(index, tmp_path / "val2017", TopDownTransform(COCO17, (64, 64)))
    with caplog.at_level(logging.WARNING, logger="har.data.transforms.topdown"):
        items = _items(ds)
    assert [int(s["index"]) for s in items if int(s["index"]) in bad] == []
    substitute = max(bad) + 1  # the next instance whose image reads
    assert all(int(items[i]["index"]) == substitute for i in bad)
    assert all(int(s["index"]) == i for i, s in enumerate(items) if i not in bad)
    assert ds.failures == len(bad) and ds.attempts == len(ds) + len(bad)
    assert f"{bad_file} (annotation id {int(index.ann_ids[bad[0]])}) cannot be decoded" in caplog.text


def test_many_unreadable_images_stop_the_run(tiny_coco, tmp_path):
    index = _copy_split(tiny_coco, tmp_path)
    files = sorted({index.image_file(i) for i in range(len(index))})
    for name in files[1:]:
        (tmp_path / "val2017" / name).unlink()
    ds = TopDownPoseDataset(index, tmp_path / "val2017", TopDownTransform(COCO17, (64, 64)),
                            max_failure_fraction=0.2, min_failures=3)  # fmt: skip
    with pytest.raises(RuntimeError, match=r"3 of \d+ image reads failed .*max_failure_fraction=0.2.*missing"):
        _items(ds)


def test_zero_tolerance_stops_at_the_first_bad_image(tiny_coco, tmp_path):
    index = _copy_split(tiny_coco, tmp_path)
    name = index.image_file(len(index) - 1)
    _corrupt(tmp_path / "val2017" / name)
    ds = TopDownPoseDataset(index, tmp_path / "val2017", TopDownTransform(COCO17, (64, 64)), max_failure_fraction=0)
    ds[0]
    first_bad = min(i for i in range(len(index)) if index.image_file(i) == name)
    with pytest.raises(RuntimeError, match=rf"{name} \(annotation id {int(index.ann_ids[first_bad])}\) cannot be"):
        ds[first_bad]


def test_pipeline_benchmark_prints_its_figures_as_the_last_line(tmp_path, capsys):
    from bench.pipeline import main

    main(["--images", "4", "--min-size", "160", "--max-size", "200", "--input-size", "64", "64", "--rounds", "1",
          "--data-dir", str(tmp_path / "coco")])  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    assert {"command", "decode_ms", "sample_ms", "ratio", "goal", "breakdown_ms", "optimisations"} <= result.keys()
    assert set(result["breakdown_ms"]) == {"window", "decode", "warp", "photometric", "targets"}
    assert result["command"].startswith(".venv/bin/python -m bench.pipeline --images 4") and result["ratio"] > 0
    assert any("ms/sample" in line for line in lines[:-1])
    # Medians with their spread; the ratio against the sample's own region decode; each optimisation's gain by round.
    assert result["ratio_rounds"]["min"] <= result["ratio_rounds"]["median"] <= result["ratio_rounds"]["max"]
    assert result["ratio_to_region_decode"] == round(result["sample_ms"] / result["breakdown_ms"]["decode"], 3)
    assert {"reduced_decode", "roi_decode", "roi_decode_at_evaluation"} <= result["optimisation_gain_rounds"].keys()
    assert any("/ its own region decode" in line for line in lines[:-1])
