"""PoseModule: the deephar pose network trained with deephar's loss, scored with PCK in original pixels."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torchmetrics import MaxMetric

from har.checkpoints import load_pose_weights
from har.codec import HeatmapCodec
from har.geometry.affine import apply_affine_torch
from har.layouts import get_layout
from har.lit.common import build_optimizers, plain
from har.metrics.coco_ap import coco_keypoint_ap
from har.metrics.pck import PCK, first_occurrence
from har.models.losses import pose_loss
from har.models.pose_net import DeepHARPose, PoseNetOutput, pose_network_input
from har.vis.draw import validation_overlays
from har.vis.logging import epoch_file_name, log_image


class PoseModule(pl.LightningModule):
    """Trains and evaluates :class:`DeepHARPose`.

    Args:
        net: keyword arguments of :class:`DeepHARPose`.
        optimizer: ``_target_`` class path plus its arguments (e.g. RMSprop, lr 1e-3 as deephar).
        scheduler: ``_target_`` class path plus arguments, optional ``interval`` (epoch|step); None for none.
        layout: joint layout name; its joint count must equal ``net.num_joints``.
        loss: ``coord_bce_weight`` and ``vis_weight`` of :func:`har.models.losses.pose_loss` (deephar: 0.01, 0.01).
        pck_thresholds: PCK thresholds logged as ``<stage>/pck@<thr>``; the first drives ``val/pck@<thr>_best``.
        num_overlays: prediction overlays drawn per validation (0 disables).
        channels_last: run the network in channels_last memory format (faster convolutions on GPUs).
        init_ckpt: checkpoint whose network weights initialise this one (fine-tuning), or None.
        flip_test: at validation and test, average the prediction with that of the horizontally flipped crop.
        oks_ap_stages: stages whose predictions are scored with COCO keypoint AP (``<stage>/oks_ap`` ...) against
            the datamodule's ground truth (``eval_ground_truth``), on global rank 0.
    """

    checkpoint_kind = "pose"  # what har.checkpoints calls a checkpoint of this module

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
        flip_test: bool = False,
        oks_ap_stages: tuple[str, ...] = ("val", "test"),
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
        self.val_best.persistent(True)  # in checkpoints: a resumed run keeps its best value
        self._overlay_batch: dict | None = None
        self._outputs: list[dict] = []
        self.test_predictions: list[dict] = []
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        if init_ckpt:
            self.load_net_weights(init_ckpt)

    # -- network ---------------------------------------------------------------------------------------------
    def load_net_weights(self, path: str) -> None:
        """Initialise the network from a har checkpoint's pose network (a PoseModule's or an ActionModule's)."""
        load_pose_weights(self.net, path)

    def forward(self, images: torch.Tensor) -> PoseNetOutput:
        """images (B, 3, H, W) uint8 RGB (or float in [-1, 1]) → the network's per-block output."""
        return self.net(pose_network_input(images, self.hparams.channels_last))

    def to_image_pixels(self, uv: torch.Tensor, batch: dict) -> torch.Tensor:
        """Normalised crop coordinates (B, J, 2) → original-image pixels, joints back in the unflipped order."""
        uv = torch.where(batch["flipped"][:, None, None], uv[:, self.flip_index], uv)
        return apply_affine_torch(self.codec.decode_torch(uv.float()), batch["crop_to_image"])

    def pck(self, stage: str) -> PCK:
        return getattr(self, f"{stage}_pck")

    def predict_pose(self, images: torch.Tensor) -> tuple[PoseNetOutput, torch.Tensor, torch.Tensor]:
        """Network output, plus the last block's pose (B, J, 2) normalised and visibility (B, J); with
        ``flip_test`` the pose and visibility average those of the horizontally flipped crop (joints swapped)."""
        out = self(images)
        uv, vis = out.pose[-1, ..., :2], out.visibility[-1, ..., 0]
        if self.hparams.flip_test:
            flipped = self(images.flip(-1))
            uv_f = flipped.pose[-1, :, self.flip_index, :2]
            # In normalised coordinates the flip is u → 1 − u exactly (see har.geometry.affine).
            uv_f = torch.stack([1.0 - uv_f[..., 0], uv_f[..., 1]], dim=-1)
            uv = (uv + uv_f) * 0.5
            vis = (vis + flipped.visibility[-1, :, self.flip_index, 0]) * 0.5
        return out, uv, vis

    # -- steps -----------------------------------------------------------------------------------------------
    def _shared_step(self, batch: dict, stage: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Loss on every block; PCK on the last block's prediction in original pixels."""
        if stage == "train":
            out = self(batch["image"])
            uv, vis = out.pose[-1, ..., :2], out.visibility[-1, ..., 0]
        else:
            out, uv, vis = self.predict_pose(batch["image"])
        valid = batch["target_valid"]
        losses = pose_loss(out.pose, out.visibility, batch["target_uv"], valid, valid.float(), **self.loss_args)
        pred = self.to_image_pixels(uv, batch)
        kps = batch["keypoints"]
        self.pck(stage).update(pred, kps[..., :2], kps[..., 2] > 0, batch["bbox"], batch["index"])
        bs = batch["image"].shape[0]
        train = stage == "train"
        log = {"on_epoch": True, "batch_size": bs, "sync_dist": not train}
        self.log(f"{stage}/loss", losses["loss"], on_step=train, prog_bar=True, **log)
        self.log(f"{stage}/loss_coord", losses["coord"], on_step=False, **log)
        self.log(f"{stage}/loss_vis", losses["vis"], on_step=False, **log)
        return losses["loss"], uv, vis, pred

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, *_ = self._shared_step(batch, "train")
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        _, uv, vis, pred = self._shared_step(batch, "val")
        self._collect("val", batch, pred, vis)
        if batch_idx == 0 and self.hparams.num_overlays > 0:
            n = self.hparams.num_overlays
            keep = {"image": batch["image"], "target_uv": batch["target_uv"], "target_valid": batch["target_valid"]}
            self._overlay_batch = {**{k: v[:n] for k, v in keep.items()}, "uv": uv[:n], "vis": vis[:n]}

    def test_step(self, batch: dict, batch_idx: int) -> None:
        _, _, vis, pred = self._shared_step(batch, "test")
        self._collect("test", batch, pred, vis)

    def _collect(self, stage: str, batch: dict, pred: torch.Tensor, vis: torch.Tensor) -> None:
        """Keep what COCO results need (on device; gathered at the epoch's end)."""
        if stage in self.hparams.oks_ap_stages:
            self._outputs.append({"index": batch["index"], "image_id": batch["image_id"], "ann_id": batch["ann_id"],
                                  "xy": pred, "vis": vis})  # fmt: skip

    # -- epoch ends ------------------------------------------------------------------------------------------
    def _log_metrics(self, stage: str) -> dict[str, torch.Tensor]:
        values = self.pck(stage).compute()
        self.pck(stage).reset()
        if stage in self.hparams.oks_ap_stages:
            results = self._coco_results(self._outputs)
            self._outputs = []
            if stage == "test":
                self.test_predictions = results
            if self._has_ground_truth():
                values.update({k: torch.tensor(v) for k, v in self._oks_ap(stage, results).items()})
        for key, value in values.items():
            self.log(f"{stage}/{key}", value, prog_bar=key == self.best_key)
        return values

    def _has_ground_truth(self) -> bool:
        """Whether the datamodule has COCO keypoint ground truth and the layout OKS sigmas."""
        datamodule = getattr(self.trainer, "datamodule", None)
        return self.layout.sigmas is not None and hasattr(datamodule, "eval_ground_truth")

    def _oks_ap(self, stage: str, results: list[dict]) -> dict[str, float]:
        """COCO keypoint AP of the stage's results against the datamodule's ground truth (built once per split),
        computed on global rank 0, which holds the gathered results, and broadcast: every rank logs the same values.
        An error there is raised on every rank, rather than leaving the others waiting in the broadcast."""
        ap, error = None, None
        if self.trainer.is_global_zero:
            try:
                ap = coco_keypoint_ap(self.trainer.datamodule.eval_ground_truth(stage), results, self.layout.sigmas)
            except Exception as e:  # noqa: BLE001 - re-raised below, here and on the other ranks
                error = e
        ap = self.trainer.strategy.broadcast(ap if error is None else f"{type(error).__name__}: {error}", src=0)
        if error is not None:
            raise error
        if isinstance(ap, str):
            raise RuntimeError(f"COCO keypoint AP failed on global rank 0: {ap}")
        return ap

    def on_train_start(self) -> None:
        # The sanity check's validation must not count toward the best score (val_best skips it; a resumed run
        # keeps its restored best).
        self.val_pck.reset()
        self._outputs = []

    def on_train_epoch_end(self) -> None:
        self._log_metrics("train")

    def on_validation_epoch_start(self) -> None:
        self._outputs = []

    def on_validation_epoch_end(self) -> None:
        values = self._log_metrics("val")
        if self.trainer.sanity_checking:
            return
        self.val_best(values[self.best_key])
        self.log(f"val/{self.best_key}_best", self.val_best.compute(), prog_bar=True)
        self._log_overlays()

    def on_test_epoch_start(self) -> None:
        self._outputs = []

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def _coco_results(self, outputs: list[dict]) -> list[dict]:
        """COCO results records, one per dataset instance (gathered from every device, repeats dropped, in
        dataset order): keypoints (x, y, score) × J in original pixels, score, and ``gt_id``, the box's annotation.
        Under DDP only global rank 0 makes them (the others return [])."""
        if not outputs:
            return []
        cat = {k: torch.cat([o[k] for o in outputs]) for k in outputs[0]}
        if self.trainer.world_size > 1:  # equal lengths on every rank: the sampler pads with repeats
            cat = {k: v.flatten(0, 1) for k, v in self.all_gather(cat).items()}
        if not self.trainer.is_global_zero:
            return []
        keep = first_occurrence(cat["index"])
        cat = {k: v[keep].detach().cpu() for k, v in cat.items()}
        cat = {k: (v.float() if v.is_floating_point() else v).numpy() for k, v in cat.items()}
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
        truth = self.codec.decode_torch(batch["target_uv"].float()).cpu().numpy()
        vis = batch["vis"].float().cpu().numpy()
        epoch = self.current_epoch
        grid = validation_overlays(images, xy, truth, batch["target_valid"].cpu().numpy(), self.layout, vis,
                                   title=f"val, epoch {epoch}")  # fmt: skip
        png = Path(self.trainer.default_root_dir) / "overlays" / epoch_file_name("val_overlays", epoch, ".png")
        log_image(self.trainer, "val/overlays", grid, epoch, png_path=png)

    # -- optimisation ----------------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict:
        params = [p for p in self.parameters() if p.requires_grad]
        return build_optimizers(self.hparams.optimizer, self.hparams.scheduler, params)
