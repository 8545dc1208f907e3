"""The network benchmarks (bench/train_step.py, bench/inference.py): smoke runs with --quick in subprocesses (table,
then one JSON line with every figure), and the shared helpers they rely on (FLOP counting, interleaved timing,
options)."""

import json
import os
import subprocess
import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import (
    compile_unavailable,
    compose_network,
    flop_counter,
    per_name_option,
    print_table,
    run_rounds,
)
from tests.conftest import ROOT


def bench(module: str, *args: str, timeout: float = 540) -> tuple[dict, str]:
    """Run ``python -m bench.<module> ARGS``; return the JSON of its last stdout line and the stdout."""
    proc = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1]), proc.stdout


def positive(entry: dict, *keys: str) -> None:
    for key in keys:
        assert isinstance(entry[key], float | int) and entry[key] > 0, (key, entry)


def quick_pose_forward_flops(experiment: str) -> int:
    """FLOPs of one forward of the --quick pose network of ``experiment``, counted here independently."""
    from hydra.utils import instantiate

    cfg, data, _, _ = compose_network(experiment, "pose", quick=True)
    net = instantiate(cfg.model).net
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, *data.input_size))
    return counter.get_total_flops()


def test_train_step_quick_reports_every_model_and_a_failed_compile():
    """All four models, eager and channels_last timed; a torch.compile that fails (unknown backend) is reported
    as failed with its reason, in the table and the JSON, instead of stopping the run."""
    result, stdout = bench("train_step", "--quick", "--compile-backend", "no_such_backend", "--threads", "1")
    assert result["benchmark"] == "train_step" and result["device"] == "cpu" and result["precision"] == "fp32"
    assert result["measured_on"].startswith("CPU ")
    positive(result["matmul"], "flop_per_s")
    assert set(result["models"]) == {"pose_original", "pose_demo", "action_original", "action_demo"}
    for name, model in result["models"].items():
        positive(model, "flops_per_sample", "params", "batch_size")
        variants = model["variants"]
        for v in ("eager", "channels_last"):
            positive(variants[v], "step_s", "samples_per_s", "frames_per_s", "flop_per_s", "matmul_fraction",
                     "speedup_vs_eager")  # fmt: skip
            assert len(variants[v]["runs_s"]) == model["iters"]
        assert variants["eager"]["speedup_vs_eager"] == 1.0
        # Medians over >= 3 rounds with their spread, not the fastest of one.
        for v in ("eager", "channels_last"):
            e = variants[v]
            assert model["iters"] >= 3 and e["min_step_s"] <= e["step_s"] <= e["max_step_s"]
            assert e["step_s"] == pytest.approx(sorted(e["runs_s"])[len(e["runs_s"]) // 2], abs=1e-5)
        rounds = variants["channels_last"]["speedup_vs_eager_rounds"]
        assert rounds["n"] == model["iters"] and rounds["min"] <= rounds["max"]
        # The default layout: chosen from the rounds and compared with the preset's configured one.
        chosen = result["defaults"][name]
        assert chosen["configured"] is model["configured_channels_last"] is True  # conf/model/*.yaml
        if rounds["min"] > 1:
            assert chosen["channels_last"] is True and chosen["configured_is_fastest"]
        assert f"{name}: channels_last=" in stdout
        assert variants["compile"]["status"] == "failed" and "no_such_backend" in variants["compile"]["reason"]
        assert f"{name} compile: failed (" in stdout
    # A clip is T frames; the optimizer and the loss are the experiments' own.
    action = result["models"]["action_demo"]
    assert action["frames_per_sample"] == 4 and action["optimizer"] == "RMSprop"
    assert result["models"]["action_original"]["optimizer"] == "SGD"
    v = action["variants"]["eager"]
    assert v["frames_per_s"] == pytest.approx(4 * v["samples_per_s"])
    # FLOPs of a training step: the forward plus a backward that costs less than twice it (no gradient for the
    # input images); torch's own count of the depthwise weight gradients would be ×16 too high at width 16.
    fwd = quick_pose_forward_flops("synthetic_pose")
    assert 2 * fwd < result["models"]["pose_demo"]["flops_per_sample"] < 3 * fwd


@pytest.mark.slow  # 25 s: the compile path of training itself is tested in test_trainer_configs.py
def test_train_step_quick_compile():
    """The torch.compile variant runs (aot_eager: the same dynamo + AOTAutograd path without inductor's C++
    build, which takes minutes on a cold cache); its compilation is timed apart from its steps."""
    result, stdout = bench(
        "train_step", "--quick", "--models", "pose_demo", "--compile-backend", "aot_eager", "--threads", "1"
    )
    compiled = result["models"]["pose_demo"]["variants"]["compile"]
    assert compiled["status"] == "ok" and compiled["backend"] == "aot_eager"
    positive(compiled, "compile_s", "step_s", "samples_per_s", "flop_per_s", "matmul_fraction", "speedup_vs_eager")
    assert len(compiled["runs_s"]) == 3 and compiled["compile_s"] > max(compiled["runs_s"])
    assert "compile (" in stdout


@pytest.mark.slow  # a bench smoke run (~45 s with its compilations): make test-all
def test_inference_quick():
    """Batch 1 and 16: eager, torch.compile and onnxruntime (on the file export_pose_onnx writes), frames/s and
    FLOP figures. (One model: --quick shrinks both to the same tiny network, and each ONNX export costs ~10 s.)"""
    result, stdout = bench(
        "inference", "--quick", "--models", "pose_demo", "--compile-backend", "aot_eager", "--threads", "1"
    )
    assert result["benchmark"] == "inference" and result["device"] == "cpu"
    positive(result["matmul"], "flop_per_s")
    assert set(result["models"]) == {"pose_demo"}
    for model in result["models"].values():
        positive(model, "flops_per_frame", "onnx_export_s")
        assert model["onnx_provider"] == "CPUExecutionProvider"
        assert set(model["batches"]) == {"1", "16"}
        for batch in model["batches"].values():
            for v in ("eager_channels_last", "eager", "compile", "onnxruntime"):
                positive(batch["variants"][v], "call_s", "frames_per_s", "flop_per_s", "matmul_fraction",
                         "speedup_vs_eager_channels_last")  # fmt: skip
                assert len(batch["variants"][v]["runs_s"]) == 3  # medians over 3 rounds
            assert batch["variants"]["eager_channels_last"]["speedup_vs_eager_channels_last"] == 1.0  # the baseline
    # FLOPs per frame: one forward of the network, as counted independently here.
    assert result["models"]["pose_demo"]["flops_per_frame"] == quick_pose_forward_flops("synthetic_pose")
    assert "onnxruntime" in stdout and "eager_channels_last" in stdout


@pytest.mark.slow
def test_runtime_quick_times_both_runtimes_and_compares_their_outputs():
    """evaluate.py and predict.py with runtime=torch and runtime=onnx, interleaved, on a tiny network and set (slow:
    eight Lightning runs; tests/test_onnx_runtime.py proves the runtime itself)."""
    result, stdout = bench("runtime", "--quick", "--rounds", "2")
    assert result["bench"] == "runtime" and result["rounds"] == 2
    for tool in ("evaluate", "predict"):
        assert len(result[tool]["runs_s"]["torch"]) == len(result[tool]["runs_s"]["onnx"]) == 2
        positive(result[tool]["torch_s"], "median")
        positive(result[tool]["speedup"], "median")
    # keypoints: predictions.json's rounding (3 decimals), so at most one unit of 1e-3 px
    diffs = result["max_abs_diff"]
    assert diffs["evaluate_metrics"] < 1e-5 and diffs["predict_keypoints_px"] <= 1.0011e-3
    assert result["export_s"]["n"] == 2 and "torch / onnx" in stdout


@pytest.mark.slow
@pytest.mark.parametrize("module", ["train_step", "inference"])
def test_quick_with_inductor(module):
    """The default torch.compile backend (inductor: a C++ build on the CPU, minutes with a cold cache)."""
    result, _ = bench(module, "--quick", "--models", "pose_demo", timeout=900)
    model = result["models"]["pose_demo"]
    entries = [model["variants"]] if module == "train_step" else [b["variants"] for b in model["batches"].values()]
    for variants in entries:
        assert variants["compile"]["status"] == "ok", variants["compile"]
        positive(variants["compile"], "compile_s", "flop_per_s")


# --- Helpers --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("groups", [1, 2, 8])
def test_flop_counter_counts_grouped_convolution_backward(groups):
    """Forward, input gradient and weight gradient of a convolution each cost the forward's FLOPs, grouped
    (depthwise) or not; torch's own formula multiplies the grouped weight gradient by the number of groups."""
    conv = torch.nn.Conv2d(8, 8, 5, padding=2, groups=groups)
    x = torch.randn(2, 8, 16, 16, requires_grad=True)
    with FlopCounterMode(display=False) as forward:
        conv(x)
    with flop_counter() as counter:
        conv(x).sum().backward()
    assert counter.get_total_flops() == 3 * forward.get_total_flops()
    with FlopCounterMode(display=False) as raw:
        conv(x).sum().backward()
    assert raw.get_total_flops() == (2 + groups) * forward.get_total_flops()


def test_run_rounds_drops_a_failing_fragile_variant_and_times_compilation_apart():
    calls = {"ok": 0, "compiled": 0}

    def ok():
        calls["ok"] += 1

    def compiled():
        calls["compiled"] += 1

    def broken():
        raise RuntimeError("backend exploded\nmore detail")

    times, first, failed = run_rounds({"ok": ok, "compiled": compiled, "broken": broken}, warmup=1, iters=3,
                                      device="cpu", desc="t", compiled=["compiled"], fragile=["broken"])  # fmt: skip
    assert calls == {"ok": 4, "compiled": 4}
    assert len(times["ok"]) == 3 and len(times["compiled"]) == 3 and "compiled" in first
    assert "broken" not in times and failed == {"broken": "RuntimeError: backend exploded"}
    with pytest.raises(RuntimeError, match="exploded"):  # only fragile variants may fail
        run_rounds({"broken": broken}, warmup=0, iters=1, device="cpu", desc="t")


def test_run_rounds_stops_a_compilation_past_its_time_limit():
    """--compile-timeout: a first (compiling) call running past the limit is interrupted and reported as failed."""
    import time

    def slow_first_call():
        time.sleep(30)

    start = time.perf_counter()
    times, first, failed = run_rounds({"eager": lambda: None, "compile": slow_first_call}, warmup=0, iters=2,
                                      device="cpu", desc="t", compiled=["compile"], fragile=["compile"],
                                      compile_limit=0.2)  # fmt: skip
    assert time.perf_counter() - start < 10
    assert "compile" not in times and len(times["eager"]) == 2
    assert "took longer than 0.2 s" in failed["compile"]


def test_compile_unavailable_without_a_cxx_compiler(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-c++-compiler")
    reason = compile_unavailable(torch.device("cpu"), "inductor")
    assert "no C++ compiler" in reason and "no-such-c++-compiler" in reason
    assert compile_unavailable(torch.device("cpu"), "aot_eager") is None  # no C++ needed


def test_per_name_option():
    names = ["pose_demo", "action_demo"]
    assert per_name_option(["4"], names, "--iters") == {"pose_demo": 4, "action_demo": 4}
    assert per_name_option(["3", "pose_demo=8"], names, "--batch-size") == {"pose_demo": 8, "action_demo": 3}
    assert per_name_option(None, names, "--iters") == {}
    assert per_name_option(["pose_demo=0"], names, "--warmup") == {"pose_demo": 0}
    for bad in (["posedemo=2"], ["pose_demo=x"], ["0"]):
        with pytest.raises(SystemExit):
            per_name_option(bad, names, "--iters")


def test_print_table_aligns_columns(capsys):
    print_table(["model", "ms"], [["a", 1.5], ["longer", None]])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["model    ms", "------  ---", "a       1.5", "longer    -"]


@pytest.mark.slow  # a bench smoke run (10-25 s): make test-all
def test_action_features_times_the_three_epochs_on_the_same_clips():
    """bench/action_features.py: the full model (pose frozen / trained) and the head on saved features, one epoch each
    over the same train clips, plus the extraction, as a table and a JSON line."""
    result, stdout = bench("action_features", "--clips-per-class", "1", "--epochs", "1")
    assert result["benchmark"] == "action_features" and result["size"] == "demo"
    rows = ("full_frozen_pose", "full_trained_pose", "head_on_features")
    for row in rows:
        positive(result["epoch_s"], row)
        positive(result["ms_per_clip"], row)
    batches = result["batches_per_epoch"]
    assert len({batches[row] for row in rows}) == 1 and batches["head_on_features"] >= 1  # the same clips per epoch
    assert result["extracted_clips"] == 2 * result["train_clips"]  # train + val: 2 subjects each here
    positive(result, "extraction_s", "head_speedup_vs_frozen_pose", "head_speedup_vs_trained_pose")
    assert result["head_speedup_vs_frozen_pose"] == pytest.approx(
        result["epoch_s"]["full_frozen_pose"] / result["epoch_s"]["head_on_features"], rel=0.01
    )
    assert "head on saved features" in stdout and "paid back after" in stdout


@pytest.mark.slow  # a bench smoke run (10-25 s): make test-all
def test_clip_pipeline_times_region_and_whole_frame_decoding_of_the_same_clips():
    result, stdout = bench("clip_pipeline", "--clips-per-class", "1", "--rounds", "1")
    assert result["benchmark"] == "clip_pipeline" and result["frames_per_clip"] == 8
    for key in ("train_decode_whole", "train_roi", "train_whole", "eval_decode_whole", "eval_roi", "eval_whole"):
        positive(result["ms_per_clip"], key)
    for split in ("train", "eval"):
        assert result["roi_speedup"][split] == pytest.approx(
            result["ms_per_clip"][f"{split}_whole"] / result["ms_per_clip"][f"{split}_roi"], rel=0.01
        )
    assert "crop regions only" in stdout
    faults = result["page_faults_per_frame"]
    assert set(faults) >= {"train_roi", "train_whole", "eval_roi", "eval_whole"}
    assert all(isinstance(v, float) and v >= 0 for v in faults.values())


@pytest.mark.slow  # a bench smoke run (10-25 s): make test-all
def test_epoch_profile_splits_one_epoch_into_its_parts(tiny_coco):
    """bench/epoch_profile.py on the tiny set: every part timed, the parts add up to the fit, the step counts match."""
    result, stdout = bench("epoch_profile", "--quick", f"data.root={tiny_coco}", "data.synthetic.num_train=24",
                           "data.synthetic.num_val=9")  # fmt: skip
    assert result["benchmark"] == "epoch_profile" and result["train_steps"] == 3
    calls = result["calls"]
    assert calls["forward"] == calls["backward"] == calls["optimizer"] == calls["data loading"] == 3
    assert calls["validation"] == 1 and calls["checkpoints"] >= 1 and calls["logging"] >= 1
    for part in ("forward", "backward", "optimizer", "validation"):
        positive(result["seconds"], part)
    total = sum(result["seconds"].values()) + result["sanity_check_s"]
    assert total == pytest.approx(result["fit_s"], abs=1e-3)
    assert set(result["validation_parts_s"]) == {"COCO AP", "overlays"}
    assert "of which overlays" in stdout and 0 <= result["val_pck@0.2"] <= 1


def test_h36m_reader_quick_reports_index_builds_and_sample_loads(tmp_path):
    """Both forms' index builds (train and val) and the per-sample load against the whole-frame decode, on a small
    synthetic set; medians of 3 runs each."""
    result, stdout = bench("h36m_reader", "--quick", "--workdir", str(tmp_path))
    assert result["benchmark"] == "h36m_reader" and result["repeats"] == 3
    for form in ("deephar", "mmpose"):
        for split, frames in (("train", 300), ("val", 120)):
            entry = result["index"][form][split]
            assert entry["frames"] == frames and len(entry["runs_s"]) == 3
            assert entry["seconds"] == sorted(entry["runs_s"])[1]  # the median
            positive(entry, "frames_per_s")
    sample = result["sample"]
    assert sample["samples"] == 10 and sample["frame_size"] == [128, 128]
    positive(sample, "load_ms", "decode_ms", "load_over_decode")
    assert "sample load / frame decode" in stdout and "index build mmpose val" in stdout
