"""The coordinate convention: target encoding, soft-argmax decoding and the crop affine agree."""

import numpy as np
import pytest
import torch

from har.codec import HeatmapCodec
from har.geometry.affine import apply_affine, apply_affine_torch, crop_affine, invert_affine
from har.geometry.boxes import bbox_to_center_size
from har.models.soft_argmax import soft_argmax_2d


@pytest.mark.parametrize("input_size", [(128, 128), (256, 192), (96, 160)])
def test_peaked_heatmap_decodes_to_the_encoded_cell_centre(input_size):
    codec = HeatmapCodec(input_size, stride=8)
    h, w = codec.heatmap_size
    for row, col in [(0, 0), (h - 1, w - 1), (h // 3, w // 2), (1, w - 2)]:
        # The crop pixel at the centre of cell (row, col): its 8 pixels are 8c .. 8c + 7.
        centre = np.array([8 * col + 3.5, 8 * row + 3.5])
        logits = torch.zeros(1, 1, h, w)
        logits[0, 0, row, col] = 60.0  # sharp enough that the softmax is one-hot to float precision
        decoded = soft_argmax_2d(logits)[0, 0].double().numpy()
        np.testing.assert_allclose(decoded, codec.encode(centre), atol=1e-6)
        np.testing.assert_allclose(codec.decode(decoded), centre, atol=1e-4)


def test_codec_round_trip_and_inside():
    codec = HeatmapCodec((128, 96))
    pts = np.array([[0.0, 0.0], [95.0, 127.0], [40.25, 60.75]])
    np.testing.assert_allclose(codec.decode(codec.encode(pts)), pts)
    np.testing.assert_allclose(codec.decode_torch(torch.tensor(codec.encode(pts))).numpy(), pts, atol=1e-5)
    assert codec.inside(np.array([[-0.5, 0], [95.49, 127.4], [95.5, 3], [3, -0.6]])).tolist() == [
        True,
        True,
        False,
        False,
    ]


def test_window_keeps_aspect_ratio_and_pads():
    center, size = bbox_to_center_size(np.array([10, 20, 50, 100]), aspect_ratio=1.0, padding=1.25)
    np.testing.assert_allclose(center, [34.5, 69.5])
    np.testing.assert_allclose(size, [125, 125])
    _, size = bbox_to_center_size(np.array([0, 0, 200, 50]), aspect_ratio=0.75, padding=1.0)
    np.testing.assert_allclose(size, [200, 200 / 0.75])


@pytest.mark.parametrize("flip", [False, True])
def test_affine_maps_window_to_crop_and_inverts(flip):
    center, size = np.array([100.0, 50.0]), np.array([80.0, 160.0])
    m = crop_affine(center, size, (64, 128), rotation_deg=0.0, flip=flip)
    # The window centre lands on the crop centre; the window's corners on the crop's.
    np.testing.assert_allclose(apply_affine(center, m), [31.5, 63.5])
    corner = apply_affine(np.array([100.0 - 40.0 * 63 / 64, 50.0 - 80.0 * 127 / 128]), m)
    np.testing.assert_allclose(corner, [63.0, 0.0] if flip else [0.0, 0.0], atol=1e-9)
    rot = crop_affine(center, size, (64, 128), rotation_deg=33.0, flip=flip)
    pts = np.random.default_rng(0).uniform(0, 200, size=(5, 2))
    np.testing.assert_allclose(apply_affine(apply_affine(pts, rot), invert_affine(rot)), pts, atol=1e-9)
    batch = torch.tensor(np.stack([invert_affine(rot)] * 2), dtype=torch.float64)
    back = apply_affine_torch(torch.tensor(np.stack([apply_affine(pts, rot)] * 2)), batch)
    np.testing.assert_allclose(back.numpy()[1], pts, atol=1e-9)
