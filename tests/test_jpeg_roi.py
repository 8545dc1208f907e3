"""Region-of-interest JPEG decoding (har.data.io.jpeg_roi) and its use by the top-down dataset: the same pixels and
samples as a whole decode, the image frame (EXIF orientation, size check), corrupt data and the fallback."""

from __future__ import annotations

import json
import logging
import struct

import cv2
import numpy as np
import pytest
import torch

from har.data.datasets.topdown import TopDownPoseDataset
from har.data.formats.coco import load_coco_index
from har.data.io import jpeg_roi
from har.data.io.images import ImageReadError
from har.data.transforms.augmentation import Augmentation
from har.data.transforms.topdown import TopDownTransform
from har.layouts import COCO17

FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
         8: cv2.IMREAD_REDUCED_COLOR_8}  # fmt: skip
ENCODINGS = {
    "4:2:0": [],
    "4:4:4": [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444],
    "4:2:2": [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422],
    "progressive": [cv2.IMWRITE_JPEG_PROGRESSIVE, 1],
    "restart markers": [cv2.IMWRITE_JPEG_RST_INTERVAL, 3],
    "grey": [],
}


@pytest.fixture(scope="module", autouse=True)
def native_decoder():
    # The decoder is part of the install (make install builds it): its absence is a failure here, not a skip.
    assert jpeg_roi.available(), jpeg_roi.unavailable_reason()


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3)).astype(np.float32), (w, h),
                     interpolation=cv2.INTER_CUBIC) + rng.normal(0, 10, (h, w, 3))  # fmt: skip
    return np.clip(img, 0, 255).astype(np.uint8)


def _jpeg(img: np.ndarray, params: list[int] = (), quality: int = 90) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality, *params])
    assert ok
    return buf.ravel()


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("size", [(480, 640), (333, 501)])
def test_region_pixels_equal_a_whole_decode(encoding, size):
    img = _texture(*size)
    data = _jpeg(img[..., 0] if encoding == "grey" else img, ENCODINGS[encoding])
    rng = np.random.default_rng(1)
    for r in (1, 2, 4, 8):
        whole = cv2.imdecode(data, FLAGS[r])
        height, width = whole.shape[:2]
        for _ in range(12):
            x0, y0 = int(rng.integers(-20, width)), int(rng.integers(-20, height))
            x1, y1 = x0 + int(rng.integers(1, width)), y0 + int(rng.integers(1, height))
            roi = jpeg_roi.decode_roi(data, (x0, y0, x1, y1), r)
            assert roi.decoded_size == (width, height) and roi.stored_size == (size[1], size[0])
            ox, oy = roi.origin
            h, w = roi.image.shape[:2]
            # The region holds the requested one, clipped to the image ...
            assert ox <= max(x0, 0) and oy <= max(y0, 0)
            assert ox + w >= min(x1, width) and oy + h >= min(y1, height)
            # ... no more than an iMCU (<= 32 px) wider, and only the requested rows.
            assert w <= min(x1, width) - max(x0, 0) + 32 and oy + h == min(max(y1, oy + 1), height)
            np.testing.assert_array_equal(roi.image, whole[oy : oy + h, ox : ox + w])


