"""data=merl_videos: the official release (mp4 + tlabs .mat) → segment clips, on tiny hand-made videos."""

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
import torch
from torch.utils.data import DataLoader

from har.data.datamodules.merl_videos import MerlVideoDataModule
from har.data.datasets.merl_videos import MerlVideoDataset
from har.data.formats.merl_videos import (
    LABELS_DIR,
    VIDEOS_DIR,
    background_segments,
    load_boxes_file,
    load_merl_video_index,
    parse_subjects,
    read_tlabs,
)
from har.data.io.video import probe_video, probe_video_info, read_video_frames
from har.data.sampling import ClipSampler
from har.data.transforms.clip import ClipTransform
from tests.test_merl_action import decode_number, frame_image

NUM_FRAMES = 40  # per video; frame_image codes 0..48


def write_video(path: Path, num_frames: int = NUM_FRAMES) -> Path:
    """An mp4v video whose frame n is :func:`frame_image` (n) (its colour encodes n)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for n in range(num_frames):
        writer.write(frame_image(n))
    writer.release()
    return path


def write_tlabs(path: Path, segments: list, key: str = "tlabs") -> Path:
    """A label file: ``segments`` per class (5 lists of [start, end], 1-based inclusive)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = np.empty((5, 1), dtype=object)
    for c in range(5):
        cells[c, 0] = np.array(segments[c], dtype=np.float64).reshape(-1, 2) if segments[c] else np.zeros((0, 0))
    scipy.io.savemat(str(path), {key: cells})
    return path


SEGMENTS = {  # subject → per class [start, end] (1-based, inclusive)
    1: [[[1, 10]], [[11, 16]], [], [[30, 40]], [[20, 22]]],
    2: [[[5, 12], [20, 25]], [], [[30, 33]], [], []],
    21: [[], [[1, 40]], [], [], []],
    27: [[[3, 9]], [], [], [], [[10, 12]]],
}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("merl_release")
    for subject, segments in SEGMENTS.items():
        write_video(root / VIDEOS_DIR / f"{subject}_1_crop.mp4")
        write_tlabs(root / LABELS_DIR / f"{subject}_1_label.mat", segments)
    boxes = {"1_1_crop": [[] if n % 4 else [8 + n / 4, 4, 40 + n / 4, 44] for n in range(NUM_FRAMES)]}
    (root / "boxes.json").write_text(json.dumps(boxes))
    return root


def copy_release(release: Path, tmp_path: Path, subjects=(1,)) -> Path:
    """A private copy (of some subjects) to plant faults in."""
    for subject in subjects:
        for folder, name in ((VIDEOS_DIR, f"{subject}_1_crop.mp4"), (LABELS_DIR, f"{subject}_1_label.mat")):
            (tmp_path / folder).mkdir(parents=True, exist_ok=True)
            (tmp_path / folder / name).write_bytes((release / folder / name).read_bytes())
    return tmp_path


def test_parse_subjects():
    assert parse_subjects("1-3, 7") == {1, 2, 3, 7}
    assert parse_subjects([1, "4-5"]) == {1, 4, 5} and parse_subjects(9) == {9}
    with pytest.raises(ValueError, match="1-x"):
        parse_subjects("1-x")


def test_tlabs_are_read_1_based_inclusive_as_half_open(release):
    segments = read_tlabs(release / LABELS_DIR / "1_1_label.mat")
    assert [s.tolist() for s in segments] == [[[0, 10]], [[10, 16]], [], [[29, 40]], [[19, 22]]]
    zero_based = read_tlabs(release / LABELS_DIR / "1_1_label.mat", frame_base=0)
    assert zero_based[0].tolist() == [[1, 11]]


def test_frame_count_is_read_and_verified(release):
    assert probe_video(release / VIDEOS_DIR / "1_1_crop.mp4") == (NUM_FRAMES, 64, 48)
    assert probe_video_info(release / VIDEOS_DIR / "1_1_crop.mp4") == (NUM_FRAMES, 64, 48, 30.0)  # written at 30 fps


