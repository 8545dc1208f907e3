"""deephar's pose loss: values, masking, summation over blocks."""

import torch

from har.models.losses import pose_loss


def _inputs(k=2, b=3, j=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    pred = torch.rand(k, b, j, 2, generator=g)
    vis = torch.rand(k, b, j, 1, generator=g)
    target = torch.rand(b, j, 2, generator=g)
    valid = torch.rand(b, j, generator=g) > 0.4
    return pred, vis, target, valid


def test_loss_matches_a_direct_computation():
    pred, vis, target, valid = _inputs()
    out = pose_loss(pred, vis, target, valid, valid.float())
    expected = 0.0
    for k in range(pred.shape[0]):
        terms, n = 0.0, 0
        for b in range(pred.shape[1]):
            for j in range(pred.shape[2]):
                if valid[b, j]:
                    for d in range(2):
                        p, t = float(pred[k, b, j, d]), float(target[b, j, d])
                        bce = -(t * torch.log(torch.tensor(p)) + (1 - t) * torch.log(torch.tensor(1 - p)))
                        terms += abs(p - t) + (p - t) ** 2 + 0.01 * float(bce)
                        n += 1
        v, vt = vis[k, ..., 0], valid.float()
        vloss = float(-(vt * v.log() + (1 - vt) * (1 - v).log()).mean())
        expected += terms / n + 0.01 * vloss
    assert torch.isclose(out["loss"], torch.tensor(expected, dtype=torch.float32), rtol=1e-5)


def test_masked_joints_carry_no_coordinate_loss_or_gradient():
    pred, vis, target, valid = _inputs()
    pred.requires_grad_(True)
    base = pose_loss(pred, vis, target, valid, valid.float())
    base["coord"].backward()
    assert pred.grad[:, ~valid].abs().max() == 0
    assert pred.grad[:, valid].abs().min() > 0
    # Wild values at masked joints (and in their targets) change nothing.
    pred2 = pred.detach().clone()
    pred2[:, ~valid] = 0.999
    target2 = target.clone()
    target2[~valid] = -1e9
    assert torch.equal(pose_loss(pred2, vis, target2, valid, valid.float())["coord"], base["coord"].detach())


def test_loss_sums_blocks_and_handles_no_valid_joint():
    pred, vis, target, valid = _inputs(k=3)
    per_block = [pose_loss(pred[k : k + 1], vis[k : k + 1], target, valid, valid.float())["loss"] for k in range(3)]
    assert torch.isclose(pose_loss(pred, vis, target, valid, valid.float())["loss"], sum(per_block))
    none = torch.zeros_like(valid)
    out = pose_loss(pred, vis, target, none, none.float())
    assert out["coord"] == 0 and torch.isfinite(out["loss"])


def test_a_per_coordinate_mask_trains_x_and_y_of_2d_samples_but_not_their_z():
    """deephar's mixed 2D/3D training: a 3D target whose z is unknown carries the x, y loss only, and the loss is the
    mean over the valid coordinates (5 here: x, y, z of the 3D joint and x, y of the 2D one)."""
    pred = torch.tensor([[[[0.5, 0.5, 0.5], [0.2, 0.4, 0.9]]]])  # (K=1, B=1, J=2, D=3)
    target = torch.tensor([[[0.5, 0.7, 0.1], [0.2, 0.6, -1e9]]])
    valid = torch.tensor([[[True, True, True], [True, True, False]]])
    vis = torch.full((1, 1, 2, 1), 0.5)
    out = pose_loss(pred, vis, target, valid, torch.ones(1, 2), coord_bce_weight=0.0, vis_weight=0.0)
    # |Δ| + Δ² per valid coordinate: y of joint 0 (0.2), z of joint 0 (0.4), y of joint 1 (0.2); x's are exact
    expected = ((0.2 + 0.04) + (0.4 + 0.16) + (0.2 + 0.04)) / 5
    assert torch.isclose(out["coord"], torch.tensor(expected), rtol=1e-6)
    pred.requires_grad_(True)
    pose_loss(pred, vis, target, valid, torch.ones(1, 2))["coord"].backward()
    assert pred.grad[0, 0, 1, 2] == 0 and pred.grad[0, 0, 1, 1] != 0  # no gradient into the unknown z
    # a per-joint mask is every coordinate of the joint
    per_joint = torch.tensor([[True, False]])
    assert torch.equal(pose_loss(pred.detach(), vis, target, per_joint, torch.ones(1, 2))["coord"],
                       pose_loss(pred.detach(), vis, target, per_joint[..., None].expand(1, 2, 3),
                                 torch.ones(1, 2))["coord"])  # fmt: skip
