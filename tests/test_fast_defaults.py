"""The fastest measured layout by default (issue 16): every preset with a pose network runs it in channels_last,
GPU trainer presets turn on cuDNN's autotuner (fixed input sizes), and a deterministic run turns the autotuner off."""

import pytest
import torch

from bench.common import compose_experiment
from har.run.launch import prepare_config

EXPERIMENTS = ["synthetic_pose", "coco_pose", "merl_pose", "synthetic_action", "merl_action"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_presets_default_to_channels_last(experiment):
    cfg = compose_experiment(experiment)
    assert cfg.model.channels_last is True


def test_the_default_run_builds_a_channels_last_network():
    """`python train.py` (synthetic_pose): the module's convolution weights are in channels_last."""
    from hydra.utils import instantiate

    cfg = compose_experiment("synthetic_pose")
    module = instantiate(cfg.model)
    convs = [m for m in module.net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)


@pytest.mark.parametrize("trainer", ["gpu", "ddp"])
def test_gpu_trainers_turn_on_cudnn_benchmark(trainer):
    cfg = compose_experiment("synthetic_pose", [f"trainer={trainer}"])
    assert cfg.trainer.benchmark is True
    prepare_config(cfg)
    assert cfg.trainer.benchmark is True


def test_cpu_trainer_leaves_cudnn_alone():
    cfg = compose_experiment("synthetic_pose", ["trainer=cpu"])
    assert cfg.trainer.get("benchmark") is None


def test_a_deterministic_run_turns_the_autotuner_off():
    cfg = compose_experiment("synthetic_pose", ["trainer=gpu", "trainer.deterministic=true"])
    prepare_config(cfg)
    assert cfg.trainer.benchmark is False
