"""har's ActionModule computes the same function as deephar's Keras action merge model, with its .h5 weights.

Reference: ../shared/fixtures/deephar_keras/action3d_v2 (cvpr18 `build_merge_model`: 3D pose net with J=20, 8 depth
bins, 2 blocks; pose branch v2; 4 action blocks; 6 classes; T=8; random weights with calibrated-then-perturbed BN
statistics; inference-mode outputs). Its weights are split over two .h5 files that form one model.
"""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from har.models.keras_import import KerasWeightsError

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "deephar_keras" / "action3d_v2"
FILES = [FIXTURE / "weights_pose_part.h5", FIXTURE / "weights_action_heads.h5"]
TOL = 1e-4


def nhwc(t: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) → (B, H, W, C) numpy, the fixture's layout."""
    return t.detach().permute(0, 2, 3, 1).numpy()


def close(got, ref, scale: bool = False) -> float:
    """Max abs difference; relative to the reference's magnitude when ``scale`` (intermediate maps)."""
    diff = float(np.abs(np.asarray(got) - np.asarray(ref)).max())
    return diff / max(1.0, float(np.abs(ref).max())) if scale else diff


@pytest.fixture(scope="module")
def io():
    if not all(f.exists() for f in FILES):
        pytest.skip(f"original-model fixture not found at {FIXTURE} (../shared is absent)")
    return dict(np.load(FIXTURE / "io.npz"))


@pytest.fixture(scope="module")
def converted(io, tmp_path_factory):
    """The fixture converted by the command-line tool, loaded as predict.py loads it, run once on the fixture's clips
    with every intermediate captured."""
    from har.lit.common import load_module
    from har.tools.import_deephar import main

    out = tmp_path_factory.mktemp("action3d") / "action3d_v2.ckpt"
    main([*map(str, FILES), str(out), "model.action_net.num_frames=8"])
    module = load_module(out)
    assert not module.training and not module.pose_net.training
    seen = {}

    def keep(name, fn=lambda o: o):
        return lambda m, i, o: seen.__setitem__(name, fn(o))

    net = module.action_net
    hooks = [
        module.pose_net.register_forward_hook(keep("pose_net")),
        net.register_forward_pre_hook(lambda m, args: seen.__setitem__("action_inputs", args)),
        net.appearance_branch.register_forward_pre_hook(lambda m, args: seen.__setitem__("kron", args[0])),
        net.pose_branch.stem.register_forward_hook(keep("poseAR_stem")),
        net.appearance_branch.pool.register_forward_hook(keep("visAR_stem")),
        net.pose_weighting.register_forward_hook(keep("merge_weighted_p")),
        net.appearance_weighting.register_forward_hook(keep("merge_weighted_v")),
    ]
    for branch, key in ((net.pose_branch, "poseAR"), (net.appearance_branch, "visAR")):
        for b, block in enumerate(branch.blocks, start=1):
            hooks.append(block.register_forward_hook(keep(f"{key}_block{b}")))
    frames = torch.from_numpy(io["input"]).permute(0, 1, 4, 2, 3)  # (B, T, 3, H, W) in [-1, 1]
    with torch.no_grad():
        out = module(frames)
    for hook in hooks:
        hook.remove()
    return module, out, seen


HEADS = [f"p{i}" for i in range(1, 5)] + [f"v{i}" for i in range(1, 5)] + ["m"]


@pytest.mark.parametrize("head", HEADS)
def test_every_action_output_matches_keras(io, converted, head):
    _, out, _ = converted
    logits = {"m": out.fused, **{f"p{i + 1}": out.pose[i] for i in range(4)},
              **{f"v{i + 1}": out.appearance[i] for i in range(4)}}[head]  # fmt: skip
    assert close(logits.softmax(-1), io[f"out_{head}"]) <= TOL


@pytest.mark.parametrize("block", [1, 2])
def test_pose_network_blocks_match_keras(io, converted, block):
    _, _, seen = converted
    pose = seen["pose_net"]
    b, t = io["input"].shape[:2]
    assert close(pose.pose[block - 1].unflatten(0, (b, t)), io[f"pe__pose_block{block}"]) <= TOL
    assert close(pose.visibility[block - 1].unflatten(0, (b, t)), io[f"pe__vis_block{block}"]) <= TOL


