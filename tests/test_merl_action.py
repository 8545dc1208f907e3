"""data=merl_action: the fork's per-frame JSON → clips, on tiny hand-made frames; every bad input is a clear error."""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from har.data.datamodules.merl_action import MerlActionDataModule
from har.data.datasets.merl_action import MerlActionDataset
from har.data.formats.merl_action import load_merl_action_index
from har.data.formats.merl_classes import FORK_CLASSES, MERL_CLASSES, label_table, normalise_label
from har.data.sampling import ClipSampler
from har.data.transforms.augmentation import GeometricAugmentation
from har.data.transforms.clip import ClipTransform
from har.geometry.boxes import fill_empty_boxes

H, W = 48, 64
STEP = 35  # colour code step: robust to JPEG


def frame_image(number: int) -> np.ndarray:
    """A BGR frame whose colour encodes its number (blue = 20 + 35·(n % 7), green = 20 + 35·(n // 7))."""
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = 20 + STEP * (number % 7)
    img[..., 1] = 20 + STEP * (number // 7)
    img[..., 2] = 128
    return img


def decode_number(rgb_pixel) -> int:
    """Frame number from an RGB pixel of :func:`frame_image`."""
    r, g, b = (float(v) for v in rgb_pixel)
    return round((b - 20) / STEP) + 7 * round((g - 20) / STEP)


def write_clip(folder: Path, clip_id: str, action: str, numbers, boxes=None, url_prefix: str = "") -> list[dict]:
    """Frames ``{clip_id}/{n}.jpg`` under ``folder`` and their records (url relative to the JSON's folder)."""
    (folder / clip_id).mkdir(parents=True, exist_ok=True)
    records = []
    for i, n in enumerate(numbers):
        cv2.imwrite(str(folder / clip_id / f"{n}.jpg"), frame_image(n))
        box = boxes[i] if boxes is not None else [16, 8, 48, 40]
        records.append({"action": action, "keypoints": [], "id": clip_id,
                        "image": {"url": f"{url_prefix}{clip_id}/{n}.jpg", "file_name": f"{n}.jpg",
                                  "width": W, "height": H},
                        "person_bbox": box})  # fmt: skip
    return records


def write_json(path: Path, records: list) -> Path:
    path.write_text(json.dumps(records))
    return path


@pytest.fixture
def action_root(tmp_path) -> Path:
    """Three clips: one of 12 frames (shuffled in the file), one of 5 (< T), one of 20 with some empty boxes."""
    a = write_clip(tmp_path, "ReachToShelf_1_1_crop_10_21_ReachToShelf", "reach to shelf", range(1, 13))
    b = write_clip(tmp_path, "x_2_1_crop_5_9_InspectProduct", "Inspect_Product", range(5))
    boxes = [[] if i % 3 else [10 + i, 8, 40 + i, 40] for i in range(20)]
    c = write_clip(tmp_path, "c_3_1_crop_0_19_HandInShelf", "HandInShelf", range(20), boxes)
    rng = np.random.default_rng(0)
    a = [a[i] for i in rng.permutation(len(a))]
    write_json(tmp_path / "train.json", a + b + c)
    write_json(tmp_path / "test.json", b + c)
    return tmp_path


def test_label_normalisation_case_spacing_and_aliases():
    assert normalise_label("reach_to shelf", MERL_CLASSES) == 0
    assert normalise_label("INSPECTSHELF", MERL_CLASSES) == 4
    assert normalise_label("HandsInShelf", MERL_CLASSES, {"HandsInShelf": "HandInShelf"}) == 2
    assert normalise_label("GlanceatShelf", FORK_CLASSES) == normalise_label("GlanceAtShelf", FORK_CLASSES) == 1
    with pytest.raises(ValueError, match="'Dancing'"):
        normalise_label("Dancing", MERL_CLASSES)
    with pytest.raises(ValueError, match="same label"):
        label_table(["ReachToShelf", "reach_to_shelf"])


def test_index_groups_by_id_and_orders_by_frame_number(action_root):
    index = load_merl_action_index(action_root / "train.json")
    assert list(index.clip_ids) == ["ReachToShelf_1_1_crop_10_21_ReachToShelf", "x_2_1_crop_5_9_InspectProduct",
                                    "c_3_1_crop_0_19_HandInShelf"]  # fmt: skip
    assert index.labels.tolist() == [0, 3, 2] and index.clip_length.tolist() == [12, 5, 20]
    names = [Path(index.frame_path(r)).name for r in range(12)]
    assert names == [f"{n}.jpg" for n in range(1, 13)]  # shuffled in the file, sorted by frame number
    assert all(Path(index.frame_path(r)).is_file() for r in range(len(index.frame_files)))
    assert index.boxes.dtype == np.float32 and np.isnan(index.boxes[index.frames(2)][1]).all()
    assert index.keypoints is None


def test_absolute_urls_and_file_order_without_frame_numbers(tmp_path):
    frames = tmp_path / "frames"
    records = write_clip(frames, "clipA", "InspectShelf", [3, 1, 2], url_prefix=f"{frames}/")
    for r in records:
        r["image"]["file_name"] = "frame.jpg"  # no number: file order
        r["image"]["url"] = str(frames / r["image"]["url"].split(f"{frames}/")[-1])
    sub = tmp_path / "json"
    sub.mkdir()
    index = load_merl_action_index(write_json(sub / "a.json", records))
    assert [Path(index.frame_path(r)).name for r in range(3)] == ["3.jpg", "1.jpg", "2.jpg"]


def test_label_from_the_ids_suffix(tmp_path):
    records = write_clip(tmp_path, "LookatShelf_33_1_crop_3243_3374_InspectProduct", "LookatShelf", range(3))
    index = load_merl_action_index(write_json(tmp_path / "a.json", records), label_source="id_suffix")
    assert index.labels.tolist() == [3]
    fork = load_merl_action_index(tmp_path / "a.json", classes=FORK_CLASSES)
    assert fork.labels.tolist() == [2]


def make_dataset(index, train=False, **transform_kwargs):
    sampler = ClipSampler(num_frames=8, sampling="window", strides=(1, 2), eval_stride=1)
    return MerlActionDataset(index, sampler, ClipTransform((32, 32), **transform_kwargs), train)


def test_batch_format_through_a_dataloader(action_root):
    dataset = make_dataset(load_merl_action_index(action_root / "train.json"))
    batch = next(iter(DataLoader(dataset, batch_size=2)))
    assert batch["frames"].shape == (2, 8, 3, 32, 32) and batch["frames"].dtype == torch.uint8
    assert batch["label"].dtype == torch.int64 and batch["label"].tolist() == [0, 3]
    assert batch["clip_id"] == ["ReachToShelf_1_1_crop_10_21_ReachToShelf", "x_2_1_crop_5_9_InspectProduct"]
    assert batch["index"].tolist() == [0, 1] and batch["index"].dtype == torch.int64
    assert batch["frame_indices"].shape == (2, 8) and batch["frame_indices"].dtype == torch.int64
    assert batch["crop_to_image"].shape == (2, 8, 2, 3) and batch["crop_to_image"].dtype == torch.float32
    assert batch["flipped"].dtype == torch.bool and batch["flipped"].shape == (2,)
    assert batch["frame_indices"][0].tolist() == [2, 3, 4, 5, 6, 7, 8, 9]  # centred, eval stride 1
    assert batch["frame_indices"][1].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]  # 5 frames stretched (deephar)