def test_seeking_returns_the_right_frames(release):
    path = release / VIDEOS_DIR / "2_1_crop.mp4"
    wanted = [0, 3, 3, 4, 17, 18, 26, 39]
    frames = read_video_frames(path, wanted)
    assert [decode_number(f[24, 32]) for f in frames] == wanted
    for first in (11, 25, 38):  # a seek into the middle lands on that frame
        assert decode_number(read_video_frames(path, [first])[0][24, 32]) == first


def test_index_one_sample_per_labelled_segment_by_subject_split(release):
    index = load_merl_video_index(release, parse_subjects("1-20"))
    assert len(index.video_files) == 2 and index.video_frames.tolist() == [NUM_FRAMES, NUM_FRAMES]
    assert index.labels.tolist() == [0, 1, 3, 4, 0, 0, 2]
    assert index.sample_start.tolist() == [0, 10, 29, 19, 4, 19, 29]
    assert index.sample_stop.tolist() == [10, 16, 40, 22, 12, 25, 33]
    assert index.clip_id(1) == "1_1_crop:10-15:RetractFromShelf"
    test = load_merl_video_index(release, parse_subjects("27-41"))
    assert test.labels.tolist() == [0, 4]


def test_class_subsets_and_background(release):
    index = load_merl_video_index(release, parse_subjects([1]), classes=["inspect shelf", "Reach_To_Shelf"],
                                  background=True, background_length=6, background_min_length=3)  # fmt: skip
    assert index.classes == ("InspectShelf", "ReachToShelf", "Background")  # official spellings
    segments = [(int(a), int(b), int(c)) for a, b, c in zip(index.sample_start, index.sample_stop, index.labels)]
    assert segments[:2] == [(0, 10, 1), (19, 22, 0)]
    # frames in no segment of any class: 16..18 and 22..28 → [16, 19), [22, 28), [28, 29) dropped (< 3 frames)
    assert segments[2:] == [(16, 19, 2), (22, 28, 2)]
    assert background_segments(np.zeros(10, bool), 4, 2) == [(0, 4), (4, 8), (8, 10)]


def test_batch_format_and_frames_through_a_dataloader(release):
    index = load_merl_video_index(release, parse_subjects("1-20"))
    sampler = ClipSampler(num_frames=4, sampling="window", strides=(1, 2), eval_stride=2)
    dataset = MerlVideoDataset(index, sampler, ClipTransform((32, 32)), train=False)
    batch = next(iter(DataLoader(dataset, batch_size=2)))
    assert batch["frames"].shape == (2, 4, 3, 32, 32) and batch["frames"].dtype == torch.uint8
    assert batch["label"].tolist() == [0, 1] and batch["label"].dtype == torch.int64
    assert batch["clip_id"] == ["1_1_crop:0-9:ReachToShelf", "1_1_crop:10-15:RetractFromShelf"]
    assert batch["index"].tolist() == [0, 1]
    assert batch["frame_indices"].tolist() == [[1, 3, 5, 7], [11, 12, 13, 14]]  # video frames; 2nd: stride lowered
    assert batch["crop_to_image"].shape == (2, 4, 2, 3) and batch["crop_to_image"].dtype == torch.float32
    assert batch["flipped"].tolist() == [False, False]
    decoded = [[decode_number(px) for px in clip[:, :, 16, 16].tolist()] for clip in batch["frames"]]
    assert decoded == batch["frame_indices"].tolist()  # the frames are the frames named


def test_training_samples_random_frames_within_the_segment(release):
    index = load_merl_video_index(release, parse_subjects("1-20"))
    dataset = MerlVideoDataset(index, ClipSampler(4, "subset"), ClipTransform((32, 32)), train=True)
    torch.manual_seed(0)
    for _ in range(5):
        sample = dataset[5]  # frames [19, 25) of 2_1
        numbers = sample["frame_indices"].tolist()
        assert all(19 <= n < 25 for n in numbers) and numbers == sorted(numbers)
        assert [decode_number(px) for px in sample["frames"][:, :, 16, 16].tolist()] == numbers


