"""What ``predict.py`` does, given a composed Hydra config (``conf/predict.yaml``)."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import TQDMProgressBar
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from har.checkpoints import clip_settings, data_settings, read_checkpoint
from har.data.transforms.clip import ClipTransform
from har.data.transforms.topdown import TopDownTransform
from har.lit.action import ActionModule
from har.lit.common import load_module, use_onnx_runtime
from har.predict.boxes import load_boxes
from har.predict.datasets import ActionWindowDataset, PoseFrameDataset, collate_crops, sliding_windows
from har.predict.inputs import FrameSource, open_input
from har.predict.steps import ActionPredictor, PosePredictor
from har.predict.writer import Depth, PredictionWriter
from har.utils.resolvers import register_resolvers

log = logging.getLogger(__name__)
register_resolvers()  # ${amp_precision:} of trainer=gpu


def _pick(value, default):
    return default if value is None else value


def _loader(dataset, cfg: DictConfig, collate_fn=None) -> DataLoader:
    workers = int(cfg.get("num_workers", 0))
    return DataLoader(dataset, batch_size=int(cfg.batch_size), shuffle=False, num_workers=workers,
                      collate_fn=collate_fn, persistent_workers=False)  # fmt: skip


def _pose_parts(cfg: DictConfig, module, source: FrameSource, data_hp: dict, out_dir: Path):
    boxes, file_ids = (None, {}) if cfg.boxes is None else load_boxes(cfg.boxes, source, cfg.min_box_score,
                                                                       cfg.category_id)  # fmt: skip
    transform = TopDownTransform(
        module.layout, tuple(module.net.input_size), _pick(cfg.padding, data_hp.get("padding", 1.25))
    )
    reduced = bool(_pick(cfg.reduced_decode, data_hp.get("reduced_decode", False))) and not source.is_video
    dataset = PoseFrameDataset(source, boxes, transform, reduced)
    image_ids = [file_ids.get(f.index, f.image_id) for f in source.frames]
    depth = None
    if module.net.dim == 3:
        d = cfg.get("pose3d") or {}
        depth = Depth(d.get("depth_range", 2000.0), d.get("root_depth"), d.get("focal"), d.get("plot", True))
    writer = PredictionWriter(out_dir, source, module.layout, image_ids, overlays=cfg.overlays,
                              video_codec=cfg.get("video_codec", "auto"), depth=depth)  # fmt: skip
    return PosePredictor(module, cfg.flip_test), _loader(dataset, cfg, collate_crops), writer


def _action_parts(cfg: DictConfig, module: ActionModule, source: FrameSource, clip: dict, out_dir: Path):
    a = cfg.action
    num_frames, frame_step = int(_pick(a.num_frames, clip["num_frames"])), int(_pick(a.frame_step, clip["eval_stride"]))
    windows = sliding_windows(len(source), num_frames, frame_step, a.stride)
    stride = int(windows[1][0] - windows[0][0]) if len(windows) > 1 else None
    image_size = source.frame_size()
    boxes = None
    if cfg.boxes is not None:
        per_frame, _ = load_boxes(cfg.boxes, source, cfg.min_box_score, cfg.category_id)
        boxes = np.stack([b.best() for b in per_frame])  # one person per frame: the highest-scoring box
    transform = ClipTransform(tuple(module.pose_net.input_size), _pick(a.crop, clip["crop"]),
                              _pick(a.padding, clip["padding"]))  # fmt: skip
    dataset = ActionWindowDataset(source, boxes, windows, transform, image_size)
    settings = {"head": a.head, "num_frames": num_frames, "frame_step": frame_step, "stride": a.stride or stride}
    log.info("action: %d windows of %d frames, %d apart (window stride %s) over %d frames", len(windows), num_frames,
             frame_step, settings["stride"], len(source))  # fmt: skip
    writer = PredictionWriter(out_dir, source, module.layout, [f.image_id for f in source.frames], module.classes,
                              settings, a.top_k, cfg.overlays, cfg.get("video_codec", "auto"))  # fmt: skip
    return ActionPredictor(module, a.head), _loader(dataset, cfg), writer


def predict(cfg: DictConfig) -> dict[str, Path | list[Path]]:
    """Predict on ``cfg.input`` with ``cfg.ckpt_path``; write results and overlays into the run folder. Returns the
    files written (``predictions``/``windows``, ``overlays``)."""
    if not cfg.get("ckpt_path"):
        raise ValueError("predict.py needs ckpt_path=PATH (a pose or action checkpoint)")
    if not cfg.get("input"):
        raise ValueError("predict.py needs input=PATH (an image, a folder of images, or a video)")
    ckpt = read_checkpoint(cfg.ckpt_path)  # a clear error for a missing or foreign file before anything else
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed)
    torch.set_float32_matmul_precision(cfg.get("matmul_precision", "high"))
    source = open_input(cfg.input)
    module = load_module(cfg.ckpt_path, ckpt, tool="predict.py")
    out_dir = Path(cfg.paths.output_dir)
    if cfg.get("runtime", "torch") == "onnx":
        use_onnx_runtime(module, out_dir / "onnx")
    if isinstance(module, ActionModule):
        predictor, loader, writer = _action_parts(cfg, module, source, clip_settings(ckpt), out_dir)
    else:
        predictor, loader, writer = _pose_parts(cfg, module, source, data_settings(ckpt), out_dir)
    del ckpt
    trainer = instantiate(cfg.trainer, callbacks=[writer, TQDMProgressBar(refresh_rate=1)], logger=False,
                          enable_model_summary=False)  # fmt: skip
    if trainer.world_size > 1:
        raise ValueError("predict.py runs on one device (trainer.devices=1)")
    trainer.predict(predictor, dataloaders=loader, return_predictions=False)
    for name, files in writer.files.items():
        log.info("%s: %s", name, files if isinstance(files, Path) else f"{len(files)} file(s) in {files[0].parent}")
    return writer.files
