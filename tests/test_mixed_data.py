"""Mixed 2D/3D batches: per-dataset counts in every batch, deephar's epoch, reshuffling, DDP slices (each process its
own samples, Lightning's DistributedSampler injection), one validation loader per dataset with unique indices."""

from collections import Counter

import numpy as np
import pytest
import torch
from lightning.fabric.utilities.data import _replace_dunder_methods, _set_sampler_epoch
from lightning.pytorch.utilities.data import _update_dataloader
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

from har.data.datamodules.h36m import H36mDataModule
from har.data.datamodules.mixed import MixedBatchSampler, MixedDataModule
from har.data.datamodules.mpii import MpiiDataModule

SIZE = [64, 64]


def part_of(index: int, sizes) -> int:
    return int(np.searchsorted(np.cumsum(sizes), index, side="right"))


def test_every_batch_holds_the_counts_and_a_pass_covers_each_dataset():
    sizes, counts = [10, 25, 4], [2, 3, 1]
    sampler = MixedBatchSampler(None, sizes, counts)
    assert len(sampler) == max(-(-s // c) for s, c in zip(sizes, counts))  # deephar: the longest pass, 9 batches
    batches = list(sampler)
    assert len(batches) == len(sampler)
    for batch in batches:
        parts = [part_of(i, sizes) for i in batch]
        assert parts == sorted(parts) and Counter(parts) == {0: 2, 1: 3, 2: 1}
    drawn = [i for b in batches for i in b]
    # the longest dataset (25 in 9 × 3 = 27 draws) is seen whole before any repeat; the others cycle
    second = [i - 10 for i in drawn if part_of(i, sizes) == 1]
    assert sorted(second[:25]) == list(range(25))
    sampler.set_epoch(1)
    assert list(sampler) != batches  # reshuffled per epoch
    sampler.set_epoch(0)
    assert list(sampler) == batches  # and reproducible


def test_ddp_processes_get_disjoint_slices_of_each_step():
    sizes, counts = [12, 30], [2, 3]
    ranks = [MixedBatchSampler(DistributedSampler(range(42), num_replicas=2, rank=r), sizes, counts) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 5  # ceil(30 / (3 · 2))
    for b0, b1 in zip(*ranks):
        assert not set(b0) & set(b1)
        assert Counter(part_of(i, sizes) for i in b0) == Counter(part_of(i, sizes) for i in b1) == {0: 2, 1: 3}
    second = [i for batches in zip(*ranks) for b in batches for i in b if i >= 12]
    assert sorted(second) == list(range(12, 42))  # 2 processes × 5 steps × 3 = one pass over the 30


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="one count per dataset"):
        MixedBatchSampler(None, [3, 4], [1])
    with pytest.raises(ValueError, match="no sample"):
        MixedBatchSampler(None, [0, 4], [1, 1])


@pytest.fixture(scope="module")
def mixed(tiny_mpii, tiny_h36m):
    common = {"input_size": SIZE, "num_workers": 0, "pin_memory": False, "persistent_workers": False,
              "report_dir": None, "batch_size": 8}  # fmt: skip
    mpii = MpiiDataModule(str(tiny_mpii), layout="pa17j", **common)
    h36m = H36mDataModule(str(tiny_h36m), **common)
    dm = MixedDataModule({"mpii": mpii, "h36m": h36m}, {"mpii": 3, "h36m": 2}, "pa17j", SIZE, num_workers=0,
                         pin_memory=False, persistent_workers=False)  # fmt: skip
    dm.setup("fit")
    return dm


def test_mixed_training_batches_collate_both_datasets(mixed):
    assert mixed.eval_sets == [("mpii", "pckh"), ("h36m", "mpjpe")] and mixed.layout.name == "pa17j"
    loader = mixed.train_dataloader()
    assert len(loader) == -(-300 // 2)  # Human3.6M's 300 training frames, 2 per batch
    batch = next(iter(loader))
    assert batch["dataset"].tolist() == [0, 0, 0, 1, 1]
    assert batch["image"].shape == (5, 3, *SIZE) and batch["target_uv"].shape == (5, 17, 2)
    # MPII: x, y targets, no depth, no spine; Human3.6M: depth targets and MPJPE ground truth
    assert not batch["target_z_valid"][:3].any() and not batch["target_valid"][:3, 16].any()
    assert batch["target_z_valid"][3:].any() and (batch["root_depth"][3:] > 0).all()
    assert (batch["head_size"][:3] > 0).any() and (batch["action"][:3] == -1).all()


def test_validation_is_one_loader_per_dataset_with_unique_indices(mixed):
    loaders = mixed.val_dataloader()
    assert len(loaders) == 2
    for k, loader in enumerate(loaders):
        ids, datasets = [], set()
        for batch in loader:
            ids += batch["index"].tolist()
            datasets |= set(batch["dataset"].tolist())
        assert datasets == {k} and sorted(ids) == list(range(len(loader.dataset)))


def test_lightning_injects_its_distributed_sampler_into_the_batch_sampler(mixed):
    with _replace_dunder_methods(DataLoader, "dataset"), _replace_dunder_methods(BatchSampler):
        loader = mixed.train_dataloader()  # as Lightning calls the hook: init arguments recorded
    ddp = _update_dataloader(loader, DistributedSampler(loader.dataset, num_replicas=2, rank=1, shuffle=True))
    sampler = ddp.batch_sampler
    assert isinstance(sampler, MixedBatchSampler) and (sampler.num_replicas, sampler.rank) == (2, 1)
    assert len(ddp) == -(-300 // 4) and sampler.counts == [3, 2]
    first = next(iter(sampler))
    rank0 = MixedBatchSampler(DistributedSampler(loader.dataset, num_replicas=2, rank=0), sampler.sizes, [3, 2])
    assert not set(first) & set(next(iter(rank0)))
    # Lightning's epoch start reaches the shuffles through the batch sampler's sampler, on one process or several
    for dl in (loader, ddp):
        before = list(dl.batch_sampler)
        _set_sampler_epoch(dl, 1)
        assert dl.batch_sampler.epoch == 1 and list(dl.batch_sampler) != before
    assert torch.equal(
        torch.as_tensor(sampler.offsets), torch.tensor([0, len(mixed.members["mpii"].datasets["train"])])
    )


def test_layouts_and_sizes_must_agree(tiny_mpii, tiny_h36m):
    mpii = MpiiDataModule(str(tiny_mpii), layout="pa16j", input_size=SIZE, report_dir=None)
    h36m = H36mDataModule(str(tiny_h36m), input_size=SIZE, report_dir=None)
    with pytest.raises(ValueError, match="layout"):
        MixedDataModule({"mpii": mpii, "h36m": h36m}, {"mpii": 1, "h36m": 1}, "pa17j", SIZE)
    with pytest.raises(ValueError, match="batch_counts"):
        MixedDataModule({"h36m": h36m}, {"mpii": 1}, "pa17j", SIZE)
    assert MixedDataModule({"h36m": h36m}, 4, "pa17j", SIZE).counts == [4]  # one number: the same for each


@pytest.mark.parametrize(
    ("name", "eval_sets", "layout"),
    [
        ("mpii", [("mpii", "pckh")], "pa16j"),
        ("synthetic_mpii", [("mpii", "pckh")], "pa16j"),
        ("h36m", [("h36m", "mpjpe")], "pa17j"),
        ("synthetic_h36m", [("h36m", "mpjpe")], "pa17j"),
        ("mpii_h36m", [("mpii", "pckh"), ("h36m", "mpjpe")], "pa17j"),
        ("synthetic_pose3d", [("mpii", "pckh"), ("h36m", "mpjpe")], "pa17j"),
    ],
)
def test_data_configs_instantiate(name, eval_sets, layout, tmp_path):
    from hydra.utils import instantiate

    from tests.test_configs import compose_config

    cfg = compose_config("train", [f"data={name}"], tmp_path)
    dm = instantiate(cfg.data)
    assert dm.eval_sets == eval_sets and dm.layout.name == layout == cfg.data.layout
    assert tuple(cfg.data.input_size) == ((128, 128) if name.startswith("synthetic") else (256, 256))
    if name == "mpii_h36m":
        assert dm.counts == [14, 14]  # deephar's TPAMI mix
    parts = list(dm.members.values()) if hasattr(dm, "members") else [dm]
    for part in parts:  # the synthetic people's colours are their only left/right cue (tests/test_person3d.py)
        assert part.augment.flip_prob == (0.0 if name.startswith("synthetic") else 0.5), name