def test_person_boxes_from_json_fill_the_gaps(release):
    boxes = load_boxes_file(release / "boxes.json")
    index = load_merl_video_index(release, parse_subjects([1, 2]), boxes=boxes)
    assert index.video_boxes[1] is None  # 2_1 is not in the file: whole frames
    dataset = MerlVideoDataset(index, ClipSampler(4, eval_stride=3), ClipTransform((32, 32), crop="frame"), False)
    sample = dataset[0]  # frames 0..9 of 1_1, boxes on frames 0, 4, 8
    for n, m in zip(sample["frame_indices"].tolist(), sample["crop_to_image"].double().numpy()):
        donor = min((0, 4, 8), key=lambda d: (abs(d - n), d))
        x1, x2 = 8 + donor / 4, 40 + donor / 4
        assert np.allclose(m[:, :2] @ [15.5, 15.5] + m[:, 2], [(x1 + x2 - 1) / 2, 23.5], atol=1e-3)
    whole = MerlVideoDataset(index, ClipSampler(4), ClipTransform((32, 32)), False)[4]
    assert np.allclose(whole["crop_to_image"][0].double().numpy() @ [15.5, 15.5, 1], [31.5, 23.5], atol=1e-3)


def test_datamodule_from_the_hydra_config(release, tmp_path):
    from hydra.utils import instantiate

    from tests.test_configs import compose_config

    overrides = ["data=merl_videos", f"data.root={release}", "data.batch_size=2", "data.num_workers=0",
                 "data.pin_memory=false", "data.input_size=[32,32]", "data.boxes_file=boxes.json",
                 "data.background=true", "data.background_length=8"]  # fmt: skip
    dm = instantiate(compose_config("train", overrides, tmp_path / "out").data, _convert_="all")
    assert isinstance(dm, MerlVideoDataModule)
    dm.setup("fit")
    assert dm.classes[-1] == "Background" and dm.num_classes == 6
    assert len(dm.datasets["val"]) == 1
    batch = next(iter(dm.train_dataloader()))
    assert batch["frames"].shape == (2, 8, 3, 32, 32) and batch["crop_to_image"].shape == (2, 8, 2, 3)


def test_synthetic_merl_through_both_datamodules(tmp_path):
    """The project's synthetic MERL (har.synthetic.merl), generated by ``prepare_data``, reads through both."""
    pytest.importorskip("har.synthetic.merl")
    from har.data.datamodules.merl_action import MerlActionDataModule

    synthetic = dict(forms=["action", "videos"], num_subjects=3, clips_per_class=1, frame_size=[96, 64],
                     clip_frames=[6, 12], video_size=[96, 64], video_frames=120, progress=False)  # fmt: skip
    common = dict(num_frames=4, input_size=(32, 32), batch_size=2, num_workers=0, pin_memory=False)
    files = {s: f"merl_action_{s}.json" for s in ("train", "val", "test")}
    action = MerlActionDataModule(str(tmp_path / "syn" / "action"), files=files, synthetic=synthetic, **common)
    videos = MerlVideoDataModule(str(tmp_path / "syn" / "videos"), boxes_file="person_boxes.json", background=True,
                                 synthetic=synthetic, **common)  # fmt: skip
    for dm in (action, videos):
        dm.prepare_data()  # the first generates, the second reuses
        dm.setup()
        assert all(len(dm.datasets[s]) > 0 for s in ("train", "val", "test"))
        batch = next(iter(dm.train_dataloader()))
        assert batch["frames"].shape == (2, 4, 3, 32, 32) and int(batch["label"].max()) < dm.num_classes
    assert videos.num_classes == 6 and action.classes == videos.classes[:5]


# ---------------------------------------------------------------------------------------------------------------
# Bad input: each a planted fault


def test_unreadable_video_names_the_file(release, tmp_path):
    root = copy_release(release, tmp_path)
    (root / VIDEOS_DIR / "1_1_crop.mp4").write_bytes(b"\x00not a video" * 100)
    with pytest.raises(OSError, match=r"1_1_crop\.mp4"):
        load_merl_video_index(root, parse_subjects([1]))
    with pytest.raises(OSError, match=r"1_1_crop\.mp4 \(clip 'c'\)"):
        read_video_frames(root / VIDEOS_DIR / "1_1_crop.mp4", [0], "c")


