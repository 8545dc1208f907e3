"""Human3.6M readers (deephar's annotations.mat, mmpose's npz + cameras.pkl): written by the writers, read back."""

import pickle

import numpy as np
import pytest
import scipy.io

from har.data.formats.h36m import (
    H36M_JOINTS,
    PA17J_FROM_H36M,
    H36mSequence,
    action_id,
    load_h36m_index,
    read_h36m_deephar,
    read_h36m_mmpose,
)
from har.data.formats.h36m_write import write_deephar_h36m_mat, write_mmpose_h36m
from har.geometry.camera import Camera
from har.layouts import PA17J


def _camera(shift: float = 0.0) -> Camera:
    c, s = np.cos(0.3), np.sin(0.3)
    R = np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]]) @ np.diag([1.0, -1.0, -1.0])  # looks down −z
    return Camera(R, [100.0 + shift, -50.0, 4500.0], [1145.0, 1144.0], [512.0, 515.0], [-0.2, 0.24, -0.003],
                  [-0.0009, -0.0018])  # fmt: skip


def _sequence(subject, action, subaction, camera, frames, seed=0) -> H36mSequence:
    rng = np.random.default_rng(seed)
    pose = rng.normal(0.0, 300.0, (len(frames), 32, 3)) + [0.0, 0.0, 900.0]  # about 3.6 m in front of the camera
    return H36mSequence(subject, action, subaction, camera, _camera(camera), np.asarray(frames), pose)


def _train_val():
    train = [_sequence(1, 2, 1, 1, [1, 6, 11, 16], 1), _sequence(1, 2, 2, 1, [1, 6, 11], 2),
             _sequence(9, 3, 1, 2, [1, 6], 3)]  # fmt: skip
    val = [_sequence(9, 2, 1, 1, [1, 65, 129], 4), _sequence(11, 16, 1, 4, [1, 65], 5)]
    return train, val


def test_pa17j_map_is_deephars_and_names_the_right_h36m_joints():
    assert PA17J_FROM_H36M.tolist() == [0, 12, 13, 15, 25, 17, 26, 18, 27, 19, 1, 6, 2, 7, 3, 8, 11]
    expected = {"pelvis": "Hips", "thorax": "Spine1", "neck": "Neck", "head": "Site", "r_sho": "RightArm",
                "l_sho": "LeftArm", "r_elb": "RightForeArm", "l_elb": "LeftForeArm", "r_wri": "RightHand",
                "l_wri": "LeftHand", "r_hip": "RightUpLeg", "l_hip": "LeftUpLeg", "r_knee": "RightLeg",
                "l_knee": "LeftLeg", "r_ank": "RightFoot", "l_ank": "LeftFoot", "spine": "Spine"}  # fmt: skip
    assert [H36M_JOINTS[j] for j in PA17J_FROM_H36M] == [expected[n] for n in PA17J.joints]
    assert PA17J_FROM_H36M[3] == 15 and H36M_JOINTS[14] == "Head"  # head top is the end site after "Head"
    assert [action_id(n) for n in ("Directions 1", "TakingPhoto", "Photo_1", "WalkDog", "WalkingDog 2")] == [
        2, 12, 12, 15, 15]  # fmt: skip
    assert action_id("Sitting 1") == 9 and action_id("SittingDown") == 10 and action_id("Dancing") is None


def test_deephar_mat_reads_back_with_cameras_and_derived_uvd(tmp_path):
    train, val = _train_val()
    mat = write_deephar_h36m_mat(tmp_path / "annotations.mat", train, val)
    # laid out as deephar's loader reads it (deephar/data/human36m.py:12-29,77-124)
    raw = scipy.io.loadmat(str(mat), struct_as_record=False, squeeze_me=True)
    seq = raw["sequences_tr"][0]
    assert seq.name == "a02_s01_e01_c01" and seq.frames[[1]][0].f == 6 and seq.camera_parameters.T.shape == (3,)
    np.testing.assert_allclose(seq.frames[1].pose3d.T[PA17J_FROM_H36M], train[0].pose3d[1, PA17J_FROM_H36M])
    assert raw["action_labels"][int(seq.name[1:3]) - 1] == "Directions"

    index = read_h36m_deephar(mat, "train")
    assert index.seq_names.tolist() == ["a02_s01_e01_c01", "a02_s01_e02_c01"]  # S9 is not a training subject
    assert index.skipped == {"frames of subjects outside the split": 2}
    np.testing.assert_array_equal(index.seq_subject, [1, 1])
    np.testing.assert_array_equal(index.seq_subaction, [1, 2])
    np.testing.assert_array_equal(index.frame_numbers, [1, 6, 11, 16, 1, 6, 11])
    np.testing.assert_array_equal(index.seq_image_sizes, [[1000, 1002]] * 2)
    assert index.image_file(4) == "a02_s01_e02_c01/00001.jpg" and index.action_name(0) == "Directions"
    expected = np.concatenate([train[0].pose3d, train[1].pose3d])[:, PA17J_FROM_H36M]
    np.testing.assert_allclose(index.joints_world, expected, rtol=0, atol=1e-3)
    assert index.joint_labelled.all()
    cam = index.camera(0)
    np.testing.assert_allclose(cam.serialize(), train[0].camera_params.serialize())
    np.testing.assert_allclose(index.joints_uvd(slice(0, 2)), cam.project(expected[:2]), rtol=1e-6)
    np.testing.assert_allclose(index.joints_camera([3]), cam.world_to_camera(expected[3:4]), rtol=1e-6)


