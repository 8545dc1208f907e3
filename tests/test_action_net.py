"""DeepHARAction: head shapes for any clip size, gradients, identity fusion, pooling primitives, parameter counts."""

import functools
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from har.models.action_net import (
    ActionMapWeighting,
    AppearanceBranch,
    DeepHARAction,
    PoseBranch,
    global_max_min_pool,
    heatmap_weighted_pooling,
    max_min_pool2d,
    pad_clip,
    pose_image,
    pose_inputs_from_heatmaps,
)
from har.models.pose_net import DeepHARPose

SMALL_FEATURES, MAP_SIZE, NUM_ACTIONS = 8, (3, 4), 5


def trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@functools.cache
def small_model(dim: int, version: str, num_joints: int) -> DeepHARAction:
    torch.manual_seed(0)
    return DeepHARAction(NUM_ACTIONS, num_joints, dim, version, feature_channels=SMALL_FEATURES)


def random_inputs(batch: int, frames: int, joints: int, dim: int, channels: int = SMALL_FEATURES, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h, w = MAP_SIZE
    y = torch.rand(batch, frames, joints, dim, generator=g)
    p = torch.rand(batch, frames, joints, 1, generator=g)
    hs_prob = torch.softmax(torch.randn(batch, frames, joints, h * w, generator=g), -1).reshape(
        batch, frames, joints, h, w
    )
    features = torch.randn(batch, frames, channels, h, w, generator=g)
    return y, p, hs_prob, features


# ---------------------------------------------------------------- shapes for any T, J


@pytest.mark.parametrize("dim,version", [(2, "v1"), (2, "v2"), (3, "v1"), (3, "v2")])
@pytest.mark.parametrize("frames,joints", list(itertools.product((8, 16, 5), (16, 17, 20))))
def test_every_head_has_its_shape_for_any_clip_size(dim, version, frames, joints):
    model = small_model(dim, version, joints)
    with torch.no_grad():
        out = model(*random_inputs(2, frames, joints, dim))
    assert out.pose.shape == out.appearance.shape == (4, 2, NUM_ACTIONS)
    for head in (out.fused, out.pose_fused, out.appearance_fused):
        assert head.shape == (2, NUM_ACTIONS)
    assert all(torch.isfinite(t).all() for t in out)


def test_action_maps_are_a_quarter_of_the_padded_clip():
    pose = PoseBranch(num_joints=17, dim=2, num_actions=NUM_ACTIONS)
    appearance = AppearanceBranch(SMALL_FEATURES, num_joints=17, num_actions=NUM_ACTIONS)
    with torch.no_grad():
        _, pose_maps = pose(torch.rand(2, 2, 5, 17))
        _, appearance_maps = appearance(torch.rand(2, SMALL_FEATURES, 5, 17))
    assert pose_maps.shape == appearance_maps.shape == (2, NUM_ACTIONS, 2, 5)  # T 5→8, J 17→20


def test_pad_clip_repeats_the_last_frame_and_adds_zero_joints():
    x = torch.randn(2, 3, 5, 17)
    padded = pad_clip(x)
    assert padded.shape == (2, 3, 8, 20)
    assert torch.equal(padded[:, :, :5, :17], x)
    for t in range(5, 8):
        assert torch.equal(padded[:, :, t, :17], x[:, :, -1])
    assert not padded[..., 17:].any()
    assert pad_clip(torch.randn(1, 2, 16, 20)).shape == (1, 2, 16, 20)  # already multiples: unchanged


def test_inconsistent_inputs_and_wrong_num_frames_are_rejected():
    y, p, hs_prob, features = random_inputs(1, 8, 16, 2)
    with pytest.raises(ValueError, match="num_frames=16"):
        DeepHARAction(NUM_ACTIONS, 16, feature_channels=SMALL_FEATURES, num_frames=16)(y, p, hs_prob, features)
    with pytest.raises(ValueError, match="hs_prob"):
        small_model(2, "v1", 16)(y, p, hs_prob[:, :, :15], features)


# ---------------------------------------------------------------- training signal and fusion


@pytest.mark.parametrize("dim,version", [(2, "v1"), (3, "v2")])
def test_gradients_reach_every_trainable_parameter(dim, version):
    torch.manual_seed(0)
    model = DeepHARAction(NUM_ACTIONS, 17, dim, version, feature_channels=SMALL_FEATURES)
    out = model(*random_inputs(2, 8, 17, dim))
    target = torch.tensor([1, 3])
    heads = [*out.pose, *out.appearance, out.fused, out.pose_fused, out.appearance_fused]
    sum(F.cross_entropy(logits, target) for logits in heads).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
    groups = {n.split(".")[0] for n, _ in model.named_parameters()}
    assert groups == {"pose_branch", "appearance_branch", "pose_weighting", "appearance_weighting"}


def test_identity_fusion_sums_the_last_action_maps_at_step_0():
    model = small_model(2, "v1", 16).eval()
    y, p, hs_prob, features = random_inputs(2, 16, 16, 2, seed=1)
    with torch.no_grad():
        pose_logits, p4 = model.pose_branch(pose_image(y, p))
        appearance_logits, v4 = model.appearance_branch(heatmap_weighted_pooling(hs_prob, features))
        out = model(y, p, hs_prob, features)
        assert torch.allclose(ActionMapWeighting(NUM_ACTIONS)(p4), p4)

    def direct(maps):
        return maps.amax(dim=(2, 3)) + maps.amin(dim=(2, 3))

    assert torch.allclose(out.fused, direct(p4 + v4), atol=1e-6)
    assert torch.allclose(out.pose_fused, direct(p4), atol=1e-6)
    assert torch.allclose(out.appearance_fused, direct(v4), atol=1e-6)
    assert torch.allclose(out.pose, pose_logits) and torch.allclose(out.appearance, appearance_logits)
    assert torch.allclose(out.pose[-1], out.pose_fused, atol=1e-6)  # identity re-weighting of P4


# ---------------------------------------------------------------- parameter-free pieces against loops


def test_max_min_pool2d_is_max_plus_min_of_each_window():
    x = torch.randn(2, 3, 6, 8)
    out = max_min_pool2d(x)
    assert out.shape == (2, 3, 3, 4)
    for b, c, i, j in itertools.product(range(2), range(3), range(3), range(4)):
        window = x[b, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        assert torch.isclose(out[b, c, i, j], window.max() + window.min())


def test_global_max_min_pool_is_max_plus_min_of_each_map():
    x = torch.randn(2, 3, 5, 7)
    out = global_max_min_pool(x)
    assert out.shape == (2, 3)
    for b, c in itertools.product(range(2), range(3)):
        assert torch.isclose(out[b, c], x[b, c].max() + x[b, c].min())


def test_heatmap_weighted_pooling_matches_the_direct_sum():
    batch, frames, joints, channels, h, w = 2, 3, 4, 5, 3, 6
    hs_prob = torch.rand(batch, frames, joints, h, w)
    features = torch.randn(batch, frames, channels, h, w)
    out = heatmap_weighted_pooling(hs_prob, features)
    assert out.shape == (batch, channels, frames, joints)
    for b, t, j, c in itertools.product(range(batch), range(frames), range(joints), range(channels)):
        expected = sum(hs_prob[b, t, j, u, v] * features[b, t, c, u, v] for u in range(h) for v in range(w))
        assert torch.isclose(out[b, c, t, j], expected, atol=1e-5)


# ---------------------------------------------------------------- parameter counts (spec §1.6)


def block_params(channels: int, actions: int, last: bool) -> int:
    """act_conv_bn F/2 1×1, act_conv_bn F 3×3, act_conv_bn F 3×3, act_conv A 3×3 [, act_conv_bn F 3×3 from A]."""
    half = channels // 2
    count = (
        channels * half + half + 9 * half * channels + channels + 9 * channels**2 + channels + 9 * channels * actions
    )
    return count if last else count + 9 * actions * channels + channels


def conv_bn(cin: int, cout: int, k: int) -> int:
    return cin * cout * k + cout  # no bias, BN β only


def expected_counts(dim, actions, version, features=576):
    if version == "v1":
        c1, c2, c3, half, mid = 8, 16, 24, 56, 32
    else:
        c1, c2, c3, half, mid = 12, 24, 36, 112, 64
    multiscale = conv_bn(dim, c1, 3) + conv_bn(dim, c2, 9) + conv_bn(dim, c3, 15)
    mixed = c1 + c2 + c3
    if version == "v2_released":
        multiscale, mixed = 0, dim
    stem = multiscale + conv_bn(mixed, half, 9) + conv_bn(mixed, mid, 1) + conv_bn(mid, half, 9)
    pose_blocks = sum(block_params(2 * half, actions, last=b == 3) for b in range(4))
    appearance_reduce = conv_bn(features, 256, 1)
    appearance_blocks = sum(block_params(256, actions, last=b == 3) for b in range(4))
    return {
        "pose_stem": stem,
        "pose_blocks": pose_blocks,
        "appearance_reduce": appearance_reduce,
        "appearance_blocks": appearance_blocks,
        "fusion": 2 * (actions + actions**2),
    }


def measured_counts(model: DeepHARAction) -> dict[str, int]:
    return {
        "pose_stem": trainable(model.pose_branch.stem),
        "pose_blocks": trainable(model.pose_branch.blocks),
        "appearance_reduce": trainable(model.appearance_branch.reduce),
        "appearance_blocks": trainable(model.appearance_branch.blocks),
        "fusion": trainable(model.pose_weighting) + trainable(model.appearance_weighting),
    }


@pytest.mark.parametrize(
    "name,joints,dim,frames,actions,version,counts,spec_pose,spec_appearance",
    [
        ("penn", 16, 2, 16, 15, "v1", (43_104, 809_760, 147_712, 3_915_264, 480), 0.85, 4.06),
        ("ntu", 20, 3, 20, 60, "v2", (144_432, 3_659_488, 147_712, 4_641_024, 7_320), 3.80, 4.79),
        ("ntu_released", 20, 3, 20, 60, "v2_released", (68_016, 3_659_488, 147_712, 4_641_024, 7_320), None, 4.79),
    ],
)
def test_parameter_counts_match_the_layer_arithmetic_and_spec(
    name, joints, dim, frames, actions, version, counts, spec_pose, spec_appearance
):
    model = DeepHARAction(actions, joints, dim, version, num_frames=frames)
    measured = measured_counts(model)
    assert measured == expected_counts(dim, actions, version)
    assert tuple(measured.values()) == counts
    pose = measured["pose_stem"] + measured["pose_blocks"]
    appearance = measured["appearance_reduce"] + measured["appearance_blocks"]
    if spec_pose is not None:
        assert round(pose / 1e6, 2) == spec_pose
    assert round(appearance / 1e6, 2) == spec_appearance
    assert trainable(model) == pose + appearance + measured["fusion"]
    # the branches' convolutions do not depend on T or J
    assert trainable(DeepHARAction(actions, joints + 3, dim, version, num_frames=frames + 4)) == trainable(model)


def test_v2_released_stem_reads_the_raw_pose_channels():
    stem = PoseBranch(20, 3, 60, version="v2_released").stem
    assert stem.multiscale is None
    assert stem.branch_a.conv.in_channels == 3 and stem.branch_b[0].conv.in_channels == 3
    assert PoseBranch(20, 3, 60, version="v2").stem.branch_a.conv.in_channels == 72
    with torch.no_grad():
        out = small_model(3, "v2_released", 17)(*random_inputs(2, 5, 17, 3))
    assert out.pose.shape == (4, 2, NUM_ACTIONS) and out.fused.shape == (2, NUM_ACTIONS)


# ---------------------------------------------------------------- pose-network outputs → action inputs


def _softmax_hw(m: torch.Tensor) -> torch.Tensor:
    e = torch.exp(m - m.max())
    return e / e.sum()


def _expected_xy(prob: torch.Tensor) -> torch.Tensor:
    h, w = prob.shape
    x = sum(prob[u, v] * v / (w - 1) for u in range(h) for v in range(w))
    y = sum(prob[u, v] * u / (h - 1) for u in range(h) for v in range(w))
    return torch.stack([x, y])


def test_pose_inputs_from_2d_heatmaps_follow_the_action_model_formulas():
    joints, context = 3, 2
    net = DeepHARPose(num_joints=joints, num_blocks=1, width=16, input_size=(32, 32))
    logits = torch.randn(4, joints * (1 + context), 4, 5, generator=torch.Generator().manual_seed(0))
    y, p, hs_prob = pose_inputs_from_heatmaps(net, logits)
    assert y.shape == (4, joints, 2) and p.shape == (4, joints, 1) and hs_prob.shape == (4, joints, 4, 5)
    for n, j in itertools.product(range(4), range(joints)):
        hs = logits[n, j]
        ys = _expected_xy(_softmax_hw(hs))
        hc = [logits[n, joints + context * j + k] for k in range(context)]
        pc = [torch.sigmoid(m.max()) for m in hc]
        yc = sum(pk * _expected_xy(_softmax_hw(m)) for pk, m in zip(pc, hc)) / sum(pc)
        assert torch.allclose(y[n, j], 0.8 * ys + 0.2 * yc, atol=1e-5)
        assert torch.isclose(p[n, j, 0], torch.sigmoid(4 * hs.max()))
        assert torch.allclose(hs_prob[n, j], _softmax_hw(hs), atol=1e-6)


def test_pose_inputs_from_3d_heatmaps_follow_the_action_model_formulas():
    joints, bins = 3, 4
    net = DeepHARPose(
        num_joints=joints, num_blocks=1, width=16, input_size=(32, 32), num_context_per_joint=0, depth_bins=bins
    )
    logits = torch.randn(2, bins * joints, 4, 5, generator=torch.Generator().manual_seed(1))
    y, p, hs_prob = pose_inputs_from_heatmaps(net, logits)
    assert y.shape == (2, joints, 3) and p.shape == (2, joints, 1) and hs_prob.shape == (2, joints, 4, 5)
    for n, j in itertools.product(range(2), range(joints)):
        maps = [logits[n, d * joints + j] for d in range(bins)]  # channel = d·J + j
        hxy = sum(maps) / bins
        hz = torch.stack([m.mean() for m in maps])
        z = sum(torch.softmax(hz, 0)[d] * d / (bins - 1) for d in range(bins))
        assert torch.allclose(y[n, j], torch.cat([_expected_xy(_softmax_hw(hxy)), z.view(1)]), atol=1e-5)
        assert torch.isclose(p[n, j, 0], torch.sigmoid(2 * (hxy.max() + hz.max())))
        assert torch.allclose(hs_prob[n, j], _softmax_hw(hxy), atol=1e-6)
