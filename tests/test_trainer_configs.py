"""Trainer presets (cpu, gpu, ddp, ddp_sim, multi-node under SLURM), SyncBatchNorm, channels_last + torch.compile,
the SLURM launcher config, and the debug presets."""

from pathlib import Path

import pytest
import torch
from hydra.utils import get_class, instantiate
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.strategies import DDPStrategy, SingleDeviceStrategy
from omegaconf import OmegaConf

from har.lit.pose import PoseModule
from har.run.launch import prepare_config
from har.run.pipeline import evaluate, train
from tests.conftest import ROOT, tiny_data_overrides
from tests.test_configs import EXPERIMENTS, compose_config

TRAINERS = sorted(p.stem for p in (ROOT / "conf" / "trainer").glob("*.yaml"))
DEBUG = sorted(p.stem for p in (ROOT / "conf" / "debug").glob("*.yaml"))
# A tiny pose network on the tiny dataset, one short epoch.
TINY_RUN = ["model.net.width=32", "data.input_size=[64,64]", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
            "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2", "logger=csv"]  # fmt: skip


def build_trainer(overrides: list[str], tmp_path: Path):
    cfg = compose_config("train", overrides, tmp_path)
    prepare_config(cfg)
    return cfg, instantiate(cfg.trainer)


@pytest.mark.parametrize("name", TRAINERS)
def test_trainer_preset_builds_a_trainer(name, tmp_path):
    """Every preset builds a Trainer on this GPU-less machine: the GPU presets fall back to fp32 on the CPU."""
    cfg, trainer = build_trainer([f"trainer={name}"], tmp_path)
    assert trainer.max_epochs == cfg.trainer.max_epochs
    if not torch.cuda.is_available() and name in ("gpu", "ddp"):
        assert trainer.precision == "32-true" and trainer.accelerator.__class__.__name__ == "CPUAccelerator"


def test_ddp_sim_is_two_cpu_processes_with_plain_ddp(tmp_path):
    _, trainer = build_trainer(["trainer=ddp_sim"], tmp_path)
    assert isinstance(trainer.strategy, DDPStrategy) and trainer.num_devices == 2
    assert trainer.strategy._start_method == "popen"  # Lightning re-runs the script per rank, as on GPUs
    assert trainer.accelerator.__class__.__name__ == "CPUAccelerator"


def test_ddp_preset_and_cli_devices(tmp_path):
    _, trainer = build_trainer(["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=3"], tmp_path)
    assert isinstance(trainer.strategy, DDPStrategy) and trainer.num_devices == 3
    _, single = build_trainer([], tmp_path)
    assert isinstance(single.strategy, SingleDeviceStrategy)


def test_multi_node_uses_slurms_processes(tmp_path, monkeypatch):
    """`srun python train.py trainer=ddp trainer.num_nodes=2 trainer.devices=4` (scripts/slurm/train.sbatch): in
    SLURM task 5 (node 1, local rank 1) Lightning takes ranks and the master node from SLURM and starts nothing."""
    slurm = {"SLURM_NTASKS": "8", "SLURM_NTASKS_PER_NODE": "4", "SLURM_NNODES": "2", "SLURM_JOB_NUM_NODES": "2",
             "SLURM_NODELIST": "gpu[07-08]", "SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NODEID": "1",
             "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "har"}  # fmt: skip
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    overrides = ["trainer=ddp", "trainer.num_nodes=2", "trainer.devices=4", "trainer.accelerator=cpu"]
    _, trainer = build_trainer(overrides, tmp_path)
    env = trainer.strategy.cluster_environment
    assert isinstance(env, SLURMEnvironment) and env.creates_processes_externally
    assert (trainer.world_size, trainer.global_rank, trainer.local_rank, trainer.node_rank) == (8, 5, 1, 1)
    assert env.main_address == "gpu07"


def test_sync_batchnorm_converts_every_batchnorm_and_keeps_checkpoint_names(tmp_path):
    """trainer.sync_batchnorm=true: every BatchNorm of the network becomes a SyncBatchNorm with the same state_dict
    names, so checkpoints of such runs load into plain models (evaluate.py) and back."""
    cfg, trainer = build_trainer(["trainer=ddp", "trainer.sync_batchnorm=true"], tmp_path)
    assert trainer.strategy._layer_sync is not None
    model = instantiate(OmegaConf.merge(cfg.model, {"net": {"width": 32, "num_blocks": 2}}), _convert_="all")
    names = list(model.state_dict())
    num_bn = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    synced = trainer.strategy._layer_sync.apply(model)
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules()) == num_bn > 0
    assert list(synced.state_dict()) == names


