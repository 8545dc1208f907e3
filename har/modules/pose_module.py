"""PoseModule: the deephar pose network trained with deephar's loss, scored with PCK in original pixels."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from hydra.utils import get_class
from omegaconf import DictConfig, ListConfig, OmegaConf
from torchmetrics import MaxMetric

from har.codec import HeatmapCodec, apply_affine_torch
from har.layouts import get_layout
from har.losses import pose_loss
from har.metrics.pck import PCK
from har.models.pose_net import DeepHARPose, PoseNetOutput
from har.vis.draw import draw_pose, image_grid
from har.vis.logging import log_image


def plain(value: Any) -> Any:
    """OmegaConf containers → plain dicts/lists, so checkpoints load with ``torch.load(weights_only=True)``."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, tuple):
        return list(value)
    return value


def instantiate_with(spec: dict, first: Any) -> Any:
    """``{"_target_": "torch.optim.RMSprop", "lr": 1e-3}`` → ``RMSprop(first, lr=1e-3)`` (optimizers, schedulers)."""
    spec = dict(spec)
    return get_class(spec.pop("_target_"))(first, **spec)


class PoseModule(pl.LightningModule):
    """Trains and evaluates :class:`DeepHARPose`.

    Args:
        net: keyword arguments of :class:`DeepHARPose`.
        optimizer: ``_target_`` class path plus its arguments (e.g. RMSprop, lr 1e-3 as deephar).
        scheduler: ``_target_`` class path plus arguments, optional ``interval`` (epoch|step); None for none.
        layout: joint layout name; its joint count must equal ``net.num_joints``.
        loss: ``coord_bce_weight`` and ``vis_weight`` of :func:`har.losses.pose_loss` (deephar: 0.01, 0.01).
        pck_thresholds: PCK thresholds logged as ``<stage>/pck@<thr>``; the first drives ``val/pck@<thr>_best``.
        num_overlays: prediction overlays drawn per validation (0 disables).
        channels_last: run the network in channels_last memory format (faster convolutions on GPUs).
        init_ckpt: checkpoint whose network weights initialise this one (fine-tuning), or None.
    """

    def __init__(
        self,
        net: dict,
        optimizer: dict,
        scheduler: dict | None = None,
        layout: str = "coco17",
        loss: dict | None = None,
        pck_thresholds: tuple[float, ...] = (0.2, 0.1),
        num_overlays: int = 16,
        channels_last: bool = False,
        init_ckpt: str | None = None,
    ) -> None:
        super().__init__()
        hp = {k: plain(v) for k, v in locals().items() if k not in ("self", "__class__")}
        self.save_hyperparameters(hp)
        self.net = DeepHARPose(**hp["net"])
        self.layout = get_layout(layout)
        if self.net.num_joints != self.layout.num_joints:
            raise ValueError(
                f"model.net.num_joints={self.net.num_joints} but layout {layout!r} has {self.layout.num_joints} joints"
            )
        self.codec = HeatmapCodec(tuple(self.net.input_size))
        self.loss_args = dict(loss or {})
        self.register_buffer("flip_index", torch.as_tensor(self.layout.flip_index), persistent=False)
        thresholds = tuple(hp["pck_thresholds"])
        self.train_pck = PCK(self.layout.num_joints, thresholds)
        self.val_pck = PCK(self.layout.num_joints, thresholds)
        self.test_pck = PCK(self.layout.num_joints, thresholds)
        self.best_key = f"pck@{thresholds[0]:g}"
        self.val_best = MaxMetric()
        self._overlay_batch: dict | None = None
        self._test_outputs: list[dict] = []
        self.test_predictions: list[dict] = []
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        if init_ckpt:
            self.load_net_weights(init_ckpt)

    # -- network ---------------------------------------------------------------------------------------------
    def load_net_weights(self, path: str) -> None:
        """Initialise the network from a har checkpoint (``net.*`` tensors of its state_dict)."""
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        net_state = {k[len("net.") :]: v for k, v in state.items() if k.startswith("net.")}
        self.net.load_state_dict(net_state)

    def forward(self, images: torch.Tensor) -> PoseNetOutput:
        """images (B, 3, H, W) uint8 RGB (or float in [-1, 1]) → the network's per-block output."""
        x = images.float() / 127.5 - 1.0 if images.dtype == torch.uint8 else images
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def to_image_pixels(self, uv: torch.Tensor, batch: dict) -> torch.Tensor:
        """Normalised crop coordinates (B, J, 2) → original-image pixels, joints back in the unflipped order."""
        uv = torch.where(batch["flipped"][:, None, None], uv[:, self.flip_index], uv)
        return apply_affine_torch(self.codec.decode_torch(uv.float()), batch["crop_to_image"])

    def pck(self, stage: str) -> PCK:
        return getattr(self, f"{stage}_pck")

    # -- steps -----------------------------------------------------------------------------------------------
    def _shared_step(self, batch: dict, stage: str) -> tuple[torch.Tensor, PoseNetOutput]:
        out = self(batch["image"])
        valid = batch["target_valid"]
        losses = pose_loss(out.pose, out.visibility, batch["target_uv"], valid, valid.float(), **self.loss_args)
        pred = self.to_image_pixels(out.pose[-1, ..., :2], batch)
        kps = batch["keypoints"]
        self.pck(stage).update(pred, kps[..., :2], kps[..., 2] > 0, batch["bbox"])
        bs = batch["image"].shape[0]
        on_step = stage == "train"
        self.log(f"{stage}/loss", losses["loss"], on_step=on_step, on_epoch=True, prog_bar=True, batch_size=bs)
        self.log(f"{stage}/loss_coord", losses["coord"], on_step=False, on_epoch=True, batch_size=bs)
        self.log(f"{stage}/loss_vis", losses["vis"], on_step=False, on_epoch=True, batch_size=bs)
        return losses["loss"], out

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, _ = self._shared_step(batch, "train")
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        _, out = self._shared_step(batch, "val")
        if batch_idx == 0 and self.hparams.num_overlays > 0:
            n = self.hparams.num_overlays
            self._overlay_batch = {
                "image": batch["image"][:n],
                "uv": out.pose[-1, :n, :, :2],
                "vis": out.visibility[-1, :n, :, 0],
            }

    def test_step(self, batch: dict, batch_idx: int) -> None:
        _, out = self._shared_step(batch, "test")
        self._test_outputs.append(
            {
                "image_id": batch["image_id"],
                "ann_id": batch["ann_id"],
                "xy": self.to_image_pixels(out.pose[-1, ..., :2], batch),
                "vis": out.visibility[-1, ..., 0],
            }
        )

    # -- epoch ends ------------------------------------------------------------------------------------------
    def _log_pck(self, stage: str) -> dict[str, torch.Tensor]:
        values = self.pck(stage).compute()
        for key, value in values.items():
            self.log(f"{stage}/{key}", value, prog_bar=key == self.best_key)
        self.pck(stage).reset()
        return values

    def on_train_start(self) -> None:
        # The sanity check's validation must not count toward the best score.
        self.val_pck.reset()
        self.val_best.reset()

    def on_train_epoch_end(self) -> None:
        self._log_pck("train")

    def on_validation_epoch_end(self) -> None:
        values = self._log_pck("val")
        if self.trainer.sanity_checking:
            return
        self.val_best(values[self.best_key])
        self.log(f"val/{self.best_key}_best", self.val_best.compute(), prog_bar=True)
        self._log_overlays()

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []

    def on_test_epoch_end(self) -> None:
        self._log_pck("test")
        self.test_predictions = self._coco_results(self._test_outputs)
        self._test_outputs = []

    def _coco_results(self, outputs: list[dict]) -> list[dict]:
        """COCO results records: keypoints (x, y, score) × J in original pixels, score, and the GT box used."""
        if not outputs:
            return []
        cat = {k: torch.cat([o[k] for o in outputs]).detach().cpu().numpy() for k in outputs[0]}
        results = []
        for image_id, ann_id, xy, vis in zip(cat["image_id"], cat["ann_id"], cat["xy"], cat["vis"]):
            kps = np.concatenate([xy, vis[:, None]], axis=1).astype(float).round(3)
            results.append(
                {
                    "image_id": int(image_id),
                    "category_id": 1,
                    "keypoints": kps.reshape(-1).tolist(),
                    "score": round(float(vis.mean()), 5),
                    "gt_id": int(ann_id),
                }
            )
        return results

    def _log_overlays(self) -> None:
        batch, self._overlay_batch = self._overlay_batch, None
        if batch is None or not self.trainer.is_global_zero:
            return
        images = batch["image"].permute(0, 2, 3, 1).cpu().numpy()
        xy = self.codec.decode_torch(batch["uv"].float()).cpu().numpy()
        vis = batch["vis"].float().cpu().numpy()
        tiles = [draw_pose(img, k, self.layout, v) for img, k, v in zip(images, xy, vis)]
        log_image(self.trainer, "val/overlays", image_grid(tiles), self.current_epoch,
                  png_dir=f"{self.trainer.default_root_dir}/overlays")  # fmt: skip

    # -- optimisation ----------------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict:
        optimizer = instantiate_with(self.hparams.optimizer, [p for p in self.parameters() if p.requires_grad])
        spec = self.hparams.scheduler
        if not spec:
            return {"optimizer": optimizer}
        spec = dict(spec)
        interval = spec.pop("interval", "epoch")
        scheduler = instantiate_with(spec, optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}
