"""DeepHARPose structure, building blocks and soft-argmax decoding (no original weights needed)."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from har.models.layers import BatchNormNoScale, Conv2dSame, MaxPool2dSame, tf_same_padding
from har.models.pose_net import DeepHARPose
from har.models.soft_argmax import (
    context_aggregation,
    decode_2d,
    decode_3d,
    joint_visibility,
    soft_argmax_2d,
    spatial_softmax,
)

LAYOUT = (
    Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "deephar_keras" / "pose2d_k2" / "layout.json"
)


def trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ---------------------------------------------------------------- parameter counts of the original


def test_mpii_2d_trainable_params_match_original():
    assert trainable(DeepHARPose(num_joints=16, num_blocks=8, kernel_size=5, num_context_per_joint=2)) == 14_669_952


def test_h36m_3d_trainable_params_match_original():
    net = DeepHARPose(num_joints=17, num_blocks=8, kernel_size=5, num_context_per_joint=0, depth_bins=16)
    assert trainable(net) == 16_605_312


def test_fixture_config_trainable_params_match_original():
    assert trainable(DeepHARPose(num_joints=16, num_blocks=2, kernel_size=5)) == 4_422_912


def test_per_top_layer_trainable_params_match_keras_summary():
    if not LAYOUT.exists():
        pytest.skip(f"original-model fixture not found at {LAYOUT}")
    expected = json.loads(LAYOUT.read_text())["params"]["per_top_layer"]
    net = DeepHARPose(num_joints=16, num_blocks=2, kernel_size=5, num_context_per_joint=2)
    ours = {"Stem": trainable(net.stem)}
    for b, block in enumerate(net.blocks, start=1):
        ours.update(
            {
                f"rBlock{b}": trainable(block.reception),
                f"SepConv{b}": trainable(block.sepconv),
                f"RegMap{b}": trainable(block.regmap),
            }
        )
        if block.fremap is not None:
            ours[f"fReMap{b}"] = trainable(block.fremap)
    # sSAM, cSAM, Agg hold only frozen constants: har computes them on the fly, no parameters.
    assert ours == {k: v["trainable"] for k, v in expected.items() if v["trainable"] > 0}
    assert all(expected[k]["trainable"] == 0 for k in ("sSAM", "cSAM", "Agg"))


def test_width_576_stem_has_original_channels_and_kernels():
    stem = DeepHARPose(num_blocks=1).stem
    convs = [
        (m.in_channels, m.out_channels, m.kernel_size, m.stride)
        for m in stem.modules()
        if isinstance(m, nn.Conv2d) and m.groups == 1
    ]
    assert convs == [
        (3, 32, (3, 3), (2, 2)),
        (32, 32, (3, 3), (1, 1)),
        (32, 64, (3, 3), (1, 1)),
        (64, 96, (3, 3), (2, 2)),
        (160, 64, (1, 1), (1, 1)),
        (64, 96, (3, 3), (1, 1)),  # branch A
        (160, 64, (1, 1), (1, 1)),
        (64, 64, (5, 1), (1, 1)),
        (64, 64, (1, 5), (1, 1)),
        (64, 96, (3, 3), (1, 1)),  # branch B
        (192, 192, (3, 3), (2, 2)),
        (384, 576, (1, 1), (1, 1)),
        (384, 576, (1, 1), (1, 1)),  # sepres shortcut, sepconv pointwise
    ]
    assert stem.sepres.main.conv.depthwise.kernel_size == (3, 3)  # stem sepres stays 3×3


def test_small_width_scales_stem_and_reception():
    net = DeepHARPose(width=64, num_blocks=1)
    assert net.stem.conv1.conv.out_channels == 8 and net.stem.mixed3_conv.conv.out_channels == 24
    assert net.blocks[0].reception.reduce.conv.out_channels == 32
    assert trainable(net) < 100_000


def test_no_conv_bias_and_batchnorm_without_gamma():
    net = DeepHARPose(width=64, num_blocks=2)
    assert all(m.bias is None for m in net.modules() if isinstance(m, nn.Conv2d))
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(not m.affine and m.eps == 1e-3 and m.momentum == 0.01 for m in bns)
    assert not any(name.endswith("weight") for name, p in net.named_parameters() if ".bn." in name)


def test_sync_batchnorm_conversion_keeps_beta():
    bn = BatchNormNoScale(4)
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(bn))
    assert isinstance(converted[0].bn, nn.SyncBatchNorm) and not converted[0].bn.affine
    assert isinstance(converted[0].bias, nn.Parameter)


# ---------------------------------------------------------------- forward shapes and gradients


@pytest.mark.parametrize("size", [(128, 128), (128, 96)])
@pytest.mark.parametrize("depth_bins", [None, 4])
def test_forward_shapes_and_ranges(size, depth_bins):
    context = 2 if depth_bins is None else 0
    net = DeepHARPose(
        num_joints=5,
        num_blocks=2,
        kernel_size=3,
        num_context_per_joint=context,
        depth_bins=depth_bins,
        width=64,
        input_size=size,
    ).eval()
    h, w = size
    with torch.no_grad():
        out = net(torch.rand(2, 3, h, w) * 2 - 1)
    dim = 2 if depth_bins is None else 3
    n_h = 5 * 3 if depth_bins is None else 5 * 4
    assert net.dim == dim and net.num_joints == 5 and net.heatmap_size == (h // 8, w // 8)
    assert out.pose.shape == (2, 2, 5, dim)
    assert out.visibility.shape == (2, 2, 5, 1)
    assert out.heatmaps.shape == (2, n_h, h // 8, w // 8)
    assert out.features.shape == (2, 64, h // 8, w // 8)
    for t in (out.pose, out.visibility):
        assert torch.isfinite(t).all() and t.min() >= 0 and t.max() <= 1


def test_channels_last_input_gives_same_output():
    net = DeepHARPose(num_joints=4, num_blocks=2, width=32, input_size=(64, 64)).eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        ref = net(x)
        out = net.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out.pose, ref.pose, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.heatmaps, ref.heatmaps, atol=1e-4, rtol=1e-4)


def test_gradients_reach_every_parameter_from_last_block_pose():
    torch.manual_seed(0)
    net = DeepHARPose(num_joints=4, num_blocks=2, kernel_size=3, width=32, input_size=(64, 64)).train()
    net(torch.rand(2, 3, 64, 64) * 2 - 1).pose[-1].square().sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_gradients_from_first_block_pose_reach_exactly_its_upstream():
    torch.manual_seed(0)
    net = DeepHARPose(num_joints=4, num_blocks=2, kernel_size=3, width=32, input_size=(64, 64)).train()
    net(torch.rand(2, 3, 64, 64) * 2 - 1).pose[0].square().sum().backward()
    upstream = ("stem.", "blocks.0.reception.", "blocks.0.sepconv.", "blocks.0.regmap.")
    for name, p in net.named_parameters():
        reached = p.grad is not None and p.grad.abs().sum() > 0
        assert reached == name.startswith(upstream), name


@pytest.mark.parametrize(
    "size, message", [((250, 256), "height 250"), ((256, 100), "width 100"), ((0, 64), "height 0")]
)
def test_bad_input_size_raises(size, message):
    with pytest.raises(ValueError, match=message):
        DeepHARPose(width=32, num_blocks=1, input_size=size)


def test_3d_with_context_maps_raises():
    with pytest.raises(ValueError, match="num_context_per_joint=0"):
        DeepHARPose(num_joints=17, depth_bins=16, num_context_per_joint=2, width=32, num_blocks=1)


# ---------------------------------------------------------------- building blocks


def test_tf_same_padding_puts_the_odd_pixel_bottom_right():
    assert tf_same_padding(8, 3, 2) == (0, 1)
    assert tf_same_padding(7, 3, 2) == (1, 1)
    assert tf_same_padding(8, 5, 1) == (2, 2)
    conv = Conv2dSame(2, 3, 3, stride=2)
    x = torch.randn(1, 2, 8, 8)
    torch.testing.assert_close(conv(x), F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, stride=2))


def test_same_max_pool_never_picks_padding():
    x = -torch.rand(1, 1, 8, 8) - 1  # all negative: a zero pad would win
    out = MaxPool2dSame(3, 2)(x)
    assert out.shape == (1, 1, 4, 4)
    torch.testing.assert_close(out[0, 0, 3, 3], x[0, 0, 6:, 6:].max())
    assert (out < 0).all()


# ---------------------------------------------------------------- soft-argmax decoding


def test_sharp_peak_decodes_to_endpoint_inclusive_grid():
    h, w = 6, 9
    for r, c in [(0, 0), (5, 8), (2, 3), (4, 1)]:
        logits = torch.zeros(1, 1, h, w)
        logits[0, 0, r, c] = 50.0
        torch.testing.assert_close(soft_argmax_2d(logits)[0, 0], torch.tensor([c / (w - 1), r / (h - 1)]))


def test_spatial_softmax_sums_to_one_per_map():
    prob = spatial_softmax(torch.randn(2, 3, 5, 4) * 5)
    torch.testing.assert_close(prob.sum(dim=(2, 3)), torch.ones(2, 3))


def _hand_sam(m):
    """Direct soft-argmax of one (H, W) map."""
    h, w = m.shape
    p = torch.exp(m - m.max())
    p = p / p.sum()
    return torch.stack(
        [
            sum(p[i, j] * j / (w - 1) for i in range(h) for j in range(w)),
            sum(p[i, j] * i / (h - 1) for i in range(h) for j in range(w)),
        ]
    )


def test_context_aggregation_matches_hand_computation():
    torch.manual_seed(0)
    b, joints, nc, alpha = 2, 3, 2, 0.8
    logits = torch.randn(b, joints * (1 + nc), 4, 5) * 3
    pose, vis = context_aggregation(logits, joints, nc, alpha)
    for i in range(b):
        for j in range(joints):
            ys = _hand_sam(logits[i, j])
            ctx = [joints + nc * j + k for k in range(nc)]
            pc = [torch.sigmoid(logits[i, c].max()) for c in ctx]
            yc = sum(p * _hand_sam(logits[i, c]) for p, c in zip(pc, ctx)) / sum(pc)
            torch.testing.assert_close(pose[i, j], alpha * ys + (1 - alpha) * yc)
            torch.testing.assert_close(vis[i, j, 0], torch.sigmoid(logits[i, j].max()))
    torch.testing.assert_close(decode_2d(logits, joints, nc, alpha)[0], pose)


def test_decode_2d_without_context_is_plain_soft_argmax():
    logits = torch.randn(2, 4, 6, 6)
    pose, vis = decode_2d(logits, 4, num_context=0)
    torch.testing.assert_close(pose, soft_argmax_2d(logits))
    torch.testing.assert_close(vis, joint_visibility(logits))


def test_decode_3d_matches_hand_computation():
    torch.manual_seed(1)
    b, joints, bins, h, w = 2, 3, 4, 5, 6
    logits = torch.randn(b, bins * joints, h, w) * 2
    pose, vis = decode_3d(logits, joints, bins)
    assert pose.shape == (b, joints, 3) and vis.shape == (b, joints, 1)
    for i in range(b):
        for j in range(joints):
            maps = torch.stack([logits[i, d * joints + j] for d in range(bins)])  # channel = d·J + j
            hxy, hz = maps.mean(dim=0), maps.mean(dim=(1, 2))
            pz = torch.softmax(hz, dim=0)
            z = sum(pz[d] * d / (bins - 1) for d in range(bins))
            torch.testing.assert_close(pose[i, j], torch.cat([_hand_sam(hxy), z.view(1)]))
            torch.testing.assert_close(vis[i, j, 0], torch.sigmoid(hxy.max() + hz.max()))
