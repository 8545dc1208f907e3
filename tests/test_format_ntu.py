"""NTU RGB+D readers (har.data.formats.ntu, ntu_skeleton) on both forms, written by har.data.formats.ntu_write."""

from pathlib import Path

import numpy as np
import pytest

from har.data.formats.ntu import (
    MISSING_SKELETONS,
    NTU60_CLASSES,
    depth_targets,
    keypoints_2d,
    kinect_to_layout,
    load_ntu_deephar,
    load_ntu_skeletons,
    parse_sample_id,
    read_ntu_frames,
    root_depth,
    split_mask,
    valid_joints,
)
from har.data.formats.ntu_skeleton import read_skeleton, select_body
from har.data.formats.ntu_write import (
    SkeletonBody,
    deephar_npy_rows,
    kinect_joints,
    skeleton_text,
    write_deephar_npy,
    write_ntu_frames,
    write_ntu_video,
    write_skeleton,
)
from har.layouts import get_layout

BIG_ID = 72057594037931101  # a real-looking Kinect bodyID: more digits than a float64 holds exactly


def person(n: int, u0: float = 400.0, v0: float = 300.0, depth: float = 3000.0, du: float = 0.0) -> np.ndarray:
    """(n, 25, 3) u, v, depth: joint j of frame t at (u0 + 10j + du·t, v0 + 5j), depth + j mm."""
    t, j = np.meshgrid(np.arange(n), np.arange(25), indexing="ij")
    return np.stack([u0 + 10 * j + du * t, v0 + 5 * j + 0 * t, depth + j + 0 * t], axis=-1).astype(float)


def bodies(uvd: np.ndarray, body_id: int) -> list[SkeletonBody]:
    return [SkeletonBody(body_id, kinect_joints(*frame.T)) for frame in uvd]


# --- sample ids and splits -----------------------------------------------------------------------------------------