def test_last_heatmaps_and_visual_features_match_keras(io, converted):
    _, _, seen = converted
    pose = seen["pose_net"]
    assert close(nhwc(pose.heatmaps[:1])[0], io["inter__heatmaps_s0f0"], scale=True) <= TOL
    b, t = io["input"].shape[:2]
    rblock1 = nhwc(pose.features[:, :8]).reshape(b, t, *pose.features.shape[-2:], 8)
    assert close(rblock1, io["pe_slice8__rBlock1"], scale=True) <= TOL


def test_action_inputs_use_the_merge_models_own_visibility(io, converted):
    """PoseAR reads y · tile(p, 3) with p = sigmoid(2·(max hxy + max hz)), not the pose net's visibility."""
    _, _, seen = converted
    y, p, hs_prob, _ = seen["action_inputs"]
    assert close(y, io["inter__y_pose"]) <= TOL
    assert close(p, io["inter__p_vis"]) <= TOL
    assert close(hs_prob.permute(0, 1, 3, 4, 2), io["inter__hxy_softmax"]) <= TOL
    assert np.abs(p.numpy() - io["pe__vis_block2"]).max() > 0.01  # the two visibilities really differ here


def test_kronecker_features_match_keras(io, converted):
    _, _, seen = converted
    kron = seen["kron"].permute(0, 2, 3, 1)  # (B, C, T, J) → (B, T, J, C)
    assert close(kron, io["inter__kron_features"], scale=True) <= TOL


@pytest.mark.parametrize("branch", ["poseAR", "visAR"])
def test_branch_stems_blocks_and_action_maps_match_keras(io, converted, branch):
    _, _, seen = converted
    assert close(nhwc(seen[f"{branch}_stem"]), io[f"inter__{branch}_stem"], scale=True) <= TOL
    for b in range(1, 5):
        _, maps, next_x = seen[f"{branch}_block{b}"]
        assert close(nhwc(maps), io[f"inter__{branch}_actmap{b}"], scale=True) <= TOL
        if next_x is not None:
            assert close(nhwc(next_x), io[f"inter__{branch}_block{b}_out"], scale=True) <= TOL


def test_weighted_merge_matches_keras(io, converted):
    _, _, seen = converted
    p, v = seen["merge_weighted_p"], seen["merge_weighted_v"]
    assert close(nhwc(p), io["inter__merge_weighted_p"], scale=True) <= TOL
    assert close(nhwc(v), io["inter__merge_weighted_v"], scale=True) <= TOL
    assert close(nhwc(p + v), io["inter__merge_sum"], scale=True) <= TOL


def test_checkpoint_records_the_files_configuration(converted):
    module, _, _ = converted
    hp = module.hparams
    assert hp.layout == "pa20j" and hp.classes == [f"action_{i}" for i in range(1, 7)]
    assert hp.pose_net["num_joints"] == 20 and hp.pose_net["depth_bins"] == 8 and hp.pose_net["num_blocks"] == 2
    assert hp.action_net["pose_version"] == "v2" and hp.action_net["num_blocks"] == 4
    assert hp.action_net["num_frames"] == 8


def test_action_heads_in_train_mode_do_not_match(io, converted):
    """The heads' BN statistics were loaded and matter: batch statistics give other outputs (as in Keras)."""
    module, _, seen = converted
    heads = copy.deepcopy(module.action_net).train()
    with torch.no_grad():
        out = heads(*seen["action_inputs"])
    assert close(out.fused.softmax(-1), io["out_m"]) > 0.05


def test_a_contradicting_configuration_names_the_files_configuration(io, tmp_path):
    from har.tools.import_deephar import main

    implied = (
        r"action blocks: file 4 vs model 3.*The file implies: joints 20, dim 3, depth bins 8, context maps per "
        r"joint 0, pose blocks 2, kernel 5, width 576, pose net version v2, action blocks 4, classes 6, frames T: "
        r"not stored in the weights"
    )
    with pytest.raises(KerasWeightsError, match=implied):
        main([*map(str, FILES), str(tmp_path / "bad.ckpt"), "model.action_net.num_blocks=3"])
    assert not (tmp_path / "bad.ckpt").exists()
