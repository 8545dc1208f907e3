"""Photometric augmentation on the device (har.data.transforms.batch_photometric) against the worker-side ops, and
its hook."""

import albumentations as A
import cv2
import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from har.data.datamodules.coco import CocoPoseDataModule
from har.data.transforms.batch_photometric import BatchPhotometric
from har.data.transforms.photometric import ChannelGamma, HueSaturation, Photometric

B, H, W = 4, 24, 20


def _images(seed=0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (B, 3, H, W), dtype=np.uint8))


def _only(params: dict, op: str | None) -> dict:
    """The drawn parameters with every op switched off except ``op``."""
    out = dict(params)
    for key in ("bc_on", "gamma_on", "hs_on", "degrade_on"):
        out[key] = torch.full((B,), key == op, dtype=torch.bool)
    return out


def _hwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.permute(1, 2, 0).numpy())


@pytest.fixture
def drawn():
    aug = BatchPhotometric(**vars(Photometric()))
    return aug, aug.draw(B, torch.device("cpu"), torch.Generator().manual_seed(0))


def test_each_op_equals_the_worker_op_with_the_same_parameters(drawn):
    aug, params = drawn
    images = _images()
    worker_ops = {
        "bc_on": lambda img, i: A.RandomBrightnessContrast().apply(
            img, alpha=float(params["alpha"][i]), beta=float(params["beta"][i])),
        "gamma_on": lambda img, i: ChannelGamma().apply(img, gammas=params["gamma"][i].double().numpy()),
        "hs_on": lambda img, i: HueSaturation(bgr=False).apply(
            img, hue=float(params["hue"][i]), sat=float(params["sat"][i])),
    }  # fmt: skip
    for op, worker in worker_ops.items():
        out = aug.apply(images, _only(params, op))
        for i in range(B):
            expected = worker(_hwc(images[i]), i)
            diff = np.abs(_hwc(out[i]).astype(int) - expected.astype(int))
            assert diff.max() <= 1, (op, i, diff.max())  # rounding (device) vs the worker op's rounding or flooring
        assert (out != images).float().mean() > 0.3, op  # the op did something


def test_samples_not_drawn_for_an_op_are_untouched(drawn):
    aug, params = drawn
    images = _images(1)
    assert torch.equal(aug.apply(images, _only(params, None)), images)
    half = _only(params, "bc_on")
    half["bc_on"][::2] = False
    out = aug.apply(images, half)
    assert torch.equal(out[::2], images[::2]) and not torch.equal(out[1::2], images[1::2])


@pytest.mark.parametrize(("degrade", "kernel"), [(0.6, 3), (0.9, 5)])
def test_blur_is_opencvs_box_blur(drawn, degrade, kernel):
    aug, params = drawn
    params = _only(params, "degrade_on")
    params["degrade"] = torch.full((B,), degrade)
    out = aug.apply(_images(2), params)
    for i in range(B):
        expected = cv2.blur(_hwc(_images(2)[i]), (kernel, kernel))  # BORDER_REFLECT_101 by default
        assert np.abs(_hwc(out[i]).astype(int) - expected.astype(int)).max() <= 1


def test_noise_has_the_configured_spread(drawn):
    aug, params = drawn
    params = _only(params, "degrade_on")
    params["degrade"] = torch.full((B,), 0.25)
    images = torch.full((B, 3, 64, 64), 128, dtype=torch.uint8)
    diff = aug.apply(images, params).float() - 128.0
    assert abs(diff.mean().item()) < 0.5
    assert diff.std().item() == pytest.approx(0.03 * 255, rel=0.1)


def test_draws_follow_the_probabilities_and_ranges():
    aug = BatchPhotometric(brightness_contrast_prob=0.5, gamma=0.1, hue=10.0)
    p = aug.draw(20000, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert p["bc_on"].float().mean().item() == pytest.approx(0.5, abs=0.02)
    assert p["degrade_on"].float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert p["gamma"].min() >= 0.9 and p["gamma"].max() <= 1.1 and p["gamma"].shape == (20000, 3)
    assert p["hue"].min() >= -10 and p["hue"].max() <= 10 and p["hue"].abs().max() > 9.9


class _RecordImages(pl.LightningModule):
    """Records the images each stage's step receives."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen = {"train": [], "val": []}

    def training_step(self, batch, i):
        self.seen["train"].append(batch["image"].clone())
        return (self.w * 0).sum()

    def validation_step(self, batch, i):
        self.seen["val"].append(batch["image"].clone())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _datamodule(root, on_device: bool, prob: float = 1.0):
    photometric = {"brightness_contrast_prob": prob, "gamma_prob": 0.0, "hue_saturation_prob": 0.0,
                   "blur_noise_prob": 0.0, "jpeg_prob": 0.0, "on_device": on_device}  # fmt: skip
    augment = {"rotation_prob": 0.0, "scale": [1.0, 1.0], "translation": 0.0, "flip_prob": 0.0,
               "half_body_prob": 0.0, "photometric": photometric}  # fmt: skip
    return CocoPoseDataModule(root, input_size=(64, 64), batch_size=4, num_workers=0, pin_memory=False,
                              persistent_workers=False, val_split="train2017", augment=augment)  # fmt: skip


def test_lightning_applies_it_to_training_batches_only(tiny_coco, tmp_path):
    """With on_device, workers return unaugmented crops and the trainer's batch transfer augments training batches;
    validation batches (same images, same windows) stay untouched."""
    dm = _datamodule(tiny_coco, on_device=True)
    dm.setup("fit")
    assert dm.batch_photometric is not None
    assert dm.datasets["train"].transform._photometric is None  # nothing left for the workers
    model = _RecordImages()
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=1, num_sanity_val_steps=0,
                         accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    torch.manual_seed(0)
    trainer.fit(model, datamodule=dm)
    raw = torch.stack([dm.datasets["val"][int(i)]["image"] for i in range(4)])
    assert torch.equal(model.seen["val"][0], raw)
    train = model.seen["train"][0]
    raw_all = torch.stack([dm.datasets["val"][i]["image"] for i in range(len(dm.datasets["val"]))])
    for img in train:  # every training image is an augmented crop: none equals any raw crop
        assert not (raw_all == img).flatten(1).all(1).any()


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_auto_placement_follows_the_trainers_device(tiny_coco, device):
    from types import SimpleNamespace

    dm = _datamodule(tiny_coco, on_device="auto")
    dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)), training=True)
    dm.setup("fit")
    on_device = device == "cuda"
    assert (dm.batch_photometric is not None) == on_device
    assert (dm.datasets["train"].transform._photometric is None) == on_device


def test_worker_side_photometric_keeps_every_op_in_the_worker(tiny_coco):
    dm = _datamodule(tiny_coco, on_device=False)
    dm.setup("fit")
    assert dm.batch_photometric is None
    assert dm.datasets["train"].transform._photometric is not None
    batch = {"image": _images()}
    assert dm.on_after_batch_transfer(dict(batch), 0)["image"] is batch["image"]
