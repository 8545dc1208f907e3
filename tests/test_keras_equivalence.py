"""har's DeepHARPose computes the same function as the original Keras deephar, with its .h5 weights.

Reference: ../shared/fixtures/deephar_keras/pose2d_k2 (cvpr18 `reception.build`, J=16, 2 context maps,
2 blocks, 5×5; random weights with perturbed BN statistics; outputs of `model.predict`).
"""

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from har.models.keras_import import KerasWeightsError, load_keras_weights
from har.models.pose_net import DeepHARPose

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "deephar_keras" / "pose2d_k2"
TOL = 1e-4


def nhwc_to_nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()


def fixture_net(**overrides) -> DeepHARPose:
    config = dict(num_joints=16, num_blocks=2, kernel_size=5, num_context_per_joint=2, width=576)
    return DeepHARPose(**{**config, **overrides})


@pytest.fixture(scope="module")
def fixture():
    if not (FIXTURE / "weights.h5").exists():
        pytest.skip(f"original-model fixture not found at {FIXTURE}")
    io = dict(np.load(FIXTURE / "io.npz"))
    layout = json.loads((FIXTURE / "layout.json").read_text())
    return io, layout


@pytest.fixture(scope="module")
def loaded(fixture):
    """The fixture network with the original weights, its report, its eval outputs and sub-model outputs."""
    io, _ = fixture
    net = fixture_net()
    report = load_keras_weights(net, FIXTURE / "weights.h5")
    net.eval()
    submodels = {"Stem": net.stem}
    for b, block in enumerate(net.blocks, start=1):
        submodels.update({f"rBlock{b}": block.reception, f"SepConv{b}": block.sepconv, f"RegMap{b}": block.regmap})
        if block.fremap is not None:
            submodels[f"fReMap{b}"] = block.fremap
    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, o)) for k, m in submodels.items()]
    with torch.no_grad():
        out = net(nhwc_to_nchw(io["input"]))
    for hook in hooks:
        hook.remove()
    return net, report, out, seen


@pytest.mark.parametrize("block", [0, 1])
def test_pose_and_visibility_match_keras(fixture, loaded, block):
    io, _ = fixture
    _, _, out, _ = loaded
    ref = torch.from_numpy(io[f"output_{block}"])  # (B, J, 3): x, y, visibility
    assert (out.pose[block] - ref[..., :2]).abs().max() <= TOL
    assert (out.visibility[block] - ref[..., 2:]).abs().max() <= TOL


@pytest.mark.parametrize("block", [1, 2])
def test_raw_heatmaps_match_keras(fixture, loaded, block):
    io, _ = fixture
    net, _, out, seen = loaded
    ref = nhwc_to_nchw(io[f"heatmaps_block{block}"])
    assert (seen[f"RegMap{block}"] - ref).abs().max() <= TOL
    if block == net.num_blocks:
        assert (out.heatmaps - ref).abs().max() <= TOL


@pytest.mark.parametrize(
    "name", ["Stem", "rBlock1", "SepConv1", "RegMap1", "fReMap1", "rBlock2", "SepConv2", "RegMap2"]
)
def test_every_submodel_output_matches_keras(fixture, loaded, name):
    """First 8 channels of each top-level sub-model (locates a divergence); relative to the map's scale."""
    io, _ = fixture
    _, _, _, seen = loaded
    ref = nhwc_to_nchw(io[f"slice8__{name}"])
    assert (seen[name][:, :8] - ref).abs().max() <= TOL * max(1.0, ref.abs().max().item())


def test_features_are_rblock1_output(loaded):
    _, _, out, seen = loaded
    assert torch.equal(out.features, seen["rBlock1"])


def test_report_counts_every_weighted_group(fixture, loaded):
    _, layout = fixture
    _, report, _, _ = loaded
    expected = {
        g["layer"]: len(g["weights"])
        for g in layout["h5"]["groups"]
        if g["weights"] and g["layer"] not in ("sSAM", "cSAM", "Agg")
    }
    assert report == expected