def test_frame_steps_are_deephars_protocol_and_coarser_files_are_refused(tmp_path):
    every = _sequence(9, 5, 1, 3, np.arange(1, 200), 6)
    mat = write_deephar_h36m_mat(tmp_path / "annotations.mat", [every], [every])
    val = read_h36m_deephar(mat, "val")
    np.testing.assert_array_equal(val.frame_numbers, [1, 65, 129, 193])  # every 64th, 1-based
    assert val.skipped == {"frames not on the frame step": 199 - 4}
    train = read_h36m_deephar(mat, "train", subjects=[9])
    assert len(train) == 40 and train.frame_numbers[1] == 6  # every 5th: 1, 6, …, 196
    assert len(read_h36m_deephar(mat, "val", frame_step=1)) == 199
    # mmpose's fps10 file holds every 5th frame: every 64th cannot be read from it
    write_mmpose_h36m(tmp_path, "val", [_sequence(9, 5, 1, 3, np.arange(1, 200, 5), 6)], fps=10)
    with pytest.raises(ValueError, match="holds every 5th frame, so frame_step=64 cannot be met"):
        load_h36m_index(tmp_path, "val", form="mmpose", fps=10, allow_missing_joints=True)


def test_mmpose_form_gives_deephars_world_joints_except_the_spine(tmp_path):
    train, val = _train_val()
    deephar = read_h36m_deephar(write_deephar_h36m_mat(tmp_path / "annotations.mat", train, val), "val")
    npz = write_mmpose_h36m(tmp_path, "val", val)
    assert npz.name == "h36m_test.npz"
    with pytest.raises(ValueError, match=r"cannot give pa17j: it lacks pa17j 16 \(H36M joint 11 Spine\)"):
        read_h36m_mmpose(npz, tmp_path / "annotation_body3d/cameras.pkl", "val")
    index = load_h36m_index(tmp_path, "val", form="mmpose", allow_missing_joints=True)
    assert index.form == "mmpose" and index.seq_names.tolist() == deephar.seq_names.tolist()
    assert index.image_file(3) == "S11/S11_WalkTogether_1.60457274/S11_WalkTogether_1.60457274_000001.jpg"
    np.testing.assert_array_equal(index.frame_numbers, deephar.frame_numbers)
    np.testing.assert_array_equal(index.joint_labelled, [True] * 16 + [False])
    np.testing.assert_allclose(index.joints_world[:, :16], deephar.joints_world[:, :16], rtol=0, atol=1e-3)
    assert np.isnan(index.joints_world[:, 16]).all()
    np.testing.assert_allclose(index.seq_cameras, deephar.seq_cameras, atol=1e-9)
    with open(tmp_path / "annotation_body3d/cameras.pkl", "rb") as f:
        entry = pickle.load(f)[("S9", "54138969")]
    np.testing.assert_allclose(entry["R"], val[0].camera_params.R.T)  # mmpose's R is camera → world
    np.testing.assert_allclose(entry["T"].ravel(), val[0].camera_params.T / 1000)  # metres


def test_mmpose_sub_action_is_the_order_of_first_appearance(tmp_path):
    seqs = [_sequence(1, 4, 2, 1, [1, 6], 7), _sequence(1, 4, 1, 2, [1], 8), _sequence(1, 4, 1, 1, [1], 9)]
    write_mmpose_h36m(tmp_path, "train", seqs)
    index = load_h36m_index(tmp_path, "train", allow_missing_joints=True)
    assert index.seq_names.tolist() == ["a04_s01_e01_c01", "a04_s01_e01_c02", "a04_s01_e02_c01"]


