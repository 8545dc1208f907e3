"""ActionModule on Penn/NTU-style clip batches: the pose loss on the clips' frames (2D per joint, 3D per coordinate),
and the model's classes and layout reconciled with the datamodule's."""

import pytest
import torch

from har.lit.action import ActionModule, reconcile_classes
from har.lit.clip_pose import clip_pose_targets
from har.models.losses import pose_loss
from har.models.pose_net import pose_network_input

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")  # steps called without a Trainer
SGD = {"_target_": "torch.optim.SGD", "lr": 0.1}
B, T = 2, 4


def _module(dim=2, **kwargs):
    torch.manual_seed(0)
    joints, layout = (16, "pa16j") if dim == 2 else (20, "pa20j")
    pose_net = {"num_joints": joints, "num_blocks": 1, "width": 16, "input_size": [32, 32]}
    if dim == 3:
        pose_net.update(num_context_per_joint=0, depth_bins=2)
    args = {"pose_net": pose_net, "action_net": {"pose_version": "v1" if dim == 2 else "v2"}, "classes": ["a", "b"],
            "optimizer": SGD, "layout": layout}  # fmt: skip
    return ActionModule(**{**args, **kwargs})


def _batch(joints, dim, seed=1):
    g = torch.Generator().manual_seed(seed)
    batch = {"frames": torch.randint(0, 256, (B, T, 3, 32, 32), dtype=torch.uint8, generator=g),
             "label": torch.tensor([0, 1]), "index": torch.arange(B),
             "pose_uv": torch.rand(B, T, joints, 2, generator=g),
             "pose_valid": torch.rand(B, T, joints, generator=g) > 0.3}  # fmt: skip
    if dim == 3:
        batch["pose_z"] = torch.rand(B, T, joints, generator=g)
        batch["pose_z_valid"] = torch.rand(B, T, joints, generator=g) > 0.5
    return batch


def test_clip_pose_targets_mask_per_coordinate():
    batch = {"pose_uv": torch.tensor([[[[0.1, 0.2], [0.3, 0.4]]]]), "pose_valid": torch.tensor([[[True, False]]]),
             "pose_z": torch.tensor([[[0.5, 0.6]]]), "pose_z_valid": torch.tensor([[[False, True]]])}  # fmt: skip
    target, valid, visible = clip_pose_targets(batch, 3)  # one clip of one frame, two joints
    assert torch.allclose(target, torch.tensor([[[0.1, 0.2, 0.5], [0.3, 0.4, 0.6]]]))
    # joint 0: x, y labelled, z not; joint 1: not labelled, so its z (marked valid) carries no loss either
    assert valid.tolist() == [[[True, True, False], [False, False, False]]]
    assert visible.tolist() == [[1.0, 0.0]]
    target2, valid2, _ = clip_pose_targets(batch, 2)
    assert target2.shape == (1, 2, 2) and valid2.tolist() == [[[True, True], [False, False]]]
    two_d = {k: batch[k] for k in ("pose_uv", "pose_valid")}  # 2D data for a 3D network: z never supervised
    assert not clip_pose_targets(two_d, 3)[1][..., 2].any()


@pytest.mark.parametrize("dim", [2, 3])
def test_training_loss_adds_the_weighted_pose_loss_on_the_clip_frames(dim):
    module = _module(dim, clip_pose_loss_weight=0.5).train()
    batch = _batch(module.pose_net.num_joints, dim)
    out, extra = module.clip_outputs(batch, "train")
    with torch.no_grad():  # the same frames through the pose network: the expected loss, computed here
        pose = module.pose_net(pose_network_input(batch["frames"].flatten(0, 1)))
    target, valid, visible = clip_pose_targets(batch, dim)
    expected = pose_loss(pose.pose, pose.visibility, target, valid, visible)["loss"]
    assert torch.allclose(extra, 0.5 * expected, rtol=1e-4)
    extra.backward()
    assert module.pose_net.stem.conv1.conv.weight.grad.abs().sum() > 0


def test_depth_of_2d_or_unlabelled_joints_carries_no_loss():
    module = _module(3).eval()
    batch = _batch(20, 3)
    _, ref = module.clip_outputs(batch, "train")  # eval mode: deterministic BatchNorm
    changed = dict(batch, pose_z=torch.where(batch["pose_z_valid"] & batch["pose_valid"], batch["pose_z"], 0.99))
    assert torch.equal(module.clip_outputs(changed, "train")[1], ref)
    moved = dict(batch, pose_z=torch.where(batch["pose_z_valid"] & batch["pose_valid"], 0.99, batch["pose_z"]))
    assert not torch.equal(module.clip_outputs(moved, "train")[1], ref)


def test_no_pose_loss_while_the_pose_network_is_frozen_or_without_poses():
    frozen = _module(2, train_pose=False)
    batch = _batch(16, 2)
    assert frozen.clip_outputs(batch, "train")[1] == 0.0
    trainable = _module(2)
    no_poses = {k: v for k, v in batch.items() if not k.startswith("pose_")}
    assert trainable.clip_outputs(no_poses, "train")[1] == 0.0
    assert _module(2, clip_pose_loss_weight=0.0).clip_outputs(batch, "train")[1] == 0.0


def test_clips_of_another_joint_count_are_an_error():
    with pytest.raises(ValueError, match="17 joints, the pose network 16"):
        _module(2).clip_outputs(_batch(17, 2), "train")


def test_classes_are_reconciled_with_the_datamodule():
    assert reconcile_classes(["a", "b"], ["a", "b"]) == ["a", "b"]
    assert reconcile_classes(["action_1", "action_2"], ["run", "jump"]) == ["run", "jump"]  # unnamed import
    with pytest.raises(ValueError, match="the model has 2 classes, the data 3"):
        reconcile_classes(["action_1", "action_2"], ["run", "jump", "sit"])
    with pytest.raises(ValueError, match="label 1 is 'b' in the model, 'c' in the data"):
        reconcile_classes(["a", "b"], ["a", "c"])


class _Data:
    def __init__(self, classes, layout, pose_dim=2):
        self.classes, self.layout, self.pose_dim = classes, layout, pose_dim


class _Trainer:
    def __init__(self, datamodule):
        self.datamodule = datamodule


def test_setup_names_unnamed_classes_and_rejects_another_layout():
    module = _module(2, classes=["action_1", "action_2"])
    module._trainer = _Trainer(_Data(("run", "jump"), "pa16j"))
    module.setup("test")
    assert module.classes == ["run", "jump"] and module.hparams.classes == ["run", "jump"]
    module._trainer = _Trainer(_Data(("run", "jump"), "pa17j"))
    with pytest.raises(ValueError, match="layout 'pa17j', the model's in 'pa16j'"):
        module.setup("fit")
    module._trainer = _Trainer(_Data(("run", "sit"), "pa16j"))
    with pytest.raises(ValueError, match="label 1 is 'jump' in the model, 'sit' in the data"):
        module.setup("fit")
