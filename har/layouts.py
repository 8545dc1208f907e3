"""Joint layouts: names, flip pairs, skeleton, OKS sigmas and colours, as data.

Every transform, metric and drawing reads a layout from here (``get_layout(name)``); nothing else hard-codes
joint indices. Add a dataset's layout by registering a :class:`JointLayout`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class JointLayout:
    """A named joint layout.

    Attributes:
        name: registry key.
        joints: joint names, in the order the network predicts them.
        flip_pairs: (left, right) index pairs swapped by a horizontal flip.
        skeleton: (a, b) 0-based index pairs drawn as limbs.
        sigmas: per-joint OKS sigmas (COCO convention), or None where the layout has none.
        colors: per-joint RGB colours (0-255) for drawing.
        upper_body: indices of the upper-body joints (the others are the lower body), read by half-body
            augmentation; empty where the layout does not define the split.
    """

    name: str
    joints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    skeleton: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...] | None = None
    colors: tuple[tuple[int, int, int], ...] = field(default=())
    upper_body: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        j = len(self.joints)
        for a, b in (*self.flip_pairs, *self.skeleton):
            if not (0 <= a < j and 0 <= b < j):
                raise ValueError(f"layout {self.name!r}: pair ({a}, {b}) out of range for {j} joints")
        if self.sigmas is not None and len(self.sigmas) != j:
            raise ValueError(f"layout {self.name!r}: {len(self.sigmas)} sigmas for {j} joints")
        if self.colors and len(self.colors) != j:
            raise ValueError(f"layout {self.name!r}: {len(self.colors)} colours for {j} joints")
        if not all(0 <= a < j for a in self.upper_body):
            raise ValueError(f"layout {self.name!r}: upper_body index out of range for {j} joints")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def flip_index(self) -> np.ndarray:
        """Permutation p such that ``joints_after_flip = joints[p]`` (left and right swapped)."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    @property
    def lower_body(self) -> tuple[int, ...]:
        """Joints not in ``upper_body`` (empty where the layout has no upper/lower split)."""
        return tuple(i for i in range(self.num_joints) if i not in self.upper_body) if self.upper_body else ()

    def index(self, name: str) -> int:
        return self.joints.index(name)


# Colours: left side warm, right side cool, centre green, so a drawing shows left/right at a glance.
_LEFT, _RIGHT, _CENTRE = (255, 128, 0), (0, 160, 255), (0, 200, 80)


def _side_colors(joints: tuple[str, ...]) -> tuple[tuple[int, int, int], ...]:
    return tuple(_LEFT if n.startswith("l_") else _RIGHT if n.startswith("r_") else _CENTRE for n in joints)


_COCO17_JOINTS = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_sho", "r_sho", "l_elb", "r_elb",
    "l_wri", "r_wri", "l_hip", "r_hip", "l_knee", "r_knee", "l_ank", "r_ank",
)  # fmt: skip

COCO17 = JointLayout(
    name="coco17",
    joints=_COCO17_JOINTS,
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    # COCO's own skeleton (the categories entry, converted to 0-based indices).
    skeleton=(
        (15, 13),
        (13, 11),
        (16, 14),
        (14, 12),
        (11, 12),
        (5, 11),
        (6, 12),
        (5, 6),
        (5, 7),
        (6, 8),
        (7, 9),
        (8, 10),
        (1, 2),
        (0, 1),
        (0, 2),
        (1, 3),
        (2, 4),
        (3, 5),
        (4, 6),
    ),  # fmt: skip
    sigmas=(
        0.026,
        0.025,
        0.025,
        0.035,
        0.035,
        0.079,
        0.079,
        0.072,
        0.072,
        0.062,
        0.062,
        0.107,
        0.107,
        0.087,
        0.087,
        0.089,
        0.089,
    ),  # fmt: skip
    colors=_side_colors(_COCO17_JOINTS),
    upper_body=tuple(range(11)),  # face, shoulders, elbows, wrists (mmpose's coco upper_body_ids)
)

_PA16J_JOINTS = (
    "pelvis", "thorax", "neck", "head", "r_sho", "l_sho", "r_elb", "l_elb", "r_wri", "l_wri",
    "r_hip", "l_hip", "r_knee", "l_knee", "r_ank", "l_ank",
)  # fmt: skip

# deephar's 16-joint core (deephar/utils/pose.py), the layout of the released MPII weights.
PA16J = JointLayout(
    name="pa16j",
    joints=_PA16J_JOINTS,
    flip_pairs=((4, 5), (6, 7), (8, 9), (10, 11), (12, 13), (14, 15)),
    skeleton=(
        (0, 1),
        (1, 2),
        (2, 3),
        (1, 4),
        (1, 5),
        (4, 6),
        (6, 8),
        (5, 7),
        (7, 9),
        (0, 10),
        (0, 11),
        (10, 12),
        (12, 14),
        (11, 13),
        (13, 15),
    ),  # fmt: skip
    colors=_side_colors(_PA16J_JOINTS),
    upper_body=(1, 2, 3, 4, 5, 6, 7, 8, 9),  # thorax, neck, head, arms; pelvis, hips and legs are the lower body
)

# deephar's pa17j (deephar/utils/pose.py): pa16j plus the middle of the spine, the layout of its Human3.6M model.
_PA17J_JOINTS = (*_PA16J_JOINTS, "spine")

PA17J = JointLayout(
    name="pa17j",
    joints=_PA17J_JOINTS,
    flip_pairs=PA16J.flip_pairs,
    skeleton=((0, 16), (16, 1), *PA16J.skeleton[1:]),  # pelvis - spine - thorax instead of pelvis - thorax
    colors=_side_colors(_PA17J_JOINTS),
    upper_body=(*PA16J.upper_body, 16),
)

# deephar's pa20j: pa16j plus hands and feet, in deephar's order (its NTU action model's layout).
_PA20J_JOINTS = (
    "pelvis", "thorax", "neck", "head", "r_sho", "l_sho", "r_elb", "l_elb", "r_wri", "l_wri",
    "r_hand", "l_hand", "r_hip", "l_hip", "r_knee", "l_knee", "r_ank", "l_ank", "r_foot", "l_foot",
)  # fmt: skip

PA20J = JointLayout(
    name="pa20j",
    joints=_PA20J_JOINTS,
    flip_pairs=((4, 5), (6, 7), (8, 9), (10, 11), (12, 13), (14, 15), (16, 17), (18, 19)),
    skeleton=(
        (0, 1),
        (1, 2),
        (2, 3),
        (1, 4),
        (1, 5),
        (4, 6),
        (6, 8),
        (8, 10),
        (5, 7),
        (7, 9),
        (9, 11),
        (0, 12),
        (0, 13),
        (12, 14),
        (14, 16),
        (16, 18),
        (13, 15),
        (15, 17),
        (17, 19),
    ),  # fmt: skip
    colors=_side_colors(_PA20J_JOINTS),
    upper_body=tuple(range(1, 12)),  # thorax, neck, head, arms and hands
)

_REGISTRY: dict[str, JointLayout] = {}


def register_layout(layout: JointLayout) -> JointLayout:
    if layout.name in _REGISTRY:
        raise ValueError(f"joint layout {layout.name!r} is already registered")
    _REGISTRY[layout.name] = layout
    return layout


def get_layout(name: str) -> JointLayout:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown joint layout {name!r}; known: {sorted(_REGISTRY)}") from None


for _layout in (COCO17, PA16J, PA17J, PA20J):
    register_layout(_layout)
