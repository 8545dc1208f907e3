"""ActionModule: losses on every head, freezing and unfreezing the pose network, pose weights from checkpoints."""

import pytest
import torch

from har.lit.action import HEADS, ActionModule
from har.lit.pose import PoseModule

POSE_NET = {"num_joints": 17, "num_blocks": 1, "width": 32, "input_size": [64, 64]}
SGD = {"_target_": "torch.optim.SGD", "lr": 0.1, "momentum": 0.95, "nesterov": True}


def _module(**kwargs):
    torch.manual_seed(0)
    args = {"pose_net": POSE_NET, "action_net": {"pose_version": "v1"}, "classes": ["a", "b", "c"], "optimizer": SGD}
    return ActionModule(**{**args, **kwargs})


def _batch(b=2, t=4):
    g = torch.Generator().manual_seed(1)
    return {"frames": torch.randint(0, 256, (b, t, 3, 64, 64), dtype=torch.uint8, generator=g),
            "label": torch.tensor([0, 2])[:b], "index": torch.arange(b)}  # fmt: skip


def _step(module, batch):
    module.train()
    opt = module.configure_optimizers()["optimizer"]
    out = module(batch["frames"])
    loss = module.action_loss(out, batch["label"])
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def test_every_head_has_logits_and_the_loss_reaches_both_networks():
    module = _module()
    out = module(_batch()["frames"])
    assert module.head_logits(out).shape == (len(HEADS), 2, 3)
    assert out.pose.shape == (4, 2, 3) and out.appearance.shape == (4, 2, 3)
    loss = module.action_loss(out, torch.tensor([0, 2]))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.action_net.parameters())
    assert module.pose_net.stem.conv1.conv.weight.grad.abs().sum() > 0


def test_frozen_pose_network_is_unchanged_by_a_step_and_unfreezes_on_schedule():
    module = _module(train_pose=False, unfreeze_pose_at_epoch=1)
    pose_before = {k: v.clone() for k, v in module.pose_net.state_dict().items()}  # weights and BN statistics
    action_before = {k: v.clone() for k, v in module.action_net.state_dict().items()}
    _step(module, _batch())
    assert all(torch.equal(v, pose_before[k]) for k, v in module.pose_net.state_dict().items())
    assert any(not torch.equal(v, action_before[k]) for k, v in module.action_net.state_dict().items())
    assert not module.pose_net.training  # BatchNorm of a frozen network stays in eval mode

    class _Trainer:  # the epoch counter the hook reads
        current_epoch = 1

    module._trainer = _Trainer()
    module.on_train_epoch_start()
    _step(module, _batch())
    assert any(not torch.equal(v, pose_before[k]) for k, v in module.pose_net.state_dict().items())


def test_pose_warmup_keeps_action_gradients_out_of_the_pose_network_until_its_epoch():
    class _Trainer:  # the epoch counter the module reads
        current_epoch = 0

    def grads(module, with_pose_loss):
        module.train()
        module.zero_grad()
        batch = _batch()
        out = module(batch["frames"])
        loss = module.action_loss(out, batch["label"])
        if with_pose_loss:  # a multitask pose batch's loss still trains the pose network during the warm-up
            loss = loss + module.pose_net(module._pose_input(batch["frames"][:, 0])).pose.square().mean()
        loss.backward()
        pose = module.pose_net.stem.conv1.conv.weight.grad
        return (0.0 if pose is None else pose.abs().sum().item()), module.action_net.parameters()

    module = _module(pose_warmup_epochs=2)
    module._trainer = _Trainer()
    pose_grad, action_params = grads(module, with_pose_loss=False)
    assert pose_grad == 0.0 and all(p.grad is not None and p.grad.abs().sum() > 0 for p in action_params)
    assert grads(module, with_pose_loss=True)[0] > 0
    assert module.pose_warming_up() and not module.eval().pose_warming_up()  # evaluation is the same function
    _Trainer.current_epoch = 2
    assert grads(module, with_pose_loss=False)[0] > 0  # from the warm-up's end the action losses reach it
    with pytest.raises(ValueError, match="pose_warmup_epochs must be >= 0"):
        _module(pose_warmup_epochs=-1)