def test_the_frames_read_are_the_frames_indexed(action_root):
    dataset = make_dataset(load_merl_action_index(action_root / "train.json"), train=True)
    for _ in range(3):
        sample = dataset[0]  # clip 0 holds frames 1..12 at positions 0..11
        centre = sample["frames"][:, :, 16, 16]  # (T, 3) crop centre pixels
        numbers = [decode_number(px) for px in centre.tolist()]
        assert numbers == (sample["frame_indices"] + 1).tolist()


def test_empty_boxes_are_filled_from_the_nearest_frames(action_root):
    index = load_merl_action_index(action_root / "train.json")
    dataset = make_dataset(index, crop="frame")
    sample = dataset[2]  # boxes only on frames 0, 3, 6, ...: frame p takes the box of the nearest multiple of 3
    for p, m in zip(sample["frame_indices"].tolist(), sample["crop_to_image"].double().numpy()):
        donor = 3 * round(p / 3) if p % 3 != 2 or 3 * (p // 3 + 1) >= 20 else 3 * (p // 3 + 1)
        x1, y1, x2, y2 = index.boxes[index.frames(2)][donor]
        centre = m[:, :2] @ np.array([15.5, 15.5]) + m[:, 2]
        assert np.allclose(centre, [(x1 + x2 - 1) / 2, (y1 + y2 - 1) / 2], atol=1e-3), (p, donor)


def test_training_flip_applies_to_the_whole_clip(action_root):
    index = load_merl_action_index(action_root / "train.json")
    aug = dict(rotation=0.0, rotation_prob=0.0, scale=(1.0, 1.0), translation=0.0, flip_prob=1.0)
    dataset = make_dataset(index, train=True, augment=GeometricAugmentation(**aug))
    plain = make_dataset(index)
    torch.manual_seed(0)
    sample = dataset[2]
    assert sample["flipped"].item()
    positions = sample["frame_indices"].numpy()
    boxes = fill_empty_boxes(index.boxes[index.frames(2)], (W, H))[positions]
    reference = plain.transform(plain.read_frames(2, positions), boxes)
    ref_frames = reference["frames"]
    assert (sample["frames"].flip(-1).int() - ref_frames.int()).abs().max() <= 1


def test_keypoints_are_mapped_and_swapped_with_the_flip(tmp_path):
    records = write_clip(tmp_path, "k", "InspectShelf", range(4))
    for r in records:
        kp = np.zeros((17, 3))
        kp[5] = [19, 20, 1]  # l_sho at the left of the box (12.5 px left of its centre 31.5)
        kp[6] = [44, 20, 1]  # r_sho
        r["keypoints"] = kp.tolist()
    write_json(tmp_path / "train.json", records)
    dm = MerlActionDataModule(str(tmp_path), files={"train": "train.json", "val": "train.json", "test": "train.json"},
                              num_frames=4, input_size=(32, 32), use_keypoints=True, keypoints_layout="coco17",
                              augment=dict(rotation=0, rotation_prob=0, scale=(1, 1), translation=0, flip_prob=1.0),
                              num_workers=0)  # fmt: skip
    dm.setup("fit")
    sample = dm.datasets["train"][0]
    assert sample["flipped"].item() and sample["keypoints"].shape == (4, 17, 3)
    kp = sample["keypoints_crop"]
    assert (kp[:, 5, 0] < kp[:, 6, 0]).all()  # after the flip and the swap, joint 5 is again the image-left one
    assert torch.allclose(kp[:, 5, 0], 31 - sample["keypoints_crop"][:, 6, 0], atol=1e-3)  # mirror images


def test_datamodule_from_the_hydra_config(action_root, tmp_path):
    from hydra.utils import instantiate

    from tests.test_configs import compose_config

    overrides = ["data=merl_action", f"data.root={action_root}", "data.files.train=train.json",
                 "data.files.val=test.json", "data.batch_size=2",
                 "data.num_workers=0", "data.pin_memory=false", "data.input_size=[32,32]"]  # fmt: skip
    cfg = compose_config("train", overrides, tmp_path / "out")
    dm = instantiate(cfg.data, _convert_="all")
    dm.setup("fit")
    assert dm.num_classes == 5 and len(dm.datasets["train"]) == 3 and len(dm.datasets["val"]) == 2
    batch = next(iter(dm.train_dataloader()))
    assert batch["frames"].shape == (2, 8, 3, 32, 32) and batch["flipped"].dtype == torch.bool


# ---------------------------------------------------------------------------------------------------------------
# Bad input: each a planted fault


def test_empty_json_list_names_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"empty\.json.*no frame records"):
        load_merl_action_index(write_json(tmp_path / "empty.json", []))


