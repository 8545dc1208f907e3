"""ActionModule: deephar's multitask action recogniser — the pose network feeding pose and appearance branches.

Stages are configuration: ``train_pose=false`` freezes the pose network (weights and BatchNorm statistics) and
trains the action part; ``unfreeze_pose_at_epoch=N`` then fine-tunes everything from epoch N (deephar's recipe:
pose net, then action part, then all). With a pose-labelled batch beside each action batch (``batch["pose"]``,
see :class:`har.data.datamodules.multitask.MultitaskDataModule`), the pose loss is added with weight
``pose_loss_weight``.

:class:`ClipActionModule` holds what every action LightningModule shares (the heads' loss, clip metrics exact under
DDP, confusion matrices, test predictions, optimisers); :class:`ActionModule` feeds it clips through the pose
network, :class:`~har.lit.feature_action.FeatureActionModule` saved pose features.
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from torchmetrics import MaxMetric

from har.checkpoints import load_pose_weights, read_checkpoint
from har.layouts import get_layout
from har.lit.clip_pose import clip_pose_targets, has_clip_poses
from har.lit.common import build_optimizers, plain
from har.metrics.classification import ClipClassification
from har.models.action_net import ActionOutput, DeepHARAction, pose_inputs_from_heatmaps
from har.models.losses import pose_loss
from har.models.pose_net import DeepHARPose, PoseNetOutput, pose_network_input
from har.utils.wandb import log_table
from har.vis.figures import draw_confusion
from har.vis.logging import epoch_file_name, log_image

FROZEN_POSE_BN = ("eval", "batch_stats")  # see ActionModule's frozen_pose_bn
HEADS = ("fused", "pose", "appearance", "pose_fused", "appearance_fused")  # reported in this order
DEEPHAR_HEAD_WEIGHTS = {"pose": 1.0, "appearance": 1.0, "fused": 1.0, "pose_fused": 0.0, "appearance_fused": 0.0}


def block_names(num_blocks: int) -> tuple[str, ...]:
    """deephar's action outputs in its order (p1..pN, v1..vN, m): ``pose_block1``.., ``appearance_block1``..,
    ``fused``; ``best_block`` is a 1-based position in this tuple."""
    pose = [f"pose_block{b}" for b in range(1, num_blocks + 1)]
    return (*pose, *(f"appearance_block{b}" for b in range(1, num_blocks + 1)), "fused")


PLACEHOLDER_CLASS = re.compile(r"action_\d+")  # what har.tools.import_deephar names classes it cannot know


def reconcile_classes(model_classes: list[str], data_classes: list[str]) -> list[str]:
    """The class names a run reports: the model's, which must be the data's, in the same order (label k is the
    model's output k). A model whose names are placeholders (``action_1``..``action_N``: an imported deephar model
    whose file does not name its classes) takes the data's names when their numbers agree. Anything else is an
    error naming the first difference."""
    if model_classes == data_classes:
        return model_classes
    if len(model_classes) == len(data_classes) and all(PLACEHOLDER_CLASS.fullmatch(c) for c in model_classes):
        rank_zero_info(f"the model's {len(model_classes)} classes are unnamed: they take the data's names in order "
                       f"({data_classes[0]!r}, ...)")  # fmt: skip
        return list(data_classes)
    if len(model_classes) != len(data_classes):
        problem = f"the model has {len(model_classes)} classes, the data {len(data_classes)}"
    else:
        k = next(i for i, (a, b) in enumerate(zip(model_classes, data_classes)) if a != b)
        problem = f"label {k} is {model_classes[k]!r} in the model, {data_classes[k]!r} in the data"
    raise ValueError(
        f"the model's classes (model.classes, or the checkpoint's) are not the datamodule's: {problem}. Train with "
        "model.classes=${data.classes}, or evaluate a checkpoint on the data it was trained on (for an imported "
        "deephar model: model.classes=[...] when converting, in the order of its outputs)"
    )


class ClipActionModule(pl.LightningModule):
    """What the action LightningModules share: cross-entropy on the weighted heads, clip metrics (top-1, mean-class,
    top-5, per head; exact under DDP, multi-clip averaged), confusion matrices, ``test_predictions``, optimisers.

    Subclasses build ``self.action_net`` (a :class:`DeepHARAction`), call :meth:`init_heads`, and implement
    :meth:`action_outputs`; their hyper-parameters include ``optimizer`` and ``scheduler``.
    """

    action_net: DeepHARAction

    def init_heads(
        self,
        classes: list[str],
        head_weights: dict | None,
        num_blocks: int,
        fusion: str = "product",
        short_videos: str = "scored",
    ) -> None:
        """Classes, loss weight per head (deephar's where not given), metrics per stage (every head and every block
        of both branches; a video's clips fused by ``fusion``; short videos counted as ``short_videos`` says, see
        :mod:`har.metrics.clip_fusion`), best-score tracker."""
        self.classes = list(classes)
        self.head_weights = {**DEEPHAR_HEAD_WEIGHTS, **(head_weights or {})}
        unknown = set(self.head_weights) - set(HEADS)
        if unknown:
            raise ValueError(f"model.head_weights: unknown heads {sorted(unknown)}; heads are {HEADS}")
        self.block_names = block_names(num_blocks)
        metric_heads = (*HEADS, *self.block_names[:-1])  # the fused output is HEADS[0]
        self.metrics = torch.nn.ModuleDict(
            {
                stage: ClipClassification(len(self.classes), metric_heads, fusion, short_videos, self.block_names)
                for stage in ("fit", "validate", "test")
            }
        )
        self.val_best = MaxMetric()
        self.val_best.persistent(True)  # in checkpoints: a resumed run keeps its best value
        self.test_predictions: list[dict] = []

    def action_outputs(self, batch: dict) -> ActionOutput:
        """The action logits of an action batch."""
        raise NotImplementedError

    def clip_outputs(self, batch: dict, stage_key: str) -> tuple[ActionOutput, torch.Tensor | float]:
        """The action logits of an action batch and a loss on the same clips added to the action loss (the pose
        loss where the clips carry poses); 0 by default."""
        return self.action_outputs(batch), 0.0

    def auxiliary_loss(self, batch: dict) -> torch.Tensor | float:
        """A training loss added to the action loss (the multitask pose loss); 0 by default."""
        return 0.0

    @staticmethod
    def head_logits(out: ActionOutput) -> torch.Tensor:
        """(len(HEADS), B, A): fused, last pose block, last appearance block, pose-only, appearance-only."""
        return torch.stack([out.fused, out.pose[-1], out.appearance[-1], out.pose_fused, out.appearance_fused])

    @staticmethod
    def metric_logits(out: ActionOutput) -> torch.Tensor:
        """(len(HEADS) + 2N − 1, B, A): :meth:`head_logits`, then every block of each branch but the fused output,
        in the order of :func:`block_names` (pose_block1..N, appearance_block1..N)."""
        return torch.cat([ClipActionModule.head_logits(out), out.pose, out.appearance])

    def action_loss(self, out: ActionOutput, labels: torch.Tensor) -> torch.Tensor:
        w = self.head_weights
        terms = [w["fused"] * F.cross_entropy(out.fused.float(), labels)]
        terms += [w["pose"] * F.cross_entropy(o.float(), labels) for o in out.pose]
        terms += [w["appearance"] * F.cross_entropy(o.float(), labels) for o in out.appearance]
        terms += [w["pose_fused"] * F.cross_entropy(out.pose_fused.float(), labels)]
        terms += [w["appearance_fused"] * F.cross_entropy(out.appearance_fused.float(), labels)]
        return torch.stack(terms).sum()

    # -- steps -----------------------------------------------------------------------------------------------
    def _action_step(self, batch: dict, stage: str) -> torch.Tensor:
        key = {"fit": "train", "validate": "val", "test": "test"}[stage]
        out, clip_loss = self.clip_outputs(batch, key)
        labels = batch["label"]
        loss = self.action_loss(out, labels)
        probs = self.metric_logits(out).float().softmax(-1)
        video = batch.get("video", batch["index"])
        self.metrics[stage].update(probs, labels, batch["index"], video, batch.get("short"), batch.get("flipped"))
        train = stage == "fit"
        self.log(f"{key}/loss_action", loss, on_step=train, on_epoch=True, prog_bar=True,
                 batch_size=len(labels), sync_dist=not train)  # fmt: skip
        return loss + clip_loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        action_batch = batch.get("action", batch)
        loss = self._action_step(action_batch, "fit") + self.auxiliary_loss(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=False, batch_size=len(action_batch["label"]))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._action_step(batch, "validate")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._action_step(batch, "test")

    # -- epoch ends ------------------------------------------------------------------------------------------
    def _log_epoch(self, stage: str) -> dict:
        metric = self.metrics[stage]
        values = metric.compute()
        key = {"fit": "train", "validate": "val", "test": "test"}[stage]
        confusion = values.pop("confusion", None)
        for name, value in values.items():
            self.log(f"{key}/{name}", value, prog_bar=name == "acc")
        if "best_block" in values and stage == "test":
            best = self.block_names[int(values["best_block"]) - 1]
            best_acc = float(values["acc_best_block"])
            rank_zero_info(f"{key}: accuracy {float(values['acc']):.4f} (fused output); best block {best} "
                           f"{best_acc:.4f} (deephar's 'best': selected on this set)")  # fmt: skip
        if confusion is not None and stage != "fit" and not self.trainer.sanity_checking:
            self._log_confusion(key, confusion.cpu().numpy(), float(values["acc_macro"]))
        if stage == "test":
            with metric.sync_context():  # every device's clips (repeats dropped), not only this device's
                probs, labels, short, videos = metric.per_video()
            rows = zip(videos.tolist(), probs[:, 0].cpu().numpy().round(5), labels.tolist(), short.tolist())
            self.test_predictions = [
                {"video": v, "label": lab, "pred": int(pr.argmax()), "short": s, "probs": pr.tolist()}
                for v, pr, lab, s in rows
            ]
        metric.reset()
        return values

    def _log_confusion(self, key: str, confusion: np.ndarray, mean_class_accuracy: float) -> None:
        """``confusion/<key>_confusion[_epoch_NNN].{csv,png}`` (validation per epoch, test once) and the loggers."""
        if not self.trainer.is_global_zero:
            return
        out_dir = Path(self.trainer.default_root_dir) / "confusion"
        out_dir.mkdir(parents=True, exist_ok=True)
        epoch = self.current_epoch if key == "val" else None
        with (out_dir / epoch_file_name(f"{key}_confusion", epoch, ".csv")).open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["true \\ predicted", *self.classes])
            for name, row in zip(self.classes, confusion):
                writer.writerow([name, *row.tolist()])
        title = key if epoch is None else f"{key}, epoch {epoch}"
        image = draw_confusion(confusion, self.classes, title, mean_class_accuracy)
        png = out_dir / epoch_file_name(f"{key}_confusion", epoch, ".png")
        log_image(self.trainer, f"{key}/confusion", image, self.current_epoch, png_path=png)
        rows = [[name, *row.tolist()] for name, row in zip(self.classes, confusion)]
        log_table(self.trainer, f"{key}/confusion_table", ["true \\ predicted", *self.classes], rows)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("fit")

    def setup(self, stage: str) -> None:
        """Check the model against the datamodule it runs on (its ``classes``, and for clips carrying poses its
        ``layout``): see :func:`reconcile_classes`."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        data_classes = getattr(datamodule, "classes", None)
        if data_classes is not None:
            self.classes = reconcile_classes(self.classes, list(data_classes))
            self.hparams["classes"] = list(self.classes)  # checkpoints keep the names
        self.check_data_layout(datamodule)

    def check_data_layout(self, datamodule) -> None:
        """Raise if the datamodule's clips carry poses in another joint layout than the model's (none here)."""

    def on_train_start(self) -> None:
        self.metrics["validate"].reset()  # the sanity check's validation must not count toward the best score

    def on_validation_epoch_end(self) -> None:
        values = self._log_epoch("validate")
        if not self.trainer.sanity_checking:
            self.val_best(values["acc"])
            self.log("val/acc_best", self.val_best.compute(), prog_bar=True)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    # -- optimisation ----------------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict:
        # Every parameter, frozen ones included: they get no gradient (so no update) until unfrozen.
        return build_optimizers(self.hparams.optimizer, self.hparams.scheduler, list(self.parameters()))


