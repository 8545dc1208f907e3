"""FeatureActionModule: deephar's action model trained alone on saved pose features (the decoupled mode).

The pose network ran once (``python -m har.tools.extract_pose_features``); batches of
:class:`~har.data.datamodules.pose_features.PoseFeatureDataModule` carry its outputs per clip, and
:meth:`DeepHARAction.forward_pooled` is the same function :class:`~har.lit.action.ActionModule` computes
with a frozen pose network. Loss, metrics, logging and optimisers are :class:`ClipActionModule`'s.
"""

from __future__ import annotations

import torch

from har.lit.action import ClipActionModule
from har.lit.common import plain
from har.models.action_net import ActionOutput, DeepHARAction


class FeatureActionModule(ClipActionModule):
    """Pose features y (B, T, J, D), p (B, T, J, 1), pooled (B, T, J, C) → action logits of every head.

    Args:
        classes: class names; their number is the number of actions.
        optimizer, scheduler: ``_target_`` specs as in :class:`~har.lit.action.ActionModule`.
        num_joints, dim, feature_channels: J, D and C of the features, i.e. of the pose network that made them
            (its ``num_joints``, 2 or 3 with depth bins, its ``width``); checked against the files' meta.
        action_net: keyword arguments of :class:`DeepHARAction` (``pose_version``, ``num_blocks``, ``num_frames``,
            ``bn_momentum``).
        head_weights: loss weight per head, as ActionModule's.
        fusion, short_videos: evaluation protocol, as ActionModule's.
    """

    checkpoint_kind = "action_features"  # what har.checkpoints calls a checkpoint of this module

    def __init__(
        self,
        classes: list[str],
        optimizer: dict,
        num_joints: int = 17,
        dim: int = 2,
        feature_channels: int = 576,
        action_net: dict | None = None,
        scheduler: dict | None = None,
        head_weights: dict | None = None,
        fusion: str = "product",
        short_videos: str = "scored",
    ) -> None:
        super().__init__()
        hp = {k: plain(v) for k, v in locals().items() if k not in ("self", "__class__")}
        self.save_hyperparameters(hp)
        self.init_heads(classes, head_weights, (hp["action_net"] or {}).get("num_blocks", 4), fusion, short_videos)
        self.action_net = DeepHARAction(num_actions=len(self.classes), num_joints=num_joints, dim=dim,
                                        feature_channels=feature_channels, **(hp["action_net"] or {}))  # fmt: skip

    def forward(self, y: torch.Tensor, p: torch.Tensor, pooled: torch.Tensor) -> ActionOutput:
        return self.action_net.forward_pooled(y, p, pooled)

    def action_outputs(self, batch: dict) -> ActionOutput:
        return self(batch["y"], batch["p"], batch["pooled"])
