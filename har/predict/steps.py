"""The prediction steps Lightning's predict loop runs: a loaded PoseModule or ActionModule, wrapped.

The wrappers add only ``predict_step``; every number comes from the wrapped module's own code path (the pose
module's ``predict_pose`` with its flip test and ``to_image_pixels``; the action module's ``forward``), so
``predict.py`` predicts what ``evaluate.py`` scores.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from har.codec import HeatmapCodec
from har.geometry.affine import apply_affine_torch
from har.lit.action import HEADS, ActionModule
from har.lit.pose import PoseModule


class PosePredictor(pl.LightningModule):
    """Crops (N, 3, H, W) → keypoints in original pixels.

    ``predict_step`` returns ``xy`` (N, J, 2), ``vis`` (N, J) (flip-test averaged when the module flip-tests), for a
    3D network also ``pose3d`` (N, J, 3), the normalised (x, y, z) in the crop (z: depth over root ± 1000 mm), and
    passes the batch's other entries (``frame``, ``bbox``, ``box_score``, ``box_id``, what was left out: see
    :class:`~har.predict.datasets.PoseFrameDataset`) through, all on the CPU.
    """

    def __init__(self, module: PoseModule, flip_test: bool | None = None) -> None:
        super().__init__()
        self.module = module
        if flip_test is not None:
            module.hparams.flip_test = bool(flip_test)

    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        passed = {k: v.cpu() for k, v in batch.items() if k not in ("image", "crop_to_image", "flipped")}
        three_d = self.module.net.dim == 3
        if batch["image"].shape[0] == 0:  # frames without boxes
            j = self.module.layout.num_joints
            empty = {"pose3d": torch.zeros(0, j, 3)} if three_d else {}
            return {"xy": torch.zeros(0, j, 2), "vis": torch.zeros(0, j), **empty, **passed}
        _, pose, vis = self.module.predict_pose(batch["image"])
        xy = self.module.to_image_pixels(pose, batch)
        extra = {"pose3d": self.module.unflip(pose, batch).float().cpu()} if three_d else {}
        return {"xy": xy.float().cpu(), "vis": vis.float().cpu(), **extra, **passed}


class ActionPredictor(pl.LightningModule):
    """Clips (B, T, 3, H, W) → class probabilities of one head, and the pose network's per-frame skeletons.

    ``predict_step`` returns ``probs`` (B, A) (softmax of ``head``'s logits), ``xy`` (B, T, J, 2) in original
    pixels and ``vis`` (B, T, J) from the pose network's last block, ``window`` (B,) and ``positions`` (B, T).
    """

    def __init__(self, module: ActionModule, head: str = "fused") -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"action head {head!r}: expected one of {HEADS}")
        self.module = module
        self.head = head
        self.codec = HeatmapCodec(tuple(module.pose_net.input_size))

    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        frames = batch["frames"]
        b, t = frames.shape[:2]
        captured = []  # the pose network's output inside the module's own forward (not run a second time)
        handle = self.module.pose_net.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            out = self.module(frames)
        finally:
            handle.remove()
        probs = self.module.head_logits(out)[HEADS.index(self.head)].float().softmax(-1)
        pose = captured[0]
        uv = pose.pose[-1, ..., :2].float()  # (B·T, J, 2)
        xy = apply_affine_torch(self.codec.decode_torch(uv), batch["crop_to_image"].flatten(0, 1).float())
        return {"probs": probs.cpu(), "xy": xy.unflatten(0, (b, t)).cpu(),
                "vis": pose.visibility[-1, ..., 0].float().unflatten(0, (b, t)).cpu(),
                "window": batch["window"].cpu(), "positions": batch["positions"].cpu()}  # fmt: skip