class ActionModule(ClipActionModule):
    """Clips (B, T, 3, H, W) → action logits of every head; cross-entropy on the weighted heads.

    Args:
        pose_net: keyword arguments of :class:`DeepHARPose` (its input size is the clip crops' size).
        action_net: keyword arguments of :class:`DeepHARAction` besides those the pose net fixes
            (``pose_version``, ``num_blocks``).
        classes: class names; their number is the number of actions.
        optimizer, scheduler: ``_target_`` specs as in :class:`~har.lit.pose.PoseModule`
            (deephar: SGD lr 1e-3, momentum 0.95, Nesterov).
        layout: joint layout of the pose network (for the multitask pose loss and drawings).
        pose_ckpt: pose weights to start from (a PoseModule or ActionModule checkpoint), or None (from scratch).
        train_pose: train the pose network; false freezes it (eval mode, no gradients).
        unfreeze_pose_at_epoch: with ``train_pose=false``, unfreeze from this epoch on (full fine-tuning).
        pose_warmup_epochs: for the first N epochs of training the action losses stop at the pose network's outputs
            (no gradient into it): the pose network learns from the pose losses alone (the multitask pose batches,
            the clips' own poses) while the action part learns on its outputs; from epoch N everything trains on
            every loss. For a pose network trained from scratch together with the action part (``synthetic_*``):
            the action losses, 9 heads' cross-entropies summed, otherwise dominate its gradient while its joints
            are still meaningless. 0 (default): off, as deephar.
        head_weights: loss weight per head (``pose``/``appearance`` apply to every block of the branch). deephar:
            1 on the 4 + 4 blocks and the fused head; the fork also put 1 on ``pose_fused``/``appearance_fused``.
        pose_loss_weight: weight of the pose loss on pose-labelled batches (multitask training).
        channels_last: run the pose network in channels_last (GPU speed).
        init_ckpt: an ActionModule checkpoint whose weights (pose and action parts) start this run, e.g. the first
            stage's for the fine-tuning stage.
        frozen_pose_bn: how the BatchNorm layers of a frozen pose network (``train_pose=false``) normalise during
            training steps. ``eval`` (har's default): with their moving statistics, as at evaluation, so the frozen
            network computes exactly what it computes at test time (and what the decoupled mode saves).
            ``batch_stats`` (deephar's Keras 2.1.4 behaviour): with the statistics of the current batch (over all
            B·T frames), as Keras' ``BatchNormalization`` does in the training phase whatever ``trainable`` says;
            evaluation still uses the moving statistics. Either way the moving statistics of a frozen network are
            never updated (Keras ≥ 2.1.3 skips the updates of non-trainable models).
        clip_pose_loss_weight: weight of the pose loss on the frames of clips that carry poses (``pose_uv``,
            ``pose_valid``, 3D: ``pose_z``, ``pose_z_valid``; Penn Action and NTU), added while the pose network
            trains (deephar's ``pose_predicted``; see :mod:`har.lit.clip_pose`); 0 turns it off.
        fusion: how a video's clips (and flipped clips) are combined at evaluation: ``product`` of the softmaxes
            (deephar) or ``mean``.
        short_videos: how a video shorter than one clip (``batch["short"]``, scored on one padded clip) counts:
            ``scored`` (like any other), ``wrong`` (never correct), ``deephar`` (always correct: deephar's
            evaluators' behaviour, for reproducing its numbers only); see :mod:`har.metrics.clip_fusion`.
    """

    checkpoint_kind = "action"  # what har.checkpoints calls a checkpoint of this module

    def __init__(
        self,
        pose_net: dict,
        action_net: dict,
        classes: list[str],
        optimizer: dict,
        scheduler: dict | None = None,
        layout: str = "coco17",
        pose_ckpt: str | None = None,
        train_pose: bool = True,
        unfreeze_pose_at_epoch: int | None = None,
        pose_warmup_epochs: int = 0,
        head_weights: dict | None = None,
        pose_loss_weight: float = 1.0,
        channels_last: bool = False,
        init_ckpt: str | None = None,
        frozen_pose_bn: str = "eval",
        clip_pose_loss_weight: float = 1.0,
        fusion: str = "product",
        short_videos: str = "scored",
    ) -> None:
        super().__init__()
        if frozen_pose_bn not in FROZEN_POSE_BN:
            raise ValueError(f"model.frozen_pose_bn must be one of {FROZEN_POSE_BN}, got {frozen_pose_bn!r}")
        if pose_warmup_epochs < 0:
            raise ValueError(f"model.pose_warmup_epochs must be >= 0, got {pose_warmup_epochs}")
        hp = {k: plain(v) for k, v in locals().items() if k not in ("self", "__class__")}
        self.save_hyperparameters(hp)
        self.init_heads(classes, head_weights, hp["action_net"].get("num_blocks", 4), fusion, short_videos)
        self.layout = get_layout(layout)
        self.pose_net = DeepHARPose(**hp["pose_net"])
        if pose_ckpt:
            load_pose_weights(self.pose_net, pose_ckpt)
        self.action_net = DeepHARAction(
            num_actions=len(self.classes),
            num_joints=self.pose_net.num_joints,
            dim=self.pose_net.dim,
            feature_channels=self.pose_net.width,
            **hp["action_net"],
        )
        if init_ckpt:
            self.load_state_dict(read_checkpoint(init_ckpt)["state_dict"])
        self.set_pose_trainable(train_pose)
        if channels_last:
            self.pose_net.to(memory_format=torch.channels_last)

    # -- pose network freezing -------------------------------------------------------------------------------
    def set_pose_trainable(self, trainable: bool) -> None:
        """Freeze (weights, BatchNorm statistics) or unfreeze the pose network; see ``frozen_pose_bn``."""
        self.pose_trainable = trainable
        self.pose_net.requires_grad_(trainable)
        # batch_stats: a frozen network's BatchNorms normalise with the batch's statistics in training mode and keep
        # their moving statistics untouched (PyTorch: track_running_stats=False while training; the stored moving
        # statistics are still used in eval mode because the buffers exist).
        batch_stats = not trainable and self.hparams.frozen_pose_bn == "batch_stats"
        for m in self.pose_net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.track_running_stats = not batch_stats
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        if not getattr(self, "pose_trainable", True) and self.hparams.frozen_pose_bn == "eval":
            self.pose_net.eval()  # a frozen pose network normalises with its moving statistics
        return self

    def check_data_layout(self, datamodule) -> None:
        """Clips carrying poses (a datamodule with ``pose_dim``) must be in the model's joint layout."""
        if self.hparams.clip_pose_loss_weight <= 0 or getattr(datamodule, "pose_dim", None) is None:
            return
        data_layout = getattr(datamodule, "layout", None)
        if data_layout is not None and data_layout != self.hparams.layout:
            raise ValueError(f"the datamodule's poses are in layout {data_layout!r}, the model's in "
                             f"{self.hparams.layout!r}: set model.layout (and the pose network's joints) to the "
                             "data's, or data.layout to the model's, or model.clip_pose_loss_weight=0")  # fmt: skip

    def on_fit_start(self) -> None:
        if not self.pose_trainable and self.hparams.frozen_pose_bn == "eval":
            # Lightning warns about modules in eval mode at the start of training: here that is the frozen pose
            # network, on purpose (its BatchNorm layers normalise with their moving statistics).
            warnings.filterwarnings("ignore", r"Found \d+ module\(s\) in eval mode", PossibleUserWarning)
            rank_zero_info("the frozen pose network stays in eval mode while training (model.frozen_pose_bn=eval)")
        if self.hparams.unfreeze_pose_at_epoch is not None and self.trainer.world_size > 1:
            # DDP wraps only the parameters that need gradients when training starts: parameters unfrozen later
            # would not be synchronised across devices.
            raise ValueError(
                "model.unfreeze_pose_at_epoch does not work with several devices: train in two runs instead "
                "(model.train_pose=false, then model.train_pose=true model.init_ckpt=<first run's checkpoint>)"
            )

    def on_train_epoch_start(self) -> None:
        at = self.hparams.unfreeze_pose_at_epoch
        if not self.pose_trainable and at is not None and self.current_epoch >= at:
            self.set_pose_trainable(True)
        warmup = self.hparams.get("pose_warmup_epochs", 0)
        if warmup and self.current_epoch in (0, warmup):
            state = (f"train the action part only until epoch {warmup} (model.pose_warmup_epochs)"
                     if self.current_epoch < warmup else "reach the pose network from now on")  # fmt: skip
            rank_zero_info(f"epoch {self.current_epoch}: the action losses {state}")

    def pose_warming_up(self) -> bool:
        """True in training steps of the first ``pose_warmup_epochs`` epochs: action gradients stop at the pose
        network's outputs."""
        warmup = self.hparams.get("pose_warmup_epochs", 0)
        return bool(warmup) and self.training and self._trainer is not None and self.current_epoch < warmup

    # -- forward ---------------------------------------------------------------------------------------------
    def _pose_input(self, images: torch.Tensor) -> torch.Tensor:
        return pose_network_input(images, self.hparams.channels_last)

    def forward(self, frames: torch.Tensor) -> ActionOutput:
        """frames (B, T, 3, H, W) uint8 RGB (or float in [-1, 1]) → :class:`ActionOutput` logits."""
        return self.forward_with_pose(frames)[0]

    def forward_with_pose(self, frames: torch.Tensor) -> tuple[ActionOutput, PoseNetOutput]:
        """frames (B, T, 3, H, W) → action logits and the pose network's output on the B·T frames (clip-major)."""
        num_frames = frames.shape[1]
        pose = self.pose_net(self._pose_input(frames.flatten(0, 1)))
        y, p, hs_prob = pose_inputs_from_heatmaps(self.pose_net, pose.heatmaps)
        y, p, hs_prob, features = (v.unflatten(0, (-1, num_frames)) for v in (y, p, hs_prob, pose.features.float()))
        if self.pose_warming_up():
            y, p, hs_prob, features = (v.detach() for v in (y, p, hs_prob, features))
        return self.action_net(y, p, hs_prob, features), pose

    def action_outputs(self, batch: dict) -> ActionOutput:
        return self(batch["frames"])

    def clip_outputs(self, batch: dict, stage_key: str) -> tuple[ActionOutput, torch.Tensor | float]:
        """Action logits and, where the clips carry poses, the weighted pose loss on their frames: added to the
        training loss while the pose network trains; logged (``{stage}/loss_pose_clip``) in every stage."""
        weight = self.hparams.clip_pose_loss_weight
        if weight <= 0 or not has_clip_poses(batch):
            return self.action_outputs(batch), 0.0
        out, pose = self.forward_with_pose(batch["frames"])
        target, valid, visible = clip_pose_targets(batch, self.pose_net.dim)
        if target.shape[1] != self.pose_net.num_joints:
            raise ValueError(f"clip poses have {target.shape[1]} joints, the pose network {self.pose_net.num_joints} "
                             f"(layout {self.hparams.layout}): the data's layout must be the model's")  # fmt: skip
        loss = pose_loss(pose.pose, pose.visibility, target, valid, visible)["loss"]
        train = stage_key == "train"
        self.log(f"{stage_key}/loss_pose_clip", loss, on_step=train, on_epoch=True, batch_size=len(batch["label"]),
                 sync_dist=not train)  # fmt: skip
        return out, weight * loss if train and self.pose_trainable else 0.0

    def auxiliary_loss(self, batch: dict) -> torch.Tensor | float:
        """Multitask: the pose loss on the batch's pose frames (``batch["pose"]``), weighted."""
        if "pose" not in batch or self.hparams.pose_loss_weight <= 0:
            return 0.0
        pose_batch = batch["pose"]
        out = self.pose_net(self._pose_input(pose_batch["image"]))
        valid = pose_batch["target_valid"]
        plos = pose_loss(out.pose, out.visibility, pose_batch["target_uv"], valid, valid.float())["loss"]
        self.log("train/loss_pose", plos, on_step=True, on_epoch=True, batch_size=len(valid))
        return self.hparams.pose_loss_weight * plos
