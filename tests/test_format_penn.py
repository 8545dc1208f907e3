"""Penn Action readers (har.data.formats.penn) on both forms, written by har.data.formats.penn_write."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from har.data.formats.penn import (
    PENN_CLASSES,
    load_penn_deephar,
    load_penn_official,
    read_boxes_cvpr18,
    read_boxes_tpami,
)
from har.data.formats.penn_write import (
    PennVideo,
    deephar_sequence,
    write_boxes_cvpr18,
    write_boxes_tpami,
    write_penn_deephar,
    write_penn_official,
)
from har.layouts import get_layout


def make_video(video_id: int, action: str, n: int = 5, size=(64, 48), train: bool = True, **kw) -> PennVideo:
    """Joint k of frame t at (5 + 3k + t, 4 + 2k), all visible."""
    t, k = np.meshgrid(np.arange(n), np.arange(13), indexing="ij")
    return PennVideo(video_id, action, x=(5 + 3 * k + t).astype(float), y=(4 + 2 * k).astype(float) + 0 * t,
                     visibility=np.ones((n, 13)), train=train, image_size=size, **kw)  # fmt: skip


def base_videos() -> list[PennVideo]:
    occluded = make_video(1, "baseball_pitch", n=6)
    occluded.visibility[2, 5] = 0  # left_wrist of frame 2 occluded (coordinates kept)
    occluded.x[3, 0] = 0  # head of frame 3 at x = 0, flagged visible
    portrait = make_video(2, "tennis_serve", n=4, size=(36, 64), train=False)
    portrait.x /= 2  # x < 36 = W
    portrait.y[:, 12] = 50  # right_ankle at y = 50 > W: inside the portrait frame only
    return [occluded, portrait, make_video(3, "squat", n=3)]


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> Path:
    return write_penn_official(tmp_path_factory.mktemp("penn_official"), base_videos())


@pytest.fixture(scope="module")
def deephar(tmp_path_factory) -> Path:
    return write_penn_deephar(tmp_path_factory.mktemp("penn_deephar"), base_videos())


# --- official release --------------------------------------------------------------------------------------------


def test_official_reads_classes_splits_sizes_and_frames(official):
    index = load_penn_official(official)
    assert index.video_ids.tolist() == [1, 2, 3] and index.records.tolist() == [1, 2, 3]
    assert index.labels.tolist() == [0, 14, 11]  # baseball_pitch, tennis_serve, squat in PENN_CLASSES
    assert index.splits.tolist() == ["train", "test", "train"]
    assert index.split_indices("test").tolist() == [1]
    assert index.frame_offsets.tolist() == [0, 6, 10, 13]
    assert index.frame_numbers[6:10].tolist() == [1, 2, 3, 4]
    assert index.frame_files(1)[0] == str(official / "frames" / "0002" / "000001.jpg")
    assert all(Path(f).is_file() for f in index.frame_files(0))
    assert not index.skipped and "3 videos" in index.summary()


def test_penn_joint_k_goes_to_pa16j_3_plus_k_so_penn_left_is_deephar_right(official):
    kp = load_penn_official(official).keypoints
    assert kp.shape == (13, 16, 3) and kp.dtype == np.float32
    # frame 0 of video 1: Penn joint k at (5 + 3k, 4 + 2k) → pa16j 3 + k
    np.testing.assert_array_equal(kp[0, 3:, 0], 5 + 3 * np.arange(13))
    np.testing.assert_array_equal(kp[0, 3:, 1], 4 + 2 * np.arange(13))
    assert (kp[:, :3, 2] == 0).all()  # pelvis, thorax, neck: never labelled
    pa16j = get_layout("pa16j").joints
    assert pa16j[3 + 1] == "r_sho" and kp[0, 4, 0] == 8  # Penn left_shoulder (k = 1, x = 8) → r_sho


def test_invisible_joint_is_unlabelled_unless_occluded_joints_are_kept(official):
    kp = load_penn_official(official).keypoints
    assert kp[2, 3 + 5].tolist() == [0, 0, 0]  # deephar drops it
    kept = load_penn_official(official, keep_occluded=True).keypoints
    assert kept[2, 3 + 5].tolist() == [5 + 15 + 2, 14, 1]  # labelled, not visible
    assert kept[1, 3 + 5, 2] == 2


def test_joint_at_x_zero_is_unlabelled_by_deephars_rule_and_kept_with_zero_is_missing_off(official):
    assert load_penn_official(official).keypoints[3, 3].tolist() == [0, 0, 0]
    assert load_penn_official(official, zero_is_missing=False).keypoints[3, 3].tolist() == [0, 4, 2]


def test_portrait_video_is_read_as_w_by_h_and_not_skipped(official):
    index = load_penn_official(official)
    assert index.image_sizes.tolist() == [[64, 48], [36, 64], [64, 48]]
    ankle = index.keypoints[index.frame_rows(1), 3 + 12]
    np.testing.assert_array_equal(ankle, [[(41 + t) / 2, 50, 2] for t in range(4)])  # y = 50 > W stays labelled


def test_official_bbox_is_read_per_frame_and_a_short_bbox_leaves_the_rest_empty(tmp_path):
    video = make_video(7, "bowl", n=4)
    video.bbox = np.array([[1, 2, 30, 40], [2, 3, 31, 41], [3, 4, 32, 42]])  # one row short
    index = load_penn_official(write_penn_official(tmp_path, [video]))
    assert index.boxes[:3].tolist() == video.bbox.tolist()
    assert np.isnan(index.boxes[3]).all()
    assert len(index) == 1 and index.notes["bbox rows != nframes (missing rows: no box)"] == 1


@pytest.mark.parametrize(
    "fault, reason, detail",
    [
        ({"action": "yoga"}, "unknown class", "'yoga'"),
        ({"missing_frames": [3]}, "missing frame files", "000003.jpg"),
        ({"nframes": 4}, "mismatched array lengths", "nframes 4"),
        ({"visibility": np.ones((4, 13))}, "mismatched array lengths", "'visibility': (4, 13)"),
        ({"train_flag": 0}, "bad train flag", "train = 0"),
    ],
)
def test_official_faulty_video_is_skipped_counted_and_named(tmp_path, fault, reason, detail):
    bad = dataclasses.replace(make_video(8, "bowl"), **fault)
    index = load_penn_official(write_penn_official(tmp_path, [make_video(5, "pushup"), bad]))
    assert index.video_ids.tolist() == [5]
    assert index.skipped == {reason: 1}
    (where, why), = index.bad_records  # fmt: skip
    assert where.endswith("labels/0008.mat") and detail in why


def test_official_frame_check_can_be_turned_off_for_pose_only_use(tmp_path):
    root = write_penn_official(tmp_path, [make_video(8, "bowl", missing_frames=[3])])
    assert len(load_penn_official(root, check_frames=False)) == 1


def test_official_missing_label_folder_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="labels"):
        load_penn_official(tmp_path)


# --- deephar's annotations.mat -------------------------------------------------------------------------------------


def test_deephar_form_gives_the_same_index_as_the_official_release(official, deephar):
    a, b = load_penn_official(official), load_penn_deephar(deephar)
    # deephar's file lists sequences_tr (videos 1, 3) then sequences_te (video 2)
    order = [0, 2, 1]
    assert b.video_ids.tolist() == a.video_ids[order].tolist()
    assert b.records.tolist() == [0, 1, 0]  # positions in sequences_tr / sequences_te
    assert b.labels.tolist() == a.labels[order].tolist()
    assert b.splits.tolist() == a.splits[order].tolist()
    assert b.image_sizes.tolist() == a.image_sizes[order].tolist()  # the portrait video's w, h included
    for i, j in enumerate(order):
        np.testing.assert_array_equal(b.keypoints[b.frame_rows(i)], a.keypoints[a.frame_rows(j)])
        assert b.frame_files(i) == [f.replace(str(official), str(deephar)) for f in a.frame_files(j)]
    assert b.classes == PENN_CLASSES and b.joint_names[1] == "left_shoulder"
    assert np.isnan(b.boxes).all() and not b.skipped


def test_deephar_form_with_a_single_sequence_and_a_single_frame_is_read(tmp_path):
    # loadmat(squeeze_me=True) turns one-element struct arrays into scalars: they must still read as lists
    index = load_penn_deephar(write_penn_deephar(tmp_path, [make_video(4, "situp", n=1)]))
    assert len(index) == 1 and index.frame_numbers.tolist() == [1] and index.split_indices("test").size == 0


def _with_frames(record: dict, **changes) -> dict:
    frames = record["frames"].copy()
    for i, values in changes.items():
        for k, v in values.items():
            frames[0, int(i)][k] = v
    return {**record, "frames": frames}


def test_deephar_faulty_sequences_are_skipped_counted_and_named(tmp_path):
    videos = [make_video(i, "pushup") for i in range(1, 6)]
    rows = [deephar_sequence(v) for v in videos]
    rows[0] = {**rows[0], "action_id": 16}  # outside the 15 action_labels
    rows[1] = _with_frames(rows[1], **{"2": {"f": 4}, "3": {"f": 5}, "4": {"f": 6}})  # f = 1, 2, 4, 5, 6
    rows[2] = _with_frames(rows[2], **{"1": {"w": 65}})
    videos[3].missing_frames = [2]
    index = load_penn_deephar(write_penn_deephar(tmp_path, videos, records=rows))
    assert index.video_ids.tolist() == [5] and index.records.tolist() == [4]
    assert index.skipped == {"unknown class": 1, "frame gap": 1, "frame sizes differ": 1, "missing frame files": 1}
    where = [w for w, _ in index.bad_records]
    assert where == [f"{tmp_path / 'annotations.mat'}: sequences_tr[{i}]" for i in range(4)]
    assert "action_id 16" in index.bad_records[0][1] and "[2, 4]" in index.bad_records[1][1]


def test_deephar_annotations_without_sequences_are_an_error_naming_the_file(tmp_path):
    import scipy.io

    scipy.io.savemat(str(tmp_path / "annotations.mat"), {"sequences_tr": np.zeros(1)})
    with pytest.raises(ValueError, match=r"annotations\.mat.*sequences_te"):
        load_penn_deephar(tmp_path)


# --- predicted boxes ---------------------------------------------------------------------------------------------


def test_tpami_boxes_align_with_frames_by_sequence_and_frame_position(tmp_path):
    videos = [make_video(1, "yoga", n=2), make_video(2, "bowl", n=2), make_video(3, "bowl", n=3, train=False)]
    root = write_penn_deephar(tmp_path, videos, frames=False)
    index = load_penn_deephar(root, check_frames=False)  # video 1 skipped: 'yoga' has action_id 0
    assert index.records.tolist() == [1, 0]
    train = {(0, 0): [0, 0, 9, 9], (1, 0): [1, 2, 3, 4], (1, 1): [2, 3, 4, 5]}
    test = {(0, 0): [5, 6, 7, 8], (0, 2): [6, 7, 8, 9]}
    boxes, missing = read_boxes_tpami(write_boxes_tpami(tmp_path / "b.json", test, train), index)
    assert boxes[:2].tolist() == [[1, 2, 3, 4], [2, 3, 4, 5]]  # train sequence 1, not 0
    assert boxes[2].tolist() == [5, 6, 7, 8] and np.isnan(boxes[3]).all() and boxes[4].tolist() == [6, 7, 8, 9]
    assert missing == {"frames without a box": 1}
    write_boxes_tpami(tmp_path / "bad.json", {(0, 1): [5, 6, 4, 8]}, {})
    with pytest.raises(ValueError, match=r"bad\.json: test key '0\.1'.*x2 > x1"):
        read_boxes_tpami(tmp_path / "bad.json", index)


def test_cvpr18_boxes_are_keyed_by_sequence_subsampling_clip_and_flip(tmp_path):
    path = write_boxes_cvpr18(tmp_path / "b.json", {(3, 2, 0, 0): [1, 2, 30, 40], (3, 2, 11, 1): [2, 2, 5, 5]})
    assert path.read_text().startswith('{"0003.2.000.0"')
    boxes = read_boxes_cvpr18(path)
    assert set(boxes) == {(3, 2, 0, 0), (3, 2, 11, 1)} and boxes[(3, 2, 11, 1)].tolist() == [2, 2, 5, 5]
    (tmp_path / "bad.json").write_text('{"0003.2.000": [1, 2, 3, 4]}')
    with pytest.raises(ValueError, match="0003.2.000"):
        read_boxes_cvpr18(tmp_path / "bad.json")
