"""ONNX export: onnxruntime (CPU) reproduces PyTorch to 1e-4 for the pose network (any batch size with a dynamic
batch, the fixed size otherwise) and for a whole action checkpoint (pose network + action network)."""

import numpy as np
import onnx
import onnxruntime as ort
import torch

from har.lit.action import ActionModule
from har.lit.pose import PoseModule
from har.models.onnx import export_pose_onnx
from har.tools.export_onnx import main
from tests.test_predict import save_action_checkpoint, save_pose_checkpoint


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_pose_onnx_matches_pytorch_for_any_batch_size(tmp_path):
    module = PoseModule.load_from_checkpoint(save_pose_checkpoint(tmp_path / "pose.ckpt"), map_location="cpu",
                                             weights_only=True)  # fmt: skip
    net = module.net
    path = export_pose_onnx(net, tmp_path / "pose.onnx")
    session = _session(path)
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["pose", "visibility"]
    g = torch.Generator().manual_seed(0)
    for batch in (1, 3):
        image = torch.rand(batch, 3, 64, 64, generator=g) * 2 - 1
        with torch.no_grad():
            out = net.eval()(image)
        pose, visibility = session.run(None, {"image": image.numpy()})
        assert pose.shape == (batch, 17, 2) and visibility.shape == (batch, 17, 1)
        np.testing.assert_allclose(pose, out.pose[-1].numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(visibility, out.visibility[-1].numpy(), atol=1e-4, rtol=0)
        assert np.abs(pose - pose.mean(axis=1, keepdims=True)).max() > 0.05  # not a constant output


def test_pose_onnx_with_a_fixed_batch_size_has_that_input_shape(tmp_path):
    module = PoseModule.load_from_checkpoint(save_pose_checkpoint(tmp_path / "pose.ckpt"), map_location="cpu",
                                             weights_only=True)  # fmt: skip
    path = export_pose_onnx(module.net, tmp_path / "pose2.onnx", batch_size=2, opset=18)
    model = onnx.load(str(path))
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, 64, 64] and model.opset_import[0].version == 18


def test_export_cli_on_an_action_checkpoint_matches_pytorch(tmp_path, capsys):
    ckpt = save_action_checkpoint(tmp_path / "action.ckpt", num_frames=4)
    main([f"ckpt_path={ckpt}", f"out={tmp_path / 'action.onnx'}"])
    assert "max |onnxruntime - torch|" in capsys.readouterr().out
    module = ActionModule.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True).eval()
    session = _session(tmp_path / "action.onnx")
    clip = torch.rand(2, 4, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1  # T = the checkpoint's
    with torch.no_grad():
        out = module(clip)
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"clip": clip.numpy()})))
    for name in ("fused", "pose", "appearance", "pose_fused", "appearance_fused"):
        np.testing.assert_allclose(got[name], getattr(out, name).numpy(), atol=1e-4, rtol=0, err_msg=name)