def test_sync_batchnorm_on_cpu_processes_is_a_clear_error(tmp_path):
    cfg = compose_config("train", ["trainer=ddp_sim", "+trainer.sync_batchnorm=true"], tmp_path)
    with pytest.raises(ValueError, match="sync_batchnorm=true needs GPUs"):
        prepare_config(cfg)


def test_slurm_launcher_config_composes_from_the_trainer(tmp_path):
    """hydra/launcher=slurm (hydra-submitit-launcher): nodes, tasks and GPUs per node follow the trainer config;
    the partition is an override. Composed only: nothing is submitted."""
    overrides = ["hydra/launcher=slurm", "trainer=ddp", "trainer.num_nodes=2", "trainer.devices=4",
                 "hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=60"]  # fmt: skip
    launcher = compose_config("train", overrides, tmp_path).hydra.launcher
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (2, 4, 4)
    assert (launcher.partition, launcher.timeout_min) == ("gpu", 60)
    assert get_class(launcher._target_).__name__ == "SlurmLauncher"


def test_channels_last_and_compile_train_and_checkpoints_load_uncompiled(tiny_coco, tmp_path):
    """compile.enabled=true compiles the model's forward (torch.compile; the eager backend keeps this test fast),
    model.channels_last=true runs it in channels_last; the checkpoint has the plain parameter names and evaluate.py
    (uncompiled) reproduces the compiled run's test metrics."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    data = [*tiny_data_overrides(tiny_coco), "data.input_size=[64,64]"]
    overrides = [*data, "model.net.width=32", "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "logger=csv",
                 "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1", "+trainer.num_sanity_val_steps=0",
                 "compile.enabled=true", "compile.backend=eager", "model.channels_last=true"]  # fmt: skip
    trained = train(compose_config("train", overrides, tmp_path / "train"))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0, "nothing was compiled"
    ckpt = next((tmp_path / "train" / "checkpoints").glob("epoch_*.ckpt"))
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    plain = instantiate(compose_config("train", overrides, tmp_path).model, _convert_="all")
    assert isinstance(plain, PoseModule) and list(state) == list(plain.state_dict())
    evaluated = evaluate(compose_config("eval", [*data, f"ckpt_path={ckpt}", "+trainer.limit_test_batches=1"],
                                        tmp_path / "eval"))  # fmt: skip
    for key in ("test/pck@0.2", "test/loss"):
        assert evaluated[key] == pytest.approx(trained[key], abs=1e-5), key


@pytest.mark.parametrize("debug", DEBUG)
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_debug_preset_builds_the_data_of_every_experiment(experiment, debug, tmp_path):
    cfg = compose_config("train", [f"experiment={experiment}", f"debug={debug}"], tmp_path)
    prepare_config(cfg)
    instantiate(cfg.data, _convert_="all")


def test_debug_overfit_switches_augmentation_off_for_multitask_data(tmp_path):
    cfg = compose_config("train", ["experiment=synthetic_action", "debug=overfit"], tmp_path)
    prepare_config(cfg)
    assert cfg.data.action.augment is None and cfg.data.pose.augment is None
    assert cfg.trainer.overfit_batches == 2


def test_debug_profiler_writes_its_report_into_the_run_folder(tiny_coco, tmp_path):
    overrides = [*tiny_data_overrides(tiny_coco), "model.net.width=32", "data.input_size=[64,64]", "debug=profiler",
                 "trainer.limit_train_batches=3", "trainer.limit_val_batches=1", "logger=csv"]  # fmt: skip
    train(compose_config("train", overrides, tmp_path))
    report = (tmp_path / "profiler" / "fit-profile.txt").read_text()
    assert "run_training_batch" in report and "Total" in report
