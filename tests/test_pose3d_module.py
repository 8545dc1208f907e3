"""PoseModule on deephar's benchmarks, with hand-made batches in the MPII/Human3.6M batch contract: a 3D network
trains x, y of 2D samples and x, y, z of 3D ones; validation and test score each evaluation set with its metric
(PCKh, MPJPE), equal to the metric functions on the same predictions; the 3D overlays are written. (Under DDP:
tests/test_experiments_pose3d.py, trainer=ddp_sim on the mixed datamodule.)"""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from har.geometry.camera import Camera
from har.lit.pose import PoseModule
from har.metrics.mpjpe import mpjpe, reconstruct_world
from har.metrics.pckh import pckh
from har.models.losses import pose_loss

J, SIZE = 17, 64
EVAL_SETS = [("mpii", "pckh"), ("h36m", "mpjpe")]
NET = {"num_joints": J, "num_blocks": 1, "num_context_per_joint": 0, "depth_bins": 4, "width": 16,
       "input_size": [SIZE, SIZE]}  # fmt: skip
CAMERA = Camera(R=np.eye(3), T=np.array([0.0, -1000.0, -4000.0]), f=np.array([500.0, 500.0]),
                c=np.array([120.0, 110.0]), k=np.array([0.01, 0.0, 0.0]), p=np.array([0.001, 0.0]))  # fmt: skip


def make_sample(i: int) -> dict:
    """Sample ``i`` of a mixed set: even → MPII-like (2D), odd → Human3.6M-like (3D); every key, zeros where not
    applicable, as the mixed datamodule gives them."""
    rng = np.random.default_rng(i)
    is_h36m = i % 2 == 1
    scale, offset = 3.0, rng.uniform(0, 40, 2)  # crop pixel → image pixel
    crop_to_image = np.array([[scale, 0, offset[0]], [0, scale, offset[1]]], np.float32)
    uv = rng.uniform(0.1, 0.9, (J, 2)).astype(np.float32)
    valid = rng.random(J) > 0.15
    xy_img = (uv * (SIZE - 8) + 3.5) * scale + offset  # codec: x = 3.5 + u·(W − 8)
    world = np.zeros((J, 3), np.float32)
    if is_h36m:
        world = (rng.normal(0, 300, (J, 3)) + [0, 1000, 0]).astype(np.float32)
    z = rng.uniform(0.2, 0.8, J).astype(np.float32)
    sample = {
        "image": torch.as_tensor(rng.integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8)),
        "target_uv": torch.as_tensor(uv), "target_valid": torch.as_tensor(valid),
        "target_z": torch.as_tensor(z if is_h36m else np.zeros(J, np.float32)),
        "target_z_valid": torch.as_tensor(valid if is_h36m else np.zeros(J, bool)),
        "crop_to_image": torch.as_tensor(crop_to_image), "flipped": torch.tensor(i % 3 == 0),
        "keypoints": torch.as_tensor(np.concatenate([xy_img, valid[:, None]], axis=1).astype(np.float32)),
        "bbox": torch.tensor([offset[0], offset[1], SIZE * scale, SIZE * scale], dtype=torch.float32),
        "index": torch.tensor(i // 2), "dataset": torch.tensor(int(is_h36m)),
        "head_size": torch.tensor(rng.uniform(20, 40), dtype=torch.float32),
        "crop_center": torch.as_tensor((offset + SIZE * scale / 2).astype(np.float32)),
        "crop_size": torch.tensor(SIZE * scale * 0.9, dtype=torch.float32),
        "joints_world": torch.as_tensor(world),
        "camera": torch.as_tensor(CAMERA.serialize().astype(np.float32) if is_h36m else np.zeros(21, np.float32)),
        "root_depth": torch.tensor(float(CAMERA.world_to_camera(world[:1])[0, 2]) if is_h36m else 0.0),
        "action": torch.tensor(2 + i % 3 if is_h36m else 0),
    }  # fmt: skip
    return sample


class MixedSamples(Dataset):
    def __init__(self, n: int, start: int = 0) -> None:
        self.samples = [make_sample(i) for i in range(start, start + n)]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        return self.samples[i]


class MixedData(pl.LightningDataModule):
    """The contract of a mixed MPII + Human3.6M datamodule: ``eval_sets`` and samples carrying ``dataset``."""

    eval_sets = EVAL_SETS

    def __init__(self, n_val: int = 11, batch_size: int = 3) -> None:
        super().__init__()
        self.n_val, self.batch_size = n_val, batch_size

    def train_dataloader(self):
        return DataLoader(MixedSamples(4), batch_size=4)

    def val_dataloader(self):
        return DataLoader(MixedSamples(self.n_val), batch_size=self.batch_size)

    test_dataloader = val_dataloader


def make_module(**kwargs) -> PoseModule:
    torch.manual_seed(0)
    return PoseModule(net=NET, optimizer={"_target_": "torch.optim.SGD", "lr": 0.01}, layout="pa17j",
                      num_overlays=3, **kwargs)  # fmt: skip


def trainer(tmp_path, **kwargs) -> pl.Trainer:
    return pl.Trainer(default_root_dir=tmp_path, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, **kwargs)  # fmt: skip