def test_missing_frame_names_the_file_and_the_clip(action_root):
    (action_root / "c_3_1_crop_0_19_HandInShelf" / "7.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"train\.json: clip 'c_3_1_crop_0_19_HandInShelf'.*7\.jpg"):
        load_merl_action_index(action_root / "train.json")
    index = load_merl_action_index(action_root / "train.json", on_missing_frame="skip")
    assert index.skipped["missing frame file"] == 1 and index.clip_length.tolist() == [12, 5, 19]


def test_clip_whose_frames_all_fail_names_the_file_and_clip(action_root):
    for n in range(5):
        (action_root / "x_2_1_crop_5_9_InspectProduct" / f"{n}.jpg").unlink()
    with pytest.raises(ValueError, match=r"train\.json: clip 'x_2_1_crop_5_9_InspectProduct' has no frames"):
        load_merl_action_index(action_root / "train.json", on_missing_frame="skip")


def test_undecodable_frame_names_the_file_and_the_clip(action_root):
    (action_root / "x_2_1_crop_5_9_InspectProduct" / "2.jpg").write_bytes(b"not a jpeg")
    dataset = make_dataset(load_merl_action_index(action_root / "train.json"))
    with pytest.raises(OSError, match=r"2\.jpg \(clip 'x_2_1_crop_5_9_InspectProduct'\) cannot be decoded"):
        dataset[1]


def test_unknown_label_names_label_clip_and_file(action_root):
    records = json.loads((action_root / "train.json").read_text())
    for r in records:
        if r["id"] == "x_2_1_crop_5_9_InspectProduct":
            r["action"] = "LookatShelf"
    write_json(action_root / "bad.json", records)
    with pytest.raises(ValueError, match=r"bad\.json: clip 'x_2_1_crop_5_9_InspectProduct': unknown .*'LookatShelf'"):
        load_merl_action_index(action_root / "bad.json")


def test_a_clip_with_two_labels_is_an_error(action_root):
    records = json.loads((action_root / "test.json").read_text())
    records[2]["action"] = "InspectShelf"
    with pytest.raises(ValueError, match=r"record 2 \(clip 'x_2_1_crop_5_9_InspectProduct'\): label 'InspectShelf'"):
        load_merl_action_index(write_json(action_root / "bad.json", records))


@pytest.mark.parametrize("box", [[1, 2, 3], [30, 8, 20, 40], [1, 2, "3", 4], {"x": 1}])
def test_malformed_bbox_names_the_record_or_counts_as_empty(action_root, box):
    records = json.loads((action_root / "test.json").read_text())
    records[3]["person_bbox"] = box
    write_json(action_root / "bad.json", records)
    with pytest.raises(ValueError, match=r"bad\.json: record 3 \(clip 'x_2_1_crop_5_9_InspectProduct'\): malformed"):
        load_merl_action_index(action_root / "bad.json")
    index = load_merl_action_index(action_root / "bad.json", on_bad_box="empty")
    assert index.skipped["malformed box (treated as no box)"] == 1 and np.isnan(index.boxes[3]).all()


def test_record_without_an_image_url_names_the_record(action_root):
    records = json.loads((action_root / "test.json").read_text())
    del records[1]["image"]["url"]
    with pytest.raises(ValueError, match=r"record 1 .*image\.url"):
        load_merl_action_index(write_json(action_root / "bad.json", records))


def test_bad_options_fail_at_construction(action_root):
    with pytest.raises(ValueError, match="crop"):
        MerlActionDataModule(str(action_root), crop="person")
    with pytest.raises(ValueError, match="sampling"):
        MerlActionDataModule(str(action_root), sampling="random")
    assert math.isclose(MerlActionDataModule(str(action_root)).hparams.padding, 1.25)
