"""scripts/gpu_check.sh --cpu: the GPU check's smoke version (tiny networks, a few steps, on the CPU) runs every part
and writes its JSON and table; the wheel script is valid bash and names a size limit."""

import json
import os
import subprocess

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")  # its time counts in the first test's timeout
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    env = {**os.environ, "PYTHON": os.environ.get("HAR_TEST_PYTHON", __import__("sys").executable)}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--cpu", "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=1100)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, proc.stdout


@pytest.mark.timeout(1200)  # the module's first test runs the smoke check (2-3 min on 2 idle cores)
def test_every_part_is_measured(smoke):
    out, stdout = smoke
    figures = json.loads((out / "gpu_check.json").read_text())
    assert json.loads(stdout.strip().splitlines()[-1]) == figures  # the last line is the same JSON
    assert figures["benchmark"] == "gpu_check" and figures["smoke"] is True and figures["device"] == "cpu"
    assert figures["gemm"]["flop_per_s"] > 0
    pose = figures["pose_synthetic"]["variants"]["eager"]
    assert pose["samples_per_s"] > 0 and pose["gemm_fraction"] > 0
    assert pose["samples_per_s_range"][0] <= pose["samples_per_s"] <= pose["samples_per_s_range"][1]
    assert figures["pose_synthetic"]["variants"]["compile"]["status"] == "skipped"
    assert figures["action_clip"]["variants"]["eager"]["samples_per_s"] > 0
    loader = figures["pose_loader"]
    assert loader["steps"] == 3 and 0 < loader["busy_fraction"] <= 1.0001
    curves = figures["bf16_vs_fp32"]
    assert len(curves["fp32"]) == len(curves["bf16"]) == curves["steps"]
    assert curves["fp32"] != curves["bf16"]  # bf16 autocast did run: not bit-identical
    assert curves["relative_difference"]["max"] < 0.05
    ev = figures["evaluate"]
    assert set(ev["metrics"]) == {"gpu", "cpu"} and "test/pck@0.2" in ev["metrics"]["cpu"]
    assert ev["max_abs_difference"] == 0.0  # --cpu: both evaluations ran on the CPU, same checkpoint


@pytest.mark.timeout(1200)
def test_the_table_names_every_part(smoke):
    out, stdout = smoke
    table = (out / "gpu_check.md").read_text()
    for text in ("pose training step, full size", "action clip step", "from the DataLoader", "GPU busy",
                 "bf16 vs fp32 loss", "evaluate.py, same checkpoint"):  # fmt: skip
        assert text in table and text in stdout


def test_the_wheel_script_is_valid_and_bounded():
    script = (ROOT / "scripts" / "gpu_wheels.sh").read_text()
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / "gpu_wheels.sh")], check=True)
    assert "60" in script and "wheels/gpu" in script
    assert "/wheels/" in (ROOT / ".gitignore").read_text().splitlines()