def expected_scores(module: PoseModule, samples: list[dict]) -> dict[str, float]:
    """The metric functions on the module's predictions, per set, computed here without the module's epoch code."""
    batch = {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
    module.eval()
    with torch.no_grad():
        _, pose, _ = module.predict_pose(batch["image"])
        xy = module.to_image_pixels(pose, batch).numpy()
        z = module.unflip(pose[..., 2], batch).numpy()
    b = {k: v.numpy() for k, v in batch.items()}
    mp, h3 = b["dataset"] == 0, b["dataset"] == 1
    kps = b["keypoints"][mp][:, :16]
    out = {
        f"mpii/{k}": v
        for k, v in pckh(
            xy[mp][:, :16],
            kps[..., :2],
            kps[..., 2] > 0,
            b["head_size"][mp],
            crop_centers=b["crop_center"][mp],
            crop_sizes=b["crop_size"][mp],
        ).items()
    }
    world = reconstruct_world(xy[h3], z[h3], b["root_depth"][h3], b["camera"][h3])
    out.update({f"h36m/{k}": v for k, v in mpjpe(world, b["joints_world"][h3], actions=b["action"][h3]).items()})
    return out  # fmt: skip


def test_a_3d_network_trains_z_only_where_the_sample_has_depth():
    module = make_module()
    batch = {k: torch.stack([make_sample(i)[k] for i in range(4)]) for k in make_sample(0)}
    target, mask = module.targets(batch)
    assert target.shape == mask.shape == (4, J, 3)
    valid = batch["target_valid"]
    assert torch.equal(mask[..., 0], valid) and torch.equal(mask[..., 1], valid)
    assert not mask[0, :, 2].any() and not mask[2, :, 2].any()  # MPII-like samples: no z
    assert torch.equal(mask[1, :, 2], valid[1] & batch["target_z_valid"][1])
    assert torch.equal(target[1, :, 2], batch["target_z"][1])
    # The loss's gradient reaches z only through the 3D samples.
    out = module(batch["image"])
    pose = out.pose.detach().requires_grad_(True)
    loss = pose_loss(pose, out.visibility.detach(), target, mask, valid.float())["loss"]
    (grad,) = torch.autograd.grad(loss, pose)
    assert grad[:, [0, 2], :, 2].abs().sum() == 0 and grad[:, [1, 3], :, 2].abs().sum() > 0
    assert grad[:, [0, 2], :, :2].abs().sum() > 0


def test_validation_scores_each_set_with_its_metric(tmp_path):
    module, data = make_module(), MixedData()
    trainer(tmp_path).validate(module, datamodule=data, verbose=False)
    logged = {k: float(v) for k, v in trainer_metrics(module).items()}
    expected = expected_scores(module, MixedSamples(data.n_val).samples)
    for key in ("mpii/pckh@0.5", "mpii/pckh@0.1", "mpii/pckh@0.5/head", "mpii/pckh@0.1/ankle", "h36m/mpjpe",
                "h36m/p_mpjpe", "h36m/mpjpe/Directions", "h36m/p_mpjpe/Eating"):  # fmt: skip
        assert logged[f"val/{key}"] == pytest.approx(expected[key], rel=1e-5, abs=1e-6, nan_ok=True), key
    assert "val/pck@0.2" not in logged  # COCO's PCK is for datamodules without eval_sets


def trainer_metrics(module: PoseModule) -> dict:
    return dict(module.trainer.callback_metrics)


def test_deephar_pckh_definition_names_its_keys(tmp_path):
    module = make_module(pckh_definition="deephar", best_metric="h36m/mpjpe")
    trainer(tmp_path).validate(module, datamodule=MixedData(), verbose=False)
    logged = trainer_metrics(module)
    assert "val/mpii/pckh_deephar@0.5" in logged and "val/mpii/pckh@0.5" not in logged


def test_fit_tracks_the_best_error_and_draws_3d_overlays(tmp_path):
    module = make_module(best_metric="h36m/mpjpe")
    trainer(tmp_path, max_epochs=2, num_sanity_val_steps=0).fit(module, datamodule=MixedData(n_val=5))
    logged = trainer_metrics(module)
    assert float(logged["val/h36m/mpjpe_best"]) <= float(logged["val/h36m/mpjpe"]) + 1e-6
    assert float(logged["val/h36m/mpjpe_best"]) > 0
    assert sorted(p.name for p in (tmp_path / "overlays").glob("*.png")) == [
        "val_overlays_epoch_000.png", "val_overlays_epoch_001.png"]  # fmt: skip


def test_test_prints_the_per_part_and_per_action_tables(tmp_path, capsys, caplog):
    module = make_module()
    with caplog.at_level("INFO"):
        trainer(tmp_path).test(module, datamodule=MixedData(), verbose=False)
    text = capsys.readouterr().out + caplog.text
    assert "Shoulder" in text and "Mean" in text and "Directions" in text and "all frames" in text


def test_overlays_draw_every_validation_loader(tmp_path, monkeypatch):
    """num_overlays (3) is shared between a mixed datamodule's loaders: 2 samples of the first, 1 of the second."""
    module = make_module()
    seen = []
    monkeypatch.setattr(module, "_log_overlays", lambda: seen.append(module._overlay_batch))

    class TwoLoaders(MixedData):
        def val_dataloader(self):
            return [DataLoader(MixedSamples(4), batch_size=4), DataLoader(MixedSamples(4, start=20), batch_size=4)]

    trainer(tmp_path).validate(module, datamodule=TwoLoaders(), verbose=False)
    (kept,) = seen
    expected = torch.stack([make_sample(i)["image"] for i in (0, 1, 20)])
    assert torch.equal(kept["image"], expected)
    assert kept["pose"].shape == (3, J, 3) and kept["target_z_valid"].shape == (3, J)