def test_sample_ids_are_parsed_and_checked_against_ntu60_ranges():
    s = parse_sample_id("S017C003P040R002A060")
    assert (s.setup, s.camera, s.subject, s.replication, s.action) == (17, 3, 40, 2, 60)
    assert s.name == "S017C003P040R002A060"
    for bad, match in [("S018C001P001R001A001", "setup 18"), ("S001C001P001R001A061", "action 61"),
                       ("S001C004P001R001A001", "camera 4"), ("S1C1P1R1A1", "not an NTU sample id")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            parse_sample_id(bad)


def test_cross_subject_and_cross_view_splits():
    subjects, cameras = np.array([1, 3, 38, 40]), np.array([1, 2, 3, 1])
    assert split_mask(subjects, cameras, "xsub", "train").tolist() == [True, False, True, False]
    assert split_mask(subjects, cameras, "xsub", "test").tolist() == [False, True, False, True]
    assert split_mask(subjects, cameras, "xview", "train").tolist() == [False, True, True, False]
    with pytest.raises(ValueError, match="protocol"):
        split_mask(subjects, cameras, "xsetup")


def test_missing_skeleton_list_is_ntu60s_302_samples():
    assert len(MISSING_SKELETONS) == 302 and "S001C002P005R002A008" in MISSING_SKELETONS
    assert all(parse_sample_id(s) for s in MISSING_SKELETONS)
    assert len(NTU60_CLASSES) == 60


# --- layouts, validity, depth --------------------------------------------------------------------------------------


def test_layout_maps_are_deephars_and_kinect_left_fills_deephar_right():
    kinect = np.arange(25, dtype=float)[:, None].repeat(3, 1)  # joint k holds k
    for name, size in (("pa16j", 16), ("pa17j", 17), ("pa20j", 20)):
        assert get_layout(name).num_joints == size == len(kinect_to_layout(kinect, name))
    pa20j = kinect_to_layout(kinect, "pa20j")[:, 0].tolist()
    assert pa20j == [0, 20, 2, 3, 4, 8, 5, 9, 6, 10, 7, 11, 12, 16, 13, 17, 14, 18, 15, 19]
    names = get_layout("pa20j").joints
    assert (names[4], pa20j[4]) == ("r_sho", 4)  # Kinect 4 = "left shoulder"
    assert (names[10], pa20j[10]) == ("r_hand", 7)  # Kinect 7 = "left hand"
    assert kinect_to_layout(kinect, "pa17j")[16, 0] == 1  # spine ← middle of the spine
    with pytest.raises(ValueError, match="coco17"):
        kinect_to_layout(kinect, "coco17")


def test_a_joint_with_any_coordinate_at_or_below_zero_or_nan_is_invalid():
    uvd = np.array([[10, 20, 3000], [0, 20, 3000], [10, -1, 3000], [10, 20, 0], [np.nan, 20, 3000]], float)
    assert valid_joints(uvd).tolist() == [True, False, False, False, False]
    assert valid_joints(uvd, dims=2).tolist() == [True, False, False, True, False]  # 2D ignores depth


def test_keypoints_2d_zero_invalid_joints_and_flag_valid_ones():
    uvd = person(1)
    uvd[0, 4, 0] = 0  # Kinect left shoulder → pa16j r_sho (4) invalid
    kp = keypoints_2d(uvd, "pa16j")
    assert kp.shape == (1, 16, 3) and kp[0, 4].tolist() == [0, 0, 0]
    assert kp[0, 1].tolist() == [400 + 200, 300 + 100, 2]  # thorax ← Kinect 20 "spine"


def test_root_depth_is_the_clip_mean_of_the_valid_root_else_of_all_valid_joints():
    clip = np.array([[[5, 5, 3000], [5, 5, 2000], [5, 5, 2400]], [[5, 5, 3100], [5, 5, 2200], [5, 5, 2600]]], float)
    assert root_depth(clip) == 3050
    clip[1, 0, 0] = 0  # root invalid in frame 1: the mean over the frames where it is valid
    assert root_depth(clip) == 3000
    clip[0, 0, 1] = -3  # root invalid in every frame: the mean over all valid joints
    assert root_depth(clip) == (2000 + 2400 + 2200 + 2600) / 4
    clip[..., 2] = 0
    assert np.isnan(root_depth(clip))


def test_depth_targets_map_rootz_plus_minus_1000_scale_mm_to_0_1():
    clip = np.array([[[5, 5, 3000], [5, 5, 3550], [0, 5, 3200]], [[5, 5, 3100], [5, 5, 2050], [5, 5, 5050]]], float)
    z, valid, window = depth_targets(clip)  # rootz 3050 → window [2050, 4050]
    assert window.tolist() == [2050, 4050]
    np.testing.assert_allclose(z, [[0.475, 0.75, 0], [0.525, 0.0, 1.5]])  # 5050 mm: 1.5, not clipped
    assert valid.tolist() == [[True, True, False], [True, True, True]]
    _, _, window = depth_targets(clip, scale=1.3)
    assert window.tolist() == [3050 - 1300, 3050 + 1300]
    clip[..., 2] = -1  # no valid depth anywhere: no 3D target
    z, valid, window = depth_targets(clip)
    assert np.isnan(window).all() and not valid.any() and (z == 0).all()


# --- the .skeleton format ----------------------------------------------------------------------------------------


def test_skeleton_round_trip_keeps_64_bit_body_ids_and_every_field(tmp_path):
    a, b = bodies(person(3), BIG_ID), bodies(person(3, u0=900), 5)
    path = tmp_path / "s.skeleton"
    path.write_text(skeleton_text([[a[0]], [a[1], b[1]], []]))
    seq = read_skeleton(path)
    assert seq.num_frames == 3 and seq.frame_of.tolist() == [0, 1, 1] and seq.body_ids.tolist() == [BIG_ID, BIG_ID, 5]
    assert seq.joints.shape == (3, 25, 11) and seq.tracking.tolist() == [[2] * 25] * 3
    np.testing.assert_allclose(seq.joints[2, :, 5:7], person(3, u0=900)[1, :, :2])  # colorX, colorY
    np.testing.assert_allclose(seq.joints[0, :, 2] * 1000, person(3)[0, :, 2], rtol=1e-6)  # z (m)
    assert seq.body_info[0].tolist() == [0, 1, 1, 1, 1, 0, 0.1, -0.2, 2]


@pytest.mark.parametrize(
    "edit, line, message",
    [
        (lambda ls: ls[:20], 21, "file ends inside a joint block"),
        (lambda ls: ls[:6] + [" ".join(ls[6].split()[:11])] + ls[7:], 7, "11 values, expected 12"),
        (lambda ls: ls[:2] + ["123 0 1"] + ls[3:], 3, "expected a bodyID and 9 values"),
        (lambda ls: ls[:3] + ["20"] + ls[4:], 4, "20 joints"),
        (lambda ls: ["two"] + ls[1:], 1, "frame count 'two'"),
        (lambda ls: ls + ["1"], 30, "content after the last of 1 frames"),
        (lambda ls: ls[:8] + ["abc" + ls[8][ls[8].index(" ") :]] + ls[9:], 9, "is not numeric"),
        (
            lambda ls: ls[:9] + ["  ".join(ls[9].split()[:2]) + " " + " ".join(ls[9].split()[2:11])] + ls[10:],
            10,
            "11 values",
        ),  # 11 spaces (one doubled) but 11 values
        (lambda ls: ls[:11] + [ls[11][:-1] + "5"] + ls[12:], 12, "trackingState 5"),
    ],
)
def test_malformed_skeleton_errors_name_the_file_and_line(tmp_path, edit, line, message):
    lines = skeleton_text([bodies(person(1), 7)]).splitlines()  # 1 frame count, 2 bodies, 3 info, 4 joints, 5-29
    path = tmp_path / "bad.skeleton"
    path.write_text("\n".join(edit(lines)) + "\n")
    with pytest.raises(ValueError, match=rf"bad\.skeleton: line {line}: .*{message}"):
        read_skeleton(path)


def _two_people() -> list[list[SkeletonBody]]:
    """Body 11 still in frames 0-5; body 22 walking (u += 30 per frame) in frames 1-4."""
    still, walking = bodies(person(6), 11), bodies(person(6, u0=1200, du=30), 22)
    return [[still[t]] + ([walking[t]] if 1 <= t <= 4 else []) for t in range(6)]


def test_body_rules_pick_the_moving_the_longest_or_the_first_body(tmp_path):
    path = tmp_path / "two.skeleton"
    path.write_text(skeleton_text(_two_people()))
    seq = read_skeleton(path)
    body, rows = select_body(seq, "motion")
    assert body == 22 and rows.tolist() == [-1, 2, 4, 6, 8, -1]
    assert select_body(seq, "longest")[0] == 11 and select_body(seq, "first")[0] == 11
    assert select_body(seq, "longest")[1].tolist() == [0, 1, 3, 5, 7, 9]


# --- the official release ------------------------------------------------------------------------------------------

GOOD, TWO, LISTED = "S001C001P001R001A001", "S001C002P002R002A050", "S001C002P005R002A008"
NTU120, EMPTY = "S018C001P001R001A001", "S001C001P003R001A002"
BROKEN, NO_VIDEO = "S001C001P004R001A003", "S001C001P006R001A004"


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ntu_official")
    for sample, frames in [(GOOD, [[b] for b in bodies(person(6), BIG_ID)]), (TWO, _two_people()),
                           (LISTED, [[b] for b in bodies(person(3), 1)]), (NTU120, [[b] for b in bodies(person(3), 1)]),
                           (EMPTY, [[], [], []]), (NO_VIDEO, [[b] for b in bodies(person(3), 1)])]:  # fmt: skip
        write_skeleton(root, sample, frames)
        if sample != NO_VIDEO:
            write_ntu_video(root, sample, len(frames) if sample != TWO else 4)  # TWO's video is 2 frames short
    broken = skeleton_text([bodies(person(1), 7)]).splitlines()
    broken[6] = " ".join(broken[6].split()[:11])
    (root / "nturgb+d_skeletons" / f"{BROKEN}.skeleton").write_text("\n".join(broken))
    write_ntu_video(root, BROKEN, 1)
    return root


def test_official_reads_ids_frames_and_uvd_from_colorxy_and_z(official):
    index = load_ntu_skeletons(official)
    assert index.sample_ids.tolist() == [GOOD, TWO]  # in S, C, P, R, A order
    assert index.labels.tolist() == [0, 49] and index.subjects.tolist() == [1, 2] and index.cameras.tolist() == [1, 2]
    assert index.frame_offsets.tolist() == [0, 6, 12] and index.frame_numbers[:6].tolist() == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(index.uvd[:6], person(6), rtol=1e-6)
    assert index.image_sizes.tolist() == [[1920, 1080]] * 2 and index.body_ids.tolist() == [BIG_ID, 22]
    assert valid_joints(index.uvd[index.frame_rows(1)]).all(axis=1).tolist() == [False, True, True, True, True, False]
    assert index.video_file(0).endswith(f"nturgb+d_rgb/{GOOD}_rgb.avi")


def test_official_skips_are_counted_and_named(official):
    index = load_ntu_skeletons(official)
    assert index.skipped == {"missing skeleton (NTU list of 302)": 1, "outside NTU-60": 1, "no body in any frame": 1,
                             "malformed skeleton file": 1, "missing video": 1}  # fmt: skip
    reasons = {Path(f).name: why for f, why in index.bad_records}
    assert "line 7" in reasons[f"{BROKEN}.skeleton"] and "setup 18" in reasons[f"{NTU120}.skeleton"]
    assert "not found" in reasons[f"{NO_VIDEO}.skeleton"]
    assert len(load_ntu_skeletons(official, check_videos=False, skip_missing=False)) == 4  # + LISTED, NO_VIDEO


def test_official_stride_tracking_filter_and_video_probe(official):
    index = load_ntu_skeletons(official, annotation_stride=2)
    assert index.frame_numbers.tolist() == [1, 3, 5, 1, 3, 5]
    probed = load_ntu_skeletons(official, probe_videos=True)
    assert probed.image_sizes.tolist() == [[64, 36]] * 2
    assert probed.frame_numbers[6:].tolist() == [1, 2, 3, 4]  # TWO's video has 4 frames
    assert probed.notes == {"video shorter than its skeleton (frames beyond dropped)": 1}
    assert not valid_joints(load_ntu_skeletons(official, min_tracking_state=3).uvd).any()


def test_official_frames_are_decoded_from_the_video_by_seeking(official):
    index = load_ntu_skeletons(official)
    frames = read_ntu_frames(index, 0, np.array([4, 1, 1]))
    assert [f.shape for f in frames] == [(36, 64, 3)] * 3
    np.testing.assert_allclose([f.mean() for f in frames], [25, 10, 10], atol=4)  # frame n has grey level 5·n


def test_official_missing_video_folder_is_an_error_naming_it(tmp_path):
    write_skeleton(tmp_path, GOOD, [[b] for b in bodies(person(2), 1)])
    with pytest.raises(FileNotFoundError, match="nturgb\\+d_rgb"):
        load_ntu_skeletons(tmp_path)


# --- deephar's .npy + images-small ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deephar(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ntu_deephar")
    uvd = person(8)
    uvd[:, 6, 0] = -2  # left wrist outside the image
    write_deephar_npy(root, GOOD, deephar_npy_rows(np.arange(11, 19), uvd))
    write_ntu_frames(root, GOOD, range(11, 19))
    write_deephar_npy(root, "S002C001P003R001A002", deephar_npy_rows(range(1, 7), person(6)))
    write_ntu_frames(root, "S002C001P003R001A002", range(1, 7), skip=[2])  # frame 2 missing
    write_deephar_npy(root, "S002C001P003R001A003", deephar_npy_rows(range(1, 7), person(6))[:, :150])
    write_deephar_npy(root, "S002C001P003R001A004", deephar_npy_rows([1, 2, 2, 3], person(4)))
    write_deephar_npy(root, "S001C001P001R001A061", deephar_npy_rows(range(1, 3), person(2)))
    return root


def test_deephar_form_halves_uv_for_small_images_and_keeps_depth(deephar):
    index = load_ntu_deephar(deephar)
    assert index.sample_ids.tolist() == [GOOD] and index.image_sizes.tolist() == [[960, 540]]
    assert index.frame_numbers.tolist() == list(range(11, 19))
    expected = person(8)
    expected[..., :2] /= 2
    expected[:, 6, 0] = -1
    np.testing.assert_allclose(index.uvd, expected)
    assert (index.tracking == -1).all() and index.body_ids.tolist() == [-1]
    assert not valid_joints(index.uvd)[:, 6].any() and valid_joints(index.uvd)[:, 5].all()
    assert index.frame_files(0)[0] == str(deephar / "images-small" / GOOD / "00011.jpg")
    assert read_ntu_frames(index, 0, np.array([2]))[0].mean() == pytest.approx(65, abs=4)  # frame 13


def test_deephar_form_skips_are_counted_and_named(deephar):
    index = load_ntu_deephar(deephar)
    assert index.skipped == {"missing frame files": 1, "malformed .npy": 1, "bad frame numbers": 1,
                             "outside NTU-60": 1}  # fmt: skip
    reasons = {Path(f).name: why for f, why in index.bad_records}
    assert "00002.jpg" in reasons["S002C001P003R001A002.npy"] and "(6, 150)" in reasons["S002C001P003R001A003.npy"]
    assert "[2.0, 2.0]" in reasons["S002C001P003R001A004.npy"]


def test_deephar_every_second_frame_as_master_and_only_kept_frames_need_files(deephar):
    index = load_ntu_deephar(deephar, annotation_stride=2)
    assert index.sample_ids.tolist() == [GOOD, "S002C001P003R001A002"]  # its missing frame 2 is not kept
    assert index.frame_numbers.tolist() == [11, 13, 15, 17, 1, 3, 5] and index.annotation_stride == 2


def test_deephar_full_size_images_keep_uv_and_pose_only_needs_no_frames(deephar):
    index = load_ntu_deephar(deephar, small_images=False, check_frames=False)
    assert index.image_sizes[0].tolist() == [1920, 1080] and index.uvd[0, 0, 0] == 400
    with pytest.raises(FileNotFoundError, match="images"):
        load_ntu_deephar(deephar, small_images=False)
