"""NTU RGB+D's ``.skeleton`` text format: parsing, and choosing which body to follow (numpy only).

Per file: the frame count; per frame the body count; per body a line ``bodyID clippedEdges handLeftConfidence
handLeftState handRightConfidence handRightState isRestricted leanX leanY trackingState``, the joint count (25) and
one line per joint ``x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ
trackingState`` (field names as mmaction2's ``tools/data/skeleton/gen_ntu_rgbd_raw.py`` reads them).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BODY_RULES = ("motion", "longest", "first")


@dataclass
class SkeletonSequence:
    """A parsed ``.skeleton`` file: one row per (frame, body) record, in file order.

    Attributes:
        num_frames: the file's frame count; frame_of: (B,) int64 0-based frame of each record.
        body_ids: (B,) int64 Kinect bodyID (64-bit, read as an integer, not a float).
        body_info: (B, 9) clippedEdges, handLeftConfidence, handLeftState, handRightConfidence, handRightState,
            isRestricted, leanX, leanY, trackingState.
        joints: (B, 25, 11) x, y, z (camera space, m), depthX, depthY (512×424 depth pixels), colorX, colorY
            (1920×1080 RGB pixels), orientation w, x, y, z.
        tracking: (B, 25) int64 joint trackingState.
    """

    num_frames: int
    frame_of: np.ndarray
    body_ids: np.ndarray
    body_info: np.ndarray
    joints: np.ndarray
    tracking: np.ndarray


def read_skeleton(path: str | Path) -> SkeletonSequence:
    """Parse an NTU ``.skeleton`` file (frame count; per frame a body count; per body an info line, a joint count
    and one line of 12 values per joint). ValueError naming the file and 1-based line of the first fault.

    One pass over the structure, then every joint line parsed at once (``np.fromstring``): the numbers, not the
    Python loop, dominate the cost (NTU files hold ~25k of them per body).
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read ({e})") from None
    pos = 0

    def fault(what: str, at: int | None = None) -> ValueError:
        return ValueError(f"{path}: line {(pos if at is None else at) + 1}: {what}")

    def count(what: str) -> int:
        nonlocal pos
        if pos >= len(lines):
            raise fault(f"file ends where the {what} was expected")
        text = lines[pos].strip()
        if not text.isdigit():
            raise fault(f"{what} {text!r} is not a non-negative integer")
        pos += 1
        return int(text)

    num_frames = count("frame count")
    frame_of, ids, info, starts = [], [], [], []
    for t in range(num_frames):
        for _ in range(count(f"body count of frame {t + 1}")):
            values = lines[pos].split() if pos < len(lines) else []
            if len(values) != 10 or not values[0].isdigit():
                raise fault(f"body line {values!r}: expected a bodyID and 9 values")
            try:
                info.append([float(v) for v in values[1:]])
            except ValueError:
                raise fault(f"body line {values!r} is not numeric") from None
            ids.append(int(values[0]))  # 64-bit: a float would round it
            pos += 1
            if (num_joints := count("joint count")) != 25:
                raise fault(f"{num_joints} joints, expected Kinect v2's 25", pos - 1)
            if pos + 25 > len(lines):
                raise fault("file ends inside a joint block", len(lines))
            frame_of.append(t)
            starts.append(pos)
            pos += 25
    if any(line.strip() for line in lines[pos:]):
        raise fault(f"content after the last of {num_frames} frames")
    block = _joint_values(lines, starts, fault).reshape(-1, 25, 12)
    tracking = block[..., 11]
    if not np.isin(tracking, (0, 1, 2)).all():
        b, j = np.argwhere(~np.isin(tracking, (0, 1, 2)))[0]
        raise fault(f"trackingState {tracking[b, j]:g}, expected 0, 1 or 2", starts[b] + j)
    return SkeletonSequence(num_frames, np.array(frame_of, np.int64), np.array(ids, np.int64),
                            np.array(info, np.float64).reshape(-1, 9), block[..., :11],
                            tracking.astype(np.int64))  # fmt: skip


def _joint_values(lines: list[str], starts: list[int], fault) -> np.ndarray:
    """The 12 numbers of each of the 25 lines from each of ``starts``, as one flat float64 array."""
    rows = [k for s in starts for k in range(s, s + 25)]
    if not rows:
        return np.zeros(0)
    # A line with 11 single spaces has 12 values unless a space is doubled (then the total is short, or another line
    # has more and is split here): together with the total below, every line is checked without splitting each one.
    for k in rows:
        if lines[k].count(" ") != 11 and len(lines[k].split()) != 12:
            raise fault(f"joint line has {len(lines[k].split())} values, expected 12", k)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy warns when it stops at a non-number
        try:
            values = np.fromstring("\n".join(lines[k] for k in rows), sep=" ")
        except (DeprecationWarning, ValueError):
            values = None
    if values is None or values.size != 12 * len(rows):
        for k in rows:
            try:
                numbers = [float(v) for v in lines[k].split()]
            except ValueError:
                raise fault(f"joint line {lines[k]!r} is not numeric", k) from None
            if len(numbers) != 12:
                raise fault(f"joint line has {len(numbers)} values, expected 12", k)
        raise fault("joint values numpy cannot parse", rows[0])
    return values


def body_motion(joints: np.ndarray) -> float:
    """std(x) + std(y) + std(z) over (n, 25, ≥3) camera-space joints (ST-GCN / mmaction2 ``get_nonzero_std``)."""
    return float(sum(joints[..., c].std() for c in range(3))) if len(joints) else 0.0


def select_body(seq: SkeletonSequence, rule: str = "motion") -> tuple[int, np.ndarray]:
    """The bodyID to follow and, per frame, its record row (-1: absent). ``rule``: ``motion`` (the body whose joints
    move most, :func:`body_motion`), ``longest`` (present in the most frames; ties: motion), ``first`` (the first in
    the file); ties go to the body that appears first."""
    if rule not in BODY_RULES:
        raise ValueError(f"body rule {rule!r}: expected one of {BODY_RULES}")
    if len(seq.body_ids) == 0:
        raise ValueError("no body in any frame")
    ids, first = np.unique(seq.body_ids, return_index=True)
    ids = ids[np.argsort(first)]  # in order of first appearance: ties go to the earlier body
    frames = np.array([np.unique(seq.frame_of[seq.body_ids == b]).size for b in ids])
    motion = np.array([body_motion(seq.joints[seq.body_ids == b]) for b in ids])
    if rule == "first":
        chosen = ids[0]
    elif rule == "motion":
        chosen = ids[int(np.argmax(motion))]
    else:
        chosen = ids[int(np.lexsort((-np.arange(len(ids)), motion, frames))[-1])]
    rows = np.full(seq.num_frames, -1, np.int64)
    records = np.flatnonzero(seq.body_ids == chosen)[::-1]  # reversed: a body listed twice in a frame keeps its first
    rows[seq.frame_of[records]] = records
    return int(chosen), rows