def test_truncated_file_fails_only_where_the_rows_are_missing_and_corrupt_data_is_reported():
    data = _jpeg(_texture(480, 640))
    truncated = data[: data.size // 2]
    top = jpeg_roi.decode_roi(truncated, (0, 0, 100, 40))
    np.testing.assert_array_equal(top.image, cv2.imdecode(data, cv2.IMREAD_COLOR)[:40, : top.image.shape[1]])
    with pytest.raises(jpeg_roi.JpegDecodeError, match="truncated file.*Premature end"):
        jpeg_roi.decode_roi(truncated, (0, 400, 100, 480))
    corrupt = data.copy()
    corrupt[data.size // 2 : data.size // 2 + 4] = [0xFF, 0xD3, 0xFF, 0xD5]  # stray restart markers mid-scan
    assert jpeg_roi.decode_roi(corrupt, (0, 0, 100, 40)).warnings == 0  # above the damage
    damaged = jpeg_roi.decode_roi(corrupt, (0, 400, 100, 480))
    assert damaged.warnings >= 1 and "Corrupt JPEG data" in damaged.warning
    with pytest.raises(jpeg_roi.JpegDecodeError, match="Not a JPEG|JPEG datastream|marker"):
        jpeg_roi.decode_roi(np.frombuffer(b"\xff\xd8\xff\xe0 this is not a JPEG stream", np.uint8), (0, 0, 8, 8))


def _exif_orientation(data: np.ndarray, orientation: int) -> np.ndarray:
    """``data`` with an APP1 Exif segment (little-endian TIFF, one IFD entry: Orientation) after SOI."""
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x0112, 3, 1, orientation) + b"\0" * 4
    body = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    raw = data.tobytes()
    return np.frombuffer(raw[:2] + segment + raw[2:], np.uint8)


def _one_image_dataset(tmp_path, data: np.ndarray, annotated_size: tuple[int, int], bbox, **kwargs):
    (tmp_path / "images").mkdir(exist_ok=True)
    data.tofile(tmp_path / "images" / "000000000001.jpg")
    kps = np.zeros((17, 3))
    kps[0] = [bbox[0] + bbox[2] / 2, bbox[1] + bbox[3] / 2, 2]
    ann = {"id": 5, "image_id": 1, "category_id": 1, "bbox": list(bbox), "area": bbox[2] * bbox[3], "iscrowd": 0,
           "num_keypoints": 1, "keypoints": kps.ravel().tolist()}  # fmt: skip
    doc = {"images": [{"id": 1, "file_name": "000000000001.jpg", "width": annotated_size[0],
                       "height": annotated_size[1]}],
           "annotations": [ann], "categories": [{"id": 1, "name": "person"}]}  # fmt: skip
    (tmp_path / "ann.json").write_text(json.dumps(doc))
    index = load_coco_index(tmp_path / "ann.json", cache=False, verbose=False)
    return TopDownPoseDataset(index, tmp_path / "images", TopDownTransform(COCO17, (64, 48)), **kwargs)


@pytest.mark.parametrize("roi", [True, False])
def test_the_image_frame_is_the_one_with_the_annotated_size(tmp_path, roi):
    img = _texture(200, 120)  # stored 120 x 200 (w x h); EXIF orientation 6 shows it as 200 x 120
    data = _exif_orientation(_jpeg(img, quality=95), 6)
    raw = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    oriented = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert raw.shape[:2] == (200, 120) and oriented.shape[:2] == (120, 200)
    for size, expected in (((120, 200), raw), ((200, 120), oriented)):
        ds = _one_image_dataset(tmp_path, data, size, [20.0, 20.0, 60.0, 60.0], roi_decode=roi)
        m, _ = ds.transform.affine(ds.index.bboxes[0], ds.index.keypoints[0])
        image, reduction, (ox, oy) = ds.decode_window(0, m)
        h, w = image.shape[:2]
        assert reduction == 1
        np.testing.assert_array_equal(image, expected[oy : oy + h, ox : ox + w])
    # No size in the annotation file (MERL pose records may lack img_width/img_height): the image as stored.
    ds = _one_image_dataset(tmp_path, data, (0, 0), [20.0, 20.0, 60.0, 60.0], roi_decode=roi)
    m, _ = ds.transform.affine(ds.index.bboxes[0], ds.index.keypoints[0])
    image, _, (ox, oy) = ds.decode_window(0, m)
    h, w = image.shape[:2]
    np.testing.assert_array_equal(image, raw[oy : oy + h, ox : ox + w])
    ds = _one_image_dataset(tmp_path, data, (130, 200), [20.0, 20.0, 60.0, 60.0], roi_decode=roi,
                            max_failure_fraction=0)  # fmt: skip
    m, _ = ds.transform.affine(ds.index.bboxes[0], ds.index.keypoints[0])
    with pytest.raises(ImageReadError, match=r"000000000001\.jpg \(annotation id 5\) is 120x200 pixels but the "
                                             r"annotation file gives 130x200"):  # fmt: skip
        ds.decode_window(0, m)


def _samples(ds, seed):
    torch.manual_seed(seed)
    return [ds[i] for i in range(len(ds))]


@pytest.mark.parametrize("reduced", [False, True])
@pytest.mark.parametrize("augment", ["eval", "rotated", "unrotated"])
def test_dataset_samples_are_identical_with_and_without_roi_decode(tiny_coco, reduced, augment):
    index = load_coco_index(tiny_coco / "annotations" / "person_keypoints_val2017.json", cache=False, verbose=False)
    aug = {"eval": None,
           "rotated": Augmentation(rotation_prob=1.0, rotation=40, half_body_prob=0.3, photometric=None),
           "unrotated": Augmentation(rotation_prob=0.0, photometric=None)}[augment]  # fmt: skip
    transform = TopDownTransform(COCO17, (64, 48), augment=aug)
    whole, roi = (TopDownPoseDataset(index, tiny_coco / "val2017", transform, reduced_decode=reduced, roi_decode=flag)
                  for flag in (False, True))  # fmt: skip
    decoded = []
    for seed in range(2):
        for a, b in zip(_samples(whole, seed), _samples(roi, seed), strict=True):
            for key in a:
                assert torch.equal(a[key], b[key]), key
        torch.manual_seed(seed)
        for i in range(len(index)):
            m, _ = transform.affine(index.bboxes[i], index.keypoints[i])
            image, _, _ = roi.decode_window(i, m)
            w, h = index.image_sizes[index.ann_image[i]]
            decoded.append(image.shape[0] * image.shape[1] / (w * h))
    assert np.mean(decoded) < 0.8  # ... while decoding only part of the images (not vacuous)


def test_corrupt_data_in_the_window_is_logged_once_and_counted(tmp_path, caplog):
    data = _jpeg(_texture(480, 640))
    data[data.size // 2 : data.size // 2 + 4] = [0xFF, 0xD3, 0xFF, 0xD5]
    ds = _one_image_dataset(tmp_path, data, (640, 480), [100.0, 300.0, 200.0, 150.0])
    with caplog.at_level(logging.WARNING, logger="har.data.transforms.topdown"):
        ds[0], ds[0]
    assert ds.corrupt_reads == 2 and ds.failures == 0
    assert caplog.text.count("corrupt JPEG data inside the crop's window") == 1
    assert "000000000001.jpg (annotation id 5)" in caplog.text


def test_without_the_native_decoder_images_are_decoded_whole(tiny_coco, monkeypatch):
    index = load_coco_index(tiny_coco / "annotations" / "person_keypoints_val2017.json", cache=False, verbose=False)
    ds = TopDownPoseDataset(index, tiny_coco / "val2017", TopDownTransform(COCO17, (64, 48)))
    expected = ds[0]
    monkeypatch.setattr(jpeg_roi, "_lib", None)
    monkeypatch.setattr(jpeg_roi, "_unavailable", "no libjpeg here")
    m, _ = ds.transform.affine(index.bboxes[0], index.keypoints[0])
    image, r, origin = ds.decode_window(0, m)
    w, h = index.image_sizes[index.ann_image[0]]
    assert origin == (0, 0) and image.shape[:2] == (-(-h // r), -(-w // r))
    for key, value in ds[0].items():
        assert torch.equal(value, expected[key]), key


def test_a_build_failure_says_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(jpeg_roi, "LIBRARY", tmp_path / "libhar_roi_jpeg.so")
    monkeypatch.setattr(jpeg_roi, "NATIVE_DIR", tmp_path)
    (tmp_path / "broken.c").write_text("#include <no_such_header.h>\n")
    monkeypatch.setattr(jpeg_roi, "SOURCE", tmp_path / "broken.c")
    with pytest.raises(jpeg_roi.JpegRoiUnavailable, match="(?s)no_such_header.h.*libjpeg62-turbo-dev"):
        jpeg_roi.build()
    assert jpeg_roi.main(["--optional"]) == 0 and jpeg_roi.main([]) == 1
    assert "ROI JPEG decoding will be off" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "broken.c"]  # no half-written library left behind


def test_a_cmyk_jpeg_is_decoded_whole_by_opencv(tmp_path):
    """libjpeg cannot turn CMYK into BGR by itself: the dataset decodes such a file whole (OpenCV converts it)."""
    from PIL import Image  # a dependency of tensorboard; it writes CMYK JPEGs, which OpenCV cannot

    rgb = _texture(96, 128)
    buf = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(buf, "JPEG", quality=95)
    data = np.fromfile(buf, np.uint8)
    with pytest.raises(jpeg_roi.UnsupportedJpeg):
        jpeg_roi.decode_roi(data, (0, 0, 10, 10))
    ds = _one_image_dataset(tmp_path, data, (128, 96), [30.0, 20.0, 40.0, 50.0], max_failure_fraction=0)
    m, _ = ds.transform.affine(ds.index.bboxes[0], ds.index.keypoints[0])
    image, reduction, origin = ds.decode_window(0, m)
    assert (reduction, origin) == (1, (0, 0))  # a 50 px box for a 64 px crop: full resolution, whole image
    np.testing.assert_array_equal(image, cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION))
    assert int(ds[0]["index"]) == 0  # a sample, not a failure


@pytest.mark.parametrize("crop", ["clip", "frame"])
@pytest.mark.parametrize("train", [True, False])
def test_clip_samples_are_identical_with_and_without_roi_decode(tiny_merl, monkeypatch, crop, train):
    """MERL action clips: each frame decoded only over its crop's region gives the samples whole frames give."""
    from har.data.datamodules.merl_action import MerlActionDataModule
    from har.data.datasets import clips

    dm = MerlActionDataModule(root=str(tiny_merl / "action"), num_frames=4, input_size=(64, 48), crop=crop,
                              num_workers=0, persistent_workers=False, pin_memory=False)  # fmt: skip
    roi = dm.build_dataset("train", train=train)
    whole = dm.build_dataset("train", train=train)
    whole.roi_decode = False
    decoded = []
    real_decode = jpeg_roi.decode_roi

    def recording_decode(data, window, *args, **kwargs):
        out = real_decode(data, window, *args, **kwargs)
        decoded.append(out.image.shape[0] * out.image.shape[1] / (out.decoded_size[0] * out.decoded_size[1]))
        return out

    monkeypatch.setattr(clips.jpeg_roi, "decode_roi", recording_decode)
    for i in range(len(roi)):
        torch.manual_seed(i)  # the clip's augmentation stream (har.data.sampling.sample_rng)
        a = roi[i]
        torch.manual_seed(i)
        b = whole[i]
        for key, value in a.items():
            assert torch.equal(value, b[key]) if isinstance(value, torch.Tensor) else value == b[key], (i, key)
    assert decoded and min(decoded) < 1.0  # regions were decoded, not whole frames (not vacuous)


@pytest.mark.parametrize("rotation", [0.0, 25.0])
def test_windows_across_or_beyond_the_image_edges_give_the_whole_decodes_crop(rotation):
    """Windows partly or wholly outside the image (translation augmentation, boxes at the border): the region decode
    (clipped, or the nearest pixel when nothing is inside) warps to the crop the whole image gives."""
    from har.geometry.affine import crop_affine

    data = _jpeg(_texture(240, 320))
    whole = cv2.imdecode(data, cv2.IMREAD_COLOR)
    transform = TopDownTransform(COCO17, (64, 48))
    centres = [(-100, 120), (0, 0), (160, 120), (319, 239), (330, -40), (600, 500), (-500, -500)]
    for cx, cy in centres:
        for size in (40.0, 200.0, 900.0):
            m = crop_affine(np.array([cx, cy], float), np.array([size * 0.75, size]), (48, 64), rotation, False)
            roi = jpeg_roi.decode_roi(data, transform.source_window(m), 1)
            a, ma = transform.warp(whole, m, 1)
            b, mb = transform.warp(roi.image, m, 1, roi.origin)
            np.testing.assert_array_equal(a, b, err_msg=f"centre {(cx, cy)}, size {size}")
            np.testing.assert_array_equal(ma, mb)


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (17, 33), (2, 300)])
def test_regions_of_images_smaller_than_a_block_are_exact(size):
    """Images narrower or shorter than one 16-px iMCU, any region that overlaps them, every scale."""
    rng = np.random.default_rng(2)
    data = _jpeg(rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    for r in (1, 2, 8):
        whole = cv2.imdecode(data, FLAGS[r])
        height, width = whole.shape[:2]
        for _ in range(25):
            x0, y0 = int(rng.integers(-5, width)), int(rng.integers(-5, height))
            x1, y1 = int(rng.integers(max(x0, 0) + 1, width + 6)), int(rng.integers(max(y0, 0) + 1, height + 6))
            roi = jpeg_roi.decode_roi(data, (x0, y0, x1, y1), r)
            (ox, oy), (h, w) = roi.origin, roi.image.shape[:2]
            assert ox <= max(x0, 0) and oy <= max(y0, 0) and ox + w >= min(x1, width) and oy + h >= min(y1, height)
            np.testing.assert_array_equal(roi.image, whole[oy : oy + h, ox : ox + w])


def test_huge_windows_are_clipped_before_any_buffer_is_sized():
    """A degenerate window (a NaN or enormous box: ±2^30 px) decodes the whole image, not a terabyte buffer; an
    image wider than the first buffer (4096 px) gets the size it needs from its header, then decodes exactly."""
    data = _jpeg(_texture(120, 160))
    roi = jpeg_roi.decode_roi(data, (-(1 << 30), -(1 << 30), 1 << 30, 1 << 30))
    assert roi.origin == (0, 0)
    np.testing.assert_array_equal(roi.image, cv2.imdecode(data, cv2.IMREAD_COLOR))
    wide = _jpeg(_texture(24, 4500))
    roi = jpeg_roi.decode_roi(wide, (-10, 0, 5000, 24))
    assert roi.origin == (0, 0)
    np.testing.assert_array_equal(roi.image, cv2.imdecode(wide, cv2.IMREAD_COLOR))
    transform = TopDownTransform(COCO17, (64, 48))
    nan_window = transform.source_window(np.full((2, 3), np.nan))
    assert nan_window == (-(1 << 30), -(1 << 30), 1 << 30, 1 << 30)