def test_missing_video_names_it_and_its_labels(release, tmp_path):
    root = copy_release(release, tmp_path)
    (root / VIDEOS_DIR / "1_1_crop.mp4").unlink()
    with pytest.raises(FileNotFoundError, match=r"1_1_crop\.mp4 not found \(labels: .*1_1_label\.mat\)"):
        load_merl_video_index(root, parse_subjects([1]))


def test_mat_without_tlabs_names_the_file(tmp_path):
    path = tmp_path / "3_1_label.mat"
    scipy.io.savemat(str(path), {"labels": np.zeros((5, 1))})
    with pytest.raises(ValueError, match=r"3_1_label\.mat: no 'tlabs' variable \(found \['labels'\]\)"):
        read_tlabs(path)
    path.write_bytes(b"garbage")
    with pytest.raises(OSError, match=r"3_1_label\.mat"):
        read_tlabs(path)


def test_bad_tlabs_cells_name_the_file_and_class(tmp_path):
    cells = np.empty((4, 1), dtype=object)
    cells[:, 0] = [np.zeros((0, 0))] * 4
    scipy.io.savemat(str(tmp_path / "a.mat"), {"tlabs": cells})
    with pytest.raises(ValueError, match=r"a\.mat: 'tlabs' has 4 cells"):
        read_tlabs(tmp_path / "a.mat")
    write_tlabs(tmp_path / "b.mat", [[], [[9, 3]], [], [], []])
    with pytest.raises(ValueError, match=r"b\.mat: class RetractFromShelf: bad segment \[9, 3\]"):
        read_tlabs(tmp_path / "b.mat")
    write_tlabs(tmp_path / "c.mat", [[], [], [[1.5, 3]], [], []])
    with pytest.raises(ValueError, match=r"c\.mat: tlabs cell 2 \(HandInShelf\) holds non-integer"):
        read_tlabs(tmp_path / "c.mat")


def test_segment_beyond_the_video_is_an_error_or_cut_with_a_warning(release, tmp_path, caplog):
    root = copy_release(release, tmp_path)
    write_tlabs(root / LABELS_DIR / "1_1_label.mat", [[[1, 5]], [], [], [[30, 45]], [[41, 50]]])
    with pytest.raises(ValueError, match=r"1_1_label\.mat: class InspectProduct: segment \[30, 45\].*40 frames"):
        load_merl_video_index(root, parse_subjects([1]))
    with caplog.at_level(logging.WARNING):
        index = load_merl_video_index(root, parse_subjects([1]), on_segment_overflow="clip")
    assert index.sample_stop.tolist() == [5, 40] and index.labels.tolist() == [0, 3]  # cut; [41, 50] dropped
    assert "segment [30, 45]" in caplog.text and "cut at the last frame" in caplog.text and "dropped" in caplog.text
    # an off-by-one frame base shows as an overflow: 1-based [30, 40] read 0-based ends at frame 41 of 40
    write_tlabs(root / LABELS_DIR / "1_1_label.mat", [[[30, 40]], [], [], [], []])
    with pytest.raises(ValueError, match="frame_base=0"):
        load_merl_video_index(root, parse_subjects([1]), frame_base=0)


def test_malformed_box_in_the_boxes_file_names_the_frame(tmp_path):
    (tmp_path / "b.json").write_text(json.dumps({"1_1_crop": [[0, 0, 10, 10], [5, 5, 4, 9]]}))
    with pytest.raises(ValueError, match=r"b\.json: video '1_1_crop', frame 1: malformed box"):
        load_boxes_file(tmp_path / "b.json")
    assert np.isnan(load_boxes_file(tmp_path / "b.json", on_bad_box="empty")["1_1_crop"][1]).all()


def test_no_label_files_for_the_split_and_unknown_classes(release):
    with pytest.raises(FileNotFoundError, match="subjects \\[30\\]"):
        load_merl_video_index(release, parse_subjects([30]))
    with pytest.raises(ValueError, match="'Dancing'"):
        load_merl_video_index(release, parse_subjects([1]), classes=["Dancing"])
