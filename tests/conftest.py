"""Shared fixtures: a tiny synthetic COCO-format dataset and composed Hydra configs."""

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HAR_ROOT", str(ROOT))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
# One pytest-xdist worker per core (make test): each worker gets its share of the cores, not all of them.
torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """The suite's caches (ONNX exports, COCO indexes not writable beside their file) in a folder of its own, not
    the user's ~/.cache/har; subprocesses inherit it."""
    os.environ["HAR_CACHE_DIR"] = str(tmp_path_factory.mktemp("har_cache"))


# What a DDP launcher leaves in this process's environment (Lightning sets MASTER_PORT when it picks a port).
_DISTRIBUTED_ENV = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "NODE_RANK", "LOCAL_RANK", "GLOBAL_RANK", "RANK",
                    "LOCAL_WORLD_SIZE", "GROUP_RANK")  # fmt: skip


@pytest.fixture(autouse=True)
def _no_stale_distributed_env(monkeypatch):
    """Each test starts without the distributed variables an earlier test's DDP launcher left behind (they are
    removed again after it). A stale MASTER_PORT would make the next DDP run, or a subprocess that inherits it,
    reuse a port that another pytest-xdist worker may have taken meanwhile: both then hang at the rendezvous."""
    for name in _DISTRIBUTED_ENV:
        monkeypatch.delenv(name, raising=False)


TINY = {"num_train": 24, "num_val": 9, "seed": 0}  # 13 val instances: odd, so DDP pads


@pytest.fixture(scope="session")
def tiny_coco(tmp_path_factory) -> Path:
    """A 24/9-image synthetic dataset in the COCO layout, generated once per test session."""
    from har.synthetic.coco import ensure_synthetic_coco

    root = tmp_path_factory.mktemp("data") / "synthetic_coco"
    return ensure_synthetic_coco(root, **TINY)


TINY_MERL = {"num_subjects": 6, "clips_per_class": 1, "frame_size": (184, 136), "clip_frames": (10, 14),
             "video_size": (184, 136), "video_frames": 90, "seed": 0}  # fmt: skip


@pytest.fixture(scope="session")
def tiny_merl(tmp_path_factory) -> Path:
    """Synthetic MERL Shopping data in its three forms (pose/, action/, videos/), small, generated once."""
    from har.synthetic.merl import ensure_synthetic_merl

    return ensure_synthetic_merl(tmp_path_factory.mktemp("data") / "synthetic_merl", progress=False, **TINY_MERL)


def tiny_data_overrides(root: Path, synthetic: bool = True) -> list[str]:
    """Overrides pointing a config at the tiny dataset, with small batches and no worker processes.
    ``synthetic``: the config's data generates the synthetic set (its parameters must then match TINY)."""
    return [f"data.root={root}", *(f"data.synthetic.{k}={v}" for k, v in TINY.items() if synthetic),
            "data.batch_size=4", "data.num_workers=0", "data.persistent_workers=false"]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_pose_features(tiny_merl, tmp_path_factory) -> Path:
    """Pose features of the tiny MERL action clips (har.tools.extract_pose_features) from an untrained tiny pose
    network (width 32, K = 2, 64×64, T = 4); its checkpoint's path is in the folder's meta.json."""
    from tests.test_pose_features import write_tiny_features

    return write_tiny_features(tmp_path_factory.mktemp("pose_features"), tiny_merl)


TINY_MPII = {"num_train": 16, "num_val": 8, "min_size": 96, "max_size": 128, "seed": 0}
TINY_H36M = {"train_frames": 1, "val_frames": 1, "width": 128, "height": 128, "seed": 0}  # 300 train, 120 val frames


@pytest.fixture(scope="session")
def tiny_mpii(tmp_path_factory) -> Path:
    """A 16/8-image synthetic MPII set in both forms (deephar's .mat, mmpose's JSON), generated once."""
    from har.synthetic.mpii import ensure_synthetic_mpii

    return ensure_synthetic_mpii(tmp_path_factory.mktemp("data") / "synthetic_mpii", **TINY_MPII)


@pytest.fixture(scope="session")
def tiny_h36m(tmp_path_factory) -> Path:
    """A synthetic Human3.6M set in both forms, one frame per sequence (300 train, 120 val), generated once."""
    from har.synthetic.h36m import ensure_synthetic_h36m

    return ensure_synthetic_h36m(tmp_path_factory.mktemp("data") / "synthetic_h36m", **TINY_H36M)


TINY_PENN = {"classes": ["jumping_jacks", "squat", "pullup"], "train_per_class": 1, "test_per_class": 1,
             "frame_size": [64, 48], "frames": [6, 24], "seed": 5}  # fmt: skip


@pytest.fixture(scope="session")
def tiny_penn(tmp_path_factory) -> Path:
    """Synthetic Penn Action in both forms (official/, deephar/), three classes, one train and one test video each
    (6 to 24 frames: with T = 4 at stride 2 some are shorter than one clip), generated once."""
    from har.synthetic.penn import ensure_synthetic_penn

    return ensure_synthetic_penn(tmp_path_factory.mktemp("data") / "synthetic_penn", **TINY_PENN)


TINY_NTU = {"actions": [23, 27, 38], "train_per_class": 1, "test_per_class": 1, "frame_size": [96, 54],
            "frames": [20, 30], "seed": 2}  # fmt: skip


@pytest.fixture(scope="session")
def tiny_ntu(tmp_path_factory) -> Path:
    """Synthetic NTU RGB+D in both forms (official/, deephar/), three actions, one train and one test video each,
    generated once."""
    from har.synthetic.ntu import ensure_synthetic_ntu

    return ensure_synthetic_ntu(tmp_path_factory.mktemp("data") / "synthetic_ntu", **TINY_NTU)