def test_pose_weights_come_from_a_pose_checkpoint(tmp_path):
    pose = PoseModule(net=POSE_NET, optimizer=SGD)
    with torch.no_grad():
        pose.net.stem.conv1.conv.weight.fill_(0.5)
    torch.save({"state_dict": pose.state_dict()}, tmp_path / "pose.ckpt")
    module = _module(pose_ckpt=str(tmp_path / "pose.ckpt"))
    assert torch.equal(module.pose_net.stem.conv1.conv.weight, pose.net.stem.conv1.conv.weight)
    torch.save({"state_dict": {"other.weight": torch.zeros(1)}}, tmp_path / "bad.ckpt")
    with pytest.raises(ValueError, match="no pose-network weights"):
        _module(pose_ckpt=str(tmp_path / "bad.ckpt"))


def test_unknown_head_weight_is_an_error():
    with pytest.raises(ValueError, match="unknown heads"):
        _module(head_weights={"fusd": 1.0})


# ---------------------------------------------------------------- BatchNorm of a frozen pose network


def _pose_bn_io(module, frames):
    """Input and output of the pose network's first BatchNorm in one forward of the module."""
    bn = module.pose_net.stem.conv1.bn.bn
    seen = {}
    hook = bn.register_forward_hook(lambda m, i, o: seen.update(x=i[0].detach(), y=o.detach()))
    module(frames)
    hook.remove()
    return bn, seen["x"], seen["y"]


def test_frozen_pose_bn_eval_normalises_with_the_moving_statistics():
    module = _module(train_pose=False)  # frozen_pose_bn: eval (default)
    module.train()
    bn, x, y = _pose_bn_io(module, _batch()["frames"])
    assert not module.pose_net.training and module.action_net.training
    expected = (x - bn.running_mean.view(1, -1, 1, 1)) / torch.sqrt(bn.running_var.view(1, -1, 1, 1) + 1e-3)
    assert torch.allclose(y, expected, atol=1e-5)


def test_frozen_pose_bn_batch_stats_normalises_with_the_batch_and_never_updates_the_moving_statistics():
    """deephar (Keras 2.1.4): a frozen sub-model's BatchNorm uses the batch's statistics (over all B·T frames) in
    training steps, its moving statistics stay untouched, evaluation uses them."""
    module = _module(train_pose=False, frozen_pose_bn="batch_stats", unfreeze_pose_at_epoch=1)
    with torch.no_grad():  # moving statistics far from any batch's, so the two modes cannot coincide
        for m in module.pose_net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.fill_(3.0), m.running_var.fill_(9.0)
    pose_before = {k: v.clone() for k, v in module.pose_net.state_dict().items()}
    frames = _batch()["frames"]

    module.train()
    assert module.pose_net.training
    bn, x, y = _pose_bn_io(module, frames)
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    assert x.shape[0] == 2 * 4  # statistics over every frame of every clip
    assert torch.allclose(y, (x - mean) / torch.sqrt(var + 1e-3), atol=1e-4)
    _step(module, _batch())
    _step(module, _batch())
    assert all(torch.equal(v, pose_before[k]) for k, v in module.pose_net.state_dict().items())

    module.eval()
    bn, x, y = _pose_bn_io(module, frames)
    assert torch.allclose(y, (x - 3.0) / torch.sqrt(torch.tensor(9.0 + 1e-3)), atol=1e-5)

    class _Trainer:
        current_epoch = 1

    module._trainer = _Trainer()
    module.on_train_epoch_start()  # unfrozen: normal training BatchNorm, statistics updated again
    _step(module, _batch())
    assert not torch.equal(bn.running_mean, pose_before["stem.conv1.bn.bn.running_mean"])


def test_unknown_frozen_pose_bn_mode_is_an_error():
    with pytest.raises(ValueError, match="frozen_pose_bn"):
        _module(frozen_pose_bn="train")