def test_train_mode_batch_statistics_change_the_output(fixture, loaded):
    """Proves the BN moving statistics were loaded and matter: train mode must NOT match the fixture."""
    io, _ = fixture
    net = copy.deepcopy(loaded[0]).train()
    with torch.no_grad():
        out = net(nhwc_to_nchw(io["input"]))
    assert (out.pose[-1] - torch.from_numpy(io["output_1"])[..., :2]).abs().max() > 0.05


def test_config_mismatch_names_the_files_config(fixture):
    implied = r"num_blocks: file 2 vs network 1.*implies DeepHARPose\(num_joints=16, num_blocks=2"
    with pytest.raises(KerasWeightsError, match=implied):
        load_keras_weights(fixture_net(num_blocks=1), FIXTURE / "weights.h5")


def test_shape_mismatch_names_dataset_and_both_shapes(fixture):
    with pytest.raises(KerasWeightsError, match=r"/Stem/conv2d_1/kernel:0.*\(3, 3, 3, 32\).*\(3, 3, 3, 16\)"):
        load_keras_weights(fixture_net(stem_scale=0.5), FIXTURE / "weights.h5")


def _edited_copy(tmp_path, edit):
    import h5py

    path = tmp_path / "weights.h5"
    shutil.copy(FIXTURE / "weights.h5", path)
    path.chmod(0o644)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def test_leftover_weights_are_an_error(fixture, tmp_path):
    def add_group(f):
        group = f.create_group("Extra")
        group.create_dataset("dense_9/kernel:0", data=np.zeros((2, 2), np.float32))
        group.attrs["weight_names"] = np.array([b"dense_9/kernel:0"], dtype=object)
        f.attrs["layer_names"] = np.array([*f.attrs["layer_names"], "Extra"], dtype=object)

    with pytest.raises(KerasWeightsError, match="Extra"):
        load_keras_weights(fixture_net(), _edited_copy(tmp_path, add_group))


def test_swapped_same_shape_layers_are_caught_by_their_names(fixture, tmp_path):
    """sepconv_l3_3 and sepconv_l2_2 have identical shapes: only the explicit names tell them apart."""

    def swap(f):
        names = [n.decode() if isinstance(n, bytes) else n for n in f["rBlock1"].attrs["weight_names"]]
        a = [n for n in names if n.startswith("sepconv_l3_3_conv/")]
        b = [n for n in names if n.startswith("sepconv_l2_2_conv/")]
        i, j = names.index(a[0]), names.index(b[0])
        names[i : i + 2], names[j : j + 2] = b, a
        f["rBlock1"].attrs["weight_names"] = np.array(names, dtype=object)

    with pytest.raises(KerasWeightsError, match="sepconv_l3_3_conv"):
        load_keras_weights(fixture_net(), _edited_copy(tmp_path, swap))


def test_converter_cli_writes_a_checkpoint_that_reproduces_keras(fixture, tmp_path):
    """`python -m har.tools.import_deephar WEIGHTS.h5 OUT.ckpt` → a checkpoint evaluate.py loads
    (PoseModule.load_from_checkpoint with weights_only=True), computing the Keras outputs."""
    from har.lit.pose import PoseModule
    from har.tools.import_deephar import main

    io, _ = fixture
    out = tmp_path / "k2.ckpt"
    main([str(FIXTURE / "weights.h5"), str(out)])
    module = PoseModule.load_from_checkpoint(out, map_location="cpu", weights_only=True).eval()
    assert module.hparams.layout == "pa16j" and module.hparams.net["num_blocks"] == 2
    with torch.no_grad():
        res = module.net(nhwc_to_nchw(io["input"]))
    for k in range(2):
        expected = io[f"output_{k}"]
        got = torch.cat([res.pose[k], res.visibility[k]], dim=-1).numpy()
        assert np.abs(got - expected).max() <= TOL
    # Overrides reach the network; a contradiction with the file is a clear error naming what the file implies.
    with pytest.raises(KerasWeightsError, match="file implies"):
        main([str(FIXTURE / "weights.h5"), str(tmp_path / "bad.ckpt"), "model.net.num_blocks=3"])
    assert not (tmp_path / "bad.ckpt").exists()
