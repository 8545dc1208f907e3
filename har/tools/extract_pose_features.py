"""Save a pose network's outputs on every clip of an action dataset, to train the action head alone (decoupled mode).

    python -m har.tools.extract_pose_features ckpt_path=POSE_OR_ACTION.ckpt data=merl_action data.root=... out=DIR
    python train.py experiment=merl_action_features data.root=DIR          # the action head on DIR's features

The checkpoint is a PoseModule's (``net.*``) or an ActionModule's (its ``pose_net``); the data is any action clip
config (``data=merl_action``, ``synthetic_merl_action``, ``merl_videos``; a multitask config's ``action`` part),
composed from ``conf/`` as ``train.py`` does (``conf/extract_pose_features.yaml``). Clips are cropped at the pose
network's input size. Every split in ``splits`` is written to ``DIR/<split>.h5`` (a temporary file, then renamed),
and ``DIR/meta.json`` describes them.

Rows: each clip of a split as ``clips`` windows of T frames at the data's ``eval_stride`` spread over it (the
multi-clip test's windows; ``clips=1``: the centred window the evaluation uses), each also mirrored with ``flip``:
``clips · (2 if flip else 1)`` rows per clip, in clip order. Datasets of a file (N rows; float32 unless ``dtype``):

    y (N, T, J, D)             joint coordinates, crop-normalised (the action model's pose input)
    p (N, T, J)                joint probabilities (sigmoid of 4 · the heat maps' maximum)
    pooled (N, T, J, C)        the rBlock1 features pooled by each joint's heat-map softmax (`appearance_features`):
                               exactly what the appearance branch reads, (h·w / J)× smaller than the maps
    heatmaps (N, T, N_h, h, w) the last block's raw heat-map logits (only with save_heatmaps=true: large)
    label (N,) int64, video (N,) int64 the clip's index in the split, clip_id (N,) str, flipped (N,) bool,
    frame_indices (N, T) int64 the frames used (positions in the clip; video frame numbers for merl_videos)

The datasets are contiguous (no chunks, no compression), so readers memory-map them
(:mod:`har.data.formats.pose_features`).
Each file's ``meta`` attribute (JSON) repeats ``meta.json`` (the pose checkpoint's path and SHA-256, joint layout,
T, J, D, C, the map size, the classes, the data config) plus its split's row and clip counts.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HAR_ROOT", str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import h5py  # noqa: E402
import hydra  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig, OmegaConf, open_dict  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from tqdm import tqdm  # noqa: E402

from har.checkpoints import load_pose_network  # noqa: E402
from har.data.datasets.clips import MultiClipDataset  # noqa: E402
from har.models.action_net import appearance_features, clip_action_inputs  # noqa: E402
from har.models.pose_net import DeepHARPose, pose_network_input  # noqa: E402
from har.utils.io import atomic_path, write_json_atomic  # noqa: E402
from har.utils.resolvers import register_resolvers  # noqa: E402

log = logging.getLogger(__name__)
register_resolvers()

FORMAT, VERSION = "har.pose_features", 1
DTYPES = ("float32", "float16")


def pose_feature_rows(net: DeepHARPose, batch: dict, save_heatmaps: bool, dtype: str) -> dict[str, np.ndarray]:
    """The file's arrays for a batch of B clip rows (items of a :class:`MultiClipDataset`), B first."""
    frames = batch["frames"].to(next(net.parameters()).device, non_blocking=True)  # (B, T, 3, H, W)
    inputs = clip_action_inputs(net, pose_network_input(frames.flatten(0, 1)), frames.shape[1])
    store = getattr(torch, dtype)
    rows = {
        "y": inputs.y.float(),
        "p": inputs.p[..., 0].float(),
        "pooled": appearance_features(inputs.hs_prob, inputs.features).to(store),
        "label": batch["label"],
        "video": batch["video"],
        "flipped": batch["flipped"],
        "frame_indices": batch["frame_indices"],
    }
    if save_heatmaps:
        rows["heatmaps"] = inputs.heatmaps.to(store)
    rows = {k: v.cpu().numpy() for k, v in rows.items()}
    rows["clip_id"] = np.array(batch["clip_id"], dtype=object)
    return rows


