"""The decoupled mode: pose features extracted once (har.tools.extract_pose_features), the action head trained on them
alone (data=pose_features, model=action_features), and joined back with its pose network
(har.tools.merge_action_head)."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import h5py
import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from har.checkpoints import load_pose_network
from har.data.datamodules.merl_action import MerlActionDataModule
from har.data.datamodules.merl_videos import MerlVideoDataModule
from har.data.datamodules.pose_features import PoseFeatureDataModule
from har.data.datasets.clips import MultiClipDataset
from har.data.formats.merl_action import load_merl_action_index
from har.lit.action import ActionModule
from har.lit.feature_action import FeatureActionModule
from har.lit.pose import PoseModule
from har.models.action_net import DeepHARAction, appearance_features, pose_inputs_from_heatmaps
from har.tools.extract_pose_features import extract_pose_features
from tests.conftest import ROOT

TINY_POSE_NET = {"num_joints": 17, "num_blocks": 2, "width": 32, "input_size": [64, 64]}
SGD = {"_target_": "torch.optim.SGD", "lr": 0.1, "momentum": 0.9}
SPLITS = ("train", "val", "test")
CLIPS, FLIP = 2, True  # rows per clip: 2 windows, each also mirrored
ROWS_PER_CLIP = CLIPS * (2 if FLIP else 1)


def tiny_action_datamodule(tiny_merl: Path, **kwargs) -> MerlActionDataModule:
    args = {"root": str(tiny_merl / "action"), "files": {s: f"merl_action_{s}.json" for s in SPLITS},
            "num_frames": 4, "input_size": (64, 64), "batch_size": 4, "num_workers": 0, "persistent_workers": False,
            "pin_memory": False}  # fmt: skip
    return MerlActionDataModule(**{**args, **kwargs})


def write_tiny_features(root: Path, tiny_merl: Path) -> Path:
    """An untrained tiny pose network's checkpoint (root/pose.ckpt) and its features of the tiny MERL action clips
    (root/features): 2 windows per clip, each also mirrored."""
    torch.manual_seed(0)
    pose = PoseModule(net=TINY_POSE_NET, optimizer=SGD)
    torch.save({"state_dict": pose.state_dict(), "hyper_parameters": dict(pose.hparams)}, root / "pose.ckpt")
    net, info = load_pose_network(root / "pose.ckpt")
    extract_pose_features(net, info, tiny_action_datamodule(tiny_merl), root / "features", clips=CLIPS, flip=FLIP)
    return root / "features"


def pose_checkpoint(features: Path) -> str:
    """The checkpoint the features were extracted from (recorded in their meta)."""
    return json.loads((features / "meta.json").read_text())["pose_checkpoint"]["path"]


def read_split(features: Path, split: str) -> dict:
    with h5py.File(features / f"{split}.h5", "r") as f:
        out = {name: f[name][()] for name in f if name != "clip_id"}
        out["clip_id"] = f["clip_id"].asstr()[()]
        out["meta"] = json.loads(f.attrs["meta"])
    return out


def feature_datamodule(features: Path, **kwargs) -> PoseFeatureDataModule:
    args = {"root": str(features), "batch_size": 4, "num_workers": 0, "persistent_workers": False,
            "pin_memory": False}  # fmt: skip
    return PoseFeatureDataModule(**{**args, **kwargs})


def head(**kwargs) -> FeatureActionModule:
    torch.manual_seed(0)
    args = {"classes": ["ReachToShelf", "RetractFromShelf", "HandInShelf", "InspectProduct", "InspectShelf"],
            "optimizer": {"_target_": "torch.optim.Adam", "lr": 1e-3}, "feature_channels": 32}  # fmt: skip
    return FeatureActionModule(**{**args, **kwargs})


# ---------------------------------------------------------------- the model on pooled features


def test_forward_pooled_on_pooled_features_is_the_action_model():
    """The decoupled path computes the full model: forward_pooled on features pooled by an independent direct sum
    equals forward on the heat maps and feature maps."""
    torch.manual_seed(0)
    model = DeepHARAction(5, 17, feature_channels=8).eval()
    g = torch.Generator().manual_seed(1)
    y, p = torch.rand(2, 6, 17, 2, generator=g), torch.rand(2, 6, 17, 1, generator=g)
    hs_prob = torch.softmax(torch.randn(2, 6, 17, 12, generator=g), -1).reshape(2, 6, 17, 3, 4)
    features = torch.randn(2, 6, 8, 3, 4, generator=g)
    pooled = (hs_prob[:, :, :, None] * features[:, :, None]).sum((-2, -1))  # (B, T, J, C)
    assert torch.allclose(appearance_features(hs_prob, features), pooled, atol=1e-6)
    with torch.no_grad():
        full, decoupled = model(y, p, hs_prob, features), model.forward_pooled(y, p, pooled)
    for name, a, b in zip(full._fields, full, decoupled):
        assert torch.allclose(a, b, atol=1e-5), name
    with pytest.raises(ValueError, match="appearance features: expected shape"):
        model.forward_pooled(y, p, pooled[..., :4])


# ---------------------------------------------------------------- extraction


def test_extraction_writes_every_clip_with_its_label_and_the_pose_networks_outputs(tiny_pose_features, tiny_merl):
    meta = json.loads((tiny_pose_features / "meta.json").read_text())
    net, _ = load_pose_network(meta["pose_checkpoint"]["path"])
    assert meta["pose_checkpoint"]["kind"] == "pose" and len(meta["pose_checkpoint"]["sha256"]) == 64
    assert (meta["num_frames"], meta["num_joints"], meta["dim"], meta["feature_channels"]) == (4, 17, 2, 32)
    source = tiny_action_datamodule(tiny_merl)
    for split in SPLITS:
        index = load_merl_action_index(tiny_merl / "action" / f"merl_action_{split}.json", source.classes)
        data = read_split(tiny_pose_features, split)
        n = len(index) * ROWS_PER_CLIP
        assert data["y"].shape == (n, 4, 17, 2) and data["p"].shape == (n, 4, 17)
        assert data["pooled"].shape == (n, 4, 17, 32) and "heatmaps" not in data
        clip = np.repeat(np.arange(len(index)), ROWS_PER_CLIP)  # rows in clip order
        assert np.array_equal(data["video"], clip)
        assert np.array_equal(data["label"], index.labels[clip]) and list(data["clip_id"]) == list(index.clip_ids[clip])
        assert list(data["flipped"][:ROWS_PER_CLIP]) == [False, True, False, True]
        assert data["meta"]["split"] == split and data["meta"]["rows"] == n
    # The stored arrays are the pose network's outputs on the same clip rows (windows and mirrors).
    dataset = MultiClipDataset(source.build_dataset("test", train=False), CLIPS, FLIP)
    rows = [0, 1, 2, 3, len(dataset) - 1]
    frames = torch.cat([dataset[r]["frames"] for r in rows]).float() / 127.5 - 1.0  # (R·T, 3, H, W)
    with torch.no_grad():
        out = net(frames)
    y, p, hs_prob = pose_inputs_from_heatmaps(net, out.heatmaps)
    pooled = torch.einsum("njuv,ncuv->njc", hs_prob, out.features)
    data = read_split(tiny_pose_features, "test")
    assert np.allclose(data["y"][rows], y.reshape(len(rows), 4, 17, 2).numpy(), atol=1e-5)
    assert np.allclose(data["p"][rows], p.reshape(len(rows), 4, 17).numpy(), atol=1e-5)
    assert np.allclose(data["pooled"][rows], pooled.reshape(len(rows), 4, 17, 32).numpy(), atol=1e-4)
    assert not np.allclose(data["pooled"][0], data["pooled"][1], atol=1e-3)  # a mirror is not its window


def test_the_head_on_saved_features_computes_what_the_action_module_computes_on_the_clip(tiny_pose_features, tiny_merl):
    meta = json.loads((tiny_pose_features / "meta.json").read_text())
    module = ActionModule(pose_net=TINY_POSE_NET, action_net={}, classes=meta["classes"], optimizer=SGD,
                          pose_ckpt=meta["pose_checkpoint"]["path"]).eval()  # fmt: skip
    dataset = MultiClipDataset(tiny_action_datamodule(tiny_merl).build_dataset("val", train=False), CLIPS, FLIP)
    rows = [0, 3]
    data = read_split(tiny_pose_features, "val")
    with torch.no_grad():
        full = module(torch.stack([dataset[r]["frames"] for r in rows]))
        decoupled = module.action_net.forward_pooled(torch.from_numpy(data["y"][rows]),
                                                     torch.from_numpy(data["p"][rows, ..., None]),
                                                     torch.from_numpy(data["pooled"][rows]))  # fmt: skip
    for name, a, b in zip(full._fields, full, decoupled):
        assert torch.allclose(a, b, atol=1e-4), name


def test_heat_maps_are_saved_on_request_and_float16_halves_the_features(tiny_pose_features, tiny_merl, tmp_path):
    ckpt = pose_checkpoint(tiny_pose_features)
    net, info = load_pose_network(ckpt)
    meta = extract_pose_features(net, info, tiny_action_datamodule(tiny_merl), tmp_path, splits=("test",),
                                 save_heatmaps=True, dtype="float16")  # fmt: skip
    assert meta["heatmaps"] and list(meta["splits"]) == ["test"] and not (tmp_path / "train.h5").exists()
    assert meta["heatmap_channels"] == 51 and meta["map_size"] == [8, 8]  # 17 joints × (1 + 2 context maps), 64 / 8
    data = read_split(tmp_path, "test")
    dataset = tiny_action_datamodule(tiny_merl).build_dataset("test", train=False)
    assert data["heatmaps"].shape == (len(dataset), 4, 51, 8, 8) and data["heatmaps"].dtype == np.float16
    assert data["pooled"].dtype == np.float16 and data["y"].dtype == np.float32
    with torch.no_grad():
        heatmaps = net(dataset[0]["frames"].float() / 127.5 - 1.0).heatmaps
    assert np.allclose(data["heatmaps"][0].astype(np.float32), heatmaps.numpy(), atol=1e-2, rtol=1e-3)
    full = read_split(tiny_pose_features, "test")["pooled"][0]  # the float32 extraction's first row: same window
    assert np.allclose(data["pooled"][0].astype(np.float32), full, atol=1e-2, rtol=1e-3)


def test_official_release_segments_are_a_source_too(tiny_pose_features, tiny_merl, tmp_path):
    """data=merl_videos: one row per labelled segment, its label and id, the video frames it used."""
    net, info = load_pose_network(pose_checkpoint(tiny_pose_features))
    videos = MerlVideoDataModule(str(tiny_merl / "videos"), boxes_file="person_boxes.json", num_frames=4,
                                 input_size=(64, 64), num_workers=0, persistent_workers=False)  # fmt: skip
    extract_pose_features(net, info, videos, tmp_path, splits=("test",))
    data, segments = read_split(tmp_path, "test"), videos.build_dataset("test", train=False)
    assert len(data["label"]) == len(segments) and data["y"].shape[1:] == (4, 17, 2)
    for i in (0, len(segments) - 1):
        item = segments[i]
        assert data["clip_id"][i] == item["clip_id"] and data["label"][i] == item["label"]
        assert np.array_equal(data["frame_indices"][i], item["frame_indices"].numpy())


def test_a_checkpoint_without_a_pose_network_is_a_clear_error(tmp_path):
    torch.save({"state_dict": {"head.weight": torch.zeros(2)}, "hyper_parameters": {"lr": 0.1}}, tmp_path / "x.ckpt")
    with pytest.raises(ValueError, match=r"x\.ckpt: no pose network in it"):
        load_pose_network(tmp_path / "x.ckpt")
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"notes\.ckpt: not a readable PyTorch checkpoint"):
        load_pose_network(tmp_path / "notes.ckpt")
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        load_pose_network(tmp_path / "missing.ckpt")


def test_an_action_checkpoint_gives_its_pose_network(tmp_path):
    torch.manual_seed(3)
    action = ActionModule(pose_net=TINY_POSE_NET, action_net={}, classes=["a", "b"], optimizer=SGD)
    torch.save({"state_dict": action.state_dict(), "hyper_parameters": dict(action.hparams)}, tmp_path / "a.ckpt")
    net, info = load_pose_network(tmp_path / "a.ckpt")
    assert info["kind"] == "action" and not net.training
    for key, value in action.pose_net.state_dict().items():
        assert torch.equal(net.state_dict()[key], value), key


# ---------------------------------------------------------------- training on features


def test_features_are_memory_mapped_and_workers_receive_no_copies(tiny_pose_features):
    dm = feature_datamodule(tiny_pose_features)
    dm.setup("fit")
    train = dm.datasets["train"]
    assert len(train) == len(train.clips) == len(train.file) // ROWS_PER_CLIP  # one item per clip when training
    item = train[0]
    assert item["y"].shape == (4, 17, 2) and item["p"].shape == (4, 17, 1) and item["pooled"].shape == (4, 17, 32)
    assert isinstance(train.file.arrays()["pooled"], np.memmap)
    assert pickle.loads(pickle.dumps(train)).file._arrays is None
    val = dm.datasets["val"]
    assert len(val) == len(val.file) and val[1]["video"] == 0 and val[1]["flipped"]


def test_the_head_learns_from_features_and_reports_clip_metrics(tiny_pose_features, tmp_path):
    dm = feature_datamodule(tiny_pose_features)
    dm.setup("fit")
    module = head(action_net={"num_blocks": 2})
    batch = next(iter(dm.train_dataloader()))
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    module.train()
    losses = []
    for _ in range(10):
        loss = module.action_loss(module.action_outputs(batch), batch["label"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]

    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         default_root_dir=tmp_path)  # fmt: skip
    module = head(action_net={"num_blocks": 2})
    trainer.fit(module, datamodule=feature_datamodule(tiny_pose_features, batch_size=8))
    assert {"train/loss", "train/acc", "val/acc", "val/acc_best"} <= trainer.callback_metrics.keys()
    trainer.test(module, datamodule=feature_datamodule(tiny_pose_features, batch_size=8))
    assert {"test/acc", "test/acc_macro", "test/acc_fused", "test/acc_pose", "test/acc_appearance"} <= (
        trainer.callback_metrics.keys()
    )
    test_clips = read_split(tiny_pose_features, "test")["meta"]["num_clips"]
    assert len(module.test_predictions) == test_clips  # a clip's 4 rows scored as one
    assert list((tmp_path / "confusion").glob("test_*.csv"))


def test_features_that_do_not_fit_the_model_are_a_clear_error(tiny_pose_features, tmp_path):
    trainer = pl.Trainer(fast_dev_run=True, accelerator="cpu", logger=False, enable_progress_bar=False,
                         default_root_dir=tmp_path)  # fmt: skip
    with pytest.raises(ValueError, match=r"train\.h5: the pose features do not fit: C = 32 but the model has 64"):
        trainer.fit(head(feature_channels=64), datamodule=feature_datamodule(tiny_pose_features))
    with pytest.raises(ValueError, match=r"T = 4 but the model has 8 \(model.action_net.num_frames\)"):
        trainer.fit(head(action_net={"num_frames": 8}), datamodule=feature_datamodule(tiny_pose_features))
    with pytest.raises(ValueError, match=r"train\.h5: the pose features do not fit: its classes are"):
        feature_datamodule(tiny_pose_features, classes=["a", "b"]).setup("fit")
    with pytest.raises(FileNotFoundError, match="extract_pose_features"):
        feature_datamodule(tmp_path).setup("fit")


# ---------------------------------------------------------------- joining the head and the pose network


def _saved_head(features: Path, path: Path, **kwargs) -> Path:
    """A FeatureActionModule checkpoint as a training run writes it, its datamodule pointing at ``features``."""
    module = head(**kwargs)
    dm = feature_datamodule(features)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "datamodule_hyper_parameters": dict(dm.hparams), "epoch": 3, "global_step": 42}, path)  # fmt: skip
    return path


def test_the_joined_checkpoint_computes_on_frames_what_the_head_computes_on_the_features(
    tiny_pose_features, tiny_merl, tmp_path
):
    from har.checkpoints import clip_settings, read_checkpoint
    from har.lit.common import load_module
    from har.tools.merge_action_head import merge_action_head

    head_ckpt = _saved_head(tiny_pose_features, tmp_path / "head.ckpt", action_net={"num_blocks": 2})
    with pytest.raises(ValueError, match=r"no pose network\).*join it .*merge_action_head head="):
        load_module(head_ckpt)  # what predict.py says of a head alone
    out = merge_action_head(head_ckpt, tmp_path / "merged.ckpt")  # the pose network: the features' source
    ckpt = read_checkpoint(out)
    assert ckpt["merged_from"]["pose"]["path"] == pose_checkpoint(tiny_pose_features)
    assert clip_settings(ckpt)["num_frames"] == 4  # predict.py makes clips as the features were made
    module = load_module(out)
    assert isinstance(module, ActionModule) and module.classes == head().classes
    dataset = MultiClipDataset(tiny_action_datamodule(tiny_merl).build_dataset("val", train=False), CLIPS, FLIP)
    data = read_split(tiny_pose_features, "val")
    trained_head = head(action_net={"num_blocks": 2})
    trained_head.load_state_dict(torch.load(head_ckpt, weights_only=True)["state_dict"])
    trained_head.eval()
    rows = [0, 3]
    with torch.no_grad():
        on_frames = module(torch.stack([dataset[r]["frames"] for r in rows]))
        on_features = trained_head(torch.from_numpy(data["y"][rows]), torch.from_numpy(data["p"][rows, ..., None]),
                                   torch.from_numpy(data["pooled"][rows]))  # fmt: skip
    for name, a, b in zip(on_frames._fields, on_frames, on_features):
        assert torch.allclose(a, b, atol=1e-4), name
    assert on_frames.fused.std() > 0  # not a constant output


def test_joining_refuses_another_pose_network_or_shapes_that_do_not_fit(tiny_pose_features, tmp_path):
    from har.tools.merge_action_head import merge_action_head

    head_ckpt = _saved_head(tiny_pose_features, tmp_path / "head.ckpt")
    torch.manual_seed(1)
    other = PoseModule(net=TINY_POSE_NET, optimizer=SGD)  # the same shapes, other weights
    torch.save({"state_dict": other.state_dict(), "hyper_parameters": dict(other.hparams)}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match=r"other\.ckpt is not the checkpoint the head's features were extracted"):
        merge_action_head(head_ckpt, tmp_path / "m.ckpt", tmp_path / "other.ckpt")
    assert not (tmp_path / "m.ckpt").exists()
    assert merge_action_head(head_ckpt, tmp_path / "m.ckpt", tmp_path / "other.ckpt", force=True).is_file()

    wide = PoseModule(net={**TINY_POSE_NET, "width": 48}, optimizer=SGD)
    torch.save({"state_dict": wide.state_dict(), "hyper_parameters": dict(wide.hparams)}, tmp_path / "wide.ckpt")
    with pytest.raises(ValueError, match=r"do not fit: feature_channels 32 \(head\) vs 48 \(pose network\)"):
        merge_action_head(head_ckpt, tmp_path / "m2.ckpt", tmp_path / "wide.ckpt", force=True)
    with pytest.raises(ValueError, match=r"pose\.ckpt: not an action head trained on pose features"):
        merge_action_head(pose_checkpoint(tiny_pose_features), tmp_path / "m3.ckpt")
    moved = torch.load(head_ckpt, weights_only=True)
    moved["datamodule_hyper_parameters"]["root"] = str(tmp_path / "gone")
    torch.save(moved, tmp_path / "moved.ckpt")
    with pytest.raises(ValueError, match=r"gone/meta\.json is missing\); pass pose=PATH"):
        merge_action_head(tmp_path / "moved.ckpt", tmp_path / "m4.ckpt")


# ---------------------------------------------------------------- the command line


def test_extract_then_train_the_head_from_the_command_line(tiny_merl, tiny_pose_features, tmp_path):
    """`python -m har.tools.extract_pose_features ...` then `python train.py experiment=synthetic_action_features`."""
    ckpt = pose_checkpoint(tiny_pose_features)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    extract = [sys.executable, "-m", "har.tools.extract_pose_features", f"ckpt_path={ckpt}",
               "data=synthetic_merl_action", f"data.root={tiny_merl / 'action'}", "data.synthetic=null",
               "data.num_frames=4", "data.num_workers=0", f"out={tmp_path / 'features'}",
               f"hydra.run.dir={tmp_path / 'extract'}"]  # fmt: skip
    proc = subprocess.run(extract, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((tmp_path / "features" / "meta.json").read_text())
    assert meta["data"]["input_size"] == [64, 64]  # the pose network's input size, not the data config's 128
    train = [sys.executable, str(ROOT / "train.py"), "experiment=synthetic_action_features",
             f"data.root={tmp_path / 'features'}", "model.feature_channels=32", "model.action_net.num_blocks=2",
             "data.num_workers=0", "data.persistent_workers=false", "trainer.max_epochs=1",
             f"hydra.run.dir={tmp_path / 'run'}"]  # fmt: skip
    proc = subprocess.run(train, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"val/acc_best", "test/acc", "test/acc_macro"} <= metrics.keys()
    predictions = json.loads((tmp_path / "run" / "predictions.json").read_text())
    assert len(predictions) == meta["splits"]["test"]["num_clips"]

    # Join the trained head with its pose network; evaluate.py on the clips' frames gives the head's results.
    head_ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    merged = tmp_path / "merged.ckpt"
    merge = [sys.executable, "-m", "har.tools.merge_action_head", f"head={head_ckpt}", f"out={merged}"]
    proc = subprocess.run(merge, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    evaluate = [sys.executable, str(ROOT / "evaluate.py"), "experiment=synthetic_action", "data=synthetic_merl_action",
                f"data.root={tiny_merl / 'action'}", "data.synthetic=null", "data.num_frames=4",
                "data.input_size=[64,64]", "data.num_workers=0", "data.persistent_workers=false",
                f"ckpt_path={merged}", f"hydra.run.dir={tmp_path / 'eval'}"]  # fmt: skip
    proc = subprocess.run(evaluate, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    joined = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    for key in ("test/acc", "test/acc_macro", "test/acc_pose", "test/acc_appearance"):
        assert joined[key] == pytest.approx(metrics[key], abs=1e-6), key
    on_frames = {p["video"]: p for p in json.loads((tmp_path / "eval" / "predictions.json").read_text())}
    assert on_frames.keys() == {p["video"] for p in predictions}
    for p in predictions:  # every clip: the same label, prediction and probabilities
        q = on_frames[p["video"]]
        assert (q["label"], q["pred"]) == (p["label"], p["pred"])
        np.testing.assert_allclose(q["probs"], p["probs"], atol=1e-4)
