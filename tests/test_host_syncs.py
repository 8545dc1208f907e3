"""No host synchronisation inside the training and validation steps (issue 16).

On a GPU, ``tensor.item()``, ``.cpu()``, ``.numpy()``, ``.tolist()``, ``float(t)``, ``int(t)`` or ``bool(t)`` (an
``if`` on a tensor) make the host wait for every queued kernel: one such call per step serialises the host and the
device. ``torch.cuda.set_sync_debug_mode`` catches them on a GPU only; here the Tensor methods that read values back
are replaced by spies while a real ``Trainer`` runs the module's ``training_step`` and ``validation_step`` on the
CPU, and any call made during a step fails the test with the line that made it. (Epoch-end work, such as COCO
results, metrics and overlays, reads values back once per epoch, by design.)
"""

from __future__ import annotations

import traceback
from contextlib import contextmanager

import lightning.pytorch as pl
import pytest
import torch
from hydra.utils import instantiate

from tests.conftest import ROOT, tiny_data_overrides
from tests.test_configs import compose_config

# Tensor methods that copy values to the host (each a device sync on a GPU).
SYNCING = ("item", "cpu", "numpy", "tolist", "__bool__", "__float__", "__int__", "__array__")


@contextmanager
def host_sync_spy():
    """Record every call of a syncing Tensor method (name and the har/test line that made it) in the block."""
    calls: list[str] = []
    originals = {name: getattr(torch.Tensor, name) for name in SYNCING}

    def spy(name, original):
        def method(self, *args, **kwargs):
            frames = [f for f in traceback.extract_stack()[:-1] if str(ROOT) in f.filename]
            where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "outside the repository"
            calls.append(f"Tensor.{name} at {where}")
            return original(self, *args, **kwargs)

        return method

    for name, original in originals.items():
        setattr(torch.Tensor, name, spy(name, original))
    try:
        yield calls
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def guard_steps(module: pl.LightningModule, names=("training_step", "validation_step")) -> dict[str, list[str]]:
    """Wrap the module's steps so that each runs under :func:`host_sync_spy`; returns the calls per step name."""
    found: dict[str, list[str]] = {name: [] for name in names}
    counts = dict.fromkeys(names, 0)

    for name in names:
        step = getattr(module, name)

        def guarded(*args, _step=step, _name=name, **kwargs):
            counts[_name] += 1
            with host_sync_spy() as calls:
                out = _step(*args, **kwargs)
            found[_name].extend(calls)
            return out

        setattr(module, name, guarded)
    found["_counts"] = counts  # type: ignore[assignment]
    return found


def fit_two_steps(cfg) -> dict[str, list[str]]:
    module = instantiate(cfg.model, _convert_="all")
    datamodule = instantiate(cfg.data, _convert_="all")
    found = guard_steps(module)
    # Epoch-end work (metrics, COCO AP, overlays, confusion figures) reads values back once per epoch by design and
    # is not under test here: skipped, to keep the test short.
    module.on_validation_epoch_end = module.on_train_epoch_end = lambda: None
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, limit_train_batches=2, limit_val_batches=2,
                         num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    return found


def assert_no_syncs(found: dict) -> None:
    counts = found.pop("_counts")
    assert counts["training_step"] == 2 and counts["validation_step"] == 2, counts  # the steps did run
    assert found == {"training_step": [], "validation_step": []}, f"host syncs inside a step: {found}"


def test_the_spy_sees_a_sync():
    """The spy itself: a value read back inside the block is recorded with its line."""
    with host_sync_spy() as calls:
        t = torch.ones(2)
        float(t.sum())
        if t.any():
            t.max().item()
    assert [c.split(" at ")[0] for c in calls] == ["Tensor.__float__", "Tensor.__bool__", "Tensor.item"]
    assert all("test_host_syncs.py" in c for c in calls)
    assert torch.Tensor.item is not None and float(torch.ones(())) == 1.0  # restored


def test_pose_steps_have_no_host_sync(tiny_coco, tmp_path):
    overrides = ["experiment=synthetic_pose", *tiny_data_overrides(tiny_coco), "data.input_size=[64,64]",
                 "model.net.width=16", "model.num_overlays=2"]  # fmt: skip
    cfg = compose_config("train", overrides, tmp_path)
    assert_no_syncs(fit_two_steps(cfg))


@pytest.mark.parametrize("multitask", [False, True])
def test_action_steps_have_no_host_sync(tiny_merl, multitask, tmp_path):
    if multitask:
        data = ["data=synthetic_merl_multitask", f"data.action.root={tiny_merl / 'action'}",
                f"data.pose.root={tiny_merl / 'pose'}", "data.action.synthetic=null", "data.pose.synthetic=null",
                "data.pose.batch_size=2", "data.pose.num_workers=0", "data.pose.persistent_workers=false"]  # fmt: skip
        prefix = "data.action"
    else:
        data = ["data=synthetic_merl_action", f"data.root={tiny_merl / 'action'}", "data.synthetic=null"]
        prefix = "data"
    data += [f"{prefix}.num_frames=4", f"{prefix}.input_size=[64,64]", f"{prefix}.batch_size=2",
             f"{prefix}.num_workers=0", f"{prefix}.persistent_workers=false"]  # fmt: skip
    overrides = ["experiment=synthetic_action", *data, "model.pose_net.width=16", "model.action_net.num_blocks=1"]
    cfg = compose_config("train", overrides, tmp_path)
    assert_no_syncs(fit_two_steps(cfg))