@torch.inference_mode()
def extract_split(
    net: DeepHARPose,
    dataset: MultiClipDataset,
    path: Path,
    meta: dict,
    batch_size: int = 8,
    num_workers: int = 0,
    save_heatmaps: bool = False,
    dtype: str = "float32",
) -> dict:
    """Run ``net`` (eval mode, on its device) on every row of ``dataset``; write ``path`` atomically (a temporary
    file, then a rename); return the file's meta (``meta`` plus the split's counts and shapes)."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        pin_memory=torch.cuda.is_available())  # fmt: skip
    n = len(dataset)
    if n == 0:
        raise ValueError(f"{path.stem} split: no clips to extract")
    progress = tqdm(total=n, desc=f"{path.stem}: pose features", unit="clip")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f, progress as bar:
        arrays: dict[str, h5py.Dataset] = {}
        for batch in loader:
            rows = pose_feature_rows(net, batch, save_heatmaps, dtype)
            if not arrays:  # shapes known from the first batch; contiguous datasets (memory-mappable)
                for name, value in rows.items():
                    kind = h5py.string_dtype() if name == "clip_id" else value.dtype
                    arrays[name] = f.create_dataset(name, shape=(n, *value.shape[1:]), dtype=kind)
            for name, value in rows.items():
                arrays[name][bar.n : bar.n + len(value)] = value
            bar.update(len(rows["label"]))
        if bar.n != n:
            raise RuntimeError(f"{path}: wrote {bar.n} rows, expected {n}")
        _, t, j, d = arrays["y"].shape
        meta = {**meta, "split": path.stem, "rows": n, "num_clips": len(dataset.base), "num_frames": t,
                "num_joints": j, "dim": d, "feature_channels": arrays["pooled"].shape[-1],
                "heatmaps": save_heatmaps}  # fmt: skip
        if save_heatmaps:
            _, _, n_h, h, w = arrays["heatmaps"].shape
            meta.update(heatmap_channels=n_h, map_size=[h, w])
        f.attrs["meta"] = json.dumps(meta)
    return meta


def extract_pose_features(
    net: DeepHARPose,
    pose_info: dict,
    datamodule,
    out: str | Path,
    splits: tuple[str, ...] = ("train", "val", "test"),
    clips: int = 1,
    flip: bool = False,
    save_heatmaps: bool = False,
    dtype: str = "float32",
    batch_size: int = 8,
    num_workers: int = 0,
    device: str = "auto",
    data_config: dict | None = None,
) -> dict:
    """The pose network ``net`` (from :func:`load_pose_network`, with its ``pose_info``) on every split of an action
    clip ``datamodule`` (see the module docstring) → ``out``; returns the meta written to ``out/meta.json``. The
    datamodule's crops must be the pose network's input size; ``device="auto"``: CUDA when there is one."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: expected one of {DTYPES}")
    if not splits:
        raise ValueError("no splits to extract")
    if not callable(getattr(datamodule, "build_dataset", None)):
        raise ValueError(
            f"{type(datamodule).__name__} is not an action clip datamodule (no build_dataset(split, train)): "
            "use data=merl_action, synthetic_merl_action or merl_videos"
        )
    crop = tuple(datamodule.hparams.input_size)
    if crop != tuple(net.input_size):
        raise ValueError(f"the data crops clips at {crop} but the pose network's input size is {tuple(net.input_size)}")
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)
    net.eval().to(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    datamodule.prepare_data()
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "pose_checkpoint": {k: v for k, v in pose_info.items() if k != "layout"},
        "layout": pose_info["layout"],
        "classes": list(datamodule.classes),
        "clips_per_video": clips,
        "flip": flip,
        "dtype": dtype,
        "arrays": {
            "y": "(N, T, J, D) float32",
            "p": "(N, T, J) float32",
            "pooled": f"(N, T, J, C) {dtype}",
            "heatmaps": f"(N, T, N_h, h, w) {dtype}, with save_heatmaps",
            "label": "(N,) int64",
            "video": "(N,) int64",
            "clip_id": "(N,) str",
            "flipped": "(N,) bool",
            "frame_indices": "(N, T) int64",
        },
        "data": data_config,
    }
    written = {}
    for split in splits:
        dataset = MultiClipDataset(datamodule.build_dataset(split, train=False), clips, flip)
        split_meta = extract_split(net, dataset, out / f"{split}.h5", meta, batch_size, num_workers, save_heatmaps,
                                   dtype)  # fmt: skip
        written[split] = {"file": f"{split}.h5", "rows": split_meta["rows"], "num_clips": split_meta["num_clips"]}
        size = (out / f"{split}.h5").stat().st_size
        log.info("%s: %d clips, %d rows, %.1f MB", out / f"{split}.h5", split_meta["num_clips"], split_meta["rows"],
                 size / 1e6)  # fmt: skip
    common = {k: v for k, v in split_meta.items() if k not in ("split", "rows", "num_clips")}
    meta = {**common, "splits": written}
    write_json_atomic(out / "meta.json", meta)
    return meta


def _clip_data_config(data: DictConfig) -> DictConfig:
    """The action clip part of a data config (a multitask config's ``action``)."""
    if "action" in data and isinstance(data.action, DictConfig) and "_target_" in data.action:
        return data.action
    return data


@hydra.main(version_base="1.3", config_path="../../conf", config_name="extract_pose_features")
def main(cfg: DictConfig) -> None:
    from har.run.cli import user_errors  # a bad checkpoint or missing data: one line, exit status 2

    with user_errors(cfg):
        _extract(cfg)


def _extract(cfg: DictConfig) -> None:
    data = _clip_data_config(cfg.data)
    net, pose_info = load_pose_network(cfg.ckpt_path)
    with open_dict(data):
        if list(data.input_size) != list(net.input_size):
            log.info("cropping clips at the pose network's input size %s (data.input_size was %s)",
                     list(net.input_size), list(data.input_size))  # fmt: skip
        data.input_size = list(net.input_size)
    datamodule = instantiate(data, _convert_="all")

    def setting(key: str, data_key: str, default):  # null in the tool's config: the data config's value
        return cfg[key] if cfg[key] is not None else data.get(data_key, default)

    meta = extract_pose_features(
        net,
        pose_info,
        datamodule,
        cfg.out,
        splits=tuple(cfg.splits),
        clips=int(setting("clips", "test_clips", 1)),
        flip=bool(setting("flip", "test_flip", False)),
        save_heatmaps=bool(cfg.save_heatmaps),
        dtype=cfg.dtype,
        batch_size=int(setting("batch_size", "batch_size", 8)),
        num_workers=int(setting("num_workers", "num_workers", 0)),
        device=cfg.device,
        data_config=OmegaConf.to_container(data, resolve=True),
    )
    rows = ", ".join(f"{s} {v['num_clips']} clips / {v['rows']} rows" for s, v in meta["splits"].items())
    print(f"wrote {cfg.out}: {rows}; T={meta['num_frames']} J={meta['num_joints']} D={meta['dim']} "
          f"C={meta['feature_channels']}")  # fmt: skip


if __name__ == "__main__":
    main()