def test_sequences_without_images_and_missing_frames_are_counted(tmp_path):
    train, val = _train_val()
    write_deephar_h36m_mat(tmp_path / "annotations.mat", train, val)
    folder = tmp_path / "images" / "a02_s09_e01_c01"
    folder.mkdir(parents=True)
    for f in (1, 129):  # frame 65 was not extracted
        (folder / f"{f:05d}.jpg").write_bytes(b"")
    index = load_h36m_index(tmp_path, "val", check_images=True)
    np.testing.assert_array_equal(index.frame_numbers, [1, 129])
    assert index.skipped == {"frames of a sequence without images": 2, "frames whose image is missing": 1}
    assert ("a16_s11_e01_c04", -1, "frames of a sequence without images") in index.bad_records
    assert ("a02_s09_e01_c01", 65, "frames whose image is missing") in index.bad_records
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        load_h36m_index(tmp_path, "val", check_images=True, image_root=tmp_path / "nowhere")


def test_bad_cameras_and_nan_joints_are_skipped_and_counted(tmp_path):
    train, val = _train_val()
    cam = val[0].camera_params
    val[0].camera_params = Camera(cam.R * [[1.0], [1.0], [1.1]], cam.T, cam.f, cam.c, cam.k, cam.p)  # not a rotation
    val[1].pose3d[1, 27] = np.nan  # right wrist (mapped): the frame goes
    val[1].pose3d[0, 4] = np.nan  # right toe (not in pa17j): the frame stays
    index = read_h36m_deephar(write_deephar_h36m_mat(tmp_path / "a.mat", train, val), "val")
    np.testing.assert_array_equal(index.frame_numbers, [1])
    assert index.skipped == {"frames of a sequence with a bad camera": 3, "frames with NaN joints": 1}
    assert any(r[0].startswith("a02_s09_e01_c01: R is not orthonormal") for r in index.bad_records)
    assert ("a16_s11_e01_c04", 65, "frames with NaN joints") in index.bad_records


def test_labels_that_disagree_with_the_maps_raise(tmp_path):
    train, val = _train_val()
    martinez = list(H36M_JOINTS)
    martinez[11:16] = ["", "Spine", "Thorax", "Neck/Nose", "Head"]  # another naming of the same 32 joints
    mat = write_deephar_h36m_mat(tmp_path / "a.mat", train, val, joint_labels=martinez)
    with pytest.raises(ValueError, match=r"joint_labels disagree .*pa17j 1: joint_labels\[12\] = 'Spine'"):
        read_h36m_deephar(mat, "val")
    assert len(read_h36m_deephar(mat, "val", joint_map=[0, 13, 14, 15, 25, 17, 26, 18, 27, 19, 1, 6, 2, 7, 3, 8, 12]))
    shifted = write_deephar_h36m_mat(tmp_path / "b.mat", train, val, action_labels=list(H36M_ACTIONS_SHIFTED))
    with pytest.raises(ValueError, match=r"action_labels\[1\] is 'Discussion', but sequences a02_\* are Directions"):
        read_h36m_deephar(shifted, "val")
    assert len(read_h36m_deephar(shifted, "val", check_labels=False)) == 5


H36M_ACTIONS_SHIFTED = ["Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases",
                        "Sitting", "SittingDown", "Smoking", "Photo", "Waiting", "Walking", "WalkDog", "WalkTogether",
                        "x"]  # fmt: skip


def test_malformed_files_raise_naming_file_and_sequence(tmp_path):
    scipy.io.savemat(str(tmp_path / "x.mat"), {"sequences_tr": np.zeros(2)})
    with pytest.raises(ValueError, match=r"x\.mat: no 'sequences_val' variable \(found \['sequences_tr'\]\)"):
        read_h36m_deephar(tmp_path / "x.mat", "val")
    train, val = _train_val()
    val[1].pose3d = val[1].pose3d[:, :17]  # 3 × 17: not the 32-joint skeleton
    with pytest.raises(
        ValueError, match=r"sequences_val\[1\] \(a16_s11_e01_c04\), frame f=1: pose3d has shape \(3, 17\)"
    ):
        read_h36m_deephar(write_deephar_h36m_mat(tmp_path / "p.mat", train, val), "val")
    with pytest.raises(ValueError, match="split must be one of"):
        read_h36m_deephar(tmp_path / "p.mat", "valid")
    write_mmpose_h36m(tmp_path, "train", train[:1])
    data = dict(np.load(tmp_path / "annotation_body3d/fps50/h36m_train.npz"))
    data["S"] = data["S"][:, :16]
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(ValueError, match=r"bad\.npz: S has shape \(4, 16, 4\), expected \(4, 17, 4\)"):
        read_h36m_mmpose(tmp_path / "bad.npz", tmp_path / "annotation_body3d/cameras.pkl", "train")
