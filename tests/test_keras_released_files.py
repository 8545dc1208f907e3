"""deephar's released weight files convert with one command each: files with their group/dataset structure (written
by `har.models.keras_export` from har networks, at reduced width and input size) round-trip exactly, and the
configuration (joints, dim, depth bins, context maps, blocks, classes, pose-branch version, layout, T) is read from
the file.

Released files (spec deephar-datasets.md §7): weights_PE_MPII_cvpr18_19-09-2017.h5 (2D, 16 joints, 2 context maps,
8 blocks), weights_3DPE_H36M_cvpr18_Nov-2017.h5 (3D, 17 joints, 16 depth bins, 8 blocks),
weights_AR_merge_ep074_26-10-17.h5 (Penn: 2D, 16 joints, context 2, 4 blocks, v1, T=16, 15 classes) and
weights_AR_merge_NTU_v2.h5 (NTU: 3D, 20 joints, 8 depth bins, 4 blocks, v2, T=20, 60 classes).
"""

import h5py
import numpy as np
import pytest
import torch

from har.models.action_net import DeepHARAction
from har.models.keras_export import module_tensors, save_keras_merge_weights, save_keras_weights
from har.models.keras_import import KerasWeightsError
from har.models.pose_net import DeepHARPose
from har.tools.import_deephar import main

SMALL = {"width": 32, "input_size": (64, 64)}  # the released files have width 576 at 256×256


