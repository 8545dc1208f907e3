"""``runtime=onnx`` of evaluate.py and predict.py: the pose network under onnxruntime stands in for the PyTorch one
(every block's pose and visibility; heat maps and features for the action model), and gives the same metrics,
keypoints and action probabilities; an unknown runtime, or a module without a pose network, is a clear error."""

import json

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from har.errors import UserError
from har.lit.common import use_onnx_runtime
from har.models.onnx import OnnxPoseNet, onnx_cache_file
from har.models.pose_net import DeepHARPose
from har.run.pipeline import evaluate
from tests.conftest import tiny_data_overrides
from tests.test_configs import compose_config
from tests.test_predict import run_predict, save_action_checkpoint, save_pose_checkpoint


def test_onnx_pose_net_gives_every_output_of_the_network(tmp_path):
    """3D with heat maps and features (an action model's pose network), 2D lean (pose and visibility only)."""
    torch.manual_seed(0)
    net = DeepHARPose(num_joints=5, num_blocks=2, width=32, input_size=(64, 64), depth_bins=4,
                      num_context_per_joint=0).eval()  # fmt: skip
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        expected = net(x)
    full = OnnxPoseNet(net, tmp_path / "full.onnx", features=True)
    got = full(x.contiguous(memory_format=torch.channels_last))  # what channels_last modules hand it
    for name in expected._fields:
        assert getattr(got, name).shape == getattr(expected, name).shape, name
        torch.testing.assert_close(getattr(got, name), getattr(expected, name), atol=1e-4, rtol=1e-4)
    assert got.pose.shape[0] == 2 and got.pose.shape[-1] == 3  # every block (the test losses read them all), 3D


def test_the_lean_net_is_cached_per_weights(tmp_path, monkeypatch):
    """Without features: pose and visibility only. A second runtime=onnx run on the same weights reuses the export
    (6-22 s); other weights have another cache file."""
    monkeypatch.setenv("HAR_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    net = DeepHARPose(num_joints=5, num_blocks=2, width=16, input_size=(64, 64)).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        expected = net(x[:1])
    first = OnnxPoseNet(net, tmp_path / "a" / "pose_net.onnx")
    out = first(x[:1])  # the batch is dynamic
    torch.testing.assert_close(out.pose, expected.pose, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.visibility, expected.visibility, atol=1e-4, rtol=1e-4)
    assert out.heatmaps.numel() == 0 and out.features.numel() == 0
    assert first.dim == 2 and first.num_joints == 5 and tuple(first.input_size) == (64, 64)  # read from the net

    again = OnnxPoseNet(net, tmp_path / "b" / "pose_net.onnx")
    assert not first.from_cache and again.from_cache and len(list((tmp_path / "cache" / "onnx").iterdir())) == 1
    assert (tmp_path / "b" / "pose_net.onnx").read_bytes() == (tmp_path / "a" / "pose_net.onnx").read_bytes()
    key = onnx_cache_file(net, False)
    assert key.is_file() and onnx_cache_file(net, True) != key
    with torch.no_grad():
        net.blocks[0].regmap.conv.weight.mul_(2.0)
    assert onnx_cache_file(net, False) != key


def test_evaluate_with_onnx_runtime_gives_the_torch_metrics_and_keypoints(tiny_coco, tmp_path):
    ckpt = save_pose_checkpoint(tmp_path / "pose.ckpt")  # flip test on: two onnxruntime calls per batch
    overrides = [f"ckpt_path={ckpt}", *tiny_data_overrides(tiny_coco), "data.input_size=[64,64]",
                 "trainer.accelerator=cpu"]  # fmt: skip
    torch_metrics = evaluate(compose_config("eval", overrides, tmp_path / "torch"))
    onnx_metrics = evaluate(compose_config("eval", [*overrides, "runtime=onnx"], tmp_path / "onnx"))
    assert (tmp_path / "onnx" / "onnx" / "pose_net.onnx").stat().st_size > 10_000
    assert not (tmp_path / "torch" / "onnx").exists()
    assert set(onnx_metrics) == set(torch_metrics) and "test/oks_ap" in onnx_metrics
    for key, value in torch_metrics.items():  # the losses: log of saturated sigmoids, 1e-7 differences grow to 1e-4
        assert onnx_metrics[key] == pytest.approx(value, **({"rel": 1e-3} if "loss" in key else {"abs": 1e-5})), key
    kps = [np.array([p["keypoints"] for p in json.loads((tmp_path / run / "predictions.json").read_text())])
           for run in ("torch", "onnx")]  # fmt: skip
    assert kps[0].std() > 1.0  # the predictions depend on the images: the comparison is not vacuous
    np.testing.assert_allclose(kps[1], kps[0], atol=1e-3)


def test_predict_with_onnx_runtime_gives_the_torch_keypoints_and_action_probabilities(tiny_coco, tiny_merl, tmp_path):
    pose = save_pose_checkpoint(tmp_path / "pose.ckpt")
    images = tiny_coco / "val2017"
    out = {}
    for runtime in ("torch", "onnx"):
        files = run_predict(tmp_path / f"pose_{runtime}", f"ckpt_path={pose}", f"input={images}",
                            f"runtime={runtime}", "overlays=false")  # fmt: skip
        out[runtime] = np.array([p["keypoints"] for p in json.loads(files["predictions"].read_text())])
    np.testing.assert_allclose(out["onnx"], out["torch"], atol=1e-3)

    action = save_action_checkpoint(tmp_path / "action.ckpt")
    video = tiny_merl / "videos" / "Videos_MERL_Shopping_Dataset" / "1_1_crop.mp4"
    for runtime in ("torch", "onnx"):
        files = run_predict(tmp_path / f"action_{runtime}", f"ckpt_path={action}", f"input={video}",
                            f"runtime={runtime}", "overlays=false", "action.stride=9")  # fmt: skip
        out[runtime] = np.array([w["probs"] for w in json.loads(files["windows"].read_text())["windows"]])
    assert (tmp_path / "action_onnx" / "onnx" / "pose_net.onnx").is_file()
    assert out["torch"].std(axis=0).max() > 1e-4  # windows differ by 10× the tolerance: the comparison is not vacuous
    np.testing.assert_allclose(out["onnx"], out["torch"], atol=1e-5)


def test_an_unknown_runtime_or_a_module_without_a_pose_network_is_a_clear_error(tmp_path):
    cfg = compose_config("eval", ["ckpt_path=x.ckpt", "runtime=tensorrt"], tmp_path)
    with pytest.raises(UserError, match="runtime='tensorrt': unknown") as err:
        evaluate(cfg)
    assert "torch, onnx" in str(err.value.expected)
    with pytest.raises(UserError, match="LightningModule has no pose network"):
        use_onnx_runtime(pl.LightningModule(), tmp_path)
