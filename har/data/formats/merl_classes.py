"""MERL Shopping action classes and the spellings of their labels, as data.

Labels are compared by a key that ignores case, spaces, underscores and hyphens ("Reach to shelf", "reach_to_shelf"
and "ReachToShelf" are one label); ``aliases`` map further spellings (a key's spelling → a class name). The class
list is configuration: the official release's five classes by default, the seed fork's three relabelled classes
as :data:`FORK_CLASSES`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

# The official release's classes, in the order of the rows of its ``tlabs`` cell array.
MERL_CLASSES: tuple[str, ...] = ("ReachToShelf", "RetractFromShelf", "HandInShelf", "InspectProduct", "InspectShelf")

# Frames in no labelled segment of the official release (an optional extra class, appended last).
BACKGROUND = "Background"

# The classes of the seed fork's action JSON (``merl_3_action.py``), with its class order.
FORK_CLASSES: tuple[str, ...] = ("ApproachtoShelf", "GlanceAtShelf", "LookatShelf")

# Spellings seen in the fork's files and in the MERL paper, beyond what the key already ignores.
DEFAULT_ALIASES: dict[str, str] = {
    "GlanceatShelf": "GlanceAtShelf",  # the fork's two spellings (equal under the key; listed for the record)
    "Glance": "GlanceAtShelf",
    "LookShelf": "LookatShelf",
    "Approach": "ApproachtoShelf",
    "ReachShelf": "ReachToShelf",
    "RetractShelf": "RetractFromShelf",
    "HandsInShelf": "HandInShelf",
    "HandInTheShelf": "HandInShelf",
    "InspectProducts": "InspectProduct",
    "BG": BACKGROUND,
    "NoAction": BACKGROUND,
}


def label_key(label: str) -> str:
    """Comparison key of a label: lower case, without spaces, underscores and hyphens."""
    return re.sub(r"[\s_\-]+", "", str(label)).lower()


def label_table(classes: Sequence[str], aliases: Mapping[str, str] | None = None) -> dict[str, int]:
    """Key → class index for the classes and for every alias whose target is one of them.

    Aliases of classes not in ``classes`` are ignored (the default aliases cover both class lists). Two classes with
    one key, or an alias that names another class, are configuration errors.
    """
    table: dict[str, int] = {}
    for i, name in enumerate(classes):
        key = label_key(name)
        if key in table:
            raise ValueError(f"classes {list(classes)}: {name!r} and {classes[table[key]]!r} are the same label")
        table[key] = i
    for alias, target in (aliases or {}).items():
        target_index = table.get(label_key(target))
        if target_index is None:
            continue
        key = label_key(alias)
        if table.get(key, target_index) != target_index:
            raise ValueError(f"alias {alias!r} → {target!r} collides with class {classes[table[key]]!r}")
        table[key] = target_index
    return table


def normalise_label(label: str, classes: Sequence[str], aliases: Mapping[str, str] | None = None) -> int:
    """Index in ``classes`` of a label (any case/spacing, or a known alias); ValueError naming it if unknown.

    For many labels, build :func:`label_table` once and look keys up in it.
    """
    index = label_table(classes, aliases).get(label_key(label))
    if index is None:
        raise ValueError(f"unknown action label {label!r}; classes: {list(classes)}")
    return index