def randomise(*modules: torch.nn.Module, seed: int = 0) -> None:
    """Distinct random values in every weight and BN statistic, at scales that keep activations finite."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in modules:
            for name, tensor in module_tensors(module).items():
                if name.endswith("running_var"):
                    tensor.copy_(torch.rand(tensor.shape, generator=g) + 0.5)
                elif tensor.dim() == 4:  # kernels: unit gain
                    tensor.copy_(torch.randn(tensor.shape, generator=g) / tensor[0].numel() ** 0.5)
                else:
                    tensor.copy_(torch.randn(tensor.shape, generator=g) * 0.1)


def ckpt(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_tensors(state: dict, prefix: str, module: torch.nn.Module) -> None:
    expected = module_tensors(module)
    got = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix) and "num_batches_tracked" not in k}
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in expected)


# ---------------------------------------------------------------- pose models


@pytest.mark.parametrize(
    "name,net_args,layout",
    [
        ("weights_PE_MPII_cvpr18_19-09-2017.h5", {"num_joints": 16, "num_context_per_joint": 2}, "pa16j"),
        ("weights_3DPE_H36M_cvpr18_Nov-2017.h5",
         {"num_joints": 17, "num_context_per_joint": 0, "depth_bins": 16}, "pa17j"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("interleave", [False, True])
def test_released_pose_files_convert_with_one_command(tmp_path, name, net_args, layout, interleave):
    from har.lit.pose import PoseModule

    net = DeepHARPose(num_blocks=2, **net_args, **SMALL)  # 8 blocks in the released files
    randomise(net)
    h5 = save_keras_weights(net, tmp_path / name, interleave=interleave)
    main([str(h5), str(tmp_path / "out.ckpt")])
    checkpoint = ckpt(tmp_path / "out.ckpt")
    hp = checkpoint["hyper_parameters"]
    assert hp["layout"] == layout
    expected = {"num_joints": net.num_joints, "num_blocks": 2, "kernel_size": 5, "width": 32, "input_size": [64, 64],
                "num_context_per_joint": net.num_context, "depth_bins": net.depth_bins}  # fmt: skip
    assert {k: hp["net"][k] for k in expected} == expected
    assert_same_tensors(checkpoint["state_dict"], "net.", net)
    module = PoseModule.load_from_checkpoint(tmp_path / "out.ckpt", map_location="cpu", weights_only=True).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():  # the module runs channels_last (the default layout): equal up to float rounding
        assert torch.allclose(module.net(x).pose, net.eval()(x).pose, rtol=0, atol=1e-5)


# ---------------------------------------------------------------- action merge models


def merge_model(dim: int, joints: int, actions: int, version: str, pose_blocks: int = 4):
    pose_args = {"num_context_per_joint": 2} if dim == 2 else {"num_context_per_joint": 0, "depth_bins": 8}
    pose = DeepHARPose(num_joints=joints, num_blocks=pose_blocks, **pose_args, **SMALL)
    action = DeepHARAction(actions, joints, dim, version, feature_channels=SMALL["width"])
    randomise(pose, action)
    return pose.eval(), action.eval()


RELEASED_ACTION = {
    "penn": ("weights_AR_merge_ep074_26-10-17.h5", 2, 16, 15, "v1", 16, "pa16j"),
    "ntu": ("weights_AR_merge_NTU_v2.h5", 3, 20, 60, "v2", 20, "pa20j"),
    "ntu_typo_graph": ("weights_AR_merge_NTU_v2.h5", 3, 20, 60, "v2_released", 20, "pa20j"),
}


@pytest.mark.parametrize("case", sorted(RELEASED_ACTION))
def test_released_action_files_convert_with_one_command(tmp_path, case):
    name, dim, joints, actions, version, frames, layout = RELEASED_ACTION[case]
    pose, action = merge_model(dim, joints, actions, version)
    h5 = save_keras_merge_weights(pose, action, tmp_path / name)
    main([str(h5), str(tmp_path / "out.ckpt")])
    checkpoint = ckpt(tmp_path / "out.ckpt")
    hp = checkpoint["hyper_parameters"]
    assert hp["layout"] == layout and len(hp["classes"]) == actions
    assert hp["action_net"]["pose_version"] == version and hp["action_net"]["num_blocks"] == 4
    assert hp["action_net"]["num_frames"] == frames
    assert hp["pose_net"]["num_joints"] == joints and hp["pose_net"]["num_blocks"] == 4
    assert hp["pose_net"]["depth_bins"] == (8 if dim == 3 else None)
    assert hp["pose_net"]["num_context_per_joint"] == (0 if dim == 3 else 2)
    assert checkpoint["datamodule_hyper_parameters"]["num_frames"] == frames  # where predict.py reads T
    if case.startswith("ntu"):  # the data's class names, so that evaluate.py on NTU finds the same list
        assert hp["classes"][0] == "drink water" and hp["classes"][50] == "kicking other person"
    else:
        assert hp["classes"][0] == "baseball_pitch" and hp["classes"][-1] == "tennis_serve"
    assert_same_tensors(checkpoint["state_dict"], "pose_net.", pose)
    assert_same_tensors(checkpoint["state_dict"], "action_net.", action)


def test_converted_action_checkpoint_computes_the_written_networks_function(tmp_path):
    from har.lit.common import load_module
    from har.models.action_net import clip_action_inputs

    pose, action = merge_model(3, 20, 6, "v2", pose_blocks=2)
    h5 = save_keras_merge_weights(pose, action, tmp_path / "ntu.h5", interleave=True)
    main([str(h5), str(tmp_path / "out.ckpt")])
    module = load_module(tmp_path / "out.ckpt")
    frames = torch.rand(1, 4, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        inputs = clip_action_inputs(pose, frames.flatten(0, 1), 4)
        expected = action(inputs.y, inputs.p, inputs.hs_prob, inputs.features)
        got = module(frames)
    # The module runs its pose network channels_last (the default layout): equal up to float rounding.
    assert torch.allclose(got.fused, expected.fused, rtol=0, atol=1e-5)
    assert torch.allclose(got.pose, expected.pose, rtol=0, atol=1e-5)


def test_unknown_configurations_keep_t_unset_and_take_overrides(tmp_path):
    pose, action = merge_model(2, 16, 5, "v2", pose_blocks=2)
    h5 = save_keras_merge_weights(pose, action, tmp_path / "mine.h5")
    main([str(h5), str(tmp_path / "a.ckpt")])
    checkpoint = ckpt(tmp_path / "a.ckpt")
    assert checkpoint["hyper_parameters"]["action_net"]["num_frames"] is None
    assert "num_frames" not in checkpoint["datamodule_hyper_parameters"]
    main([str(h5), str(tmp_path / "b.ckpt"), "model.action_net.num_frames=12", "model.classes=[a,b,c,d,e]"])
    hp = ckpt(tmp_path / "b.ckpt")["hyper_parameters"]
    assert hp["action_net"]["num_frames"] == 12 and hp["classes"] == ["a", "b", "c", "d", "e"]
    with pytest.raises(SystemExit, match="2 names, the file has 5 classes"):
        main([str(h5), str(tmp_path / "c.ckpt"), "model.classes=[a,b]"])


def test_a_file_without_the_weighted_merge_keeps_the_identity(tmp_path):
    pose, action = merge_model(2, 16, 5, "v1", pose_blocks=2)
    h5 = save_keras_merge_weights(pose, action, tmp_path / "plain.h5", weighted_merge=False)
    main([str(h5), str(tmp_path / "out.ckpt")])
    state = ckpt(tmp_path / "out.ckpt")["state_dict"]
    assert torch.equal(state["action_net.pose_weighting.depthwise.weight"], torch.ones(5, 1, 1, 1))
    assert torch.equal(state["action_net.appearance_weighting.pointwise.weight"][:, :, 0, 0], torch.eye(5))


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.pose_net.num_joints=17", "joints: file 16 vs model 17"),
        ("model.action_net.pose_version=v2", "pose net version: file v1 vs model v2"),
        ("model.pose_net.num_blocks=3", "pose blocks: file 2 vs model 3"),
    ],
)
def test_a_contradicting_override_says_what_the_file_implies(tmp_path, override, message):
    pose, action = merge_model(2, 16, 5, "v1", pose_blocks=2)
    h5 = save_keras_merge_weights(pose, action, tmp_path / "m.h5")
    implied = "joints 16, dim 2, context maps per joint 2, pose blocks 2, kernel 5, width 32, pose net version v1, "
    with pytest.raises(KerasWeightsError, match=f"{message}.*The file implies: {implied}"):
        main([str(h5), str(tmp_path / "out.ckpt"), override])


def test_a_weighted_group_no_module_takes_is_an_error(tmp_path):
    pose, action = merge_model(2, 16, 5, "v1", pose_blocks=2)
    h5 = save_keras_merge_weights(pose, action, tmp_path / "m.h5")
    with h5py.File(h5, "r+") as f:
        group = f.create_group("dense_9")
        group.create_dataset("dense_9/kernel:0", data=np.zeros((2, 2), np.float32))
        group.attrs["weight_names"] = np.array([b"dense_9/kernel:0"])
        f.attrs["layer_names"] = np.array([*f.attrs["layer_names"], b"dense_9"])
    with pytest.raises(KerasWeightsError, match="dense_9 holds weights"):
        main([str(h5), str(tmp_path / "out.ckpt")])
