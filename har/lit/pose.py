"""PoseModule: the deephar pose network trained with deephar's loss, scored with PCK in original pixels, or with
deephar's benchmarks (MPII PCKh, Human3.6M MPJPE: :mod:`har.lit.benchmarks`) where the datamodule names its
evaluation sets (``eval_sets``)."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from torchmetrics import MaxMetric

from har.checkpoints import load_pose_weights
from har.codec import HeatmapCodec
from har.geometry.affine import apply_affine_torch
from har.layouts import get_layout
from har.lit.benchmarks import EvalSets, lower_is_better
from har.lit.common import build_optimizers, plain
from har.metrics.coco_ap import coco_keypoint_ap
from har.metrics.pck import PCK, first_occurrence
from har.models.losses import pose_loss
from har.models.pose_net import DeepHARPose, PoseNetOutput, pose_network_input
from har.vis.draw import validation_overlays
from har.vis.logging import epoch_file_name, log_image
from har.vis.pose3d import validation_overlays_3d


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
        pckh_definition: ``official`` or ``deephar`` (:mod:`har.metrics.pckh`), for datamodules with PCKh sets.
        pckh_thresholds: PCKh thresholds logged as ``<stage>/<set>/pckh@<thr>``.
        best_metric: the key (``<set>/<metric>``, e.g. ``h36m/mpjpe``) that ``val/<key>_best`` tracks where the
            datamodule has ``eval_sets``; None: the first set's headline (PCKh at the first threshold, or MPJPE).

    A 3D network (``net.depth_bins``) trains on (x, y, z): ``target_z`` where ``target_z_valid`` (and the joint is
    valid), x and y alone for 2D samples (deephar's per-coordinate mask). A datamodule with ``eval_sets`` (a list of
    ``(name, metric)``, read duck-typed) is scored per set at validation and test (:mod:`har.lit.benchmarks`);
    otherwise with PCK (and COCO keypoint AP).
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
        pckh_definition: str = "official",
        pckh_thresholds: tuple[float, ...] = (0.5, 0.1),
        best_metric: str | None = None,
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
        self.eval_sets: EvalSets | None = None  # set up from the datamodule (setup)
        self.val_best = MaxMetric()  # of −value for an error (MPJPE): one state whatever the metric
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

    def to_image_pixels(self, pose: torch.Tensor, batch: dict) -> torch.Tensor:
        """Normalised crop coordinates (B, J, 2 or 3) → original-image pixels (B, J, 2), joints back in the
        unflipped order."""
        uv = self.unflip(pose[..., :2], batch).float()
        return apply_affine_torch(self.codec.decode_torch(uv), batch["crop_to_image"])

    def unflip(self, values: torch.Tensor, batch: dict) -> torch.Tensor:
        """Per-joint values (B, J, ...) of the batch's flipped crops back in the unflipped joint order."""
        flipped = batch["flipped"].reshape(-1, *[1] * (values.dim() - 1))
        return torch.where(flipped, values[:, self.flip_index], values)

    def pck(self, stage: str) -> PCK:
        return getattr(self, f"{stage}_pck")

    def predict_pose(self, images: torch.Tensor) -> tuple[PoseNetOutput, torch.Tensor, torch.Tensor]:
        """Network output, plus the last block's pose (B, J, D) normalised (x, y[, z]) and visibility (B, J);
        with ``flip_test`` the pose and visibility average those of the horizontally flipped crop (joints swapped;
        the depth is unchanged by a flip)."""
        out = self(images)
        pose, vis = out.pose[-1], out.visibility[-1, ..., 0]
        if self.hparams.flip_test:
            flipped = self(images.flip(-1))
            pose_f = flipped.pose[-1, :, self.flip_index]
            # In normalised coordinates the flip is u → 1 − u exactly (see har.geometry.affine).
            pose_f = torch.cat([1.0 - pose_f[..., :1], pose_f[..., 1:]], dim=-1)
            pose = (pose + pose_f) * 0.5
            vis = (vis + flipped.visibility[-1, :, self.flip_index, 0]) * 0.5
        return out, pose, vis

    def setup(self, stage: str) -> None:
        """Read the datamodule's evaluation sets (duck-typed: ``eval_sets``, optional ``action_names``)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        sets = getattr(datamodule, "eval_sets", None)
        if not sets:
            self.eval_sets = None
            return
        self.eval_sets = EvalSets(sets, self.layout, self.hparams.pckh_definition, self.hparams.pckh_thresholds,
                                  action_names=getattr(datamodule, "action_names", None))  # fmt: skip
        self.best_key = self.hparams.best_metric or self.eval_sets.headline(self.eval_sets.names[0])

    def targets(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss target (B, J, D) and its per-coordinate mask (B, J, D): x, y where ``target_valid``; for a 3D
        network z too where ``target_z_valid`` also holds (2D samples train x, y and visibility, not z)."""
        uv, valid = batch["target_uv"], batch["target_valid"].bool()
        mask = valid[..., None].expand(*valid.shape, 2)
        if self.net.dim == 2:
            return uv, mask
        z, z_valid = batch.get("target_z"), batch.get("target_z_valid")
        if z is None or z_valid is None:
            z, z_valid = torch.zeros_like(uv[..., 0]), torch.zeros_like(valid)
        target = torch.cat([uv, z[..., None].to(uv.dtype)], dim=-1)
        return target, torch.cat([mask, (valid & z_valid.bool())[..., None]], dim=-1)

    # -- steps -----------------------------------------------------------------------------------------------
    def _shared_step(self, batch: dict, stage: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Loss on every block; the last block's pose (B, J, D) normalised, visibility (B, J) and (x, y) in
        original pixels (B, J, 2), scored with PCK (training, and evaluation without ``eval_sets``)."""
        if stage == "train":
            out = self(batch["image"])
            pose, vis = out.pose[-1], out.visibility[-1, ..., 0]
        else:
            out, pose, vis = self.predict_pose(batch["image"])
        target, mask = self.targets(batch)
        losses = pose_loss(out.pose, out.visibility, target, mask, batch["target_valid"].float(), **self.loss_args)
        pred = self.to_image_pixels(pose, batch)
        if stage == "train" or self.eval_sets is None:
            kps = batch["keypoints"]
            self.pck(stage).update(pred, kps[..., :2], kps[..., 2] > 0, batch["bbox"], batch["index"])
        bs = batch["image"].shape[0]
        train = stage == "train"
        log = {"on_epoch": True, "batch_size": bs, "sync_dist": not train}
        self.log(f"{stage}/loss", losses["loss"], on_step=train, prog_bar=True, **log)
        self.log(f"{stage}/loss_coord", losses["coord"], on_step=False, **log)
        self.log(f"{stage}/loss_vis", losses["vis"], on_step=False, **log)
        return losses["loss"], pose, vis, pred

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, *_ = self._shared_step(batch, "train")
        return loss

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        _, pose, vis, pred = self._shared_step(batch, "val")
        self._collect("val", batch, pose, vis, pred)
        if batch_idx == 0 and self.hparams.num_overlays > 0:
            self._keep_overlays(batch, pose, vis, dataloader_idx)

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        _, pose, vis, pred = self._shared_step(batch, "test")
        self._collect("test", batch, pose, vis, pred)

    def _collect(self, stage: str, batch: dict, pose: torch.Tensor, vis: torch.Tensor, pred: torch.Tensor) -> None:
        """Keep what the epoch-end metrics need, on the device: per evaluation set (``eval_sets``), or the COCO
        results."""
        if self.eval_sets is not None:
            z = self.unflip(pose[..., 2], batch) if pose.shape[-1] == 3 else None
            self.eval_sets.add(batch, pred, z)
        elif stage in self.hparams.oks_ap_stages:
            self._outputs.append({"index": batch["index"], "image_id": batch["image_id"], "ann_id": batch["ann_id"],
                                  "xy": pred, "vis": vis})  # fmt: skip

    def _keep_overlays(self, batch: dict, pose: torch.Tensor, vis: torch.Tensor, dataloader_idx: int = 0) -> None:
        """The first samples of the first batch of each validation loader (``num_overlays`` shared between the
        loaders: each dataset of a mixed datamodule is drawn), for the overlays (3D: with their plots)."""
        kept = self._overlay_batch or {}
        loaders = self.trainer.val_dataloaders if self._trainer is not None else None
        count = len(loaders) if isinstance(loaders, (list, tuple)) else 1
        share = -(-self.hparams.num_overlays // count)  # ceil
        left = self.hparams.num_overlays - (len(kept["image"]) if kept else 0)
        n = min(left, share if dataloader_idx < count - 1 else left)
        if n <= 0:
            return
        new = {"image": batch["image"], "target_uv": batch["target_uv"], "target_valid": batch["target_valid"]}
        new = {**{k: v[:n] for k, v in new.items()}, "pose": pose[:n], "vis": vis[:n]}
        if pose.shape[-1] == 3:
            b = len(new["image"])
            new["target_z"] = batch["target_z"][:n] if "target_z" in batch else pose.new_zeros(b, pose.shape[1])
            new["target_z_valid"] = (batch["target_z_valid"][:n].bool() if "target_z_valid" in batch
                                     else torch.zeros_like(new["target_valid"], dtype=torch.bool))  # fmt: skip
        self._overlay_batch = {k: torch.cat([kept[k], v]) for k, v in new.items()} if kept else new

    # -- epoch ends ------------------------------------------------------------------------------------------
    def _log_metrics(self, stage: str) -> dict[str, torch.Tensor]:
        if self.eval_sets is not None and stage != "train":
            return self._log_eval_sets(stage)
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

    def _log_eval_sets(self, stage: str) -> dict[str, torch.Tensor]:
        """Every set's scores as ``<stage>/<set>/<key>``; at test, the tables printed."""
        scores = self.eval_sets.compute(self.device)
        headlines = {self.eval_sets.headline(n) for n in self.eval_sets.names}
        for key, value in scores.items():  # equal on every process: the mean over processes changes nothing
            self.log(f"{stage}/{key}", value, prog_bar=key in headlines, sync_dist=True)
        if stage == "test":
            rank_zero_info("\n" + self.eval_sets.tables(scores, stage))
        return {k: torch.tensor(v) for k, v in scores.items()}

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
        self._overlay_batch = None
        if self.eval_sets is not None:
            self.eval_sets.reset()

    def on_validation_epoch_end(self) -> None:
        values = self._log_metrics("val")
        if self.trainer.sanity_checking:
            return
        if self.best_key not in values:
            raise KeyError(f"model.best_metric {self.best_key!r} is not among the validation metrics {sorted(values)}")
        sign = -1.0 if lower_is_better(self.best_key) else 1.0  # val_best keeps the maximum of sign · value
        self.val_best(sign * values[self.best_key].to(self.device))
        self.log(f"val/{self.best_key}_best", sign * self.val_best.compute(), prog_bar=True)
        self._log_overlays()

    def on_test_epoch_start(self) -> None:
        self._outputs = []
        if self.eval_sets is not None:
            self.eval_sets.reset()

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
        """The kept validation samples drawn (2D: overlays; 3D: each overlay beside its 3D plot), logged and saved
        in the run folder's ``overlays/``."""
        batch, self._overlay_batch = self._overlay_batch, None
        if batch is None or not self.trainer.is_global_zero:
            return
        host = {k: (v.float() if v.is_floating_point() else v).cpu().numpy() for k, v in batch.items()}
        images = batch["image"].permute(0, 2, 3, 1).cpu().numpy()
        xy = self.codec.decode(host["pose"][..., :2])
        truth = self.codec.decode(host["target_uv"])
        epoch = self.current_epoch
        title = f"val, epoch {epoch}"
        if host["pose"].shape[-1] == 3:
            truth3d = np.concatenate([host["target_uv"], host["target_z"][..., None]], axis=-1)
            valid3d = host["target_valid"] & host["target_z_valid"]
            grid = validation_overlays_3d(images, xy, truth, host["target_valid"], self.layout, host["pose"], truth3d,
                                          valid3d, host["vis"], title)  # fmt: skip
        else:
            grid = validation_overlays(images, xy, truth, host["target_valid"], self.layout, host["vis"], title)
        png = Path(self.trainer.default_root_dir) / "overlays" / epoch_file_name("val_overlays", epoch, ".png")
        log_image(self.trainer, "val/overlays", grid, epoch, png_path=png)

    # -- optimisation ----------------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict:
        params = [p for p in self.parameters() if p.requires_grad]
        return build_optimizers(self.hparams.optimizer, self.hparams.scheduler, params)
